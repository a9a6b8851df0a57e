//! Per-camera state (`<camera>/status`, retained): what each camera source is doing now.
//!
//! Only the latest state of a camera matters, so states do not go through the event outbox: the
//! sources write them into a [`StatusBoard`] (a `tokio::sync::watch` cell, writable from plain
//! threads), and the MQTT task publishes whatever changed since it last published, and every
//! camera's state again after each reconnect ([`Published`]).

use std::time::SystemTime;

use serde::Serialize;
use tokio::sync::watch;

use crate::event::rfc3339;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum CameraState {
    /// Frames are arriving.
    Online,
    /// Not running: starting, ended (a file), or the daemon shut down.
    Offline,
    /// Failed, ended unexpectedly or stalled; restarted with backoff (`reason` says why).
    Error,
}

/// The `<camera>/status` payload.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CameraStatus {
    pub state: CameraState,
    pub reason: Option<String>,
    /// When the camera entered this state.
    pub ts: String,
    /// Source restarts since the daemon started.
    pub restarts: u64,
}

impl CameraStatus {
    pub fn new(state: CameraState, reason: Option<String>, restarts: u64) -> Self {
        Self { state, reason, ts: rfc3339(SystemTime::now()), restarts }
    }

    pub fn to_json(&self) -> Vec<u8> {
        serde_json::to_vec(self).unwrap_or_default()
    }
}

/// The states of all cameras, in config order, with their ids.
pub type Snapshot = Vec<(String, CameraStatus)>;

/// Shared between the camera sources (writers) and the MQTT task (reader).
#[derive(Debug)]
pub struct StatusBoard {
    tx: watch::Sender<Snapshot>,
}

impl StatusBoard {
    /// Every camera starts `offline` ("starting") until its first frame.
    pub fn new(ids: &[String]) -> Self {
        let init = ids
            .iter()
            .map(|id| (id.clone(), CameraStatus::new(CameraState::Offline, Some("starting".into()), 0)))
            .collect();
        Self { tx: watch::channel(init).0 }
    }

    /// Set camera `cam`'s state. A change of state, reason or restart count is published; the
    /// same state again is not (its `ts` stays when it was entered).
    pub fn set(&self, cam: usize, state: CameraState, reason: Option<String>, restarts: u64) {
        self.tx.send_if_modified(|all| match all.get_mut(cam) {
            Some((id, cur)) if cur.state != state || cur.reason != reason || cur.restarts != restarts => {
                match (&state, &reason) {
                    (CameraState::Error, Some(r)) => {
                        tracing::warn!(camera = %id, restarts, "camera status: error: {r}")
                    }
                    _ => tracing::info!(camera = %id, restarts, reason = ?reason, "camera status: {state:?}"),
                }
                *cur = CameraStatus::new(state, reason, restarts);
                true
            }
            _ => false,
        });
    }

    /// A new camera set (config reload): every camera starts again from `offline` ("starting");
    /// one no longer configured stays listed, `offline` ("removed from the config"), so its
    /// retained state on the broker says so.
    pub fn reset(&self, ids: &[String]) {
        self.tx.send_modify(|all| {
            let removed: Vec<(String, CameraStatus)> = all
                .drain(..)
                .filter(|(id, _)| !ids.contains(id))
                .map(|(id, s)| {
                    let reason = Some("removed from the config".to_string());
                    let s = if s.reason == reason {
                        s
                    } else {
                        CameraStatus::new(CameraState::Offline, reason, s.restarts)
                    };
                    (id, s)
                })
                .collect();
            all.extend(
                ids.iter().map(|id| (id.clone(), CameraStatus::new(CameraState::Offline, Some("starting".into()), 0))),
            );
            all.extend(removed);
        });
    }

    pub fn get(&self, cam: usize) -> Option<CameraStatus> {
        self.tx.borrow().get(cam).map(|(_, s)| s.clone())
    }

    pub fn subscribe(&self) -> watch::Receiver<Snapshot> {
        self.tx.subscribe()
    }
}

