//! Test-only guest. Each slash command exercises one host behaviour, so integration tests can
//! check traps, limits, effect atomicity, KV semantics and grant checks from the outside.

use plaza_sdk::http;
use plaza_sdk::prelude::*;

/// The probe plugin.
pub struct Probe;

/// Its commands, one per host behaviour.
pub const COMMANDS: [&str; 21] = [
    "panic",
    "loop",
    "oom",
    "recurse",
    "send-then-panic",
    "kv-roundtrip",
    "kv-read",
    "send",
    "send-many",
    "try-send",
    "fail",
    "moderate",
    "delete",
    "profile",
    "timer",
    "remember",
    "recall",
    "flaky",
    "needs-remembered",
    "fetch",
    "fetch-many",
];

impl Plugin for Probe {
    fn info() -> PluginInfo {
        COMMANDS.iter().fold(
            PluginInfo::new(
                "probe",
                "0.0.1",
                "Exercises host behaviours for Plaza's integration tests.",
            ),
            |info, c| info.with_command(*c, "test probe", format!("/{c}")),
        )
    }

    fn on_member_joined(_meta: &EventMeta, joined: MemberJoined) -> Result<(), HandlerError> {
        plaza_sdk::info!("saw {} join", joined.member.id);
        Ok(())
    }

    fn on_message_posted(_meta: &EventMeta, message: Message) -> Result<(), HandlerError> {
        plaza_sdk::info!("saw message {} from {}: {:?}", message.id, message.author, message.text);
        Ok(())
    }

    fn on_message_pinned(_meta: &EventMeta, pin: MessagePin) -> Result<(), HandlerError> {
        plaza_sdk::info!("saw {} pin {} in {}", pin.member, pin.message_id, pin.channel);
        Ok(())
    }

