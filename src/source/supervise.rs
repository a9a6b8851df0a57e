//! Keeps one camera source running: restarts it with backoff when it fails, ends unexpectedly or
//! stalls (no frame for the camera's `stall_timeout_s`), and keeps its `<camera>/status` up to
//! date. Each camera has its own supervisor thread, so one camera's trouble never touches another.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use super::hub::Hub;
use super::{Ended, Frame, SourceSpec, StreamClock};
use crate::health::CameraStats;
use crate::health::status::{CameraState, StatusBoard, stalled_reason};

/// What [`Liveness::observe`] concluded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// Nothing yet, within the allowed time.
    Waiting,
    /// The first frame since the source (re)started.
    FirstFrame,
    /// Frames keep coming.
    Alive,
    /// No frame for the allowed time, since the start or the last frame.
    Stalled,
}

/// Decides from a camera's frame counter whether its source is delivering.
#[derive(Debug, Clone)]
pub struct Liveness {
    stall_after: Duration,
    frames: u64,
    last_progress: Instant,
    online: bool,
}

impl Liveness {
    /// Start watching at `now`, with the counter at `frames`.
    pub fn new(frames: u64, now: Instant, stall_after: Duration) -> Self {
        Self { stall_after, frames, last_progress: now, online: false }
    }

    pub fn observe(&mut self, frames: u64, now: Instant) -> Verdict {
        if frames != self.frames {
            self.frames = frames;
            self.last_progress = now;
            if !self.online {
                self.online = true;
                return Verdict::FirstFrame;
            }
            return Verdict::Alive;
        }
        if now.saturating_duration_since(self.last_progress) >= self.stall_after {
            Verdict::Stalled
        } else {
            Verdict::Waiting
        }
    }
}

/// How often the supervisor looks at the frame counter and the stop flag.
const TICK: Duration = Duration::from_millis(100);

/// Run camera `spec` until its file ends or `stop` is set, restarting it on failure.
pub fn run(
    spec: &SourceSpec,
    hub: &Arc<Hub<Frame>>,
    stats: &Arc<CameraStats>,
    stop: &AtomicBool,
    board: &StatusBoard,
    stall_after: Duration,
) {
    let mut backoff = Duration::from_secs(1);
    // One clock for the camera's whole life, so times keep increasing across restarts and the
    // tracker's lost tracks expire on time.
    let clock = Arc::new(Mutex::new(StreamClock::default()));
    let uri = redact_uri(&spec.uri);
    loop {
        let started = Instant::now();
        let stalled = AtomicBool::new(false);
        let result = {
            // The source stops when asked to (shutdown) or when it stalls; it cannot tell which,
            // so the monitor records a stall in `stalled`.
            let run_stop = AtomicBool::new(false);
            let done = AtomicBool::new(false);
            std::thread::scope(|s| {
                s.spawn(|| monitor(spec, stats, stop, board, stall_after, &run_stop, &stalled, &done));
                let r = super::run(spec, hub, stats, &clock, &run_stop);
                done.store(true, Ordering::Relaxed);
                r
            })
        };
        let reason = match result {
            _ if stalled.load(Ordering::Relaxed) => stalled_reason(stall_after.as_secs()),
            Ok(Ended::Stopped) => return,
            Ok(Ended::EndOfStream) if spec.is_file => {
                tracing::info!(camera = %spec.id, "end of stream");
                board.set(spec.index, CameraState::Offline, Some("end of stream".into()), stats.snapshot().restarts);
                hub.end_of_stream(spec.index);
                return;
            }
            Ok(Ended::EndOfStream) => "live stream ended".to_string(),
            Err(e) => redact(&format!("{e:#}"), &spec.uri, &uri),
        };
        if stop.load(Ordering::Relaxed) {
            return;
        }
        stats.restarted();
        tracing::error!(camera = %spec.id, uri = %uri, retry_in = ?backoff, "camera failed: {reason}; restarting");
        board.set(spec.index, CameraState::Error, Some(reason), stats.snapshot().restarts);
        // A source that ran a good while before failing starts again from a short backoff.
        if started.elapsed() > Duration::from_secs(60) {
            backoff = Duration::from_secs(1);
        }
        // Sleep in short steps so shutdown is not delayed by a long backoff.
        let until = Instant::now() + backoff;
        while Instant::now() < until {
            if stop.load(Ordering::Relaxed) {
                return;
            }
            std::thread::sleep(TICK);
        }
        clock.lock().unwrap_or_else(|p| p.into_inner()).resume();
        backoff = (backoff * 2).min(Duration::from_secs(60));
    }
}

