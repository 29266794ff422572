;; A WASI sockets import: Plaza links sockets denying, so linking accepts it (and the component
;; fails to load only for lacking the plugin exports).
(import "wasi:sockets/tcp@0.2.6" (instance
  (export "tcp-socket" (type (sub resource)))))
