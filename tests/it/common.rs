//! Shared helpers for the integration tests: assets, a real mosquitto broker on a free loopback
//! port, an MQTT subscriber that records everything, and the daemon binary.

use std::io::{BufRead, BufReader};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

pub fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// A fetched asset; tells how to get it when it is missing.
pub fn asset(rel: &str) -> PathBuf {
    let p = root().join(rel);
    assert!(p.is_file(), "{} is missing: run scripts/setup (the test command does)", p.display());
    p
}

pub fn anttd() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_anttd"));
    c.env("ANTTD_LOG", "info,anttd=debug");
    c
}

/// A loopback port nobody listens on right now, and that no other test of this run is given.
///
/// Taken from a counter below Linux's ephemeral range (32768–60999), not from the kernel's port
/// 0: a port the kernel handed out and was given back can be handed out again at once, to
/// another test's broker (a test that wants its port idle for a while, or starts a broker on it
/// a little later, then finds someone else's there) or as the local port of an outgoing
/// connection. The counter starts at an offset drawn from the process id, so that two runs at
/// once seldom meet, and a port found taken is skipped.
pub fn free_port() -> u16 {
    use std::sync::atomic::{AtomicU16, Ordering};
    const FIRST: u16 = 20_000;
    const SPAN: u16 = 12_000;
    static NEXT: AtomicU16 = AtomicU16::new(0);
    let offset = (std::process::id() % u32::from(SPAN)) as u16;
    for _ in 0..SPAN {
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        let port = FIRST + (offset + n % SPAN) % SPAN;
        if TcpListener::bind(("127.0.0.1", port)).is_ok() {
            return port;
        }
    }
    panic!("no free loopback port in {FIRST}..{}", FIRST + SPAN)
}

/// A mosquitto broker started for one test, stopped when dropped.
pub struct Broker {
    /// The plain listener (test subscribers use it).
    pub port: u16,
    /// The second listener: TLS for [`Broker::start_tls`], login for [`Broker::start_with_login`].
    pub tls_port: Option<u16>,
    child: Child,
    _dir: tempfile::TempDir,
}

impl Broker {
    pub fn start() -> Self {
        Self::start_on(free_port())
    }

    pub fn start_on(port: u16) -> Self {
        Self::start_with(port, "persistence false\n")
    }

    /// A station's broker as docs/station.md sets it up: it keeps far more than mosquitto's
    /// default 1000 messages for a station that is away.
    pub fn start_for_station() -> Self {
        Self::start_with(free_port(), "persistence false\nmax_queued_messages 1000000\n")
    }

    /// A broker that keeps its sessions and queued messages in `store` across a stop and start
    /// (stop it with [`Broker::stop`], which lets it save them).
    pub fn start_persistent(port: u16, store: &Path) -> Self {
        Self::start_with(
            port,
            // As root, mosquitto would switch to its own user, which cannot write to `store`.
            &format!("persistence true\npersistence_location {}/\nmax_queued_messages 0\nuser root\n", store.display()),
        )
    }

    /// A broker with a plain listener on `port` and a TLS listener on `tls_port`, presenting
    /// `cert` + `key`; with `ca` set, clients must present a certificate it signed.
    pub fn start_tls(cert: &Path, key: &Path, ca: Option<&Path>) -> Self {
        let tls_port = free_port();
        let mut conf = format!(
            "persistence false\nlistener {tls_port} 127.0.0.1\ncertfile {}\nkeyfile {}\n",
            cert.display(),
            key.display()
        );
        if let Some(ca) = ca {
            conf.push_str(&format!("cafile {}\nrequire_certificate true\n", ca.display()));
        }
        let mut b = Self::start_with(free_port(), &conf);
        wait_listening(tls_port);
        b.tls_port = Some(tls_port);
        b
    }

    /// SIGSTOP: connections stay open, but nothing is read or acknowledged any more.
    pub fn pause(&self) {
        let _ = Command::new("kill").arg("-STOP").arg(self.child.id().to_string()).status();
    }

    /// SIGTERM (mosquitto saves its persistent state), then wait for it to exit.
    pub fn stop(mut self) {
        let _ = Command::new("kill").arg("-TERM").arg(self.child.id().to_string()).status();
        let _ = self.child.wait();
    }

