//! One camera's ring: the index of its MP4 segments, on the stream clock and the wall clock,
//! kept in `index.json` next to them so that a restarted daemon still finds what it recorded.

use std::path::{Path, PathBuf};
use std::sync::{Condvar, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};

/// A finished segment: a playable MP4 starting on a keyframe.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Segment {
    /// File name inside the ring directory.
    pub file: String,
    /// Stream time (seconds since the camera started in this run) of its first and last frame.
    pub start_s: f64,
    pub end_s: f64,
    /// Wall-clock times of the same, milliseconds since the Unix epoch.
    pub start_ms: i64,
    pub end_ms: i64,
    pub bytes: u64,
}

#[derive(Debug, Default, Serialize, Deserialize)]
struct Index {
    segments: Vec<Segment>,
}

#[derive(Debug, Default)]
struct RingState {
    segments: Vec<Segment>,
    /// A recorder is writing segments (false: nothing to wait for).
    recording: bool,
    /// The recorder has stopped for good (end of a file, shutdown): no more segments will come.
    finished: bool,
}

/// The ring of one camera, shared by its recorder (which adds segments), the clip worker and
/// retention (which read and remove them).
#[derive(Debug)]
pub struct Ring {
    pub camera: String,
    pub dir: PathBuf,
    state: Mutex<RingState>,
    changed: Condvar,
}

pub fn ms(t: SystemTime) -> i64 {
    t.duration_since(UNIX_EPOCH).map(|d| d.as_millis() as i64).unwrap_or(0)
}

pub fn from_ms(ms: i64) -> SystemTime {
    UNIX_EPOCH + Duration::from_millis(ms.max(0) as u64)
}

impl Ring {
    /// Open (create) the ring directory and load its index. Segments whose file is gone are
    /// forgotten; files not in the index (a segment being written when the daemon died, so
    /// without its `moov`) are deleted.
    pub fn open(dir: &Path, camera: &str) -> anyhow::Result<Self> {
        use anyhow::Context;
        std::fs::create_dir_all(dir).with_context(|| format!("camera {camera}: cannot create {}", dir.display()))?;
        let index: Index = match std::fs::read(dir.join("index.json")) {
            Ok(bytes) => serde_json::from_slice(&bytes).unwrap_or_else(|e| {
                tracing::warn!(camera, dir = %dir.display(), "ring index unreadable ({e}): starting a new one");
                Index::default()
            }),
            Err(_) => Index::default(),
        };
        let segments: Vec<Segment> = index.segments.into_iter().filter(|s| dir.join(&s.file).is_file()).collect();
        if let Ok(entries) = std::fs::read_dir(dir) {
            for e in entries.flatten() {
                let name = e.file_name().to_string_lossy().to_string();
                if name.ends_with(".mp4") && !segments.iter().any(|s| s.file == name) {
                    tracing::info!(camera, file = %name, "removing an unfinished ring segment");
                    let _ = std::fs::remove_file(e.path());
                }
            }
        }
        let ring = Self {
            camera: camera.into(),
            dir: dir.to_path_buf(),
            state: Mutex::new(RingState { segments, recording: false, finished: false }),
            changed: Condvar::new(),
        };
        ring.save();
        Ok(ring)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, RingState> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub fn segments(&self) -> Vec<Segment> {
        self.lock().segments.clone()
    }

    pub fn add(&self, seg: Segment) {
        // On disk before the index names it: a power cut never leaves an index pointing at
        // data still in the page cache.
        if let Err(e) = std::fs::File::open(self.dir.join(&seg.file)).and_then(|f| f.sync_all()) {
            tracing::warn!(camera = %self.camera, file = %seg.file, "cannot sync a ring segment: {e}");
        }
        {
            let mut st = self.lock();
            st.segments.push(seg);
            st.segments.sort_by_key(|s| s.start_ms);
        }
        self.save();
        self.changed.notify_all();
    }

    /// Forget (and delete) the named segments.
    /// Delete the named segments and forget them; how many that were, and their bytes. A
    /// segment that cannot be deleted stays in the index (and is tried again), so the index
    /// never loses a file that still takes space.
    pub fn remove(&self, files: &[String]) -> (u64, u64) {
        let mut gone = Vec::new();
        for f in files {
            match std::fs::remove_file(self.dir.join(f)) {
                Ok(()) => gone.push(f.as_str()),
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => gone.push(f.as_str()),
                Err(e) => {
                    tracing::warn!(camera = %self.camera, file = %f, "retention: cannot delete a ring segment: {e}")
                }
            }
        }
        let freed = {
            let mut st = self.lock();
            let before = st.segments.len();
            let freed = st.segments.iter().filter(|s| gone.contains(&s.file.as_str())).map(|s| s.bytes).sum();
            st.segments.retain(|s| !gone.contains(&s.file.as_str()));
            ((before - st.segments.len()) as u64, freed)
        };
        self.save();
        freed
    }

    pub fn set_recording(&self, on: bool) {
        self.lock().recording = on;
        self.changed.notify_all();
    }

    /// Whether clips can be expected: a recorder is writing or segments exist.
    pub fn is_recording(&self) -> bool {
        let st = self.lock();
        st.recording || !st.segments.is_empty()
    }

    /// A new recorder takes over the ring (after a config reload).
    pub fn restart(&self) {
        self.lock().finished = false;
    }

    pub fn finish(&self) {
        let mut st = self.lock();
        st.finished = true;
        st.recording = false;
        drop(st);
        self.changed.notify_all();
    }

    pub fn is_finished(&self) -> bool {
        self.lock().finished
    }

    /// The wall-clock time up to which finished segments reach (ms), if any.
    pub fn covered_until_ms(&self) -> Option<i64> {
        self.lock().segments.iter().map(|s| s.end_ms).max()
    }

    /// Wait until the ring covers `until_ms`, the recorder has finished, or `timeout` passed.
    pub fn wait_cover(&self, until_ms: i64, timeout: Duration) -> bool {
        let st = self.lock();
        let (st, _) = self
            .changed
            .wait_timeout_while(st, timeout, |st| {
                !st.finished && st.segments.iter().map(|s| s.end_ms).max().is_none_or(|e| e < until_ms)
            })
            .unwrap_or_else(|p| p.into_inner());
        st.finished || st.segments.iter().map(|s| s.end_ms).max().is_some_and(|e| e >= until_ms)
    }

    pub fn bytes(&self) -> u64 {
        self.lock().segments.iter().map(|s| s.bytes).sum()
    }

    fn save(&self) {
        let index = Index { segments: self.segments() };
        let tmp = self.dir.join("index.json.tmp");
        // Written aside, synced and renamed, so neither a crash nor a power cut leaves half an index.
        let res = serde_json::to_vec_pretty(&index)
            .map_err(anyhow::Error::from)
            .and_then(|b| std::fs::write(&tmp, b).map_err(anyhow::Error::from))
            .and_then(|()| crate::durable::rename(&tmp, &self.dir.join("index.json")));
        if let Err(e) = res {
            tracing::warn!(camera = %self.camera, dir = %self.dir.display(), "cannot write the ring index: {e:#}");
        }
    }
}

/// The segments a clip from `from_ms` to `to_ms` needs: every one that overlaps the range, in
/// order. The first one starts on a keyframe at or before `from_ms` when the ring reaches back
/// that far.
pub fn covering(segments: &[Segment], from_ms: i64, to_ms: i64) -> Vec<Segment> {
    let mut v: Vec<Segment> = segments.iter().filter(|s| s.end_ms >= from_ms && s.start_ms <= to_ms).cloned().collect();
    v.sort_by_key(|s| s.start_ms);
    v
}

#[cfg(test)]
mod tests {
    use super::*;

