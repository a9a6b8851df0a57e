//! Running a scenario: frames at the detect rate through the detector model, then through the
//! tracker and rules exactly as `anttd replay` does, and judging the events against the truth.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use super::actors::Seen;
use super::camera::Camera;
use super::carrier::{CarrierModel, Followed, SimCarrier};
use super::detector::{DetectorModel, SimDetector};
use super::render::{self, Renderer};
use super::scenario::{Expect, Scenario, config_toml};
use super::tracking::{self, Tracking};
use crate::analytics::CameraAnalytics;
use crate::config::Config;
use crate::detect::manifest::{Groups, LabelMap};
use crate::replay::{self, FrameRecord, Header, Output};
use crate::track::follow::Follower;

/// Frame wall-clock times start here (2026-11-28T00:00:00Z), so event times map back to
/// scenario times exactly.
const BASE_MS: u64 = 1_795_824_000_000;

#[derive(Debug, thiserror::Error)]
pub enum SimError {
    #[error("no scenario `{0}` (scenarios: {list})", list = super::scenario::NAMES.join(", "))]
    Scenario(String),
    #[error("no geometry `{0}` (geometries: {list})", list = super::camera::GEOMETRIES.join(", "))]
    Geometry(String),
    #[error("the simulated config is refused (a bug in the simulator): {0}")]
    Config(String),
    #[error("replay: {0}")]
    Replay(#[from] replay::ReplayError),
    #[error(
        "boxes carried on {carry} frames a second with detections at {detect}: give a multiple of the detect rate above it"
    )]
    Rate { detect: u32, carry: u32 },
}

/// How often the simulated camera detects, and on how many decoded frames a second the boxes it
/// found are carried in between, if at all, and by what.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Rate {
    pub detect: u32,
    pub carry: Option<u32>,
    pub carrier: Carrier,
}

/// What carries the boxes between detections in a simulated run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Default, clap::ValueEnum)]
pub enum Carrier {
    /// A model of the carrier, its habits measured on vtest.avi ([`super::carrier`]).
    #[default]
    Model,
    /// The daemon's own carrier and follower ([`crate::track::follow`]) on rendered grey
    /// pictures of the scene ([`super::render`]).
    Pixels,
}

impl Rate {
    /// Detections only.
    pub fn detect(fps: u32) -> Self {
        Self { detect: fps, carry: None, carrier: Carrier::Model }
    }

    /// Detections at `detect` a second, and boxes carried on `carry` frames a second if given.
    pub fn new(detect: u32, carry: Option<u32>) -> Result<Self, SimError> {
        carry.map_or(Ok(Self::detect(detect)), |c| Self::carried(detect, c))
    }

    /// Detections at `detect` a second, boxes carried on `carry` frames a second (a multiple of
    /// `detect` above it: every so many frames is detected on).
    pub fn carried(detect: u32, carry: u32) -> Result<Self, SimError> {
        if detect == 0 || carry <= detect || !carry.is_multiple_of(detect) {
            return Err(SimError::Rate { detect, carry });
        }
        Ok(Self { detect, carry: Some(carry), carrier: Carrier::Model })
    }

    /// The same rates, the boxes carried by `carrier`.
    pub fn by(self, carrier: Carrier) -> Self {
        Self { carrier, ..self }
    }

    /// Frames a second: the carry rate, or the detect rate.
    pub fn frame_fps(&self) -> u32 {
        self.carry.unwrap_or(self.detect)
    }

    /// Every this many frames is detected on.
    fn every(&self) -> u64 {
        u64::from(self.frame_fps() / self.detect.max(1))
    }

    /// `3`, or `3+15` when carried on 15 frames a second (`3+15px` by the carrier on pictures).
    pub fn label(&self) -> String {
        match (self.carry, self.carrier) {
            (Some(c), Carrier::Model) => format!("{}+{c}", self.detect),
            (Some(c), Carrier::Pixels) => format!("{}+{c}px", self.detect),
            (None, _) => self.detect.to_string(),
        }
    }
}

/// The shipped model's groups (models/yolov12n.toml).
pub fn groups() -> Groups {
    Groups {
        person: vec!["person".into()],
        vehicle: vec!["car".into(), "bus".into(), "truck".into()],
        motorcycle: vec!["motorcycle".into()],
    }
}

/// The recording header of a simulated run: the shipped model's labels and groups.
pub fn header() -> Header {
    Header {
        format: replay::FORMAT.into(),
        version: replay::VERSION,
        model: "sim-yolov12n".into(),
        labels: super::COCO_LABELS.iter().map(|l| l.to_string()).collect(),
        groups: groups(),
    }
}

/// What the camera sees and the detector makes of it, frame by frame.
pub struct Frames {
    pub records: Vec<FrameRecord>,
    /// Per frame, the road users in the picture (before the detector).
    pub seen: Vec<Vec<Seen>>,
}

/// The frames of `s` on `cam` at `fps` (times k/fps), detections drawn with `seed`.
pub fn frames(s: &Scenario, cam: &Camera, fps: u32, seed: u64) -> Frames {
    frames_at(s, cam, Rate::detect(fps), seed)
}

/// The frames of `s` on `cam` at `rate.frame_fps()` (times k/that), detections on every
/// `rate.every()`th drawn with `seed` (the same as without carrying), boxes carried on the others.
pub fn frames_at(s: &Scenario, cam: &Camera, rate: Rate, seed: u64) -> Frames {
    let labels = match LabelMap::new(header().labels, &groups()) {
        Ok(l) => l,
        // The label list and groups are constants of this module; they always fit.
        Err(e) => unreachable!("COCO labels and groups disagree: {e}"),
    };
    let mut det = SimDetector::new(DetectorModel::default(), seed);
    let mut carrier = SimCarrier::new(CarrierModel::default(), seed);
    // The daemon's carrier carries as the analytics go, guided by the tracks (as
    // `pipeline::CameraWork` does): the frames are analysed here as they are made, and again,
    // from their records, when the run is judged.
    let mut pixels = (rate.carry.is_some() && rate.carrier == Carrier::Pixels).then(|| {
        let analytics = config(s, cam, rate.detect).ok().and_then(|cfg| {
            let cam_cfg = cfg.cameras.first()?;
            Some(CameraAnalytics::new(cam_cfg, &cfg.tracker, Arc::new(labels.clone())))
        });
        (Renderer::new((cam.width, cam.height), seed), Follower::new(), analytics)
    });
    let (mut scratch, mut events) = (replay::FrameScratch::default(), Vec::new());
    let fps = rate.frame_fps();
    let n = (s.duration_s * f64::from(fps)).floor() as u64;
    let mut out = Frames { records: Vec::new(), seen: Vec::new() };
    // The boxes of the frame before that found a road user: what the carrier follows.
    let mut followed: Vec<Followed> = Vec::new();
    for k in 0..=n {
        let t = k as f64 / f64::from(fps);
        let seen: Vec<Seen> = s.actors.iter().enumerate().filter_map(|(i, a)| a.seen(i, cam, t)).collect();
        let wall = SystemTime::UNIX_EPOCH + Duration::from_millis(BASE_MS + (t * 1000.0).round() as u64);
        let size = (cam.width, cam.height);
        let detected = k % rate.every() == 0;
        let found = if detected { det.detect_users(&seen, cam.width, cam.height) } else { Vec::new() };
        let dets: Vec<crate::detect::Detection> = found.iter().map(|(d, _)| *d).collect();
        let boxes: Vec<(usize, crate::detect::BBox)> = if let Some((renderer, follower, analytics)) = &mut pixels {
            let pyramid = renderer.render(&seen).pyramid();
            let scale = (render::SCALE, render::SCALE);
            let detections = detected.then_some(dets.as_slice());
            match analytics {
                Some(a) => a.carry_onto(follower, t, pyramid, scale, detections).to_vec(),
                None => follower.onto(t, pyramid, scale, detections).to_vec(),
            }
        } else {
            let carried = match rate.carry {
                Some(_) if k > 0 => carrier.carry(t, &seen, &followed, &dets, size),
                _ => Vec::new(),
            };
            followed = found
                .iter()
                .enumerate()
                .filter_map(|(i, (d, u))| {
                    Some(Followed::new(i, &d.bbox, seen.iter().find(|s| Some(s.actor) == *u)?, t))
                })
                .collect();
            followed.extend(carried.iter().enumerate().map(|(j, c)| c.next.at(dets.len() + j)));
            carried.iter().map(|c| (c.from, c.bbox)).collect()
        };
        out.records.push(match (detected, rate.carry) {
            (true, None) => FrameRecord::new("sim", t, wall, size, &dets, &labels),
            (true, Some(_)) => FrameRecord::new("sim", t, wall, size, &dets, &labels).with_carried(&boxes),
            (false, _) => FrameRecord::carried("sim", t, wall, size, &boxes),
        });
        if let (Some((_, _, Some(analytics))), Some(record)) = (&mut pixels, out.records.last()) {
            replay::play_frame(analytics, record, &mut scratch, &mut events);
            events.clear();
        }
        out.seen.push(seen);
    }
    out
}

