;; A complete `plaza:plugin/plugin@0.1.0` component, written by hand.
;;
;; On its own it is a well-behaved plugin named `wat-plugin` with no commands: `describe` answers,
;; `review-message` allows everything, and `handle-event` logs "wat-plugin saw a member join" for
;; `member-joined` events and ignores every other event (so installing it succeeds).
;;
;; The adversarial tests (tests/all/adversarial.rs) splice one hostile fragment from this
;; directory into it, replacing a marker line:
;;   `@EXTRA-IMPORTS`        component-level imports (`import-*.wat`: interfaces Plaza does not
;;                           provide);
;;   `@ON-MEMBER-JOINED`     core instructions run for `member-joined` events, before the log
;;                           line (the other fragments), with `$log` (level, pointer, length),
;;                           the shared memory and the table `$table` in scope.
(component
  ;; The shared vocabulary, imported the way wit-component lays out `use types.{...}`.
  (import "plaza:plugin/types@0.1.0" (instance $types
    (type $event-meta' (record
      (field "event-id" string)
      (field "community-id" string)
      (field "sequence" u64)
      (field "timestamp-ms" u64)
      (field "attempt" u32)))
    (export "event-meta" (type $event-meta (eq $event-meta')))
    (type $member-profile' (record
      (field "id" string)
      (field "display-name" string)
      (field "roles" (list string))
      (field "is-bot" bool)))
    (export "member-profile" (type $member-profile (eq $member-profile')))
    (type $message' (record
      (field "id" string)
      (field "channel" string)
      (field "author" string)
      (field "text" string)
      (field "mentions" (list string))
      (field "reply-to" (option string))))
    (export "message" (type $message (eq $message')))
    (type $member-joined' (record (field "member" $member-profile) (field "invited-by" (option string))))
    (export "member-joined" (type $member-joined (eq $member-joined')))
    (type $member-left' (record (field "member" string) (field "removed" bool)))
    (export "member-left" (type $member-left (eq $member-left')))
    (type $member-updated' (record (field "member" $member-profile)))
    (export "member-updated" (type $member-updated (eq $member-updated')))
    (type $message-edited' (record (field "message" $message) (field "previous-text" string)))
    (export "message-edited" (type $message-edited (eq $message-edited')))
    (type $message-deleted' (record
      (field "channel" string)
      (field "message-id" string)
      (field "deleted-by" string)))
    (export "message-deleted" (type $message-deleted (eq $message-deleted')))
    (type $reaction' (record
      (field "channel" string)
      (field "message-id" string)
      (field "member" string)
      (field "emoji" string)
      (field "message-author" (option string))))
    (export "reaction" (type $reaction (eq $reaction')))
    (type $member-muted' (record
      (field "member" string)
      (field "moderator" string)
      (field "duration-ms" u64)
      (field "reason" string)))
    (export "member-muted" (type $member-muted (eq $member-muted')))
    (type $member-banned' (record (field "member" string) (field "moderator" string) (field "reason" string)))
    (export "member-banned" (type $member-banned (eq $member-banned')))
    (type $command-invoked' (record
      (field "channel" string)
      (field "member" string)
      (field "name" string)
      (field "args" (list string))
      (field "message-id" (option string))))
    (export "command-invoked" (type $command-invoked (eq $command-invoked')))
    (type $config-entry' (record (field "key" string) (field "value" string)))
    (export "config-entry" (type $config-entry (eq $config-entry')))
    (type $plugin-installed' (record (field "config" (list $config-entry))))
    (export "plugin-installed" (type $plugin-installed (eq $plugin-installed')))
    (type $config-changed' (record (field "config" (list $config-entry))))
    (export "config-changed" (type $config-changed (eq $config-changed')))
    (type $plugin-upgraded' (record (field "from-version" string) (field "to-version" string)))
    (export "plugin-upgraded" (type $plugin-upgraded (eq $plugin-upgraded')))
    (type $timer-fired' (record (field "id" string) (field "name" string) (field "payload" string)))
    (export "timer-fired" (type $timer-fired (eq $timer-fired')))
    (type $event-kind' (variant
      (case "member-joined" $member-joined)
      (case "member-left" $member-left)
      (case "member-updated" $member-updated)
      (case "message-posted" $message)
      (case "message-edited" $message-edited)
      (case "message-deleted" $message-deleted)
      (case "reaction-added" $reaction)
      (case "reaction-removed" $reaction)
      (case "member-muted" $member-muted)
      (case "member-banned" $member-banned)
      (case "command-invoked" $command-invoked)
      (case "plugin-installed" $plugin-installed)
      (case "plugin-uninstalled")
      (case "config-changed" $config-changed)
      (case "plugin-upgraded" $plugin-upgraded)
      (case "timer-fired" $timer-fired)))
    (export "event-kind" (type $event-kind (eq $event-kind')))
    (type $event' (record (field "meta" $event-meta) (field "kind" $event-kind)))
    (export "event" (type $event (eq $event')))
    (type $handler-error' (record (field "code" string) (field "message" string) (field "retryable" bool)))
    (export "handler-error" (type $handler-error (eq $handler-error')))
    (type $review-request' (record
      (field "community-id" string)
      (field "message" $message)
      (field "timestamp-ms" u64)))
    (export "review-request" (type $review-request (eq $review-request')))
    (type $review-verdict' (variant (case "allow") (case "reject" string) (case "rewrite" string)))
    (export "review-verdict" (type $review-verdict (eq $review-verdict')))
    (type $command-spec' (record (field "name" string) (field "description" string) (field "usage" string)))
    (export "command-spec" (type $command-spec (eq $command-spec')))
    (type $plugin-info' (record
      (field "name" string)
      (field "version" string)
      (field "description" string)
      (field "commands" (list $command-spec))))
    (export "plugin-info" (type $plugin-info (eq $plugin-info')))))
  (alias export $types "event" (type $event))
  (alias export $types "handler-error" (type $handler-error))
  (alias export $types "review-request" (type $review-request))
  (alias export $types "review-verdict" (type $review-verdict))
  (alias export $types "plugin-info" (type $plugin-info))

  (import "plaza:plugin/logging@0.1.0" (instance $logging
    (type $level' (enum "trace" "debug" "info" "warn" "error"))
    (export "level" (type $level (eq $level')))
    (type $log-type (func (param "level" $level) (param "message" string)))
    (export "log" (func (type $log-type)))))

  ;; @EXTRA-IMPORTS

  ;; The memory and a bump allocator (`realloc`), in a module of their own so the host imports
  ;; can be lowered against the memory before the main module is instantiated.
  (core module $Libc
    (memory (export "memory") 2)
    (global $next (mut i32) (i32.const 65536))
    (func (export "realloc") (param $old i32) (param $old-size i32) (param $align i32) (param $size i32)
      (result i32)
      (local $at i32)
      (local.set $at
        (i32.and
          (i32.add (global.get $next) (i32.sub (local.get $align) (i32.const 1)))
          (i32.sub (i32.const 0) (local.get $align))))
      (global.set $next (i32.add (local.get $at) (local.get $size)))
      (if (i32.gt_u (global.get $next) (i32.shl (memory.size) (i32.const 16)))
        (then
          (if (i32.eq
                (memory.grow
                  (i32.add
                    (i32.shr_u
                      (i32.sub (global.get $next) (i32.shl (memory.size) (i32.const 16)))
                      (i32.const 16))
                    (i32.const 1)))
                (i32.const -1))
            (then unreachable))))
      (local.get $at)))
  (core instance $libc (instantiate $Libc))

  (core func $log (canon lower (func $logging "log") (memory (core memory $libc "memory"))))

  (core module $Main
    (import "libc" "memory" (memory $memory 1))
    (import "host" "log" (func $log (param i32 i32 i32)))
    (table $table 1 funcref)
    ;; Up to 1 KiB: constant strings. 1024: the `plugin-info` record. 2048: 64 zero bytes, used
    ;; as the answer `ok` (handle-event) and `ok(allow)` (review-message).
    (data (i32.const 0) "wat-plugin")
    (data (i32.const 16) "0.0.1")
    (data (i32.const 32) "A hand-written WAT component.")
    (data (i32.const 64) "wat-plugin saw a member join")
    (data (i32.const 1024)
      "\00\00\00\00" "\0a\00\00\00"  ;; name: 0, 10 bytes
      "\10\00\00\00" "\05\00\00\00"  ;; version: 16, 5 bytes
      "\20\00\00\00" "\1d\00\00\00"  ;; description: 32, 29 bytes
      "\00\00\00\00" "\00\00\00\00") ;; commands: empty list
    (func (export "describe") (result i32)
      (i32.const 1024))
    ;; `event` is passed by pointer; its `kind` discriminant is the byte at offset 40
    ;; (`event-meta` takes 36 bytes, padded to 40 for the 8-byte-aligned variant).
    (func (export "handle-event") (param $event i32) (result i32)
      (if (i32.eqz (i32.load8_u offset=40 (local.get $event)))
        (then
          (call $on-member-joined)))
      (i32.const 2048))
    (func $on-member-joined
      ;; @ON-MEMBER-JOINED
      (call $log (i32.const 2) (i32.const 64) (i32.const 28)))
    ;; A `review-request` flattens to exactly 16 values, so it is passed flat.
    (func (export "review-message")
      (param i32 i32 i32 i32 i32 i32 i32 i32 i32 i32 i32 i32 i32 i32 i32 i64) (result i32)
      (i32.const 2048)))
  (core instance $main (instantiate $Main
    (with "libc" (instance $libc))
    (with "host" (instance (export "log" (func $log))))))

  (func (export "describe") (result $plugin-info)
    (canon lift (core func $main "describe") (memory (core memory $libc "memory"))))
  (func (export "handle-event") (param "event" $event) (result (result (error $handler-error)))
    (canon lift (core func $main "handle-event") (memory (core memory $libc "memory")) (realloc (core func $libc "realloc"))))
  (func (export "review-message") (param "request" $review-request)
    (result (result $review-verdict (error $handler-error)))
    (canon lift (core func $main "review-message") (memory (core memory $libc "memory")) (realloc (core func $libc "realloc")))))
