//! Durable delivery through `plaza deliver`: effects happen exactly once and in log order even
//! when the host is SIGKILLed again and again, and SIGTERM drains and stops cleanly.
//!
//! Every test community has two installs of the `ledger` guest (`ledger-a`, `ledger-b`), which
//! records in its KV store what it saw (see `tests/guests/ledger/src/lib.rs`); the checks read
//! that back, with the log, cursors, dead letters, messages and outbox, through
//! [`SqliteStore`] once no host process runs.
//!
//! A failure of the crash test prints its seed first; rerun it with `PLAZA_CRASH_SEED=SEED`.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::fs::OpenOptions;
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Output, Stdio};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use plaza_host::storage::log::DeliveryLog;
use plaza_host::storage::sqlite::SqliteStore;
use plaza_host::storage::CommunityStore;
use serde_json::Value;

use crate::common::plaza_bin;

const COMMUNITIES: [&str; 3] = ["harbor", "orchard", "quarry"];
const PLUGINS: [&str; 2] = ["ledger-a", "ledger-b"];
/// The name compiled into the ledger component; a copy with it replaced is the second plugin.
const BUILT_NAME: &str = "ledger-a";
/// One in this many event ids fails its first attempt (the guest's `FAIL_MODULUS`).
const FAIL_MODULUS: u64 = 23;
/// The longest any single step (a start, the next acknowledgement) may take. Generous: the
/// machines are noisy, and a hang is the failure this catches.
const STEP_TIMEOUT: Duration = Duration::from_secs(120);
/// The longest `plaza deliver --exit-when-idle` may take to deliver a test's whole backlog.
const DRAIN_TIMEOUT: Duration = Duration::from_secs(300);
/// The longest `plaza deliver` may take to stop after SIGTERM (far more than its grace period).
const STOP_TIMEOUT: Duration = Duration::from_secs(60);

/// The guest's hash (`ledger::fnv1a`), to know which events fail their first attempt.
fn fnv1a(text: &str) -> u64 {
    text.bytes().fold(0xcbf2_9ce4_8422_2325, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01b3)
    })
}

fn fails_first_attempt(id: &str) -> bool {
    fnv1a(id).is_multiple_of(FAIL_MODULUS)
}

/// xorshift64*: small, seedable, good enough to pick kill points.
struct Rng(u64);

impl Rng {
    fn new(seed: u64) -> Self {
        Rng(seed.max(1))
    }

