//! The newest event snapshot of each camera, retained on `<camera>/snapshot` (the JPEG exactly as
//! written to disk), with `<camera>/snapshot/info` (which event it is) published just before it.
//!
//! Only the newest picture of a camera matters, so snapshots do not go through the outbox (they
//! are not events): the evidence code puts each new one into a `watch` cell ([`SnapshotBoard`]),
//! and the MQTT task publishes the newest of each camera once no event waits in the outbox, at
//! most one per camera per `snapshot_min_interval_s`. One the broker acknowledged is not sent
//! again after a reconnect; one missed while the link was away is replaced by the next.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde::Serialize;
use tokio::sync::watch;

/// Larger pictures are not published: the connection's packet limit (1 MiB) with room for the
/// topic and header. A 1080p snapshot at quality 85 is a few hundred KB.
pub const MAX_BYTES: usize = (1 << 20) - 4096;

/// A camera's newest snapshot.
#[derive(Debug, Clone, PartialEq)]
pub struct LatestSnapshot {
    pub event_id: String,
    /// The event's `ts` (when it started).
    pub ts: String,
    /// Path relative to the data directory, as in the event's `snapshot` field.
    pub file: String,
    pub jpeg: Arc<Vec<u8>>,
}

/// The `<camera>/snapshot/info` payload.
#[derive(Serialize)]
struct Info<'a> {
    camera: &'a str,
    event_id: &'a str,
    ts: &'a str,
    file: &'a str,
    bytes: usize,
}

impl LatestSnapshot {
    pub fn info_json(&self, camera: &str) -> Vec<u8> {
        let info = Info { camera, event_id: &self.event_id, ts: &self.ts, file: &self.file, bytes: self.jpeg.len() };
        // Plain strings and a number cannot fail to serialise.
        serde_json::to_vec(&info).unwrap_or_default()
    }
}

/// Every camera's newest snapshot, by camera id.
pub type Latests = BTreeMap<String, LatestSnapshot>;

/// Written by the evidence code (plain threads), read by the MQTT task.
#[derive(Debug)]
pub struct SnapshotBoard {
    tx: watch::Sender<Latests>,
    min_interval: Duration,
}

/// What the MQTT task needs: the newest snapshots and how often it may send one per camera.
#[derive(Debug, Clone)]
pub struct SnapshotFeed {
    pub rx: watch::Receiver<Latests>,
    pub min_interval: Duration,
}

impl SnapshotBoard {
    pub fn new(min_interval: Duration) -> Self {
        Self { tx: watch::channel(Latests::new()).0, min_interval }
    }

    /// `latest` is now camera `camera`'s newest snapshot (the one before it is not sent, if it
    /// has not been yet).
    pub fn set(&self, camera: &str, latest: LatestSnapshot) {
        if latest.jpeg.len() > MAX_BYTES {
            tracing::warn!(camera, event_id = %latest.event_id, bytes = latest.jpeg.len(), "snapshot too large to publish (over {MAX_BYTES} bytes); it stays on disk");
            return;
        }
        self.tx.send_modify(|all| {
            all.insert(camera.to_string(), latest);
        });
    }

    pub fn feed(&self) -> SnapshotFeed {
        SnapshotFeed { rx: self.tx.subscribe(), min_interval: self.min_interval }
    }
}

/// What the MQTT task has done with the snapshots. Kept across reconnects: a picture the broker
/// acknowledged is retained there and not sent again.
#[derive(Debug, Default)]
pub struct Sent {
    /// Camera → event id of the last snapshot the broker acknowledged.
    acked: HashMap<String, String>,
    /// Camera → event id sent on the current connection, not acknowledged yet.
    in_flight: HashMap<String, String>,
    last_sent: HashMap<String, Instant>,
}

impl Sent {
    /// A new connection: what was in flight on the old one is lost and will be due again.
    pub fn new_connection(&mut self) {
        self.in_flight.clear();
    }

