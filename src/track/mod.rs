//! Multi-object tracker of the ByteTrack kind: turns per-frame detections into tracks with
//! stable ids, for the rules (line crossing, dwell, counting) that need to follow an object.
//!
//! Plain computation, no I/O. Differences from ByteTrack, and why:
//! - **Time-based.** The detect rate may be 2–30 fps and may vary, so [`Tracker::update`] takes
//!   the frame time in seconds, the Kalman filter ([`kalman`]) predicts over the elapsed time,
//!   and lost tracks expire after [`TrackerConfig::max_lost_s`] seconds, not frames.
//! - **Class-aware.** A detection only matches a track of its own class: a rider's person box
//!   overlaps the motorcycle's box, and they must stay two tracks.
//! - **Fast association.** Candidate pairs come from a sweep over boxes that can overlap, and the
//!   optimal assignment is solved per connected component (see `assign`), so hundreds of
//!   objects cost little more than the handful that actually overlap.
//!
//! - **Fast objects at low detect rates.** A street camera box affords 3–5 detections per second,
//!   and near the camera a motorcycle at 80 km/h moves about its own box length between two of
//!   them: the detection and the predicted box barely overlap, and a constant-velocity
//!   prediction in the picture is wrong under perspective. So the expected box comes from a
//!   perspective-aware fit of the last detections ([`perspective`]), and a pair is scored by the
//!   larger of IoU and a distance score around the expected centre, within a radius that grows
//!   with the box and with the distance the track was expected to travel since it was last
//!   seen (its speed times the time unseen). A track seen once has no velocity yet: its radius
//!   allows for [`NEW_TRACK_SPEED_H`] box heights per second in any direction, so its second
//!   detection is found however fast it moves. The Kalman filter still gives the reported box
//!   and velocity.
//! - **Entering objects move in.** A track seen once whose box is cut by the picture's edge
//!   (the picture's size comes from [`Tracker::set_picture`]) is entering the view: its second
//!   detection is looked for inwards from the edge, not beside or behind it, where the next road
//!   user entering takes its place (see `assign`).
//! - **Quick confirmation.** A track is confirmed after `min_hits` matches, or after two matches
//!   at least [`TrackerConfig::confirm_s`] apart; a tentative track survives one missed frame.
//!   At 3 detections per second a rider is confirmed at its second detection, 0.33 s in.
//! - **A lost track is found again within its reach.** A detection that no prediction took may
//!   still be a lost track's if it lies within the distance its image speed could have taken it
//!   since it was last seen, around where it was last seen (OC-SORT's observation-centric
//!   recovery; see [`Tracker::recover`]): far from the camera a weaving rider's swing is several
//!   of its box widths, and a prediction made before the swing turned misses it. A rider
//!   riding alone is sought that way as soon as its prediction misses, ahead of where it was
//!   last seen: near the camera at 3 detections a second a weaver's turn takes it a box width
//!   from a prediction made of two detections, and a new id there would halve its samples.
//! - **In a cluster, a neighbour's box is not taken by distance.** Where the road's direction
//!   is known, a track with another of its class within [`CLUSTER_W`] of its width takes a
//!   detection by distance only if its foot lies within [`LANE_W`] of its width of the road's
//!   line through the track's expected foot (more for a track moving across the road, by its
//!   own lateral speed over the time unseen: [`LANE_SPEED_K`]); farther out, by overlap only.
//!   At 3 detections a second, when a rider of a cluster riding away was missed, its track took
//!   the neighbour's detection a lane over, that one's track the next one's, and so on (a
//!   shift by one that the assignment prefers, as it matches more pairs): in 20 runs of dense
//!   traffic on the 8 m pole at 3 fps, mixed tracks fell from 41 to 25 and riders riding away
//!   not counted at the line from 13 to 10. Riding alone, a rider may move across freely (a
//!   weaver moves 2 m across between two detections).
//! - **A road user does not jump.** Where the camera is calibrated ([`Tracker::with_ground`]), a
//!   track takes no detection whose foot lies further on the ground from its last detection's
//!   than 180 km/h could take it in the time unseen, whatever their overlap (see
//!   `src/track/ground.rs`): near the horizon a few pixels are tens of metres, and a track
//!   fitted to tiny jittered boxes there expected a far rider where a near one was.
//! - **A moving road user does not back up.** Where the road's direction is known, a track
//!   moving along it takes a detection whose foot lies behind its last one (by more than
//!   [`BACK_H`] of its height, against its motion) by overlap only, not by distance: between two
//!   detections a vehicle cannot reverse, and what lies there is the one following it in its
//!   lane (see [`Tracker::backs`]).
//! - **Standing objects outlast an occlusion.** A track that stood still when it was lost, or
//!   stood still for [`PARKED_S`] until shortly before (the boxes of a car being covered bit by
//!   bit shrink and shift, and its filtered velocity says it moves), is kept for
//!   [`TrackerConfig::max_lost_stationary_s`] (a parked car behind a passing bus is the same
//!   car), moving ones for `max_lost_s`. A detector draws a box round what it sees, so the
//!   parked car's last boxes before it vanishes are cut where the bus covers it; a parked track
//!   lost after such a cut, with a nearer road user's box over it ([`covered`]), is sought
//!   where its detections last stood, not where the cut boxes moved its filter (simulated with
//!   boxes cut so, the stopped car made a second stop in 22–94 of 100 runs per camera at 3 and
//!   5 fps and in 10–28 at 10 fps, and in none with this).
//! - **A standing object is where its detections stood.** Its expected box is the mean of its
//!   last detected boxes when their feet say it stands (`perspective::Observations::still_box`),
//!   not its filtered box, whose size and place follow each detection's jitter: a car standing
//!   half hidden, seen weakly, overlapped its drifted filtered box by IoU 0.68 and went to the
//!   car braking into it.
//!
//! - **A standing object's box does not move nearer.** A detection whose top and bottom edges
//!   both lie well below where a standing track's detections stood, and that is wider, is a
//!   nearer road user passing in front of it or running into it ([`STANDING_DROP_H`],
//!   [`STANDING_GROWN_W`]), not the standing one, whatever their overlap. Where the picture's
//!   top edge cuts the standing box, its bottom and width alone tell.
//!
//! Per update, with the predicted box of every track:
//! 1. detections with `score >= high_thresh` are matched against every track, confirmed, lost
//!    and tentative, in one assignment (gate [`TrackerConfig::match_iou`] on the similarity),
//!    but for a track seen once whose box overlaps an established one's (a second box of the same
//!    road user, more likely than a neighbour: [`SECOND_BOX_IOU`]), which waits for stage 3.
//!    ByteTrack matches its unconfirmed tracks only after the established ones have had first
//!    pick; at 3–5 detections a second that hands a rider's detection to the neighbour whose
//!    own detection was missed, when the rider's track is new (it is seen once or twice before
//!    it is confirmed, and a cluster of riders is always gaining new ones): one assignment over
//!    all of them gives each detection to the track it fits best (on the simulated pole
//!    cameras at 3 fps, dense traffic's mixed tracks fell from 89 to 51 in 20 runs, and on the
//!    rooftop from 64 to 21);
//! 2. detections with `low_thresh <= score < high_thresh` are matched first against the standing
//!    tracks, confirmed or lost, they overlap by [`STANDING_WEAK_IOU`] (a standing car half hidden
//!    by the car braking into it is that car, wherever the braking car's prediction went; so is a
//!    person standing in a crowd, half hidden by another), then against the confirmed tracks still
//!    unmatched and the moving ones lost for at most [`WEAK_REVIVE_S`] (not tentative ones), with
//!    the stricter gate [`LOW_SCORE_MATCH_IOU`]: a weak detection may carry a track through a
//!    partial occlusion, but is too unreliable to revive a track lost longer anywhere near its
//!    prediction, or a standing one off its box, or to support a new one (on the simulated wide
//!    pole, riders of a cluster coming towards the camera were counted 753 of 760 times at 5 fps
//!    with confirmed tracks only, 760 with this); last, any moving track lost, however long within
//!    its limit, may take one that lies where it was expected ([`WEAK_REVIVE_IOU`]);
//! 3. the remaining high detections are matched against the tentative tracks that waited (not
//!    a track seen once that missed [`LATE_MISSES`] times: only stage 5 may match it);
//! 4. the high detections still unmatched are matched against lost tracks by their reach
//!    ([`Tracker::recover`]), unless the track left the picture or another lost track of its
//!    class, not found again at this update, is within its reach; and against confirmed tracks
//!    that missed their prediction at this update, ahead of them only, when no other track of
//!    their class is within [`ALONE_REACHES`] of their reach;
//! 5. a track seen once and a high detection still unmatched that are each other's only
//!    candidate are matched without the road and scale preferences ([`Tracker::lone`]);
//! 6. tentative tracks that missed twice in a row (a track seen once, clear of the picture's
//!    edges, three times: [`LATE_MISSES`]) are dropped silently, confirmed tracks that
//!    missed become lost, lost tracks unmatched for longer than their limit end;
//! 7. high detections still unmatched with `score >= new_track_thresh` start tentative tracks.

mod assign;
pub mod carry;
mod config;
pub mod follow;
mod ground;
pub mod kalman;
mod object;
pub mod perspective;

use crate::detect::types::{BBox, Detection};
use crate::geometry::homography::Homography;
use assign::{Assigner, Item, Scale};
pub use config::TrackerConfig;
use ground::Ground;
pub use object::{Track, TrackState};

/// Similarity gate for the second stage (low-score detections): stricter than
/// [`TrackerConfig::match_iou`] because a weak detection is more likely a false positive.
pub const LOW_SCORE_MATCH_IOU: f32 = 0.5;

/// A weak detection overlapping a standing (or parked) track's box by at least this IoU goes to
/// that track, confirmed or lost, before any moving one may take it. In a rear-end collision at 3
/// detections a second, the braking car was missed and the one weak detection was the standing
/// car's, half hidden by it; the braking car's prediction, made at constant speed, had
/// overshot onto the standing car and overlapped that box more (IoU 0.79 against 0.75 in the
/// simulated run), so the ids swapped. At 0.7 nothing else changes in the 20-seed scenario table
/// (at 0.5 to 0.65 standing crowds and dense traffic on the wide pole mix a few more tracks).
/// Lost tracks count too: a standing car missed for a few detections is lost, and in a crowd a
/// person standing behind another is missed for a while and then seen weakly where it stands.
/// In 20 runs of each crowd cell, broken tracks fell from 87–121 to 56–93 per cell and mixed
/// ones from 61–140 to 51–103; no event cell of the scenario table moved, the rear-end tracker
/// cells lost their few mixed tracks, and dense traffic's on the wide pole moved by 1–2 either
/// way. A box shifted off the standing track (IoU below this) is still left alone.
pub const STANDING_WEAK_IOU: f32 = 0.7;

/// A moving track lost no longer than this (two missed detections at 3 a second) may continue on
/// a weak detection at its prediction (stage 2): a rider half hidden behind its neighbour in a
/// cluster is detected weakly for a second or more, and ByteTrack's rule (weak detections only
/// for tracks matched at the last update) made it a new id after one missed detection. Standing
/// tracks are left out: a weak, shifted box of a parked car half hidden by a passing truck kept
/// the car's track on it, and the car then stopped twice.
pub const WEAK_REVIVE_S: f64 = 0.7;

/// A moving track lost for longer than [`WEAK_REVIVE_S`] (up to its limit) still continues on a
/// weak detection that overlaps the box it was expected at by this IoU (stage 2, after the others,
/// which have offered those lost for less at the looser gate): the same box, where it was sought,
/// is that road user half hidden, not a stray. In the simulated near miss (`queue_brake`) the car
/// ahead, slowing to a stop behind the one braking short of it, was missed twice and then seen only
/// weakly where it was expected, and was forgotten; whether it drew away could not be judged, and
/// the stop short read as a crash. Over 100 seeds at 3 fps that false `collision_suspect` fell from
/// 36 to 33 runs on the 8 m pole and from 15 to 12 on the wide pole, and the crowd's broken tracks
/// from 285, 300 and 200 to 268, 291 and 183 (8 m pole, wide pole, rooftop); nothing else moved but
/// a track or a count here and there in dense traffic, and nothing at 10 fps.
pub const WEAK_REVIVE_IOU: f32 = 0.7;

/// A tentative track seen once, its box clear of the picture's edges, survives this many missed
/// detections in a row (other tentative tracks one); after the last of them it may take only a
/// detection that is its only candidate, and it the detection's, with no established track of
/// its class not matched yet expected within its radius (stage 5, [`Tracker::lone`]). Until it
/// is dropped it is still a neighbour to the others (a rival in stage 5, a road user of its
/// class near a lost track in stage 4, a track in a cluster). At 3 detections a second a car
/// braking into another near a pole camera was seen once, missed twice as it braked, and seen
/// again 1 s later: its new track had no speed from before the impact, and the crash went
/// unreported. Over 100 seeds at 3 fps on the 8 m pole, `rear_end`
/// was then found in 97 runs instead of 95 and `rear_end_shove` in 91 instead of 89 (also on
/// the rooftop); nothing else moved at 3, 5 or 10 fps but a rider counted and a track followed
/// on the rooftop. Taking any detection (by the stages) instead, seen-once tracks near the
/// camera took the boxes of riders far up the picture 0.6 s later: in dense traffic on the
/// rooftop at 3 fps riders were counted twice 27 times in the 100 runs instead of 11. Seen-once
/// tracks at an edge (a rider entering behind another took over its track in a racing group on
/// the rooftop at 5 fps) and lone detections near a lost track (a rider riding towards the
/// camera took that of the one riding away in front of it) are left out for the same reason.
pub const LATE_MISSES: u32 = 2;

/// Search radius around a predicted centre, in box heights, before speed and time add to it:
/// detector jitter and the prediction's own error at walking pace.
pub const RADIUS_BASE_H: f32 = 0.6;
/// Fraction of the distance a track was predicted to move since it was last seen that is added
/// to its radius: near the camera perspective makes image speed change quickly.
pub const RADIUS_SPEED_FRACTION: f32 = 0.5;
/// Multiple of the spread of a track's detections about its fitted motion added to its radius:
/// a weaving rider's next position is known less well than a straight rider's.
pub const RADIUS_SPREAD: f32 = 3.0;
/// A track seen once has no velocity: its radius allows this many box heights per second of
/// movement in any direction (a rider at 80 km/h near a pole camera moves about 6 per second).
pub const NEW_TRACK_SPEED_H: f32 = 8.0;
/// A lost track may be found again anywhere its own image speed could have taken it since it
/// was last seen, this many times over (it may speed up, and the score falls with distance
/// within the reach), around its last detection: see [`Tracker::recover`].
pub const RECOVERY_REACH: f32 = 1.5;
/// … but no further than this many of its box heights: near the camera a fast object's reach
/// would cover the road users around it, and its prediction is good there anyway.
pub const RECOVERY_MAX_H: f32 = 2.5;
/// A confirmed track that missed its prediction only now is sought by its reach when no other
/// track of its class is within this many reaches of it.
pub const ALONE_REACHES: f32 = 3.0;
/// A track seen once whose box overlaps an established track's last box by more than this IoU
/// chooses after the first assignment (see [`Tracker::mark_second_boxes`]). Measured: at 0.2 the
/// simulated clusters keep their gain from new tracks joining the first assignment, and SSD on
/// `vtest.avi` makes 80 tracks (66 with new tracks choosing last, 118 with none waiting).
pub const SECOND_BOX_IOU: f32 = 0.2;
/// A track with another of its class within this many of its own box widths is riding in a
/// cluster (see [`Tracker::lanes`]).
pub const CLUSTER_W: f32 = 3.0;
/// A track whose motion would have taken it this many of its box heights since its last
/// detection is moving on (see [`Tracker::backs`])…
pub const MOVING_H: f32 = 0.5;
/// … and a detection whose foot lies further behind its last one's than this many of its box
/// heights, against its motion, is not its by distance, only by overlap. A detector jitters a
/// box's bottom edge by a few per cent of its height.
pub const BACK_H: f32 = 0.15;
/// In a cluster, a detection whose foot lies more than this many of its own widths across the
/// road from a track's expected foot is not that track's by distance, only by overlap.
pub const LANE_W: f32 = 1.5;
/// … plus this many times the distance its own speed across the road covers in the time
/// unseen.
pub const LANE_SPEED_K: f32 = 2.0;
/// A track moving less than this many box heights per second counts as standing still.
pub const STILL_SPEED_H: f32 = 0.15;
/// A track that stood still this long counts as parked ([`Track::parked`])…
pub const PARKED_S: f64 = 3.0;
/// … until it has not been seen standing for this long.
pub const STILL_GRACE_S: f64 = 2.0;

/// A road user standing still is where its detections stood; a nearer one passing in front of
/// it, or running into it, has a box lower in the picture, top and bottom, and wider. A
/// detection whose top and bottom edges both lie lower than a standing track's detections
/// stood (their mean box, `perspective::Observations::still_box`) by more than this share of
/// that box's height, plus one box height per second squared since it was last seen (a car
/// starting off at about 3 m/s² while unseen), is not that track's, whatever their overlap.
/// At 3 fps a car standing in its lane, half hidden and detected weakly, took the box of the
/// car running into it, whose own track had lapsed after two missed detections (IoU 0.22 with
/// the standing car's box), and the crash became one track. A nearer road user hiding the
/// standing one's lower part lifts only its bottom edge, and its full box, seen again once
/// that one has passed, has the top it had: it stays the standing one's. The allowance grows
/// with the time unseen, so the guard fades for a track unseen for long: in that rear-end, the
/// nearer car's top lay 0.46 of a box height lower, which the allowance passes after 0.5 s.
/// Where the picture's top edge cuts the standing box, its bottom and width alone tell: on the
/// rooftop camera at 5 fps a car standing at the top edge, missed with the car braking into it
/// for three detections, took that car's box (its top 0 px lower, its bottom 61 px, 1.2 times
/// as wide), and the crash became one track.
pub const STANDING_DROP_H: f32 = 0.2;
/// … and wider than that box by this factor: nearer, a road user of the same class is bigger.
/// (Without it, in a first version that looked at the bottom edge alone, a person standing in
/// a crowd whose track had taken a neighbour's weak box for a frame could not take its own
/// back, and the crowd's tracks broke 3 % more often.)
pub const STANDING_GROWN_W: f32 = 1.15;

