//! The outbox's cost: events pushed durably (each on disk before `push` returns) and then
//! acknowledged (read in batches of 64, removed in batches of 32, as the publisher does), with
//! SQLite's `synchronous` at FULL (what the daemon uses) and at NORMAL for comparison. The file
//! is on the same disk as `target/`, not in a RAM-backed temp folder. Run with
//! `cargo bench --bench outbox`; throughput is in events per second.

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};

use anttd::publish::outbox::{Durability, Outbox, Record};

const EVENTS: u64 = 200;

fn record(n: u64) -> Record {
    // About the size of a real object event.
    let payload = format!(
        r#"{{"id":"01a22235-bd45-769c-b47f-{n:012x}","event_id":"01a22235-bd45-769c-b47f-{n:012x}","type":"end","camera":"road","ts":"2026-11-28T12:52:53.759Z","kind":"object","label":"person","track_id":{n},"first_seen":"2026-11-28T12:52:40.000Z","last_seen":"2026-11-28T12:52:53.759Z","best_score":0.871,"box":[412.3,170.9,455.0,301.2]}}"#
    );
    Record {
        id: format!("01a22235-bd45-769c-b47f-{n:012x}"),
        camera: "road".into(),
        subtopic: "road/events".into(),
        payload: payload.into_bytes(),
        qos: 1,
        retain: false,
    }
}

fn push_and_ack(c: &mut Criterion) {
    let mut g = c.benchmark_group("outbox_push_then_ack");
    g.sample_size(10);
    g.throughput(Throughput::Elements(EVENTS));
    let base = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("target");
    for (name, durability) in [("full", Durability::Full), ("normal", Durability::Normal)] {
        let dir = tempfile::tempdir_in(&base).expect("temp dir on disk");
        let ob = Outbox::open_with(&dir.path().join("bench.sqlite"), 100_000, durability).expect("open");
        let mut n = 0u64;
        g.bench_function(BenchmarkId::new("synchronous", name), |b| {
            b.iter(|| {
                for _ in 0..EVENTS {
                    ob.push(&record(n)).expect("push");
                    n += 1;
                }
                let mut cursor = 0;
                loop {
                    let batch = ob.next_batch(cursor, 64).expect("read");
                    let Some(last) = batch.last() else { break };
                    cursor = last.seq;
                    for chunk in batch.chunks(32) {
                        let seqs: Vec<i64> = chunk.iter().map(|r| r.seq).collect();
                        ob.ack(&seqs).expect("ack");
                    }
                }
                assert!(ob.is_empty());
            })
        });
    }
    g.finish();
}

criterion_group!(benches, push_and_ack);
criterion_main!(benches);
