//! Extraction on request over MQTT, for the station only.
//!
//! The station publishes a signed request on `<root>/cmd/extract`: an envelope
//! ([`super::signed`]) whose body is `{"request_id", "box", "camera", "from", "to",
//! "issued_at"}`, signed by a key listed in `[extract] station_keys`. The box answers on
//! `<root>/cmd/extract/result` with a reply signed by its own key (`[extract] key_file`), which
//! gives the clip's size, SHA-256 and chunk count, then sends the clip in numbered chunks on
//! `<root>/cmd/extract/data/<request_id>/<n>`, read from disk one at a time, acknowledged before
//! the next leaves ([`crate::publish::commands`]), paced, and only while no event waits in the
//! outbox (live events first). `anttd fetch` ([`super::fetch`]) checks the reply's signature and
//! the clip's hash, so chunks need no signature of their own.
//!
//! [`admit`] is the whole decision on a request, pure and unit tested: the signature, the box it
//! is for, its age and uniqueness ([`signed::ReplayGuard`]), and strict validation: nothing in
//! it can name a file (the camera must be one of the config's ids, the request id is
//! `[A-Za-z0-9_-]`). Requests wait in a bounded queue; a full one is answered "busy".

use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use ed25519_dalek::{SigningKey, VerifyingKey};
use serde::{Deserialize, Serialize};
use tokio::sync::mpsc::{Receiver, Sender};

use super::clip;
use super::ring::{self, Ring};
use super::signed::{self, ReplayGuard, Unsealed};
use super::worker::ts_ms;
use crate::publish::Outgoing;
use crate::publish::outbox::Outbox;

pub const REQUEST: &str = "cmd/extract";
pub const RESULT: &str = "cmd/extract/result";
pub const DATA: &str = "cmd/extract/data";
/// Requests longer than this are dropped unread.
pub const MAX_REQUEST_BYTES: usize = 4096;
/// Longest range one request may ask for.
pub const MAX_RANGE_S: i64 = 600;
pub const CHUNK_BYTES: usize = 64 * 1024;
/// Chunks are paced to at most this many bytes per second, so the uplink keeps room for events.
pub const RATE_BYTES_S: u64 = 1 << 20;
/// Requests admitted but not yet served; one more is answered "busy".
pub const QUEUE: usize = 2;

/// `[extract]`: who may ask this box for footage, and the key its answers are signed with.
/// With no `station_keys` the box serves no request (it does not even subscribe).
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(try_from = "ExtractToml")]
pub struct ExtractConfig {
    pub station_keys: Vec<VerifyingKey>,
    /// The box's signing key; default `<data_dir>/box.key`, made at first start.
    pub key_file: Option<PathBuf>,
    /// How far a request's `issued_at` may be from the box's clock.
    pub max_skew_s: u32,
    /// Quota and lifetime of the cuts sent (their own, apart from event clips').
    pub max_mb: u64,
    pub max_age_h: u32,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
struct ExtractToml {
    station_keys: Vec<String>,
    key_file: Option<PathBuf>,
    max_skew_s: u32,
    max_mb: u64,
    max_age_h: u32,
}

impl Default for ExtractToml {
    fn default() -> Self {
        Self { station_keys: Vec::new(), key_file: None, max_skew_s: 120, max_mb: 1024, max_age_h: 24 }
    }
}

impl Default for ExtractConfig {
    fn default() -> Self {
        // The defaults live once, in `ExtractToml::default`, and are valid by construction.
        let t = ExtractToml::default();
        Self {
            station_keys: Vec::new(),
            key_file: None,
            max_skew_s: t.max_skew_s,
            max_mb: t.max_mb,
            max_age_h: t.max_age_h,
        }
    }
}

impl TryFrom<ExtractToml> for ExtractConfig {
    type Error = String;
    fn try_from(t: ExtractToml) -> Result<Self, String> {
        let station_keys = t
            .station_keys
            .iter()
            .enumerate()
            .map(|(i, k)| signed::parse_public(k).map_err(|e| format!("extract.station_keys[{i}]: {e}")))
            .collect::<Result<Vec<_>, _>>()?;
        if !(5..=3600).contains(&t.max_skew_s) {
            return Err(format!("extract.max_skew_s must be 5..=3600 seconds, not {}", t.max_skew_s));
        }
        if t.max_mb == 0 || t.max_age_h == 0 {
            return Err("extract.max_mb and max_age_h must be above 0".into());
        }
        Ok(Self {
            station_keys,
            key_file: t.key_file,
            max_skew_s: t.max_skew_s,
            max_mb: t.max_mb,
            max_age_h: t.max_age_h,
        })
    }
}

impl ExtractConfig {
    pub fn enabled(&self) -> bool {
        !self.station_keys.is_empty()
    }

