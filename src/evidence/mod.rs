//! Evidence kept on the box: a rolling ring of the camera's own encoded stream (MP4 segments,
//! never re-encoded), a clip per event cut from it, retention that keeps both within their quota
//! and age, and pictures with the detections drawn on them (`anttd detect --annotate`,
//! `anttd overlay`). See docs/evidence.md.

pub mod clip;
pub mod draw;
pub mod extract;
pub mod fetch;
pub mod overlay;
pub mod recorder;
pub mod retention;
pub mod ring;
pub mod signed;
pub mod snapshot;
pub mod worker;

use std::path::{Path, PathBuf};

use serde::Deserialize;

/// `[evidence]` in the config.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(try_from = "EvidenceToml")]
pub struct EvidenceConfig {
    /// Record the ring and cut event clips.
    pub enabled: bool,
    /// Target length of one ring segment (segments are cut on the next keyframe after it).
    pub segment_s: u32,
    pub pre_roll_s: u32,
    pub post_roll_s: u32,
    /// Quota and age of the ring.
    pub ring_max_mb: u64,
    pub ring_max_age_h: u32,
    /// Quota and age of event evidence (clips): kept longer than the ring.
    pub events_max_mb: u64,
    pub events_max_age_days: u32,
    /// Below this much free space on the data directory's disk, the oldest ring segments go
    /// (and then the oldest clips), whatever the quotas say.
    pub min_free_mb: u64,
    /// Publish each camera's newest event snapshot, retained, on `<camera>/snapshot`.
    pub publish_snapshots: bool,
    /// At most one snapshot per camera per this many seconds (the newest wins); 0: no limit.
    pub snapshot_min_interval_s: u32,
}

impl Default for EvidenceConfig {
    fn default() -> Self {
        // The defaults live once, in `EvidenceToml::default`, and are valid by construction.
        Self::unchecked(EvidenceToml::default())
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
struct EvidenceToml {
    enabled: bool,
    segment_s: u32,
    pre_roll_s: u32,
    post_roll_s: u32,
    ring_max_mb: u64,
    ring_max_age_h: u32,
    events_max_mb: u64,
    events_max_age_days: u32,
    min_free_mb: u64,
    publish_snapshots: bool,
    snapshot_min_interval_s: u32,
}

impl Default for EvidenceToml {
    fn default() -> Self {
        Self {
            enabled: false,
            segment_s: 10,
            pre_roll_s: 5,
            post_roll_s: 5,
            ring_max_mb: 2048,
            ring_max_age_h: 24,
            events_max_mb: 1024,
            events_max_age_days: 30,
            min_free_mb: 512,
            publish_snapshots: false,
            snapshot_min_interval_s: 10,
        }
    }
}

impl TryFrom<EvidenceToml> for EvidenceConfig {
    type Error = String;
    fn try_from(t: EvidenceToml) -> Result<Self, String> {
        if !(1..=300).contains(&t.segment_s) {
            return Err(format!("evidence.segment_s must be 1..=300 seconds, not {}", t.segment_s));
        }
        if t.pre_roll_s > 600 || t.post_roll_s > 600 {
            return Err("evidence.pre_roll_s and post_roll_s must be at most 600 seconds".into());
        }
        if t.ring_max_mb == 0 || t.events_max_mb == 0 {
            return Err("evidence.ring_max_mb and events_max_mb must be above 0".into());
        }
        if t.ring_max_age_h == 0 || t.events_max_age_days == 0 {
            return Err("evidence.ring_max_age_h and events_max_age_days must be above 0".into());
        }
        if t.snapshot_min_interval_s > 86_400 {
            return Err(format!(
                "evidence.snapshot_min_interval_s must be 0..=86400 seconds, not {}",
                t.snapshot_min_interval_s
            ));
        }
        Ok(Self::unchecked(t))
    }
}

impl EvidenceConfig {
    /// The fields as given; [`TryFrom`] checks the ranges first.
    fn unchecked(t: EvidenceToml) -> Self {
        Self {
            enabled: t.enabled,
            segment_s: t.segment_s,
            pre_roll_s: t.pre_roll_s,
            post_roll_s: t.post_roll_s,
            ring_max_mb: t.ring_max_mb,
            ring_max_age_h: t.ring_max_age_h,
            events_max_mb: t.events_max_mb,
            events_max_age_days: t.events_max_age_days,
            min_free_mb: t.min_free_mb,
            publish_snapshots: t.publish_snapshots,
            snapshot_min_interval_s: t.snapshot_min_interval_s,
        }
    }
}

/// `<data_dir>/evidence/<camera>/ring`: the camera's segments and their index.
pub fn ring_dir(data_dir: &Path, camera: &str) -> PathBuf {
    data_dir.join("evidence").join(camera).join("ring")
}

/// `<data_dir>/evidence/<camera>/events`: clips (and snapshots) of the camera's events.
pub fn events_dir(data_dir: &Path, camera: &str) -> PathBuf {
    data_dir.join("evidence").join(camera).join("events")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_and_limits() {
        let d = EvidenceConfig::default();
        assert!(!d.enabled);
        assert_eq!((d.segment_s, d.pre_roll_s, d.post_roll_s), (10, 5, 5));
        let bad: Result<EvidenceConfig, _> = EvidenceToml { segment_s: 0, ..EvidenceToml::default() }.try_into();
        assert!(bad.expect_err("0 s segments").contains("segment_s"));
        let bad: Result<EvidenceConfig, _> = EvidenceToml { ring_max_mb: 0, ..EvidenceToml::default() }.try_into();
        assert!(bad.is_err());
        assert!(!d.publish_snapshots, "snapshots cost uplink: opt-in");
        let bad: Result<EvidenceConfig, _> =
            EvidenceToml { snapshot_min_interval_s: 86_401, ..EvidenceToml::default() }.try_into();
        assert!(bad.expect_err("over a day").contains("snapshot_min_interval_s"));
    }
}
