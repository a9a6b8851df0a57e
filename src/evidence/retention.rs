//! Retention: the ring, event evidence and extracts each within their own disk quota and
//! maximum age, the oldest going first, and the disk never filled (below `min_free_mb` free, the
//! oldest ring segments go first, then extracts, then the oldest event evidence). Extracts
//! have their own quota so that requests for footage can never push event clips out.
//!
//! [`plan`] is the decision, pure and unit tested; [`Retention::run`] applies it to the files
//! (on a thread of its own, so a long clip never holds it up). Only what was really deleted
//! counts as freed. Files a crash left half-written (`*.part`, `*.tmp`) are removed at start.

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
    /// Cuts sent on request (`cmd/extract`), kept for `[extract] max_age_h` within `max_mb`.
    pub extracts_bytes: u64,
    pub extracts_max_bytes: u64,
    /// Free space on the data directory's disk.
    pub disk_free_bytes: u64,
    pub min_free_bytes: u64,
    /// Removed since start by retention.
    pub removed_segments: u64,
    pub removed_event_files: u64,
    pub removed_extracts: u64,
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
    extracts: Extracts,
    removed_segments: u64,
    removed_event_files: u64,
    removed_extracts: u64,
}

/// Where extracts go, and their own limits.
#[derive(Debug, Clone)]
pub struct Extracts {
    pub dirs: Vec<PathBuf>,
    pub max_bytes: u64,
    pub max_age_ms: i64,
}

const MB: u64 = 1 << 20;

/// The files of `dirs` as retention items (key = path, bytes, modification time); half-written
/// ones (`.part`) are not evidence yet.
fn files(dirs: &[PathBuf]) -> Vec<Item> {
    let mut out = Vec::new();
    for d in dirs {
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

/// Delete the files `keys`: the keys really deleted (or already gone).
fn delete(keys: &[String], what: &str) -> Vec<String> {
    let mut gone = Vec::new();
    for k in keys {
        match std::fs::remove_file(k) {
            Ok(()) => {
                tracing::info!(file = %k, "retention: removed old {what}");
                gone.push(k.clone());
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => gone.push(k.clone()),
            Err(e) => tracing::warn!(file = %k, "retention: cannot delete {what}: {e}"),
        }
    }
    gone
}

/// Remove what a crash left half-written in `dirs` (`*.part`, `*.tmp`); how many.
pub fn remove_leftovers(dirs: &[PathBuf]) -> usize {
    let mut n = 0;
    for d in dirs {
        let Ok(entries) = std::fs::read_dir(d) else { continue };
        for e in entries.flatten() {
            let name = e.file_name().to_string_lossy().to_string();
            if (name.ends_with(".part") || name.ends_with(".tmp")) && std::fs::remove_file(e.path()).is_ok() {
                tracing::info!(file = %e.path().display(), "removed a file a crash left half-written");
                n += 1;
            }
        }
    }
    n
}

impl Retention {
    pub fn new(
        cfg: &EvidenceConfig,
        data_dir: &Path,
        rings: Vec<Arc<Ring>>,
        events_dirs: Vec<PathBuf>,
        extracts: Extracts,
    ) -> Self {
        Self {
            cfg: cfg.clone(),
            data_dir: data_dir.to_path_buf(),
            rings,
            events_dirs,
            extracts,
            removed_segments: 0,
            removed_event_files: 0,
            removed_extracts: 0,
        }
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
        let mut freed = 0u64;
        for (i, ring) in self.rings.iter().enumerate() {
            let prefix = format!("{i}/");
            let files: Vec<String> = gone.iter().filter_map(|k| k.strip_prefix(&prefix)).map(String::from).collect();
            if !files.is_empty() {
                tracing::info!(camera = %ring.camera, segments = files.len(), "retention: removing the oldest ring segments");
                let (removed, bytes) = ring.remove(&files);
                self.removed_segments += removed;
                freed += bytes;
            }
        }
        short = short.saturating_sub(freed);
        let ring_empty = self.rings.iter().all(|r| r.segments().is_empty());

        // Extracts: their own quota and age; then for free space once the ring is gone.
        let ex = files(&self.extracts.dirs);
        let plan_ex =
            plan(&ex, self.extracts.max_bytes, self.extracts.max_age_ms, now_ms, if ring_empty { short } else { 0 });
        let gone_ex = delete(&plan_ex, "extract");
        self.removed_extracts += gone_ex.len() as u64;
        short = short.saturating_sub(ex.iter().filter(|i| gone_ex.contains(&i.key)).map(|i| i.bytes).sum());
        let left_ex: Vec<&Item> = ex.iter().filter(|i| !gone_ex.contains(&i.key)).collect();

        // Event evidence: its own quota and age; touched for free space only once the ring and
        // the extracts are gone.
        let ev = files(&self.events_dirs);
        let plan_ev = plan(
            &ev,
            self.cfg.events_max_mb * MB,
            i64::from(self.cfg.events_max_age_days) * 86_400_000,
            now_ms,
            if ring_empty && left_ex.is_empty() { short } else { 0 },
        );
        let gone_ev = delete(&plan_ev, "event evidence");
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
            extracts_bytes: left_ex.iter().map(|i| i.bytes).sum(),
            extracts_max_bytes: self.extracts.max_bytes,
            disk_free_bytes: free_bytes(&self.data_dir).unwrap_or(0),
            min_free_bytes: min_free,
            removed_segments: self.removed_segments,
            removed_event_files: self.removed_event_files,
            removed_extracts: self.removed_extracts,
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
