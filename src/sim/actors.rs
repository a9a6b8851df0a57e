//! Simulated road users: a class (size, model label) and a trajectory on the ground.

use super::camera::Camera;

/// What a road user is; sizes in metres (length along its travel, width, height).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Class {
    /// A motorcycle with its rider.
    Motorcycle,
    Car,
    Truck,
    Bus,
    Person,
}

impl Class {
    /// The shipped model's (COCO) label.
    pub fn label(self) -> &'static str {
        match self {
            Class::Motorcycle => "motorcycle",
            Class::Car => "car",
            Class::Truck => "truck",
            Class::Bus => "bus",
            Class::Person => "person",
        }
    }

    /// Length, width, height, metres.
    pub fn size(self) -> (f64, f64, f64) {
        match self {
            Class::Motorcycle => (1.9, 0.8, 1.6),
            Class::Car => (4.5, 1.8, 1.5),
            Class::Truck => (8.0, 2.5, 3.2),
            Class::Bus => (11.0, 2.5, 3.2),
            Class::Person => (0.5, 0.5, 1.7),
        }
    }
}

/// Which way along the road.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Heading {
    /// Towards larger `y`: riding away from the camera.
    Away,
    /// Towards the camera.
    Toward,
}

/// A stretch of constant acceleration: `dur_s` long, speed from `v0` to `v1` (m/s).
#[derive(Debug, Clone, Copy, PartialEq)]
struct Segment {
    dur_s: f64,
    v0: f64,
    v1: f64,
}

/// Where a road user is when: its ground centre moves along the road at a speed that changes
/// piecewise linearly (cruise, brake, stand, go again), with an optional sideways weave.
#[derive(Debug, Clone, PartialEq)]
pub struct Trajectory {
    /// Ground centre at `enter_s`.
    pub start: (f64, f64),
    pub heading: Heading,
    /// Initial speed, km/h.
    pub speed_kmh: f64,
    /// Sideways swing: amplitude (m) and period (s).
    pub weave: Option<(f64, f64)>,
    /// Sideways moves (a lane change, a swerve out to overtake): from `at_s` (scenario time),
    /// `offset_m` across, eased in and out over `over_s`.
    shifts: Vec<Shift>,
    /// Speed profile after `enter_s`; the last speed holds for ever.
    segments: Vec<Segment>,
    pub enter_s: f64,
    pub leave_s: f64,
}

impl Trajectory {
    /// Cruising at `speed_kmh` from `start` from `enter_s` on, for ever.
    pub fn new(start: (f64, f64), heading: Heading, speed_kmh: f64, enter_s: f64) -> Self {
        Self {
            start,
            heading,
            speed_kmh,
            weave: None,
            shifts: Vec::new(),
            segments: Vec::new(),
            enter_s,
            leave_s: f64::INFINITY,
        }
    }

    /// Move `offset_m` across (positive: to larger x) from `at_s` on, over `over_s`.
    pub fn shift(mut self, at_s: f64, offset_m: f64, over_s: f64) -> Self {
        self.shifts.push(Shift { at_s, offset_m, over_s });
        self
    }

    pub fn weave(mut self, amplitude_m: f64, period_s: f64) -> Self {
        self.weave = Some((amplitude_m, period_s));
        self
    }

    pub fn leave(mut self, at_s: f64) -> Self {
        self.leave_s = at_s;
        self
    }

    /// The speed (m/s) the profile ends with so far.
    fn end_speed(&self) -> f64 {
        self.segments.last().map_or(self.speed_kmh / 3.6, |s| s.v1)
    }

    /// The time (after `enter_s`) the profile so far lasts.
    fn profile_s(&self) -> f64 {
        self.segments.iter().map(|s| s.dur_s).sum()
    }

    /// Hold the current speed until `at_s` (scenario time), if that is later than now.
    fn until(mut self, at_s: f64) -> Self {
        let dt = at_s - self.enter_s - self.profile_s();
        if dt > 0.0 {
            let v = self.end_speed();
            self.segments.push(Segment { dur_s: dt, v0: v, v1: v });
        }
        self
    }

