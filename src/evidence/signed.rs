//! Ed25519 signatures on the extraction protocol ([`super::extract`]).
//!
//! Footage leaves a box only for a request signed by a station key listed in the box's config,
//! and every answer is signed by the box's own key, so that `anttd fetch` refuses video that
//! anything else on the broker sent in its place. A signed message is an [`Envelope`]: the JSON
//! body as text, exactly the bytes signed, and the signature over a context string and that
//! text. The context keeps a signature for one purpose from being accepted for another.
//!
//! A request also carries the box it is for, its time and a unique id; [`ReplayGuard`] refuses
//! stale, future, repeated and pre-start requests (see its doc). Keys are files holding the
//! 32-byte Ed25519 seed in base64 (`anttd keygen`); public keys are given as base64 text.

use std::collections::HashMap;
use std::io::Write;
use std::path::Path;

use anyhow::{Context, Result, bail};
use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use ed25519_dalek::{Signature, Signer, SigningKey, VerifyingKey};
use serde::{Deserialize, Serialize};

/// What a station signs: requests for footage.
pub const REQUEST: &[u8] = b"anttd/extract-request/v1\n";
/// What a box signs: its replies (which carry the clip's size and SHA-256).
pub const REPLY: &[u8] = b"anttd/extract-reply/v1\n";

/// A signed message on the wire.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Envelope {
    /// The message, JSON as text: exactly what was signed.
    pub body: String,
    /// Base64 Ed25519 signature over the context and `body`.
    pub sig: String,
}

fn message(context: &[u8], body: &str) -> Vec<u8> {
    let mut m = Vec::with_capacity(context.len() + body.len());
    m.extend_from_slice(context);
    m.extend_from_slice(body.as_bytes());
    m
}

/// Sign `body` for `context`: the envelope's JSON.
pub fn seal(key: &SigningKey, context: &[u8], body: &str) -> Vec<u8> {
    let sig = key.sign(&message(context, body));
    let env = Envelope { body: body.to_string(), sig: B64.encode(sig.to_bytes()) };
    serde_json::to_vec(&env).unwrap_or_default()
}

/// Why an envelope was not accepted.
#[derive(Debug, Clone, PartialEq)]
pub enum Unsealed {
    /// Not an envelope at all (unsigned or malformed).
    NotSigned(String),
    /// An envelope whose signature none of the keys made. The body is returned so that a reply
    /// can name the request, but nothing in it is to be trusted.
    BadSignature { body: String },
}

/// The body of an envelope signed by one of `keys` for `context`.
pub fn open(payload: &[u8], context: &[u8], keys: &[VerifyingKey]) -> Result<String, Unsealed> {
    let env: Envelope = serde_json::from_slice(payload)
        .map_err(|e| Unsealed::NotSigned(format!("not a signed envelope {{\"body\", \"sig\"}}: {e}")))?;
    let sig = B64
        .decode(env.sig.as_bytes())
        .ok()
        .and_then(|b| Signature::from_slice(&b).ok())
        .ok_or_else(|| Unsealed::BadSignature { body: env.body.clone() })?;
    let m = message(context, &env.body);
    if keys.iter().any(|k| k.verify_strict(&m, &sig).is_ok()) {
        Ok(env.body)
    } else {
        Err(Unsealed::BadSignature { body: env.body })
    }
}

/// A public key from its base64 text.
pub fn parse_public(text: &str) -> Result<VerifyingKey, String> {
    let bytes = B64.decode(text.trim().as_bytes()).map_err(|e| format!("not base64: {e}"))?;
    let arr: [u8; 32] =
        bytes.as_slice().try_into().map_err(|_| format!("an Ed25519 public key is 32 bytes, not {}", bytes.len()))?;
    VerifyingKey::from_bytes(&arr).map_err(|e| format!("not an Ed25519 public key: {e}"))
}

pub fn public_text(key: &VerifyingKey) -> String {
    B64.encode(key.as_bytes())
}

/// Read a key file (the base64 seed on one line).
pub fn read_key(path: &Path) -> Result<SigningKey> {
    let text = std::fs::read_to_string(path).with_context(|| format!("cannot read key file {}", path.display()))?;
    let bytes = B64
        .decode(text.trim().as_bytes())
        .with_context(|| format!("{}: not a key file (base64 of a 32-byte Ed25519 seed)", path.display()))?;
    let seed: [u8; 32] = bytes.as_slice().try_into().map_err(|_| {
        anyhow::anyhow!(
            "{}: not a key file (a 32-byte Ed25519 seed in base64, found {} bytes)",
            path.display(),
            bytes.len()
        )
    })?;
    Ok(SigningKey::from_bytes(&seed))
}