/// What one connection has published of the cameras' states: after a reconnect it starts empty,
/// so every camera's latest state is published again.
#[derive(Debug, Default)]
pub struct Published {
    sent: std::collections::HashMap<String, CameraStatus>,
}

impl Published {
    /// The (camera id, status) pairs to publish now: those not yet published on this connection
    /// or changed since; marks them published.
    pub fn due(&mut self, now: &Snapshot) -> Vec<(String, CameraStatus)> {
        let due: Vec<(String, CameraStatus)> =
            now.iter().filter(|(id, s)| self.sent.get(id) != Some(s)).cloned().collect();
        for (id, s) in &due {
            self.sent.insert(id.clone(), s.clone());
        }
        due
    }
}

/// Why a source is torn down when no frame came for `after_s` seconds.
pub fn stalled_reason(after_s: u64) -> String {
    format!("stalled: no frame for {after_s} s")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_changes_are_published_and_everything_after_a_reconnect() {
        let board = StatusBoard::new(&["a".into(), "b".into()]);
        let rx = board.subscribe();
        let mut p = Published::default();
        let first = p.due(&rx.borrow());
        assert_eq!(first.len(), 2, "both cameras' first state");
        assert_eq!(first[0].1.state, CameraState::Offline);
        assert!(p.due(&rx.borrow()).is_empty(), "nothing changed");

        board.set(1, CameraState::Online, None, 0);
        let d = p.due(&rx.borrow());
        assert_eq!(d.iter().map(|(id, s)| (id.as_str(), s.state)).collect::<Vec<_>>(), [("b", CameraState::Online)]);

        // The same state again is no change (and keeps its ts).
        let ts = board.get(1).expect("b").ts;
        board.set(1, CameraState::Online, None, 0);
        assert!(p.due(&rx.borrow()).is_empty());
        assert_eq!(board.get(1).expect("b").ts, ts);

        board.set(0, CameraState::Error, Some(stalled_reason(10)), 1);
        let d = p.due(&rx.borrow());
        assert_eq!(d.len(), 1);
        let json: serde_json::Value = serde_json::from_slice(&d[0].1.to_json()).expect("json");
        assert_eq!(json["state"], "error");
        assert_eq!(json["reason"], "stalled: no frame for 10 s");
        assert_eq!(json["restarts"], 1);
        assert!(json["ts"].is_string());

        // A new connection publishes every camera again.
        let mut fresh = Published::default();
        assert_eq!(fresh.due(&rx.borrow()).len(), 2);
    }

    #[test]
    fn a_reload_restarts_every_camera_and_marks_removed_ones() {
        let board = StatusBoard::new(&["a".into(), "b".into()]);
        board.set(0, CameraState::Online, None, 3);
        board.set(1, CameraState::Online, None, 0);
        let rx = board.subscribe();
        let mut p = Published::default();
        p.due(&rx.borrow());
        board.reset(&["b".into(), "c".into()]);
        let d = p.due(&rx.borrow());
        let got: Vec<(&str, CameraState, Option<&str>)> =
            d.iter().map(|(id, s)| (id.as_str(), s.state, s.reason.as_deref())).collect();
        assert_eq!(
            got,
            [
                ("b", CameraState::Offline, Some("starting")),
                ("c", CameraState::Offline, Some("starting")),
                ("a", CameraState::Offline, Some("removed from the config")),
            ]
        );
        assert_eq!(board.get(2).expect("a").restarts, 3, "a keeps its count");
        // A second reload does not publish `a` again.
        board.reset(&["b".into(), "c".into()]);
        assert!(p.due(&rx.borrow()).iter().all(|(id, _)| id != "a"));
    }

    #[test]
    fn a_camera_out_of_range_is_ignored() {
        let board = StatusBoard::new(&["a".into()]);
        board.set(5, CameraState::Online, None, 0);
        assert_eq!(board.get(0).expect("a").state, CameraState::Offline);
        assert!(board.get(5).is_none());
    }
}