    /// The snapshots to publish now (marked in flight), and when the next one held back by
    /// `min_interval` becomes due. One per camera is in flight at a time, so a burst of events
    /// sends the first and then the newest. `flush` (shutting down) sends every camera's newest
    /// now, whatever the interval or what is in flight.
    pub fn due(
        &mut self,
        latest: &Latests,
        now: Instant,
        min_interval: Duration,
        flush: bool,
    ) -> (Vec<(String, LatestSnapshot)>, Option<Instant>) {
        let mut due = Vec::new();
        let mut wake: Option<Instant> = None;
        for (cam, l) in latest {
            if self.acked.get(cam) == Some(&l.event_id) || self.in_flight.get(cam) == Some(&l.event_id) {
                continue;
            }
            if !flush {
                if self.in_flight.contains_key(cam) {
                    continue; // its PUBACK brings us back here
                }
                if let Some(at) = self.last_sent.get(cam).map(|t| *t + min_interval)
                    && at > now
                {
                    wake = Some(wake.map_or(at, |w| w.min(at)));
                    continue;
                }
            }
            self.in_flight.insert(cam.clone(), l.event_id.clone());
            self.last_sent.insert(cam.clone(), now);
            due.push((cam.clone(), l.clone()));
        }
        (due, wake)
    }

    /// The broker acknowledged camera `camera`'s snapshot of event `event_id`.
    pub fn acked(&mut self, camera: &str, event_id: &str) {
        if self.in_flight.get(camera).is_some_and(|id| id == event_id) {
            self.in_flight.remove(camera);
        }
        self.acked.insert(camera.to_string(), event_id.to_string());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn latest(ids: &[(&str, &str)]) -> Latests {
        ids.iter()
            .map(|(cam, id)| {
                let l = LatestSnapshot {
                    event_id: id.to_string(),
                    ts: "2026-11-28T10:00:00.000Z".into(),
                    file: format!("evidence/{cam}/events/{id}.jpg"),
                    jpeg: Arc::new(vec![0xff, 0xd8]),
                };
                (cam.to_string(), l)
            })
            .collect()
    }

    fn names(due: &[(String, LatestSnapshot)]) -> Vec<(&str, &str)> {
        due.iter().map(|(c, l)| (c.as_str(), l.event_id.as_str())).collect()
    }

    #[test]
    fn newest_wins_one_in_flight_per_camera_and_the_interval_holds_back() {
        let (mut s, t0, iv) = (Sent::default(), Instant::now(), Duration::from_secs(10));
        let (due, wake) = s.due(&latest(&[("a", "1"), ("b", "x")]), t0, iv, false);
        assert_eq!(names(&due), [("a", "1"), ("b", "x")]);
        assert_eq!(wake, None);
        // Two newer events on `a` while `1` is in flight: nothing until its PUBACK.
        let now = latest(&[("a", "3"), ("b", "x")]);
        assert!(s.due(&now, t0, iv, false).0.is_empty());
        s.acked("a", "1");
        s.acked("b", "x");
        // Acknowledged, but within the interval: held back, with a wake-up when it ends.
        let (due, wake) = s.due(&now, t0 + Duration::from_secs(3), iv, false);
        assert!(due.is_empty());
        assert_eq!(wake, Some(t0 + iv));
        // Then only the newest (`3`; `2` was never sent).
        let (due, _) = s.due(&now, t0 + iv, iv, false);
        assert_eq!(names(&due), [("a", "3")]);
        s.acked("a", "3");
        assert!(s.due(&now, t0 + iv * 5, iv, false).0.is_empty(), "acknowledged: not again");
    }

    #[test]
    fn a_reconnect_sends_again_only_what_was_not_acknowledged() {
        let (mut s, t0, iv) = (Sent::default(), Instant::now(), Duration::ZERO);
        let now = latest(&[("a", "1"), ("b", "x")]);
        assert_eq!(s.due(&now, t0, iv, false).0.len(), 2);
        s.acked("a", "1");
        s.new_connection(); // `x` was lost with the link
        assert_eq!(names(&s.due(&now, t0, iv, false).0), [("b", "x")]);
    }

    #[test]
    fn flushing_ignores_the_interval_and_what_is_in_flight() {
        let (mut s, t0, iv) = (Sent::default(), Instant::now(), Duration::from_secs(60));
        s.due(&latest(&[("a", "1")]), t0, iv, false);
        let now = latest(&[("a", "2")]);
        assert!(s.due(&now, t0, iv, false).0.is_empty());
        assert_eq!(names(&s.due(&now, t0, iv, true).0), [("a", "2")]);
        assert!(s.due(&now, t0, iv, true).0.is_empty(), "sent once");
    }
}
