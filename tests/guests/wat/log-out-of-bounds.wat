;; `log(info, <16 bytes at 0xffffff00>)`: a short string whose pointer is far outside the 128 KiB
;; memory (and whose end would wrap past 4 GiB).
(call $log (i32.const 2) (i32.const 0xffffff00) (i32.const 0x100))