/// What a detection must not be to be the standing track `tr`'s at `now` (see
/// [`STANDING_DROP_H`]), from `still`, where its detections stood (`still_box`, taken only for
/// a track its filter says stands, or parked); `None` without it (a moving track, one that
/// started off, one whose box is under `STILL_MIN_H_PX`) or for a tentative one.
fn nearer_than(tr: &Track, still: Option<BBox>, now: f64) -> Option<assign::Nearer> {
    if tr.state == TrackState::Tentative {
        return None;
    }
    let s = still?;
    let t = (now - tr.last_seen).max(0.0) as f32;
    let drop = s.height().max(1.0) * (STANDING_DROP_H + t * t);
    // A box cut by the picture's top edge has no top to compare: its bottom and width tell.
    let top = if cut_at_top(&s) { f32::NEG_INFINITY } else { s.y1 + drop };
    Some(assign::Nearer { top, bottom: s.y2 + drop, width: s.width() * STANDING_GROWN_W })
}

/// Whether the parked road user that stood at `stood`, detected now as `last`, is being
/// covered by one passing in front: `last` is cut (its bottom risen, or its width shrunk, by
/// more than the spread of feet that still stand, [`perspective::STILL_SPREAD_H`] of its
/// height, while its top, or one side, stayed where it stood: a road user driving off moves
/// its whole box), and a box of a road user nearer the camera (its bottom lower in the picture
/// by [`STANDING_DROP_H`] of `stood`'s height) reaches over `stood`. A detector draws its box
/// round what it sees, so a car on the shoulder behind a passing truck gives boxes cut where it
/// is hidden, whose feet and filter say it moves; lost behind the truck, it is sought where it
/// stood (see [`Tracker::update`]).
fn covered(stood: &BBox, last: &BBox, in_front: &[(usize, BBox)], me: usize) -> bool {
    let reach = perspective::STILL_SPREAD_H * stood.height();
    let near = |a: f32, b: f32| (a - b).abs() <= reach;
    let cut_below = last.y2 < stood.y2 - reach && near(last.y1, stood.y1);
    let cut_aside = last.width() < stood.width() - 2.0 * reach && (near(last.x1, stood.x1) || near(last.x2, stood.x2));
    let lower = stood.y2 + STANDING_DROP_H * stood.height();
    (cut_below || cut_aside)
        && in_front.iter().any(|&(k, b)| {
            // Its top may lie off by the detector's jitter of a large box.
            let top = b.y1 - OCCLUDER_SLACK_H * b.height();
            k != me && b.y2 > lower && b.x1 < stood.x2 && stood.x1 < b.x2 && top < stood.y2
        })
}

/// How far the top of a road user's box in front may lie below the box it covers, as a share
/// of its own height (see [`covered`]): the simulated detector jitters an edge by 3 % of the
/// box (a standard deviation), and a truck near the camera is 300–500 px tall.
const OCCLUDER_SLACK_H: f32 = 0.1;

/// What one [`Tracker::update`] produced.
#[derive(Debug)]
pub struct TrackerOutput<'a> {
    /// Ids of tracks confirmed at this update, ascending.
    pub confirmed: Vec<u64>,
    /// Confirmed tracks that ended at this update (lost for longer than `max_lost_s`), in their
    /// last state. Tentative tracks never appear here.
    pub ended: Vec<Track>,
    /// Tracks in state [`TrackState::Confirmed`], by ascending id: exactly the confirmed tracks
    /// matched at this frame, or carried onto it ([`Tracker::update_carried`]; a confirmed
    /// track that misses becomes lost). Includes the ones just confirmed. Lost tracks are
    /// available through [`Tracker::tracks`].
    pub active: &'a [Track],
}

/// The tracker for one camera. Keep one per video stream.
#[derive(Debug)]
pub struct Tracker {
    cfg: TrackerConfig,
    /// Live tracks, kept sorted by (Confirmed, Lost, Tentative) then id, so the output slices
    /// need no copying.
    tracks: Vec<Track>,
    n_confirmed: usize,
    n_lost: usize,
    next_id: u64,
    now: Option<f64>,
    /// The time the tracks' filters stand at: the latest update's. A carried frame moves their
    /// boxes on but not their filters, so a filter steps from detection to detection whatever
    /// the frames between (see [`Tracker::carry`]).
    filtered: Option<f64>,
    assigner: Assigner,
    // Scratch buffers, reused every update so a steady stream allocates nothing.
    high: Vec<u32>,
    low: Vec<u32>,
    rows: Vec<Item>,
    row_map: Vec<u32>,
    cols: Vec<Item>,
    col_map: Vec<u32>,
    matches: Vec<(u32, u32)>,
    pairs: Vec<(u32, u32)>,
    det_used: Vec<bool>,
    track_matched: Vec<bool>,
    /// Per track, left out of the stages still to come at this update (see [`Tracker::recover`]).
    left_out: Vec<bool>,
    /// Per track, the motion borrowed from a neighbour for a track seen once (see
    /// [`Tracker::neighbour_motion`]).
    priors: Vec<Option<(f32, f32)>>,
    /// Per track, its expected box and search radius at this update.
    expect: Vec<(BBox, f32)>,
    /// Per track, the direction a detection must lie in from its last one to be sought by
    /// reach at this update (see [`Tracker::recover`]).
    ahead: Vec<Option<(f32, f32)>>,
    /// Per track, sought by reach at this update while expected clear of the picture's top
    /// edge (see [`assign::Item::inside`]).
    inside: Vec<bool>,
    /// Per track, a track seen once whose box overlaps an established track's (see
    /// [`SECOND_BOX_IOU`]): it waits for the first assignment to be made.
    second_box: Vec<bool>,
    /// Per track riding in a cluster where the road is known, the picture's line along the road
    /// through its expected foot (see [`Tracker::lanes`]).
    lane: Vec<Option<assign::Lane>>,
    /// Per track moving on, how far back from its last detection a detection may lie (see
    /// [`Tracker::backs`]).
    back: Vec<Option<assign::Back>>,
    /// Per track, what a detection must not be to be its while it stands (see [`nearer_than`]).
    nearer: Vec<Option<assign::Nearer>>,
    /// Boxes that may be in front of a parked track at this update, with their track's index
    /// (`usize::MAX` for a detection): see [`covered`].
    in_front: Vec<(usize, BBox)>,
    /// Scratch for [`Tracker::lanes`]: expected feet sorted by x, with their track's index.
    feet: Vec<((f32, f32), u32)>,
    /// Per track, where the camera is calibrated, how far on the ground from its last detection
    /// a detection may lie (see [`ground`])…
    reach: Vec<Option<ground::Reach>>,
    /// … and per detection of the frame, where its foot may lie.
    det_foot: Vec<Option<ground::Foot>>,
    /// The horizon in the picture, `y = slope * x + intercept`, where the camera is calibrated.
    horizon: Option<(f32, f32)>,
    /// The camera's ground calibration, where it is calibrated (see [`ground`]).
    ground: Option<Ground>,
    /// The road's vanishing point (homogeneous pixels), where it is known (see `assign::road_line`).
    road: Option<(f32, f32, f32)>,
    /// The picture's width and height, once known: a box touching its edge is entering or
    /// leaving the view.
    picture: Option<(f32, f32)>,
    /// Per box of the latest frame (its detections, then its carried boxes), the id of the
    /// track it went to: boxes carried from it go to that track (see [`Tracker::carry`]).
    owners: Vec<Option<u64>>,
    /// The frame before's, while the frame's are made (kept for its memory).
    owners_before: Vec<Option<u64>>,
}

/// The shortest time between the two detections a track's ground speed is read from for its
/// ground reach, seconds (see `last_speed`): consecutive ones at up to 5 detections a second.
/// At 0.3 s, at 5 fps the speed came from 0.4 s back, and the false `collision_suspect` of
/// simulated dense traffic on the wide pole (seed 93, see `ground`) came back.
pub const SPEED_SPAN_S: f64 = 0.2;
/// A box within this many pixels of the picture's edge, or this share of its own size (width
/// across, height down: detectors jitter a box's edges by a few per cent of its size), is cut
/// by it.
pub const EDGE_MARGIN_PX: f32 = 3.0;
pub const EDGE_MARGIN_H: f32 = 0.06;

/// Which detections a stage draws from.
#[derive(Clone, Copy)]
enum Scores {
    High,
    Low,
}

/// What a stage scores a pair by.
#[derive(Clone, Copy)]
enum By {
    /// [`assign::similarity`]: overlap, or distance within the track's radius.
    Similarity,
    /// The overlap of the detection with the track's expected box alone.
    Iou,
}

impl Tracker {
    pub fn new(cfg: TrackerConfig) -> Self {
        Self {
            cfg,
            tracks: Vec::new(),
            n_confirmed: 0,
            n_lost: 0,
            next_id: 1,
            now: None,
            filtered: None,
            assigner: Assigner::default(),
            high: Vec::new(),
            low: Vec::new(),
            rows: Vec::new(),
            row_map: Vec::new(),
            cols: Vec::new(),
            col_map: Vec::new(),
            matches: Vec::new(),
            pairs: Vec::new(),
            det_used: Vec::new(),
            track_matched: Vec::new(),
            left_out: Vec::new(),
            priors: Vec::new(),
            expect: Vec::new(),
            ahead: Vec::new(),
            inside: Vec::new(),
            second_box: Vec::new(),
            lane: Vec::new(),
            back: Vec::new(),
            nearer: Vec::new(),
            in_front: Vec::new(),
            feet: Vec::new(),
            reach: Vec::new(),
            det_foot: Vec::new(),
            horizon: None,
            ground: None,
            road: None,
            picture: None,
            owners: Vec::new(),
            owners_before: Vec::new(),
        }
    }

    /// Tells the tracker the picture's size in pixels (the detections' coordinates), so that a
    /// track seen once at the picture's edge is expected to move into it (see
    /// `assign::inward_normal`). A size that is not positive and finite is ignored.
    pub fn set_picture(&mut self, width: f32, height: f32) {
        self.picture =
            (width.is_finite() && height.is_finite() && width > 0.0 && height > 0.0).then_some((width, height));
    }

    /// Tells the tracker where the horizon is (`y = slope * x + intercept`, pixels; from the
    /// camera's ground calibration), so that a track seen once is matched only to a detection
    /// whose size fits where it stands (see `assign::Scale`).
    pub fn with_horizon(mut self, horizon: Option<(f32, f32)>) -> Self {
        self.horizon = horizon.filter(|h| h.0.is_finite() && h.1.is_finite());
        self
    }

    /// Tells the tracker the camera's ground calibration, so that a track does not take a
    /// detection further on the ground than a road user could have gone since it was last seen
    /// (see `src/track/ground.rs`). A calibration with no horizon (the ground seen straight down,
    /// no perspective) is ignored, and so are boxes whose foot is not below the horizon.
    pub fn with_ground(mut self, homography: Option<Homography>) -> Self {
        self.ground = homography.and_then(Ground::new);
        self
    }

    /// Tells the tracker the road's vanishing point in the picture (homogeneous pixels, from the
    /// calibration and a zone drawn along the road), so that a track seen once is matched
    /// rather to a detection along the road than beside it (see `assign::road_line`).
    pub fn with_road(mut self, vanishing_point: Option<(f32, f32, f32)>) -> Self {
        self.road = vanishing_point.filter(|v| v.0.is_finite() && v.1.is_finite() && v.2.is_finite());
        self
    }

