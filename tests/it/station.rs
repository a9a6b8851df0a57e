//! `anttd station` with the real parts: mosquitto, a real `anttd run` on vtest.avi publishing to
//! it, and Debian's headless Chromium reading the pages through its DevTools protocol (so the
//! live alerts are seen arriving in a page that stays open).
//!
//! Screenshots of the pages go to `target/station-screenshots/` (docs/station.md shows them).

use crate::common;

use std::collections::{BTreeMap, BTreeSet};
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use base64::Engine;
use common::{Broker, Msg, Subscriber, anttd, free_port, publish, wait_until, write_config};
use serde_json::{Value, json};

const ROOT: &str = "antt/test-site/test-box";

/// A running `anttd station`, stopped with SIGTERM when dropped.
struct Station {
    child: Child,
    port: u16,
}

impl Station {
    fn start(broker: u16, data: &Path, extra: &[&str]) -> Self {
        let port = free_port();
        let log = std::fs::File::create(data.with_extension("log")).expect("station log");
        let child = anttd()
            .args(["station", "--data-dir"])
            .arg(data)
            .args(["--listen", &format!("127.0.0.1:{port}"), "--broker", &format!("127.0.0.1:{broker}")])
            // The same data directory is the same station: the same persistent session.
            .args([
                "--client-id",
                &format!("station-{}", data.parent().and_then(Path::file_name).expect("a temp dir").display()),
            ])
            .args(extra)
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("start anttd station");
        let s = Self { child, port };
        wait_until(Duration::from_secs(20), "the station's console answers", || s.try_get("/").is_some());
        // With logins the board is behind the login: the test logs in and looks itself.
        if !extra.contains(&"--users") {
            wait_until(Duration::from_secs(20), "the station is connected to the broker", || {
                s.get("/").contains(r#"<span class="ok">connected</span>"#)
            });
        }
        s
    }

    fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.port)
    }

    fn try_get(&self, path: &str) -> Option<(u16, Vec<u8>)> {
        http_get(self.port, path)
    }

    /// The body of a page that must answer 200, as text.
    fn get(&self, path: &str) -> String {
        let (status, body) = self.try_get(path).unwrap_or_else(|| panic!("GET {path}: no answer"));
        assert_eq!(status, 200, "GET {path}: {}", String::from_utf8_lossy(&body));
        String::from_utf8(body).expect("utf-8 page")
    }

    /// The CSV export of a search, as one map per row.
    fn csv(&self, query: &str) -> Vec<BTreeMap<String, String>> {
        let text = self.get(&format!("/search.csv?{query}"));
        let mut r = csv::Reader::from_reader(text.as_bytes());
        let head = r.headers().expect("csv header").clone();
        r.records()
            .map(|rec| head.iter().zip(rec.expect("csv row").iter()).map(|(k, v)| (k.into(), v.into())).collect())
            .collect()
    }

    fn stop(mut self) {
        terminate(&mut self.child);
    }
}

impl Drop for Station {
    fn drop(&mut self) {
        terminate(&mut self.child);
    }
}

fn terminate(child: &mut Child) {
    if let Ok(None) = child.try_wait() {
        unsafe { libc::kill(child.id() as i32, libc::SIGTERM) };
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = child.kill();
        let _ = child.wait();
    }
}

/// One HTTP GET on loopback: (status, body); None when nothing answers. The body ends at
/// its Content-Length when there is one (Chromium's DevTools server keeps the connection open).
fn http_get(port: u16, path: &str) -> Option<(u16, Vec<u8>)> {
    let mut s = TcpStream::connect(("127.0.0.1", port)).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(20))).ok()?;
    write!(s, "GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n").ok()?;
    let mut raw = Vec::new();
    let mut buf = [0u8; 16384];
    loop {
        let n = s.read(&mut buf).ok()?;
        raw.extend_from_slice(&buf[..n]);
        let Some(split) = raw.windows(4).position(|w| w == b"\r\n\r\n") else {
            if n == 0 {
                return None;
            }
            continue;
        };
        let head = String::from_utf8_lossy(&raw[..split]).to_string();
        let length = head.lines().find_map(|l| {
            let (k, v) = l.split_once(':')?;
            k.eq_ignore_ascii_case("content-length").then(|| v.trim().parse::<usize>().ok()).flatten()
        });
        let body_len = raw.len() - split - 4;
        if n == 0 || length.is_some_and(|l| body_len >= l) {
            let status = head.split_whitespace().nth(1)?.parse().ok()?;
            return Some((status, raw[split + 4..].to_vec()));
        }
    }
}