    fn on_command(meta: &EventMeta, cmd: CommandInvoked) -> Result<(), HandlerError> {
        let arg = |i: usize| cmd.arg(i).unwrap_or("").to_string();
        match cmd.name.as_str() {
            "panic" => panic!("probe was asked to panic"),
            "loop" => {
                let mut x: u64 = 0;
                loop {
                    x = std::hint::black_box(x.wrapping_add(1));
                }
            }
            "oom" => {
                let mut hoard: Vec<Vec<u8>> = Vec::new();
                loop {
                    hoard.push(vec![1u8; 1 << 20]);
                    std::hint::black_box(&hoard);
                }
            }
            "recurse" => {
                fn deep(n: u64) -> u64 {
                    if n == u64::MAX {
                        return 0;
                    }
                    std::hint::black_box(deep(std::hint::black_box(n + 1))) + 1
                }
                plaza_sdk::info!("{}", deep(0));
                Ok(())
            }
            "send-then-panic" => {
                messaging::send(&cmd.channel, "this must never be delivered")?;
                kv::set_string("half-done", "yes")?;
                panic!("after sending");
            }
            "kv-roundtrip" => {
                kv::set_string("a:1", "one")?;
                kv::set_string("a:2", "two")?;
                kv::set_string("b:1", "other")?;
                let own_write = kv::get_string("a:1")?;
                kv::delete("a:2")?;
                let keys = kv::list_keys("a:", None, 10)?;
                cmd.respond(&format!("read={own_write:?} keys={keys:?}"))?;
                Ok(())
            }
            "kv-read" => {
                let value = kv::get_string(&arg(0))?;
                let keys = kv::list_keys("", None, 100)?;
                cmd.respond(&format!("value={value:?} keys={keys:?}"))?;
                Ok(())
            }
            "send" => {
                cmd.respond(&cmd.rest(0))?;
                Ok(())
            }
            "send-many" => {
                let n: usize = arg(0).parse().unwrap_or(1);
                let mut outcome = Vec::new();
                for i in 0..n {
                    match messaging::send(&cmd.channel, &format!("message {i}")) {
                        Ok(_) => outcome.push("ok".to_string()),
                        Err(e) => outcome.push(e.kind().to_string()),
                    }
                }
                plaza_sdk::info!("send-many: {}", outcome.join(","));
                Ok(())
            }
            "try-send" => {
                // Degrades gracefully: a denial is logged and the handler succeeds.
                match messaging::send(&cmd.channel, "hello") {
                    Ok(id) => plaza_sdk::info!("sent {id}"),
                    Err(e) => plaza_sdk::warn!("send refused: {e}"),
                }
                match kv::set_string("after-send", "1") {
                    Ok(()) => plaza_sdk::info!("kv ok"),
                    Err(e) => plaza_sdk::warn!("kv refused: {e}"),
                }
                Ok(())
            }
            "fail" => Err(HandlerError::new(
                "probe-failure",
                format!("asked to fail on attempt {}", meta.attempt),
            )),
            "moderate" => {
                let target = arg(0);
                let outcome = match arg(1).as_str() {
                    "kick" => moderation::kick(&target, "probe"),
                    "ban" => moderation::ban(&target, "probe"),
                    _ => moderation::mute(&target, 60_000, "probe"),
                };
                plaza_sdk::info!("moderate {target}: {:?}", outcome.map_err(|e| e.to_string()));
                Ok(())
            }
            "delete" => {
                let outcome = moderation::delete_message(&arg(0), &arg(1), "probe");
                plaza_sdk::info!("delete {}: {:?}", arg(1), outcome.map_err(|e| e.to_string()));
                Ok(())
            }
            "profile" => {
                let outcome = members::get_profile(&arg(0));
                plaza_sdk::info!(
                    "profile {}: {:?}",
                    arg(0),
                    outcome.map(|p| p.display_name).map_err(|e| e.to_string())
                );
                Ok(())
            }
            "timer" => {
                let delay: u64 = arg(0).parse().unwrap_or(60_000);
                let outcome = scheduler::schedule_once("probe-timer", delay, "payload-1");
                plaza_sdk::info!("timer: {:?}", outcome.map_err(|e| e.to_string()));
                Ok(())
            }
            "remember" => {
                kv::set_string("remembered", &arg(0))?;
                Ok(())
            }
            "recall" => {
                // Static state must not survive between invocations: each gets a fresh instance.
                static mut CALLS: u32 = 0;
                // SAFETY: single-threaded guest; used only to prove instances are fresh.
                let calls = unsafe {
                    CALLS += 1;
                    CALLS
                };
                cmd.respond(&format!("calls-in-this-instance={calls}"))?;
                Ok(())
            }
            "flaky" => {
                // Fails its first N attempts: retries, backoff and the attempt number.
                let failing: u32 = arg(0).parse().unwrap_or(1);
                if meta.attempt <= failing {
                    cmd.respond("discarded with the failed attempt")?;
                    let message = format!("attempt {} of a flaky command", meta.attempt);
                    return Err(HandlerError::new("flaky", message).retryable());
                }
                cmd.respond(&format!("done on attempt {}", meta.attempt))?;
                Ok(())
            }
            "needs-remembered" => {
                // Fails until an earlier `/remember` stored something: a dead letter that a
                // later fix makes deliverable, for replay.
                let Some(value) = kv::get_string("remembered")? else {
                    return Err(HandlerError::new("missing-state", "nothing remembered yet").retryable());
                };
                cmd.respond(&format!("remembered {value}"))?;
                Ok(())
            }
            "fetch" => {
                // `/fetch METHOD URL [timeout=MS] [body=TEXT] [Header=Value]...`: one request,
                // its outcome logged (status, size, the body's start) for the tests to read.
                let mut request = http::Request::new(method(&arg(0)), arg(1));
                for extra in cmd.args.iter().skip(2) {
                    let (k, v) = extra.split_once('=').unwrap_or((extra.as_str(), ""));
                    request = match k {
                        "timeout" => request.timeout_ms(v.parse().unwrap_or(1000)),
                        "body" => request.body(v.as_bytes().to_vec()),
                        _ => request.header(k, v),
                    };
                }
                log_fetch(&http::fetch(&request));
                Ok(())
            }
            "fetch-many" => {
                // `/fetch-many N URL`: the per-event request cap.
                let n: u32 = arg(0).parse().unwrap_or(1);
                for _ in 0..n {
                    log_fetch(&http::get(&arg(1)));
                }
                Ok(())
            }
            other => Err(HandlerError::new("unknown-command", other.to_string())),
        }
    }

    fn on_timer(_meta: &EventMeta, timer: TimerFired) -> Result<(), HandlerError> {
        plaza_sdk::info!("timer fired: {} {}", timer.name, timer.payload);
        Ok(())
    }

    fn review_message(request: ReviewRequest) -> Result<ReviewVerdict, HandlerError> {
        let text = request.message.text;
        if let Some(url) = text.strip_prefix("fetch ") {
            log_fetch(&http::get(url));
        }
        if text.contains("forbidden") {
            Ok(ReviewVerdict::reject("contains a forbidden word"))
        } else if text.contains("darn") {
            Ok(ReviewVerdict::Rewrite(text.replace("darn", "d**n")))
        } else if text.contains("review-panic") {
            panic!("review hook panicked")
        } else {
            Ok(ReviewVerdict::Allow)
        }
    }
}

export_plugin!(Probe);

fn method(name: &str) -> http::Method {
    match name.to_ascii_uppercase().as_str() {
        "POST" => http::Method::Post,
        "PUT" => http::Method::Put,
        "PATCH" => http::Method::Patch,
        "DELETE" => http::Method::Delete,
        _ => http::Method::Get,
    }
}

fn log_fetch(outcome: &Result<http::Response, HostError>) {
    match outcome {
        Ok(response) => {
            let text = response.text();
            let start: String = text.chars().take(300).collect();
            let headers: Vec<String> = response.headers.iter().map(|(k, v)| format!("{k}: {v}")).collect();
            plaza_sdk::info!(
                "fetch ok status={} bytes={} headers=[{}] body={start}",
                response.status,
                response.body.len(),
                headers.join("; ")
            );
        }
        Err(e) => plaza_sdk::info!("fetch error {e:?}"),
    }
}