    fn next_u64(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    /// Uniform enough in `0..n` (n > 0).
    fn below(&mut self, n: u64) -> u64 {
        self.next_u64() % n
    }
}

fn plaza(args: &[&str]) -> Output {
    Command::new(plaza_bin())
        .args(args)
        .env("PLAZA_CACHE_DIR", crate::common::cache_dir())
        .output()
        .unwrap()
}

fn plaza_ok(args: &[&str]) {
    let o = plaza(args);
    assert!(
        o.status.success(),
        "plaza {} failed: {}{}",
        args.join(" "),
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
}

/// Packages the ledger guest as `ledger-a` and `ledger-b` (a manifest id must match the name the
/// component describes, so `ledger-b` is a copy with the name bytes replaced) and makes a data dir
/// with every community holding both, granted everything they request, with message budgets and
/// wall-clock limits that neither the event rate nor a noisy machine run into.
fn setup(data: &Path, work: &Path) {
    crate::common::allow_unsigned(data);
    let component = std::fs::read(plaza_tests::LEDGER).unwrap();
    let manifest = std::fs::read_to_string(format!("{}/guests/ledger/plaza.toml", env!("CARGO_MANIFEST_DIR"))).unwrap();
    let at: Vec<usize> = component
        .windows(BUILT_NAME.len())
        .enumerate()
        .filter(|(_, w)| *w == BUILT_NAME.as_bytes())
        .map(|(i, _)| i)
        .collect();
    assert_eq!(
        at.len(),
        1,
        "the ledger's name must occur once in its component: {at:?}"
    );
    for plugin in PLUGINS {
        assert_eq!(plugin.len(), BUILT_NAME.len());
        let mut bytes = component.clone();
        bytes[at[0]..at[0] + plugin.len()].copy_from_slice(plugin.as_bytes());
        let renamed = manifest.replace(&format!("id = \"{BUILT_NAME}\""), &format!("id = \"{plugin}\""));
        assert!(renamed.contains(&format!("id = \"{plugin}\"")), "{renamed}");
        let raw = work.join(format!("{plugin}.component.wasm"));
        let toml = work.join(format!("{plugin}.toml"));
        std::fs::write(&raw, bytes).unwrap();
        std::fs::write(&toml, renamed).unwrap();
        let out = work.join(format!("{plugin}.wasm"));
        plaza_ok(&[
            "package",
            raw.to_str().unwrap(),
            "--manifest",
            toml.to_str().unwrap(),
            "-o",
            out.to_str().unwrap(),
        ]);
    }
    let d = data.to_str().unwrap();
    for community in COMMUNITIES {
        plaza_ok(&["community", "create", community, "--data-dir", d]);
        for plugin in PLUGINS {
            let packaged = work.join(format!("{plugin}.wasm"));
            plaza_ok(&[
                "install",
                packaged.to_str().unwrap(),
                "-c",
                community,
                "--grant",
                "all",
                "--data-dir",
                d,
            ]);
            plaza_ok(&[
                "limits",
                "-c",
                community,
                "-p",
                plugin,
                "--wall-clock-ms",
                "10000",
                "--messages-per-minute-per-channel",
                "6000",
                "--channel-burst",
                "1000",
                "--messages-per-minute-per-community",
                "6000",
                "--community-burst",
                "1000",
                "--data-dir",
                d,
            ]);
        }
    }
}

/// One event to feed: a `reaction-added` with an explicit id, community and timestamp.
struct Fed {
    id: String,
    community: &'static str,
    line: String,
}

/// `n` events with ids `{prefix}-{i}`, spread at random over the communities, timestamps one
/// second apart (also keeps the installs' message budgets full).
fn make_events(prefix: &str, n: usize, rng: &mut Rng) -> Vec<Fed> {
    (0..n)
        .map(|i| {
            let community = COMMUNITIES[rng.below(COMMUNITIES.len() as u64) as usize];
            let id = format!("{prefix}-{i:05}");
            let line = crate::common::reaction_line(&id, community, i, 17);
            Fed { id, community, line }
        })
        .collect()
}

/// What the acknowledgements said so far, checked as they arrive.
struct Acks {
    /// The sequence each event (by index) was acknowledged at.
    sequence: Vec<Option<u64>>,
    index: HashMap<String, usize>,
    accepted: usize,
    duplicates: usize,
}

impl Acks {
    fn new(events: &[Fed]) -> Self {
        Acks {
            sequence: vec![None; events.len()],
            index: events.iter().enumerate().map(|(i, e)| (e.id.clone(), i)).collect(),
            accepted: 0,
            duplicates: 0,
        }
    }

    /// Records an `accepted` or `duplicate` line; panics on anything else but `ready`/`idle`/
    /// `stopped` (answered `false` for those).
    fn record(&mut self, events: &[Fed], line: &Value) -> bool {
        let status = line["status"]
            .as_str()
            .unwrap_or_else(|| panic!("a line without status: {line}"));
        if !matches!(status, "accepted" | "duplicate") {
            assert!(
                matches!(status, "ready" | "idle" | "stopped"),
                "unexpected line from plaza deliver: {line}"
            );
            return false;
        }
        let id = line["id"].as_str().unwrap_or_else(|| panic!("no id: {line}"));
        let i = *self
            .index
            .get(id)
            .unwrap_or_else(|| panic!("ack for an id never fed: {line}"));
        assert_eq!(line["community"], events[i].community, "{line}");
        let sequence = line["sequence"]
            .as_u64()
            .unwrap_or_else(|| panic!("no sequence: {line}"));
        if status == "accepted" {
            assert!(
                self.sequence[i].is_none(),
                "{id} was accepted again (at {sequence}) after being acknowledged at {:?}: ingest is \
                 not idempotent",
                self.sequence[i]
            );
            self.accepted += 1;
        } else {
            self.duplicates += 1;
        }
        if let Some(before) = self.sequence[i] {
            assert_eq!(before, sequence, "{id} was acknowledged at two sequences: {line}");
        }
        self.sequence[i] = Some(sequence);
        true
    }

    /// Index of the first event not acknowledged (`len` when all are).
    fn first_unacked(&self) -> usize {
        self.sequence
            .iter()
            .position(Option::is_none)
            .unwrap_or(self.sequence.len())
    }

    /// The acknowledged events' ids by community, after checking that each community's
    /// sequences rise in feed order and are exactly 1..=n.
    fn by_community(&self, events: &[Fed]) -> BTreeMap<&'static str, Vec<String>> {
        let mut out: BTreeMap<&'static str, Vec<String>> = COMMUNITIES.iter().map(|c| (*c, Vec::new())).collect();
        let mut last: HashMap<&str, u64> = HashMap::new();
        for (e, seq) in events.iter().zip(&self.sequence) {
            let Some(seq) = *seq else { continue };
            let prev = last.entry(e.community).or_insert(0);
            assert_eq!(
                seq,
                *prev + 1,
                "{} in {} is at sequence {seq}, but the community's acknowledged event before it (in feed \
                 order) is at {prev}: the log must hold the fed events once each, in order, without gaps",
                e.id,
                e.community
            );
            *prev = seq;
            out.get_mut(e.community).unwrap().push(e.id.clone());
        }
        out
    }
}

/// A `plaza deliver` child: stdout parsed into JSON lines on a channel, stderr appended to a
/// file, and killed (SIGKILL) when dropped so it never outlives the test.
struct Deliver {
    child: Child,
    stdin: Option<ChildStdin>,
    lines: Receiver<Value>,
    reader: Option<JoinHandle<()>>,
    stderr: PathBuf,
}

impl Deliver {
    fn start(data: &Path, stdin: bool, args: &[&str], stderr: &Path, label: &str) -> Deliver {
        let mut log = OpenOptions::new().create(true).append(true).open(stderr).unwrap();
        writeln!(log, "===== {label}: plaza deliver {}", args.join(" ")).unwrap();
        let mut cmd = Command::new(plaza_bin());
        cmd.arg("deliver").arg("--data-dir").arg(data);
        if stdin {
            cmd.arg("--stdin");
        }
        let mut child = cmd
            .args(args)
            .env("PLAZA_CACHE_DIR", crate::common::cache_dir())
            .stdin(if stdin { Stdio::piped() } else { Stdio::null() })
            .stdout(Stdio::piped())
            .stderr(Stdio::from(log))
            .spawn()
            .unwrap();
        let stdout = child.stdout.take().unwrap();
        let (tx, lines) = mpsc::channel();
        let reader = thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                let value = serde_json::from_str(&line).unwrap_or(Value::String(line));
                if tx.send(value).is_err() {
                    break;
                }
            }
        });
        Deliver {
            stdin: child.stdin.take(),
            child,
            lines,
            reader: Some(reader),
            stderr: stderr.to_path_buf(),
        }
    }

    /// Writes `lines` from a thread (so a full pipe never blocks the test), `burst` lines per
    /// write with a short pause after each, so input keeps arriving while earlier events are
    /// delivered. It stops at the first failed write, i.e. when the child is gone, and hands
    /// stdin back rather than closing it: end of input is not what these tests send.
    fn feed(&mut self, lines: Vec<String>, burst: usize) -> JoinHandle<ChildStdin> {
        let mut stdin = self.stdin.take().expect("stdin already taken");
        thread::spawn(move || {
            for chunk in lines.chunks(burst.max(1)) {
                let text: String = chunk.iter().map(|l| format!("{l}\n")).collect();
                if stdin.write_all(text.as_bytes()).is_err() {
                    break;
                }
                thread::sleep(Duration::from_millis(2));
            }
            stdin
        })
    }

    /// The next stdout line, `None` at end of output; panics after [`STEP_TIMEOUT`].
    fn next(&mut self, waiting_for: &str) -> Option<Value> {
        self.next_before(Instant::now() + STEP_TIMEOUT, waiting_for)
    }

    /// The next stdout line, `None` at end of output; panics at `deadline`.
    fn next_before(&mut self, deadline: Instant, waiting_for: &str) -> Option<Value> {
        match self
            .lines
            .recv_timeout(deadline.saturating_duration_since(Instant::now()))
        {
            Ok(Value::String(text)) => self.fail(&format!("a line that is not JSON: {text:?}")),
            Ok(v) => Some(v),
            Err(RecvTimeoutError::Disconnected) => None,
            Err(RecvTimeoutError::Timeout) => self.fail(&format!("timed out waiting for {waiting_for}")),
        }
    }

    fn wait_ready(&mut self) {
        match self.next("ready") {
            Some(v) if v["status"] == "ready" => {}
            Some(v) => self.fail(&format!("expected ready first, got {v}")),
            None => self.fail("exited before printing ready"),
        }
    }

    /// SIGKILL, then the lines it printed before dying.
    fn kill(&mut self) -> Vec<Value> {
        let _ = self.child.kill();
        let _ = self.child.wait();
        self.rest_before(Instant::now() + STEP_TIMEOUT, "end of output after SIGKILL")
    }

    /// Every line until end of output, which must come by `deadline`.
    fn rest_before(&mut self, deadline: Instant, waiting_for: &str) -> Vec<Value> {
        let mut out = Vec::new();
        loop {
            let waiting = format!("{waiting_for} ({} lines so far, the last {:?})", out.len(), out.last());
            let Some(v) = self.next_before(deadline, &waiting) else {
                break;
            };
            out.push(v);
        }
        if let Some(r) = self.reader.take() {
            r.join().unwrap();
        }
        out
    }

    /// Waits for the child to exit on its own.
    fn wait_exit(&mut self, timeout: Duration) -> std::process::ExitStatus {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return status;
            }
            if Instant::now() > deadline {
                self.fail(&format!("still running after {timeout:?}"));
            }
            thread::sleep(Duration::from_millis(20));
        }
    }

    fn fail(&mut self, what: &str) -> ! {
        let _ = self.child.kill();
        let _ = self.child.wait();
        panic!("plaza deliver: {what}\n--- stderr (tail) ---\n{}", tail(&self.stderr));
    }
}