    fn seg(i: i64) -> Segment {
        Segment {
            file: format!("{i}.mp4"),
            start_s: i as f64 * 10.0,
            end_s: i as f64 * 10.0 + 9.9,
            start_ms: i * 10_000,
            end_ms: i * 10_000 + 9_900,
            bytes: 100,
        }
    }

    #[test]
    fn covering_takes_overlapping_segments_in_order() {
        let segs = vec![seg(2), seg(0), seg(1), seg(3)];
        let files: Vec<String> = covering(&segs, 12_000, 25_000).into_iter().map(|s| s.file).collect();
        assert_eq!(files, ["1.mp4", "2.mp4"]);
        assert!(covering(&segs, 50_000, 60_000).is_empty());
    }

    #[test]
    fn index_survives_a_restart_and_drops_strays() {
        let dir = tempfile::tempdir().expect("dir");
        let ring = Ring::open(dir.path(), "c").expect("open");
        std::fs::write(dir.path().join("0.mp4"), b"x").expect("write");
        ring.add(seg(0));
        std::fs::write(dir.path().join("99.mp4"), b"half").expect("write");
        drop(ring);
        let ring = Ring::open(dir.path(), "c").expect("reopen");
        assert_eq!(ring.segments(), vec![seg(0)]);
        assert!(!dir.path().join("99.mp4").exists(), "an unindexed segment is unfinished: removed");
        assert_eq!(ring.covered_until_ms(), Some(9_900));
        assert!(ring.wait_cover(9_000, Duration::ZERO));
        assert!(!ring.wait_cover(20_000, Duration::from_millis(1)));
        ring.finish();
        assert!(ring.wait_cover(20_000, Duration::ZERO), "a finished ring waits no more");
    }
}
