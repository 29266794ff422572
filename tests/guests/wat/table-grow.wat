;; table.grow by 10 000 000 elements. The host must stop this with a trap naming the limit; if
;; table.grow merely returned, fall through to `unreachable` (a plain `guest-trap`).
(drop (table.grow $table (ref.null func) (i32.const 10000000)))
unreachable