impl Drop for Deliver {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The last lines of a log file.
fn tail(path: &Path) -> String {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(40)..].join("\n")
}

/// Runs `plaza deliver --exit-when-idle` to completion: exit code 0 and an `idle` line. Retries
/// are quick, so events that failed their first attempt do not keep it waiting.
fn drain(data: &Path, stderr: &Path) {
    let args = ["--exit-when-idle", "--retry-base-ms", "1", "--retry-max-ms", "20"];
    let mut d = Deliver::start(data, false, &args, stderr, "drain");
    let lines = d.rest_before(Instant::now() + DRAIN_TIMEOUT, "the end of a drain");
    let status = d.wait_exit(STEP_TIMEOUT);
    assert!(
        status.success(),
        "plaza deliver --exit-when-idle: {status}, output {lines:?}\n{}",
        tail(stderr)
    );
    assert!(
        lines.first().is_some_and(|l| l["status"] == "ready") && lines.last().is_some_and(|l| l["status"] == "idle"),
        "expected ready ... idle: {lines:?}"
    );
}

/// Checks, in the data dir, that each community's log holds exactly the `acked` events and that
/// every install took effect once for each, in order, with failed first attempts retried, no
/// dead letters and one outbox entry per message. Answers how many first attempts failed.
fn check_delivered(data: &Path, acked: &BTreeMap<&'static str, Vec<String>>) -> usize {
    let store = SqliteStore::open(data).unwrap();
    let dead = store.dead_letters(None, None).unwrap();
    assert!(
        dead.is_empty(),
        "{} dead letters, e.g. {:?}",
        dead.len(),
        dead.iter()
            .take(3)
            .map(|d| (&d.community, &d.plugin, &d.event.meta.id, &d.failures))
            .collect::<Vec<_>>()
    );
    let kv = |c: &str, p: &str, key: &str| {
        store
            .kv_get(c, p, key)
            .map(|v| String::from_utf8(v).unwrap_or_else(|e| panic!("{c}/{p} {key}: {e}")))
    };
    let mut failed_first = 0;
    let mut retried_once = false;
    for (community, ids) in acked {
        let community = *community;
        let head = store.head(community).unwrap();
        assert_eq!(
            head,
            ids.len() as u64,
            "{community}: the log's head should be the number of acknowledged events"
        );
        let messages = store.messages(community);
        let outbox = store.outbox(community).unwrap();
        let mut keys = HashSet::new();
        for entry in &outbox {
            assert!(
                keys.insert(entry.key.as_str()),
                "{community}: outbox key {} twice",
                entry.key
            );
        }
        for plugin in PLUGINS {
            let at = format!("{community}/{plugin}");
            let cursor = store
                .cursor(community, plugin)
                .unwrap()
                .unwrap_or_else(|| panic!("{at}: no cursor"));
            assert_eq!(cursor.sequence, head, "{at}: cursor {cursor:?}");
            assert!(cursor.failures.is_empty(), "{at}: cursor {cursor:?}");
            assert_eq!(
                kv(community, plugin, "count").as_deref(),
                Some(ids.len().to_string().as_str()),
                "{at}: events that took effect"
            );
            assert_eq!(
                kv(community, plugin, "last-seq"),
                Some(head.to_string()),
                "{at}: last-seq"
            );
            for prefix in ["disorder:", "dup:"] {
                let found = store.kv_keys(community, plugin, prefix, None, 100);
                let shown: Vec<_> = found.iter().map(|k| (k, kv(community, plugin, k))).collect();
                assert!(found.is_empty(), "{at}: {prefix}* keys (key, value): {shown:?}");
            }
            for id in ids {
                let attempt = kv(community, plugin, &format!("seen:{id}"))
                    .unwrap_or_else(|| panic!("{at}: {id} never took effect"))
                    .parse::<u32>()
                    .unwrap();
                if fails_first_attempt(id) {
                    failed_first += 1;
                    assert!(
                        attempt >= 2,
                        "{at}: {id} fails its first attempt, yet took effect at {attempt}"
                    );
                    retried_once |= attempt == 2;
                }
            }
            let mut texts: HashMap<&str, usize> = HashMap::new();
            for m in messages
                .iter()
                .filter(|m| m.posted_by_plugin.as_deref() == Some(plugin))
            {
                assert_eq!(m.author, format!("plugin:{plugin}"), "{at}: {m:?}");
                assert_eq!(m.channel, "ledger", "{at}: {m:?}");
                assert!(!m.deleted, "{at}: {m:?}");
                *texts.entry(m.text.as_str()).or_default() += 1;
            }
            let wrong: Vec<_> = ids
                .iter()
                .filter(|id| texts.get(id.as_str()) != Some(&1))
                .map(|id| (id, texts.get(id.as_str()).copied().unwrap_or(0)))
                .take(10)
                .collect();
            assert!(wrong.is_empty(), "{at}: (event, messages) not exactly once: {wrong:?}");
            assert_eq!(texts.len(), ids.len(), "{at}: messages for events never fed");
            let mut per_event: HashMap<&str, usize> = HashMap::new();
            for entry in outbox.iter().filter(|e| e.plugin == plugin) {
                let suffix = format!("/{plugin}/");
                let id = entry.key.split_once(suffix.as_str()).map(|(id, _)| id);
                let id = id.unwrap_or_else(|| panic!("{at}: outbox key {}", entry.key));
                *per_event.entry(id).or_default() += 1;
            }
            let wrong: Vec<_> = ids
                .iter()
                .filter(|id| per_event.get(id.as_str()) != Some(&1))
                .take(10)
                .collect();
            assert!(
                wrong.is_empty(),
                "{at}: events without exactly one outbox entry: {wrong:?}"
            );
            assert_eq!(per_event.len(), ids.len(), "{at}: outbox entries for events never fed");
        }
    }
    if failed_first > 0 {
        assert!(
            retried_once,
            "no event that failed its first attempt took effect at attempt 2"
        );
    }
    failed_first
}