    /// A broker with an anonymous listener on `port` and one on `login_port` that requires
    /// `user` and `password`.
    pub fn start_with_login(user: &str, password: &str) -> Self {
        let (port, login_port) = (free_port(), free_port());
        let dir = tempfile::tempdir().expect("temp dir");
        let file = dir.path().join("passwords");
        let ok = Command::new("mosquitto_passwd")
            .arg("-b")
            .arg("-c")
            .arg(&file)
            .arg(user)
            .arg(password)
            .status()
            .expect("mosquitto_passwd runs (it comes with mosquitto)");
        assert!(ok.success(), "mosquitto_passwd failed");
        let conf = format!(
            "per_listener_settings true\npersistence false\nlistener {port} 127.0.0.1\nallow_anonymous true\n\
             listener {login_port} 127.0.0.1\nallow_anonymous false\npassword_file {}\n",
            file.display()
        );
        let mut b = Self::start_conf(port, dir, &conf);
        wait_listening(login_port);
        b.tls_port = Some(login_port);
        b
    }

    /// A broker with an anonymous listener on `port` (for test subscribers) and one on
    /// `tls_port` with logins `users` and the ACL `acl` (mosquitto's acl_file syntax).
    pub fn start_with_acl(acl: &str, users: &[(&str, &str)]) -> Self {
        let (port, login_port) = (free_port(), free_port());
        let dir = tempfile::tempdir().expect("temp dir");
        let file = dir.path().join("passwords");
        for (i, (user, password)) in users.iter().enumerate() {
            let mut cmd = Command::new("mosquitto_passwd");
            cmd.arg("-b");
            if i == 0 {
                cmd.arg("-c");
            }
            let ok = cmd.arg(&file).arg(user).arg(password).status().expect("mosquitto_passwd runs");
            assert!(ok.success(), "mosquitto_passwd failed");
        }
        let acl_file = dir.path().join("acl");
        std::fs::write(&acl_file, acl).expect("write acl");
        let conf = format!(
            "per_listener_settings true\npersistence false\nlistener {port} 127.0.0.1\nallow_anonymous true\n\
             listener {login_port} 127.0.0.1\nallow_anonymous false\npassword_file {}\nacl_file {}\n",
            file.display(),
            acl_file.display()
        );
        let mut b = Self::start_conf(port, dir, &conf);
        wait_listening(login_port);
        b.tls_port = Some(login_port);
        b
    }

    fn start_with(port: u16, extra: &str) -> Self {
        let dir = tempfile::tempdir().expect("temp dir");
        Self::start_conf(port, dir, &format!("listener {port} 127.0.0.1\nallow_anonymous true\n{extra}"))
    }

    fn start_conf(port: u16, dir: tempfile::TempDir, text: &str) -> Self {
        let conf = dir.path().join("mosquitto.conf");
        std::fs::write(&conf, text).expect("write mosquitto.conf");
        let bin = ["/usr/sbin/mosquitto", "/usr/bin/mosquitto"]
            .into_iter()
            .find(|p| Path::new(p).exists())
            .unwrap_or("mosquitto");
        let child = Command::new(bin)
            .arg("-c")
            .arg(&conf)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("mosquitto runs (scripts/setup installs it)");
        wait_listening(port);
        Self { port, tls_port: None, child, _dir: dir }
    }
}

fn wait_listening(port: u16) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(Instant::now() < deadline, "mosquitto did not listen on port {port}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

impl Drop for Broker {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A message seen by the subscriber.
#[derive(Debug, Clone)]
pub struct Msg {
    pub topic: String,
    pub payload: Vec<u8>,
    pub retain: bool,
}

impl Msg {
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.payload).into_owned()
    }
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.payload)
            .unwrap_or_else(|e| panic!("{}: not JSON ({e}): {}", self.topic, self.text()))
    }
}

/// Subscribes to `filter` and records every message, in arrival order.
pub struct Subscriber {
    pub messages: Arc<Mutex<Vec<Msg>>>,
    client: rumqttc::Client,
    stopped: Arc<std::sync::atomic::AtomicBool>,
}

impl Subscriber {
    pub fn connect(port: u16, filter: &str) -> Self {
        Self::connect_with(port, filter, true)
    }

