;; An interface that exists nowhere: loading must fail naming it.
(import "evil:backdoor/shell@1.0.0" (instance
  (type $run (func (param "command" string) (result string)))
  (export "run" (func (type $run)))))