    /// From `at_s` on, change speed at `accel_mps2` (negative: brake) until `to_kmh`.
    pub fn change_speed(self, at_s: f64, accel_mps2: f64, to_kmh: f64) -> Self {
        let mut me = self.until(at_s);
        let (v0, v1) = (me.end_speed(), to_kmh / 3.6);
        if accel_mps2.abs() > 1e-9 {
            let dur = ((v1 - v0) / accel_mps2).max(0.0);
            me.segments.push(Segment { dur_s: dur, v0, v1 });
        }
        me
    }

    /// Brake at `decel_mps2` from `at_s` to a standstill, stand `stand_s`, then drive on,
    /// speeding up at 2 m/s² (a calm start) to the original speed.
    pub fn stop(self, at_s: f64, decel_mps2: f64, stand_s: f64) -> Self {
        let v = self.speed_kmh;
        let mut me = self.change_speed(at_s, -decel_mps2, 0.0);
        let restart = me.enter_s + me.profile_s() + stand_s;
        me = me.until(restart);
        me.change_speed(restart, 2.0, v)
    }

    /// Distance along the road covered after `tau` seconds, and the speed then.
    fn travelled(&self, tau: f64) -> (f64, f64) {
        let mut s = 0.0;
        let mut left = tau.max(0.0);
        for seg in &self.segments {
            if left <= seg.dur_s {
                let a = if seg.dur_s > 0.0 { (seg.v1 - seg.v0) / seg.dur_s } else { 0.0 };
                return (s + seg.v0 * left + a * left * left / 2.0, seg.v0 + a * left);
            }
            s += seg.dur_s * (seg.v0 + seg.v1) / 2.0;
            left -= seg.dur_s;
        }
        let v = self.end_speed();
        (s + v * left, v)
    }

    /// Whether the road user exists at time `t`.
    pub fn present(&self, t: f64) -> bool {
        t >= self.enter_s && t < self.leave_s
    }

    /// Ground centre at time `t`.
    pub fn position(&self, t: f64) -> (f64, f64) {
        let tau = t - self.enter_s;
        let (s, _) = self.travelled(tau);
        let sign = if self.heading == Heading::Away { 1.0 } else { -1.0 };
        let swing = self.weave.map_or(0.0, |(a, p)| a * (std::f64::consts::TAU * tau.max(0.0) / p).sin());
        let lateral = swing + self.shifts.iter().map(|s| s.offset(t)).sum::<f64>();
        (self.start.0 + lateral, self.start.1 + sign * s)
    }

    /// Ground speed along the road at time `t`, km/h.
    pub fn speed_kmh(&self, t: f64) -> f64 {
        self.travelled(t - self.enter_s).1 * 3.6
    }
}

/// A sideways move: see [`Trajectory::shift`].
#[derive(Debug, Clone, Copy, PartialEq)]
struct Shift {
    at_s: f64,
    offset_m: f64,
    over_s: f64,
}

impl Shift {
    /// How far across the move has gone at `t`: a half cosine, as a rider steers smoothly.
    fn offset(&self, t: f64) -> f64 {
        let x = ((t - self.at_s) / self.over_s).clamp(0.0, 1.0);
        self.offset_m * (1.0 - (std::f64::consts::PI * x).cos()) / 2.0
    }
}

/// One simulated road user.
#[derive(Debug, Clone, PartialEq)]
pub struct Actor {
    pub class: Class,
    pub path: Trajectory,
}

/// A road user as the camera sees it at one moment.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Seen {
    /// Index of the actor.
    pub actor: usize,
    pub class: Class,
    /// x1, y1, x2, y2, clipped to the picture.
    pub bbox: [f64; 4],
    /// Distance along the optical axis of its ground centre, for who hides whom.
    pub depth: f64,
}

/// The share of a box that must be inside the picture for it to count as seen.
const MIN_INSIDE: f64 = 0.5;

impl Actor {
    pub fn new(class: Class, path: Trajectory) -> Self {
        Self { class, path }
    }