    /// Advance to frame time `t` (seconds, non-decreasing; if it goes backwards, or is not
    /// finite, the previous time is used and dt is 0) with this frame's detections.
    /// Detections with a non-finite score or box, or an empty box, are skipped.
    pub fn update(&mut self, t: f64, detections: &[Detection]) -> TrackerOutput<'_> {
        self.update_carried(t, detections, &[])
    }

    /// [`Tracker::update`] on a frame onto which boxes were carried as well (see
    /// [`Tracker::carry`] for `carried`): a track that no detection matched but that a box was
    /// carried to is not missed; it takes the box as [`Tracker::carry`] does. So a road user
    /// the detector misses stays what it was while the carrier follows it.
    pub fn update_carried(&mut self, t: f64, detections: &[Detection], carried: &[(usize, BBox)]) -> TrackerOutput<'_> {
        let now = match self.now {
            Some(prev) if t.is_finite() && t > prev => t,
            Some(prev) => prev,
            None if t.is_finite() => t,
            None => 0.0,
        };
        self.advance(now);

        self.high.clear();
        self.low.clear();
        for (i, d) in detections.iter().enumerate() {
            if !valid_detection(d) {
                continue;
            }
            if d.score >= self.cfg.high_thresh {
                self.high.push(i as u32);
            } else if d.score >= self.cfg.low_thresh {
                self.low.push(i as u32);
            }
        }
        self.det_used.clear();
        self.det_used.resize(detections.len(), false);
        self.track_matched.clear();
        self.track_matched.resize(self.tracks.len(), false);
        self.left_out.clear();
        self.left_out.resize(self.tracks.len(), false);
        self.ahead.clear();
        self.ahead.resize(self.tracks.len(), None);
        self.inside.clear();
        self.inside.resize(self.tracks.len(), false);
        self.pairs.clear();
        self.neighbour_motion(now);
        // Each track's expected box, once: the stages would otherwise refit it up to three times.
        // And where a standing one's detections stood, which both its expected box and what a
        // nearer road user's box is (`nearer_than`) come from.
        self.expect.clear();
        self.nearer.clear();
        for (tr, &prior) in self.tracks.iter().zip(&self.priors) {
            let still = if tr.standing() || tr.parked() {
                tr.obs.still_box().or(tr.stood.filter(|_| tr.behind()))
            } else {
                None
            };
            self.expect.push(Self::expected(tr, prior, still, now, self.horizon));
            self.nearer.push(nearer_than(tr, still, now));
        }
        self.lanes(now);
        self.backs(now);
        self.reach.clear();
        self.det_foot.clear();
        if let Some(ground) = self.ground {
            let picture = self.picture;
            let foot = |b: &BBox| ground.foot(b, cut_at_bottom(b, picture));
            // Not a standing one: it does not move, and a car standing mostly hidden behind the
            // one that ran into it has its box's foot further off than HIDDEN_H allows for.
            self.reach.extend(self.tracks.iter().map(|tr| {
                let moving = !tr.standing() && !tr.parked();
                let from = foot(&tr.det_bbox).filter(|_| moving)?;
                let speed = last_speed(tr, &ground, picture);
                Some(Ground::reach(from, now - tr.last_seen, speed))
            }));
            self.det_foot.extend(detections.iter().map(|d| foot(&d.bbox)));
        } else {
            self.reach.resize(self.tracks.len(), None);
            self.det_foot.resize(detections.len(), None);
        }

        let gate = self.cfg.match_iou;
        self.mark_second_boxes();
        self.stage(detections, Scores::High, gate, |_| true);
        self.second_box.fill(false);
        // A weak box on a standing object is that object, partly hidden, before it is a moving
        // track's that its prediction carried there (see STANDING_WEAK_IOU).
        self.stage_by(detections, Scores::Low, STANDING_WEAK_IOU, By::Iou, |t| {
            t.state != TrackState::Tentative && (t.standing() || t.parked())
        });
        self.stage(detections, Scores::Low, LOW_SCORE_MATCH_IOU, |t| {
            t.state == TrackState::Confirmed
                || (t.state == TrackState::Lost && now - t.last_seen <= WEAK_REVIVE_S && !t.parked() && !t.standing())
        });
        self.stage_by(detections, Scores::Low, WEAK_REVIVE_IOU, By::Iou, |t| {
            t.state == TrackState::Lost && !t.parked() && !t.standing()
        });
        self.stage(detections, Scores::High, gate, |t| t.state == TrackState::Tentative);
        self.recover(now);
        self.stage(detections, Scores::High, gate, |t| t.state != TrackState::Tentative);
        self.lone(detections, gate);

        // What may be in front of a parked track: the frame's detections, and where the other
        // established tracks were expected (a truck passing in front may be missed just when
        // the car's box is cut). Gathered only when a parked track may need them.
        self.in_front.clear();
        if self.tracks.iter().any(|t| t.parked() && t.stood.is_some()) {
            let low = self.cfg.low_thresh;
            self.in_front.extend(
                detections.iter().filter(|d| valid_detection(d) && d.score >= low).map(|d| (usize::MAX, d.bbox)),
            );
            let established = self.tracks.iter().map(|t| t.state != TrackState::Tentative);
            self.in_front.extend(
                self.expect.iter().zip(established).enumerate().filter(|(_, (_, e))| *e).map(|(j, (x, _))| (j, x.0)),
            );
        }
        let min_hits = self.cfg.min_hits.max(1);
        let confirm_s = self.cfg.confirm_s;
        let mut confirmed = Vec::new();
        let picture = self.picture;
        let before = self.start_owners();
        self.owners.resize(detections.len(), None);
        for &(d, k) in &self.pairs {
            let tr = &mut self.tracks[k as usize];
            self.owners[d as usize] = Some(tr.id);
            let det = &detections[d as usize];
            // Judged against where it stood before this detection, which `apply` may move.
            // Covered until its own detections stand again (`apply`): a whole box after cut
            // ones does not yet make a still box of its last few.
            if tr.parked()
                && let Some(s) = tr.stood
            {
                tr.covered |= covered(&s, &det.bbox, &self.in_front, k as usize);
            }
            tr.apply(det, now, picture);
            match tr.state {
                TrackState::Lost => tr.state = TrackState::Confirmed,
                TrackState::Tentative if tr.hits >= min_hits || (tr.hits >= 2 && now - tr.first_seen >= confirm_s) => {
                    tr.state = TrackState::Confirmed;
                    confirmed.push(tr.id);
                }
                _ => {}
            }
        }

        self.give_carried(now, &before, carried, |me, k| !me.track_matched[k]);
        self.owners_before = before;

        let mut ended = Vec::new();
        let mut i = 0;
        while i < self.tracks.len() {
            // A track the carrier still follows is not missed.
            if self.track_matched[i] || self.tracks[i].carried_at(now).is_some() {
                i += 1;
                continue;
            }
            let tr = &mut self.tracks[i];
            tr.misses = tr.misses.saturating_add(1);
            let remove = match tr.state {
                // Seen once, away from the picture's edge: see LATE_MISSES.
                TrackState::Tentative => {
                    tr.misses > if tr.hits <= 1 && !at_edge(&tr.det_bbox, picture) { LATE_MISSES } else { 1 }
                }
                TrackState::Confirmed | TrackState::Lost => {
                    tr.state = TrackState::Lost;
                    // Standing by its filter or by its detections' feet: the filter's velocity
                    // follows each detection's jitter, and a car standing cut by the picture's
                    // top edge read 10.6 px a second after one jittered box when the car that
                    // ran into it hid it, and was forgotten after `max_lost_s`.
                    let limit = if tr.standing() || tr.parked() || tr.obs.still_box().is_some() {
                        self.cfg.max_lost_s.max(self.cfg.max_lost_stationary_s)
                    } else {
                        self.cfg.max_lost_s
                    };
                    now - tr.last_seen > limit
                }
            };
            if remove {
                let tr = self.tracks.swap_remove(i);
                self.track_matched.swap_remove(i);
                if tr.state != TrackState::Tentative {
                    ended.push(tr);
                }
            } else {
                i += 1;
            }
        }

        for &d in &self.high {
            let det = &detections[d as usize];
            if self.det_used[d as usize] || det.score < self.cfg.new_track_thresh {
                continue;
            }
            let Some(z) = kalman::measurement_from_bbox(&det.bbox) else {
                continue;
            };
            let mut tr = Track::new(self.next_id, det, &z, now, self.picture);
            self.owners[d as usize] = Some(tr.id);
            self.next_id += 1;
            if min_hits <= 1 {
                tr.state = TrackState::Confirmed;
                confirmed.push(tr.id);
            }
            self.tracks.push(tr);
        }

        self.reorder();
        confirmed.sort_unstable();
        ended.sort_unstable_by_key(|t| t.id);
        TrackerOutput { confirmed, ended, active: &self.tracks[..self.n_confirmed] }
    }

    /// Boxes carried onto a decoded frame at time `t` between two detected frames (see
    /// [`carry`](self::carry)), each with the index of the box of the frame before it was
    /// carried from: that frame's detections (given to [`Tracker::update`]), then its carried
    /// boxes. The track that box went to (the detection's match, or the track it started; the
    /// carried box's own track) takes it as its latest box (see [`Track::carried_at`]; its
    /// filter does not, see `Track::carry`).
    /// Nothing is associated: a carried box cannot pass to a neighbour's track, start one,
    /// confirm one, or count as a hit or a miss; tracks only start, confirm, get lost and end at
    /// detected frames. Every track's box moves on to `t` as its filter predicts it; the filters
    /// stay at the latest update's time (`Tracker::advance_boxes`). A time not after the latest one,
    /// a box that is not finite or empty, and an index the frame before did not have are
    /// ignored. Returns how many tracks took a box.
    pub fn carry(&mut self, t: f64, boxes: &[(usize, BBox)]) -> usize {
        let advance = self.now.filter(|&prev| t.is_finite() && t > prev);
        if advance.is_some() {
            self.advance_boxes(t);
        }
        // The boxes' owners are kept even when the time is refused, so the next frame's boxes
        // still name theirs.
        let before = self.start_owners();
        let n = self.give_carried(t, &before, boxes, |_, _| advance.is_some());
        self.owners_before = before;
        n
    }

    /// Starts the frame's owners empty and hands out the frame before's, to be put back in
    /// `owners_before` once read: both buffers keep their memory from frame to frame.
    fn start_owners(&mut self) -> Vec<Option<u64>> {
        std::mem::swap(&mut self.owners, &mut self.owners_before);
        self.owners.clear();
        std::mem::take(&mut self.owners_before)
    }

    /// The boxes carried onto the frame at `t`, each naming its box of the frame before (whose
    /// owners are `before`): each box's owner is appended to the frame's owners, and the owner
    /// takes the box if it is live, not lost, has taken none at `t` yet (the first box, carried
    /// from the freshest detection, wins) and `takes` accepts it (by its index). Returns how many
    /// tracks took a box.
    fn give_carried(
        &mut self,
        t: f64,
        before: &[Option<u64>],
        boxes: &[(usize, BBox)],
        takes: impl Fn(&Self, usize) -> bool,
    ) -> usize {
        let mut n = 0;
        for (from, b) in boxes {
            let owner = before.get(*from).copied().flatten();
            self.owners.push(owner);
            // Tracks are only removed at updates, after the owners of the frame are known.
            let Some(k) = owner.and_then(|id| self.tracks.iter().position(|tr| tr.id == id)) else { continue };
            let tr = &self.tracks[k];
            if tr.state != TrackState::Lost
                && tr.carried_at(t).is_none()
                && kalman::measurement_from_bbox(b).is_some()
                && takes(self, k)
            {
                self.tracks[k].carry(b, t);
                n += 1;
            }
        }
        n
    }

    /// Move every track's filter on to `now` (not before the latest time), and its box with it.
    fn advance(&mut self, now: f64) {
        let dt = self.filtered.map_or(0.0, |prev| (now - prev) as f32);
        self.now = Some(now);
        self.filtered = Some(now);
        for tr in &mut self.tracks {
            if tr.state == TrackState::Lost {
                // As ByteTrack: a lost box keeps drifting with its motion but not growing or
                // shrinking, which would make it useless for re-identification.
                tr.kf.freeze_height();
            }
            tr.kf.predict(dt);
            tr.bbox = tr.kf.bbox();
        }
    }

    /// Move every track's box on to `now`, a carried frame's time, as its filter predicts it,
    /// leaving the filter where the latest update left it. Predicting the filter on every
    /// carried frame too (15 steps a second instead of 3) grew its position uncertainty by
    /// the velocity noise of each step, so the next detection pulled its velocity further:
    /// a standing car's jitter read 9.0 px a second instead of 8.6, over the line that keeps
    /// a standing track through an occlusion (`STILL_SPEED_H`), and the car hidden by the one
    /// braking into it was forgotten (rear-end, rooftop, 3+15, seed 16).
    fn advance_boxes(&mut self, now: f64) {
        self.now = Some(now);
        let dt = self.filtered.map_or(0.0, |prev| (now - prev) as f32);
        for tr in &mut self.tracks {
            tr.bbox = tr.kf.bbox_ahead(dt, tr.state == TrackState::Lost);
        }
    }

    /// One association stage: unused detections of the given band against the unmatched
    /// tracks that `eligible` accepts, by similarity; results go to `pairs`.
    fn stage(&mut self, detections: &[Detection], scores: Scores, gate: f32, eligible: impl Fn(&Track) -> bool) {
        self.stage_by(detections, scores, gate, By::Similarity, eligible);
    }

    /// [`Tracker::stage`], scoring pairs `by` similarity or by their boxes' overlap alone.
    fn stage_by(
        &mut self,
        detections: &[Detection],
        scores: Scores,
        gate: f32,
        by: By,
        eligible: impl Fn(&Track) -> bool,
    ) {
        let Self {
            tracks,
            assigner,
            high,
            low,
            rows,
            row_map,
            cols,
            col_map,
            matches,
            pairs,
            det_used,
            track_matched,
            left_out,
            expect,
            ahead,
            inside,
            second_box,
            lane,
            back,
            nearer,
            reach,
            det_foot,
            horizon,
            road,
            picture,
            ..
        } = self;
        let band = match scores {
            Scores::High => &*high,
            Scores::Low => &*low,
        };
        rows.clear();
        row_map.clear();
        for &d in band {
            if !det_used[d as usize] {
                let det = &detections[d as usize];
                let cut = picture.is_some() && cut_at_top(&det.bbox);
                rows.push(Item { cut, foot: det_foot[d as usize], ..Item::new(det.class_id, det.bbox) });
                row_map.push(d);
            }
        }
        cols.clear();
        col_map.clear();
        for (k, tr) in tracks.iter().enumerate() {
            if !track_matched[k] && !left_out[k] && !second_box[k] && !late(tr) && eligible(tr) {
                let (bbox, radius) = expect[k];
                let radius = match by {
                    By::Similarity => radius,
                    By::Iou => 0.0,
                };
                let last_h = tr.det_bbox.y2 - tr.det_bbox.y1;
                // Seen once, it may be coming or going: near the camera a fast rider's box
                // halves or doubles between two detections at 3 per second.
                let heights = if tr.hits <= 1 { (last_h * 0.6, last_h * 1.6) } else { (last_h, last_h) };
                let d = &tr.det_bbox;
                let scale = horizon.filter(|_| tr.hits <= 1).map(|horizon| Scale {
                    width: d.x2 - d.x1,
                    foot: ((d.x1 + d.x2) * 0.5, d.y2),
                    horizon,
                });
                let entering =
                    picture.filter(|_| tr.hits <= 1).and_then(|p| assign::inward_normal(d, p, edge_margin(d)));
                // A box cut by the edge has no foot to draw the line through.
                let road = road
                    .filter(|_| tr.hits <= 1 && entering.is_none())
                    .and_then(|vp| assign::road_line(((d.x1 + d.x2) * 0.5, d.y2), vp));
                cols.push(Item {
                    radius,
                    heights,
                    scale,
                    entering,
                    road,
                    ahead: ahead[k],
                    inside: inside[k],
                    lane: lane[k],
                    back: back[k],
                    nearer: nearer[k],
                    reach: reach[k],
                    ..Item::new(tr.class_id, bbox)
                });
                col_map.push(k as u32);
            }
        }
        if rows.is_empty() || cols.is_empty() {
            return;
        }
        assigner.associate(rows, cols, gate, matches);
        for &(r, c) in matches.iter() {
            let d = row_map[r as usize];
            let k = col_map[c as usize];
            det_used[d as usize] = true;
            track_matched[k as usize] = true;
            pairs.push((d, k));
        }
    }

    /// Marks the tracks seen once whose box overlaps the last box of an established track of
    /// their class (seen twice or more) by more than [`SECOND_BOX_IOU`]: more likely a second box
    /// of that road user than a neighbour (SSD-MobileNet-v2 draws one on a walker's legs, or
    /// around two walkers), which would take its detection in the first assignment and break
    /// its track.
    fn mark_second_boxes(&mut self) {
        let tracks = &self.tracks;
        self.second_box.clear();
        self.second_box.extend(tracks.iter().map(|tr| {
            tr.state == TrackState::Tentative
                && tr.hits <= 1
                && tracks
                    .iter()
                    .any(|o| o.hits > 1 && o.class_id == tr.class_id && o.det_bbox.iou(&tr.det_bbox) > SECOND_BOX_IOU)
        }));
    }

    /// Stage 5: a track seen once and a detection that are each other's only candidate within
    /// the track's radius are matched even if the detection's size and place fit the road
    /// badly. Those fits choose between candidates (the rider entering behind, the one in the
    /// next lane); with no other candidate they would only split one road user into two
    /// tentative tracks that then share its detections: near a pole camera at 3 detections a
    /// second a weaving rider moves 6 m on and 2 m across between two of them, and its box
    /// changes width as it turns. The detection must still have a width the object can have
    /// where it stands, and lie no further back than where its neighbours' motion, if it
    /// borrowed one, would take it. A track seen once that missed [`LATE_MISSES`] times is
    /// matched only here, and not while an established track of its class not matched yet is
    /// expected within its radius.
    fn lone(&mut self, detections: &[Detection], gate: f32) {
        let Self {
            tracks,
            high,
            det_used,
            track_matched,
            left_out,
            expect,
            pairs,
            picture,
            horizon,
            priors,
            lane,
            reach,
            det_foot,
            ..
        } = self;
        let candidate = |d: u32, k: usize| {
            let (det, tr) = (&detections[d as usize], &tracks[k]);
            if det.class_id != tr.class_id {
                return false;
            }
            let (bbox, radius) = expect[k];
            let dd = &tr.det_bbox;
            let last_h = dd.height();
            let entering = picture.and_then(|p| assign::inward_normal(dd, p, edge_margin(dd)));
            let col = Item {
                radius,
                heights: (last_h * 0.6, last_h * 1.6),
                entering,
                lane: lane[k],
                reach: reach[k],
                ..Item::new(tr.class_id, bbox)
            };
            // Its size must still be one the object can have where the detection stands.
            let fits = horizon.is_none_or(|horizon| {
                let foot = ((det.bbox.x1 + det.bbox.x2) * 0.5, det.bbox.y2);
                let scale = assign::Scale { width: dd.x2 - dd.x1, foot: ((dd.x1 + dd.x2) * 0.5, dd.y2), horizon };
                entering.is_some() || scale.fit(det.bbox.x2 - det.bbox.x1, foot) > 0.0
            });
            // Not behind where its neighbours' motion would take it.
            let ((x0, y0), (x1, y1)) = (dd.center(), det.bbox.center());
            let ahead = priors[k].is_none_or(|(vx, vy)| (x1 - x0) * vx + (y1 - y0) * vy >= 0.0);
            let cut = picture.is_some() && cut_at_top(&det.bbox);
            let foot = det_foot[d as usize];
            fits && ahead && assign::similarity(&Item { cut, foot, ..Item::new(det.class_id, det.bbox) }, &col) >= gate
        };
        let open: Vec<usize> = (0..tracks.len())
            .filter(|&k| {
                !track_matched[k] && !left_out[k] && tracks[k].state == TrackState::Tentative && tracks[k].hits <= 1
            })
            .collect();
        if open.is_empty() {
            return;
        }
        let free: Vec<u32> = high.iter().copied().filter(|&d| !det_used[d as usize]).collect();
        for &k in &open {
            let mut mine = free.iter().copied().filter(|&d| candidate(d, k));
            let (Some(d), None) = (mine.next(), mine.next()) else {
                continue;
            };
            // The detection's only candidate among every track not matched yet, left out of
            // the recovery or not (a track that missed or another new one near it makes the
            // choice a guess).
            let rivals = (0..tracks.len())
                .any(|j| j != k && !track_matched[j] && tracks[j].class_id == tracks[k].class_id && candidate(d, j));
            // Missed twice since, its radius is wide: any established track of its class not
            // matched yet and expected within it may be the one seen.
            let (at, radius) = (detections[d as usize].bbox.center(), expect[k].1);
            let late_rivals = late(&tracks[k])
                && (0..tracks.len()).any(|j| {
                    let (o, c) = (&tracks[j], expect[j].0.center());
                    j != k
                        && !track_matched[j]
                        && o.class_id == tracks[k].class_id
                        && o.state != TrackState::Tentative
                        && (c.0 - at.0).hypot(c.1 - at.1) < radius
                });
            if !rivals && !late_rivals {
                det_used[d as usize] = true;
                track_matched[k] = true;
                pairs.push((d, k as u32));
            }
        }
    }

    /// Where a track's detection is expected at `now`, and the radius in pixels around that
    /// box's centre within which a detection's centre may match it (see the module doc).
    ///
    /// The box comes from the perspective-aware fit of the last detections
    /// ([`perspective`]), or the Kalman prediction before there are two. The radius is the
    /// box's own size, plus half the distance it was predicted to travel since it was last
    /// seen; for a track seen once, a generous allowance for a velocity not known yet. `still`
    /// is where a standing track's detections stood, if they did.
    fn expected(
        tr: &Track,
        prior: Option<(f32, f32)>,
        still: Option<BBox>,
        now: f64,
        horizon: Option<(f32, f32)>,
    ) -> (BBox, f32) {
        let unseen = (now - tr.last_seen).max(0.0) as f32;
        let height = |b: &BBox| b.y2 - b.y1;
        // Followed by the carrier since its last detection: where it last had it, moving as its
        // last carried boxes did. Those are fresher than the detections the fit extrapolates
        // (a braking car carried to a stop is not where its last detections' speed puts it),
        // and than the filter's velocity, which takes a second to follow a braking.
        // Not a parked one, though: a parked car's carried box can be dragged by a road user
        // passing in front before the carrier gives it up, and sought where that one went, the
        // car found again where it stood became a second stop (simulated: rooftop,
        // stopped_car, seed 7).
        if !tr.parked()
            && let Some(((tc, b), (vx, vy))) = tr.carried_motion()
        {
            let dt = (now - tc).max(0.0) as f32;
            let (dx, dy) = (vx * dt, vy * dt);
            let h = height(&b).max(1.0);
            let moved = BBox::new(b.x1 + dx, b.y1 + dy, b.x2 + dx, b.y2 + dy);
            return (moved, h * RADIUS_BASE_H + RADIUS_SPEED_FRACTION * dx.hypot(dy));
        }
        if tr.hits <= 1 {
            let h = height(&tr.det_bbox).max(1.0);
            let radius = h * (RADIUS_BASE_H + NEW_TRACK_SPEED_H * unseen);
            let b = tr.det_bbox;
            let Some((vx, vy)) = prior else {
                return (b, radius);
            };
            // Moving as its neighbour does, scaled to its own size; the radius stays wide
            // in case it does not.
            let w = b.x2 - b.x1;
            let (dx, dy) = (vx * w * unseen, vy * w * unseen);
            return (BBox::new(b.x1 + dx, b.y1 + dy, b.x2 + dx, b.y2 + dy), radius);
        }
        // A standing object is where it stood: extrapolating the jitter of its last few boxes
        // over a long occlusion would walk its expected box away. So is a parked one that
        // seems to move as a passing vehicle covers it bit by bit.
        let (bbox, spread) = match tr.obs.predict_with_spread(now, horizon) {
            Some(fit) if !tr.standing() && !tr.parked() => fit,
            // A parked one where its detection stood, not where a carried box may have drifted;
            // but one lost behind a road user in front where it stood (`still`), its last
            // detection and carried boxes cut.
            _ if tr.parked() && !tr.trail.is_empty() && !tr.behind() => (tr.det_bbox, 0.0),
            _ if tr.standing() || tr.parked() => (still.unwrap_or(tr.bbox), 0.0),
            _ => (tr.bbox, 0.0),
        };
        let centre = |b: &BBox| ((b.x1 + b.x2) * 0.5, (b.y1 + b.y2) * 0.5);
        let (p, q) = (centre(&bbox), centre(&tr.det_bbox));
        let travel = (p.0 - q.0).hypot(p.1 - q.1);
        let h = height(&bbox).max(height(&tr.det_bbox)).max(1.0);
        (bbox, h * RADIUS_BASE_H + RADIUS_SPEED_FRACTION * travel + RADIUS_SPREAD * spread)
    }

    /// Where a lost track that its prediction did not find may be found again: anywhere
    /// around its last detection within [`RECOVERY_REACH`] times the distance its image speed
    /// covers in the time unseen (OC-SORT's observation-centric recovery, with a reach instead
    /// of a fixed IoU). The prediction extrapolates the motion it last saw, and a road user that
    /// changed course while unseen (a weaving rider reversing its swing, far away where its
    /// swing is several of its own box widths) is then beside the prediction but within reach
    /// of where it was. Only detections that every other track left are offered (stage 4 of
    /// the module doc): tracks with a motion to predict from, and new ones, choose first.
    ///
    /// It is sought at the size its prediction gives it, not its last box's: near the camera a
    /// fast road user's box halves or doubles in two detections. And not in a detection cut by
    /// the picture's top edge when it is expected clear of that edge: that is a road user
    /// entering there (see [`assign::Item::inside`]).
    ///
    /// A lost track with another lost track of its class within its reach, not found again at
    /// this update, is not recovered: far away in a cluster of
    /// riders the detection within reach is as likely a neighbour's, and a track that passes to
    /// another road user misleads the rules more than one that starts again under a new id.
    ///
    /// A confirmed track that its prediction missed only now is sought the same way, but only
    /// ahead of where it was last seen (along its velocity), and only when no other track of its
    /// class, in any state, is within [`ALONE_REACHES`] of its reach: near the camera at 3
    /// detections a second a weaving rider's turn takes it a box width from a prediction made of
    /// two detections, while a rider in a group or a cluster has neighbours that can be the one
    /// seen there, and what lies behind a rider riding on is the next one.
    fn recover(&mut self, now: f64) {
        let picture = self.picture;
        let centre = |b: &BBox| ((b.x1 + b.x2) * 0.5, (b.y1 + b.y2) * 0.5);
        for k in 0..self.tracks.len() {
            let tr = &self.tracks[k];
            if tr.state == TrackState::Tentative || self.track_matched[k] {
                continue;
            }
            let (vx, vy) = tr.velocity();
            // Last seen at the picture's edge moving out, or predicted outside it: it left the
            // view, and the road user entering there now is another one.
            let gone = picture.is_some_and(|(w, ht)| {
                let e = &self.expect[k].0;
                let (cx, cy) = ((e.x1 + e.x2) * 0.5, (e.y1 + e.y2) * 0.5);
                let outside = !(0.0..=w).contains(&cx) || !(0.0..=ht).contains(&cy);
                let leaving = assign::inward_normal(&tr.det_bbox, (w, ht), edge_margin(&tr.det_bbox))
                    .is_some_and(|n| vx * n.0 + vy * n.1 < 0.0);
                outside || leaving
            });
            let unseen = (now - tr.last_seen).max(0.0) as f32;
            let h = (tr.det_bbox.y2 - tr.det_bbox.y1).max(1.0);
            let reach = h * RADIUS_BASE_H + (RECOVERY_REACH * vx.hypot(vy) * unseen).min(RECOVERY_MAX_H * h);
            let me = centre(&tr.det_bbox);
            // Another lost track of its class, not found again at this update either, near
            // enough to be the one seen now. (Counting confirmed tracks that missed this update
            // too lost the weaving rider on the wide pole at 3 fps in 2 of 5 runs, to a second
            // id of the same rider, and changed nothing in dense traffic.)
            // A track that missed only now is sought by reach when it rides alone: any road
            // user of its class near it, seen or not, may be the one there.
            let missed_now = tr.state == TrackState::Confirmed;
            let crowded = self.tracks.iter().enumerate().any(|(j, o)| {
                let c = centre(&o.det_bbox);
                j != k
                    && (missed_now || (!self.track_matched[j] && o.state == TrackState::Lost))
                    && o.class_id == tr.class_id
                    && (c.0 - me.0).hypot(c.1 - me.1) < if missed_now { ALONE_REACHES * reach } else { reach }
            });
            if gone || crowded {
                self.left_out[k] = true;
            } else {
                // Around where it was, at the size it is expected to have now: riding away near
                // the camera at 3 detections a second, a rider's box halves in two of them, and
                // its last box alone would refuse its next as another road user's.
                let p = self.expect[k].0;
                self.inside[k] = p.y1 > edge_margin(&p).1;
                let (hw, hh) = ((p.x2 - p.x1) * 0.5, (p.y2 - p.y1) * 0.5);
                self.expect[k] = (BBox::new(me.0 - hw, me.1 - hh, me.0 + hw, me.1 + hh), reach);
                // Ahead of it only: a weaving rider turns across the road, not back, and what
                // lies behind a rider riding on is the next one.
                let v = vx.hypot(vy);
                if missed_now && v > 0.0 {
                    self.ahead[k] = Some((vx / v, vy / v));
                }
            }
        }
    }

    /// For each track with another of its class within [`CLUSTER_W`] of its own width of it
    /// (both where expected), where the road's direction is known: the picture's line along
    /// the road through its expected foot. In a cluster a detection whose foot lies further
    /// than [`LANE_W`] of its width off that line is a neighbour's (see `assign::Item::lane`).
    /// Not for a box cut by the picture's edge, whose foot is not on the ground.
    fn lanes(&mut self, now: f64) {
        self.lane.clear();
        self.lane.resize(self.tracks.len(), None);
        let (Some(vp), Some(picture)) = (self.road, self.picture) else { return };
        // Expected feet sorted by x, so each track looks only at those within its reach across.
        self.feet.clear();
        self.feet.extend(self.expect.iter().enumerate().map(|(k, e)| (e.0.bottom_center(), k as u32)));
        self.feet.sort_unstable_by(|a, b| a.0.0.total_cmp(&b.0.0));
        for (k, tr) in self.tracks.iter().enumerate() {
            let d = &tr.det_bbox;
            if at_edge(d, Some(picture)) {
                continue;
            }
            let me = self.expect[k].0.bottom_center();
            let w = (d.x2 - d.x1).max(1.0);
            let reach = CLUSTER_W * w;
            let from = self.feet.partition_point(|(p, _)| p.0 < me.0 - reach);
            let clustered = self.feet[from..].iter().take_while(|(p, _)| p.0 <= me.0 + reach).any(|&(p, j)| {
                j as usize != k
                    && self.tracks[j as usize].class_id == tr.class_id
                    && (p.0 - me.0).hypot(p.1 - me.1) < reach
            });
            if clustered {
                let unseen = (now - tr.last_seen).max(0.0) as f32;
                let (vx, vy) = tr.velocity();
                self.lane[k] = assign::road_line(me, vp).map(|l| {
                    // A rider moving across the road (changing lane, swerving out to overtake)
                    // may reverse that while unseen: allow for what its own lateral speed
                    // could take it.
                    let lateral = (l.0 * vx + l.1 * vy).abs() / w;
                    assign::Lane { line: l, max_off_w: LANE_W + LANE_SPEED_K * lateral * unseen }
                });
            }
        }
    }

    /// For each track moving on along the road, where the road's direction is known (confirmed
    /// or lost, not standing, whose velocity along the road would have taken it [`MOVING_H`] of
    /// its box heights since its last detection, not cut by the picture's edge): its last
    /// detection's foot and its direction along the road. A detection whose foot lies more than
    /// [`BACK_H`] of its box heights behind is not this track's by distance (see
    /// `assign::Item::back`): a road vehicle does not back up between two detections, and what
    /// lies there is the one following it in its lane. At 3 detections a second, a rider of a
    /// cluster riding away that the detector missed had its track take the detection of the
    /// rider behind it, and the rider's own detections before a line then went with the wrong
    /// track. Along the road only: far away a weaving rider's image motion is mostly across
    /// it, and its swing reverses. Needs the picture's size ([`Tracker::set_picture`]).
    fn backs(&mut self, now: f64) {
        self.back.clear();
        self.back.resize(self.tracks.len(), None);
        let Some(vp) = self.road else { return };
        for (k, tr) in self.tracks.iter().enumerate() {
            let d = &tr.det_bbox;
            let cut = at_edge(d, self.picture);
            if tr.state == TrackState::Tentative || tr.standing() || tr.parked() || cut {
                continue;
            }
            let Some((a, b, _)) = assign::road_line(d.bottom_center(), vp) else { continue };
            let (vx, vy) = tr.velocity();
            let along = vx * -b + vy * a;
            let h = d.height().max(1.0);
            let unseen = (now - tr.last_seen).max(0.0) as f32;
            if along.abs() * unseen >= MOVING_H * h {
                let s = along.signum();
                self.back[k] = Some(assign::Back { from: d.bottom_center(), dir: (-b * s, a * s), tol: BACK_H * h });
            }
        }
    }

    /// For each track seen once (no velocity of its own yet), the velocity of the nearest track
    /// of its class that has one and was last seen within a few box widths, in box widths per
    /// second: in traffic, neighbours move alike, and a rider entering the picture behind
    /// another at 80 km/h is otherwise as likely to be matched to the next newcomer as to itself.
    /// None when the nearest is standing or parked: it tells nothing of where a newcomer goes,
    /// and its velocity, its boxes' jitter, points anywhere (nor does a moving one further off,
    /// in the next lane or coming the other way, behind a queue the newcomer joins). Stage 5
    /// refused a car seen once as it braked towards a standing one, then missed twice, its next
    /// detection as lying "behind" the standing car's jitter (8 m pole, 3 fps, `rear_end_shove`
    /// seed 28).
    fn neighbour_motion(&mut self, now: f64) {
        /// How far a neighbour may be, in widths of the new track's box.
        const NEAR_W: f32 = 6.0;
        self.priors.clear();
        self.priors.resize(self.tracks.len(), None);
        let foot = |b: &BBox| ((b.x1 + b.x2) * 0.5, b.y2);
        for (k, tr) in self.tracks.iter().enumerate() {
            if tr.hits > 1 {
                continue;
            }
            let me = foot(&tr.det_bbox);
            let w = (tr.det_bbox.x2 - tr.det_bbox.x1).max(1.0);
            let mut best: Option<(f32, Option<(f32, f32)>)> = None;
            for other in &self.tracks {
                if other.hits < 2 || other.class_id != tr.class_id {
                    continue;
                }
                let them = foot(&other.det_bbox);
                let dist = (them.0 - me.0).hypot(them.1 - me.1) / w;
                if dist > NEAR_W || best.is_some_and(|(d, _)| d <= dist) {
                    continue;
                }
                if other.standing() || other.parked() {
                    best = Some((dist, None));
                    continue;
                }
                let unseen = (now - other.last_seen) as f32;
                // From the fit at its last detection, not the detection itself: a box cut by the
                // picture's edge has its foot put back by the fit, and the two would disagree.
                let fit = |t| other.obs.predict(t, self.horizon);
                let (Some(next), Some(last)) = (fit(now), fit(other.last_seen)) else {
                    continue;
                };
                if unseen <= 0.0 {
                    continue;
                }
                let ow = (other.det_bbox.x2 - other.det_bbox.x1).max(1.0);
                let (to, from) = (foot(&next), foot(&last));
                best = Some((dist, Some(((to.0 - from.0) / ow / unseen, (to.1 - from.1) / ow / unseen))));
            }
            self.priors[k] = best.and_then(|(_, v)| v);
        }
    }

    /// Restores the (Confirmed, Lost, Tentative; id) order and the group sizes.
    fn reorder(&mut self) {
        let key = |t: &Track| (state_rank(t.state), t.id);
        if !self.tracks.is_sorted_by_key(key) {
            // Ids are unique, so an unstable sort is deterministic, and it needs no buffer.
            self.tracks.sort_unstable_by_key(key);
        }
        self.n_confirmed = self.tracks.partition_point(|t| t.state == TrackState::Confirmed);
        self.n_lost = self.tracks[self.n_confirmed..].partition_point(|t| t.state == TrackState::Lost);
    }

    /// End every track (end of stream / shutdown); returns the confirmed or lost tracks that
    /// were ended, by ascending id. Ids keep increasing if the tracker is used again.
    pub fn finish(&mut self) -> Vec<Track> {
        let mut ended: Vec<Track> = self.tracks.drain(..).filter(|t| t.state != TrackState::Tentative).collect();
        ended.sort_unstable_by_key(|t| t.id);
        self.n_confirmed = 0;
        self.n_lost = 0;
        ended
    }

    /// Confirmed tracks (state Confirmed or Lost), for rules: the Confirmed ones first, then
    /// the Lost ones, each by ascending id.
    pub fn tracks(&self) -> impl Iterator<Item = &Track> + Clone {
        self.tracks[..self.n_confirmed + self.n_lost].iter()
    }

    /// Every live track, tentative ones last: for per-track measurements (ground speed) that
    /// should start with a track's first detection rather than at its confirmation, which at a
    /// low detect rate is a third of the time a fast object is in view. Rules still act on
    /// [`Tracker::tracks`] only.
    pub fn live_tracks(&self) -> impl Iterator<Item = &Track> + Clone {
        self.tracks.iter()
    }

    /// The live track that box `i` of the latest frame went to (its detections, then its
    /// carried boxes, as given to the tracker).
    pub fn owner(&self, i: usize) -> Option<&Track> {
        let id = self.owners.get(i).copied().flatten()?;
        self.tracks.iter().find(|t| t.id == id)
    }
}

