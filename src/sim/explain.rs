//! `anttd scenarios --explain`: one run of one scenario told frame by frame, so a miss in the
//! table can be traced to where it starts: a missed detection, a track that broke or passed to
//! another road user, or a rule that did not decide.
//!
//! Per frame, each road user in the picture gets a line: its true box, the detection the
//! simulated detector gave it (score and box, or `missed`), and the track that took that
//! detection with its state (a detection no track took shows `–`). A track that took a
//! detection belonging to no road user (a false positive) gets a line of its own. The events
//! published at the frame follow, object starts and ends left out (the track column shows them).
//! Ownership is decided as in [`super::tracking`]: a box belongs to the road user whose true box
//! it overlaps most, so one detection covering two road users is shown once.
//!
//! A counting line's crossing names the road user its track held then, and the account ends
//! with each line's true crossings that were not counted, and counted ones that were not true
//! (a road user counted twice, or a track counting for one that did not cross).

use std::fmt::Write as _;

use super::actors::Seen;
use super::run::{DIRECTIONS, Frames, line_count, tally, true_crossings};
use super::scenario::Scenario;
use super::tracking::{owner, play};
use crate::config::Config;
use crate::detect::{BBox, Detection};
use crate::track::{Track, TrackState};

/// The frame-by-frame account of the first camera of `cfg` over `frames` of `s` at `fps` frames a
/// second (detected on, or carried on between detections).
pub fn explain(s: &Scenario, cfg: &Config, frames: &Frames, fps: u32) -> String {
    let mut out = String::new();
    // Each line crossing counted: its line, the road user its track held, its direction.
    let mut counted: Vec<(String, Option<usize>, usize)> = Vec::new();
    out.push_str("     t  user  class       true box (px)             detection                        track\n");
    let played = play(cfg, frames, |analytics, t, seen, dets, events| {
        let Some(dets) = dets else {
            let carried: Vec<&Track> =
                analytics.tracker().live_tracks().filter(|tr| tr.carried_at(t).is_some()).collect();
            carried_lines(&mut out, &carried, t, seen);
            event_lines(&mut out, events, t, &carried, seen, &mut counted);
            return;
        };
        let matched: Vec<&Track> = analytics.tracker().live_tracks().filter(|tr| tr.matched_at(t)).collect();
        let carried: Vec<&Track> = analytics.tracker().live_tracks().filter(|tr| tr.carried_at(t).is_some()).collect();
        for s in seen {
            let det = dets.iter().filter(|d| owner(seen, &d.bbox) == Some(s.actor)).max_by(|a, b| {
                let iou = |d: &Detection| d.bbox.iou(&true_box(s));
                iou(a).total_cmp(&iou(b))
            });
            let (cell, track) = match det {
                Some(d) => (format!("{:.2} {}", d.score, px(&d.bbox)), matched.iter().find(|tr| tr.det_bbox == d.bbox)),
                // Missed, and maybe still followed by the carrier.
                None => match carried.iter().find(|tr| owner(seen, &tr.seen_box()) == Some(s.actor)) {
                    Some(tr) => (format!("missed, carried {}", px(&tr.seen_box())), Some(tr)),
                    None => ("missed".to_string(), None),
                },
            };
            user_line(&mut out, t, s, &cell, track.copied());
        }
        for tr in matched.iter().filter(|tr| owner(seen, &tr.det_bbox).is_none()) {
            let _ = writeln!(
                out,
                "{:>6.2}  {:<4} {:<11} {:<25} {:.2} {:<27} {}",
                t,
                "–",
                "",
                "(no road user)",
                tr.score,
                px(&tr.det_bbox),
                track_cell(tr),
            );
        }
        let seen_now: Vec<&Track> = matched.iter().chain(&carried).copied().collect();
        event_lines(&mut out, events, t, &seen_now, seen, &mut counted);
    });
    let Some(mut analytics) = played else { return String::new() };
    let mut events = Vec::new();
    analytics.finish(&mut events);
    for e in events.drain(..) {
        let v = serde_json::from_slice::<serde_json::Value>(&e.to_json()).ok();
        if let Some(line) = v.as_ref().and_then(event_line) {
            let _ = writeln!(out, "   end  event {line}");
        }
    }
    let dt = 1.0 / f64::from(fps);
    for (name, y, _, _) in &s.lines {
        let truth = true_crossings(s, frames, fps, *y);
        let mine: Vec<(Option<usize>, usize)> =
            counted.iter().filter(|(line, ..)| line == name).map(|(_, user, direction)| (*user, *direction)).collect();
        for ((user, direction), (t, c)) in tally(&truth, &mine) {
            let who = user.map_or_else(|| "a track holding no road user".to_string(), |u| format!("u{u}"));
            let at = truth.iter().filter(|x| Some(x.actor) == user && x.direction == direction);
            for x in at.skip(c) {
                let _ = writeln!(
                    out,
                    "  line {name}: {who} crossed {} at {:.2} s, not counted",
                    DIRECTIONS[direction],
                    x.frame as f64 * dt
                );
            }
            if c > t {
                let _ = writeln!(
                    out,
                    "  line {name}: {who} counted {c} times {}, crossed {t} times",
                    DIRECTIONS[direction]
                );
            }
        }
    }
    out
}