    /// Its box in the picture at time `t`: the bounding box of its 3-D box's eight corners,
    /// clipped to the picture; `None` when it is not there, behind the camera, or mostly
    /// outside the picture.
    pub fn seen(&self, index: usize, cam: &Camera, t: f64) -> Option<Seen> {
        if !self.path.present(t) {
            return None;
        }
        let (x, y) = self.path.position(t);
        let (l, w, h) = self.class.size();
        let (mut u0, mut v0, mut u1, mut v1) = (f64::MAX, f64::MAX, f64::MIN, f64::MIN);
        for dx in [-w / 2.0, w / 2.0] {
            for dy in [-l / 2.0, l / 2.0] {
                for z in [0.0, h] {
                    let (_, u, v) = cam.project([x + dx, y + dy, z])?;
                    (u0, v0, u1, v1) = (u0.min(u), v0.min(v), u1.max(u), v1.max(v));
                }
            }
        }
        let (depth, _, _) = cam.project([x, y, 0.0])?;
        let (wd, ht) = (f64::from(cam.width), f64::from(cam.height));
        let clipped = [u0.max(0.0), v0.max(0.0), u1.min(wd), v1.min(ht)];
        let area = |b: [f64; 4]| (b[2] - b[0]).max(0.0) * (b[3] - b[1]).max(0.0);
        let full = area([u0, v0, u1, v1]);
        if full <= 0.0 || area(clipped) < MIN_INSIDE * full {
            return None;
        }
        Some(Seen { actor: index, class: self.class, bbox: clipped, depth })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn braking_and_standing_follow_the_profile() {
        // 50 km/h, brake at 8 m/s² from 2 s: stops after 13.89/8 = 1.74 s, 12.06 m later.
        let p = Trajectory::new((0.0, 0.0), Heading::Away, 50.0, 0.0).change_speed(2.0, -8.0, 0.0);
        let v = 50.0 / 3.6;
        assert!((p.position(2.0).1 - 2.0 * v).abs() < 1e-9);
        assert!((p.position(10.0).1 - (2.0 * v + v * v / 16.0)).abs() < 1e-9);
        assert_eq!(p.speed_kmh(10.0), 0.0);
        // Stop, stand 5 s, go again.
        let p = Trajectory::new((0.0, 100.0), Heading::Toward, 36.0, 1.0).stop(2.0, 5.0, 5.0);
        // Cruise 1 s (10 m), brake 2 s (10 m): stands at 80 m from 4 s to 9 s.
        assert!((p.position(4.0).1 - 80.0).abs() < 1e-9 && (p.position(8.9).1 - 80.0).abs() < 1e-9);
        assert!(p.position(10.0).1 < 80.0);
        assert!((p.speed_kmh(30.0) - 36.0).abs() < 1e-9);
    }

    #[test]
    fn a_car_in_view_has_a_box_and_one_behind_the_camera_none() {
        let cam = Camera::named("pole8").expect("pole8");
        let car = Actor::new(Class::Car, Trajectory::new((0.0, 20.0), Heading::Away, 0.0, 0.0));
        let s = car.seen(0, &cam, 1.0).expect("seen");
        let [x1, y1, x2, y2] = s.bbox;
        // Centred, plausible size for a car 20 m away on an 8 m pole.
        assert!((x1 + x2 - 1280.0).abs() < 1e-6, "{:?}", s.bbox);
        assert!((60.0..150.0).contains(&(x2 - x1)) && (40.0..200.0).contains(&(y2 - y1)), "{:?}", s.bbox);
        let gone = Actor::new(Class::Car, Trajectory::new((0.0, -3.0), Heading::Away, 0.0, 0.0));
        assert!(gone.seen(0, &cam, 1.0).is_none());
        // Not yet entered.
        let later = Actor::new(Class::Car, Trajectory::new((0.0, 20.0), Heading::Away, 0.0, 5.0));
        assert!(later.seen(0, &cam, 1.0).is_none());
    }
}
