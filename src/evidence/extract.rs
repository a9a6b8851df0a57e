//! Extraction on request over MQTT: the station publishes on `<root>/cmd/extract`
//! `{"request_id", "camera", "from", "to"}`; the box answers on `<root>/cmd/extract/result` and
//! sends the clip in numbered chunks on `<root>/cmd/extract/data/<request_id>/<n>`, paced and
//! only while no event waits in the outbox (live events first).
//!
//! [`parse_request`] is the strict validation, pure and unit tested: nothing in a request can
//! name a file (the camera must be one of the config's ids, the request id is `[A-Za-z0-9_-]`).

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};
use tokio::sync::mpsc::{UnboundedReceiver, UnboundedSender};

use super::clip;
use super::ring::{self, Ring};
use super::worker::ts_ms;
use crate::publish::Outgoing;
use crate::publish::outbox::Outbox;

pub const REQUEST: &str = "cmd/extract";
pub const RESULT: &str = "cmd/extract/result";
pub const DATA: &str = "cmd/extract/data";
/// Requests longer than this are refused unread.
pub const MAX_REQUEST_BYTES: usize = 4096;
/// Longest range one request may ask for.
pub const MAX_RANGE_S: i64 = 600;
pub const CHUNK_BYTES: usize = 64 * 1024;
/// Chunks are paced to at most this many bytes per second, so the uplink keeps room for events.
pub const RATE_BYTES_S: u64 = 1 << 20;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawRequest {
    request_id: String,
    camera: String,
    from: String,
    to: String,
}

/// A valid request.
#[derive(Debug, Clone, PartialEq)]
pub struct Request {
    pub request_id: String,
    pub camera: String,
    pub from_ms: i64,
    pub to_ms: i64,
}

/// A refused request: the reply names what was wrong.
#[derive(Debug, Clone, PartialEq)]
pub struct Refusal {
    pub request_id: Option<String>,
    pub error: String,
}

fn valid_id(id: &str) -> bool {
    (1..=64).contains(&id.len()) && id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

/// Check a request strictly against the configured cameras.
pub fn parse_request(payload: &[u8], cameras: &[String]) -> Result<Request, Refusal> {
    let refuse = |id: Option<&str>, e: String| Refusal { request_id: id.map(String::from), error: e };
    if payload.len() > MAX_REQUEST_BYTES {
        return Err(refuse(None, format!("request over {MAX_REQUEST_BYTES} bytes")));
    }
    let raw: RawRequest = serde_json::from_slice(payload).map_err(|e| {
        // Name the request if its id at least can be read.
        let id = serde_json::from_slice::<serde_json::Value>(payload)
            .ok()
            .and_then(|v| v.get("request_id").and_then(|i| i.as_str()).filter(|i| valid_id(i)).map(String::from));
        refuse(id.as_deref(), format!("malformed request: {e}"))
    })?;
    if !valid_id(&raw.request_id) {
        return Err(refuse(None, "request_id must be 1 to 64 of A-Z a-z 0-9 - _".into()));
    }
    let id = Some(raw.request_id.as_str());
    if !cameras.contains(&raw.camera) {
        return Err(refuse(id, format!("unknown camera `{}`", raw.camera.chars().take(64).collect::<String>())));
    }
    let from = ts_ms(&raw.from).ok_or_else(|| refuse(id, "`from` is not an RFC 3339 time".into()))?;
    let to = ts_ms(&raw.to).ok_or_else(|| refuse(id, "`to` is not an RFC 3339 time".into()))?;
    if to <= from {
        return Err(refuse(id, "`to` must be after `from`".into()));
    }
    if to - from > MAX_RANGE_S * 1000 {
        return Err(refuse(id, format!("range over {MAX_RANGE_S} s")));
    }
    Ok(Request { request_id: raw.request_id, camera: raw.camera, from_ms: from, to_ms: to })
}

/// The reply on `cmd/extract/result`.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct Reply {
    pub request_id: Option<String>,
    pub ok: bool,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub error: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub camera: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub file: Option<String>,
    #[serde(default)]
    pub bytes: u64,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub sha256: Option<String>,
    #[serde(default)]
    pub duration_s: f64,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub start: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub end: Option<String>,
    #[serde(default)]
    pub chunks: u64,
    #[serde(default)]
    pub chunk_bytes: u64,
}

/// Where an extract goes.
pub fn extract_dir(data_dir: &Path, camera: &str) -> PathBuf {
    super::events_dir(data_dir, camera).join("extracts")
}

fn result(reply: &Reply) -> Outgoing {
    Outgoing { subtopic: RESULT.into(), payload: serde_json::to_vec(reply).unwrap_or_default(), qos: 1, retain: false }
}

