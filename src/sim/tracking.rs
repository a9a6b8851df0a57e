//! How well the tracker follows the simulated road users: the rules can only be as good as the
//! tracks they are given, and a broken track (a road user starting again under a new id) or a
//! mixed one (an id passing from one road user to another) is where most of their misses start.
//!
//! The frames go through a camera's analytics exactly as in [`super::run::run`], and after each
//! one every track matched at it is laid against the road users in the picture: its detection
//! belongs to the one whose true box it overlaps most (IoU above [`MIN_IOU`]). Only tracks that
//! were confirmed count: a tentative track that never was is not given to the rules (a truck
//! 500 m away, detected once in a few seconds, starts one each time). And only detections of a
//! road user standing in the measurable area (`anttd check`: a pixel spans at most 0.5 m):
//! beyond it a rider is a few pixels high, its boxes merge with its neighbours', and no speed
//! is measured there. An id passing between two road users out there is not counted, though
//! what its track saw there still reaches the rules.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use super::actors::Seen;
use super::run::{Frames, groups, header};
use crate::analytics::CameraAnalytics;
use crate::config::Config;
use crate::detect::manifest::LabelMap;
use crate::detect::{BBox, Detection};
use crate::event::Event;
use crate::geometry::homography::Homography;
use crate::replay;
use crate::rules::kinematics::measurable;

/// A track's detection belongs to a road user whose true box it overlaps at least this much.
pub const MIN_IOU: f64 = 0.3;

/// What the tracker made of the road users of one run.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Tracking {
    /// Road users followed by a confirmed track (for at least two detections).
    pub road_users: usize,
    /// Tracks beyond one per road user: each is a road user starting again under a new id.
    pub broken: usize,
    /// Tracks that followed two road users or more (each for at least two detections).
    pub mixed: usize,
}

impl std::ops::AddAssign for Tracking {
    fn add_assign(&mut self, o: Self) {
        self.road_users += o.road_users;
        self.broken += o.broken;
        self.mixed += o.mixed;
    }
}

/// Whether the foot of `s`'s true box lies where speeds can be measured (`anttd check`'s
/// measurable area; everywhere on a camera without calibration). Beyond it a road user is a few
/// pixels high and no speed is measured (see the module doc).
fn measurable_at(ground: Option<&Homography>, s: &Seen) -> bool {
    let foot = (((s.bbox[0] + s.bbox[2]) * 0.5) as f32, s.bbox[3] as f32);
    ground.is_none_or(|h| measurable(h, foot))
}

/// The road user whose true box overlaps `b` most, if enough.
pub(crate) fn owner(seen: &[Seen], b: &BBox) -> Option<usize> {
    let iou =
        |s: &Seen| f64::from(b.iou(&BBox::new(s.bbox[0] as f32, s.bbox[1] as f32, s.bbox[2] as f32, s.bbox[3] as f32)));
    seen.iter()
        .map(|s| (iou(s), s.actor))
        .filter(|(v, _)| *v > MIN_IOU)
        .max_by(|a, b| a.0.total_cmp(&b.0))
        .map(|(_, a)| a)
}

/// Plays `frames` through the analytics of the first camera of `cfg`, as replay does, calling
/// `each` after every frame with the analytics, the frame's time, the road users in the picture,
/// its detections (`None` on a frame boxes were carried onto) and the events it published;
/// returns the analytics at the end (`None` without a camera).
pub(crate) fn play(
    cfg: &Config,
    frames: &Frames,
    mut each: impl FnMut(&CameraAnalytics, f64, &[Seen], Option<&[Detection]>, &mut Vec<Event>),
) -> Option<CameraAnalytics> {
    let cam = cfg.cameras.first()?;
    let labels = LabelMap::new(header().labels, &groups()).ok()?;
    let mut analytics = CameraAnalytics::new(cam, &cfg.tracker, Arc::new(labels));
    let mut events = Vec::new();
    let mut scratch = replay::FrameScratch::default();
    for (f, seen) in frames.records.iter().zip(&frames.seen) {
        let dets = replay::play_frame(&mut analytics, f, &mut scratch, &mut events);
        each(&analytics, f.time_s, seen, dets, &mut events);
        events.clear();
    }
    Some(analytics)
}

/// The road user each track held at each frame: (frame index, track id) to road user.
#[derive(Debug, Clone, Default)]
pub struct Owners(HashMap<(usize, u64), usize>);

impl Owners {
    /// The road user track `id` held at frame `k`, if its detection was one's.
    pub fn of(&self, k: usize, id: u64) -> Option<usize> {
        self.0.get(&(k, id)).copied()
    }
}