/// How one rule did.
#[derive(Debug, Clone, PartialEq)]
pub struct RuleResult {
    pub rule: String,
    pub kind: String,
    pub expected: usize,
    /// Starts that match an expected situation (at most `expected`).
    pub found: usize,
    /// Starts beyond the expected ones.
    pub false_alarms: usize,
    /// First start − first time any involved road user was in the picture, seconds.
    pub latency_s: Option<f64>,
    /// Mean of |reported − true| / true over the starts, percent.
    pub speed_err_pct: Option<f64>,
    /// Whether `anttd check` warns that this camera cannot be relied on for the situation: an
    /// involved road user is faster than the rule's speed reach
    /// ([`crate::config::feasibility::SpeedView::max_kmh`]), or weaves where the view is too
    /// short for a weave ([`crate::config::feasibility::weave_shortfalls`]).
    pub beyond_check: bool,
}

/// Line counts against the truth, per direction (`toward`, `away`).
#[derive(Debug, Clone, PartialEq)]
pub struct LineResult {
    pub line: String,
    /// True crossings.
    pub truth: [usize; 2],
    /// True crossings counted: per road user, as many as it crossed at most.
    pub counted: [usize; 2],
    /// Counts beyond those: a road user counted more often than it crossed, or a track
    /// counting when it held no road user.
    pub extra: [usize; 2],
}

#[derive(Debug, Clone)]
pub struct Outcome {
    pub scenario: String,
    pub geometry: String,
    /// The detect rate, and the carry rate if boxes were carried.
    pub rate: Rate,
    pub frames: usize,
    /// `object` starts: confirmed tracks.
    pub tracks: usize,
    pub rules: Vec<RuleResult>,
    pub lines: Vec<LineResult>,
    /// Every event and counts message, as published.
    pub messages: Vec<serde_json::Value>,
    /// What the tracker made of the road users.
    pub tracking: Tracking,
}

/// The config `anttd replay` would be given for `s` on `cam`.
pub fn config(s: &Scenario, cam: &Camera, fps: u32) -> Result<Config, SimError> {
    Config::from_str(Path::new("sim.toml"), &config_toml(s, cam, fps)).map_err(|e| SimError::Config(e.to_string()))
}

/// Scenario time of an event's `ts`.
fn event_time(v: &serde_json::Value) -> Option<f64> {
    let ms = crate::event::ts_ms(v["ts"].as_str()?)?;
    Some((i128::from(ms) - i128::from(BASE_MS)) as f64 / 1000.0)
}

/// The scenario lines' directions, as [`config`] names them: index 0 towards the camera, 1 away.
pub const DIRECTIONS: [&str; 2] = ["toward", "away"];

/// A count at a line (a `line_cross` start event): its line, track id and direction (index
/// into [`DIRECTIONS`]).
pub fn line_count(v: &serde_json::Value) -> Option<(&str, u64, usize)> {
    if v["kind"] != "line_cross" || v["type"] != "start" {
        return None;
    }
    let direction = DIRECTIONS.iter().position(|d| v["direction"] == *d)?;
    Some((v["line"].as_str()?, v["track_id"].as_u64()?, direction))
}

/// A road user crossing a line in truth: between frame `frame - 1` and `frame`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TrueCrossing {
    pub frame: usize,
    pub actor: usize,
    /// 0 toward the camera, 1 away.
    pub direction: usize,
}

/// The road users of `s` crossing the line `y` metres out between two frames of `fr`. A
/// crossing is true when the road user is in the picture on both frames around it: one made
/// out of sight cannot be counted.
pub fn true_crossings(s: &Scenario, fr: &Frames, fps: u32, y: f64) -> Vec<TrueCrossing> {
    let dt = 1.0 / f64::from(fps);
    let mut out = Vec::new();
    for k in 1..fr.seen.len() {
        let (ta, tb) = ((k - 1) as f64 * dt, k as f64 * dt);
        for (i, a) in s.actors.iter().enumerate() {
            if !(a.path.present(ta) && a.path.present(tb)) {
                continue;
            }
            let in_pic = |k: usize| fr.seen[k].iter().any(|x| x.actor == i);
            let (ya, yb) = (a.path.position(ta).1, a.path.position(tb).1);
            if (ya < y) != (yb < y) && in_pic(k - 1) && in_pic(k) {
                out.push(TrueCrossing { frame: k, actor: i, direction: usize::from(yb > ya) });
            }
        }
    }
    out
}

/// Per road user (`None`: a count made by a track holding none) and direction, its true
/// crossings and its counts (`counts`: each count's road user and direction).
pub fn tally(
    truth: &[TrueCrossing],
    counts: &[(Option<usize>, usize)],
) -> BTreeMap<(Option<usize>, usize), (usize, usize)> {
    let mut out: BTreeMap<(Option<usize>, usize), (usize, usize)> = BTreeMap::new();
    for c in truth {
        out.entry((Some(c.actor), c.direction)).or_default().0 += 1;
    }
    for &key in counts {
        out.entry(key).or_default().1 += 1;
    }
    out
}

/// Run `s` on `cam` at `fps` with `seed` and judge it.
pub fn run(s: &Scenario, fps: u32, cam: &Camera, seed: u64) -> Result<Outcome, SimError> {
    run_at(s, Rate::detect(fps), cam, seed)
}

