//! The station's store at the scale of a district: ingest through the station's own code path
//! (`Store::batch` and `Batch::ingest`, with real event payloads, in batches as the writer makes
//! them), then the searches a duty officer makes, timed one by one for p50 and p95.
//!
//! `cargo bench --bench station` builds (once, then reuses) a store of `STATION_BENCH_EVENTS`
//! events (default 1,000,000) under `target/station-bench/`: 100 boxes in 10 sites, 4 cameras
//! each, spread over 30 days; 60 % objects, 30 % line crossings, 10 % rule events, each object
//! and rule event a `start` and an `end`. docs/performance.md has the numbers for 10 million.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use anttd::station::store::{self, Filter, Store};
use anttd::station::topic;

const DAYS: i64 = 30;
const BATCH: usize = 256;

/// A small deterministic generator (xorshift), so every run builds the same store.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

const BASE: i64 = 1_793_000_000; // 2026-10-25, seconds

fn ts(secs: i64, ms: i64) -> String {
    let t = time::OffsetDateTime::from_unix_timestamp(secs).expect("time") + time::Duration::milliseconds(ms);
    anttd::event::rfc3339(t.into())
}

const KINDS: [(&str, Option<&str>); 5] = [
    ("crowd", Some("square")),
    ("speeding", Some("fast")),
    ("racing", Some("race")),
    ("wrong_way", Some("one-way")),
    ("stopped_vehicle", Some("shoulder")),
];
const LABELS: [&str; 3] = ["person", "motorcycle", "car"];

