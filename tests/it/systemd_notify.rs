//! systemd integration: READY once set up, watchdog pings while the pipeline makes progress,
//! STOPPING on SIGTERM — read from a real notify socket, as systemd would.

use crate::common;

use std::os::unix::net::UnixDatagram;
use std::time::{Duration, Instant};

use common::{Broker, Daemon, anttd, write_config};

fn read_until(sock: &UnixDatagram, got: &mut Vec<String>, timeout: Duration, done: impl Fn(&[String]) -> bool) {
    let deadline = Instant::now() + timeout;
    let mut buf = [0u8; 4096];
    while !done(got) {
        assert!(Instant::now() < deadline, "timed out; notifications so far: {got:?}");
        if let Ok(n) = sock.recv(&mut buf) {
            got.extend(String::from_utf8_lossy(&buf[..n]).lines().map(str::to_string));
        }
    }
}

#[test]
fn ready_watchdog_and_stopping() {
    let broker = Broker::start();
    let dir = tempfile::tempdir().expect("dir");
    let sock_path = dir.path().join("notify.sock");
    let sock = UnixDatagram::bind(&sock_path).expect("bind notify socket");
    sock.set_read_timeout(Some(Duration::from_millis(200))).expect("timeout");
    let cfg = write_config(dir.path(), broker.port, &common::vtest_camera("road", "realtime = true"));
    let mut daemon = Daemon::start({
        let mut c = anttd();
        c.arg("run").arg("-c").arg(&cfg).env("NOTIFY_SOCKET", &sock_path).env("WATCHDOG_USEC", "1000000");
        c
    });
    let mut got = Vec::new();
    read_until(&sock, &mut got, Duration::from_secs(60), |g| g.iter().any(|m| m == "READY=1"));
    let ready_at = got.len();
    // A 1 s watchdog is pinged every 0.5 s while the detector turns.
    read_until(&sock, &mut got, Duration::from_secs(10), |g| {
        g[ready_at..].iter().filter(|m| *m == "WATCHDOG=1").count() >= 3
    });
    assert!(!got[..ready_at].iter().any(|m| m == "WATCHDOG=1"), "no watchdog ping before READY: {got:?}");
    let status = daemon.terminate(Duration::from_secs(30));
    assert!(status.success(), "{}", daemon.log());
    read_until(&sock, &mut got, Duration::from_secs(5), |g| g.iter().any(|m| m == "STOPPING=1"));
}
