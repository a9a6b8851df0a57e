//! "Get the footage": the station asks a box for the video of an event's time range with the
//! extraction protocol of `anttd fetch` (docs/mqtt.md, "Extraction on request"): the request
//! signed by the station's key, only the reply signed by the box's pinned key taken, the file
//! checked against the SHA-256 the box announced. The MP4 is kept under
//! `<data_dir>/footage/<event_id>.mp4`, and every request is logged in the `footage` table with
//! who asked, when, and how it ended.
//!
//! Box keys are pinned in a file the installer keeps (`--box-keys`): one line per box, its topic
//! root and its public key as `anttd pubkey` prints it. A box not in the file is not asked.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::{Context, Result, bail};
use ed25519_dalek::{SigningKey, VerifyingKey};
use serde::Serialize;

use super::store::{self, EventRow};
use crate::evidence::fetch::{FetchOptions, Progress, fetch};
use crate::evidence::signed;
use crate::publish::mqtt::Broker;

/// Reads a box key file: `ROOT KEY` per line, `#` comments and blank lines skipped.
pub fn read_box_keys(path: &Path) -> Result<HashMap<String, VerifyingKey>> {
    let text = std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))?;
    let mut keys = HashMap::new();
    for (n, line) in text.lines().enumerate() {
        let line = line.split('#').next().unwrap_or("").trim();
        if line.is_empty() {
            continue;
        }
        let mut parts = line.split_whitespace();
        let (Some(root), Some(key), None) = (parts.next(), parts.next(), parts.next()) else {
            bail!(
                "{}:{}: expected `<topic root> <public key>`, e.g. `antt/ward-7/box-014 AbC…=`",
                path.display(),
                n + 1
            );
        };
        let key =
            signed::parse_public(key).map_err(|e| anyhow::anyhow!("{}:{}: {root}: {e}", path.display(), n + 1))?;
        keys.insert(root.trim_end_matches('/').to_string(), key);
    }
    Ok(keys)
}

/// Where a request stands, as the event page shows it.
#[derive(Debug, Clone, Serialize, PartialEq)]
#[serde(tag = "state", rename_all = "lowercase")]
pub enum Status {
    /// Requests are off (no `--key`), or this box's key is not pinned: why.
    Unavailable {
        why: String,
    },
    /// Nobody asked yet.
    None,
    Running {
        received: u64,
        total: u64,
    },
    Done {
        bytes: u64,
        sha256: String,
    },
    Failed {
        error: String,
    },
}

pub struct Footage {
    key: Option<SigningKey>,
    boxes: HashMap<String, VerifyingKey>,
    /// The station's brokers, in `--broker` order.
    brokers: Vec<Broker>,
    dir: PathBuf,
    db: PathBuf,
    running: Mutex<HashMap<String, Arc<Progress>>>,
    timeout: Duration,
}

impl Footage {
    pub fn new(
        key: Option<SigningKey>,
        boxes: HashMap<String, VerifyingKey>,
        brokers: Vec<Broker>,
        data_dir: &Path,
        timeout: Duration,
    ) -> Self {
        Self {
            key,
            boxes,
            brokers,
            dir: data_dir.join("footage"),
            db: data_dir.join("station.db"),
            running: Mutex::new(HashMap::new()),
            timeout,
        }
    }

    /// The verified file of an event, once fetched.
    pub fn file(&self, event_id: &str) -> Option<PathBuf> {
        let f = self.dir.join(format!("{event_id}.mp4"));
        (uuid_like(event_id) && f.is_file()).then_some(f)
    }

    fn unavailable(&self, e: &EventRow) -> Option<String> {
        if self.key.is_none() {
            return Some("footage requests are off: the station was started without --key".into());
        }
        if !self.boxes.contains_key(&e.root) {
            return Some(format!("the key of box {} is not in the station's --box-keys file", e.root));
        }
        None
    }

    pub fn status(&self, e: &EventRow, conn: &rusqlite::Connection) -> rusqlite::Result<Status> {
        if let Some(why) = self.unavailable(e) {
            return Ok(Status::Unavailable { why });
        }
        if let Some(p) = self.running.lock().ok().and_then(|r| r.get(&e.event_id).cloned()) {
            use std::sync::atomic::Ordering::Relaxed;
            return Ok(Status::Running { received: p.received.load(Relaxed), total: p.total.load(Relaxed) });
        }
        Ok(match store::footage_latest(conn, &e.event_id)? {
            None => Status::None,
            Some(r) if r.state == "done" && self.file(&e.event_id).is_some() => {
                Status::Done { bytes: r.bytes.unwrap_or(0), sha256: r.sha256.unwrap_or_default() }
            }
            Some(r) if r.state == "done" => {
                Status::Failed { error: "the fetched file is gone from the station".into() }
            }
            Some(r) if r.state == "failed" => Status::Failed { error: r.detail.unwrap_or_default() },
            // Asked, but the station stopped before the answer.
            Some(_) => Status::Failed { error: "the station stopped before the box answered".into() },
        })
    }

