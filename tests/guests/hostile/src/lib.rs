//! Test-only guest for the adversarial suite (`tests/all/adversarial.rs`). Each slash command
//! misbehaves in one way (runaway loops, memory and stack exhaustion, floods of host calls, huge
//! outputs, escape codes, resource-handle leaks, effects followed by a panic), so the tests can
//! check that the host contains it and keeps serving everyone else.

use plaza_sdk::prelude::*;

/// The hostile plugin.
pub struct Hostile;

/// Its commands, one per kind of misbehaviour (plus `echo`, which behaves).
pub const COMMANDS: [&str; 18] = [
    "loop",
    "log-loop",
    "kv-loop",
    "grow",
    "recurse",
    "huge-error",
    "log-flood",
    "send-flood",
    "kv-fill",
    "handles",
    "effects-then-panic",
    "fail",
    "echo",
    "ansi",
    "read-file",
    "connect",
    "busy",
    "stdout-flood",
];

/// Text that makes [`Plugin::review_message`] spin until the host stops it.
pub const SLOW_REVIEW_MARKER: &str = "please-review-slowly";

impl Plugin for Hostile {
    fn info() -> PluginInfo {
        COMMANDS.iter().fold(
            PluginInfo::new(
                "hostile",
                "0.0.1",
                "Misbehaves on purpose for Plaza's adversarial tests.",
            ),
            |info, c| info.with_command(*c, "hostile test command", format!("/{c}")),
        )
    }

    fn on_command(_meta: &EventMeta, cmd: CommandInvoked) -> Result<(), HandlerError> {
        let arg = |i: usize| cmd.arg(i).unwrap_or("").to_string();
        match cmd.name.as_str() {
            // 1. A plain infinite loop.
            "loop" => spin(),
            // 2. A loop that spends its time in host calls.
            // (One byte per call, so the host's cap on bytes passed into host calls is not what
            // stops it.)
            "log-loop" => loop {
                plaza_sdk::logging::log(plaza_sdk::logging::Level::Info, std::hint::black_box("x"));
            },
            "kv-loop" => loop {
                std::hint::black_box(kv::get("spin").ok());
            },
            // 3. memory.grow toward 4 GiB in one step (65535 pages of 64 KiB), then in 1 MiB steps.
            "grow" => {
                let before = grow_pages(65_535);
                loop {
                    if grow_pages(16) == usize::MAX {
                        // The host refused without trapping: report it as a plain trap so the
                        // test (which expects `memory-limit`) sees the difference.
                        panic!("memory.grow returned -1 (first attempt returned {before})");
                    }
                }
            }
            // 5. Unbounded recursion.
            "recurse" => {
                plaza_sdk::info!("depth {}", deep(0));
                Ok(())
            }
            // 7. A handler error whose message is `arg(0)` MiB (default 8). 64 MiB cannot be
            // built inside the default 64 MiB memory limit (the string alone would fill it), so
            // the tests use a few MiB: still far over the host's 4 KiB cap on returned strings.
            "huge-error" => {
                let mib: usize = arg(0).parse().unwrap_or(8);
                Err(HandlerError::new("huge", "E".repeat(mib << 20)))
            }
            // 8. Many log calls (default 100 000); `/log-flood N empty` logs empty lines.
            "log-flood" => {
                let n: u64 = arg(0).parse().unwrap_or(100_000);
                let empty = arg(1) == "empty";
                for i in 0..n {
                    if empty {
                        plaza_sdk::logging::log(plaza_sdk::logging::Level::Info, "");
                    } else {
                        plaza_sdk::info!("flood line {i}");
                    }
                }
                Ok(())
            }
            // 9. Many sends in one event (default 10 000); logs how each kind of answer counted.
            "send-flood" => {
                let n: usize = arg(0).parse().unwrap_or(10_000);
                let mut counts: std::collections::BTreeMap<&'static str, usize> = Default::default();
                for i in 0..n {
                    let kind = match messaging::send(&cmd.channel, &format!("flood {i}")) {
                        Ok(_) => "ok",
                        Err(e) => e.kind(),
                    };
                    *counts.entry(kind).or_default() += 1;
                }
                let summary: Vec<String> = counts.iter().map(|(k, v)| format!("{k}={v}")).collect();
                plaza_sdk::info!("send-flood: {}", summary.join(" "));
                Ok(())
            }
            // 10. KV writes of 60 KiB values until the host refuses; logs the refusal and
            // succeeds, so whatever fit is kept.
            "kv-fill" => {
                let value = vec![b'v'; 60 << 10];
                for i in 0u64.. {
                    if let Err(e) = kv::set(&format!("fill:{i:06}"), &value) {
                        plaza_sdk::warn!("kv-fill stopped after {i} writes: {}: {e}", e.kind());
                        return Ok(());
                    }
                }
                unreachable!("the loop only ends by returning")
            }
            // 11. WASI resource handles created in a loop and never dropped.
            "handles" => leak_handles(),
            // 17. Effects, then a trap.
            "effects-then-panic" => {
                messaging::send(&cmd.channel, "this must never be delivered")?;
                kv::set_string("half-done", "yes")?;
                panic!("hostile panics after sending and writing");
            }
            // 18. Always fails.
            "fail" => Err(HandlerError::new("always-fails", "hostile fails on purpose")),
            "echo" => {
                cmd.respond(&cmd.rest(0))?;
                Ok(())
            }
            // 19. Terminal escape codes and line breaks in logs, stdout and stderr.
            "ansi" => {
                plaza_sdk::warn!("\x1b[31mred\x1b[0m\r\nFAKE host line\x07 done");
                println!("out \x1b[2J cleared\rover");
                eprintln!("err \x1b]0;title\x07 set");
                Ok(())
            }
            // 15. Filesystem access through std: there is nothing to open.
            "read-file" => {
                let file = std::fs::read_to_string("/etc/passwd");
                let dir = std::fs::read_dir("/").map(|d| d.count());
                plaza_sdk::info!(
                    "read /etc/passwd: {}; list /: {}",
                    describe_io(file.map(|s| s.len())),
                    describe_io(dir)
                );
                Ok(())
            }
            // 15b. Networking through std: sockets are linked for language runtimes, but every
            // call is denied.
            "connect" => {
                let tcp = std::net::TcpStream::connect("127.0.0.1:80").map(drop);
                let udp = std::net::UdpSocket::bind("127.0.0.1:0").map(drop);
                let lookup = std::net::ToSocketAddrs::to_socket_addrs(&("localhost", 80)).map(|a| a.count());
                plaza_sdk::info!(
                    "tcp: {}; udp: {}; lookup: {}",
                    describe_io(tcp),
                    describe_io(udp),
                    describe_io(lookup)
                );
                Ok(())
            }
            // 24. A finite but long computation (`arg(0)` iterations, default 10^12).
            "busy" => {
                let n: u64 = arg(0).parse().unwrap_or(1_000_000_000_000);
                let mut x: u64 = 0;
                for i in 0..n {
                    x = std::hint::black_box(x ^ i);
                }
                plaza_sdk::info!("busy done: {x}");
                Ok(())
            }
            // Megabytes written to stdout (captured, capped by the host).
            "stdout-flood" => {
                let line = "o".repeat(1023);
                for _ in 0..4096 {
                    println!("{line}");
                }
                Ok(())
            }
            other => Err(HandlerError::new("unknown-command", other.to_string())),
        }
    }