    /// Where the box's key is: `key_file` (relative to `base`, the config's folder) or
    /// `<data_dir>/box.key`.
    pub fn key_path(&self, base: &Path, data_dir: &Path) -> PathBuf {
        match &self.key_file {
            Some(p) => base.join(p),
            None => data_dir.join("box.key"),
        }
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawRequest {
    request_id: String,
    #[serde(rename = "box")]
    for_box: String,
    camera: String,
    from: String,
    to: String,
    issued_at: String,
}

/// A request's body, as the station signs it.
#[derive(Debug, Clone, Serialize)]
pub struct RequestBody<'a> {
    pub request_id: &'a str,
    /// The topic root of the box it is for: a request for one box is refused by every other.
    #[serde(rename = "box")]
    pub for_box: &'a str,
    pub camera: &'a str,
    pub from: &'a str,
    pub to: &'a str,
    pub issued_at: &'a str,
}

/// A valid request.
#[derive(Debug, Clone, PartialEq)]
pub struct Request {
    pub request_id: String,
    pub camera: String,
    pub from_ms: i64,
    pub to_ms: i64,
    pub issued_ms: i64,
}

/// A refused request: the reply names what was wrong.
#[derive(Debug, Clone, PartialEq)]
pub struct Refusal {
    pub request_id: Option<String>,
    pub error: String,
    /// Whether a station key signed it: refusals of anything else are answered only within
    /// [`UNSIGNED_REPLIES_PER_S`], so that junk cannot keep the reply path busy.
    pub signed: bool,
}

/// Refusals of unsigned or wrongly signed payloads answered per second (a burst of
/// [`UNSIGNED_REPLY_BURST`]); beyond it they are dropped unanswered.
pub const UNSIGNED_REPLIES_PER_S: f64 = 2.0;
pub const UNSIGNED_REPLY_BURST: f64 = 10.0;

/// A token bucket: at most `rate` a second, `burst` at once.
#[derive(Debug)]
pub struct Budget {
    rate: f64,
    burst: f64,
    tokens: f64,
    at: Instant,
}

impl Budget {
    pub fn new(rate: f64, burst: f64, now: Instant) -> Self {
        Self { rate, burst, tokens: burst, at: now }
    }

