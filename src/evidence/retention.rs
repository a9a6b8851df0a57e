//! Retention: the ring and event evidence each within their own disk quota and maximum age,
//! the oldest going first, and the disk never filled (below `min_free_mb` free, the oldest ring
//! segments go first, then the oldest event evidence).
//!
//! [`plan`] is the decision, pure and unit tested; [`Retention::run`] applies it to the files.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde::Serialize;

use super::EvidenceConfig;
use super::ring::Ring;

/// Something that can be deleted: a ring segment or one event's evidence.
#[derive(Debug, Clone, PartialEq)]
pub struct Item {
    pub key: String,
    pub bytes: u64,
    /// Wall-clock time, ms since the Unix epoch (segment end, or file modification time).
    pub time_ms: i64,
}

/// Which items go, oldest first: those older than `max_age_ms`, then as many as needed to get
/// under `quota` and to free `also_free` more bytes.
pub fn plan(items: &[Item], quota: u64, max_age_ms: i64, now_ms: i64, also_free: u64) -> Vec<String> {
    let mut sorted: Vec<&Item> = items.iter().collect();
    sorted.sort_by_key(|i| i.time_ms);
    let mut total: u64 = items.iter().map(|i| i.bytes).sum();
    let mut freed = 0u64;
    let mut out = Vec::new();
    for it in sorted {
        let too_old = now_ms - it.time_ms > max_age_ms;
        if too_old || total > quota || freed < also_free {
            out.push(it.key.clone());
            total -= it.bytes;
            freed += it.bytes;
        } else {
            break;
        }
    }
    out
}

/// How full the evidence store is: the `evidence` object of the `stats` message.
#[derive(Debug, Clone, Default, Serialize, PartialEq)]
pub struct EvidenceReport {
    pub ring_bytes: u64,
    pub ring_max_bytes: u64,
    pub ring_segments: u64,
    /// Wall-clock time of the oldest frame in any camera's ring (RFC 3339), null if empty.
    pub ring_oldest: Option<String>,
    pub events_bytes: u64,
    pub events_max_bytes: u64,
    pub events_files: u64,
    /// Free space on the data directory's disk.
    pub disk_free_bytes: u64,
    pub min_free_bytes: u64,
    /// Removed since start by retention.
    pub removed_segments: u64,
    pub removed_event_files: u64,
}

/// Bytes available to this process on the file system holding `path`.
pub fn free_bytes(path: &Path) -> Option<u64> {
    let s = rustix::fs::statvfs(path).ok()?;
    Some(s.f_bavail.saturating_mul(s.f_frsize))
}

pub struct Retention {
    cfg: EvidenceConfig,
    data_dir: PathBuf,
    rings: Vec<Arc<Ring>>,
    events_dirs: Vec<PathBuf>,
    removed_segments: u64,
    removed_event_files: u64,
}

const MB: u64 = 1 << 20;

impl Retention {
    pub fn new(cfg: &EvidenceConfig, data_dir: &Path, rings: Vec<Arc<Ring>>, events_dirs: Vec<PathBuf>) -> Self {
        Self {
            cfg: cfg.clone(),
            data_dir: data_dir.to_path_buf(),
            rings,
            events_dirs,
            removed_segments: 0,
            removed_event_files: 0,
        }
    }

    /// Event evidence on disk: (key = path, bytes, modification time).
    fn event_files(&self) -> Vec<Item> {
        let mut out = Vec::new();
        for d in &self.events_dirs {
            let Ok(entries) = std::fs::read_dir(d) else { continue };
            for e in entries.flatten() {
                let Ok(m) = e.metadata() else { continue };
                if !m.is_file() || e.file_name().to_string_lossy().ends_with(".part") {
                    continue;
                }
                let t = m.modified().map(super::ring::ms).unwrap_or(0);
                out.push(Item { key: e.path().to_string_lossy().to_string(), bytes: m.len(), time_ms: t });
            }
        }
        out
    }

