//! `[tracker]`: the tracker's settings, checked where they are read.

use serde::Deserialize;

/// Tracker settings, the `[tracker]` table of the configuration.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TrackerConfig {
    /// Detections at or above this score are "high": they are matched first and may revive
    /// lost tracks.
    pub high_thresh: f32,
    /// Detections below this score are ignored; between it and `high_thresh` they only extend
    /// confirmed tracks.
    pub low_thresh: f32,
    /// An unmatched high detection starts a track only at or above this score (so it takes
    /// effect only when at least `high_thresh`). Default equal to `high_thresh`: at 3–5
    /// detections a second a rider entering the picture, cut by its edge, often scores 0.5–0.6,
    /// and waiting for a higher score costs it the first half second of its track.
    pub new_track_thresh: f32,
    /// Minimum IoU between a track's predicted box and a high detection to match them.
    pub match_iou: f32,
    /// Matches needed to confirm a track (0 behaves as 1: confirmed at once).
    pub min_hits: u32,
    /// Two matches at least this many seconds apart also confirm a track, so that at a low
    /// detect rate an object is confirmed within about half a second.
    pub confirm_s: f64,
    /// Seconds a confirmed track may go without a match before it ends.
    pub max_lost_s: f64,
    /// Seconds a track that was standing still when it was lost may go without a match (at
    /// least `max_lost_s`): a parked car hidden by a passing bus keeps its id.
    pub max_lost_stationary_s: f64,
}

impl Default for TrackerConfig {
    fn default() -> Self {
        Self {
            high_thresh: 0.5,
            low_thresh: 0.1,
            new_track_thresh: 0.5,
            match_iou: 0.2,
            min_hits: 3,
            confirm_s: 0.3,
            max_lost_s: 1.5,
            max_lost_stationary_s: 10.0,
        }
    }
}

impl TrackerConfig {
    /// Checks the ranges that serde cannot: finite values, thresholds in `[0, 1]`,
    /// `low_thresh <= high_thresh`, `match_iou` in `(0, 1]` and `max_lost_s >= 0`.
    pub fn validate(&self) -> Result<(), String> {
        let unit = |name: &str, v: f32| {
            if v.is_finite() && (0.0..=1.0).contains(&v) {
                Ok(())
            } else {
                Err(format!("tracker.{name} must be between 0 and 1, got {v}"))
            }
        };
        unit("high_thresh", self.high_thresh)?;
        unit("low_thresh", self.low_thresh)?;
        unit("new_track_thresh", self.new_track_thresh)?;
        unit("match_iou", self.match_iou)?;
        if self.low_thresh > self.high_thresh {
            return Err(format!(
                "tracker.low_thresh ({}) must not exceed tracker.high_thresh ({})",
                self.low_thresh, self.high_thresh
            ));
        }
        if self.match_iou <= 0.0 {
            return Err("tracker.match_iou must be greater than 0".into());
        }
        for (name, v) in [
            ("confirm_s", self.confirm_s),
            ("max_lost_s", self.max_lost_s),
            ("max_lost_stationary_s", self.max_lost_stationary_s),
        ] {
            if !v.is_finite() || v < 0.0 {
                return Err(format!("tracker.{name} must be a non-negative number of seconds, got {v}"));
            }
        }
        Ok(())
    }
}