/// A road user's line at frame time `t`: its true box, what the detector or carrier gave
/// (`cell`), and the track that took it.
fn user_line(out: &mut String, t: f64, s: &Seen, cell: &str, track: Option<&Track>) {
    let _ = writeln!(
        out,
        "{:>6.2}  u{:<3} {:<11} {:<25} {:<32} {}",
        t,
        s.actor,
        s.class.label(),
        px(&true_box(s)),
        cell,
        track.map_or_else(|| "–".to_string(), track_cell),
    );
}

/// The lines of a frame boxes were carried onto: each road user's carried box and its track,
/// or `not carried`; a box carried onto no road user gets a line of its own.
fn carried_lines(out: &mut String, carried: &[&Track], t: f64, seen: &[Seen]) {
    for s in seen {
        let tr = carried.iter().find(|tr| owner(seen, &tr.seen_box()) == Some(s.actor));
        let cell = tr.map_or_else(|| "not carried".to_string(), |tr| format!("carried {}", px(&tr.seen_box())));
        user_line(out, t, s, &cell, tr.copied());
    }
    for tr in carried.iter().filter(|tr| owner(seen, &tr.seen_box()).is_none()) {
        let _ = writeln!(
            out,
            "{t:>6.2}  {:<4} {:<11} {:<25} carried {:<24} {}",
            "–",
            "",
            "(no road user)",
            px(&tr.seen_box()),
            track_cell(tr)
        );
    }
}

/// The frame's rule and line-cross events (object starts and ends left out); a crossing names
/// the road user its track held (`tracks`: those seen at the frame) and is kept in `counted`.
fn event_lines(
    out: &mut String,
    events: &mut Vec<crate::event::Event>,
    t: f64,
    tracks: &[&Track],
    seen: &[Seen],
    counted: &mut Vec<(String, Option<usize>, usize)>,
) {
    for e in events.drain(..) {
        let Ok(v) = serde_json::from_slice::<serde_json::Value>(&e.to_json()) else { continue };
        let Some(mut line) = event_line(&v) else { continue };
        if let Some((name, id, direction)) = line_count(&v) {
            let user = tracks.iter().find(|tr| tr.id == id).and_then(|tr| owner(seen, &tr.seen_box()));
            match user {
                Some(u) => {
                    let _ = write!(line, " (u{u})");
                }
                None => line.push_str(" (no road user)"),
            }
            counted.push((name.to_string(), user, direction));
        }
        let _ = writeln!(out, "{t:>6.2}  event {line}");
    }
}

fn true_box(s: &Seen) -> BBox {
    BBox::new(s.bbox[0] as f32, s.bbox[1] as f32, s.bbox[2] as f32, s.bbox[3] as f32)
}

fn px(b: &BBox) -> String {
    format!("[{:.0} {:.0} {:.0} {:.0}]", b.x1, b.y1, b.x2, b.y2)
}

fn track_cell(t: &Track) -> String {
    let state = match t.state {
        TrackState::Tentative => "tentative",
        TrackState::Confirmed => "confirmed",
        TrackState::Lost => "lost",
    };
    format!("#{} {state} ({} hits)", t.id, t.hits)
}