/// [`run`] at `rate`: detections, and boxes carried between them if it says so.
pub fn run_at(s: &Scenario, rate: Rate, cam: &Camera, seed: u64) -> Result<Outcome, SimError> {
    // The camera's `detect_fps` is the detect rate: what `anttd check` judges the rules by.
    let cfg = config(s, cam, rate.detect)?;
    let fr = frames_at(s, cam, rate, seed);
    let fps = rate.frame_fps();
    let mut messages: Vec<serde_json::Value> = Vec::new();
    // Through replay's own loop, from the same JSON lines a recording holds.
    let lines = fr.records.iter().enumerate().map(|(i, f)| {
        serde_json::to_string(f).map(|l| (i + 2, l)).map_err(|e| replay::ReplayError::Io(std::io::Error::other(e)))
    });
    replay::run_frames(&cfg, 1, header(), lines, |m| {
        let v = match m {
            Output::Event(e) => serde_json::from_slice(&e.to_json()),
            Output::Counts(c) => serde_json::from_slice(&c.to_json()),
        };
        messages.push(v.map_err(std::io::Error::other)?);
        Ok(())
    })?;
    let dt = 1.0 / f64::from(fps);
    let first_seen = |actors: &[usize]| {
        fr.seen
            .iter()
            .enumerate()
            .find(|(_, seen)| seen.iter().any(|x| actors.contains(&x.actor)))
            .map(|(k, _)| k as f64 * dt)
    };
    let starts = |pred: &dyn Fn(&serde_json::Value) -> bool| -> Vec<&serde_json::Value> {
        messages.iter().filter(|v| v["type"] == "start" && pred(v)).collect()
    };
    let beyond = beyond_check(s, &cfg);
    let mut rules = Vec::new();
    for e in &s.expect {
        let kind = s.rules.iter().find(|r| r.name == e.rule).map_or("?", |r| r.kind);
        let got = starts(&|v| v["rule"] == e.rule);
        let t0 = first_seen(&e.actors);
        let latency_s = got.first().and_then(|v| event_time(v)).zip(t0).map(|(t, t0)| t - t0).filter(|_| e.count > 0);
        // The reported speed against the true speed of the involved road user it is closest to
        // (speeding), or the involved road users' mean (racing): events name tracks, not actors.
        let errs: Vec<f64> = got
            .iter()
            .filter_map(|v| {
                let t = event_time(v)?;
                let truths: Vec<f64> = e
                    .actors
                    .iter()
                    .filter(|&&a| s.actors[a].path.present(t))
                    .map(|&a| s.actors[a].path.speed_kmh(t))
                    .filter(|v| *v > 0.0)
                    .collect();
                if truths.is_empty() {
                    return None;
                }
                match kind {
                    "speeding" => {
                        let r = v["speed_kmh"].as_f64()?;
                        truths.iter().map(|tr| (r - tr).abs() / tr).min_by(f64::total_cmp)
                    }
                    "racing" => {
                        let r = v["mean_kmh"].as_f64()?;
                        let tr = truths.iter().sum::<f64>() / truths.len() as f64;
                        Some((r - tr).abs() / tr)
                    }
                    _ => None,
                }
            })
            .collect();
        let speed_err_pct =
            (!errs.is_empty() && e.count > 0).then(|| 100.0 * errs.iter().sum::<f64>() / errs.len() as f64);
        rules.push(RuleResult {
            rule: e.rule.to_string(),
            kind: kind.to_string(),
            expected: e.count,
            found: got.len().min(e.count),
            false_alarms: got.len().saturating_sub(e.count),
            latency_s,
            speed_err_pct,
            beyond_check: e.count > 0 && beyond(e),
        });
    }
    let (tracking, owners) = tracking::measure(&cfg, &fr);
    let mut lines_out = Vec::new();
    for (name, y, _, _) in &s.lines {
        // Each count, as the road user its track held at the frame it was made.
        let counts: Vec<(Option<usize>, usize)> = messages
            .iter()
            .filter_map(|v| {
                let (line, id, direction) = line_count(v)?;
                let k = (event_time(v)? * f64::from(fps)).round() as usize;
                (line == *name).then(|| (owners.of(k, id), direction))
            })
            .collect();
        let (mut truth, mut counted, mut extra) = ([0, 0], [0, 0], [0, 0]);
        for ((_, direction), (t, c)) in tally(&true_crossings(s, &fr, fps, *y), &counts) {
            truth[direction] += t;
            counted[direction] += t.min(c);
            extra[direction] += c.saturating_sub(t);
        }
        lines_out.push(LineResult { line: name.to_string(), truth, counted, extra });
    }
    Ok(Outcome {
        scenario: s.name.to_string(),
        geometry: cam.name.to_string(),
        rate,
        frames: fr.records.len(),
        tracks: starts(&|v| v["kind"] == "object").len(),
        rules,
        lines: lines_out,
        tracking,
        messages,
    })
}

/// Whether `anttd check`'s feasibility warnings on the scenario's camera cover an expected
/// situation: see [`RuleResult::beyond_check`].
fn beyond_check<'a>(s: &'a Scenario, cfg: &Config) -> impl Fn(&Expect) -> bool + 'a {
    use crate::config::feasibility::{speed_views, weave_shortfalls};
    let (views, weave_short) = cfg
        .cameras
        .first()
        .map(|cam| (speed_views(cam), weave_shortfalls(cam).into_iter().map(|w| w.rule).collect::<Vec<_>>()))
        .unwrap_or_default();
    move |e: &Expect| {
        let actors = || e.actors.iter().filter_map(|&a| s.actors.get(a));
        // The fastest an involved road user goes while in the scene.
        let fastest = actors()
            .flat_map(|a| {
                (0..=(s.duration_s * 10.0) as usize)
                    .map(|k| k as f64 / 10.0)
                    .filter(|&t| a.path.present(t))
                    .map(|t| a.path.speed_kmh(t))
            })
            .fold(0.0, f64::max);
        let too_fast = views.iter().any(|v| v.rule == e.rule && fastest > v.max_kmh());
        let weaves = actors().any(|a| a.path.weave.is_some()) && weave_short.iter().any(|r| r == e.rule);
        too_fast || weaves
    }
}

/// How `anttd scenarios` prints its results.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum View {
    /// One row per rule (and line) per run, aligned.
    Text,
    /// The same as a Markdown table.
    Markdown,
    /// [`summary`].
    Summary,
}

/// The table of `anttd scenarios`.
pub fn render(outcomes: &[Outcome], view: View) -> String {
    match view {
        View::Summary => summary(outcomes),
        View::Text => rows(outcomes, false),
        View::Markdown => rows(outcomes, true),
    }
}

