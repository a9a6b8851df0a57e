//! What `anttd bench` reports, and its text.

use std::fmt::Write as _;

use crate::health::timing::{Stage, StageSummary};

/// One camera's part of the result.
#[derive(Debug, Clone)]
pub struct CameraResult {
    pub id: String,
    pub frames: u64,
    pub inferences: u64,
    pub events: u64,
    pub fps: f64,
    pub latency: StageSummary,
}

#[derive(Debug, Clone)]
pub struct BenchReport {
    pub model: String,
    pub settings: String,
    pub seconds: f64,
    pub frames: u64,
    pub inferences: u64,
    /// Of the inferences, those on a mosaic of what moved (motion regions).
    pub mosaics: u64,
    pub events: u64,
    pub cpu_s: f64,
    pub peak_rss_bytes: u64,
    /// RSS after the model was loaded and run (before any camera started).
    pub rss_model_bytes: u64,
    /// RSS sampled once a second during the run (bytes).
    pub rss_samples: Vec<u64>,
    /// Of the RSS at the end of the run, the clean file-backed part (shared libraries), bytes.
    pub rss_file_bytes: u64,
    pub raw_ms: StageSummary,
    pub raw_fps: f64,
    /// Mean raw inference time before the pipeline, in its pauses, and after it (ms): how far the
    /// host's speed drifted during the run.
    /// (None: no runs there, e.g. no pauses in real time.)
    pub raw_parts_ms: [Option<f64>; 3],
    /// Pipeline ÷ raw inference rate in each stretch between two pauses for raw runs (see
    /// [`BenchOptions::raw_every`]), each against the raw runs that bracket it.
    pub segment_ratios: Vec<f64>,
    /// All timed stretches pooled against all raw runs in the pauses (see [`pooled_ratio`]).
    pub steady_ratio: Option<f64>,
    pub stages: Vec<(Stage, StageSummary)>,
    pub cameras: Vec<CameraResult>,
}

impl BenchReport {
    pub fn fps(&self) -> f64 {
        self.frames as f64 / self.seconds.max(1e-9)
    }

    pub fn render(&self) -> String {
        let mut s = String::new();
        let mb = |b: u64| b as f64 / (1024.0 * 1024.0);
        let _ = writeln!(s, "model {}, {}", self.model, self.settings);
        let _ = writeln!(
            s,
            "processed: {} frames ({} inferences{}, {} events) in {:.1} s = {:.2} fps",
            self.frames,
            self.inferences,
            if self.mosaics > 0 { format!(", {} of them mosaics of what moved", self.mosaics) } else { String::new() },
            self.events,
            self.seconds,
            self.fps()
        );
        let inf_fps = self.inferences as f64 / self.seconds.max(1e-9);
        let _ = writeln!(
            s,
            "raw inference (same session, {} runs): {:.1} ms mean, {:.1} ms median = {:.2} fps; mean before / in the pauses / after the pipeline {} ms",
            self.raw_ms.count,
            self.raw_ms.mean_ms,
            self.raw_ms.median_ms,
            self.raw_fps,
            self.raw_parts_ms.map(|m| m.map_or("-".to_string(), |m| format!("{m:.1}"))).join(" / ")
        );
        let _ = writeln!(
            s,
            "whole run (start-up included) pipeline inferences/s ÷ raw = {:.1} %",
            100.0 * inf_fps / self.raw_fps.max(1e-9)
        );
        if let Some(steady) = self.steady_ratio {
            let mut r = self.segment_ratios.clone();
            r.sort_by(f64::total_cmp);
            let q = |p: f64| r.get(((r.len().max(1) - 1) as f64 * p).round() as usize).map_or(f64::NAN, |x| 100.0 * x);
            let _ = writeln!(
                s,
                "steady state, interleaved: pipeline ÷ raw = {:.1} %; per stretch ({}): median {:.1} %, quartiles {:.1}..{:.1} %, range {:.1}..{:.1} %",
                100.0 * steady,
                r.len(),
                q(0.5),
                q(0.25),
                q(0.75),
                q(0.0),
                q(1.0)
            );
        }
        let per = |n: u64| if n == 0 { 0.0 } else { self.cpu_s / n as f64 };
        let _ = writeln!(
            s,
            "cpu: {:.1} s user+system = {:.3} CPU-s per frame, {:.3} per inference, {:.2} CPU-s per second",
            self.cpu_s,
            per(self.frames),
            per(self.inferences),
            self.cpu_s / self.seconds.max(1e-9)
        );
        let (lo, hi) =
            (self.rss_samples.iter().copied().min().unwrap_or(0), self.rss_samples.iter().copied().max().unwrap_or(0));
        let _ = writeln!(
            s,
            "memory: peak RSS {:.1} MB; with the model loaded and run, before the cameras: {:.1} MB; during the run {:.1}..{:.1} MB, at the end {:.1} MB ({} samples, 1/s), of it {:.1} MB clean file-backed (shared libraries)",
            mb(self.peak_rss_bytes),
            mb(self.rss_model_bytes),
            mb(lo),
            mb(hi),
            mb(self.rss_samples.last().copied().unwrap_or(0)),
            self.rss_samples.len(),
            mb(self.rss_file_bytes)
        );
        if self.rss_samples.len() > 60 {
            let per_min: Vec<String> = self.rss_samples.iter().step_by(60).map(|&b| format!("{:.1}", mb(b))).collect();
            let _ = writeln!(s, "RSS once a minute (MB): {}", per_min.join(" "));
        }
        let _ = writeln!(s, "{:<24} {:>8} {:>10} {:>10} {:>10}", "stage (ms)", "count", "median", "p99", "mean");
        for (st, m) in &self.stages {
            let _ = writeln!(
                s,
                "{:<24} {:>8} {:>10.3} {:>10.3} {:>10.3}",
                st.name(),
                m.count,
                m.median_ms,
                m.p99_ms,
                m.mean_ms
            );
        }
        let _ = writeln!(
            s,
            "{:<24} {:>8} {:>10} {:>8} {:>8} {:>12} {:>12} {:>14}",
            "camera", "frames", "inferences", "events", "fps", "lat p50 ms", "lat p99 ms", "interval ms"
        );
        for c in &self.cameras {
            // The camera's mean time between two of its inferences.
            let interval = 1000.0 * self.seconds / c.inferences.max(1) as f64;
            let _ = writeln!(
                s,
                "{:<24} {:>8} {:>10} {:>8} {:>8.2} {:>12.1} {:>12.1} {:>14.1}",
                c.id, c.frames, c.inferences, c.events, c.fps, c.latency.median_ms, c.latency.p99_ms, interval
            );
        }
        if self.cameras.len() > 1 {
            let f: Vec<f64> = self.cameras.iter().map(|c| c.fps).collect();
            let (min, max) = f.iter().fold((f64::MAX, 0.0f64), |(a, b), &x| (a.min(x), b.max(x)));
            let _ = writeln!(s, "fairness: slowest camera at {:.1} % of the fastest", 100.0 * min / max.max(1e-9));
        }
        s
    }
}