    /// Take one if there is one.
    pub fn allow(&mut self, now: Instant) -> bool {
        let dt = now.saturating_duration_since(self.at).as_secs_f64();
        self.at = self.at.max(now);
        self.tokens = (self.tokens + dt * self.rate).min(self.burst);
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            true
        } else {
            false
        }
    }
}

fn valid_id(id: &str) -> bool {
    (1..=64).contains(&id.len()) && id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

/// The request id in a JSON text, if it is a valid one (to name a refused request).
fn readable_id(json: &[u8]) -> Option<String> {
    serde_json::from_slice::<serde_json::Value>(json)
        .ok()
        .and_then(|v| v.get("request_id").and_then(|i| i.as_str()).filter(|i| valid_id(i)).map(String::from))
}

/// Check a request's body strictly against this box (`root`) and its cameras.
pub fn parse_request(body: &[u8], cameras: &[String], root: &str) -> Result<Request, Refusal> {
    let refuse = |id: Option<&str>, e: String| Refusal { request_id: id.map(String::from), error: e, signed: true };
    if body.len() > MAX_REQUEST_BYTES {
        return Err(refuse(None, format!("request over {MAX_REQUEST_BYTES} bytes")));
    }
    let raw: RawRequest = serde_json::from_slice(body)
        .map_err(|e| refuse(readable_id(body).as_deref(), format!("malformed request: {e}")))?;
    if !valid_id(&raw.request_id) {
        return Err(refuse(None, "request_id must be 1 to 64 of A-Z a-z 0-9 - _".into()));
    }
    let id = Some(raw.request_id.as_str());
    if raw.for_box != root {
        return Err(refuse(id, "the request is for another box".into()));
    }
    if !cameras.contains(&raw.camera) {
        return Err(refuse(id, format!("unknown camera `{}`", raw.camera.chars().take(64).collect::<String>())));
    }
    let from = ts_ms(&raw.from).ok_or_else(|| refuse(id, "`from` is not an RFC 3339 time".into()))?;
    let to = ts_ms(&raw.to).ok_or_else(|| refuse(id, "`to` is not an RFC 3339 time".into()))?;
    let issued = ts_ms(&raw.issued_at).ok_or_else(|| refuse(id, "`issued_at` is not an RFC 3339 time".into()))?;
    if to <= from {
        return Err(refuse(id, "`to` must be after `from`".into()));
    }
    if to - from > MAX_RANGE_S * 1000 {
        return Err(refuse(id, format!("range over {MAX_RANGE_S} s")));
    }
    Ok(Request { request_id: raw.request_id, camera: raw.camera, from_ms: from, to_ms: to, issued_ms: issued })
}

/// What the box knows to judge a request.
pub struct Gate {
    pub station_keys: Vec<VerifyingKey>,
    pub cameras: Vec<String>,
    /// `<prefix>/<site>/<device>`.
    pub root: String,
    pub guard: ReplayGuard,
}

/// The whole decision on an incoming payload at `now_ms`: signed by a station, for this box,
/// well formed, fresh and not seen before.
pub fn admit(gate: &mut Gate, payload: &[u8], now_ms: i64) -> Result<Request, Refusal> {
    let body = signed::open(payload, signed::REQUEST, &gate.station_keys).map_err(|e| match e {
        Unsealed::NotSigned(why) => {
            Refusal { request_id: readable_id(payload), error: format!("unsigned: {why}"), signed: false }
        }
        Unsealed::BadSignature { body } => Refusal {
            request_id: readable_id(body.as_bytes()),
            error: "bad signature: not signed by a key in [extract] station_keys".into(),
            signed: false,
        },
    })?;
    let req = parse_request(body.as_bytes(), &gate.cameras, &gate.root)?;
    gate.guard.admit(&req.request_id, req.issued_ms, now_ms).map_err(|error| Refusal {
        request_id: Some(req.request_id.clone()),
        error,
        signed: true,
    })?;
    Ok(req)
}

/// The reply on `cmd/extract/result` (inside an envelope signed by the box).
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

/// What the extraction threads need.
pub struct Service {
    pub gate: Gate,
    pub key: Arc<SigningKey>,
    pub rings: Vec<Arc<Ring>>,
    pub data_dir: PathBuf,
    pub outbox: Arc<Outbox>,
}

/// Serve requests from `requests` until it closes (shutdown): this thread judges each request
/// and answers refusals at once; admitted ones queue (at most [`QUEUE`]) for a second thread
/// that cuts and sends them, one at a time.
pub fn serve(mut requests: Receiver<Vec<u8>>, out: Sender<Outgoing>, service: Service) {
    let Service { mut gate, key, rings, data_dir, outbox } = service;
    let (jobs_tx, jobs_rx) = std::sync::mpsc::sync_channel::<Request>(QUEUE);
    let worker = {
        let (out, key) = (out.clone(), Arc::clone(&key));
        std::thread::Builder::new().name("extract-send".into()).spawn(move || {
            for req in jobs_rx {
                if !send_extract(&req, &out, &key, &rings, &data_dir, &outbox) {
                    return;
                }
            }
        })
    };
    if let Err(e) = &worker {
        tracing::error!("cannot start the extraction thread: {e}");
        return;
    }
    let mut unsigned_budget = Budget::new(UNSIGNED_REPLIES_PER_S, UNSIGNED_REPLY_BURST, Instant::now());
    while let Some(payload) = requests.blocking_recv() {
        let refusal = match admit(&mut gate, &payload, ring::ms(std::time::SystemTime::now())) {
            Ok(req) => {
                tracing::info!(request_id = %req.request_id, camera = %req.camera, "extract request");
                let id = req.request_id.clone();
                match jobs_tx.try_send(req) {
                    Ok(()) => continue,
                    Err(_) => Refusal {
                        request_id: Some(id),
                        error: "busy: other extracts are being sent; ask again later".into(),
                        signed: true,
                    },
                }
            }
            Err(r) => r,
        };
        let reply =
            Reply { request_id: refusal.request_id.clone(), error: Some(refusal.error.clone()), ..Reply::default() };
        if refusal.signed {
            tracing::warn!(request_id = ?refusal.request_id, "extract request refused: {}", refusal.error);
            if out.blocking_send(result(&key, &reply)).is_err() {
                break;
            }
        } else if unsigned_budget.allow(Instant::now()) {
            // Never waits: junk must not hold up the requests behind it.
            tracing::warn!(request_id = ?refusal.request_id, "extract request refused: {}", refusal.error);
            let _ = out.try_send(result(&key, &reply));
        } else {
            tracing::debug!("unsigned extract request dropped unanswered (over the reply budget)");
        }
    }
    drop(jobs_tx);
    if let Ok(w) = worker {
        let _ = w.join();
    }
}

fn result(key: &SigningKey, reply: &Reply) -> Outgoing {
    let body = serde_json::to_string(reply).unwrap_or_default();
    Outgoing { subtopic: RESULT.into(), payload: signed::seal(key, signed::REPLY, &body), qos: 1, retain: false }
}

/// Cut and send one extract; false once the connection side is gone (shutdown).
fn send_extract(
    req: &Request,
    out: &Sender<Outgoing>,
    key: &SigningKey,
    rings: &[Arc<Ring>],
    data_dir: &Path,
    outbox: &Outbox,
) -> bool {
    let Some(ring) = rings.iter().find(|r| r.camera == req.camera) else { return true };
    let segs = ring::covering(&ring.segments(), req.from_ms, req.to_ms);
    let out_file = extract_dir(data_dir, &req.camera).join(format!("{}.mp4", req.request_id));
    let cut = if segs.is_empty() {
        Err(anyhow::anyhow!("the ring has nothing between these times"))
    } else {
        clip::cut(&segs, &ring.dir, req.from_ms, req.to_ms, &out_file, data_dir)
    };
    let refuse = |error: String| {
        let reply = Reply {
            request_id: Some(req.request_id.clone()),
            camera: Some(req.camera.clone()),
            error: Some(error),
            ..Reply::default()
        };
        out.blocking_send(result(key, &reply)).is_ok()
    };
    let info = match cut {
        Ok(i) => i,
        Err(e) => return refuse(format!("{e:#}")),
    };
    let mut file = match std::fs::File::open(&out_file) {
        Ok(f) => f,
        Err(e) => {
            tracing::error!(file = %out_file.display(), "cannot read the extract: {e}");
            return refuse("the extract could not be read back".into());
        }
    };
    let chunks = info.bytes.div_ceil(CHUNK_BYTES as u64);
    let reply = Reply {
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
    };
    if out.blocking_send(result(key, &reply)).is_err() {
        return false;
    }
    let started = Instant::now();
    for n in 0..chunks {
        // Live events first: wait while any waits in the outbox (at most a minute per chunk).
        let wait_until = Instant::now() + Duration::from_secs(60);
        while !outbox.is_empty() && Instant::now() < wait_until {
            std::thread::sleep(Duration::from_millis(50));
        }
        // Pace: chunk n may leave once n chunks' worth of time at RATE_BYTES_S has passed.
        let due = Duration::from_secs_f64((n as usize * CHUNK_BYTES) as f64 / RATE_BYTES_S as f64);
        if let Some(rest) = due.checked_sub(started.elapsed()) {
            std::thread::sleep(rest);
        }
        let mut chunk = Vec::with_capacity(CHUNK_BYTES);
        if let Err(e) = (&mut file).take(CHUNK_BYTES as u64).read_to_end(&mut chunk) {
            tracing::error!(file = %out_file.display(), chunk = n, "cannot read the extract: {e}");
            return true;
        }
        let msg =
            Outgoing { subtopic: format!("{DATA}/{}/{n}", req.request_id), payload: chunk, qos: 1, retain: false };
        // Blocks while the command connection's window is full: the uplink sets the pace.
        if out.blocking_send(msg).is_err() {
            return false;
        }
    }
    tracing::info!(request_id = %req.request_id, bytes = info.bytes, chunks, "extract sent");
    true
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(500))]

