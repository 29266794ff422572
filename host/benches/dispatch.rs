//! Criterion micro-benchmarks of the dispatch path, beside `plaza bench` (which compares with
//! the baselines): one posted message dispatched to the echo fixture in a host in memory, with
//! a fresh instance and with bounded reuse. Build the fixtures first: `cargo xtask bench --quick`
//! (it writes `target/bench/`), then `cargo bench --profile ci -p plaza-host --bench dispatch`.

use std::path::PathBuf;

use criterion::{criterion_group, criterion_main, Criterion};
use plaza_host::event::{Event, EventKind, EventMeta, Message};
use plaza_host::host_api::rate_limit::{Rate, RateLimits};
use plaza_host::{Plaza, PlazaConfig};

fn fixture(name: &str) -> Vec<u8> {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../target/bench")
        .join(name);
    std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e} (run `cargo xtask bench --quick` first)", path.display()))
}

fn host(rt: &tokio::runtime::Runtime, fixture_name: &str) -> Plaza {
    let mut config = PlazaConfig::default();
    config.engine.cache_dir = None;
    let unpaced = Rate {
        per_second: 1e9,
        burst: u32::MAX,
    };
    config.rates = RateLimits {
        per_channel: unpaced,
        per_community: unpaced,
    };
    rt.block_on(async {
        let plaza = Plaza::new(config).unwrap();
        let plugin = plaza.load_plugin(&fixture(fixture_name), fixture_name).await.unwrap();
        plaza.create_community("bench").unwrap();
        plaza
            .install("bench", plugin.clone(), plugin.requested(), Vec::new())
            .await
            .unwrap();
        plaza
    })
}

fn posted(n: u64) -> Event {
    Event {
        meta: EventMeta {
            id: format!("e-{n}"),
            community: "bench".into(),
            sequence: 0,
            timestamp_ms: 1_767_225_600_000 + n,
            attempt: 1,
        },
        kind: EventKind::MessagePosted(Message {
            channel: "general".into(),
            message_id: format!("m-{n}"),
            author: "member-1".into(),
            text: format!("hello number {n}"),
            mentions: Vec::new(),
            reply_to: None,
        }),
    }
}

fn dispatch(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let mut group = c.benchmark_group("dispatch");
    for (label, fixture_name) in [("fresh instance", "echo.wasm"), ("bounded reuse", "echo-reuse.wasm")] {
        let plaza = host(&rt, fixture_name);
        let mut n = 0;
        group.bench_function(label, |b| {
            b.iter(|| {
                n += 1;
                let report = rt.block_on(plaza.dispatch(posted(n))).unwrap();
                assert_eq!(report.invocations.len(), 1);
            })
        });
    }
    group.finish();
}

criterion_group!(benches, dispatch);
criterion_main!(benches);
