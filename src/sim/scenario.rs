//! The scenarios of issue 13: road users, the zones, lines and rules a camera would have for
//! them, and what the rules should report.

use rand::rngs::ChaCha8Rng;
use rand::{RngExt, SeedableRng};

use super::actors::{Actor, Class, Heading, Trajectory};
use super::camera::Camera;

/// The rule values of every scenario, in one place so they can be retuned: docs/rules.md's
/// examples, meant for a 40–60 m view at 5 fps. Each is the TOML of the rule's own keys.
pub mod rule_values {
    pub const RACING: &str = "min_speed_kmh = 70\nmin_group = 3\nmax_gap_m = 15\nfor_s = 0.5\n";
    pub const SPEEDING: &str = "limit_kmh = 60\n";
    /// The defaults (15 km/h, 4 m/s², stop 5 km/h within 5 s).
    pub const COLLISION: &str = "";
    pub const STOPPED_VEHICLE: &str = "for_s = 30\nmax_move_m = 2\n";
    /// The allowed direction is the scenario's (up the picture: away from the camera).
    pub const WRONG_WAY: &str = "direction = [0, -1]\nmin_distance_m = 5\n";
    pub const CROWD: &str = "min_persons = 5\nfor_s = 10\nend_after_s = 10\n";
}

/// A rectangle on the ground, metres: `x` across, `y` along the road.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct GroundRect {
    pub x0: f64,
    pub x1: f64,
    pub y0: f64,
    pub y1: f64,
}

/// A rule of the scenario's camera: its kind, name, zone, and own keys (from [`rule_values`]).
#[derive(Debug, Clone, PartialEq)]
pub struct RuleSpec {
    pub kind: &'static str,
    pub name: &'static str,
    pub zone: &'static str,
    pub keys: &'static str,
}