/// The messages of event number `n`: (topic, payload), one or two.
fn messages(n: u64, total: u64, rng: &mut Rng) -> Vec<(String, String)> {
    let site = rng.below(10);
    let device = rng.below(10);
    let camera = rng.below(4);
    let root = format!("antt/ward-{site}/box-{device:02}");
    let topic = format!("{root}/cam-{camera}/events");
    // Time grows with n, as it does on a real station.
    let at = BASE + (n as i64 * DAYS * 86_400) / total as i64;
    let ms = rng.below(1000) as i64;
    let id = format!("{:08x}-0000-7000-8000-{n:012x}", at);
    let label = LABELS[rng.below(3) as usize];
    let roll = rng.below(100);
    if roll < 30 {
        let p = format!(
            r#"{{"id":"{id}","event_id":"{id}","type":"start","camera":"cam-{camera}","ts":"{}","kind":"line_cross","line":"gate","direction":"north","label":"{label}","track_id":{n}}}"#,
            ts(at, ms)
        );
        return vec![(topic, p)];
    }
    let (kind, rule) = if roll < 90 { ("object", None) } else { KINDS[rng.below(5) as usize] };
    let rule = rule.map(|r| format!(r#","rule":"{r}","zone":"road""#)).unwrap_or_default();
    let start = format!(
        r#"{{"id":"{id}","event_id":"{id}","type":"start","camera":"cam-{camera}","ts":"{}","kind":"{kind}"{rule},"label":"{label}","track_id":{n},"first_seen":"{}","best_score":0.812,"box":[412.3,170.9,455.0,301.2],"snapshot":"evidence/cam-{camera}/events/{id}.jpg"}}"#,
        ts(at, ms),
        ts(at, ms - 400)
    );
    let end_id = format!("{:08x}-0000-7000-9000-{n:012x}", at);
    let end = format!(
        r#"{{"id":"{end_id}","event_id":"{id}","type":"end","camera":"cam-{camera}","ts":"{}","kind":"{kind}"{rule},"label":"{label}","track_id":{n},"first_seen":"{}","last_seen":"{}","best_score":0.871,"box":[412.3,170.9,455.0,301.2]}}"#,
        ts(at + 4, ms),
        ts(at, ms - 400),
        ts(at + 4, ms)
    );
    vec![(topic.clone(), start), (topic, end)]
}

/// Builds the store (or reuses it); returns its path and, when built now, events per second.
fn build(total: u64) -> (PathBuf, Option<f64>) {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target/station-bench");
    std::fs::create_dir_all(&dir).expect("bench dir");
    let db = dir.join(format!("station-{total}.db"));
    let done = dir.join(format!("station-{total}.done"));
    if done.exists() {
        return (db, None);
    }
    for ext in ["", "-wal", "-shm"] {
        let _ = std::fs::remove_file(format!("{}{ext}", db.display()));
    }
    let mut s = Store::open(&db).expect("open");
    let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
    let received = ts(BASE + DAYS * 86_400, 0);
    let t0 = Instant::now();
    let mut pending: Vec<(topic::Topic, String)> = Vec::with_capacity(BATCH);
    let mut messages_n = 0u64;
    for n in 0..total {
        for (t, p) in messages(n, total, &mut rng) {
            pending.push((topic::parse("antt", &t).expect("topic"), p));
        }
        if pending.len() >= BATCH || n + 1 == total {
            messages_n += pending.len() as u64;
            s.batch(|b| {
                for (t, p) in &pending {
                    b.ingest(t, p.as_bytes(), false, &received).expect("ingest");
                }
                Ok(())
            })
            .expect("commit");
            pending.clear();
        }
        if n % 1_000_000 == 999_999 {
            eprintln!("{} events stored, {:.0} events/s", n + 1, (n + 1) as f64 / t0.elapsed().as_secs_f64());
        }
    }
    let rate = total as f64 / t0.elapsed().as_secs_f64();
    // What the station's writer does every hour: forget old ids, refresh the planner's statistics.
    s.prune_seen(&received).expect("prune");
    eprintln!("{messages_n} messages for {total} events in {:.1} s", t0.elapsed().as_secs_f64());
    std::fs::write(&done, "").expect("mark built");
    (db, Some(rate))
}

fn percentile(sorted: &[Duration], p: f64) -> f64 {
    sorted[((sorted.len() as f64 * p) as usize).min(sorted.len() - 1)].as_secs_f64() * 1000.0
}

fn main() {
    // `cargo bench` passes --bench; a filter argument is not used.
    let total: u64 = std::env::var("STATION_BENCH_EVENTS").ok().and_then(|v| v.parse().ok()).unwrap_or(1_000_000);
    let (db, rate) = build(total);
    match rate {
        Some(r) => {
            println!("ingest: {r:.0} events/s ({total} events, batches of {BATCH} messages, one transaction each)")
        }
        None => println!("ingest: store reused (remove target/station-bench/station-{total}.done to measure it again)"),
    }
    let size: u64 = ["", "-wal"]
        .iter()
        .filter_map(|e| std::fs::metadata(format!("{}{e}", db.display())).ok())
        .map(|m| m.len())
        .sum();
    println!("store: {total} events, {:.2} GB on disk", size as f64 / 1e9);

    let conn = store::open_reader(&db).expect("reader");
    let mut rng = Rng(42);
    let day = |rng: &mut Rng| BASE + rng.below(DAYS as u64 - 1) as i64 * 86_400;
    type Query = Box<dyn Fn(&mut Rng) -> Filter>;
    let queries: Vec<(&str, Query)> = vec![
        ("newest events, no filter (the search page opened)", Box::new(|_| Filter::default())),
        (
            "one camera, 21:00 to 21:30 of a day",
            Box::new(move |r| {
                let d = day(r) + 21 * 3600;
                Filter {
                    from: ts(d, 0),
                    to: ts(d + 1800, 0),
                    site: format!("ward-{}", r.below(10)),
                    device: format!("box-{:02}", r.below(10)),
                    camera: format!("cam-{}", r.below(4)),
                    ..Default::default()
                }
            }),
        ),
        (
            "one site's rule events of a day",
            Box::new(move |r| {
                let d = day(r);
                Filter {
                    from: ts(d, 0),
                    to: ts(d + 86_400, 0),
                    site: format!("ward-{}", r.below(10)),
                    alerts: true,
                    ..Default::default()
                }
            }),
        ),
        ("racing over 30 days", Box::new(|_| Filter { kind: "racing".into(), ..Default::default() })),
        (
            "motorcycles of one box over a week, page 5",
            Box::new(move |r| {
                let d = day(r).min(BASE + (DAYS - 7) * 86_400);
                Filter {
                    from: ts(d, 0),
                    to: ts(d + 7 * 86_400, 0),
                    site: format!("ward-{}", r.below(10)),
                    device: format!("box-{:02}", r.below(10)),
                    label: "motorcycle".into(),
                    page: 5,
                    ..Default::default()
                }
            }),
        ),
        (
            "one rule over 30 days",
            Box::new(|r| Filter { rule: KINDS[r.below(5) as usize].1.unwrap_or("").into(), ..Default::default() }),
        ),
    ];
    println!("search (one page of {}, newest first; 200 runs each):", store::PAGE);
    for (name, q) in &queries {
        let mut times = Vec::with_capacity(200);
        let mut found = 0;
        for _ in 0..200 {
            let f = q(&mut rng);
            let t = Instant::now();
            found += store::search(&conn, &f, Some(store::PAGE)).expect("search").events.len();
            times.push(t.elapsed());
        }
        times.sort();
        println!(
            "  {name}: p50 {:.1} ms, p95 {:.1} ms, max {:.1} ms ({:.0} rows a page)",
            percentile(&times, 0.5),
            percentile(&times, 0.95),
            percentile(&times, 1.0),
            found as f64 / 200.0
        );
    }
}
