//! `plaza bench http`: the load figure of HTTP ingest. It starts `plaza serve`'s service on
//! 127.0.0.1 (any free port) over a temporary data directory, then `--concurrency` clients,
//! each on one keep-alive connection, send `--requests` ingest requests between them:
//! alternately one event and a batch of `--batch` events (`member-joined`, each with its own
//! id). Every answer is checked (200, every event `accepted`), and the run ends with
//! requests/s, events/s and latency percentiles. With `--plugin`, the plugin is installed with
//! all its grants and background delivery runs meanwhile, as in production.

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context as _;
use clap::Args;
use http_body_util::{BodyExt as _, Full};
use hyper::body::Bytes;
use hyper_util::rt::TokioIo;
use plaza_host::dispatch::{EmbeddedPlatform, RunControl, RunnerOptions};
use plaza_host::serve::tokens::{self, NewToken, Role};
use plaza_host::serve::{AppState, ServeOptions, Server, SqliteTokenStore};
use plaza_host::{Plaza, PlazaConfig};
use serde_json::{json, Value};
use tokio::sync::watch;

#[derive(Args)]
pub struct HttpArgs {
    /// Requests to send in all.
    #[arg(long, default_value_t = 20_000)]
    requests: u64,
    /// Clients sending at once, each on one keep-alive connection.
    #[arg(long, default_value_t = 64)]
    concurrency: usize,
    /// Events per batch request (every other request is a batch; the rest carry one event).
    #[arg(long, default_value_t = 10)]
    batch: usize,
    /// A packaged plugin subscribing to `member-joined`, installed with all its grants so
    /// that delivery runs during the measurement.
    #[arg(long)]
    plugin: Option<PathBuf>,
    /// Where to put the database (default: a temporary directory, removed afterwards).
    #[arg(long)]
    data_dir: Option<PathBuf>,
    /// Print the result as one JSON object.
    #[arg(long)]
    json: bool,
}

const COMMUNITY: &str = "bench";

/// The body of request `n`: a single event, or a batch for odd `n`.
fn body_of(n: u64, batch: usize) -> (Vec<u8>, usize) {
    let event = |k: usize| {
        json!({"id": format!("bench-{n}-{k}"), "community": COMMUNITY, "type": "member-joined",
               "member": {"id": format!("member-{n}-{k}")}})
    };
    if n % 2 == 1 && batch > 1 {
        let events: Vec<Value> = (0..batch).map(event).collect();
        (serde_json::to_vec(&events).expect("json"), batch)
    } else {
        (serde_json::to_vec(&event(0)).expect("json"), 1)
    }
}

/// What one client saw.
#[derive(Default)]
struct ClientResult {
    latencies: Vec<Duration>,
    events: u64,
    errors: Vec<String>,
}

async fn client(
    address: std::net::SocketAddr,
    token: Arc<str>,
    next: Arc<AtomicU64>,
    args: (u64, usize),
) -> anyhow::Result<ClientResult> {
    let (requests, batch) = args;
    let stream = tokio::net::TcpStream::connect(address).await?;
    stream.set_nodelay(true)?;
    let (mut sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream)).await?;
    tokio::spawn(connection);
    let mut result = ClientResult::default();
    loop {
        let n = next.fetch_add(1, Ordering::Relaxed);
        if n >= requests {
            return Ok(result);
        }
        let (body, events) = body_of(n, batch);
        let request = hyper::Request::post("/v1/events")
            .header("host", address.to_string())
            .header("authorization", format!("Bearer {token}"))
            .header("content-type", "application/json")
            .body(Full::new(Bytes::from(body)))?;
        let start = Instant::now();
        sender.ready().await?;
        let response = sender.send_request(request).await?;
        let status = response.status();
        let bytes = response.into_body().collect().await?.to_bytes();
        result.latencies.push(start.elapsed());
        result.events += events as u64;
        let answer: Value = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
        let accepted = answer["results"]
            .as_array()
            .map_or(0, |r| r.iter().filter(|a| a["status"] == "accepted").count());
        if status != 200 || accepted != events {
            result
                .errors
                .push(format!("request {n}: {status} {}", String::from_utf8_lossy(&bytes)));
        }
    }
}

fn percentile(sorted: &[Duration], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let index = ((sorted.len() as f64 * p).ceil() as usize).clamp(1, sorted.len()) - 1;
    sorted[index].as_secs_f64() * 1000.0
}

