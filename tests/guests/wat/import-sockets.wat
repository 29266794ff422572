;; A WASI sockets import: Plaza links sockets denying (every call fails), so the plugin loads.
(import "wasi:sockets/tcp@0.2.6" (instance
  (export "tcp-socket" (type (sub resource)))))