/// What a rule should report: `count` starts, each about the `actors` (indices); `count` 0 for a
/// rule that must stay silent.
#[derive(Debug, Clone, PartialEq)]
pub struct Expect {
    pub rule: &'static str,
    pub count: usize,
    pub actors: Vec<usize>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Scenario {
    pub name: &'static str,
    pub about: &'static str,
    pub duration_s: f64,
    pub actors: Vec<Actor>,
    pub zones: Vec<(&'static str, GroundRect)>,
    /// Lines across the road at this `y`, from `x0` to `x1`.
    pub lines: Vec<(&'static str, f64, f64, f64)>,
    pub rules: Vec<RuleSpec>,
    pub expect: Vec<Expect>,
}

/// The road: 10 m carriageway (x from -5 to 5; traffic away from the camera keeps right, x > 0),
/// shoulders and pavements beyond.
const ROAD: GroundRect = GroundRect { x0: -7.0, x1: 7.0, y0: 0.0, y1: 200.0 };

fn rule(kind: &'static str, name: &'static str, keys: &'static str) -> RuleSpec {
    RuleSpec { kind, name, zone: "road", keys }
}

fn racing() -> RuleSpec {
    rule("racing", "racing", rule_values::RACING)
}
fn speeding() -> RuleSpec {
    rule("speeding", "speeding", rule_values::SPEEDING)
}
fn collision() -> RuleSpec {
    rule("collision_suspect", "collision", rule_values::COLLISION)
}

fn expect(rule: &'static str, count: usize, actors: Vec<usize>) -> Expect {
    Expect { rule, count, actors }
}

/// Must stay silent.
fn silent(rule: &'static str) -> Expect {
    Expect { rule, count: 0, actors: Vec::new() }
}

fn away(class: Class, x: f64, y: f64, kmh: f64, at: f64) -> Actor {
    Actor::new(class, Trajectory::new((x, y), Heading::Away, kmh, at))
}

fn toward(class: Class, x: f64, y: f64, kmh: f64, at: f64) -> Actor {
    Actor::new(class, Trajectory::new((x, y), Heading::Toward, kmh, at))
}

/// Every scenario's name.
pub const NAMES: &[&str] = &[
    "racing_group",
    "weaving_rider",
    "speeding_car",
    "speeding_motorcycle",
    "rear_end",
    "rear_end_shove",
    "rear_end_rolling",
    "stopped_car",
    "wrong_way",
    "crowd",
    "dense_traffic",
    "side_by_side",
    "lane_change",
    "queue_brake",
    "queue_stop",
    "red_light",
];

/// A scenario by name.
pub fn scenario(name: &str) -> Option<Scenario> {
    let road = vec![("road", ROAD)];
    let s = match name {
        "racing_group" => Scenario {
            name: "racing_group",
            about: "4 motorcycles riding away together at 78–84 km/h, 3–10 m apart",
            duration_s: 12.0,
            actors: vec![
                away(Class::Motorcycle, 1.5, -8.0, 82.0, 0.5),
                away(Class::Motorcycle, 3.0, -12.0, 81.0, 0.5),
                away(Class::Motorcycle, 2.0, -21.0, 84.0, 0.5),
                away(Class::Motorcycle, 3.5, -25.0, 80.0, 0.5),
            ],
            zones: road,
            lines: vec![],
            rules: vec![racing(), speeding(), collision()],
            expect: vec![
                expect("racing", 1, vec![0, 1, 2, 3]),
                expect("speeding", 4, vec![0, 1, 2, 3]),
                silent("collision"),
            ],
        },
        "weaving_rider" => Scenario {
            name: "weaving_rider",
            about: "one rider at 72 km/h weaving ±1.5 m every 1.6 s",
            duration_s: 12.0,
            actors: vec![Actor::new(
                Class::Motorcycle,
                Trajectory::new((2.5, -6.0), Heading::Away, 72.0, 0.5).weave(1.5, 1.6),
            )],
            zones: road,
            lines: vec![],
            rules: vec![racing(), collision()],
            expect: vec![expect("racing", 1, vec![0]), silent("collision")],
        },
        "speeding_car" => Scenario {
            name: "speeding_car",
            about: "a car at 95 km/h away from the camera (limit 60) and one at 50 km/h",
            duration_s: 10.0,
            actors: vec![away(Class::Car, 2.5, -6.0, 95.0, 0.5), toward(Class::Car, -2.5, 70.0, 50.0, 0.5)],
            zones: road,
            lines: vec![],
            rules: vec![speeding(), collision()],
            expect: vec![expect("speeding", 1, vec![0]), silent("collision")],
        },
        "speeding_motorcycle" => Scenario {
            name: "speeding_motorcycle",
            about: "a motorcycle at 90 km/h towards the camera (limit 60) and one at 45 km/h",
            duration_s: 10.0,
            actors: vec![
                toward(Class::Motorcycle, -2.0, 70.0, 90.0, 0.5),
                away(Class::Motorcycle, 2.0, -3.0, 45.0, 0.5),
            ],
            zones: road,
            lines: vec![],
            rules: vec![speeding(), racing()],
            expect: vec![expect("speeding", 1, vec![0]), silent("racing")],
        },
        "rear_end" => {
            // The standing car's rear is at 27.75 m; the moving one brakes at 8 m/s² when its front
            // is 7.75 m from it, hits at about 30 km/h, and both stand.
            let v: f64 = 50.0 / 3.6;
            let t_brake = 0.5 + (17.75 + 5.0) / v;
            let hit_v = (v * v - 2.0 * 8.0 * 7.75).sqrt();
            let t_hit = t_brake + (v - hit_v) / 8.0;
            let moving = Trajectory::new((2.5, -5.0), Heading::Away, 50.0, 0.5)
                .change_speed(t_brake, -8.0, hit_v * 3.6)
                .change_speed(t_hit, -hit_v / 0.1, 0.0);
            Scenario {
                name: "rear_end",
                about: "a car at 50 km/h brakes at 8 m/s² into a car standing in its lane",
                duration_s: 15.0,
                actors: vec![Actor::new(Class::Car, moving), away(Class::Car, 2.5, 30.0, 0.0, 0.0)],
                zones: road,
                lines: vec![],
                rules: vec![collision(), speeding()],
                expect: vec![expect("collision", 1, vec![0, 1]), silent("speeding")],
            }
        }
        "rear_end_shove" => {
            // A crash as it often is: braking more gently (5 m/s², a wet road or a late, soft
            // foot), the moving car hits the standing one at 27 km/h and shoves it on, the two
            // bouncing a little apart (the one hit at 16 km/h, the other at 11), each braked at
            // 7 m/s²: the one hit stands 1.4 m on, the other 0.7 m. A crash that does not stop
            // the car at once, and that the test of a stop short of the car ahead must not take
            // for one.
            let v: f64 = 50.0 / 3.6;
            let (hit_v, a) = (7.5, 5.0);
            // Its front (2.25 m ahead of its centre) meets the standing car's rear at 27.75 m.
            let brake_from = 27.75 - 2.25 - (v * v - hit_v * hit_v) / (2.0 * a);
            let t_brake = 0.5 + (brake_from + 5.0) / v;
            let t_hit = t_brake + (v - hit_v) / a;
            let (pushed_v, pushing_v, jolt_s) = (4.5, 3.0, 0.05);
            let moving = Trajectory::new((2.5, -5.0), Heading::Away, 50.0, 0.5)
                .change_speed(t_brake, -a, hit_v * 3.6)
                .change_speed(t_hit, -(hit_v - pushing_v) / jolt_s, pushing_v * 3.6)
                .change_speed(t_hit + jolt_s, -7.0, 0.0);
            let hit = Trajectory::new((2.5, 30.0), Heading::Away, 0.0, 0.0)
                .change_speed(t_hit, pushed_v / jolt_s, pushed_v * 3.6)
                .change_speed(t_hit + jolt_s, -7.0, 0.0);
            Scenario {
                name: "rear_end_shove",
                about: "a car at 50 km/h brakes at 5 m/s² into a standing car at 27 km/h and shoves it 1.4 m on",
                duration_s: 15.0,
                actors: vec![Actor::new(Class::Car, moving), Actor::new(Class::Car, hit)],
                zones: road,
                lines: vec![],
                rules: vec![collision(), speeding()],
                expect: vec![expect("collision", 1, vec![0, 1]), silent("speeding")],
            }
        }
        "rear_end_rolling" => {
            // A crash into a car still rolling, the other side of the near miss: the car ahead
            // slows from 15 km/h as in `queue_brake`; the one behind, at 50 km/h, brakes at 5
            // m/s² too late and hits it at 28 km/h when it still rolls at 10 km/h (3.85 s,
            // 27.5 m out), and shoves it on: the one hit goes on at 24 km/h, the other at 14,
            // each then braking at 7 m/s². The car hit draws away from the one that hit it, and
            // that one is seen well behind the line it drove on (braked 1.2 s before the impact).
            let moving = Trajectory::new((2.5, -13.0), Heading::Away, 50.0, 1.0)
                .change_speed(2.65, -5.0, 7.87 * 3.6)
                .change_speed(3.85, -(7.87 - 4.0) / 0.05, 4.0 * 3.6)
                .change_speed(3.9, -7.0, 0.0);
            let ahead = Trajectory::new((2.5, 12.0), Heading::Away, 15.0, 0.0)
                .change_speed(3.0, -1.5, 2.89 * 3.6)
                .change_speed(3.85, (6.8 - 2.89) / 0.05, 6.8 * 3.6)
                .change_speed(3.9, -7.0, 0.0);
            Scenario {
                name: "rear_end_rolling",
                about: "a car at 50 km/h brakes at 5 m/s² into a car rolling at 10 km/h, hits it at 28 km/h and shoves it on",
                duration_s: 15.0,
                actors: vec![Actor::new(Class::Car, moving), Actor::new(Class::Car, ahead)],
                zones: road,
                lines: vec![],
                rules: vec![collision(), speeding()],
                expect: vec![expect("collision", 1, vec![0, 1]), silent("speeding")],
            }
        }
        "queue_brake" => {
            // No crash, and what a pole camera sees much as one: the car ahead slows gently
            // to a stop; the one behind, at 50 km/h, brakes at 8 m/s² from 18 m out and stands
            // 2.1 m short of it at 4.4 s while it still rolls; it stands 1.4 s later, 3.5 m
            // ahead. From the pole the gap is hidden behind the braking car, and their boxes
            // meet as they would in a crash (see docs/rules.md, `collision_suspect`).
            let v: f64 = 50.0 / 3.6;
            let t_brake = 1.0 + (18.19 + 5.0) / v;
            let moving = Trajectory::new((2.5, -5.0), Heading::Away, 50.0, 1.0).change_speed(t_brake, -8.0, 0.0);
            let ahead = Trajectory::new((2.5, 20.0), Heading::Away, 15.0, 0.0).change_speed(3.0, -1.5, 0.0);
            Scenario {
                name: "queue_brake",
                about: "a car at 50 km/h brakes at 8 m/s² and stops 2 m short of one slowing to a stop",
                duration_s: 15.0,
                actors: vec![Actor::new(Class::Car, moving), Actor::new(Class::Car, ahead)],
                zones: road,
                lines: vec![],
                rules: vec![collision()],
                expect: vec![silent("collision")],
            }
        }
        "queue_stop" => {
            // No crash: a car at 50 km/h brakes at 6 m/s² (a light turned red late) and stands
            // 2 m short of a car already standing at it, where `rear_end`'s car stood. Firm
            // braking behind a standing queue is an everyday stop, and from the pole their
            // boxes meet.
            let v: f64 = 50.0 / 3.6;
            let a = 6.0;
            // Its front (2.25 m ahead of its centre) stands 2 m short of the other's rear at 27.75 m.
            let brake_from = 27.75 - 2.0 - 2.25 - v * v / (2.0 * a);
            let t_brake = 0.5 + (brake_from + 5.0) / v;
            let moving = Trajectory::new((2.5, -5.0), Heading::Away, 50.0, 0.5).change_speed(t_brake, -a, 0.0);
            Scenario {
                name: "queue_stop",
                about: "a car at 50 km/h brakes at 6 m/s² and stops 2 m short of a standing car",
                duration_s: 15.0,
                actors: vec![Actor::new(Class::Car, moving), away(Class::Car, 2.5, 30.0, 0.0, 0.0)],
                zones: road,
                lines: vec![],
                rules: vec![collision()],
                expect: vec![silent("collision")],
            }
        }
        "stopped_car" => Scenario {
            name: "stopped_car",
            about: "a car stops on the shoulder for 180 s; a slow truck hides it for a few seconds",
            duration_s: 215.0,
            actors: vec![
                Actor::new(Class::Car, Trajectory::new((5.8, -10.0), Heading::Away, 40.0, 0.5).stop(2.0, 3.0, 180.0)),
                away(Class::Truck, 3.0, -8.0, 15.0, 60.0),
            ],
            zones: vec![("road", GroundRect { x0: -7.5, x1: 7.5, y0: 0.0, y1: 200.0 })],
            lines: vec![],
            rules: vec![rule("stopped_vehicle", "stopped", rule_values::STOPPED_VEHICLE), collision(), speeding()],
            expect: vec![expect("stopped", 1, vec![0]), silent("collision"), silent("speeding")],
        },
        "wrong_way" => Scenario {
            name: "wrong_way",
            about: "a car drives towards the camera in the lanes going away; two cars go the right way",
            duration_s: 12.0,
            actors: vec![
                toward(Class::Car, 2.5, 70.0, 40.0, 0.5),
                away(Class::Car, 3.5, -6.0, 45.0, 0.5),
                away(Class::Car, 1.5, -6.0, 40.0, 4.0),
            ],
            zones: vec![("road", GroundRect { x0: 0.0, x1: 6.0, y0: 0.0, y1: 200.0 })],
            lines: vec![],
            rules: vec![rule("wrong_way", "wrong-way", rule_values::WRONG_WAY), collision()],
            expect: vec![expect("wrong-way", 1, vec![0]), silent("collision")],
        },
        "crowd" => crowd(),
        "dense_traffic" => dense_traffic(),
        "red_light" => red_light(),
        "side_by_side" => Scenario {
            name: "side_by_side",
            about: "two riders side by side 1.5 m apart at 40 km/h, and a third 20 m behind",
            duration_s: 12.0,
            actors: vec![
                away(Class::Motorcycle, 1.5, -5.0, 40.0, 0.5),
                away(Class::Motorcycle, 3.0, -5.0, 40.0, 0.5),
                away(Class::Motorcycle, 2.0, -25.0, 42.0, 0.5),
            ],
            zones: road,
            lines: vec![],
            rules: vec![racing(), speeding(), collision()],
            expect: vec![silent("racing"), silent("speeding"), silent("collision")],
        },
        "lane_change" => Scenario {
            name: "lane_change",
            about: "a rider at 80 km/h changes lane once; one at 78 km/h swerves out to overtake a slow one and back",
            duration_s: 14.0,
            actors: vec![
                Actor::new(
                    Class::Motorcycle,
                    Trajectory::new((1.5, -6.0), Heading::Away, 80.0, 0.5).shift(1.9, 3.0, 1.0),
                ),
                Actor::new(
                    Class::Motorcycle,
                    Trajectory::new((2.0, -6.0), Heading::Away, 78.0, 6.0).shift(7.0, 2.0, 0.8).shift(8.0, -2.0, 0.8),
                ),
                away(Class::Motorcycle, 2.0, -6.0, 35.0, 4.0),
            ],
            zones: road,
            lines: vec![],
            rules: vec![racing(), collision()],
            expect: vec![silent("racing"), silent("collision")],
        },
        _ => return None,
    };
    Some(s)
}

/// 12 people walk along the pavement to one spot and stand there close together for a minute.
fn crowd() -> Scenario {
    let mut actors = Vec::new();
    for i in 0..12 {
        let fi = f64::from(i);
        // Where each ends up: 4 across, 3 deep around (9, 25.5), 1 m × 1.5 m apart; closer, the
        // people behind would vanish entirely behind those in front from this angle.
        let (gx, gy) = (7.5 + 1.0 * (i % 4) as f64, 24.0 + 1.5 * (i / 4) as f64);
        let from_far = i % 2 == 0;
        let walk = 4.0 + 0.3 * (fi % 4.0);
        let dist = 12.0 + 1.5 * fi;
        let (start, heading) =
            if from_far { ((gx, gy + dist), Heading::Toward) } else { ((gx, gy - dist), Heading::Away) };
        let enter = 0.5 + 0.8 * fi;
        let arrive = enter + dist / (walk / 3.6);
        let path = Trajectory::new(start, heading, walk, enter).stop(arrive, 10.0, 60.0 - arrive + 20.0);
        actors.push(Actor::new(Class::Person, path));
    }
    Scenario {
        name: "crowd",
        about: "12 people gather on the pavement and stand close together (hiding each other) for a minute",
        duration_s: 110.0,
        actors,
        zones: vec![("pavement", GroundRect { x0: 6.5, x1: 12.0, y0: 14.0, y1: 40.0 })],
        lines: vec![],
        rules: vec![RuleSpec { kind: "crowd", name: "crowd", zone: "pavement", keys: rule_values::CROWD }],
        expect: vec![Expect { rule: "crowd", count: 1, actors: (0..12).collect() }],
    }
}

/// Vietnamese-style traffic for a minute: clusters of motorcycles side by side in both
/// directions at 30–50 km/h, some entering right under the camera, a few cars and a bus. Built
/// from a fixed seed, so it is the same scene whatever the run's seed.
fn dense_traffic() -> Scenario {
    let mut rng = ChaCha8Rng::seed_from_u64(13);
    let mut actors = Vec::new();
    let mut t = 0.5;
    while t < 55.0 {
        let go_away = rng.random::<f64>() < 0.5;
        let kmh = 30.0 + 20.0 * rng.random::<f64>();
        let riders = 2 + (rng.random::<f64>() * 3.0) as usize;
        // Riders entering near the camera (right below it) and riding away, or coming from far.
        let y0 = if go_away { -2.0 } else { 75.0 };
        for r in 0..riders {
            let x = if go_away { 0.8 + 1.1 * r as f64 } else { -0.8 - 1.1 * r as f64 };
            let dy = 1.5 * rng.random::<f64>() + if r % 2 == 1 { 2.0 } else { 0.0 };
            let k = kmh + 2.0 * (rng.random::<f64>() - 0.5);
            let y = if go_away { y0 - dy } else { y0 + dy };
            let heading = if go_away { Heading::Away } else { Heading::Toward };
            actors.push(Actor::new(Class::Motorcycle, Trajectory::new((x, y), heading, k, t)));
        }
        if rng.random::<f64>() < 0.25 {
            let class = if rng.random::<f64>() < 0.8 { Class::Car } else { Class::Bus };
            let (x, y, h) = if go_away { (-3.5, 75.0, Heading::Toward) } else { (3.8, -6.0, Heading::Away) };
            actors.push(Actor::new(class, Trajectory::new((x, y), h, 30.0 + 15.0 * rng.random::<f64>(), t)));
        }
        t += 1.0 + 2.0 * rng.random::<f64>();
    }
    Scenario {
        name: "dense_traffic",
        about: "a minute of motorcycle clusters side by side both ways at 30–50 km/h, with cars and a bus; a line 20 m out",
        duration_s: 75.0,
        actors,
        zones: vec![("road", ROAD)],
        lines: vec![("y20", 20.0, -7.5, 7.5)],
        rules: vec![racing(), speeding(), collision()],
        expect: vec![silent("racing"), silent("speeding"), silent("collision")],
    }
}

/// Motorcycles queueing at a red light, the everyday stop of Vietnamese streets: clusters of
/// 2–4 riders at 30–45 km/h, side by side in four columns, each braking at 2.5–5.5 m/s² (the
/// firmer half of that as hard as the crashes brake) to stand 0.5–1.5 m behind the one ahead
/// in its column, the first row at a stop line 30 m out.
fn red_light() -> Scenario {
    const COLUMNS: [f64; 4] = [0.9, 2.0, 3.1, 4.2];
    const STOP_LINE_M: f64 = 30.0;
    let (len, _, _) = Class::Motorcycle.size();
    let mut rng = ChaCha8Rng::seed_from_u64(17);
    // Where the next rider of each column stands (its front), and the path of the last one.
    let mut front: [f64; 4] = [STOP_LINE_M; 4];
    let mut last: [Option<Trajectory>; 4] = [None, None, None, None];
    let mut actors = Vec::new();
    let mut t = 0.5;
    while t < 20.0 {
        let kmh = 30.0 + 15.0 * rng.random::<f64>();
        let riders = 2 + (rng.random::<f64>() * 3.0) as usize;
        let first = (rng.random::<f64>() * 4.0) as usize;
        for r in 0..riders {
            let c = (first + r) % COLUMNS.len();
            let k = kmh + 2.0 * (rng.random::<f64>() - 0.5);
            let v = k / 3.6;
            let centre = front[c] - len / 2.0;
            let y0 = -3.0 - 1.5 * rng.random::<f64>();
            let a = (2.5 + 3.0 * rng.random::<f64>()).max(v * v / (2.0 * (centre - y0)));
            // Enter no sooner than keeps a rider's length and half a metre behind the one ahead
            // in its column all the way to the stand.
            let mut enter = t;
            let path = loop {
                let brake_at = enter + (centre - v * v / (2.0 * a) - y0) / v;
                let path = Trajectory::new((COLUMNS[c], y0), Heading::Away, k, enter).change_speed(brake_at, -a, 0.0);
                let clear = last[c].as_ref().is_none_or(|ahead| {
                    (0..200)
                        .map(|i| enter + 0.1 * f64::from(i))
                        .all(|u| ahead.position(u).1 - path.position(u).1 >= len + 0.5)
                });
                if clear {
                    break path;
                }
                enter += 0.25;
            };
            front[c] -= len + 0.5 + rng.random::<f64>();
            last[c] = Some(path.clone());
            actors.push(Actor::new(Class::Motorcycle, path));
        }
        t += 1.5 + 1.5 * rng.random::<f64>();
    }
    Scenario {
        name: "red_light",
        about: "motorcycles in clusters queue at a red light 30 m out, braking at 2.5–5.5 m/s² to stand behind each other",
        duration_s: 35.0,
        actors,
        zones: vec![("road", ROAD)],
        lines: vec![],
        rules: vec![collision()],
        expect: vec![silent("collision")],
    }
}

/// The projected zone polygon on `cam`: the rectangle cut to the geometry's usable stretch of
/// road and kept inside the picture.
pub fn zone_polygon(cam: &Camera, r: &GroundRect) -> Vec<[f64; 2]> {
    let (y0, y1) = (r.y0.max(cam.near_m), r.y1.min(cam.far_m));
    [(r.x0, y0), (r.x1, y0), (r.x1, y1), (r.x0, y1)]
        .iter()
        .filter_map(|&(x, y)| cam.ground_to_image(x, y))
        .map(|(u, v)| {
            let (u, v) = cam.clamp(u, v);
            [u.round(), v.round()]
        })
        .collect()
}

/// The camera's section of the config (`[[cameras]]` with zones, lines, calibration, rules) as
/// TOML, for the scenario seen by `cam` at `fps`.
pub fn camera_toml(s: &Scenario, cam: &Camera, fps: u32) -> String {
    let pts = |p: &[[f64; 2]]| p.iter().map(|q| format!("[{}, {}]", q[0], q[1])).collect::<Vec<_>>().join(", ");
    let mut t = format!(
        "# Simulated: scenario `{}` ({}) on geometry `{}`.\n[[cameras]]\nid = \"sim\"\n\
         uri = \"rtsp://sim.invalid/stream\"\ndetect_fps = {fps}\ncounts_interval_s = 60\n",
        s.name, s.about, cam.name
    );
    for (name, y, x0, x1) in &s.lines {
        let (a, b) = (cam.ground_to_image(*x0, *y), cam.ground_to_image(*x1, *y));
        if let (Some(a), Some(b)) = (a, b) {
            let (a, b) = (cam.clamp(a.0, a.1), cam.clamp(b.0, b.1));
            // From the left of the road to its right: crossing towards the camera is
            // `directions[0]` (from the left of p1→p2 to its right in the picture).
            t += &format!(
                "\n[[cameras.lines]]\nname = \"{name}\"\npoints = [[{}, {}], [{}, {}]]\ndirections = [\"toward\", \"away\"]\n",
                a.0.round(),
                a.1.round(),
                b.0.round(),
                b.1.round()
            );
        }
    }
    for (name, r) in &s.zones {
        t += &format!("\n[[cameras.zones]]\nname = \"{name}\"\npolygon = [{}]\n", pts(&zone_polygon(cam, r)));
    }
    let (img, gnd) = cam.calibration(5.0);
    t += &format!("\n[cameras.calibration]\nimage = [{}]\nground = [{}]\n", pts(&img), pts(&gnd));
    for r in &s.rules {
        t += &format!(
            "\n[[cameras.rules]]\nkind = \"{}\"\nname = \"{}\"\nzone = \"{}\"\n{}",
            r.kind, r.name, r.zone, r.keys
        );
    }
    t
}

/// A whole config `anttd replay` accepts: the camera and what every config needs. The model is
/// not loaded by a replay; the path points at the shipped manifest for `anttd check`.
pub fn config_toml(s: &Scenario, cam: &Camera, fps: u32) -> String {
    format!(
        "# Written by `anttd simulate`; replay with `anttd replay -c THIS REC.jsonl`.\n\
         site = \"sim\"\ndevice = \"sim\"\n\n[model]\nmanifest = \"models/yolov12n.toml\"\n\n{}",
        camera_toml(s, cam, fps)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_red_light_queue_keeps_each_rider_clear_of_the_one_ahead_and_all_stand() {
        let s = scenario("red_light").expect("red_light");
        let (len, width, _) = Class::Motorcycle.size();
        assert!(s.actors.len() >= 20, "{}", s.actors.len());
        for t in (0..=350).map(|i| 0.1 * f64::from(i)) {
            let here: Vec<(f64, f64)> =
                s.actors.iter().filter(|a| a.path.present(t)).map(|a| a.path.position(t)).collect();
            for (i, p) in here.iter().enumerate() {
                for q in &here[i + 1..] {
                    // In one column (less than a width across), never less than a length apart.
                    let in_line = (p.0 - q.0).abs() < width;
                    assert!(!in_line || (p.1 - q.1).abs() >= len, "at {t:.1} s: {p:?} and {q:?}");
                }
            }
        }
        for a in &s.actors {
            assert!(a.path.speed_kmh(s.duration_s) == 0.0 && a.path.position(s.duration_s).1 <= 30.0, "{a:?}");
        }
    }
}
