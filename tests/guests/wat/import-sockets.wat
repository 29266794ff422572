;; A WASI sockets import: Plaza links no networking, so loading must fail naming it.
(import "wasi:sockets/tcp@0.2.6" (instance
  (export "tcp-socket" (type (sub resource)))))