fn state_rank(s: TrackState) -> u8 {
    match s {
        TrackState::Confirmed => 0,
        TrackState::Lost => 1,
        TrackState::Tentative => 2,
    }
}

/// How near the picture's left or right edge, and its top or bottom edge, a box counts as cut
/// by it (see [`EDGE_MARGIN_PX`]): a share of its width across, of its height down.
fn edge_margin(b: &BBox) -> (f32, f32) {
    (EDGE_MARGIN_PX.max(EDGE_MARGIN_H * (b.x2 - b.x1)), EDGE_MARGIN_PX.max(EDGE_MARGIN_H * (b.y2 - b.y1)))
}

/// Whether the picture's top edge cuts the box: its height is then only the part in the
/// picture, less than the road user's.
pub fn cut_at_top(b: &BBox) -> bool {
    b.y1 <= edge_margin(b).1
}

/// Whether the bottom edge of a picture of this size (if known) cuts the box.
fn cut_at_bottom(b: &BBox, picture: Option<(f32, f32)>) -> bool {
    picture.is_some_and(|(_, height)| b.y2 >= height - edge_margin(b).1)
}

/// A track's ground speed from the latest of its stored detections at least [`SPEED_SPAN_S`]
/// before its last one to that one, m/s ([`Ground::speed`]); `None` before it has two that far
/// apart, or when either's bottom lies at the picture's bottom edge (within
/// [`EDGE_MARGIN_PX`]: the edge then, not the foot). Not closer together: at 15–30 detections a
/// second the jitter of two feet a few hundredths of a second apart can cancel the motion
/// between them, and read a fast car as standing. Nor the share of the box's height that
/// [`cut_at_bottom`] also allows for its jitter: a big box near the camera jittered near the
/// edge still has its foot within that jitter, and with it left out the false
/// `collision_suspect` in simulated dense traffic on the rooftop camera at 3 fps (seed 66) came
/// back.
fn last_speed(tr: &Track, ground: &Ground, picture: Option<(f32, f32)>) -> Option<f64> {
    let whole =
        |&(_, (_, y), _): &(f64, (f32, f32), f32)| picture.is_none_or(|(_, height)| y < height - EDGE_MARGIN_PX);
    let mut stored = tr.recent_detections().rev();
    let last = stored.next()?;
    let from = stored.find(|d| last.0 - d.0 >= SPEED_SPAN_S - 1e-6)?;
    (whole(&from) && whole(&last)).then(|| ground.speed(from.1, last.1, last.0 - from.0)).flatten()
}

