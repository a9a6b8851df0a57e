//! The station end to end under a district's traffic: a real mosquitto, the real `anttd station`
//! binary, and 100 simulated boxes (4 cameras each) publishing events (`start` and `end`, as a
//! box does) and `stats` every 10 s through one QoS 1 connection at a fixed rate. It reports the
//! rate the station stored, how far behind it was when the publishing stopped, its CPU time per
//! thousand events, and its memory (RSS) every 10 s: flat memory is the target.
//!
//! `cargo bench --bench station_load` (default 2,000 events a second for 60 s); set
//! `STATION_LOAD_RATE` and `STATION_LOAD_SECS` for others. docs/performance.md has the numbers.

use std::io::Write;
use std::net::TcpListener;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).map(|a| a.port()).expect("a free port")
}

fn wait_port(port: u16) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(Instant::now() < deadline, "nothing listens on {port}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

struct Kill(Child);

impl Drop for Kill {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// (RSS in MB, CPU seconds) of a process, from /proc.
fn usage(pid: u32) -> (f64, f64) {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    let rss_kb: f64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse().ok())
        .unwrap_or(0.0);
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    // Fields after the command name (which may hold spaces): utime and stime are 14th and 15th.
    let rest: Vec<&str> = stat.rsplit(')').next().unwrap_or("").split_whitespace().collect();
    let ticks: f64 = rest.get(11).and_then(|u| u.parse::<f64>().ok()).unwrap_or(0.0)
        + rest.get(12).and_then(|s| s.parse::<f64>().ok()).unwrap_or(0.0);
    (rss_kb / 1024.0, ticks / 100.0)
}

fn main() {
    let rate: u64 = std::env::var("STATION_LOAD_RATE").ok().and_then(|v| v.parse().ok()).unwrap_or(2000);
    let secs: u64 = std::env::var("STATION_LOAD_SECS").ok().and_then(|v| v.parse().ok()).unwrap_or(60);
    let dir = tempfile::tempdir_in(concat!(env!("CARGO_MANIFEST_DIR"), "/target")).expect("temp dir on disk");
    let mqtt = free_port();
    let conf = dir.path().join("mosquitto.conf");
    std::fs::write(&conf, format!("listener {mqtt} 127.0.0.1\nallow_anonymous true\nmax_queued_messages 0\n"))
        .expect("conf");
    let _broker =
        Kill(Command::new("mosquitto").arg("-c").arg(&conf).stderr(Stdio::null()).spawn().expect("mosquitto"));
    wait_port(mqtt);
    let web = free_port();
    let station = Kill(
        Command::new(env!("CARGO_BIN_EXE_anttd"))
            .args(["station", "--data-dir"])
            .arg(dir.path().join("station"))
            .args(["--listen", &format!("127.0.0.1:{web}"), "--broker", &format!("127.0.0.1:{mqtt}")])
            .env("ANTTD_LOG", "warn")
            .stderr(Stdio::inherit())
            .spawn()
            .expect("anttd station"),
    );
    let pid = station.0.id();
    wait_port(web);
    std::thread::sleep(Duration::from_millis(500));

    let mut o = rumqttc::MqttOptions::new("station-load", "127.0.0.1", mqtt);
    o.set_max_packet_size(1 << 20, 1 << 20);
    o.set_inflight(100);
    let (client, mut conn) = rumqttc::Client::new(o, 1000);
    std::thread::spawn(move || for _ in conn.iter() {});

    println!("offering {rate} events/s for {secs} s from 100 boxes (start and end each; stats every 10 s)");
    let (rss0, cpu0) = usage(pid);
    let t0 = Instant::now();
    let total = rate * secs;
    let mut samples = vec![(0u64, rss0)];
    for n in 0..total {
        let due = t0 + Duration::from_secs_f64(n as f64 / rate as f64);
        if let Some(wait) = due.checked_duration_since(Instant::now()) {
            std::thread::sleep(wait);
        }
        let (site, dev, cam) = (n % 10, (n / 10) % 10, (n / 100) % 4);
        let topic = format!("antt/ward-{site}/box-{dev:02}/cam-{cam}/events");
        let id = format!("01a24000-0000-7000-8000-{n:012x}");
        let ts = anttd::event::rfc3339(std::time::SystemTime::now());
        let start = format!(
            r#"{{"id":"{id}","event_id":"{id}","type":"start","camera":"cam-{cam}","ts":"{ts}","kind":"object","label":"motorcycle","track_id":{n},"first_seen":"{ts}","last_seen":"{ts}","best_score":0.812,"box":[412.3,170.9,455.0,301.2]}}"#
        );
        let end = format!(
            r#"{{"id":"01a24000-0000-7000-9000-{n:012x}","event_id":"{id}","type":"end","camera":"cam-{cam}","ts":"{ts}","kind":"object","label":"motorcycle","track_id":{n},"first_seen":"{ts}","last_seen":"{ts}","best_score":0.871,"box":[412.3,170.9,455.0,301.2]}}"#
        );
        client.publish(&topic, rumqttc::QoS::AtLeastOnce, false, start).expect("publish");
        client.publish(&topic, rumqttc::QoS::AtLeastOnce, false, end).expect("publish");
        if n % (rate * 10) == 0 {
            for b in 0..100u64 {
                let stats = format!(
                    r#"{{"ts":"{ts}","uptime_s":{},"outbox":{{"len":0,"dropped":0}},"cameras":[{{"camera":"cam-0","fps":5.0,"inference_ms":170.0,"restarts":0}}]}}"#,
                    n / rate
                );
                client
                    .publish(
                        format!("antt/ward-{}/box-{:02}/stats", b % 10, b / 10),
                        rumqttc::QoS::AtMostOnce,
                        false,
                        stats,
                    )
                    .expect("publish");
            }
            samples.push((t0.elapsed().as_secs(), usage(pid).0));
            print!(".");
            let _ = std::io::stdout().flush();
        }
    }
    let published = t0.elapsed();
    println!();
    let db = dir.path().join("station/station.db");
    let conn =
        rusqlite::Connection::open_with_flags(&db, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY).expect("station db");
    let ended = || -> u64 {
        conn.query_row("SELECT count(*) FROM events WHERE end_ts IS NOT NULL", [], |r| r.get::<_, i64>(0))
            .map(|n| n as u64)
            .unwrap_or(0)
    };
    let behind = ended();
    let deadline = Instant::now() + Duration::from_secs(120);
    while ended() < total && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(100));
    }
    let all = t0.elapsed();
    let (rss1, cpu1) = usage(pid);
    samples.push((all.as_secs(), rss1));
    let stored = ended();
    println!(
        "published {total} events ({} messages) in {:.1} s: {:.0} events/s",
        total * 2,
        published.as_secs_f64(),
        total as f64 / published.as_secs_f64()
    );
    println!(
        "stored {stored} of {total} in {:.1} s: {:.0} events/s; {} waited when publishing stopped",
        all.as_secs_f64(),
        stored as f64 / all.as_secs_f64(),
        total.saturating_sub(behind)
    );
    println!("station CPU: {:.2} s, {:.1} ms per 1000 events", cpu1 - cpu0, (cpu1 - cpu0) * 1e6 / total as f64);
    let rss: Vec<String> = samples.iter().map(|(t, r)| format!("{t} s {r:.1}")).collect();
    println!("station RSS (MB): {}", rss.join(", "));
}