/// A rule event's phase, kind, rule and own fields on one line; `None` for object events.
fn event_line(v: &serde_json::Value) -> Option<String> {
    let o = v.as_object()?;
    let kind = o.get("kind")?.as_str()?;
    if kind == "object" {
        return None;
    }
    let mut line = format!("{} {kind}", o.get("type").and_then(|t| t.as_str()).unwrap_or("?"));
    for (k, val) in o {
        if matches!(k.as_str(), "id" | "event_id" | "type" | "kind" | "camera" | "ts" | "box" | "snapshot") {
            continue;
        }
        let _ = write!(line, " {k}={val}");
    }
    Some(line)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sim::camera::Camera;
    use crate::sim::run::{config, frames};
    use crate::sim::scenario::scenario;

    #[test]
    fn the_speeding_car_is_followed_by_one_track_and_its_event_is_told() {
        let cam = Camera::named("pole8").expect("pole8");
        let s = scenario("speeding_car").expect("scenario");
        let text = explain(&s, &config(&s, &cam, 10).expect("config"), &frames(&s, &cam, 10, 1), 10);
        // The speeding car (road user 0) is detected, followed by one confirmed track, and its
        // speeding start is told with its speed.
        let tracks: std::collections::BTreeSet<&str> = text
            .lines()
            .filter(|l| l.contains(" u0 ") && l.contains("confirmed"))
            .filter_map(|l| l.split_whitespace().find(|w| w.starts_with('#')))
            .collect();
        assert_eq!(tracks.len(), 1, "{text}");
        assert!(text.lines().any(|l| l.contains("event start speeding") && l.contains("speed_kmh=")), "{text}");
    }

    #[test]
    fn a_detection_taken_away_shows_as_missed() {
        let cam = Camera::named("pole8").expect("pole8");
        let s = scenario("speeding_car").expect("scenario");
        let mut f = frames(&s, &cam, 10, 1);
        let k = f.seen.iter().position(|seen| seen.iter().any(|x| x.actor == 0)).expect("the car is seen") + 5;
        let truth = *f.seen[k].iter().find(|x| x.actor == 0).expect("the car is still seen");
        f.records[k].detections.retain(|d| owner(std::slice::from_ref(&truth), &BBox::from(d.bbox)).is_none());
        let text = explain(&s, &config(&s, &cam, 10).expect("config"), &f, 10);
        let at = format!("{:>6.2}  u0 ", f.records[k].time_s);
        let line = text.lines().find(|l| l.starts_with(&at)).expect("a line for the car at that frame");
        assert!(line.contains("missed") && line.ends_with('–'), "{line}");
    }

    #[test]
    fn a_crossing_names_its_road_user_and_one_not_counted_is_listed() {
        let cam = Camera::named("pole8").expect("pole8");
        let s = scenario("dense_traffic").expect("scenario");
        let mut f = frames(&s, &cam, 10, 1);
        // Road user 0 rides away across the line; the detector never sees it.
        for (r, seen) in f.records.iter_mut().zip(&f.seen) {
            if let Some(truth) = seen.iter().find(|x| x.actor == 0) {
                r.detections.retain(|d| owner(std::slice::from_ref(truth), &BBox::from(d.bbox)) != Some(0));
            }
        }
        let text = explain(&s, &config(&s, &cam, 10).expect("config"), &f, 10);
        let crossings: Vec<&str> = text.lines().filter(|l| l.contains("event start line_cross")).collect();
        assert!(crossings.len() > 50, "{text}");
        assert!(crossings.iter().all(|l| l.ends_with(')') && l.contains(" (u")), "{crossings:?}");
        assert!(!crossings.iter().any(|l| l.ends_with("(u0)")), "{crossings:?}");
        assert!(
            text.lines().any(|l| l.starts_with("  line y20: u0 crossed away at ") && l.ends_with("not counted")),
            "{text}"
        );
    }

    #[test]
    fn a_track_on_a_box_of_no_road_user_gets_its_own_line() {
        let cam = Camera::named("pole8").expect("pole8");
        let s = scenario("speeding_car").expect("scenario");
        let mut f = frames(&s, &cam, 10, 1);
        // A parked car the scene does not have, detected for the first second at the
        // picture's left edge, where no road user rides.
        let ghost = [20.0, 400.0, 140.0, 480.0];
        for r in f.records.iter_mut().take(10) {
            r.detections.push(crate::replay::RecordedDetection {
                label: "car".into(),
                class_id: 2,
                score: 0.9,
                bbox: ghost,
            });
        }
        let text = explain(&s, &config(&s, &cam, 10).expect("config"), &f, 10);
        let lines: Vec<&str> = text.lines().filter(|l| l.contains("(no road user)")).collect();
        assert!(!lines.is_empty(), "{text}");
        assert!(lines.iter().all(|l| l.contains("0.90 [20 400 140 480]")), "{lines:?}");
        // One per frame it was seen, the track confirmed from its third.
        assert_eq!(lines.len(), 10, "{lines:?}");
        assert!(lines[2].ends_with("confirmed (3 hits)"), "{lines:?}");
    }
}