/// Serve requests until the channel closes (shutdown).
pub fn serve(
    mut rx: UnboundedReceiver<Vec<u8>>,
    out: UnboundedSender<Outgoing>,
    rings: Vec<Arc<Ring>>,
    data_dir: PathBuf,
    outbox: Arc<Outbox>,
) {
    let cameras: Vec<String> = rings.iter().map(|r| r.camera.clone()).collect();
    while let Some(payload) = rx.blocking_recv() {
        let req = match parse_request(&payload, &cameras) {
            Ok(r) => r,
            Err(r) => {
                tracing::warn!(request_id = ?r.request_id, "extract request refused: {}", r.error);
                let _ = out.send(result(&Reply { request_id: r.request_id, error: Some(r.error), ..Reply::default() }));
                continue;
            }
        };
        tracing::info!(request_id = %req.request_id, camera = %req.camera, "extract request");
        let Some(ring) = rings.iter().find(|r| r.camera == req.camera) else { continue };
        let segs = ring::covering(&ring.segments(), req.from_ms, req.to_ms);
        let out_file = extract_dir(&data_dir, &req.camera).join(format!("{}.mp4", req.request_id));
        let cut = if segs.is_empty() {
            Err(anyhow::anyhow!("the ring has nothing between these times"))
        } else {
            clip::cut(&segs, &ring.dir, req.from_ms, req.to_ms, &out_file, &data_dir)
        };
        let info = match cut {
            Ok(i) => i,
            Err(e) => {
                let _ = out.send(result(&Reply {
                    request_id: Some(req.request_id.clone()),
                    camera: Some(req.camera.clone()),
                    error: Some(format!("{e:#}")),
                    ..Reply::default()
                }));
                continue;
            }
        };
        let bytes = match std::fs::read(&out_file) {
            Ok(b) => b,
            Err(e) => {
                tracing::error!(file = %out_file.display(), "cannot read the extract: {e}");
                continue;
            }
        };
        let chunks = bytes.len().div_ceil(CHUNK_BYTES) as u64;
        let _ = out.send(result(&Reply {
            request_id: Some(req.request_id.clone()),
            ok: true,
            camera: Some(req.camera.clone()),
            file: Some(info.file.clone()),
            bytes: info.bytes,
            sha256: Some(info.sha256.clone()),
            duration_s: info.duration_s,
            start: Some(info.start.clone()),
            end: Some(info.end.clone()),
            chunks,
            chunk_bytes: CHUNK_BYTES as u64,
            ..Reply::default()
        }));
        let started = Instant::now();
        for (n, chunk) in bytes.chunks(CHUNK_BYTES).enumerate() {
            // Live events first: wait while any waits in the outbox (at most a minute per chunk).
            let wait_until = Instant::now() + Duration::from_secs(60);
            while !outbox.is_empty() && Instant::now() < wait_until {
                std::thread::sleep(Duration::from_millis(50));
            }
            // Pace: chunk n may leave once n chunks' worth of time at RATE_BYTES_S has passed.
            let due = Duration::from_secs_f64((n * CHUNK_BYTES) as f64 / RATE_BYTES_S as f64);
            if let Some(rest) = due.checked_sub(started.elapsed()) {
                std::thread::sleep(rest);
            }
            let msg = Outgoing {
                subtopic: format!("{DATA}/{}/{n}", req.request_id),
                payload: chunk.to_vec(),
                qos: 1,
                retain: false,
            };
            if out.send(msg).is_err() {
                return;
            }
        }
        tracing::info!(request_id = %req.request_id, bytes = info.bytes, chunks, "extract sent");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cams() -> Vec<String> {
        vec!["road".into()]
    }

    #[test]
    fn a_good_request() {
        let r = parse_request(
            br#"{"request_id":"r-1","camera":"road","from":"2026-11-28T10:00:00Z","to":"2026-11-28T10:00:30.5Z"}"#,
            &cams(),
        )
        .expect("valid");
        assert_eq!(r.to_ms - r.from_ms, 30_500);
    }

    #[test]
    fn bad_requests_are_refused_with_a_reason() {
        let cases: &[(&[u8], &str)] = &[
            (b"not json", "malformed"),
            (b"\xff\xfe\x00garbage", "malformed"),
            (br#"{"request_id":"a","camera":"../../etc","from":"2026-11-28T10:00:00Z","to":"2026-11-28T10:00:10Z"}"#, "unknown camera"),
            (br#"{"request_id":"../x","camera":"road","from":"2026-11-28T10:00:00Z","to":"2026-11-28T10:00:10Z"}"#, "request_id"),
            (br#"{"request_id":"a","camera":"road","from":"2026-11-28T10:00:10Z","to":"2026-11-28T10:00:00Z"}"#, "after"),
            (br#"{"request_id":"a","camera":"road","from":"2026-11-28T10:00:00Z","to":"2026-11-28T12:00:00Z"}"#, "range over"),
            (br#"{"request_id":"a","camera":"road","from":"yesterday","to":"2026-11-28T12:00:00Z"}"#, "RFC 3339"),
            (br#"{"request_id":"a","camera":"road","from":"2026-11-28T10:00:00Z","to":"2026-11-28T10:00:10Z","path":"/etc/passwd"}"#, "unknown field"),
        ];
        for (payload, want) in cases {
            let err = parse_request(payload, &cams()).expect_err("refused");
            assert!(err.error.contains(want), "{:?}: {}", String::from_utf8_lossy(payload), err.error);
        }
        let big = vec![b' '; MAX_REQUEST_BYTES + 1];
        assert!(parse_request(&big, &cams()).is_err());
        // The id of a malformed but readable request is echoed, so the station can match the reply.
        let err = parse_request(br#"{"request_id":"r7","camera":"road"}"#, &cams()).expect_err("missing");
        assert_eq!(err.request_id.as_deref(), Some("r7"));
    }
}