pub async fn http(args: HttpArgs) -> anyhow::Result<ExitCode> {
    anyhow::ensure!(
        args.concurrency > 0 && args.requests > 0,
        "--requests and --concurrency must be positive"
    );
    let temp = tempfile::tempdir()?;
    let data_dir = args.data_dir.clone().unwrap_or_else(|| temp.path().to_path_buf());
    let plaza = Arc::new(Plaza::open(&data_dir, PlazaConfig::for_data_dir(&data_dir)?).await?);
    plaza.create_community(COMMUNITY)?;
    let (shutdown_tx, shutdown) = watch::channel(false);
    let runner = match &args.plugin {
        Some(path) => {
            let plugin = plaza.load_plugin_file(path).await?;
            plaza
                .install(COMMUNITY, plugin.clone(), plugin.requested(), Vec::new())
                .await?;
            let (_idle_tx, exit_when_idle) = watch::channel(false);
            let control = RunControl {
                shutdown,
                exit_when_idle,
                grace: Duration::from_secs(10),
            };
            let plaza = plaza.clone();
            Some(tokio::spawn(async move {
                plaza
                    .run_delivery(RunnerOptions::default(), control, Arc::new(EmbeddedPlatform))
                    .await
            }))
        }
        None => None,
    };
    let store = Arc::new(SqliteTokenStore::open(&data_dir)?);
    let operator = NewToken {
        name: "bench".into(),
        role: Role::Operator,
        communities: Vec::new(),
    };
    let (_, secret) = tokens::create(&*store, &operator, 0)?;
    let token: Arc<str> = Arc::from(secret.expose());
    let state = AppState::new(plaza.clone(), store, ServeOptions::default());
    let server = Server::bind("127.0.0.1:0", state).await?;
    let address = server.address();

    let next = Arc::new(AtomicU64::new(0));
    let start = Instant::now();
    let clients: Vec<_> = (0..args.concurrency)
        .map(|_| {
            tokio::spawn(client(
                address,
                token.clone(),
                next.clone(),
                (args.requests, args.batch),
            ))
        })
        .collect();
    let mut latencies = Vec::with_capacity(args.requests as usize);
    let (mut events, mut errors) = (0u64, Vec::new());
    for handle in clients {
        let result = handle.await.context("a client task failed")??;
        latencies.extend(result.latencies);
        events += result.events;
        errors.extend(result.errors);
    }
    let elapsed = start.elapsed().as_secs_f64();
    server.shutdown(Duration::from_secs(5)).await;
    let head = plaza.store().head(COMMUNITY)?;
    let _ = shutdown_tx.send(true);
    if let Some(runner) = runner {
        runner.await??;
    }
    latencies.sort_unstable();
    let cores = std::thread::available_parallelism().map_or(0, |n| n.get());
    let figure = json!({
        "requests": latencies.len(),
        "events": events,
        "concurrency": args.concurrency,
        "batch": args.batch,
        "seconds": elapsed,
        "requests_per_s": latencies.len() as f64 / elapsed,
        "events_per_s": events as f64 / elapsed,
        "p50_ms": percentile(&latencies, 0.50),
        "p99_ms": percentile(&latencies, 0.99),
        "max_ms": percentile(&latencies, 1.0),
        "errors": errors.len(),
        "log_head": head,
        "cores": cores,
    });
    if args.json {
        println!("{figure}");
    } else {
        println!(
            "plaza bench http: {} requests ({} events; every other one a batch of {}) from {} keep-alive \
             connections in {elapsed:.2} s on {cores} core(s)",
            latencies.len(),
            events,
            args.batch,
            args.concurrency
        );
        println!(
            "  {:.0} requests/s, {:.0} events/s; latency p50 {:.2} ms, p99 {:.2} ms, max {:.2} ms; \
             {} error(s); {head} events in the log",
            figure["requests_per_s"].as_f64().unwrap_or(0.0),
            figure["events_per_s"].as_f64().unwrap_or(0.0),
            figure["p50_ms"].as_f64().unwrap_or(0.0),
            figure["p99_ms"].as_f64().unwrap_or(0.0),
            figure["max_ms"].as_f64().unwrap_or(0.0),
            errors.len()
        );
        for error in errors.iter().take(5) {
            println!("  {error}");
        }
    }
    Ok(if errors.is_empty() && head == events {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}
