;; memory.grow toward 4 GiB: 65535 more pages of 64 KiB in one step. The host must stop this with
;; a trap naming the memory limit. If memory.grow merely returned (-1, or even succeeded), fall
;; through to `unreachable`, a plain trap the test tells apart from `memory-limit`.
(drop (memory.grow (i32.const 65535)))
unreachable