/// Headless Chromium driven over its DevTools protocol: one page, navigated and read.
struct Browser {
    child: Child,
    ws: tungstenite::WebSocket<TcpStream>,
    next: u64,
    _profile: tempfile::TempDir,
}

impl Browser {
    fn start() -> Self {
        let profile = tempfile::tempdir().expect("profile dir");
        let mut child = Command::new("chromium")
            .args(["--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars", "--window-size=1280,860"])
            .args(["--remote-debugging-port=0", "--no-first-run", "--no-default-browser-check"])
            .arg(format!("--user-data-dir={}", profile.path().display()))
            .arg("about:blank")
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start chromium (scripts/setup installs Debian's chromium)");
        // "DevTools listening on ws://127.0.0.1:PORT/devtools/browser/…" names the port.
        let stderr = child.stderr.take().expect("stderr");
        let mut lines = BufReader::new(stderr).lines();
        let port: u16 = loop {
            let line = lines.next().expect("chromium ended before listening").expect("chromium stderr");
            if let Some(rest) = line.split("ws://127.0.0.1:").nth(1) {
                break rest.split('/').next().and_then(|p| p.parse().ok()).expect("a DevTools port");
            }
        };
        // Keep draining stderr so chromium never blocks on a full pipe.
        std::thread::spawn(move || for _ in lines {});
        let (_, list) = http_get(port, "/json/list").expect("DevTools target list");
        let list: Value = serde_json::from_slice(&list).expect("target list JSON");
        let page = list.as_array().and_then(|l| l.iter().find(|t| t["type"] == "page")).expect("a page target");
        let ws_url = page["webSocketDebuggerUrl"].as_str().expect("page websocket").to_string();
        let stream = TcpStream::connect(("127.0.0.1", port)).expect("connect DevTools");
        stream.set_read_timeout(Some(Duration::from_secs(30))).expect("timeout");
        let (ws, _) = tungstenite::client(ws_url.as_str(), stream).expect("DevTools websocket");
        Self { child, ws, next: 0, _profile: profile }
    }

    fn call(&mut self, method: &str, params: Value) -> Value {
        self.next += 1;
        let id = self.next;
        self.ws
            .send(tungstenite::Message::text(json!({"id": id, "method": method, "params": params}).to_string()))
            .expect("send");
        loop {
            let msg = self.ws.read().expect("DevTools reply");
            let Ok(text) = msg.to_text() else { continue };
            let v: Value = serde_json::from_str(text).expect("DevTools JSON");
            if v["id"] == id {
                assert!(v.get("error").is_none(), "{method}: {v}");
                return v["result"].clone();
            }
        }
    }

    fn eval(&mut self, js: &str) -> Value {
        let r = self.call("Runtime.evaluate", json!({"expression": js, "returnByValue": true, "awaitPromise": true}));
        r["result"]["value"].clone()
    }

    /// Opens `url` and waits until it (or the page it sends to) has loaded, pictures included:
    /// the old page is marked, and the wait is for a loaded page without the mark.
    fn open(&mut self, url: &str) {
        self.eval("window.__left = true");
        self.call("Page.navigate", json!({"url": url}));
        let deadline = Instant::now() + Duration::from_secs(20);
        while self.eval("!window.__left && document.readyState === 'complete'") != json!(true) {
            assert!(Instant::now() < deadline, "{url} did not load");
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    fn wait(&mut self, what: &str, js: &str) {
        let deadline = Instant::now() + Duration::from_secs(20);
        while self.eval(js) != json!(true) {
            assert!(Instant::now() < deadline, "waited 20 s for {what}");
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// Saves what the page shows as `name` (`.png`, or `.jpg` for pages with photos).
    fn screenshot(&mut self, name: &str) {
        let format =
            if name.ends_with(".jpg") { json!({"format": "jpeg", "quality": 85}) } else { json!({"format": "png"}) };
        let r = self.call("Page.captureScreenshot", format);
        let png =
            base64::engine::general_purpose::STANDARD.decode(r["data"].as_str().expect("png data")).expect("base64");
        let dir = common::root().join("target/station-screenshots");
        std::fs::create_dir_all(&dir).expect("screenshot dir");
        std::fs::write(dir.join(name), png).expect("write screenshot");
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// vtest.avi with the line and crowd rule of vtest_rules.rs, snapshots published.
fn box_config(dir: &Path, port: u16) -> PathBuf {
    let evidence =
        "[evidence]\nenabled = true\nmin_free_mb = 1\npublish_snapshots = true\nsnapshot_min_interval_s = 1\n";
    write_config(dir, port, &format!("{evidence}\n{}", crate::vtest_rules::camera()))
}

#[test]
fn every_event_a_box_sends_is_at_the_station_once_and_its_pages_show_it() {
    let broker = Broker::start();
    let sub = Subscriber::connect(broker.port, "antt/#");
    let dir = tempfile::tempdir().expect("temp dir");
    let station = Station::start(broker.port, &dir.path().join("station"), &[]);

    let cfg = box_config(dir.path(), broker.port);
    let (msgs, _) = common::run_box_to_end(&cfg, &sub, ROOT);

    // What the box sent, by event: the station must hold each event once, ended where it ended.
    let sent: Vec<Value> = msgs.iter().filter(|m| m.topic == format!("{ROOT}/road/events")).map(Msg::json).collect();
    let sent_ids: BTreeSet<String> =
        sent.iter().map(|e| e["event_id"].as_str().expect("event_id").to_string()).collect();
    let sent_ends: BTreeMap<String, String> = sent
        .iter()
        .filter(|e| e["type"] == "end")
        .map(|e| (e["event_id"].as_str().expect("id").to_string(), e["ts"].as_str().expect("ts").to_string()))
        .collect();
    assert!(sent_ids.len() > 20, "the run sent too few events to test with: {}", sent_ids.len());
    let crowds = sent.iter().filter(|e| e["kind"] == "crowd" && e["type"] == "start").count();
    assert!(crowds >= 1, "the run raised no crowd");

    let mut rows = Vec::new();
    wait_until(Duration::from_secs(20), "the station has every event", || {
        rows = station.csv("");
        rows.len() >= sent_ids.len()
    });
    let stored: Vec<&String> = rows.iter().map(|r| &r["event_id"]).collect();
    assert_eq!(stored.len(), sent_ids.len(), "each event once");
    assert_eq!(stored.into_iter().cloned().collect::<BTreeSet<_>>(), sent_ids, "the same events");
    for r in &rows {
        assert_eq!((r["site"].as_str(), r["box"].as_str(), r["camera"].as_str()), ("test-site", "test-box", "road"));
        if let Some(end) = sent_ends.get(&r["event_id"]) {
            assert_eq!(&r["end_utc"], end, "event {} ended as the box said", r["event_id"]);
        }
    }
    assert_eq!(station.csv("kind=crowd&alerts=true").len(), crowds, "a search by kind");

    // A duplicate delivery changes nothing and is counted.
    let again = msgs.iter().find(|m| m.topic == format!("{ROOT}/road/events")).expect("an event").payload.clone();
    publish(broker.port, &format!("{ROOT}/road/events"), &[again], false);
    wait_until(Duration::from_secs(10), "the duplicate is counted", || {
        station.get("/").contains("1 duplicates dropped")
    });
    assert_eq!(station.csv("").len(), sent_ids.len(), "the duplicate was dropped");

    // The newest snapshot the box published is the station's, byte for byte.
    let info = msgs
        .iter()
        .rev()
        .find(|m| m.topic == format!("{ROOT}/road/snapshot/info"))
        .expect("a snapshot was published")
        .json();
    let picture =
        msgs.iter().rev().find(|m| m.topic == format!("{ROOT}/road/snapshot")).expect("snapshot").payload.clone();
    let event_id = info["event_id"].as_str().expect("event_id");
    let (code, jpeg) = station.try_get(&format!("/snapshot/{event_id}")).expect("snapshot answer");
    assert_eq!(code, 200);
    assert!(jpeg == picture, "the stored snapshot differs from the published one");

    // The pages, in a real browser.
    let mut b = Browser::start();
    b.open(&station.url("/"));
    let board = b.eval(&format!("document.querySelector('tr[data-box=\"{ROOT}\"]').className"));
    assert_eq!(board, "offline", "the box ended its run: offline on the board");
    let fps = b.eval("Number(document.querySelectorAll('#fleet tr')[1].children[6].textContent)");
    assert!(fps.as_f64().is_some_and(|f| f > 1.0), "the camera's fps from stats: {fps}");
    b.screenshot("board.png");

    b.open(&station.url(&format!("/event/{event_id}")));
    b.wait("the snapshot to be shown", "document.getElementById('snapshot').naturalWidth === 768");
    let fields = b.eval("document.getElementById('fields').innerText");
    assert!(fields.as_str().is_some_and(|t| t.contains(event_id)), "{fields}");
    let fetch = b.eval("document.getElementById('fetch').innerText");
    assert!(fetch.as_str().is_some_and(|t| t.contains(&format!("--root {ROOT} --camera road"))), "{fetch}");
    b.screenshot("event.jpg");

    b.open(&station.url("/search?kind=line_cross"));
    let shown = b.eval("document.querySelectorAll('#results tr.event').length");
    let crossings = sent.iter().filter(|e| e["kind"] == "line_cross").count();
    assert_eq!(shown, json!(crossings.min(50)), "one row per crossing");
    b.screenshot("search.png");

    // Counts over time: the table adds up to the crossings.
    b.open(&station.url(&format!("/counts?root={}&camera=road", ROOT.replace('/', "%2F"))));
    let counted =
        b.eval("[...document.querySelectorAll('#counts td.num')].reduce((s, td) => s + Number(td.textContent), 0)");
    assert_eq!(counted, json!(crossings), "the counts add up to the crossings");
    assert_eq!(b.eval("document.querySelectorAll('#chart polyline').length"), json!(2), "one line per direction");
    b.screenshot("counts.png");
    station.stop();
}

fn event(id: &str, kind: &str, ts: &str) -> Vec<u8> {
    json!({"id": id, "event_id": id, "type": "start", "camera": "gate", "ts": ts, "kind": kind, "rule": "r", "group_size": 4, "max_kmh": 88.0})
        .to_string()
        .into_bytes()
}

#[test]
fn the_station_loses_nothing_while_away_and_shows_alerts_as_they_come() {
    let broker = Broker::start_for_station();
    let dir = tempfile::tempdir().expect("temp dir");
    let data = dir.path().join("station");
    let args = ["--silent-after-s", "3"];
    let station = Station::start(broker.port, &data, &args);
    station.stop();

    // While the station is stopped, a box comes online and sends three events.
    let topic = "antt/ward-9/box-2/gate/events";
    publish(broker.port, "antt/ward-9/box-2/status", &[b"online".to_vec()], true);
    let away: Vec<Vec<u8>> =
        (0..3).map(|i| event(&format!("away-{i}"), "racing", &format!("2026-12-04T10:00:0{i}.000Z"))).collect();
    publish(broker.port, topic, &away, false);

    // And a backlog a station finds after a long outage: 10,000 events more, sent in a burst
    // that outruns the writer (the connection must wait for it without stalling the
    // acknowledgements that let the broker go on).
    let backlog: Vec<Vec<u8>> =
        (0..10_000).map(|i| event(&format!("backlog-{i:05}"), "object", "2026-12-04T09:00:00.000Z")).collect();
    publish(broker.port, topic, &backlog, false);

    let station = Station::start(broker.port, &data, &args);
    let mut ids = Vec::new();
    wait_until(Duration::from_secs(30), "the events sent while away", || {
        ids = station.csv("kind=racing").into_iter().map(|r| r["event_id"].clone()).collect();
        ids.len() >= 3 && station.csv("kind=object").len() >= 10_000
    });
    assert_eq!(ids, ["away-2", "away-1", "away-0"], "newest first, each once");
    assert_eq!(station.csv("kind=object").len(), 10_000, "the backlog, each once");

    // Live: an open alerts page filtered to racing gets a new racing alert, and not a crowd.
    let mut b = Browser::start();
    b.open(&station.url("/alerts?kind=racing"));
    b.wait("the live connection", "document.getElementById('live').textContent === 'live'");
    assert_eq!(b.eval("document.querySelectorAll('#alerts tr.event').length"), json!(3));
    publish(
        broker.port,
        topic,
        &[event("crowd-1", "crowd", "2026-12-04T10:00:08.000Z"), event("live-1", "racing", "2026-12-04T10:00:09.000Z")],
        false,
    );
    b.wait("the new alert", "document.querySelectorAll('#alerts tr.event').length === 4");
    let first = b.eval("document.querySelector('#alerts tr.event a').getAttribute('href')");
    assert_eq!(first, "/event/live-1", "the new alert is on top");
    assert_eq!(station.csv("kind=crowd").len(), 1, "the crowd is stored, only not shown on this page");
    b.screenshot("alerts.png");

    // Nothing more from the box: online, but silent.
    wait_until(Duration::from_secs(10), "the box shown silent", || {
        station.get("/").contains(r#"<tr class="silent" data-box="antt/ward-9/box-2">"#)
    });
}

#[test]
fn footage_asked_from_an_event_page_is_the_cut_the_box_made_byte_for_byte() {
    use crate::evidence::{BOX_LOGIN, STATION, h264_vtest, key_cli, station_broker};
    let dir = tempfile::tempdir().expect("temp dir");
    let video = h264_vtest(dir.path());
    // The deployed broker: logins and the shipped ACL (the station reads antt/# and may only
    // write extraction requests).
    let broker = station_broker();
    let port = broker.tls_port.expect("login listener");
    let station_key = dir.path().join("station.key");
    let station_pub = key_cli("keygen", &station_key);
    let camera = format!(
        "[evidence]\nenabled = true\nsegment_s = 2\npre_roll_s = 1\npost_roll_s = 1\nmin_free_mb = 1\n\n[extract]\nstation_keys = [\"{station_pub}\"]\n\n[[cameras]]\nid = \"road\"\nuri = \"{}\"\ndetect_fps = 5\nlabels = [\"person\"]\n",
        video.display()
    );
    let cfg = write_config(dir.path(), port, &camera);
    let text = std::fs::read_to_string(&cfg).expect("config").replacen(
        "stats_interval_s = 2\n",
        &format!("stats_interval_s = 2\nusername = \"{}\"\npassword = \"{}\"\n", BOX_LOGIN.0, BOX_LOGIN.1),
        1,
    );
    std::fs::write(&cfg, text).expect("config");
    let mut daemon = common::Daemon::start({
        let mut c = anttd();
        c.arg("run").arg("-c").arg(&cfg);
        c
    });
    // The installer pins the box's key at the station.
    let box_key = dir.path().join("data/box.key");
    wait_until(Duration::from_secs(30), "the box's key", || box_key.exists());
    let keys = dir.path().join("box-keys");
    std::fs::write(&keys, format!("# commune 7\n{ROOT} {}\n", key_cli("pubkey", &box_key))).expect("box keys");
    let password = dir.path().join("station.password");
    std::fs::write(&password, format!("{}\n", STATION.1)).expect("password");
    let station = Station::start(
        port,
        &dir.path().join("station"),
        &[
            "--username",
            STATION.0,
            "--password-file",
            password.to_str().expect("path"),
            "--key",
            station_key.to_str().expect("path"),
            "--box-keys",
            keys.to_str().expect("path"),
            "--pre-roll-s",
            "1",
            "--post-roll-s",
            "1",
        ],
    );

    // An object that ended a few seconds ago: its time is in the box's ring.
    let mut chosen = None;
    wait_until(Duration::from_secs(90), "an ended event", || {
        let now = time::OffsetDateTime::now_utc();
        chosen = station.csv("kind=object").into_iter().find(|r| {
            let end = time::OffsetDateTime::parse(&r["end_utc"], &time::format_description::well_known::Rfc3339);
            end.is_ok_and(|t| now - t > time::Duration::seconds(4))
        });
        chosen.is_some()
    });
    let event_id = chosen.expect("an event")["event_id"].clone();

    let mut b = Browser::start();
    b.open(&station.url(&format!("/event/{event_id}")));
    b.eval("document.getElementById('get-footage').click()");
    b.wait(
        "the footage to play",
        "!!document.getElementById('video') && document.getElementById('video').readyState >= 1",
    );
    let duration = b.eval("document.getElementById('video').duration");
    assert!(duration.as_f64().is_some_and(|d| d > 1.0), "a video of the event's time: {duration} s");
    let log = b.eval("document.getElementById('footage-log').innerText");
    assert!(
        log.as_str().is_some_and(|t| t.contains("127.0.0.1") && t.contains("received")),
        "who asked is logged: {log}"
    );
    b.eval("document.getElementById('footage').scrollIntoView()");
    b.screenshot("footage.jpg");

    // What the page plays is the file the box cut, byte for byte.
    let (code, mp4) = station.try_get(&format!("/footage/{event_id}")).expect("footage answer");
    assert_eq!(code, 200);
    let cuts: Vec<PathBuf> = std::fs::read_dir(anttd::evidence::extract::extract_dir(&dir.path().join("data"), "road"))
        .expect("the box's cuts")
        .map(|e| e.expect("entry").path())
        .filter(|p| p.extension().is_some_and(|x| x == "mp4"))
        .collect();
    assert_eq!(cuts.len(), 1, "one request, one cut: {cuts:?}");
    assert!(std::fs::read(&cuts[0]).expect("cut") == mp4, "the station's MP4 differs from the box's cut");
    daemon.terminate(Duration::from_secs(30));
}

#[test]
fn an_officer_logs_in_and_sees_only_their_commune() {
    let broker = Broker::start();
    let dir = tempfile::tempdir().expect("temp dir");
    let hash = |pw: &str| {
        let mut c = anttd();
        c.arg("station-passwd").stdin(Stdio::piped()).stdout(Stdio::piped());
        let mut child = c.spawn().expect("anttd station-passwd");
        child.stdin.take().expect("stdin").write_all(format!("{pw}\n").as_bytes()).expect("password");
        let out = child.wait_with_output().expect("hash");
        assert!(out.status.success());
        String::from_utf8(out.stdout).expect("utf-8").trim().to_string()
    };
    let users = dir.path().join("users");
    std::fs::write(&users, format!("# ward 9's duty room\nlan ward-9 {}\n", hash("phuong9"))).expect("users");
    let station = Station::start(broker.port, &dir.path().join("station"), &["--users", users.to_str().expect("path")]);

    // Not logged in: the login page, and nothing else.
    let (code, _) = station.try_get("/search.csv").expect("answer");
    assert_eq!(code, 303, "a page without a session sends to the login");

    for (site, id) in [("ward-9", "mine"), ("ward-3", "theirs")] {
        publish(broker.port, &format!("antt/{site}/box-1/status"), &[b"online".to_vec()], false);
        publish(
            broker.port,
            &format!("antt/{site}/box-1/gate/events"),
            &[event(id, "racing", "2026-12-04T10:00:00.000Z")],
            false,
        );
    }

    let mut b = Browser::start();
    b.open(&station.url("/"));
    assert_eq!(b.eval("location.pathname"), "/login");
    let login = |b: &mut Browser, password: &str| {
        // The answer is a page with an error or the board; an earlier error is removed first.
        b.eval(&format!(
            "document.querySelector('.error')?.remove(); document.querySelector('[name=name]').value = 'lan'; document.querySelector('[name=password]').value = '{password}'; document.getElementById('login').submit()"
        ));
        b.wait(
            "the answer to the login",
            "document.readyState === 'complete' && !!document.querySelector('.error, #fleet')",
        );
    };
    login(&mut b, "wrong");
    assert_eq!(
        b.eval("document.querySelector('.error') && document.querySelector('.error').textContent"),
        "Wrong name or password."
    );
    login(&mut b, "phuong9");
    b.wait("the board", "location.pathname === '/' && !!document.getElementById('fleet')");
    assert_eq!(b.eval("document.getElementById('user').textContent.startsWith('lan')"), json!(true));
    let boxes = b.eval("[...document.querySelectorAll('#fleet tr[data-box]')].map(r => r.dataset.box)");
    assert_eq!(boxes, json!(["antt/ward-9/box-1"]), "only ward 9's box on ward 9's board");
    b.open(&station.url("/search"));
    let found = b.eval("[...document.querySelectorAll('#results tr.event a')].map(a => a.getAttribute('href'))");
    assert_eq!(found, json!(["/event/mine"]), "only ward 9's events");
    b.open(&station.url("/event/theirs"));
    assert_eq!(b.eval("document.title"), "404 Not Found", "another commune's event is not there for ward 9");
    b.open(&station.url("/logout"));
    b.open(&station.url("/search"));
    assert_eq!(b.eval("location.pathname"), "/login", "logged out");
}