    /// Asks the box for `e`'s video from `from` to `to` (RFC 3339) on a thread of its own;
    /// `asked_by` goes into the log. At most one request per event runs at a time.
    pub fn request(
        self: &Arc<Self>,
        e: &EventRow,
        broker: usize,
        from: &str,
        to: &str,
        asked_by: &str,
    ) -> Result<(), String> {
        if let Some(why) = self.unavailable(e) {
            return Err(why);
        }
        let (Some(key), Some(box_key)) = (self.key.clone(), self.boxes.get(&e.root).copied()) else {
            return Err("no key".into());
        };
        let link = self.brokers.get(broker).or(self.brokers.first()).cloned().ok_or("no broker")?;
        std::fs::create_dir_all(&self.dir).map_err(|err| format!("cannot create {}: {err}", self.dir.display()))?;
        let progress = Arc::new(Progress::default());
        {
            let mut running = self.running.lock().map_err(|_| "busy")?;
            if running.contains_key(&e.event_id) {
                return Ok(());
            }
            running.insert(e.event_id.clone(), Arc::clone(&progress));
        }
        let now = crate::event::rfc3339(std::time::SystemTime::now());
        let log = store::open_writer(&self.db)
            .and_then(|c| store::footage_asked(&c, &e.event_id, &e.root, &e.camera, from, to, asked_by, &now));
        let row = match log {
            Ok(row) => row,
            Err(err) => {
                self.running.lock().map(|mut r| r.remove(&e.event_id)).ok();
                return Err(format!("cannot log the request: {err}"));
            }
        };
        tracing::info!(event = %e.event_id, root = %e.root, camera = %e.camera, from, to, asked_by, "footage requested");
        let opts = FetchOptions {
            host: link.host,
            port: link.port,
            username: link.credentials.as_ref().map(|c| c.0.clone()),
            password: link.credentials.map(|c| c.1),
            tls: link.tls,
            root: e.root.clone(),
            camera: e.camera.clone(),
            from: from.to_string(),
            to: to.to_string(),
            output: self.dir.join(format!("{}.mp4", e.event_id)),
            timeout: self.timeout,
            progress: false,
            progress_to: Some(progress),
            key,
            box_key,
        };
        let me = Arc::clone(self);
        let event_id = e.event_id.clone();
        std::thread::spawn(move || {
            let r = fetch(&opts);
            let (state, detail, bytes, sha) = match &r {
                Ok(reply) => ("done", None, Some(reply.bytes), reply.sha256.clone()),
                Err(err) => ("failed", Some(format!("{err:#}")), None, None),
            };
            match &r {
                Ok(reply) => tracing::info!(event = %event_id, bytes = reply.bytes, "footage received and verified"),
                Err(err) => tracing::warn!(event = %event_id, "footage request failed: {err:#}"),
            }
            let logged = store::open_writer(&me.db)
                .and_then(|c| store::footage_ended(&c, row, state, detail.as_deref(), bytes, sha.as_deref()));
            if let Err(err) = logged {
                tracing::error!(event = %event_id, "cannot log the footage request's end: {err}");
            }
            me.running.lock().map(|mut r| r.remove(&event_id)).ok();
        });
        Ok(())
    }
}

/// Event ids are UUIDs: a path built from one stays in the footage folder.
fn uuid_like(id: &str) -> bool {
    !id.is_empty() && id.len() <= 64 && id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn box_keys_are_read_one_per_line_and_errors_name_the_line() {
        let dir = tempfile::tempdir().expect("temp dir");
        let key = signed::create_key(&dir.path().join("box.key")).expect("key");
        let public = signed::public_text(&key.verifying_key());
        let file = dir.path().join("boxes");
        std::fs::write(
            &file,
            format!("# commune 7\nantt/ward-7/box-014 {public}\n\nantt/ward-7/box-015/ {public}  # spare\n"),
        )
        .expect("write");
        let keys = read_box_keys(&file).expect("read");
        assert_eq!(keys.len(), 2);
        assert!(keys.contains_key("antt/ward-7/box-015"), "a trailing / is dropped");
        std::fs::write(&file, format!("antt/ward-7/box-014 {public}\nantt/ward-7/box-015\n")).expect("write");
        let err = read_box_keys(&file).expect_err("refused").to_string();
        assert!(err.ends_with(":2: expected `<topic root> <public key>`, e.g. `antt/ward-7/box-014 AbC…=`"), "{err}");
        std::fs::write(&file, "antt/ward-7/box-014 not-a-key\n").expect("write");
        let err = read_box_keys(&file).expect_err("refused").to_string();
        assert!(err.contains(":1: antt/ward-7/box-014: "), "{err}");
    }

    #[test]
    fn only_an_id_made_of_letters_digits_and_dashes_names_a_file() {
        assert!(uuid_like("01a24335-3e04-76f6-b2a2-ee03515cd433"));
        for bad in ["", "../x", "a/b", "a.mp4", &"x".repeat(65)] {
            assert!(!uuid_like(bad), "{bad}");
        }
    }
}
