;; `log(info, <1 GiB string>)`: a pointer/length pair claiming 1 GiB of a 128 KiB memory.
(call $log (i32.const 2) (i32.const 0) (i32.const 0x40000000))