/// Whether the box touches an edge of a picture of this size (not only opposite ones), or the
/// size is not known: it may be entering or leaving the view (see `assign::inward_normal`).
fn at_edge(b: &BBox, picture: Option<(f32, f32)>) -> bool {
    picture.is_none_or(|p| assign::inward_normal(b, p, edge_margin(b)).is_some())
}

/// Whether a tentative track seen once has missed [`LATE_MISSES`] times: only stage 5
/// ([`Tracker::lone`]) may match it.
fn late(tr: &Track) -> bool {
    tr.state == TrackState::Tentative && tr.misses >= LATE_MISSES
}

/// Whether the top edge or a side edge of a picture of this size (the right one if the size is
/// known) cuts the box.
fn clipped(b: &BBox, picture: Option<(f32, f32)>) -> bool {
    let across = edge_margin(b).0;
    cut_at_top(b) || b.x1 <= across || picture.is_some_and(|(width, _)| b.x2 >= width - across)
}

/// Detections straight from a model may carry NaN or degenerate boxes; those are skipped.
fn valid_detection(d: &Detection) -> bool {
    d.score.is_finite() && kalman::measurement_from_bbox(&d.bbox).is_some()
}

#[cfg(test)]
impl Tracker {
    /// Every live track, tentative ones included.
    fn all_tracks(&self) -> &[Track] {
        &self.tracks
    }

    fn get(&self, id: u64) -> Option<&Track> {
        self.tracks.iter().find(|t| t.id == id)
    }