    /// With a persistent session: messages published while the broker was away (and the
    /// subscriber with it) are delivered once both are back.
    pub fn connect_persistent(port: u16, filter: &str) -> Self {
        Self::connect_with(port, filter, false)
    }

    fn connect_with(port: u16, filter: &str, clean: bool) -> Self {
        // A persistent session is found again by its client id; clean ones each get their own,
        // so two subscribers on one broker do not push each other off.
        static N: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
        let id = match clean {
            true => format!(
                "test-sub-{port}-{}-{}",
                std::process::id(),
                N.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
            ),
            false => format!("test-sub-{port}-{}", std::process::id()),
        };
        let mut opts = rumqttc::MqttOptions::new(id, "127.0.0.1", port);
        opts.set_keep_alive(Duration::from_secs(5));
        opts.set_clean_session(clean);
        opts.set_max_packet_size(1 << 20, 1 << 20);
        let (client, mut connection) = rumqttc::Client::new(opts, 100);
        client.subscribe(filter, rumqttc::QoS::AtLeastOnce).expect("subscribe");
        let messages = Arc::new(Mutex::new(Vec::new()));
        let (store, (ready_tx, ready_rx)) = (Arc::clone(&messages), std::sync::mpsc::channel());
        let stopped = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let stop = Arc::clone(&stopped);
        std::thread::spawn(move || {
            for ev in connection.iter() {
                // A dropped subscriber must not reconnect and push a later one (same client id) off.
                if stop.load(std::sync::atomic::Ordering::Relaxed) {
                    break;
                }
                match ev {
                    Ok(rumqttc::Event::Incoming(rumqttc::Packet::SubAck(_))) => {
                        let _ = ready_tx.send(());
                    }
                    Ok(rumqttc::Event::Incoming(rumqttc::Packet::Publish(p))) => {
                        store.lock().expect("lock").push(Msg {
                            topic: p.topic.clone(),
                            payload: p.payload.to_vec(),
                            retain: p.retain,
                        });
                    }
                    Ok(_) => {}
                    Err(_) => std::thread::sleep(Duration::from_millis(100)),
                }
            }
        });
        ready_rx.recv_timeout(Duration::from_secs(10)).expect("subscription acknowledged");
        Self { messages, client, stopped }
    }

    pub fn all(&self) -> Vec<Msg> {
        self.messages.lock().expect("lock").clone()
    }

