;; `log(<level 99>, "wat-plugin")`: the `level` enum has 5 cases (0-4).
(call $log (i32.const 99) (i32.const 0) (i32.const 10))