/// A Markdown table with one row per scenario and rule (or line) and one column per geometry and
/// detect rate, runs with several seeds added up. A rule cell is `found/expected`, then `+N FA`
/// for false alarms, the mean decision latency after the first road user involved entered the
/// picture, and the largest speed error, and `‡` where `anttd check` warns that the camera cannot
/// be relied on for it ([`RuleResult::beyond_check`]); a rule that must stay silent shows `ok` or
/// its false alarms. A line cell is `counted/true` toward and away from the camera. The `tracker` row says
/// what the tracker made of the road users ([`Tracking`]): followed · broken · mixed. Rows of rules that
/// expect nothing and raised nothing in a scenario with an event to find are left out; in the
/// others (negatives, counts) every rule shows.
pub fn summary(outcomes: &[Outcome]) -> String {
    use std::collections::BTreeMap;
    #[derive(Default)]
    struct Cell {
        found: usize,
        expected: usize,
        false_alarms: usize,
        latency: Vec<f64>,
        err: Option<f64>,
        beyond: bool,
        counted: [usize; 2],
        truth: [usize; 2],
        extra: [usize; 2],
        line: bool,
        tracking: Option<Tracking>,
    }
    /// (scenario, rule or line) and (geometry, fps).
    type Row = (String, String);
    type Col = (String, Rate);
    let mut cols: Vec<Col> = Vec::new();
    let mut row_order: Vec<Row> = Vec::new();
    let mut cells: BTreeMap<(Row, Col), Cell> = BTreeMap::new();
    for o in outcomes {
        let col = (o.geometry.clone(), o.rate);
        if !cols.contains(&col) {
            cols.push(col.clone());
        }
        let mut add = |label: String, f: &dyn Fn(&mut Cell)| {
            let key = (o.scenario.clone(), label);
            if !row_order.contains(&key) {
                row_order.push(key.clone());
            }
            f(cells.entry((key, col.clone())).or_default());
        };
        for r in &o.rules {
            add(r.kind.clone(), &|c: &mut Cell| {
                c.found += r.found;
                c.expected += r.expected;
                c.false_alarms += r.false_alarms;
                c.latency.extend(r.latency_s);
                c.beyond |= r.beyond_check;
                c.err = match (c.err, r.speed_err_pct) {
                    (Some(a), Some(b)) => Some(a.max(b)),
                    (a, b) => a.or(b),
                };
            });
        }
        add("tracker".into(), &|c: &mut Cell| *c.tracking.get_or_insert_default() += o.tracking);
        for l in &o.lines {
            add(format!("line {}", l.line), &|c: &mut Cell| {
                c.line = true;
                for k in 0..2 {
                    c.counted[k] += l.counted[k];
                    c.truth[k] += l.truth[k];
                    c.extra[k] += l.extra[k];
                }
            });
        }
    }
    let mut out = format!(
        "| scenario | rule | {} |\n|---|---|{}\n",
        cols.iter().map(|(g, r)| format!("{g} @{}", r.label())).collect::<Vec<_>>().join(" | "),
        "---|".repeat(cols.len())
    );
    for key in &row_order {
        let row: Vec<&Cell> = cols.iter().filter_map(|c| cells.get(&(key.clone(), c.clone()))).collect();
        let silent = row.iter().all(|c| !c.line && c.tracking.is_none() && c.expected == 0 && c.false_alarms == 0);
        let scenario_expects = cells.iter().any(|((k, _), c)| k.0 == key.0 && c.expected > 0);
        if silent && scenario_expects {
            continue;
        }
        let text: Vec<String> = cols
            .iter()
            .map(|c| {
                let Some(c) = cells.get(&(key.clone(), c.clone())) else { return "–".into() };
                if let Some(t) = c.tracking {
                    return tracking_cell(t);
                }
                if c.line {
                    return format!(
                        "{} · {}",
                        line_cell(c.counted[0], c.truth[0], c.extra[0], true),
                        line_cell(c.counted[1], c.truth[1], c.extra[1], true)
                    );
                }
                if c.expected == 0 {
                    return if c.false_alarms == 0 { "ok".into() } else { format!("**{} FA**", c.false_alarms) };
                }
                let mut t = format!("{}/{}", c.found, c.expected);
                if c.found < c.expected {
                    t = format!("**{t}**");
                }
                if c.beyond {
                    t += " ‡";
                }
                if c.false_alarms > 0 {
                    t += &format!(" **+{} FA**", c.false_alarms);
                }
                if !c.latency.is_empty() {
                    t += &format!(" · {:.1} s", c.latency.iter().sum::<f64>() / c.latency.len() as f64);
                }
                if let Some(e) = c.err {
                    t += &format!(" · {e:.1} %");
                }
                t
            })
            .collect();
        out += &format!("| {} | {} | {} |\n", key.0, key.1, text.join(" | "));
    }
    out
}

/// A line cell for one direction: true crossings counted of all, and counts of none (in bold
/// for Markdown).
fn line_cell(counted: usize, truth: usize, extra: usize, bold: bool) -> String {
    let b = if bold { "**" } else { "" };
    if extra == 0 { format!("{counted}/{truth}") } else { format!("{counted}/{truth} {b}+{extra}{b}") }
}

/// A tracker cell: the road users followed, then the extra ids (broken tracks) and the tracks
/// that followed two road users (mixed), in bold when there are any.
fn tracking_cell(t: Tracking) -> String {
    let bold = |n: usize, what: &str| if n == 0 { format!("{n} {what}") } else { format!("**{n} {what}**") };
    format!("{} · {} · {}", t.road_users, bold(t.broken, "broken"), bold(t.mixed, "mixed"))
}