/// Log entries the installs have not finished with, summed over installs (read while no host
/// process runs).
fn backlog(data: &Path) -> u64 {
    let store = SqliteStore::open(data).unwrap();
    let mut total = 0;
    for community in COMMUNITIES {
        let head = store.head(community).unwrap();
        for plugin in PLUGINS {
            let done = store.cursor(community, plugin).unwrap().map_or(0, |c| c.sequence);
            total += head - done;
        }
    }
    total
}

/// The seed: `PLAZA_CRASH_SEED`, or the clock.
fn seed() -> u64 {
    match std::env::var("PLAZA_CRASH_SEED") {
        Ok(s) => s
            .trim()
            .parse()
            .unwrap_or_else(|_| panic!("PLAZA_CRASH_SEED={s:?} is not a u64")),
        Err(_) => SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_nanos() as u64,
    }
}

/// Events to feed in all.
const CRASH_EVENTS: usize = 5_100;
/// SIGKILLs at least.
const CRASH_KILLS: usize = 24;

#[test]
fn crash_safety_under_repeated_sigkill() {
    let seed = seed();
    eprintln!("crash_safety_under_repeated_sigkill: seed {seed} (rerun with PLAZA_CRASH_SEED={seed})");
    let started = Instant::now();
    let mut rng = Rng::new(seed);
    let data = tempfile::tempdir().unwrap();
    let work = tempfile::tempdir().unwrap();
    let stderr = work.path().join("deliver.stderr");
    setup(data.path(), work.path());
    let events = make_events("ev", CRASH_EVENTS, &mut rng);
    let mut acks = Acks::new(&events);
    let args = ["--retry-base-ms", "1", "--retry-max-ms", "20"];
    // Kills by where they happened: starting up, while feeding, while delivering the backlog.
    let (mut at_start, mut feeding, mut delivering) = (0, 0, 0);
    let mut runs = 0;
    // What was left to deliver at each kill: shows the kills hit delivery in progress.
    let mut backlogs = Vec::new();
    loop {
        if runs > 0 {
            backlogs.push(backlog(data.path()));
        }
        let resume = acks.first_unacked();
        let kills = at_start + feeding + delivering;
        if kills >= CRASH_KILLS && resume == events.len() {
            break;
        }
        runs += 1;
        let mut d = Deliver::start(data.path(), true, &args, &stderr, &format!("run {runs}"));
        let roll = rng.below(10);
        if roll == 0 {
            // Anywhere in start-up, recovery included.
            thread::sleep(Duration::from_millis(rng.below(400)));
            for line in d.kill() {
                acks.record(&events, &line);
            }
            at_start += 1;
            continue;
        }
        d.wait_ready();
        // Resend from the first event not acknowledged: some after it were, and must come back
        // as duplicates. The chunk size spreads the new events over the kills still to come.
        let remaining = events.len() - resume;
        let runs_left = CRASH_KILLS.saturating_sub(kills).max(1);
        let chunk = (remaining * 3 / 2 / runs_left).clamp(50, 600).min(remaining);
        let lines = events[resume..resume + chunk].iter().map(|e| e.line.clone()).collect();
        let writer = d.feed(lines, 1 + rng.below(64) as usize);
        // Most runs die in the middle of feeding, after 1..chunk acknowledgements.
        let kill_after = (roll < 6 && chunk > 1).then(|| 1 + rng.below(chunk as u64 - 1) as usize);
        let mut seen = 0;
        let mut killed = false;
        while seen < chunk {
            let Some(line) = d.next("acknowledgements") else {
                d.fail("exited while being fed")
            };
            if acks.record(&events, &line) {
                seen += 1;
            } else {
                d.fail(&format!("unexpected line while feeding: {line}"));
            }
            if kill_after == Some(seen) {
                // Sometimes right away, sometimes a little later.
                if rng.below(2) == 0 {
                    thread::sleep(Duration::from_millis(rng.below(20)));
                }
                for line in d.kill() {
                    acks.record(&events, &line);
                }
                feeding += 1;
                killed = true;
                break;
            }
        }
        if !killed {
            // Everything fed is acknowledged: die while delivering the backlog.
            thread::sleep(Duration::from_millis(rng.below(150)));
            for line in d.kill() {
                acks.record(&events, &line);
            }
            delivering += 1;
        }
        writer.join().unwrap();
    }
    let kills = at_start + feeding + delivering;
    backlogs.sort_unstable();
    let busy = backlogs.iter().filter(|b| **b > 0).count();
    drain(data.path(), &stderr);
    let fed = acks.by_community(&events);
    let failed_first = check_delivered(data.path(), &fed);
    assert!(failed_first > 0, "no event failed its first attempt");
    eprintln!(
        "durability: {} events ({}), {kills} kills ({at_start} at start-up, {feeding} while feeding, \
         {delivering} while delivering) in {runs} runs, seed {seed}, {} accepted + {} duplicates \
         acknowledged, {failed_first} first attempts (over both plugins) failed on purpose; \
         deliveries pending at {busy} of the kills (median {}, max {} over the 6 installs), {:.1}s",
        events.len(),
        fed.iter()
            .map(|(c, ids)| format!("{c} {}", ids.len()))
            .collect::<Vec<_>>()
            .join(", "),
        acks.accepted,
        acks.duplicates,
        backlogs[backlogs.len() / 2],
        backlogs[backlogs.len() - 1],
        started.elapsed().as_secs_f64()
    );
}

