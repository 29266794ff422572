;; `log(info, <3 bytes that are not UTF-8>)`: writes ff fe fd at 4096 and passes them as a string.
(i32.store (i32.const 4096) (i32.const 0x00fdfeff))
(call $log (i32.const 2) (i32.const 4096) (i32.const 3))