    /// Frame time of the latest update as the tracker used it.
    fn time(&self) -> f64 {
        self.now.unwrap_or(f64::NAN)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const PERSON: u32 = 0;
    const MOTORCYCLE: u32 = 3;
    const CAR: u32 = 2;

    fn det(class_id: u32, score: f32, cx: f32, cy: f32, w: f32, h: f32) -> Detection {
        Detection { class_id, score, bbox: BBox::new(cx - w / 2.0, cy - h / 2.0, cx + w / 2.0, cy + h / 2.0) }
    }

    fn person(cx: f32, cy: f32) -> Detection {
        det(PERSON, 0.9, cx, cy, 60.0, 150.0)
    }

    fn default_tracker() -> Tracker {
        Tracker::new(TrackerConfig::default())
    }

    /// Everything a run reported, for assertions.
    #[derive(Default)]
    struct Log {
        confirmed: Vec<(f64, u64)>,
        ended: Vec<(f64, Track)>,
    }

    impl Log {
        fn record(&mut self, t: f64, out: &TrackerOutput<'_>) {
            self.confirmed.extend(out.confirmed.iter().map(|&id| (t, id)));
            self.ended.extend(out.ended.iter().map(|tr| (t, tr.clone())));
        }
        fn confirmed_ids(&self) -> Vec<u64> {
            self.confirmed.iter().map(|&(_, id)| id).collect()
        }
        fn ended_ids(&self) -> Vec<u64> {
            self.ended.iter().map(|(_, tr)| tr.id).collect()
        }
    }

    fn frame_times(fps: f64, until: f64) -> impl Iterator<Item = f64> {
        (0..).map(move |i| i as f64 / fps).take_while(move |&t| t <= until + 1e-9)
    }

    fn assert_invariants(tracker: &Tracker) {
        let out_t = tracker.time();
        for tr in tracker.all_tracks() {
            match tr.state {
                TrackState::Confirmed => assert!(tr.matched_at(out_t)),
                TrackState::Lost | TrackState::Tentative => {}
            }
        }
        let ids: Vec<u64> = tracker.all_tracks().iter().map(|t| t.id).collect();
        let mut unique = ids.clone();
        unique.sort_unstable();
        unique.dedup();
        assert_eq!(unique.len(), ids.len(), "duplicate ids {ids:?}");
    }

    #[test]
    fn config_defaults_and_validation() {
        let cfg = TrackerConfig::default();
        assert_eq!(cfg.high_thresh, 0.5);
        assert_eq!(cfg.low_thresh, 0.1);
        assert_eq!(cfg.new_track_thresh, 0.5);
        assert_eq!(cfg.match_iou, 0.2);
        assert_eq!(cfg.min_hits, 3);
        assert_eq!(cfg.max_lost_s, 1.5);
        assert_eq!(cfg.confirm_s, 0.3);
        assert_eq!(cfg.max_lost_stationary_s, 10.0);
        assert!(cfg.validate().is_ok());
        let bad = [
            TrackerConfig { low_thresh: 0.7, ..cfg.clone() },
            TrackerConfig { match_iou: 0.0, ..cfg.clone() },
            TrackerConfig { high_thresh: f32::NAN, ..cfg.clone() },
            TrackerConfig { max_lost_s: -1.0, ..cfg.clone() },
            TrackerConfig { confirm_s: f64::NAN, ..cfg.clone() },
            TrackerConfig { max_lost_stationary_s: -0.5, ..cfg.clone() },
        ];
        for b in bad {
            assert!(b.validate().is_err(), "{b:?}");
        }
    }

    #[test]
    fn single_object_keeps_one_id() {
        let mut tracker = default_tracker();
        let mut log = Log::default();
        for t in frame_times(10.0, 8.0) {
            let x = 50.0 + 200.0 * t as f32;
            let out = tracker.update(t, &[person(x, 400.0)]);
            log.record(t, &out);
            if t >= 0.2 - 1e-9 {
                assert_eq!(out.active.len(), 1, "t {t}");
                assert_eq!(out.active[0].id, 1);
                assert!(out.active[0].bbox.iou(&out.active[0].det_bbox) > 0.9);
            } else {
                assert!(out.active.is_empty(), "confirmed too early at {t}");
            }
            assert_invariants(&tracker);
        }
        assert_eq!(log.confirmed, vec![(0.2, 1)]);
        assert!(log.ended.is_empty());
        let tr = tracker.tracks().next().expect("track");
        let (vx, vy) = tr.velocity();
        assert!((vx - 200.0).abs() < 5.0 && vy.abs() < 5.0, "v ({vx}, {vy})");
        assert_eq!(tr.hits, 81);
        assert_eq!(tr.first_seen, 0.0);
        assert_eq!(tr.last_seen, 8.0);
    }

    /// Two people walking towards each other and past each other; returns how many frames
    /// their detection boxes overlapped.
    fn cross(fps: f64, dy: f32, speed: f32) -> usize {
        let mut tracker = default_tracker();
        let mut log = Log::default();
        let a = |t: f32| person(100.0 + speed * t, 300.0);
        let b = |t: f32| person(900.0 - speed * t, 300.0 + dy);
        let until = (1000.0 / speed) as f64;
        let mut ids: Option<(u64, u64)> = None;
        let mut overlapping = 0;
        for t in frame_times(fps, until) {
            let tf = t as f32;
            let (da, db) = (a(tf), b(tf));
            if da.bbox.iou(&db.bbox) > 0.0 {
                overlapping += 1;
            }
            let out = tracker.update(t, &[da, db]);
            log.record(t, &out);
            let find = |d: &Detection| out.active.iter().find(|tr| tr.det_bbox == d.bbox).map(|tr| tr.id);
            if da.bbox == db.bbox {
                // The one frame where both detections coincide: either assignment is right.
                continue;
            }
            match (ids, find(&da), find(&db)) {
                (None, Some(ia), Some(ib)) => ids = Some((ia, ib)),
                (Some(known), Some(ia), Some(ib)) => {
                    assert_eq!(known, (ia, ib), "ids swapped at t {t} (fps {fps}, dy {dy})")
                }
                (Some(_), ..) => panic!("a person lost its track at t {t} (fps {fps}, dy {dy})"),
                (None, ..) => {}
            }
        }
        assert!(ids.is_some());
        assert!(log.ended.is_empty());
        assert_eq!(log.confirmed.len(), 2);
        let (ia, ib) = ids.unwrap();
        let va = tracker.get(ia).unwrap().velocity().0;
        let vb = tracker.get(ib).unwrap().velocity().0;
        assert!(va > 0.8 * speed && vb < -0.8 * speed, "velocities {va} {vb}");
        overlapping
    }

    #[test]
    fn crossing_persons_keep_their_ids() {
        // 10 fps, slightly different heights in the image: boxes overlap for many frames.
        assert!(cross(10.0, 12.0, 100.0) >= 5);
        // Exactly the same line: at the crossing both detections coincide.
        assert!(cross(10.0, 0.0, 100.0) >= 5);
        // Low and high detect rates.
        assert!(cross(4.0, 8.0, 60.0) >= 4);
        assert!(cross(30.0, 10.0, 150.0) >= 5);
    }

    /// One person walking right at 10 fps, not detected while `hidden(t)`.
    fn occluded_walk(hidden: impl Fn(f64) -> bool, until: f64) -> (Tracker, Log) {
        let mut tracker = default_tracker();
        let mut log = Log::default();
        for t in frame_times(10.0, until) {
            let dets = if hidden(t) { vec![] } else { vec![person(100.0 + 80.0 * t as f32, 400.0)] };
            let out = tracker.update(t, &dets);
            log.record(t, &out);
            assert_invariants(&tracker);
        }
        (tracker, log)
    }

    #[test]
    fn short_occlusion_keeps_the_id() {
        // Last seen at 2.0, next detection at 2.5: 0.5 s without a detection.
        let hidden = |t: f64| t > 2.05 && t < 2.45;
        let (tracker, log) = occluded_walk(hidden, 5.0);
        assert_eq!(log.confirmed_ids(), vec![1]);
        assert!(log.ended.is_empty());
        let tr = tracker.get(1).expect("still tracked");
        assert_eq!(tr.state, TrackState::Confirmed);
        assert_eq!(tr.hits, 51 - 4);

        // And it was lost (not confirmed) during the gap.
        let mut tracker = default_tracker();
        for t in frame_times(10.0, 2.3) {
            let dets = if hidden(t) { vec![] } else { vec![person(100.0 + 80.0 * t as f32, 400.0)] };
            tracker.update(t, &dets);
        }
        assert_eq!(tracker.get(1).map(|t| t.state), Some(TrackState::Lost));
        assert_eq!(tracker.tracks().count(), 1);
    }

    #[test]
    fn long_occlusion_ends_the_track_and_starts_a_new_id() {
        // Last seen at 2.0, hidden for 3 s.
        let (mut tracker, log) = occluded_walk(|t| t > 2.05 && t < 4.95, 7.0);
        assert_eq!(log.ended_ids(), vec![1]);
        let (ended_at, ended) = &log.ended[0];
        // Ended at the first frame more than max_lost_s after the last match.
        assert!((ended_at - 3.6).abs() < 1e-9, "ended at {ended_at}");
        assert_eq!(ended.last_seen, 2.0);
        assert_eq!(ended.state, TrackState::Lost);
        // The new track is confirmed at its third detection (5.0, 5.1, 5.2).
        assert_eq!(log.confirmed, vec![(0.2, 1), (5.2, 2)]);
        let rest: Vec<u64> = tracker.finish().iter().map(|t| t.id).collect();
        assert_eq!(rest, vec![2]);
    }

    #[test]
    fn tentative_tracks_are_never_reported() {
        let mut tracker = default_tracker();
        let mut log = Log::default();
        for t in frame_times(10.0, 3.0) {
            // A flicker seen twice, then a false positive seen once now and then.
            let mut dets = vec![];
            if t < 0.15 {
                dets.push(person(200.0, 200.0));
            }
            if (t * 10.0).round() as i64 % 7 == 3 {
                dets.push(det(MOTORCYCLE, 0.8, 600.0, 300.0, 120.0, 90.0));
            }
            let out = tracker.update(t, &dets);
            log.record(t, &out);
            assert!(out.active.is_empty());
            assert_eq!(tracker.tracks().count(), 0);
        }
        assert!(log.confirmed.is_empty());
        assert!(log.ended.is_empty());
        assert!(tracker.finish().is_empty());
    }

    #[test]
    fn matching_is_class_aware() {
        // A rider: the person box and the motorcycle box are the same.
        let mut tracker = default_tracker();
        let mut ids = None;
        for t in frame_times(10.0, 3.0) {
            let x = 100.0 + 150.0 * t as f32;
            let dets = [det(PERSON, 0.9, x, 300.0, 80.0, 120.0), det(MOTORCYCLE, 0.85, x, 300.0, 80.0, 120.0)];
            let out = tracker.update(t, &dets);
            if out.active.is_empty() {
                continue;
            }
            assert_eq!(out.active.len(), 2, "t {t}");
            let by_class = |c: u32| out.active.iter().find(|tr| tr.class_id == c).map(|tr| tr.id);
            let now = (by_class(PERSON).unwrap(), by_class(MOTORCYCLE).unwrap());
            assert_ne!(now.0, now.1);
            assert_eq!(*ids.get_or_insert(now), now);
        }
        assert!(ids.is_some());

        // A person appearing where a motorcycle track was does not take it over.
        let mut tracker = default_tracker();
        for t in frame_times(10.0, 1.0) {
            tracker.update(t, &[det(MOTORCYCLE, 0.9, 300.0, 300.0, 80.0, 120.0)]);
        }
        let out = tracker.update(1.1, &[det(PERSON, 0.9, 300.0, 300.0, 80.0, 120.0)]);
        assert!(out.active.is_empty());
        let moto = tracker.get(1).unwrap();
        assert_eq!((moto.class_id, moto.state), (MOTORCYCLE, TrackState::Lost));
        let new = tracker.get(2).unwrap();
        assert_eq!((new.class_id, new.state), (PERSON, TrackState::Tentative));
    }

    #[test]
    fn low_score_detections_extend_but_never_start_tracks() {
        let weak = |x: f32, s: f32| det(PERSON, s, x, 300.0, 60.0, 150.0);

        // Low-score detections alone never start anything, not even a tentative track.
        let mut tracker = default_tracker();
        for t in frame_times(10.0, 2.0) {
            let out = tracker.update(t, &[weak(100.0 + 50.0 * t as f32, 0.3)]);
            assert!(out.confirmed.is_empty());
            assert!(tracker.all_tracks().is_empty());
        }
        // With new_track_thresh above high_thresh, a high one between them does not start one
        // either; at the default (equal) it does.
        let mut strict = Tracker::new(TrackerConfig { new_track_thresh: 0.6, ..TrackerConfig::default() });
        strict.update(2.1, &[weak(300.0, 0.55)]);
        assert!(strict.all_tracks().is_empty());
        tracker.update(2.1, &[weak(300.0, 0.55)]);
        assert_eq!(tracker.all_tracks().len(), 1);

        // An established track continues on low-score detections.
        let mut tracker = default_tracker();
        for t in frame_times(10.0, 4.0) {
            let x = 100.0 + 50.0 * t as f32;
            let score = if t < 1.0 { 0.9 } else { 0.3 };
            let out = tracker.update(t, &[weak(x, score)]);
            if t > 0.25 {
                assert_eq!(out.active.len(), 1, "t {t}");
                assert_eq!(out.active[0].id, 1);
                assert_eq!(out.active[0].score, score);
            }
        }
        assert_eq!(tracker.get(1).unwrap().best_score, 0.9);

        // Scores below low_thresh are ignored; a weak detection carries on a track lost for a
        // frame where its motion puts it…
        let t = 4.1;
        let out = tracker.update(t, &[weak(100.0 + 50.0 * t as f32, 0.05)]);
        assert!(out.active.is_empty());
        assert_eq!(tracker.get(1).unwrap().state, TrackState::Lost);
        let t = 4.2;
        let out = tracker.update(t, &[weak(100.0 + 50.0 * t as f32, 0.3)]);
        assert_eq!(out.active.iter().map(|t| t.id).collect::<Vec<_>>(), vec![1]);
        // … but lost for longer than WEAK_REVIVE_S, not on one off where it was expected (a
        // quarter of its width aside: IoU 0.6, enough within WEAK_REVIVE_S)…
        for t in [4.3, 4.6, 4.9, 5.0] {
            assert!(tracker.update(t, &[]).active.is_empty());
        }
        let t = 5.1;
        assert!(t - 4.2 > WEAK_REVIVE_S);
        let out = tracker.update(t, &[weak(100.0 + 50.0 * t as f32 + 15.0, 0.3)]);
        assert!(out.active.is_empty());
        assert_eq!(tracker.get(1).unwrap().state, TrackState::Lost);
        assert_eq!(tracker.all_tracks().len(), 1);
        // … only on one lying where it was expected (WEAK_REVIVE_IOU).
        let t = 5.2;
        let out = tracker.update(t, &[weak(100.0 + 50.0 * t as f32, 0.3)]);
        assert_eq!(out.active.iter().map(|t| t.id).collect::<Vec<_>>(), vec![1]);
        // A high-score detection revives it, with the same id.
        for t in [5.3, 5.6, 5.9] {
            assert!(tracker.update(t, &[]).active.is_empty());
        }
        let t = 6.0;
        let out = tracker.update(t, &[weak(100.0 + 50.0 * t as f32 + 15.0, 0.8)]);
        assert_eq!(out.active.iter().map(|t| t.id).collect::<Vec<_>>(), vec![1]);
        assert!(out.confirmed.is_empty(), "revival is not a new confirmation");
    }

    /// A weak box where a standing car was lost continues it only if it lies on the car's box
    /// (IoU at least [`STANDING_WEAK_IOU`]: the car, half hidden); a shifted one is left alone (a
    /// parked car half hidden by a passing truck, whose track would move onto it and stop
    /// again). A moving track continues on a weak box at its prediction.
    #[test]
    fn a_lost_standing_track_continues_only_on_a_weak_box_lying_on_it() {
        let car = |x: f32, s: f32| det(CAR, s, x, 300.0, 120.0, 80.0);
        let standing = || {
            let mut tracker = default_tracker();
            for t in frame_times(10.0, 1.0) {
                tracker.update(t, &[car(300.0, 0.9)]);
            }
            assert!(tracker.update(1.1, &[]).active.is_empty());
            assert_eq!(tracker.get(1).unwrap().state, TrackState::Lost);
            tracker
        };
        // Shifted by a quarter of its width: IoU 0.6.
        let mut tracker = standing();
        let out = tracker.update(1.2, &[car(330.0, 0.3)]);
        assert!(out.active.is_empty(), "{:?}", out.active);
        assert_eq!(tracker.get(1).unwrap().state, TrackState::Lost);
        // On it.
        let mut tracker = standing();
        let out = tracker.update(1.2, &[car(305.0, 0.3)]);
        assert_eq!(out.active.iter().map(|t| t.id).collect::<Vec<_>>(), vec![1]);
        // A moving one continues.
        let mut tracker = default_tracker();
        for t in frame_times(10.0, 1.0) {
            tracker.update(t, &[car(100.0 + 100.0 * t as f32, 0.9)]);
        }
        assert!(tracker.update(1.1, &[]).active.is_empty());
        let out = tracker.update(1.2, &[car(220.0, 0.3)]);
        assert_eq!(out.active.iter().map(|t| t.id).collect::<Vec<_>>(), vec![1]);
    }

    #[test]
    fn a_carried_box_moves_its_detections_track_and_nothing_else() {
        let mut tr = default_tracker();
        let (a, b) = (person(100.0, 300.0), person(400.0, 300.0));
        tr.update(0.0, &[a, b]);
        let ids: Vec<u64> = tr.all_tracks().iter().map(|t| t.id).collect();
        assert_eq!(ids.len(), 2);
        // Detection 1 (b) carried 10 px right: its track takes the box, counts no hit and stays
        // tentative; the other track is not carried.
        let moved = BBox::new(b.bbox.x1 + 10.0, b.bbox.y1, b.bbox.x2 + 10.0, b.bbox.y2);
        assert_eq!(tr.carry(0.1, &[(1, moved)]), 1);
        let (ta, tb) = (tr.get(ids[0]).expect("a"), tr.get(ids[1]).expect("b"));
        assert_eq!((tb.carried_at(0.1), tb.seen_box(), tb.hits, tb.state), (Some(1), moved, 1, TrackState::Tentative));
        // Its detected box stays the detector's.
        assert_eq!(tb.det_bbox, b.bbox);
        assert!(tb.bbox.x1 > b.bbox.x1 + 5.0, "{:?}", tb.bbox);
        assert_eq!((ta.carried_at(0.1), ta.seen_box()), (None, a.bbox));
        // A second frame on, carried from that box (box 0 of the frame before), counts two
        // carried frames; an index the frame before did not have, an empty box and a time not
        // after the latest one are ignored; no track starts.
        assert_eq!(tr.carry(0.2, &[(0, moved), (1, moved), (0, BBox::new(5.0, 5.0, 5.0, 5.0))]), 1);
        assert_eq!(tr.get(ids[1]).expect("b").carried_at(0.2), Some(2));
        assert_eq!(tr.carry(0.2, &[(0, a.bbox)]), 0);
        assert_eq!(tr.all_tracks().len(), 2);
        // The next detection is a match as usual, and clears the carried count.
        tr.update(0.3, &[a, b]);
        assert!(tr.all_tracks().iter().all(|t| t.hits == 2 && t.carried_at(0.3).is_none()));
    }

    #[test]
    fn carried_frames_leave_a_tracks_filter_as_its_detections_alone_make_it() {
        // A jittering standing person at 3 detections a second, with and without boxes
        // carried onto the 4 frames between: the same filter, so the same velocity, and
        // standing or not alike.
        let jitter = [0.0, 3.0, -2.0, 4.0, -1.0, 3.5, -3.0, 2.0];
        let run = |carried: bool| {
            let mut tr = default_tracker();
            for (k, dx) in jitter.iter().enumerate() {
                let t = k as f64 / 3.0;
                let d = person(300.0 + dx, 300.0);
                tr.update(t, &[d]);
                if carried {
                    for j in 1..5 {
                        tr.carry(t + j as f64 / 15.0, &[(0, d.bbox)]);
                    }
                }
            }
            let t = tr.all_tracks()[0].clone();
            (t.velocity(), t.standing())
        };
        assert_eq!(run(false), run(true));
    }

    #[test]
    fn a_track_carried_across_a_missed_detection_is_not_missed() {
        let mut tr = Tracker::new(TrackerConfig { min_hits: 2, ..TrackerConfig::default() });
        let walk = |x: f32| person(x, 300.0);
        tr.update(0.0, &[walk(100.0)]);
        tr.update(0.2, &[walk(104.0)]);
        let id = tr.all_tracks()[0].id;
        assert_eq!(tr.get(id).map(|t| t.state), Some(TrackState::Confirmed));
        // Carried onto 0.3 from detection 0, then onto 0.4 (a detected frame that missed it)
        // from that carried box: still confirmed, in the frame's active tracks, no hit.
        tr.carry(0.3, &[(0, walk(106.0).bbox)]);
        let out = tr.update_carried(0.4, &[], &[(0, walk(108.0).bbox)]);
        assert_eq!(out.active.iter().map(|t| t.id).collect::<Vec<_>>(), vec![id]);
        let t = tr.get(id).expect("track");
        assert_eq!((t.state, t.hits, t.carried_at(0.4)), (TrackState::Confirmed, 2, Some(2)));
        // Not carried at the next detected frame either: lost, as without a carrier.
        tr.update(0.6, &[]);
        assert_eq!(tr.get(id).map(|t| t.state), Some(TrackState::Lost));
        // And found again by its detection at the next.
        tr.update(0.8, &[walk(116.0)]);
        assert_eq!(tr.get(id).map(|t| (t.state, t.hits)), Some((TrackState::Confirmed, 3)));
    }

    #[test]
    fn a_car_carried_to_a_stop_is_sought_where_it_stopped() {
        // Detected at 0 and 1/3 s riding up the picture at 600 px/s, then missed twice while its
        // carried boxes show it braking to a stop 40 px further; at 1 s it is detected there. Its
        // detections' speed would put it 300 px beyond; its carried boxes put it where it is.
        // A car standing just beyond, hidden by the braking one from 2/3 s on, is where the
        // detections' speed would have it.
        let mut tracker = default_tracker();
        let car = |y: f32| det(CAR, 0.85, 700.0, y, 120.0, 90.0);
        let standing = det(CAR, 0.85, 700.0, 290.0, 110.0, 80.0);
        for k in -6..0 {
            tracker.update(f64::from(k) / 3.0, &[standing]);
        }
        tracker.update(0.0, &[car(600.0), standing]);
        tracker.update(1.0 / 3.0, &[car(400.0), standing]);
        let id = tracker.all_tracks().iter().find(|t| t.hits == 2).expect("the braking car").id;
        // Each frame's one carried box is carried from the one before (box 0 of that frame: at
        // 1/3 s the braking car's detection).
        let mut at = 400.0;
        for k in 6..15 {
            let t = f64::from(k) / 15.0;
            at = (at - 10.0_f32).max(360.0);
            let b = car(at).bbox;
            if k % 5 == 0 {
                tracker.update_carried(t, &[], &[(0, b)]);
            } else {
                tracker.carry(t, &[(0, b)]);
            }
        }
        tracker.update(1.0, &[car(360.0)]);
        let t = tracker.get(id).expect("track");
        assert!(t.matched_at(1.0) && t.hits == 3, "{t:?}");
    }

    #[test]
    fn finish_ends_everything_confirmed() {
        let mut tracker = default_tracker();
        for t in frame_times(10.0, 1.0) {
            let mut dets = vec![person(100.0, 300.0)];
            if t < 0.75 {
                dets.push(person(500.0, 300.0)); // will be lost at the end
            }
            if t > 0.85 {
                dets.push(person(900.0, 300.0)); // still tentative at the end
            }
            tracker.update(t, &dets);
        }
        let states: Vec<(u64, TrackState)> = tracker.all_tracks().iter().map(|t| (t.id, t.state)).collect();
        assert_eq!(states, vec![(1, TrackState::Confirmed), (2, TrackState::Lost), (3, TrackState::Tentative)]);
        let ended: Vec<u64> = tracker.finish().iter().map(|t| t.id).collect();
        assert_eq!(ended, vec![1, 2]);
        assert_eq!(tracker.tracks().count(), 0);
        assert!(tracker.all_tracks().is_empty());
        assert!(tracker.finish().is_empty());
        // Ids are never reused.
        tracker.update(1.1, &[person(100.0, 300.0)]);
        assert_eq!(tracker.all_tracks()[0].id, 4);
    }

    #[test]
    fn invalid_detections_are_skipped() {
        let mut tracker = default_tracker();
        let bad = [
            Detection { class_id: 0, score: 0.9, bbox: BBox::new(f32::NAN, 0.0, 10.0, 10.0) },
            Detection { class_id: 0, score: f32::NAN, bbox: BBox::new(0.0, 0.0, 10.0, 10.0) },
            Detection { class_id: 0, score: 0.9, bbox: BBox::new(5.0, 5.0, 5.0, 50.0) },
            Detection { class_id: 0, score: 0.9, bbox: BBox::new(50.0, 50.0, 10.0, 10.0) },
            Detection { class_id: 0, score: 0.9, bbox: BBox::new(0.0, 0.0, f32::INFINITY, 10.0) },
            Detection { class_id: 0, score: f32::INFINITY, bbox: BBox::new(0.0, 0.0, 10.0, 10.0) },
        ];
        for t in frame_times(10.0, 1.0) {
            tracker.update(t, &bad);
        }
        assert!(tracker.all_tracks().is_empty());
        let mut with_good = bad.to_vec();
        with_good.push(person(0.0, 0.0));
        for t in frame_times(10.0, 1.0) {
            tracker.update(1.0 + t, &with_good);
        }
        assert_eq!(tracker.tracks().map(|t| t.id).collect::<Vec<_>>(), vec![1]);
    }

    #[test]
    fn time_going_backwards_or_nan_is_treated_as_no_time() {
        let mut tracker = default_tracker();
        for t in frame_times(10.0, 1.0) {
            tracker.update(t, &[person(100.0 + 100.0 * t as f32, 300.0)]);
        }
        let before = tracker.get(1).unwrap().clone();
        tracker.update(0.5, &[]);
        assert_eq!(tracker.time(), 1.0);
        tracker.update(f64::NAN, &[]);
        assert_eq!(tracker.time(), 1.0);
        let after = tracker.get(1).unwrap();
        // No time passed: the predicted box has not moved, and the track is not ended.
        assert_eq!(after.bbox, before.bbox);
        assert_eq!(after.state, TrackState::Lost);
        let out = tracker.update(1.1, &[person(210.0, 300.0)]);
        assert_eq!(out.active.iter().map(|t| t.id).collect::<Vec<_>>(), vec![1]);
    }

    #[test]
    fn variable_frame_rate_keeps_the_id() {
        // Frame intervals anywhere between 1/30 s and 1/2 s.
        let intervals = [0.5, 0.033, 0.2, 0.1, 0.4, 0.05, 0.25, 0.033, 0.5, 0.1, 0.3];
        let mut tracker = default_tracker();
        let mut log = Log::default();
        let mut t = 0.0;
        for i in 0..80 {
            let out = tracker.update(t, &[person(100.0 + 60.0 * t as f32, 300.0)]);
            log.record(t, &out);
            t += intervals[i % intervals.len()];
        }
        assert_eq!(log.confirmed_ids(), vec![1]);
        assert!(log.ended.is_empty());
        assert_eq!(tracker.all_tracks().len(), 1);
        let vx = tracker.get(1).unwrap().velocity().0;
        assert!((vx - 60.0).abs() < 3.0, "vx {vx}");
    }

    #[test]
    fn min_hits_one_confirms_at_once() {
        let cfg = TrackerConfig { min_hits: 1, ..TrackerConfig::default() };
        let mut tracker = Tracker::new(cfg);
        let out = tracker.update(0.0, &[person(100.0, 100.0)]);
        assert_eq!(out.confirmed, vec![1]);
        assert_eq!(out.active.len(), 1);
    }

    #[test]
    fn a_crowd_of_slow_objects_keeps_all_ids() {
        // 200 objects on a grid, tightly packed (neighbours overlap), drifting slowly.
        let objects: Vec<(f32, f32, f32, f32)> = (0..200)
            .map(|i| {
                let (gx, gy) = ((i % 20) as f32, (i / 20) as f32);
                let vx = if (i / 20) % 2 == 0 { 12.0 } else { -12.0 };
                (40.0 + gx * 45.0, 60.0 + gy * 90.0, vx, 3.0)
            })
            .collect();
        let frame = |t: f32| -> Vec<Detection> {
            objects
                .iter()
                .map(|&(x, y, vx, vy)| det((x as u32 / 45) % 2, 0.8, x + vx * t, y + vy * t, 50.0, 100.0))
                .collect()
        };
        let mut tracker = default_tracker();
        let mut log = Log::default();
        for t in frame_times(10.0, 5.0) {
            let out = tracker.update(t, &frame(t as f32));
            log.record(t, &out);
        }
        assert_eq!(log.confirmed.len(), 200);
        assert!(log.ended.is_empty());
        assert_eq!(tracker.tracks().count(), 200);
        // Every detection of the last frame belongs to the track created for it at the start:
        // tracks were created in detection order, so object i has id i + 1.
        let last = frame(5.0);
        for (i, d) in last.iter().enumerate() {
            let tr = tracker.get(i as u64 + 1).unwrap();
            assert_eq!(tr.det_bbox, d.bbox, "object {i}");
        }
    }

    /// A motorcycle seen by a pole camera (focal 1000 px, 8 m high, horizon at y 100) riding
    /// at `kmh` along the road, towards the camera or away from it, between 50 m and 12 m.
    /// Its box: 0.8 m wide, 1.6 m high plus its 1.9 m length seen from above.
    fn rider_box(dist_m: f32, lateral_m: f32) -> Detection {
        let f = 1000.0;
        let bottom = 100.0 + f * 8.0 / dist_m;
        let h = f * 1.6 / dist_m + f * 8.0 * 1.9 / (dist_m * dist_m);
        let w = f * 0.8 / dist_m;
        let cx = 640.0 + f * lateral_m / dist_m;
        Detection { class_id: MOTORCYCLE, score: 0.8, bbox: BBox::new(cx - w / 2.0, bottom - h, cx + w / 2.0, bottom) }
    }

    /// Runs riders at `kmh` through the view at `fps`, `towards` the camera or away from it,
    /// one behind the other `gap` metres apart, at the given lateral offsets; each is detected while its
    /// distance is between 12.9 m (where its box reaches the bottom of a 720-line picture) and
    /// 50 m. Returns the ids each rider's detections were given and the time each was confirmed
    /// after its first detection.
    fn fast_riders(
        fps: f64,
        kmh: f32,
        towards: bool,
        gap: f32,
        laterals: &[f32],
        horizon: Option<(f32, f32)>,
    ) -> (Vec<Vec<u64>>, Vec<f64>) {
        let mut tracker = default_tracker().with_horizon(horizon);
        let v = kmh / 3.6;
        let n = laterals.len() as f32;
        let span = (50.0 - 12.9 + gap * n) / v;
        let mut ids = vec![Vec::new(); laterals.len()];
        let mut first = vec![f64::NAN; laterals.len()];
        let mut confirmed_after = vec![f64::NAN; laterals.len()];
        for t in frame_times(fps, span as f64) {
            let tf = t as f32;
            let mut dets = Vec::new();
            let mut who = Vec::new();
            for (i, &lat) in laterals.iter().enumerate() {
                let behind = gap * i as f32;
                let d = if towards { 50.0 + behind - v * tf } else { 12.9 - behind + v * tf };
                if (12.9..=50.0).contains(&d) {
                    dets.push(rider_box(d, lat));
                    who.push(i);
                    if first[i].is_nan() {
                        first[i] = t;
                    }
                }
            }
            let out = tracker.update(t, &dets);
            for (det, &i) in dets.iter().zip(&who) {
                if let Some(tr) = out.active.iter().find(|tr| tr.det_bbox == det.bbox) {
                    if ids[i].last() != Some(&tr.id) {
                        ids[i].push(tr.id);
                    }
                    if confirmed_after[i].is_nan() {
                        confirmed_after[i] = t - first[i];
                    }
                }
            }
        }
        (ids, confirmed_after)
    }

    /// Riders one behind the other this far apart: a group moving further than its spacing
    /// between two detections (100 km/h at 3 per second is 9.3 m) is aliased, like a wagon
    /// wheel on film, and no tracker without appearance can tell its riders apart by position.
    const GAP_M: f32 = 10.0;

    #[test]
    fn fast_riders_keep_one_id_at_low_detect_rates() {
        // Near the camera consecutive boxes of an 80 km/h rider (4.4 m apart at 5 fps) overlap
        // less than the IoU gate.
        let (a, b) = (rider_box(16.4, 0.0), rider_box(12.0, 0.0));
        assert!(a.bbox.iou(&b.bbox) < TrackerConfig::default().match_iou);
        for fps in [3.0, 5.0] {
            for kmh in [60.0, 80.0, 100.0] {
                for towards in [true, false] {
                    let (ids, confirmed) = fast_riders(fps, kmh, towards, GAP_M, &[-1.5, 1.5, 0.0], None);
                    let case = format!("{fps} fps, {kmh} km/h, towards {towards}");
                    for (i, ids) in ids.iter().enumerate() {
                        assert_eq!(ids.len(), 1, "rider {i} had ids {ids:?} ({case})");
                        assert!(confirmed[i] <= 0.5 + 1e-9, "rider {i} confirmed {} s in ({case})", confirmed[i]);
                    }
                    let mut all: Vec<u64> = ids.iter().flatten().copied().collect();
                    all.dedup();
                    assert_eq!(all.len(), 3, "{case}");
                }
            }
        }
    }

    #[test]
    fn a_known_road_matches_a_new_track_along_it_rather_than_beside_it() {
        // Riders riding away up the picture towards a vanishing point above its centre (640, -300).
        // Seen once at the bottom, then two riders: the one entering behind it, nearer but a lane
        // to the side, and the first one further up its own line.
        let moto = |cx: f32, foot: f32, w: f32| det(MOTORCYCLE, 0.9, cx, foot - w, w, 2.0 * w);
        let first = moto(640.0, 600.0, 80.0);
        let beside = moto(760.0, 520.0, 70.0);
        let along = moto(640.0, 380.0, 55.0);
        let centre = |d: &Detection| ((d.bbox.x1 + d.bbox.x2) / 2.0, (d.bbox.y1 + d.bbox.y2) / 2.0);
        let dist = |a: &Detection, b: &Detection| (centre(a).0 - centre(b).0).hypot(centre(a).1 - centre(b).1);
        assert!(dist(&first, &beside) < dist(&first, &along));
        let id_of_along = |road| {
            let mut tracker =
                Tracker::new(TrackerConfig { min_hits: 2, confirm_s: 0.0, ..TrackerConfig::default() }).with_road(road);
            tracker.update(0.0, std::slice::from_ref(&first));
            let out = tracker.update(0.33, &[beside, along]);
            out.active.iter().find(|t| t.det_bbox == along.bbox).map(|t| t.id)
        };
        assert_eq!(id_of_along(Some((640.0, -300.0, 1.0))), Some(1));
        // Without it, the nearer box wins.
        assert_eq!(id_of_along(None), None);
    }

    #[test]
    fn a_rider_missed_riding_away_does_not_take_the_one_behind_it() {
        // Boxes of the simulated wide pole camera (1920x1080, road towards (960, 151.5); `anttd
        // scenarios --explain --scenario dense_traffic --geometry pole6wide --fps 3 --seed 6`,
        // u5 and u8): a rider riding away is detected three times, then missed, and the rider
        // following it in its lane is detected 50 px behind its last box.
        let moto = |x1, y1, x2, y2| Detection { class_id: MOTORCYCLE, score: 0.8, bbox: BBox::new(x1, y1, x2, y2) };
        let rider = [
            moto(1262.0, 548.0, 1400.0, 754.0),
            moto(1199.0, 467.0, 1297.0, 622.0),
            moto(1161.0, 411.0, 1235.0, 530.0),
        ];
        let behind = moto(1117.0, 437.0, 1199.0, 581.0);
        let takes_it = |road| {
            let mut tracker =
                Tracker::new(TrackerConfig { min_hits: 2, confirm_s: 0.0, ..TrackerConfig::default() }).with_road(road);
            tracker.set_picture(1920.0, 1080.0);
            for (i, d) in rider.iter().enumerate() {
                tracker.update(4.33 + i as f64 / 3.0, std::slice::from_ref(d));
            }
            let out = tracker.update(5.33, std::slice::from_ref(&behind));
            out.active.iter().any(|t| t.id == 1)
        };
        assert!(!takes_it(Some((960.0, 151.5, 1.0))));
        // Without the road's direction, by distance it does.
        assert!(takes_it(None));
    }

    #[test]
    fn a_known_horizon_matches_a_new_track_to_the_box_whose_size_fits_its_place() {
        // A car seen once, its foot 500 px below the horizon (y = 100). Next, two cars: one a
        // little nearer the old box, the same width but lower in the picture (so nearer the
        // camera: it should look bigger, it is another car), and one higher and smaller in
        // proportion (the same car riding away).
        let car = |cx: f32, foot: f32, w: f32| det(CAR, 0.9, cx, foot - 0.6 * w, w, 1.2 * w);
        let first = car(600.0, 600.0, 100.0);
        let other = car(600.0, 660.0, 80.0);
        let same = car(600.0, 500.0, 80.0);
        let centre = |d: &Detection| ((d.bbox.x1 + d.bbox.x2) / 2.0, (d.bbox.y1 + d.bbox.y2) / 2.0);
        let dist = |a: &Detection, b: &Detection| (centre(a).0 - centre(b).0).hypot(centre(a).1 - centre(b).1);
        assert!(dist(&first, &other) < dist(&first, &same));
        let id_of_same = |horizon| {
            let mut tracker = Tracker::new(TrackerConfig { min_hits: 2, confirm_s: 0.0, ..TrackerConfig::default() })
                .with_horizon(horizon);
            tracker.update(0.0, std::slice::from_ref(&first));
            let out = tracker.update(0.2, &[other, same]);
            out.active.iter().find(|t| t.det_bbox == same.bbox).map(|t| t.id)
        };
        assert_eq!(id_of_same(Some((0.0, 100.0))), Some(1));
        // Without it, the nearer box wins.
        assert_eq!(id_of_same(None), None);
    }

    #[test]
    fn a_tentative_track_survives_one_missed_frame() {
        let mut tracker = default_tracker();
        let mut confirmed_at = None;
        for t in frame_times(5.0, 2.0) {
            // Missed at the second frame.
            let dets = if (t - 0.2).abs() < 1e-9 { vec![] } else { vec![person(100.0 + 50.0 * t as f32, 300.0)] };
            let out = tracker.update(t, &dets);
            if !out.confirmed.is_empty() && confirmed_at.is_none() {
                confirmed_at = Some(t);
            }
        }
        // Matches at 0.0 and 0.4: two matches 0.4 s apart confirm it.
        assert_eq!(confirmed_at, Some(0.4));
        assert_eq!(tracker.all_tracks().len(), 1);
        // Two misses in a row drop it.
        let mut tracker = default_tracker();
        for t in [0.0, 0.2, 0.4] {
            tracker.update(t, &[person(100.0, 300.0)]);
        }
        assert!(tracker.all_tracks().is_empty() || tracker.all_tracks()[0].state != TrackState::Tentative);
        let mut tracker = default_tracker();
        tracker.update(0.0, &[person(100.0, 300.0)]);
        tracker.update(0.2, &[]);
        assert_eq!(tracker.all_tracks().len(), 1);
        tracker.update(0.4, &[]);
        assert!(tracker.all_tracks().is_empty());
    }

    #[test]
    fn a_car_seen_once_and_missed_twice_takes_its_lone_detection_but_no_neighbours() {
        // A car seen once near the camera, clear of the picture's edges, then missed twice as
        // it brakes, at 3 detections a second.
        let car = |cy: f32, h: f32| det(CAR, 0.8, 640.0, cy, 1.2 * h, h);
        let run = |third: Vec<Detection>, picture: bool| {
            let mut tracker = default_tracker();
            if picture {
                tracker.set_picture(1280.0, 720.0);
            }
            tracker.update(0.0, &[car(480.0, 280.0)]);
            tracker.update(1.0 / 3.0, &[]);
            tracker.update(2.0 / 3.0, &[]);
            tracker.update(1.0, &third);
            tracker.all_tracks().iter().map(|t| t.id).collect::<Vec<u64>>()
        };
        // Seen again up the picture, the only detection: the same car.
        assert_eq!(run(vec![car(260.0, 140.0)], true), vec![1]);
        // Not without the picture's size (it may be at an edge, entering), and not when a
        // second detection of its class is there (either may be it).
        assert_eq!(run(vec![car(260.0, 140.0)], false), vec![2]);
        let ids = run(vec![car(260.0, 140.0), det(CAR, 0.8, 300.0, 260.0, 170.0, 140.0)], true);
        assert!(!ids.contains(&1), "{ids:?}");
        // Not when an established track of its class, not matched now, is expected within its
        // radius: a far car, missed now, that may be the one seen (its size rules it out by
        // distance, but the seen-once car's guess is no better).
        let mut tracker = default_tracker();
        tracker.set_picture(1280.0, 720.0);
        let far = det(CAR, 0.8, 900.0, 200.0, 72.0, 60.0);
        tracker.update(0.0, &[car(480.0, 280.0), far]);
        tracker.update(1.0 / 3.0, &[far]);
        tracker.update(2.0 / 3.0, &[far]);
        tracker.update(1.0, &[car(260.0, 140.0)]);
        let ids: Vec<u64> = tracker.all_tracks().iter().map(|t| t.id).collect();
        assert!(ids.contains(&2) && !ids.contains(&1), "{ids:?}");
        // Missed a third time, it is dropped.
        let mut tracker = default_tracker();
        tracker.set_picture(1280.0, 720.0);
        tracker.update(0.0, &[car(480.0, 280.0)]);
        for t in [1.0, 2.0, 3.0] {
            tracker.update(t / 3.0, &[]);
        }
        assert!(tracker.all_tracks().is_empty());
    }

    #[test]
    fn a_standing_car_keeps_its_id_behind_a_passing_truck() {
        // The default tracker at `fps` until `until`, given each frame's detections; the log,
        // and whether any track matched in `watch` was moving by its filter.
        let play = |fps: f64, until: f64, dets: &dyn Fn(f64) -> Vec<Detection>, watch: std::ops::Range<f64>| {
            let mut tracker = default_tracker();
            let mut log = Log::default();
            let mut moving = false;
            for t in frame_times(fps, until) {
                let out = tracker.update(t, &dets(t));
                moving |= watch.contains(&t) && out.active.iter().any(|tr| !tr.standing());
                log.record(t, &out);
            }
            (log, moving)
        };
        let car = |_: f64| det(CAR, 0.85, 900.0, 500.0, 160.0, 110.0);
        // A truck hides it from 20 to 26 s (far longer than max_lost_s).
        let (log, _) = play(5.0, 60.0, &|t| if (20.0..26.0).contains(&t) { vec![] } else { vec![car(t)] }, 0.0..0.0);
        assert_eq!(log.confirmed_ids(), vec![1]);
        assert!(log.ended.is_empty());
        // Past max_lost_stationary_s it ends.
        let (log, _) = play(5.0, 30.0, &|t| if t >= 15.0 { vec![] } else { vec![car(t)] }, 0.0..0.0);
        assert_eq!(log.ended_ids(), vec![1]);
        // Last seen at 14.8: ended at the first frame more than 10 s later.
        assert!((log.ended[0].0 - 25.0).abs() < 0.21, "ended at {}", log.ended[0].0);
        // Covered bit by bit first (its box shrinks from the left for 1.6 s, so its filtered
        // velocity says it moves), then hidden for 4 s: still the same car.
        let covered = |t: f64| {
            let gone = (t - 20.0).clamp(0.0, 1.6) as f32 / 1.6 * 120.0;
            det(CAR, 0.6, 900.0 + gone / 2.0, 500.0, 160.0 - gone, 110.0)
        };
        let (log, moving_when_lost) =
            play(3.0, 40.0, &|t| if (21.6..25.6).contains(&t) { vec![] } else { vec![covered(t)] }, 21.3..21.6);
        assert!(moving_when_lost, "the covering should make the filter see motion");
        assert_eq!(log.confirmed_ids(), vec![1]);
        assert!(log.ended.is_empty());
        // One that stood 5 s, then drove off for 3 s before it was lost, is a moving one.
        let drive = |t: f64| {
            let x = 900.0 + 60.0 * (t - 5.0).max(0.0) as f32;
            det(CAR, 0.85, x, 500.0, 160.0, 110.0)
        };
        let (log, _) = play(5.0, 14.0, &|t| if t >= 8.0 { vec![] } else { vec![drive(t)] }, 0.0..0.0);
        assert_eq!(log.ended_ids(), vec![1]);
        assert!(log.ended[0].0 < 10.0, "ended at {}", log.ended[0].0);
        // A moving one still ends after max_lost_s.
        let (_, log) = occluded_walk(|t| t > 2.05, 6.0);
        assert_eq!(log.ended.len(), 1);
        assert!((log.ended[0].0 - 3.6).abs() < 1e-9);
    }

    #[test]
    fn a_parked_car_cut_from_below_by_a_passing_truck_is_sought_where_it_stood() {
        // The simulated stopped car on the 8 m pole at 3 fps (seed 2, its boxes cut where the
        // truck hides them): a car stands on the shoulder; a truck passing in front covers it
        // from below, so its last three boxes before it vanishes (20 to 20.67 s) are cut off at
        // the bottom (its filter then says it moves up the picture); 3.3 s later it is seen
        // whole where it stood.
        const TRUCK: u32 = 7;
        let car = BBox::new(814.0, 83.0, 923.0, 187.0);
        let frames = |truck_at: Option<f32>, truck_missed: std::ops::Range<f64>| {
            move |t: f64| -> Vec<Detection> {
                let mut dets = Vec::new();
                // The truck's box, its bottom below the car's, over the car from 18.6 s to 24 s.
                if (18.6..24.0).contains(&t) && !truck_missed.contains(&t) {
                    let top = truck_at.unwrap_or(150.0) - 20.0 * (t - 19.6) as f32;
                    dets.push(Detection { class_id: TRUCK, score: 0.8, bbox: BBox::new(740.0, top, 1100.0, 640.0) });
                }
                let cut = |bottom: f32| BBox { y2: bottom, ..car };
                match t {
                    t if !(20.0..24.0).contains(&t) => dets.push(Detection { class_id: CAR, score: 0.8, bbox: car }),
                    t if t < 20.5 => dets.push(Detection { class_id: CAR, score: 0.4, bbox: cut(155.0) }),
                    t if t < 20.8 => dets.push(Detection { class_id: CAR, score: 0.35, bbox: cut(129.0) }),
                    _ => {}
                }
                dets
            }
        };
        let play = |dets: &dyn Fn(f64) -> Vec<Detection>| {
            let mut tracker = default_tracker();
            let mut log = Log::default();
            for t in frame_times(3.0, 30.0) {
                let out = tracker.update(t, &dets(t));
                log.record(t, &out);
            }
            log
        };
        // The car is track 1 and the truck 2.
        let log = play(&frames(None, 0.0..0.0));
        assert_eq!(log.confirmed_ids(), vec![1, 2], "one car");
        assert!(log.ended.is_empty());
        // The truck missed at all three of the car's cut boxes: where its track was expected
        // is in front.
        let log = play(&frames(None, 19.9..20.8));
        assert_eq!(log.confirmed_ids(), vec![1, 2], "one car, the truck missed");
        // Nothing in front (the truck's box lies wholly below the car's): the cut boxes are the
        // car's own, moving, and it is not held where it stood.
        let log = play(&frames(Some(300.0), 0.0..0.0));
        assert_eq!(log.confirmed_ids(), vec![1, 2, 3], "no road user in front");
    }

    #[test]
    fn a_standing_car_does_not_take_the_box_of_the_car_running_into_it() {
        // The simulated rear-end on the 8 m pole at 3 fps, seed 26: a car stands in its lane; the
        // car braking into it is seen once, far nearer, then missed twice (its tentative track
        // lapses), and seen again in front of the standing one, whose own box is now weak
        // (half hidden). The new box overlaps the standing car's by IoU 0.22, above `match_iou`.
        let b = |score, x1, y1, x2, y2| Detection { class_id: CAR, score, bbox: BBox::new(x1, y1, x2, y2) };
        let standing = |score| b(score, 695.0, 63.0, 771.0, 155.0);
        let mut tracker = default_tracker();
        let frames: Vec<(f64, Vec<Detection>)> = vec![
            (1.0, vec![standing(0.8)]),
            (1.33, vec![standing(0.8)]),
            (1.67, vec![standing(0.8), b(0.75, 749.0, 337.0, 971.0, 641.0)]),
            (2.0, vec![standing(0.8)]),
            (2.33, vec![standing(0.8)]),
            (2.67, vec![b(0.25, 694.0, 63.0, 772.0, 151.0), b(0.68, 700.0, 105.0, 802.0, 230.0)]),
        ];
        let mut owners = Vec::new();
        for (t, dets) in &frames {
            tracker.update(*t, dets);
            owners = (0..dets.len()).map(|i| tracker.owner(i).map(|tr| tr.id)).collect();
        }
        // The standing car keeps its own weak box; the braking car's starts a track of its own.
        let car = tracker.tracks().find(|tr| tr.hits >= 5).map(|tr| tr.id);
        assert!(car.is_some());
        assert_eq!(owners[0], car, "{owners:?}");
        assert_ne!(owners[1], car, "{owners:?}");
        assert!(owners[1].is_some(), "{owners:?}");
        // The standing car itself, seen lower than it stood: whole again after a nearer road
        // user hid its lower part (its top where it was), lower but no wider (a box of its upper
        // part moved down by jitter), or a little lower and wider.
        let standing_then = |last: Detection| {
            let mut tracker = default_tracker();
            for (t, dets) in frames.iter().take(5) {
                tracker.update(*t, dets);
            }
            tracker.update(2.67, &[last]);
            tracker.owner(0).map(|tr| tr.id)
        };
        for last in
            [b(0.8, 688.0, 63.0, 780.0, 200.0), b(0.8, 695.0, 103.0, 771.0, 195.0), b(0.8, 693.0, 66.0, 774.0, 162.0)]
        {
            assert_eq!(standing_then(last), car, "{last:?}");
        }
        // A car that stood starts off towards the camera, gathering speed: one id throughout.
        let mut tracker = default_tracker();
        for (t, dets) in frames.iter().take(5) {
            tracker.update(*t, dets);
        }
        for (k, down) in [5.0_f32, 15.0, 30.0, 50.0, 75.0, 105.0].into_iter().enumerate() {
            let grow = 1.0 + 0.004 * down;
            let (cx, w, h) = (733.0, 76.0 * grow, 92.0 * grow);
            let y2 = 155.0 + down;
            tracker.update(2.67 + 0.33 * k as f64, &[b(0.8, cx - w / 2.0, y2 - h, cx + w / 2.0, y2)]);
            assert_eq!(tracker.owner(0).map(|tr| tr.id), car, "{down} px down");
        }
    }

    #[test]
    fn side_by_side_riders_at_low_rate_keep_their_ids() {
        // Dense ordinary traffic: six riders 1.2 m apart across the road at 40 km/h, 3 fps.
        let laterals = [-3.0, -1.8, -0.6, 0.6, 1.8, 3.0];
        for fps in [3.0, 5.0] {
            for towards in [true, false] {
                let (ids, _) = fast_riders(fps, 40.0, towards, 4.0, &laterals, None);
                for (i, ids) in ids.iter().enumerate() {
                    assert_eq!(ids.len(), 1, "rider {i} had ids {ids:?} ({fps} fps, towards {towards})");
                }
            }
        }
    }

    /// Boxes of two riders riding away from an 8 m pole camera at 80 km/h, 5 detections a
    /// second, as the scene simulator draws them: the first enters cut by the picture's bottom
    /// edge, and when it has moved up by its own height the second enters beside where it was.
    fn riders_entering() -> Vec<(f64, Vec<Detection>)> {
        let rider = |cx: f32, bottom: f32, h: f32| {
            let w = h * 0.4;
            Detection {
                class_id: MOTORCYCLE,
                score: 0.8,
                bbox: BBox::new(cx - w / 2.0, bottom - h, cx + w / 2.0, bottom),
            }
        };
        vec![
            (0.0, vec![rider(802.0, 720.0, 205.0)]),
            (0.2, vec![rider(753.0, 510.0, 188.0), rider(946.0, 720.0, 209.0)]),
            (0.4, vec![rider(727.0, 349.0, 130.0), rider(863.0, 494.0, 178.0)]),
            (0.6, vec![rider(708.0, 262.0, 100.0), rider(812.0, 355.0, 137.0)]),
            (0.8, vec![rider(700.0, 186.0, 83.0), rider(778.0, 262.0, 103.0)]),
        ]
    }

    /// The id each rider's detection got, per frame.
    fn ids_of(tracker: &mut Tracker, frames: &[(f64, Vec<Detection>)]) -> Vec<Vec<u64>> {
        let mut ids = Vec::new();
        for (t, dets) in frames {
            tracker.update(*t, dets);
            let of = |d: &Detection| tracker.all_tracks().iter().find(|tr| tr.det_bbox == d.bbox).map_or(0, |tr| tr.id);
            ids.push(dets.iter().map(of).collect());
        }
        ids
    }

    #[test]
    fn a_rider_entering_at_the_edge_is_followed_inwards_not_to_the_next_one_entering() {
        let frames = riders_entering();
        let mut tracker = default_tracker();
        tracker.set_picture(1280.0, 720.0);
        let ids = ids_of(&mut tracker, &frames);
        let (first, second) = (ids[0][0], ids[1][1]);
        assert_ne!(first, second);
        for (k, frame) in ids.iter().enumerate() {
            assert_eq!(frame[0], first, "frame {k}: {ids:?}");
            if k > 0 {
                assert_eq!(frame[1], second, "frame {k}: {ids:?}");
            }
        }
        // Without the picture's size the nearest box wins, and that is the second rider: the
        // situation really is ambiguous without knowing the first one is entering.
        let ids = ids_of(&mut default_tracker(), &frames);
        assert_eq!(ids[1][1], ids[0][0], "{ids:?}");
    }

    #[test]
    fn a_car_standing_cut_by_the_edge_keeps_its_id() {
        let mut tracker = default_tracker();
        tracker.set_picture(1280.0, 720.0);
        let car = |t: f64| det(CAR, 0.8, 1220.0 + (t * 7.0).sin() as f32 * 3.0, 650.0, 120.0, 140.0);
        let frames: Vec<(f64, Vec<Detection>)> = frame_times(3.0, 5.0).map(|t| (t, vec![car(t)])).collect();
        let ids = ids_of(&mut tracker, &frames);
        assert!(ids.iter().all(|f| f[0] == ids[0][0] && f[0] != 0), "{ids:?}");
    }

    #[test]
    fn a_car_leaving_through_the_bottom_edge_keeps_its_id() {
        // Pinhole camera 8 m up, focal 1000 px, horizon at y 100; a car 1.8 m wide coming at
        // 72 km/h from 40 m to 8 m, 5 detections a second; below 12.9 m the picture's bottom
        // edge cuts its box, more at every detection.
        let car = |d: f32| {
            let (f, bottom) = (1000.0, 100.0 + 1000.0 * 8.0 / d);
            let (w, h) = (f * 1.8 / d, f * 1.5 / d + f * 8.0 * 4.5 / (d * d));
            let (x1, x2) = (640.0 + f * 1.5 / d - w / 2.0, 640.0 + f * 1.5 / d + w / 2.0);
            let b = BBox::new(x1, (bottom - h).max(0.0), x2, bottom.min(720.0));
            Detection { class_id: CAR, score: 0.8, bbox: b }
        };
        let mut tracker = default_tracker().with_horizon(Some((0.0, 100.0)));
        tracker.set_picture(1280.0, 720.0);
        let frames: Vec<(f64, Vec<Detection>)> =
            (0..9).map(|k| (f64::from(k) * 0.2, vec![car(40.0 - 4.0 * k as f32)])).collect();
        assert!(frames.iter().filter(|(_, d)| d[0].bbox.y2 >= 720.0).count() >= 2, "the edge cuts the last boxes");
        let ids = ids_of(&mut tracker, &frames);
        assert!(ids.iter().all(|f| f[0] == ids[0][0] && f[0] != 0), "{ids:?}");
    }

    /// Detections missed at 1.2, 1.4 and 1.6 s, while [`far_weaver`] turns at the end of its
    /// swing.
    const UNSEEN: std::ops::Range<f64> = 1.1..1.7;

    /// A rider far from the camera (a box 18 px high) weaving ±16 px across the picture every
    /// 1.6 s (about ±1.2 m) while riding away.
    fn far_weaver(t: f64) -> Detection {
        let x = 980.0 + 16.0 * (std::f64::consts::TAU * t / 1.6).sin() as f32;
        det(MOTORCYCLE, 0.7, x, 230.0 - 4.0 * t as f32, 9.0, 18.0)
    }

    #[test]
    fn a_far_rider_missed_while_its_weave_turns_keeps_its_id() {
        let mut tracker = default_tracker();
        tracker.set_picture(1920.0, 1080.0);
        // Its prediction carries on the swing it last saw, and the rider is back within reach
        // of where it was lost.
        let frames: Vec<(f64, Vec<Detection>)> = frame_times(5.0, 3.0)
            .map(|t| (t, if UNSEEN.contains(&t) { vec![] } else { vec![far_weaver(t)] }))
            .collect();
        let ids = ids_of(&mut tracker, &frames);
        assert!(ids.iter().all(|f| f.is_empty() || f[0] == ids[0][0]), "{ids:?}");
    }

    #[test]
    fn a_car_that_left_at_the_top_does_not_take_the_one_entering_there() {
        let mut tracker = default_tracker();
        tracker.set_picture(1280.0, 720.0);
        // One car drives up and out of the picture's top edge by 1.0 s; 0.6 s later another
        // enters through the top edge where it left, driving down.
        let leaving = |t: f64| det(CAR, 0.8, 760.0, 200.0 - 200.0 * t as f32, 90.0, 70.0);
        let entering = |t: f64| det(CAR, 0.8, 740.0, (t as f32 - 1.6) * 200.0 + 20.0, 90.0, 70.0);
        let frames: Vec<(f64, Vec<Detection>)> = frame_times(5.0, 2.4)
            .map(|t| {
                let d = if t < 0.9 {
                    leaving(t)
                } else if t >= 1.6 {
                    entering(t)
                } else {
                    return (t, vec![]);
                };
                let b = d.bbox;
                (t, vec![Detection { bbox: BBox::new(b.x1, b.y1.max(0.0), b.x2, b.y2), ..d }])
            })
            .collect();
        let ids = ids_of(&mut tracker, &frames);
        let first = ids[0][0];
        assert!(ids.iter().filter(|f| !f.is_empty()).all(|f| f[0] != 0), "{ids:?}");
        assert!(ids[8..].iter().all(|f| f[0] != first), "{ids:?}");
    }

    #[test]
    fn a_car_that_left_through_the_side_does_not_take_the_one_following_it() {
        let mut tracker = default_tracker();
        tracker.set_picture(1280.0, 720.0);
        // A car drives left out of the picture at 100 px/s, its box cut by the left edge from
        // 1.2 s on, last detected at 1.4 s; the car following it, hidden until then, is seen at
        // 2.0 s further in, where the first one's prediction does not reach but the reach
        // around its last box does.
        let car = |cx: f32| {
            let b = BBox::new((cx - 80.0).max(0.0), 400.0, cx + 80.0, 510.0);
            Detection { class_id: CAR, score: 0.8, bbox: b }
        };
        let frames: Vec<(f64, Vec<Detection>)> = vec![
            (0.0, vec![car(200.0)]),
            (0.2, vec![car(180.0)]),
            (0.4, vec![car(160.0)]),
            (0.6, vec![car(140.0)]),
            (0.8, vec![car(120.0)]),
            (1.0, vec![car(100.0)]),
            (1.2, vec![car(80.0)]),
            (1.4, vec![car(60.0)]),
            (1.6, vec![]),
            (1.8, vec![]),
            (2.0, vec![car(170.0)]),
        ];
        let ids = ids_of(&mut tracker, &frames);
        assert!(ids[..8].iter().all(|f| f[0] == ids[0][0] && f[0] != 0), "{ids:?}");
        assert!(ids[10][0] != ids[0][0], "{ids:?}");
    }

    #[test]
    fn two_riders_lost_side_by_side_are_not_recovered_by_reach() {
        // Two far weavers 15 px apart, swinging in opposite directions, both missed while they
        // turn; then one detection, the first one's, within the reach of both: which one's it
        // is nothing can tell, so it starts a track of its own.
        let mirror = |t: f64| {
            let d = far_weaver(t);
            let b = d.bbox;
            let dx = 2.0 * (980.0 - (b.x1 + b.x2) / 2.0) + 15.0;
            Detection { bbox: BBox::new(b.x1 + dx, b.y1, b.x2 + dx, b.y2), ..d }
        };
        let mut tracker = default_tracker();
        tracker.set_picture(1920.0, 1080.0);
        let frames: Vec<(f64, Vec<Detection>)> = frame_times(5.0, 1.6)
            .map(|t| (t, if UNSEEN.contains(&t) { vec![] } else { vec![far_weaver(t), mirror(t)] }))
            .collect();
        let ids = ids_of(&mut tracker, &frames);
        assert!(ids[5][0] != ids[5][1] && ids[5].iter().all(|&id| id != 0), "{ids:?}");
        let alone = far_weaver(1.8);
        let got = ids_of(&mut tracker, &[(1.8, vec![alone])]);
        assert!(got[0][0] != 0 && !ids[5].contains(&got[0][0]), "{ids:?} then {got:?}");
    }

    /// A rider riding away at 72 km/h from 12.9 m, weaving ±1.5 m every 1.6 s from `phase`
    /// (radians), at 3 detections a second on the pole camera of [`rider_box`], with its
    /// horizon and road known: the frames it is detected in.
    fn near_weaver(phase: f64) -> Vec<(f64, Vec<Detection>)> {
        frame_times(3.0, 2.0)
            .map(|t| {
                let lateral = 1.5 * (std::f64::consts::TAU * t / 1.6 + phase).sin();
                (t, vec![rider_box(12.9 + 20.0 * t as f32, lateral as f32)])
            })
            .collect()
    }

    fn pole_tracker() -> Tracker {
        let mut tracker = default_tracker().with_horizon(Some((0.0, 100.0))).with_road(Some((640.0, 100.0, 1.0)));
        tracker.set_picture(1280.0, 720.0);
        tracker
    }

    #[test]
    fn a_weaving_rider_near_the_camera_keeps_one_id_at_3_fps() {
        // Between two detections it rides 6.7 m on and up to 2.7 m across: its second box is
        // well off the road's line through its first, and its swing turns between the second and
        // the third, away from where its first two predict.
        for quarter in 0..4 {
            let phase = f64::from(quarter) * std::f64::consts::FRAC_PI_2;
            let ids = ids_of(&mut pole_tracker(), &near_weaver(phase));
            assert!(ids.iter().all(|f| f[0] != 0 && f[0] == ids[0][0]), "phase {phase}: {ids:?}");
        }
    }

    #[test]
    fn a_weaving_rider_missed_near_the_camera_is_found_again_at_half_its_size() {
        // Riding away at 3 detections a second, missed at its third: at its fourth it is 20 m
        // further, its box half as high as at its last detection, and its swing has turned away
        // from its prediction. Sought around where it was, it is sought at the size it should
        // have now.
        for quarter in 0..4 {
            let phase = f64::from(quarter) * std::f64::consts::FRAC_PI_2;
            let mut frames = near_weaver(phase);
            frames[2].1.clear();
            let ids = ids_of(&mut pole_tracker(), &frames);
            let first = ids[1][0];
            assert!(first != 0 && ids[3..].iter().all(|f| f[0] == first), "phase {phase}: {ids:?}");
        }
    }

    #[test]
    fn a_car_missed_riding_away_does_not_take_the_one_entering_at_the_top() {
        // A car riding away at 95 km/h from a pole camera, detected three times at 5 a second and
        // then missed twice; at its second miss the oncoming car enters through the picture's top
        // edge, within its reach but not where it is expected, which is clear of the edge (boxes
        // from the simulated pole camera, `anttd scenarios --explain --scenario speeding_car
        // --geometry pole8 --fps 5 --seed 15`).
        let car = |x1, y1, x2, y2| Detection { class_id: CAR, score: 0.8, bbox: BBox::new(x1, y1, x2, y2) };
        let frames = vec![
            (1.2, vec![car(737.0, 296.0, 939.0, 563.0)]),
            (1.4, vec![car(714.0, 193.0, 854.0, 368.0)]),
            (1.6, vec![car(703.0, 123.0, 813.0, 246.0)]),
            (1.8, vec![]),
            (2.0, vec![car(559.0, 0.0, 606.0, 26.0)]),
            (2.2, vec![car(555.0, 0.0, 603.0, 40.0)]),
            (2.4, vec![car(548.0, 1.0, 603.0, 54.0)]),
        ];
        let mut tracker = default_tracker();
        tracker.set_picture(1280.0, 720.0);
        let ids = ids_of(&mut tracker, &frames);
        let first = ids[2][0];
        assert!(first != 0 && ids[4..].iter().all(|f| f[0] != first), "{ids:?}");
    }

    #[test]
    fn a_rider_missed_once_does_not_take_the_one_appearing_behind_it() {
        // A rider riding away at 80 km/h, detected at 5 per second but for one frame, at which
        // a second rider is detected for the first time 8 m behind it, a lane aside: behind
        // where the first was last seen, but within the distance it could have gone since.
        let v = 80.0 / 3.6;
        let frames: Vec<(f64, Vec<Detection>)> = frame_times(5.0, 1.2)
            .map(|t| {
                let first = rider_box(12.9 + v * t as f32, 0.0);
                let dets = if (t - 0.6).abs() < 1e-6 { vec![rider_box(4.9 + v * t as f32, 1.5)] } else { vec![first] };
                (t, dets)
            })
            .collect();
        let ids = ids_of(&mut pole_tracker(), &frames);
        assert!(ids[2][0] != 0, "{ids:?}");
        assert_ne!(ids[3][0], ids[2][0], "{ids:?}");
        assert_eq!(ids[4][0], ids[2][0], "{ids:?}");
    }

    #[test]
    fn a_rider_missed_once_does_not_take_the_new_one_beside_it() {
        // Riders in a cluster at 40 km/h, 3 detections a second (3.7 m apart): A from 13 m,
        // confirmed; B enters half a lane aside and 1.5 m behind and is seen once; then A is
        // missed for a frame, and B's detection lies within A's search radius. A's track must not
        // take it while B's own new track looks for it.
        let v = 40.0 / 3.6;
        let a = |t: f64| rider_box(13.0 + v * t as f32, 0.0);
        let b = |t: f64| rider_box(11.5 + v * t as f32, 0.8);
        let frames: Vec<(f64, Vec<Detection>)> = frame_times(3.0, 2.4)
            .map(|t| {
                let k = (t * 3.0).round() as u32;
                let dets = match k {
                    0..=2 => vec![a(t)],
                    3 => vec![a(t), b(t)],
                    4 => vec![b(t)],
                    _ => vec![a(t), b(t)],
                };
                (t, dets)
            })
            .collect();
        let ids = ids_of(&mut pole_tracker(), &frames);
        let (id_a, id_b) = (ids[2][0], ids[3][1]);
        assert!(id_a != 0 && id_b != 0 && id_a != id_b, "{ids:?}");
        assert_eq!(ids[4], vec![id_b], "{ids:?}");
        assert_eq!(ids[5], vec![id_a, id_b], "{ids:?}");
    }
}