#[test]
fn sigterm_drains_and_stops_cleanly() {
    let data = tempfile::tempdir().unwrap();
    let work = tempfile::tempdir().unwrap();
    let stderr = work.path().join("deliver.stderr");
    setup(data.path(), work.path());
    let mut rng = Rng::new(0x5eed);
    let events = make_events("term", 1_000, &mut rng);
    let mut acks = Acks::new(&events);
    let mut d = Deliver::start(data.path(), true, &[], &stderr, "sigterm");
    d.wait_ready();
    let writer = d.feed(events.iter().map(|e| e.line.clone()).collect(), 10);
    let mut seen = 0;
    while seen < 400 {
        let Some(line) = d.next("acknowledgements") else {
            d.fail("exited while being fed")
        };
        assert!(acks.record(&events, &line), "unexpected line while feeding: {line}");
        seen += 1;
    }
    let o = Command::new("kill")
        .args(["-TERM", &d.child.id().to_string()])
        .output()
        .unwrap();
    assert!(o.status.success(), "kill -TERM: {o:?}");
    let deadline = Instant::now() + STOP_TIMEOUT;
    let rest = d.rest_before(deadline, "stopped and the end of output after SIGTERM");
    let status = d.wait_exit(deadline.saturating_duration_since(Instant::now()) + Duration::from_secs(1));
    writer.join().unwrap();
    assert_eq!(
        status.code(),
        Some(0),
        "exit after SIGTERM; output after it: {rest:?}\n{}",
        tail(&stderr)
    );
    let stopped = rest
        .last()
        .unwrap_or_else(|| panic!("no output after SIGTERM\n{}", tail(&stderr)));
    assert_eq!(stopped["status"], "stopped", "the last line: {rest:?}");
    assert!(stopped["abandoned"].is_u64(), "{stopped}");
    for line in &rest[..rest.len() - 1] {
        assert!(acks.record(&events, line), "unexpected line after SIGTERM: {line}");
    }
    drop(d);
    let left = backlog(data.path());
    drain(data.path(), &stderr);
    let fed = acks.by_community(&events);
    check_delivered(data.path(), &fed);
    eprintln!(
        "sigterm: {} of {} events acknowledged before stopping, {} invocations abandoned, {left} deliveries \
         left for the restart",
        acks.accepted + acks.duplicates,
        events.len(),
        stopped["abandoned"]
    );
}