/// One row per rule (and line) per run.
fn rows(outcomes: &[Outcome], markdown: bool) -> String {
    let head = ["scenario", "geometry", "fps", "rule", "found/expected", "false alarms", "latency s", "speed err %"];
    let mut rows: Vec<Vec<String>> = Vec::new();
    let opt = |v: Option<f64>, d: usize| v.map_or("–".to_string(), |v| format!("{v:.d$}"));
    for o in outcomes {
        for r in &o.rules {
            rows.push(vec![
                o.scenario.clone(),
                o.geometry.clone(),
                o.rate.label(),
                format!("{} ({})", r.rule, r.kind),
                format!("{}/{}{}", r.found, r.expected, if r.beyond_check { " ‡" } else { "" }),
                r.false_alarms.to_string(),
                opt(r.latency_s, 1),
                opt(r.speed_err_pct, 1),
            ]);
        }
        rows.push(vec![
            o.scenario.clone(),
            o.geometry.clone(),
            o.rate.label(),
            "tracker".into(),
            format!("{} road users, {} broken, {} mixed", o.tracking.road_users, o.tracking.broken, o.tracking.mixed),
            "–".into(),
            "–".into(),
            "–".into(),
        ]);
        for l in &o.lines {
            rows.push(vec![
                o.scenario.clone(),
                o.geometry.clone(),
                o.rate.label(),
                format!("line {}", l.line),
                format!(
                    "toward {}, away {}",
                    line_cell(l.counted[0], l.truth[0], l.extra[0], false),
                    line_cell(l.counted[1], l.truth[1], l.extra[1], false)
                ),
                "–".into(),
                "–".into(),
                "–".into(),
            ]);
        }
    }
    let mut out = String::new();
    if markdown {
        out += &format!("| {} |\n|{}\n", head.join(" | "), "---|".repeat(head.len()));
        for r in rows {
            out += &format!("| {} |\n", r.join(" | "));
        }
    } else {
        let mut w: Vec<usize> = head.iter().map(|h| h.chars().count()).collect();
        for r in &rows {
            for (i, c) in r.iter().enumerate() {
                w[i] = w[i].max(c.chars().count());
            }
        }
        let line = |cells: Vec<String>| {
            let padded: Vec<String> =
                cells.iter().enumerate().map(|(i, c)| format!("{c:<width$}", width = w[i])).collect();
            padded.join("  ").trim_end().to_string() + "\n"
        };
        out += &line(head.iter().map(|h| h.to_string()).collect());
        for r in rows {
            out += &line(r);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sim::scenario::{NAMES, scenario};

    /// `name` run on `geometry` at `fps` with `seed`.
    fn outcome(name: &str, geometry: &str, fps: u32, seed: u64) -> Outcome {
        let s = scenario(name).expect("scenario");
        run(&s, fps, &Camera::named(geometry).expect("geometry"), seed).expect("run")
    }

    /// `name` on `geometry` at `fps` with `seed`, asserting the rule of `kind` found its one
    /// situation and raised nothing else.
    fn found_once(name: &str, geometry: &str, fps: u32, seed: u64, kind: &str) -> Outcome {
        let o = outcome(name, geometry, fps, seed);
        assert_eq!(judged(&o, kind), (1, 1, 0), "{:?}", o.rules);
        o
    }

    /// Found, expected and false alarms of the rule of `kind` in `o`.
    fn judged(o: &Outcome, kind: &str) -> (usize, usize, usize) {
        let r = o.rules.iter().find(|r| r.kind == kind).expect("rule");
        (r.found, r.expected, r.false_alarms)
    }

    /// `name` run on `geometry` at 3 detections and 15 decoded frames a second with `seed`,
    /// the daemon's own carrier on rendered pictures.
    fn on_pictures(name: &str, geometry: &str, seed: u64) -> Outcome {
        let (s, cam) = (scenario(name).expect("scenario"), Camera::named(geometry).expect("geometry"));
        run_at(&s, Rate::carried(3, 15).expect("rate").by(Carrier::Pixels), &cam, seed).expect("run")
    }

    #[test]
    fn the_same_seed_gives_the_same_frames() {
        let s = scenario("dense_traffic").expect("scenario");
        let cam = Camera::named("pole8").expect("pole8");
        let a = frames(&s, &cam, 5, 42).records;
        assert_eq!(a, frames(&s, &cam, 5, 42).records);
        assert_ne!(a, frames(&s, &cam, 5, 43).records);
        // Frame times are k/fps.
        assert!(a.iter().enumerate().all(|(k, f)| f.time_s == k as f64 / 5.0));
    }

    #[test]
    fn every_scenario_makes_a_config_replay_accepts_on_every_geometry() {
        for name in NAMES {
            let s = scenario(name).expect("scenario");
            for g in crate::sim::camera::GEOMETRIES {
                let cam = Camera::named(g).expect("geometry");
                config(&s, &cam, 5).unwrap_or_else(|e| panic!("{name} on {g}: {e}"));
            }
        }
    }

    /// A sanity check that the whole chain measures something: a car going the wrong way at
    /// 40 km/h, seen at 10 fps from the 8 m pole, is reported once (and nothing else is).
    #[test]
    fn the_wrong_way_car_is_found_at_10_fps() {
        let o = outcome("wrong_way", "pole8", 10, 1);
        assert_eq!(judged(&o, "wrong_way"), (1, 1, 0), "{o:?}");
        assert!(o.rules.iter().all(|r| r.false_alarms == 0), "{:?}", o.rules);
        assert!(o.tracks >= 3, "{}", o.tracks);
    }

    /// On the wide pole the parked car, covered bit by bit by the passing truck and then hidden
    /// for seconds, seems to move as it is covered; it is expected where it stood, not where
    /// that motion would take it, and stops once (seed 16 stopped twice when a calibrated
    /// camera's prediction followed its rising foot up the road).
    #[test]
    fn the_stopped_car_hidden_by_the_truck_stops_once_on_the_wide_pole() {
        found_once("stopped_car", "pole6wide", 10, 16, "stopped_vehicle");
    }

    #[test]
    fn the_standing_car_keeps_its_weak_box_when_the_car_braking_into_it_is_missed() {
        // Seed 15 at 3 fps: at 3.00 s the braking car is missed and the standing car is
        // detected weakly; the braking car's prediction had overshot onto it (see
        // `track::STANDING_WEAK_IOU`). The ids swapped and the collision was not seen.
        let o = found_once("rear_end", "pole8", 3, 15, "collision_suspect");
        assert_eq!((o.tracking.broken, o.tracking.road_users), (0, 2), "{:?}", o.tracking);
    }

    #[test]
    fn a_motorcycle_leaving_under_the_camera_is_timed_without_its_cut_box() {
        // 8 m pole, 3 fps, seed 51: riding towards the camera at 90 km/h, missed at 2.67 s,
        // its box at 3 s is cut by the picture's bottom edge; with that box's foot on the edge
        // for a point, the start read 5.4 % off.
        let o = found_once("speeding_motorcycle", "pole8", 3, 51, "speeding");
        let r = o.rules.iter().find(|r| r.kind == "speeding").expect("rule");
        assert!(r.speed_err_pct.is_some_and(|e| e < 2.0), "{r:?}");
    }

    #[test]
    fn a_speeding_car_first_read_just_past_the_zone_is_found() {
        // Wide pole, 3 fps, seed 24: the car at 95 km/h is missed twice as it comes into view;
        // its first precise reading comes at its fourth detection, one past the zone's far end.
        found_once("speeding_car", "pole6wide", 3, 24, "speeding");
    }

    #[test]
    fn a_standing_car_hidden_before_a_reading_said_it_stood_still_meets_the_one_run_into_it() {
        // Rooftop, 3 fps, seed 32: the standing car, cut by the picture's top edge, is detected
        // five times and hidden from 2.67 s by the car braking into it; it had no speed precise
        // enough to be reported, and an unmatched track met others only by a reported one.
        found_once("rear_end", "rooftop10", 3, 32, "collision_suspect");
    }

    #[test]
    fn a_standing_car_detected_weakly_stands_by_its_fit_and_margin() {
        // 8 m pole, 3 fps, seed 72: the braking car stands from 3 s and reads 1.1 km/h at 4 s,
        // a drop of 7.9 m/s² from its fit before they met; but the standing car, detected
        // weakly, had no speed precise enough to be reported until 5.7 s (0.9 ± 1.7 km/h at 4
        // s), and the braking car's reading then, the same drop spread over the longer time,
        // was 3.8 m/s².
        found_once("rear_end", "pole8", 3, 72, "collision_suspect");
    }

    #[test]
    fn a_car_that_ran_into_a_standing_one_braked_until_it_stood_not_until_the_other_did() {
        // 8 m pole, 3 fps, seed 60: the braking car read 41.5 ± 2.7 km/h as their boxes met
        // (2.67 s) and 1.3 ± 1.1 at 4 s, standing. The car it shoved read moving until 4.33 s
        // and standing only at 5.33 s; the braking car's drop to its reading then, spread over
        // 1.33 s more, was under `min_decel_mps2`. The same at seed 18 (shoved car standing
        // 0.67 s after the other).
        found_once("rear_end_shove", "pole8", 3, 60, "collision_suspect");
        found_once("rear_end_shove", "pole8", 3, 18, "collision_suspect");
    }

    #[test]
    fn a_car_seen_once_then_missed_twice_as_it_brakes_keeps_its_speed_from_before() {
        // 8 m pole, 3 fps, seed 26: the car braking into the standing one is seen once at
        // 1.67 s, missed at 2 and 2.33 s, and seen again at 2.67 s, just before the impact.
        found_once("rear_end_shove", "pole8", 3, 26, "collision_suspect");
    }

    #[test]
    fn a_track_of_known_speed_does_not_leap_to_a_rider_further_on() {
        // Wide pole, 5 fps, seed 93: the track of a rider riding away at 45 km/h, 10 m out,
        // took the box of a slower rider 11 m further on 0.2 s later (57 m/s, within 180 km/h);
        // its fit read a hard braking when that rider vanished behind the first, and
        // `collision_suspect` fired.
        assert_eq!(judged(&outcome("dense_traffic", "pole6wide", 5, 93), "collision_suspect"), (0, 0, 0));
    }

    #[test]
    fn a_track_does_not_jump_on_the_ground_to_a_nearer_riders_box() {
        // Wide pole, 3 fps, seed 68: a track hopping between the tiny boxes of riders near the
        // horizon was predicted as a rider coming fast, its expected box on a nearer rider 60 m
        // nearer on the ground; it took that rider's detection, and read 443 km/h.
        assert_eq!(judged(&outcome("dense_traffic", "pole6wide", 3, 68), "speeding"), (0, 0, 0));
    }

    #[test]
    fn a_car_that_stood_short_of_the_one_ahead_did_not_run_into_it() {
        // 8 m pole, seed 1: the car braking at 8 m/s² from 50 km/h is seen still moving further
        // behind the line it drove on than a crash leaves one (0.25 s from 50 km/h), and the
        // car ahead, rolling before their boxes met, drew away from it after that.
        for fps in [5, 10] {
            assert_eq!(judged(&outcome("queue_brake", "pole8", fps, 1), "collision_suspect"), (0, 0, 0), "{fps} fps");
        }
    }

    #[test]
    fn a_car_that_stood_short_of_a_standing_one_did_not_run_into_it() {
        // 8 m pole, seed 1: braking at 6 m/s² from 50 km/h, the car is seen creeping in to its
        // stand 2 m short of a car standing at a red light, which stays where it stood. Both
        // rates raised a `collision_suspect` before a standing car ahead was judged so.
        for fps in [5, 10] {
            assert_eq!(judged(&outcome("queue_stop", "pole8", fps, 1), "collision_suspect"), (0, 0, 0), "{fps} fps");
        }
    }

    #[test]
    fn the_car_ahead_of_a_near_miss_draws_away_after_the_braking_car_stands() {
        // 8 m pole, 5 fps, seed 14: the braking car's last detection while moving, at 3.8 s,
        // reads 2.0 m short of its stand (1.5 m in truth): measured from then, the car ahead
        // drew away 0.8 m, under 2 standard errors (0.4 m). Measured from the braking car's
        // first detection at its stand (4.2 s), it drew away 1.1–1.4 m, by about 3.
        assert_eq!(judged(&outcome("queue_brake", "pole8", 5, 14), "collision_suspect"), (0, 0, 0));
    }

    #[test]
    fn a_car_hit_while_rolling_draws_away_only_until_both_stand() {
        // Wide pole, 5 fps, seed 27: the car that hit is last seen moving at 4 s, just after
        // the impact, far behind its line as a car stopping short is. Measured from then, the
        // car it shoved drew away 1.5 m, by 3.7 standard errors; from the hitting car's first
        // detection at its stand (4.4 s), 0.7 m, by under 2.
        found_once("rear_end_rolling", "pole6wide", 5, 27, "collision_suspect");
    }

    #[test]
    fn a_braking_car_missed_as_the_one_it_hit_stands_still_stands() {
        // Wide pole, 3 fps, seed 6: the braking car reads standing at 5 s after a drop of 6.4
        // m/s²; the car it hit first reads standing at 5.33 s, when the braking car is missed.
        // Judged when both were next detected standing (6 s), the drop was spread over a
        // second more and read 3.9 m/s², under min_decel.
        found_once("rear_end_rolling", "pole6wide", 3, 6, "collision_suspect");
    }

    #[test]
    fn a_rolling_car_last_seen_just_before_the_boxes_meet_is_in_contact() {
        // Rooftop, 3 fps, seed 6: the car ahead, still rolling at the picture's top edge, is
        // last detected at 3.67 s, when the car braking into it is missed; at 4 s it is hidden
        // behind that car, whose box meets its last one. Neither matched nor standing, it was
        // no candidate for a contact, and the crash went unseen.
        found_once("rear_end_rolling", "rooftop10", 3, 6, "collision_suspect");
    }

    #[test]
    fn a_car_hit_while_rolling_goes_faster_after_the_contact_than_before() {
        // The car that hit is seen still moving far behind its line (0.24 and 0.32 s, against
        // 0.21 and 0.24 s), and the car it shoved drew away from it after it stood (1.7 m by 4.9
        // standard errors; 1.1 m by 3.3): both read as a stop short. But the car hit read
        // 16.2 km/h at most in the second before their boxes met and 17.5 after (8 m pole, 5
        // fps, seed 16), 15.7 and 16.7 (wide pole, 10 fps, seed 2): shoved, not slowing.
        found_once("rear_end_rolling", "pole8", 5, 16, "collision_suspect");
        found_once("rear_end_rolling", "pole6wide", 10, 2, "collision_suspect");
    }

    #[test]
    fn a_car_that_shoved_the_one_it_ran_into_did_not_stop_short_of_it() {
        // Wide pole, 10 fps, seed 1: after braking at 5 m/s² and the impact, the car is seen
        // still moving far behind the line it drove on, as a car stopping short is (missed on
        // that alone); but the car it hit did not draw away from it, and stood before.
        found_once("rear_end_shove", "pole6wide", 10, 1, "collision_suspect");
    }

    #[test]
    fn a_car_standing_far_off_stands_by_its_speed_and_margin_before_a_reading_says_so() {
        // Wide pole, 3 fps, seed 72: the braking car stands 25 m out from 3 s, its fits reading
        // 1.0 ± 1.8 km/h, not precise enough to be reported; the first reported speed came at
        // 5.3 s, and the drop to it was 3.9 m/s², under min_decel.
        found_once("rear_end", "pole6wide", 3, 72, "collision_suspect");
    }

    #[test]
    fn a_standing_car_hidden_by_the_one_run_into_it_is_kept_though_its_filter_says_it_moves() {
        // Rooftop, 3 fps, seed 15: the standing car, cut by the picture's top edge, was hidden
        // from 2.67 s by the car braking into it; its filter read 10.6 px a second after its
        // last, jittered box, it was taken for moving and forgotten after `max_lost_s`, and the
        // contact went with it before the braking car read as stopped.
        found_once("rear_end", "rooftop10", 3, 15, "collision_suspect");
    }

    #[test]
    fn a_car_standing_at_the_top_edge_does_not_take_the_box_of_the_car_run_into_it() {
        // Rooftop, 5 fps, seed 51: the standing car, cut by the picture's top edge, and the car
        // braking into it are both missed from 2.8 to 3.2 s; at 3.4 s the standing car's track
        // took the braking car's box, whose top lay as high as its own (both cut by the edge).
        found_once("rear_end", "rooftop10", 5, 51, "collision_suspect");
    }

    #[test]
    fn a_standing_car_is_expected_where_its_detections_stood_not_where_its_filter_drifted() {
        // 8 m pole, 3 fps, seed 82: the standing car is missed at 3.33 s, and at 3.67 s the
        // braking car is missed and the standing one detected weakly. The standing car's
        // filtered box, its size and place following its detections' jitter, had drifted to IoU
        // 0.68 with that box, under STANDING_WEAK_IOU, and the braking car's track took it.
        let o = found_once("rear_end", "pole8", 3, 82, "collision_suspect");
        assert_eq!((o.tracking.broken, o.tracking.mixed), (0, 0), "{:?}", o.tracking);
    }

    #[test]
    fn a_rider_missed_in_a_cluster_does_not_shift_the_tracks_beside_it() {
        // Seed 7 at 3 fps on the 8 m pole: at 19.33 s a rider of a cluster riding away is
        // missed; its new track took the neighbour's detection, a lane over, and that one's
        // new track the next one's (a shift by one), and the rider's one detection before the
        // line went with it: 49 of its 50 riders riding away were counted.
        let o = outcome("dense_traffic", "pole8", 3, 7);
        let l = &o.lines[0];
        assert_eq!((l.counted, l.truth, l.extra), ([38, 50], [38, 50], [0, 0]), "{l:?}");
    }

    /// The speed error of the rule of `kind` in `o`, per cent.
    fn speed_err(o: &Outcome, kind: &str) -> f64 {
        let r = o.rules.iter().find(|r| r.kind == kind).expect("rule");
        assert_eq!((r.found, r.false_alarms), (1, 0), "{r:?}");
        r.speed_err_pct.expect("a speed")
    }

    #[test]
    fn a_speed_read_from_few_far_points_is_not_taken_for_precise() {
        // Wide pole, 10 fps, seed 40: a motorcycle at 90 km/h, first seen 67 m out, where a
        // pixel of jitter is most of a metre. Its speed's error read from the residuals alone
        // was small enough at 1.5 s to start with 84.3 km/h (-6.3 %); with the points' own
        // spreads as its least, the start waits for nearer points.
        assert!(speed_err(&outcome("speeding_motorcycle", "pole6wide", 10, 40), "speeding") <= 5.0);
    }

    #[test]
    fn a_start_as_the_car_leaves_the_zone_reports_its_last_and_most_precise_speed() {
        // Wide pole, 3 fps, seed 55: the car's fit in the frame it left the zone (93.2 ± 1.4
        // km/h) was more precise than any before (89.1 ± 2.1), and the start reported 89.1.
        assert!(speed_err(&outcome("speeding_car", "pole6wide", 3, 55), "speeding") <= 5.0);
    }

    #[test]
    fn a_braking_car_the_detector_misses_twice_keeps_its_track_alone_and_carried() {
        // 8 m pole, 3 fps, seed 28: the braking car is detected once while it moves (1.67 s),
        // then missed twice. Carried on 15 frames a second, the track lives through the two
        // missed detections, is confirmed at the next, and the collision is found. Alone, its
        // tentative track survives the two misses (`track::LATE_MISSES`), but its next
        // detection was refused as lying behind where the standing car beside it, whose
        // velocity is its boxes' jitter, "moved": the rear-end was missed until a standing
        // track lent a track seen once no motion (`Tracker::neighbour_motion`); the same run
        // of `rear_end_shove` was missed too.
        let (s, cam) = (scenario("rear_end").expect("scenario"), Camera::named("pole8").expect("geometry"));
        let alone = run_at(&s, Rate::detect(3), &cam, 28).expect("run");
        let carried = run_at(&s, Rate::carried(3, 15).expect("rate"), &cam, 28).expect("run");
        assert_eq!(judged(&alone, "collision_suspect"), (1, 1, 0), "{:?}", alone.rules);
        found_once("rear_end_shove", "pole8", 3, 28, "collision_suspect");
        assert_eq!(judged(&carried, "collision_suspect"), (1, 1, 0), "{:?}", carried.rules);
    }

    #[test]
    fn the_carrier_on_pictures_lets_a_stopped_car_go_when_a_truck_passes_in_front() {
        // 8 m pole, 3+15 fps, seed 2, the daemon's carrier on rendered pictures: the truck
        // passing in front of the stopped car covers it a few points at a time, the rest carry
        // the box, and once covered the box went off with the truck; the car, found again
        // standing where it was, made a second stop. Two checks end such a box, each enough
        // here: a third of it covered by a nearer box (`follow::HIDDEN_SHARE`), and a look no
        // longer like its detection's (`follow::MIN_LIKE`).
        let o = on_pictures("stopped_car", "pole8", 2);
        assert_eq!(judged(&o, "stopped_vehicle"), (1, 1, 0), "{:?}", o.rules);
        assert_eq!(o.tracking.broken, 0, "{:?}", o.tracking);
    }

    #[test]
    fn a_standing_car_whose_carried_box_a_truck_drags_is_sought_where_it_stood() {
        // Rooftop, 3+15 fps, seed 7, the daemon's carrier on rendered pictures: the stopped car
        // stands at the picture's top edge; the truck passing in front covers 29 % of its
        // carried box (under `follow::HIDDEN_SHARE`) and drags it 19 px up in four frames. Its
        // track, sought where those carried boxes were going, was not found again when the car
        // reappeared, and the car made a second stop. A standing track is sought where it
        // stood (`Tracker::expected`).
        let o = on_pictures("stopped_car", "rooftop10", 7);
        assert_eq!(judged(&o, "stopped_vehicle"), (1, 1, 0), "{:?}", o.rules);
        assert_eq!(o.tracking.broken, 0, "{:?}", o.tracking);
    }

    #[test]
    fn the_carrier_on_pictures_leaves_no_box_on_the_road_behind_a_fast_rider() {
        // Rooftop, 3+15 fps, seed 4: the nearest rider, detected at the picture's bottom edge,
        // moves 40 px (of the 640-wide picture) a frame, beyond the carrier's reach from a
        // first guess of no motion; its points matched the road it had left, and its box stood
        // there for 0.7 s as a track of its own while the rider got another, whose speeding
        // started too late. A carried box no longer like its detection ends
        // (`follow::MIN_LIKE`).
        let o = on_pictures("racing_group", "rooftop10", 4);
        assert_eq!(judged(&o, "speeding"), (4, 4, 0), "{:?}", o.rules);
    }

    #[test]
    fn a_fast_rider_seen_once_is_carried_from_its_first_detection() {
        // 8 m pole, 3+15 fps, seed 8: the weaving rider's first detection is near the camera,
        // 25 px (of the 640-wide picture) a frame away from where it goes next, beyond the
        // carrier's reach from no motion, and a track seen once has no velocity. Refused
        // there, and its next detection missed, it went uncarried for 0.7 s and its weave was
        // not seen. A box refused from its guess is sought around it (`carry::search`).
        let o = on_pictures("weaving_rider", "pole8", 8);
        assert_eq!(judged(&o, "racing"), (1, 1, 0), "{:?}", o.rules);
    }

    #[test]
    fn a_standing_car_hidden_by_the_one_braking_into_it_is_kept_while_boxes_are_carried() {
        // Rooftop, 3+15 fps, seed 16: the standing car at the picture's top edge jitters at
        // 8.6 px a second by its detections alone, under the line that keeps a standing
        // track through an occlusion (`track::STILL_SPEED_H`, 8.9 here). Its filter, stepped
        // on every carried frame too, read 9.0; hidden by the car braking into it, it was
        // forgotten after `max_lost_s`, and the collision was missed. Carried frames move a
        // track's box, not its filter.
        let o = on_pictures("rear_end", "rooftop10", 16);
        assert_eq!(judged(&o, "collision_suspect"), (1, 1, 0), "{:?}", o.rules);
    }

    #[test]
    fn a_carried_frame_does_not_start_speeding_on_its_detections_stale_reading() {
        // Wide pole, 5+15 fps, seed 37: the motorcycle enters the zone on a carried frame
        // (1.53 s) with the reading of its detection at 1.40 (81.5 ± 3.2 km/h, it rides at 90);
        // the fit at the next detection misses the gate, and a wait started on the carried frame
        // would have started the event with 81.5, 9.4 % low. Waiting from a detection, it
        // starts with a precise reading.
        let (s, cam) =
            (scenario("speeding_motorcycle").expect("scenario"), Camera::named("pole6wide").expect("geometry"));
        let carried = run_at(&s, Rate::carried(5, 15).expect("rate"), &cam, 37).expect("run");
        assert!(speed_err(&carried, "speeding") <= 5.0, "{:?}", carried.rules);
    }

    #[test]
    fn a_rider_carried_near_the_edge_does_not_take_the_one_entering_beside_it() {
        // 8 m pole, 5+15 fps, seed 71: a rider detected once entering at the picture's bottom,
        // carried two frames, missed at the next detection, where the rider beside it enters.
        // Sought from its detected box (entering, so moving inwards), its track does not take
        // the newcomer; sought from its carried box it did, twice, and its path then read as
        // a weave of a group of one, 5.3 % slow.
        let (s, cam) = (scenario("racing_group").expect("scenario"), Camera::named("pole8").expect("geometry"));
        let carried = run_at(&s, Rate::carried(5, 15).expect("rate"), &cam, 71).expect("run");
        assert_eq!(carried.tracking.mixed, 0, "{:?}", carried.tracking);
        assert!(speed_err(&carried, "racing") <= 5.0, "{:?}", carried.rules);
    }

    #[test]
    fn a_standing_car_hidden_by_the_one_carried_into_it_still_stands() {
        // Rooftop, 3 fps, seed 6: the standing car is hidden by the braking one from 2.6 s on.
        // Its boxes were carried until then; had they gone into its filter, their drift (2 % of
        // its 60 px a frame) would have read as motion, and the car, no longer standing, would
        // have been forgotten after max_lost_s (1.5 s), before the braking car was seen to stop
        // (at 4.3 s) and the collision could be judged.
        let (s, cam) = (scenario("rear_end").expect("scenario"), Camera::named("rooftop10").expect("geometry"));
        let carried = run_at(&s, Rate::carried(3, 15).expect("rate"), &cam, 6).expect("run");
        assert_eq!(judged(&carried, "collision_suspect"), (1, 1, 0), "{:?}", carried.rules);
    }

    #[test]
    fn boxes_carried_between_detections_show_the_weave_a_missed_detection_hides() {
        // 8 m pole, 3 fps, seed 8: the weaving rider gets six detections and one is missed, so
        // its sideways positions show one reversal, not two. Its boxes carried on 15 frames a
        // second (the carrier's model) show both, and the racing event says it weaves. The
        // detector's own draws are the same in both runs.
        let (s, cam) = (scenario("weaving_rider").expect("scenario"), Camera::named("pole8").expect("geometry"));
        let weaving = |o: &Outcome| {
            o.messages.iter().filter(|v| v["kind"] == "racing" && v["type"] == "start" && v["weaving"] == true).count()
        };
        let alone = run_at(&s, Rate::detect(3), &cam, 8).expect("run");
        let carried = run_at(&s, Rate::carried(3, 15).expect("rate"), &cam, 8).expect("run");
        assert_eq!(weaving(&alone), 0, "{:?}", alone.messages);
        assert_eq!(weaving(&carried), 1, "{:?}", carried.messages);
        assert_eq!(carried.frames, 5 * (alone.frames - 1) + 1);
        let (a, b) = (frames(&s, &cam, 3, 8), frames_at(&s, &cam, Rate::carried(3, 15).expect("rate"), 8));
        for (k, r) in a.records.iter().enumerate() {
            assert_eq!(r.detections, b.records[5 * k].detections, "frame {k}");
        }
        // Every frame but the first holds carried boxes, each naming a box of the frame before;
        // the frames in between are not detected on.
        for (k, r) in b.records.iter().enumerate().skip(1) {
            let boxes = r.carried.as_ref().expect("carried boxes");
            assert_eq!(r.detected, k % 5 == 0, "frame {k}");
            assert!(boxes.iter().all(|c| c.from < b.records[k - 1].boxes()), "frame {k}");
        }
    }

    #[test]
    fn a_car_braked_to_a_stop_keeps_its_id_though_its_box_jitters_back() {
        // 8 m pole, 3 fps, seed 3: the car braking into the standing one stops between two
        // detections, and its next box's foot lies 0.11 of its height behind its last one
        // (jitter) while its filter still says it moves. A moving track refuses detections
        // behind its last one (`track::BACK_H`); at 0.1 of a height this one was refused, and
        // the two cars swapped ids.
        let (s, cam) = (scenario("rear_end").expect("scenario"), Camera::named("pole8").expect("geometry"));
        let o = run_at(&s, Rate::detect(3), &cam, 3).expect("run");
        assert_eq!((o.tracking.broken, o.tracking.mixed), (0, 0), "{:?}", o.tracking);
        assert_eq!(judged(&o, "collision_suspect"), (1, 1, 0), "{:?}", o.rules);
    }

    #[test]
    fn a_rider_missed_in_a_cluster_leaves_the_one_behind_it_and_is_counted() {
        // 8 m pole, 3 fps, seed 12: a rider riding away in a cluster (u4) is missed just past
        // the line, and the rider following it (u3) is detected behind its last foot; its track
        // took that detection, so u4 was counted twice and u3 not at all. A moving track takes
        // no detection behind its last one by distance (`track::BACK_H`).
        let (s, cam) = (scenario("dense_traffic").expect("scenario"), Camera::named("pole8").expect("geometry"));
        let o = run_at(&s, Rate::detect(3), &cam, 12).expect("run");
        let away = o.lines.iter().find(|l| l.line == "y20").map(|l| (l.counted[1], l.extra[1], l.truth[1]));
        assert!(away.is_some_and(|(c, x, t)| c == t && x == 0), "{:?}", o.lines);
    }

    #[test]
    fn a_carry_rate_is_a_multiple_of_the_detect_rate_above_it() {
        assert_eq!(
            Rate::carried(3, 15).ok().map(|r| (r.frame_fps(), r.every(), r.label())),
            Some((15, 5, "3+15".into()))
        );
        assert!(Rate::carried(10, 15).is_err());
        assert!(Rate::carried(5, 5).is_err());
        assert_eq!(Rate::detect(5).label(), "5");
    }

    #[test]
    fn situations_anttd_check_warns_about_are_marked() {
        let beyond = |name: &str, geometry: &str, fps: u32, rule: &str| {
            let o = outcome(name, geometry, fps, 1);
            o.rules.iter().find(|r| r.rule == rule).expect("rule").beyond_check
        };
        // 23 m of road: a car at 95 km/h is in it 0.9 s, a speed at 3 fps with a missed
        // detection and the phase takes 1.3 s; at 10 fps 0.8 s.
        assert!(beyond("speeding_car", "rooftop10", 3, "speeding"));
        assert!(!beyond("speeding_car", "rooftop10", 10, "speeding"));
        assert!(!beyond("speeding_car", "pole8", 3, "speeding"));
        // No weave shows in 1.2 s, at any rate; the 8 m pole's 2 s do.
        assert!(beyond("weaving_rider", "rooftop10", 10, "racing"));
        assert!(!beyond("weaving_rider", "pole8", 3, "racing"));
        // Rules that expect nothing are never marked.
        assert!(!beyond("speeding_car", "rooftop10", 3, "collision"));
    }
}