    /// Wait until `pred` holds for the messages so far.
    pub fn wait_for(&self, timeout: Duration, what: &str, pred: impl Fn(&[Msg]) -> bool) -> Vec<Msg> {
        let deadline = Instant::now() + timeout;
        loop {
            let all = self.all();
            if pred(&all) {
                return all;
            }
            assert!(Instant::now() < deadline, "timed out waiting for {what}; got {} messages", all.len());
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

impl Drop for Subscriber {
    fn drop(&mut self) {
        self.stopped.store(true, std::sync::atomic::Ordering::Relaxed);
        let _ = self.client.disconnect();
    }
}

/// A TOML file of tests/fixtures/ with each `{name}` replaced by its value (every one must be
/// there, so a renamed placeholder fails loudly).
pub fn fixture(name: &str, values: &[(&str, &str)]) -> String {
    let path = root().join("tests/fixtures").join(name);
    let mut text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    for (k, v) in values {
        let hole = format!("{{{k}}}");
        assert!(text.contains(&hole), "{name} has no {hole}");
        text = text.replace(&hole, v);
    }
    text
}

/// Write a config for the sample media into `dir`, pointing at the repo's model and media.
pub fn write_config(dir: &Path, port: u16, cameras: &str) -> PathBuf {
    let manifest = root().join("models/yolov12n.toml").display().to_string();
    let text = fixture("daemon.toml", &[("port", &port.to_string()), ("manifest", &manifest), ("cameras", cameras)]);
    let path = dir.join("anttd.toml");
    std::fs::write(&path, text).expect("write config");
    path
}

/// The events in the outbox of a config that [`write_config`] wrote into `dir`, as (camera, id),
/// in the order the daemon stored them: read from the SQLite file itself, which holds an event
/// from the moment it is on disk until the broker acknowledged it. The connection is read-only:
/// it reads the write-ahead log of a daemon killed with SIGKILL without folding it into the
/// file, so the restarted daemon still has its own recovery to do, as on a box.
pub fn outbox_events(dir: &Path) -> Vec<(String, String)> {
    let path = dir.join("data").join("outbox.sqlite");
    if !path.is_file() {
        return Vec::new();
    }
    let conn = rusqlite::Connection::open_with_flags(&path, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY)
        .expect("open the outbox");
    conn.busy_timeout(Duration::from_secs(10)).expect("busy timeout");
    // The daemon may have made the file and not yet its table.
    let made: i64 = conn
        .query_row("SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name = 'outbox'", [], |r| r.get(0))
        .expect("outbox schema");
    if made == 0 {
        return Vec::new();
    }
    let mut st = conn
        .prepare("SELECT camera, id FROM outbox WHERE subtopic LIKE '%/events' ORDER BY seq")
        .expect("outbox query");
    st.query_map([], |r| Ok((r.get(0)?, r.get(1)?))).expect("outbox rows").collect::<Result<_, _>>().expect("rows")
}

/// Run the daemon's process to completion (or kill it at `timeout`), collecting stderr.
pub fn run_to_end(cmd: Command, timeout: Duration) -> (std::process::ExitStatus, String) {
    let mut daemon = Daemon::start(cmd);
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(status) = daemon.child.try_wait().expect("wait") {
            // The log is complete once the reader has seen the pipe close.
            if let Some(r) = daemon.reader.take() {
                let _ = r.join();
            }
            return (status, daemon.log());
        }
        assert!(Instant::now() < deadline, "anttd did not finish within {timeout:?}; log:\n{}", daemon.log());
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// A running daemon whose stderr is collected; killed when dropped.
/// `anttd run -c cfg` to the end of its files, then every message `sub` had once the box's
/// `<root>/status` said `offline`; and the daemon's log.
pub fn run_box_to_end(cfg: &Path, sub: &Subscriber, root: &str) -> (Vec<Msg>, String) {
    let mut c = anttd();
    c.arg("run").arg("-c").arg(cfg);
    let (status, log) = run_to_end(c, Duration::from_secs(600));
    assert!(status.success(), "anttd run failed: {log}");
    let msgs = sub.wait_for(Duration::from_secs(10), "status offline", |m| {
        m.iter().any(|m| m.topic == format!("{root}/status") && m.payload == b"offline")
    });
    (msgs, log)
}

pub struct Daemon {
    pub child: Child,
    pub log: Arc<Mutex<String>>,
    reader: Option<std::thread::JoinHandle<()>>,
}

impl Daemon {
    pub fn start(mut cmd: Command) -> Self {
        let mut child = cmd.stdout(Stdio::null()).stderr(Stdio::piped()).spawn().expect("start anttd");
        let stderr = child.stderr.take().expect("stderr");
        let log = Arc::new(Mutex::new(String::new()));
        let sink = Arc::clone(&log);
        let reader = std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                let mut l = sink.lock().expect("lock");
                l.push_str(&line);
                l.push('\n');
            }
        });
        Self { child, log, reader: Some(reader) }
    }

    pub fn log(&self) -> String {
        self.log.lock().expect("lock").clone()
    }

    pub fn wait_log(&self, timeout: Duration, needle: &str) {
        let deadline = Instant::now() + timeout;
        while !self.log().contains(needle) {
            assert!(Instant::now() < deadline, "timed out waiting for `{needle}` in the log:\n{}", self.log());
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// SIGTERM, then wait for exit.
    pub fn terminate(&mut self, timeout: Duration) -> std::process::ExitStatus {
        let _ = Command::new("kill").arg("-TERM").arg(self.child.id().to_string()).status();
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(s) = self.child.try_wait().expect("wait") {
                return s;
            }
            assert!(Instant::now() < deadline, "anttd did not exit after SIGTERM; log:\n{}", self.log());
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A `[[cameras]]` table for vtest.avi with the line across the road in front of the lamp post
/// (people walking along the road cross it); `extra` adds keys to the camera table.
pub fn vtest_camera(id: &str, extra: &str) -> String {
    format!(
        r#"[[cameras]]
id = "{id}"
uri = "{video}"
detect_fps = 5
labels = ["person", "car", "truck"]
{extra}

[[cameras.lines]]
name = "lamp-post"
points = [[400, 170], [400, 330]]
directions = ["westbound", "eastbound"]
"#,
        video = asset("media/vtest.avi").display()
    )
}

pub fn file_uri(p: &Path) -> String {
    format!("file://{}", p.display())
}

/// Wait until `f` holds.
pub fn wait_until(timeout: Duration, what: &str, mut f: impl FnMut() -> bool) {
    let deadline = Instant::now() + timeout;
    while !f() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// A TCP proxy to `127.0.0.1:upstream` whose connections share one uplink of `bytes_per_s`
/// each way, as a box's connections share its uplink: a slow link for the daemon's traffic.
pub struct Throttle {
    pub port: u16,
}

impl Throttle {
    pub fn start(upstream: u16, bytes_per_s: u64) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind proxy");
        let port = listener.local_addr().expect("addr").port();
        // Both directions get their own bucket (an uplink and a downlink).
        let up = Arc::new(Mutex::new(Instant::now()));
        let down = Arc::new(Mutex::new(Instant::now()));
        std::thread::spawn(move || {
            for client in listener.incoming().map_while(Result::ok) {
                let Ok(server) = TcpStream::connect(("127.0.0.1", upstream)) else { continue };
                let pump = |mut from: TcpStream, mut to: TcpStream, bucket: Arc<Mutex<Instant>>| {
                    std::thread::spawn(move || {
                        let mut buf = [0u8; 4096];
                        loop {
                            let n = match std::io::Read::read(&mut from, &mut buf) {
                                Ok(0) | Err(_) => break,
                                Ok(n) => n,
                            };
                            // Each byte may leave only when the shared link is free: reserve
                            // its slot, then wait for it.
                            let due = {
                                let mut free_at = bucket.lock().expect("bucket");
                                let start = (*free_at).max(Instant::now());
                                *free_at = start + Duration::from_secs_f64(n as f64 / bytes_per_s as f64);
                                *free_at
                            };
                            std::thread::sleep(due.saturating_duration_since(Instant::now()));
                            if std::io::Write::write_all(&mut to, &buf[..n]).is_err() {
                                break;
                            }
                        }
                        let _ = from.shutdown(std::net::Shutdown::Both);
                        let _ = to.shutdown(std::net::Shutdown::Both);
                    });
                };
                let (Ok(c2), Ok(s2)) = (client.try_clone(), server.try_clone()) else { continue };
                pump(client, s2, Arc::clone(&up));
                pump(server, c2, Arc::clone(&down));
            }
        });
        Self { port }
    }
}

/// Resident memory of a process, kB (Linux).
pub fn rss_kb(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| {
            s.lines().find_map(|l| {
                l.strip_prefix("VmRSS:").and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
            })
        })
        .unwrap_or(0)
}

/// Publish at QoS 1 and wait for the broker's acknowledgements.
pub fn publish(port: u16, topic: &str, payloads: &[Vec<u8>], retain: bool) {
    publish_as(port, None, topic, payloads, retain);
}

/// Publish at QoS 1 and wait for the broker's acknowledgements, logged in as `login` if given.
/// (A broker acknowledges a publish its ACL drops, too: it just does not forward it.)
pub fn publish_as(port: u16, login: Option<(&str, &str)>, topic: &str, payloads: &[Vec<u8>], retain: bool) {
    let mut o = rumqttc::MqttOptions::new(format!("test-pub-{port}"), "127.0.0.1", port);
    o.set_max_packet_size(1 << 20, 1 << 20);
    if let Some((user, password)) = login {
        o.set_credentials(user, password);
    }
    let (client, mut conn) = rumqttc::Client::new(o, 100);
    // Published from another thread: the client's queue only empties while `conn` is polled.
    let sender = {
        let (client, topic, payloads) = (client.clone(), topic.to_string(), payloads.to_vec());
        std::thread::spawn(move || {
            for p in payloads {
                client.publish(&topic, rumqttc::QoS::AtLeastOnce, retain, p).expect("publish");
            }
        })
    };
    let mut acked = 0;
    for ev in conn.iter() {
        if let Ok(rumqttc::Event::Incoming(rumqttc::Packet::PubAck(_))) = ev {
            acked += 1;
            if acked == payloads.len() {
                break;
            }
        }
    }
    sender.join().expect("publisher thread");
    let _ = client.disconnect();
}