    fn on_member_joined(_meta: &EventMeta, joined: MemberJoined) -> Result<(), HandlerError> {
        plaza_sdk::info!("saw {} join", joined.member.id);
        Ok(())
    }

    // 23. The review hook spins on messages containing the marker.
    fn review_message(request: ReviewRequest) -> Result<ReviewVerdict, HandlerError> {
        if request.message.text.contains(SLOW_REVIEW_MARKER) {
            spin()
        }
        Ok(ReviewVerdict::Allow)
    }
}

fn spin() -> ! {
    let mut x: u64 = 0;
    loop {
        x = std::hint::black_box(x.wrapping_add(1));
    }
}

fn deep(n: u64) -> u64 {
    if n == u64::MAX {
        return 0;
    }
    std::hint::black_box(deep(std::hint::black_box(n + 1))) + 1
}

fn describe_io<T: std::fmt::Debug>(r: std::io::Result<T>) -> String {
    match r {
        Ok(v) => format!("Ok({v:?})"),
        Err(e) => format!("Err({e})"),
    }
}

#[cfg(target_arch = "wasm32")]
fn grow_pages(pages: usize) -> usize {
    core::arch::wasm32::memory_grow(0, pages)
}

#[cfg(not(target_arch = "wasm32"))]
fn grow_pages(_pages: usize) -> usize {
    usize::MAX
}

#[cfg(target_arch = "wasm32")]
fn leak_handles() -> Result<(), HandlerError> {
    for i in 0u64.. {
        std::mem::forget(wasip2::cli::stdout::get_stdout());
        if i % 100_000 == 0 {
            plaza_sdk::debug!("{i} handles so far");
        }
    }
    unreachable!("the loop never ends")
}

#[cfg(not(target_arch = "wasm32"))]
fn leak_handles() -> Result<(), HandlerError> {
    Err(HandlerError::new(
        "wasm-only",
        "resource handles exist only in the component",
    ))
}

export_plugin!(Hostile);