/// Make a new key and write it to `path` (mode 0600), never over an existing file.
pub fn create_key(path: &Path) -> Result<SigningKey> {
    let mut seed = [0u8; 32];
    getrandom::fill(&mut seed).map_err(|e| anyhow::anyhow!("no randomness from the system: {e}"))?;
    let key = SigningKey::from_bytes(&seed);
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    }
    let mut open = std::fs::OpenOptions::new();
    open.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut open, 0o600);
    let mut f = open.open(path).with_context(|| format!("cannot create key file {}", path.display()))?;
    writeln!(f, "{}", B64.encode(seed))
        .and_then(|()| f.sync_all())
        .with_context(|| format!("cannot write {}", path.display()))?;
    Ok(key)
}

/// The key in `path`, made there first if there is none. Refuses a key file others can read.
pub fn load_or_create(path: &Path) -> Result<SigningKey> {
    if !path.exists() {
        let key = create_key(path)?;
        tracing::info!(file = %path.display(), public_key = %public_text(&key.verifying_key()), "created this box's signing key");
        return Ok(key);
    }
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode =
            std::fs::metadata(path).with_context(|| format!("cannot read {}", path.display()))?.permissions().mode();
        if mode & 0o077 != 0 {
            bail!("key file {} is readable by others (mode {:o}): chmod 600 it", path.display(), mode & 0o777);
        }
    }
    read_key(path)
}

/// Refuses requests a recorded or delayed copy of which could be played back: a request is taken
/// at most once, only while its `issued_at` is within `skew` of the box's clock, and only if it
/// was issued after the box started (ids seen before a restart are not remembered, and the
/// clean MQTT session drops what was queued for the old process, so nothing older is genuine).
#[derive(Debug)]
pub struct ReplayGuard {
    started_ms: i64,
    skew_ms: i64,
    /// Request ids taken, with their `issued_at`, until it is older than the skew.
    seen: HashMap<String, i64>,
}

/// Most ids remembered; requests beyond it within one skew window are refused as busy.
const MAX_SEEN: usize = 4096;

impl ReplayGuard {
    pub fn new(started_ms: i64, skew_s: u32) -> Self {
        Self { started_ms, skew_ms: i64::from(skew_s) * 1000, seen: HashMap::new() }
    }