/// Watches one run of the source: `online` at its first frame; a stall or shutdown stops it.
#[allow(clippy::too_many_arguments)]
fn monitor(
    spec: &SourceSpec,
    stats: &CameraStats,
    stop: &AtomicBool,
    board: &StatusBoard,
    stall_after: Duration,
    run_stop: &AtomicBool,
    stalled: &AtomicBool,
    done: &AtomicBool,
) {
    let mut live = Liveness::new(stats.snapshot().frames_in, Instant::now(), stall_after);
    while !done.load(Ordering::Relaxed) {
        std::thread::sleep(TICK);
        if stop.load(Ordering::Relaxed) {
            run_stop.store(true, Ordering::Relaxed);
            continue;
        }
        if run_stop.load(Ordering::Relaxed) {
            continue; // stalled: waiting for the source to stop
        }
        let c = stats.snapshot();
        match live.observe(c.frames_in, Instant::now()) {
            Verdict::FirstFrame => board.set(spec.index, CameraState::Online, None, c.restarts),
            Verdict::Stalled => {
                stalled.store(true, Ordering::Relaxed);
                run_stop.store(true, Ordering::Relaxed);
            }
            Verdict::Alive | Verdict::Waiting => {}
        }
    }
}

/// A reason safe to publish: the camera's URI with its credentials hidden.
fn redact(reason: &str, uri: &str, redacted: &str) -> String {
    let r = reason.replace(uri, redacted);
    // GStreamer may also quote the user and password on their own.
    match uri.split_once("://").and_then(|(_, rest)| rest.split('/').next()).and_then(|h| h.rsplit_once('@')) {
        Some((userinfo, _)) if !userinfo.is_empty() => r.replace(userinfo, "***"),
        _ => r,
    }
}

/// A URI safe to log: `rtsp://user:pass@host/…` becomes `rtsp://***@host/…`.
pub fn redact_uri(uri: &str) -> String {
    match uri.split_once("://") {
        Some((scheme, rest)) => {
            let host_end = rest.find('/').unwrap_or(rest.len());
            match rest[..host_end].rfind('@') {
                Some(at) => format!("{scheme}://***@{}", &rest[at + 1..]),
                None => uri.to_string(),
            }
        }
        None => uri.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn liveness_sees_the_first_frame_and_a_stall() {
        let t0 = Instant::now();
        let s = Duration::from_secs(10);
        let mut l = Liveness::new(7, t0, s);
        assert_eq!(l.observe(7, t0 + Duration::from_secs(9)), Verdict::Waiting);
        assert_eq!(l.observe(8, t0 + Duration::from_secs(9)), Verdict::FirstFrame);
        assert_eq!(l.observe(9, t0 + Duration::from_secs(10)), Verdict::Alive);
        // Ten seconds after the last frame, not after the start.
        assert_eq!(l.observe(9, t0 + Duration::from_secs(19)), Verdict::Waiting);
        assert_eq!(l.observe(9, t0 + Duration::from_secs(20)), Verdict::Stalled);
    }

    #[test]
    fn a_source_that_never_delivers_stalls() {
        let t0 = Instant::now();
        let mut l = Liveness::new(0, t0, Duration::from_secs(3));
        assert_eq!(l.observe(0, t0 + Duration::from_secs(3)), Verdict::Stalled);
    }

    #[test]
    fn reasons_do_not_leak_credentials() {
        let uri = "rtsp://admin:secret@10.0.0.5/s";
        let red = redact_uri(uri);
        let r = redact("rtspsrc0: Unauthorized (rtsp://admin:secret@10.0.0.5/s, user admin:secret)", uri, &red);
        assert!(!r.contains("secret"), "{r}");
        assert!(r.contains("rtsp://***@10.0.0.5/s"), "{r}");
        assert_eq!(redact("plain", "rtsp://h/s", "rtsp://h/s"), "plain");
    }

    #[test]
    fn credentials_are_not_logged() {
        assert_eq!(
            redact_uri("rtsp://admin:secret@10.0.0.5:554/Streaming/101"),
            "rtsp://***@10.0.0.5:554/Streaming/101"
        );
        assert_eq!(redact_uri("rtsp://10.0.0.5/s"), "rtsp://10.0.0.5/s");
        assert_eq!(redact_uri("file:///a@b/video.avi"), "file:///a@b/video.avi");
    }
}