/// The tracks of the first camera of `cfg` over `frames`, against the truth, and the road user
/// each held at each frame.
pub fn measure(cfg: &Config, frames: &Frames) -> (Tracking, Owners) {
    // Per track id, how many of its detections belong to each road user.
    let mut followed: BTreeMap<u64, BTreeMap<usize, usize>> = BTreeMap::new();
    let mut confirmed = std::collections::BTreeSet::new();
    let mut owners = Owners::default();
    let ground = cfg.cameras.first().and_then(|c| c.homography());
    let mut k = 0;
    let played = play(cfg, frames, |analytics, t, seen, _, _| {
        // A carried box stays with its track: it only says whom the track holds now, and the
        // tracks are judged by their detections.
        for tr in analytics.tracker().live_tracks().filter(|tr| tr.carried_at(t).is_some()) {
            if let Some(a) = owner(seen, &tr.seen_box()) {
                owners.0.insert((k, tr.id), a);
            }
        }
        for tr in analytics.tracker().live_tracks().filter(|tr| tr.matched_at(t)) {
            if tr.state != crate::track::TrackState::Tentative {
                confirmed.insert(tr.id);
            }
            if let Some(a) = owner(seen, &tr.det_bbox) {
                if seen.iter().any(|s| s.actor == a && measurable_at(ground.as_ref(), s)) {
                    *followed.entry(tr.id).or_default().entry(a).or_default() += 1;
                }
                owners.0.insert((k, tr.id), a);
            }
        }
        k += 1;
    });
    if played.is_none() {
        return (Tracking::default(), owners);
    }
    let mut per_user: BTreeMap<usize, usize> = BTreeMap::new();
    let mut mixed = 0;
    for (_, users) in followed.iter().filter(|(id, _)| confirmed.contains(*id)) {
        let held: Vec<(usize, usize)> = users.iter().filter(|(_, n)| **n >= 2).map(|(a, n)| (*a, *n)).collect();
        if held.len() > 1 {
            mixed += 1;
        }
        // The track counts for the road user it followed longest.
        if let Some((a, _)) = held.iter().max_by_key(|(a, n)| (*n, std::cmp::Reverse(*a))) {
            *per_user.entry(*a).or_default() += 1;
        }
    }
    (Tracking { road_users: per_user.len(), broken: per_user.values().map(|n| n - 1).sum(), mixed }, owners)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sim::camera::Camera;
    use crate::sim::run::{config, frames};
    use crate::sim::scenario::scenario;

    #[test]
    fn a_lone_car_is_one_track_and_a_racing_group_is_one_track_per_rider_at_10_fps() {
        let cam = Camera::named("pole8").expect("pole8");
        let s = scenario("speeding_car").expect("scenario");
        let (t, _) = measure(&config(&s, &cam, 10).expect("config"), &frames(&s, &cam, 10, 1));
        assert_eq!(t, Tracking { road_users: 2, broken: 0, mixed: 0 });
        let s = scenario("racing_group").expect("scenario");
        let (t, _) = measure(&config(&s, &cam, 10).expect("config"), &frames(&s, &cam, 10, 1));
        assert_eq!((t.road_users, t.mixed), (4, 0), "{t:?}");
    }

    #[test]
    fn a_road_user_seen_only_in_bursts_too_short_to_confirm_is_not_followed() {
        // The car coming towards the camera is detected only at two frames in a row every 2 s
        // (0.1 s apart at 10 fps: neither three hits nor `confirm_s`), as a far truck is: each
        // burst starts a tentative track that never reaches the rules.
        let cam = Camera::named("pole8").expect("pole8");
        let s = scenario("speeding_car").expect("scenario");
        let mut f = frames(&s, &cam, 10, 1);
        for (k, (r, seen)) in f.records.iter_mut().zip(&f.seen).enumerate() {
            let Some(truth) = seen.iter().find(|x| x.actor == 1) else { continue };
            if k % 20 < 2 {
                continue;
            }
            r.detections.retain(|d| owner(std::slice::from_ref(truth), &BBox::from(d.bbox)).is_none());
        }
        let (t, _) = measure(&config(&s, &cam, 10).expect("config"), &f);
        assert_eq!(t, Tracking { road_users: 1, broken: 0, mixed: 0 });
    }

    #[test]
    fn a_road_user_followed_again_only_beyond_the_measurable_area_is_not_broken() {
        // On the wide pole the truck that hid the stopped car drives on to the horizon, a few
        // pixels high, detected once in a while: each burst there was a new track, counted as
        // two broken tracks in this run, where no rule measures anything.
        let cam = Camera::named("pole6wide").expect("pole6wide");
        let s = scenario("stopped_car").expect("scenario");
        let (t, _) = measure(&config(&s, &cam, 3).expect("config"), &frames(&s, &cam, 3, 6));
        assert_eq!(t, Tracking { road_users: 2, broken: 0, mixed: 0 });
    }

    #[test]
    fn a_detection_belongs_to_the_road_user_it_overlaps_most() {
        let seen = |actor, x: f64| Seen {
            actor,
            class: crate::sim::actors::Class::Car,
            bbox: [x, 100.0, x + 50.0, 150.0],
            depth: 10.0,
        };
        assert_eq!(owner(&[seen(0, 0.0), seen(1, 200.0)], &BBox::new(198.0, 100.0, 250.0, 150.0)), Some(1));
        assert_eq!(owner(&[seen(0, 0.0)], &BBox::new(400.0, 100.0, 450.0, 150.0)), None);
    }
}