        /// Whatever arrives on `cmd/extract`, the box answers a refusal (never a panic), and
        /// nothing but a request the station signed is admitted.
        #[test]
        fn any_payload_is_refused_without_a_station_signature(
            raw in proptest::collection::vec(any::<u8>(), 0..600),
            body in "[ -~]{0,200}",
            sig in "[A-Za-z0-9+/=]{0,100}",
        ) {
            let station = SigningKey::from_bytes(&[7; 32]);
            let mut g = gate(&station);
            prop_assert!(admit(&mut g, &raw, NOW).is_err());
            let env = serde_json::to_vec(&signed::Envelope { body: body.clone(), sig }).expect("json");
            prop_assert!(admit(&mut g, &env, NOW).is_err());
            // Signed by the station but any body: refused unless it is a valid request.
            let signed_junk = signed::seal(&station, signed::REQUEST, &body);
            let _ = admit(&mut g, &signed_junk, NOW);
        }
    }

    const ROOT: &str = "antt/w1/box-1";
    const NOW: i64 = 1_795_000_000_000;

    fn cams() -> Vec<String> {
        vec!["road".into()]
    }

    fn body(id: &str, for_box: &str, issued_ms: i64) -> String {
        let issued = crate::event::rfc3339(std::time::UNIX_EPOCH + Duration::from_millis(issued_ms as u64));
        serde_json::to_string(&RequestBody {
            request_id: id,
            for_box,
            camera: "road",
            from: "2026-11-28T10:00:00Z",
            to: "2026-11-28T10:00:30.5Z",
            issued_at: &issued,
        })
        .expect("json")
    }

    fn gate(station: &SigningKey) -> Gate {
        Gate {
            station_keys: vec![station.verifying_key()],
            cameras: cams(),
            root: ROOT.into(),
            guard: ReplayGuard::new(NOW - 60_000, 120),
        }
    }

    #[test]
    fn a_good_request() {
        let r = parse_request(body("r-1", ROOT, NOW).as_bytes(), &cams(), ROOT).expect("valid");
        assert_eq!(r.to_ms - r.from_ms, 30_500);
        assert_eq!(r.issued_ms, NOW);
    }

    #[test]
    fn bad_requests_are_refused_with_a_reason() {
        let t = r#""box":"antt/w1/box-1","issued_at":"2026-11-28T10:00:00Z""#;
        let cases: Vec<(String, &str)> = vec![
            ("not json".into(), "malformed"),
            (format!(r#"{{"request_id":"a",{t},"camera":"../../etc","from":"2026-11-28T10:00:00Z","to":"2026-11-28T10:00:10Z"}}"#), "unknown camera"),
            (format!(r#"{{"request_id":"../x",{t},"camera":"road","from":"2026-11-28T10:00:00Z","to":"2026-11-28T10:00:10Z"}}"#), "request_id"),
            (format!(r#"{{"request_id":"a",{t},"camera":"road","from":"2026-11-28T10:00:10Z","to":"2026-11-28T10:00:00Z"}}"#), "after"),
            (format!(r#"{{"request_id":"a",{t},"camera":"road","from":"2026-11-28T10:00:00Z","to":"2026-11-28T12:00:00Z"}}"#), "range over"),
            (format!(r#"{{"request_id":"a",{t},"camera":"road","from":"yesterday","to":"2026-11-28T12:00:00Z"}}"#), "RFC 3339"),
            (format!(r#"{{"request_id":"a",{t},"camera":"road","from":"2026-11-28T10:00:00Z","to":"2026-11-28T10:00:10Z","path":"/etc/passwd"}}"#), "unknown field"),
            (r#"{"request_id":"a","box":"antt/w1/box-2","issued_at":"2026-11-28T10:00:00Z","camera":"road","from":"2026-11-28T10:00:00Z","to":"2026-11-28T10:00:10Z"}"#.into(), "another box"),
            (r#"{"request_id":"a","box":"antt/w1/box-1","issued_at":"now","camera":"road","from":"2026-11-28T10:00:00Z","to":"2026-11-28T10:00:10Z"}"#.into(), "issued_at"),
        ];
        for (payload, want) in &cases {
            let err = parse_request(payload.as_bytes(), &cams(), ROOT).expect_err("refused");
            assert!(err.error.contains(want), "{payload}: {}", err.error);
        }
        assert!(parse_request(&[0xff, 0xfe, 0x00], &cams(), ROOT).is_err());
        let big = vec![b' '; MAX_REQUEST_BYTES + 1];
        assert!(parse_request(&big, &cams(), ROOT).is_err());
        // The id of a malformed but readable request is echoed, so the station can match the reply.
        let err = parse_request(br#"{"request_id":"r7","camera":"road"}"#, &cams(), ROOT).expect_err("missing");
        assert_eq!(err.request_id.as_deref(), Some("r7"));
    }

    #[test]
    fn only_a_fresh_request_signed_by_a_station_key_is_admitted_and_only_once() {
        let station = SigningKey::from_bytes(&[7; 32]);
        let mut g = gate(&station);
        let signed = signed::seal(&station, signed::REQUEST, &body("r1", ROOT, NOW));
        assert_eq!(admit(&mut g, &signed, NOW + 1_000).map(|r| r.request_id).as_deref(), Ok("r1"));
        let again = admit(&mut g, &signed, NOW + 2_000).expect_err("replayed");
        assert!(again.error.contains("replayed"), "{}", again.error);
        assert_eq!(again.request_id.as_deref(), Some("r1"));

        let unsigned = body("r2", ROOT, NOW);
        assert!(admit(&mut g, unsigned.as_bytes(), NOW).expect_err("unsigned").error.starts_with("unsigned"));
        let intruder = SigningKey::from_bytes(&[8; 32]);
        let forged = admit(&mut g, &signed::seal(&intruder, signed::REQUEST, &body("r3", ROOT, NOW)), NOW)
            .expect_err("other key");
        assert!(forged.error.contains("bad signature"), "{}", forged.error);
        assert_eq!(forged.request_id.as_deref(), Some("r3"));
        // Signed by the box's own kind of message (a reply), not a request.
        let wrong_kind = signed::seal(&station, signed::REPLY, &body("r4", ROOT, NOW));
        assert!(admit(&mut g, &wrong_kind, NOW).is_err());
        let stale = signed::seal(&station, signed::REQUEST, &body("r5", ROOT, NOW - 200_000));
        assert!(admit(&mut g, &stale, NOW).expect_err("stale").error.contains("stale"));
        let other_box = signed::seal(&station, signed::REQUEST, &body("r6", "antt/w1/box-2", NOW));
        assert!(admit(&mut g, &other_box, NOW).expect_err("other box").error.contains("another box"));
    }

    #[test]
    fn unsigned_refusals_are_answered_within_a_budget() {
        let t0 = Instant::now();
        let mut b = Budget::new(2.0, 3.0, t0);
        assert_eq!((0..10).filter(|_| b.allow(t0)).count(), 3, "a burst of 3");
        assert!(!b.allow(t0 + Duration::from_millis(400)), "0.8 of a token after 0.4 s");
        assert!(b.allow(t0 + Duration::from_millis(500)), "one after 0.5 s");
        let later = t0 + Duration::from_secs(100);
        assert_eq!((0..10).filter(|_| b.allow(later)).count(), 3, "never more than the burst");
        let station = SigningKey::from_bytes(&[7; 32]);
        let mut g = gate(&station);
        assert!(!admit(&mut g, b"junk", NOW).expect_err("junk").signed);
        let stale = signed::seal(&station, signed::REQUEST, &body("r1", ROOT, NOW - 600_000));
        assert!(admit(&mut g, &stale, NOW).expect_err("stale").signed, "signed refusals are always answered");
    }

    #[test]
    fn replies_are_signed_by_the_box() {
        let boxkey = SigningKey::from_bytes(&[9; 32]);
        let msg = result(&boxkey, &Reply { request_id: Some("r1".into()), ok: true, chunks: 3, ..Reply::default() });
        assert_eq!(msg.subtopic, RESULT);
        let body = signed::open(&msg.payload, signed::REPLY, &[boxkey.verifying_key()]).expect("signed by the box");
        let reply: Reply = serde_json::from_str(&body).expect("reply");
        assert_eq!((reply.request_id.as_deref(), reply.ok, reply.chunks), (Some("r1"), true, 3));
    }

    #[test]
    fn station_keys_are_checked_when_the_config_is_read() {
        let bad: Result<ExtractConfig, _> =
            ExtractToml { station_keys: vec!["AAAA".into()], ..ExtractToml::default() }.try_into();
        assert!(bad.expect_err("short key").contains("station_keys[0]"));
        let bad: Result<ExtractConfig, _> = ExtractToml { max_skew_s: 0, ..ExtractToml::default() }.try_into();
        assert!(bad.expect_err("skew").contains("max_skew_s"));
        assert!(!ExtractConfig::default().enabled(), "no station key: no footage leaves the box");
    }
}