    /// Apply the limits once; returns the report for `stats`.
    pub fn run(&mut self, now_ms: i64) -> EvidenceReport {
        let min_free = self.cfg.min_free_mb * MB;
        let free = free_bytes(&self.data_dir).unwrap_or(u64::MAX);
        let mut short = min_free.saturating_sub(free);

        // The ring: all cameras together, oldest first.
        let segs: Vec<(usize, Item)> = self
            .rings
            .iter()
            .enumerate()
            .flat_map(|(i, r)| {
                r.segments().into_iter().map(move |s| (i, Item { key: s.file, bytes: s.bytes, time_ms: s.end_ms }))
            })
            .collect();
        let items: Vec<Item> =
            segs.iter().map(|(i, it)| Item { key: format!("{i}/{}", it.key), ..it.clone() }).collect();
        let gone =
            plan(&items, self.cfg.ring_max_mb * MB, i64::from(self.cfg.ring_max_age_h) * 3_600_000, now_ms, short);
        for (i, ring) in self.rings.iter().enumerate() {
            let prefix = format!("{i}/");
            let files: Vec<String> = gone.iter().filter_map(|k| k.strip_prefix(&prefix)).map(String::from).collect();
            if !files.is_empty() {
                tracing::info!(camera = %ring.camera, segments = files.len(), "retention: removing the oldest ring segments");
                ring.remove(&files);
                self.removed_segments += files.len() as u64;
            }
        }
        let freed: u64 = items.iter().filter(|i| gone.contains(&i.key)).map(|i| i.bytes).sum();
        short = short.saturating_sub(freed);

        // Event evidence: its own quota and age; touched for free space only once the ring is gone.
        let ev = self.event_files();
        let gone_ev = plan(
            &ev,
            self.cfg.events_max_mb * MB,
            i64::from(self.cfg.events_max_age_days) * 86_400_000,
            now_ms,
            if self.rings.iter().all(|r| r.segments().is_empty()) { short } else { 0 },
        );
        for f in &gone_ev {
            tracing::info!(file = %f, "retention: removing old event evidence");
            let _ = std::fs::remove_file(f);
        }
        self.removed_event_files += gone_ev.len() as u64;

        let left: Vec<Item> = ev.into_iter().filter(|i| !gone_ev.contains(&i.key)).collect();
        let oldest = self.rings.iter().flat_map(|r| r.segments().first().map(|s| s.start_ms)).min();
        EvidenceReport {
            ring_bytes: self.rings.iter().map(|r| r.bytes()).sum(),
            ring_max_bytes: self.cfg.ring_max_mb * MB,
            ring_segments: self.rings.iter().map(|r| r.segments().len() as u64).sum(),
            ring_oldest: oldest.map(|m| crate::event::rfc3339(super::ring::from_ms(m))),
            events_bytes: left.iter().map(|i| i.bytes).sum(),
            events_max_bytes: self.cfg.events_max_mb * MB,
            events_files: left.len() as u64,
            disk_free_bytes: free_bytes(&self.data_dir).unwrap_or(0),
            min_free_bytes: min_free,
            removed_segments: self.removed_segments,
            removed_event_files: self.removed_event_files,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn it(k: &str, bytes: u64, t: i64) -> Item {
        Item { key: k.into(), bytes, time_ms: t }
    }

    #[test]
    fn oldest_go_first_until_under_quota() {
        let items = [it("c", 10, 30), it("a", 10, 10), it("b", 10, 20)];
        assert_eq!(plan(&items, 30, 1_000, 40, 0), Vec::<String>::new());
        assert_eq!(plan(&items, 25, 1_000, 40, 0), ["a"]);
        assert_eq!(plan(&items, 5, 1_000, 40, 0), ["a", "b", "c"]);
    }

    #[test]
    fn age_and_free_space() {
        let items = [it("a", 10, 10), it("b", 10, 20), it("c", 10, 30)];
        assert_eq!(plan(&items, 100, 15, 40, 0), ["a", "b"], "older than 15 ms at t=40");
        assert_eq!(plan(&items, 100, 1_000, 40, 15), ["a", "b"], "15 bytes to free");
    }

    #[test]
    fn free_space_is_known() {
        assert!(free_bytes(Path::new("/")).is_some_and(|b| b > 0));
    }
}