    /// Take a request (`Ok`), or say why not.
    pub fn admit(&mut self, id: &str, issued_ms: i64, now_ms: i64) -> Result<(), String> {
        let skew_s = self.skew_ms / 1000;
        let horizon = now_ms.saturating_sub(self.skew_ms);
        self.seen.retain(|_, t| *t >= horizon);
        if issued_ms > now_ms.saturating_add(self.skew_ms) {
            return Err(format!("issued_at is more than {skew_s} s ahead of the box's clock"));
        }
        if issued_ms < now_ms.saturating_sub(self.skew_ms) {
            return Err(format!("stale: issued_at is more than {skew_s} s before the box's clock"));
        }
        if issued_ms < self.started_ms {
            return Err("issued before the box started: send a new request".into());
        }
        if self.seen.contains_key(id) {
            return Err("replayed: this request_id was already taken".into());
        }
        if self.seen.len() >= MAX_SEEN {
            return Err("busy: too many requests".into());
        }
        self.seen.insert(id.to_string(), issued_ms);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(n: u8) -> SigningKey {
        SigningKey::from_bytes(&[n; 32])
    }

    #[test]
    fn a_sealed_body_opens_with_its_key_only() {
        let (station, other) = (key(1), key(2));
        let sealed = seal(&station, REQUEST, r#"{"a":1}"#);
        assert_eq!(
            open(&sealed, REQUEST, &[other.verifying_key(), station.verifying_key()]).as_deref(),
            Ok(r#"{"a":1}"#)
        );
        assert!(matches!(open(&sealed, REQUEST, &[other.verifying_key()]), Err(Unsealed::BadSignature { .. })));
        assert!(matches!(open(&sealed, REQUEST, &[]), Err(Unsealed::BadSignature { .. })));
    }

    #[test]
    fn a_signature_counts_for_its_context_only() {
        let k = key(3);
        let sealed = seal(&k, REPLY, "{}");
        assert!(matches!(open(&sealed, REQUEST, &[k.verifying_key()]), Err(Unsealed::BadSignature { .. })));
    }

    #[test]
    fn a_changed_body_or_signature_is_refused() {
        let k = key(4);
        let mut env: Envelope = serde_json::from_slice(&seal(&k, REQUEST, r#"{"to":"10:00"}"#)).expect("envelope");
        env.body = r#"{"to":"11:00"}"#.into();
        let tampered = serde_json::to_vec(&env).expect("json");
        assert!(matches!(open(&tampered, REQUEST, &[k.verifying_key()]), Err(Unsealed::BadSignature { .. })));
        env.sig = "bm90IGEgc2lnbmF0dXJl".into();
        let bad_sig = serde_json::to_vec(&env).expect("json");
        assert!(matches!(open(&bad_sig, REQUEST, &[k.verifying_key()]), Err(Unsealed::BadSignature { .. })));
    }

    #[test]
    fn unsigned_payloads_are_refused_as_such() {
        for p in [&b"not json"[..], br#"{"request_id":"a","camera":"road"}"#, b"", b"\xff\x00"] {
            assert!(matches!(open(p, REQUEST, &[key(5).verifying_key()]), Err(Unsealed::NotSigned(_))), "{p:?}");
        }
    }

    #[test]
    fn public_keys_round_trip_and_bad_ones_are_named() {
        let pk = key(6).verifying_key();
        assert_eq!(parse_public(&public_text(&pk)), Ok(pk));
        assert!(parse_public("abc!").expect_err("base64").contains("base64"));
        assert!(parse_public(&B64.encode([0u8; 31])).expect_err("length").contains("32 bytes"));
    }

    #[test]
    fn key_files_are_private_and_never_overwritten() {
        let dir = tempfile::tempdir().expect("tmp");
        let path = dir.path().join("keys/box.key");
        let made = load_or_create(&path).expect("created");
        assert_eq!(load_or_create(&path).expect("read").to_bytes(), made.to_bytes());
        assert!(create_key(&path).is_err(), "an existing key is never replaced");
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            assert_eq!(std::fs::metadata(&path).expect("meta").permissions().mode() & 0o777, 0o600);
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).expect("chmod");
            assert!(load_or_create(&path).expect_err("readable").to_string().contains("chmod 600"));
        }
        std::fs::write(dir.path().join("junk.key"), "hello\n").expect("write");
        assert!(read_key(&dir.path().join("junk.key")).is_err());
    }

    const START: i64 = 1_000_000_000;

    #[test]
    fn a_request_is_taken_once() {
        let mut g = ReplayGuard::new(START, 60);
        assert_eq!(g.admit("r1", START + 5_000, START + 6_000), Ok(()));
        assert!(g.admit("r1", START + 5_000, START + 7_000).expect_err("again").contains("replayed"));
        assert_eq!(g.admit("r2", START + 5_000, START + 7_000), Ok(()));
    }

    #[test]
    fn stale_and_future_requests_are_refused() {
        let mut g = ReplayGuard::new(START, 60);
        let now = START + 200_000;
        assert!(g.admit("old", now - 61_000, now).expect_err("stale").contains("stale"));
        assert!(g.admit("new", now + 61_000, now).expect_err("future").contains("ahead"));
        assert_eq!(g.admit("edge", now - 60_000, now), Ok(()));
    }

    #[test]
    fn requests_from_before_the_start_are_refused() {
        let mut g = ReplayGuard::new(START, 60);
        assert!(g.admit("r", START - 1, START + 1_000).expect_err("pre-start").contains("before the box started"));
    }

    #[test]
    fn ids_are_forgotten_only_once_their_requests_are_stale() {
        let mut g = ReplayGuard::new(START, 60);
        assert_eq!(g.admit("r", START + 1_000, START + 1_000), Ok(()));
        // Within the window the id is remembered; after it the request is refused as stale anyway.
        assert!(g.admit("r", START + 1_000, START + 61_000).is_err());
        assert!(g.admit("r", START + 1_000, START + 62_000).expect_err("stale").contains("stale"));
        assert_eq!(g.seen.len(), 0, "pruned");
    }
}
