//! `anttd simulate` writes a recording and a config that `anttd replay` accepts, and the
//! replay finds the simulated road users.

use std::process::Command;

#[test]
fn simulate_then_replay() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (rec, cfg) = (dir.path().join("rec.jsonl"), dir.path().join("cam.toml"));
    let bin = env!("CARGO_BIN_EXE_anttd");
    simulate(&["--scenario", "wrong_way", "--geometry", "pole8", "--fps", "10", "--seed", "3"], &rec, &cfg);
    let out = Command::new(bin).arg("replay").arg("-c").arg(&cfg).arg(&rec).output().expect("run anttd replay");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let events: Vec<serde_json::Value> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l}")))
        .collect();
    let tracks = events.iter().filter(|e| e["kind"] == "object" && e["type"] == "start").count();
    // Three cars drive through: each is tracked (a miss may split one into two tracks).
    assert!(tracks >= 3, "{events:#?}");
    assert!(events.iter().all(|e| e["camera"] == "sim"), "{events:#?}");
    // With boxes carried between detections the recording holds the carried frames (each
    // naming the box it came from), and replays as the scorecard runs it: the braking car of
    // rear_end seed 28, detected once and then missed twice, is carried to the collision.
    simulate(
        &["--scenario", "rear_end", "--geometry", "pole8", "--fps", "3", "--seed", "28", "--carry-fps", "15"],
        &rec,
        &cfg,
    );
    let text = std::fs::read_to_string(&rec).expect("recording");
    let skipped = text.lines().filter(|l| l.contains(r#""detected":false"#)).count();
    let detected = text.lines().count() - 1 - skipped;
    assert_eq!(skipped, 4 * (detected - 1), "four carried frames between each two detected ones");
    let out = Command::new(bin).arg("replay").arg("-c").arg(&cfg).arg(&rec).output().expect("run anttd replay");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let starts = String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter(|l| l.contains(r#""kind":"collision_suspect""#) && l.contains(r#""type":"start""#))
        .count();
    assert_eq!(starts, 1, "{}", String::from_utf8_lossy(&out.stdout));
    // The scorecard runs too.
    let out = Command::new(bin)
        .args(["scenarios", "--scenario", "side_by_side", "--geometry", "pole8", "--fps", "5", "--markdown"])
        .output()
        .expect("run anttd scenarios");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let table = String::from_utf8_lossy(&out.stdout);
    assert!(table.starts_with("| scenario |") && table.contains("| side_by_side | pole8 | 5 |"), "{table}");
    // With boxes carried between detections, the rate says so; a carry rate that is not a
    // multiple of the detect rate is refused, naming both.
    let scorecard = |carry: &str| {
        Command::new(bin)
            .args(["scenarios", "--scenario", "side_by_side", "--geometry", "pole8", "--fps", "5", "--markdown"])
            .args(["--carry-fps", carry])
            .output()
            .expect("run anttd scenarios")
    };
    let out = scorecard("15");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(String::from_utf8_lossy(&out.stdout).contains("| side_by_side | pole8 | 5+15 |"));
    let out = scorecard("12");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success() && err.contains("12 frames a second") && err.contains("at 5"), "{err}");
    // One run told frame by frame with carrying: every frame at 15 a second, the ones between
    // detections with the carried box and its track.
    let out = Command::new(bin)
        .args(["scenarios", "--explain", "--scenario", "weaving_rider", "--geometry", "pole8", "--fps", "3"])
        .args(["--seed", "8", "--carry-fps", "15"])
        .output()
        .expect("run anttd scenarios --explain");
    let told = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success() && told.contains("boxes carried on 15 frames a second, seed 8"), "{told}");
    assert!(told.lines().any(|l| l.trim_start().starts_with("1.73 ")), "{told}");
    assert!(told.lines().filter(|l| l.contains(" carried [")).count() > 10, "{told}");
    assert!(told.contains("event start racing") && told.contains("weaving=true"), "{told}");
}

/// Issue 13: the fast-traffic rules decide within the time a road user is in a pole camera's
/// view at 3 and 5 detections a second. Only what holds today is asserted: the scenarios found
/// exactly once with speeds within 5 % (where the rule reports one), and the negatives silent at
/// every rate and geometry.
#[test]
fn fast_traffic_rules_at_3_and_5_fps() {
    use anttd::sim::camera::{Camera, GEOMETRIES};
    use anttd::sim::run::run;
    use anttd::sim::scenario::scenario;
    let found = [
        ("speeding_car", "speeding", "pole8", 5),
        ("speeding_car", "speeding", "pole6wide", 5),
        ("speeding_car", "speeding", "pole6wide", 3),
        ("speeding_motorcycle", "speeding", "pole8", 5),
        ("speeding_motorcycle", "speeding", "pole6wide", 5),
        ("speeding_motorcycle", "speeding", "pole6wide", 3),
        ("racing_group", "racing", "pole8", 5),
        ("racing_group", "speeding", "pole8", 5),
        ("racing_group", "speeding", "pole8", 3),
        ("racing_group", "racing", "pole8", 3),
        ("racing_group", "racing", "pole6wide", 5),
        ("racing_group", "racing", "pole6wide", 3),
        ("weaving_rider", "racing", "pole6wide", 5),
        ("weaving_rider", "racing", "pole8", 5),
        ("weaving_rider", "racing", "pole6wide", 3),
        ("weaving_rider", "racing", "pole8", 3),
        ("rear_end", "collision", "pole8", 5),
        ("rear_end", "collision", "pole8", 3),
        ("rear_end", "collision", "pole6wide", 5),
        ("rear_end", "collision", "pole6wide", 3),
    ];
    for (name, rule, geometry, fps) in found {
        let s = scenario(name).expect("scenario");
        let o = run(&s, fps, &Camera::named(geometry).expect("geometry"), 1).expect("run");
        let r = o.rules.iter().find(|r| r.rule == rule).expect("rule");
        assert_eq!(
            (r.found, r.expected, r.false_alarms),
            (r.expected, r.expected, 0),
            "{name} {geometry}@{fps}: {r:?}"
        );
        // Collisions report no speed to compare.
        if rule != "collision" {
            assert!(r.speed_err_pct.is_some_and(|e| e <= 5.0), "{name} {geometry}@{fps}: {r:?}");
        }
        assert!(o.rules.iter().all(|r| r.false_alarms == 0), "{name} {geometry}@{fps}: {:?}", o.rules);
    }
    // A lane change and an overtake at 80 km/h are not weaving (across the rider's own line both
    // looked like it, and raised racing at 5–10 fps).
    for name in ["dense_traffic", "side_by_side", "lane_change"] {
        let s = scenario(name).expect("scenario");
        for geometry in GEOMETRIES {
            for fps in [3, 5, 10] {
                let o = run(&s, fps, &Camera::named(geometry).expect("geometry"), 1).expect("run");
                for r in o.rules.iter().filter(|r| ["racing", "speeding", "collision"].contains(&r.rule.as_str())) {
                    assert_eq!((r.found, r.false_alarms), (0, 0), "{name} {geometry}@{fps}: {r:?}");
                }
            }
        }
    }
}

/// Over seeds 1–5, a weaving rider at 3 detections a second on both pole cameras: found once
/// each time, its speed within 5 % (2 of 5 on the 8 m pole until the tracker kept its six
/// detections under one id; 8.6 % off on the wide pole until `racing` took the whole-view fit).
#[test]
fn a_weaver_at_3_fps_over_five_seeds() {
    use anttd::sim::camera::Camera;
    use anttd::sim::run::run;
    use anttd::sim::scenario::scenario;
    let s = scenario("weaving_rider").expect("scenario");
    for geometry in ["pole8", "pole6wide"] {
        for seed in 1..=5 {
            let o = run(&s, 3, &Camera::named(geometry).expect("geometry"), seed).expect("run");
            let r = o.rules.iter().find(|r| r.rule == "racing").expect("rule");
            let case = format!("{geometry} seed {seed}: {r:?}");
            assert_eq!((r.found, r.false_alarms), (1, 0), "{case}");
            assert!(r.speed_err_pct.is_some_and(|e| e <= 5.0), "{case}");
        }
    }
}

/// `anttd simulate` with `args`, writing the recording `rec` and the config `cfg`.
fn simulate(args: &[&str], rec: &std::path::Path, cfg: &std::path::Path) {
    let out = Command::new(env!("CARGO_BIN_EXE_anttd"))
        .arg("simulate")
        .args(args)
        .arg("--out")
        .arg(rec)
        .arg("--config-out")
        .arg(cfg)
        .output()
        .expect("run anttd simulate");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
}

/// `anttd check --skip-model` of the config `anttd simulate` writes for `scenario` on
/// `geometry` at 5 fps, after `edit`; its standard output.
fn check_simulated(scenario: &str, geometry: &str, edit: impl Fn(String) -> String) -> String {
    let dir = tempfile::tempdir().expect("tempdir");
    let (rec, cfg) = (dir.path().join("rec.jsonl"), dir.path().join("cam.toml"));
    let bin = env!("CARGO_BIN_EXE_anttd");
    simulate(&["--scenario", scenario, "--geometry", geometry, "--fps", "5"], &rec, &cfg);
    let text = std::fs::read_to_string(&cfg).expect("config");
    std::fs::write(&cfg, edit(text)).expect("write config");
    // The config names the shipped manifest relative to itself.
    std::fs::create_dir_all(dir.path().join("models")).expect("mkdir");
    let manifest = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("models/yolov12n.toml");
    std::fs::copy(manifest, dir.path().join("models/yolov12n.toml")).expect("copy manifest");
    let out = Command::new(bin).args(["check", "--skip-model", "-c"]).arg(&cfg).output().expect("run anttd check");
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(out.status.success(), "{stdout}{}", String::from_utf8_lossy(&out.stderr));
    assert!(stdout.lines().next().is_some_and(|l| l.contains(": OK: 1 camera(s)")), "{stdout}");
    stdout
}

/// `anttd check` on a simulated pole camera whose speeding rule, given `for_s = 3`, cannot fit
/// in the ~43 m of measurable road: it still succeeds, and says so, naming the rule.
#[test]
fn check_warns_when_a_speed_rule_cannot_fire() {
    let stdout =
        check_simulated("racing_group", "pole8", |text| text.replace("limit_kmh = 60", "limit_kmh = 60\nfor_s = 3.0"));
    let warning = stdout
        .lines()
        .find(|l| l.contains("warning: camera `sim`: rule `speeding` (speeding) cannot be relied on at 60 km/h"));
    let warning = warning.unwrap_or_else(|| panic!("no speeding warning in:\n{stdout}"));
    assert!(warning.contains("needs 4.0 s at detect_fps 5") && warning.contains("for_s 3.0 s"), "{warning}");
    // The racing rule's for_s is waived for a group that leaves: 3 s of it do not stop the rule.
    let racing = check_simulated("racing_group", "pole8", |text| text.replace("for_s = 0.5", "for_s = 3.0"));
    assert!(!racing.contains("rule `racing` (racing) cannot be relied on"), "{racing}");
}

/// At 3 detections a second `collision_suspect` often takes a car that stood just short of the
/// one ahead for a crash, and `anttd check` says so; at 5 it does not warn.
#[test]
fn check_warns_that_a_collision_rule_at_3_fps_takes_near_misses_for_crashes() {
    let warning = "warning: camera `sim`: rule `collision` (collision_suspect): at detect_fps 3 a car";
    let slow = check_simulated("queue_brake", "pole8", |t| t.replace("detect_fps = 5", "detect_fps = 3"));
    assert!(slow.contains(warning), "{slow}");
    let at_5 = check_simulated("queue_brake", "pole8", |t| t);
    assert!(!at_5.contains("(collision_suspect)"), "{at_5}");
}

/// The rooftop camera's 23 m are too short to see a weaver at 70 km/h, and `anttd check` says
/// so; the 8 m pole's 41 m are not.
#[test]
fn check_warns_when_a_racing_zone_is_too_short_for_a_weaver() {
    let weaver = "rule `racing` (racing) cannot see a weaver at 70 km/h";
    let roof = check_simulated("weaving_rider", "rooftop10", |t| t);
    assert!(roof.lines().any(|l| l.contains(weaver) && l.contains("reversals only after 1.8 s")), "{roof}");
    let pole = check_simulated("weaving_rider", "pole8", |t| t);
    assert!(!pole.contains("weaver"), "{pole}");
}

/// Over seeds 1–5: the speeding car and motorcycle each start exactly one event on the 8 m and
/// the wide 6 m pole at 3, 5 and 10 fps, with the speed within 5 % at 3 and 5 fps (the issue's
/// rates; at 10 fps one run of the thirty reads 5.6 %, see docs/rules.md); the crowd (as many
/// persons as the camera can see) starts exactly once on every geometry and rate; dense
/// traffic raises no collision anywhere, and on the pole cameras at 3 and 5 fps its riders are
/// counted at the line, each way, to within 2 % and none more often than it crossed.
#[test]
fn speeds_crowds_and_dense_traffic_over_five_seeds() {
    use anttd::sim::camera::{Camera, GEOMETRIES};
    use anttd::sim::run::run;
    use anttd::sim::scenario::scenario;
    let mut counts = std::collections::BTreeMap::new();
    for seed in 1..=5 {
        for name in ["speeding_car", "speeding_motorcycle"] {
            let s = scenario(name).expect("scenario");
            for geometry in ["pole8", "pole6wide"] {
                for fps in [3, 5, 10] {
                    let o = run(&s, fps, &Camera::named(geometry).expect("geometry"), seed).expect("run");
                    let r = o.rules.iter().find(|r| r.rule == "speeding").expect("rule");
                    let case = format!("{name} {geometry}@{fps} seed {seed}: {r:?}");
                    assert_eq!((r.found, r.expected, r.false_alarms), (1, 1, 0), "{case}");
                    if fps <= 5 {
                        assert!(r.speed_err_pct.is_some_and(|e| e <= 5.0), "{case}");
                    }
                }
            }
        }
        for geometry in GEOMETRIES {
            let cam = Camera::named(geometry).expect("geometry");
            for fps in [3, 5, 10] {
                let o = run(&scenario("crowd").expect("scenario"), fps, &cam, seed).expect("run");
                let r = &o.rules[0];
                assert_eq!(
                    (r.found, r.expected, r.false_alarms),
                    (1, 1, 0),
                    "crowd {geometry}@{fps} seed {seed}: {r:?}"
                );
                let o = run(&scenario("dense_traffic").expect("scenario"), fps, &cam, seed).expect("run");
                let r = o.rules.iter().find(|r| r.rule == "collision").expect("rule");
                assert_eq!((r.found, r.false_alarms), (0, 0), "dense_traffic {geometry}@{fps} seed {seed}: {r:?}");
                let c = counts.entry((*geometry, fps)).or_insert(([0; 2], [0; 2], [0; 2]));
                for k in 0..2 {
                    c.0[k] += o.lines[0].counted[k];
                    c.1[k] += o.lines[0].truth[k];
                    c.2[k] += o.lines[0].extra[k];
                }
            }
        }
    }
    // Riders of dense traffic counted at the line 20 m out, both ways, on the pole cameras at
    // the rates a box affords: no rider counted more often than it crossed and no count made by
    // a track holding none, and at most 2 % missed (8 of 250 riding away were missed on the 8 m
    // pole at 3 fps before this release's walk back).
    for ((geometry, fps), (counted, truth, extra)) in counts {
        if geometry == "rooftop10" || fps == 10 {
            continue;
        }
        for k in 0..2 {
            let case = format!("dense_traffic {geometry}@{fps}: counted {counted:?} of {truth:?}, {extra:?} extra");
            assert!(extra[k] == 0 && counted[k] * 100 >= truth[k] * 98, "{case}");
        }
    }
}

/// Over seeds 1–20 on the two pole cameras at the rates a box affords, every speed a `speeding`
/// start reports for the speeding car (95 km/h) and motorcycle (90 km/h) is within 5 % of the
/// truth: a start waits for a precise reading, and one that cannot wait longer reports the most
/// precise it had (the latest, far away on the wide pole, read 5.9 % high).
#[test]
fn speeding_starts_report_speeds_within_5_percent_over_20_seeds() {
    use anttd::sim::camera::Camera;
    use anttd::sim::run::run;
    use anttd::sim::scenario::scenario;
    let mut worst = (0.0, String::new());
    for seed in 1..=20 {
        for name in ["speeding_car", "speeding_motorcycle"] {
            let s = scenario(name).expect("scenario");
            for geometry in ["pole8", "pole6wide"] {
                for fps in [3, 5] {
                    let o = run(&s, fps, &Camera::named(geometry).expect("geometry"), seed).expect("run");
                    let r = o.rules.iter().find(|r| r.rule == "speeding").expect("rule");
                    if let Some(e) = r.speed_err_pct.filter(|e| *e > worst.0) {
                        worst = (e, format!("{name} {geometry}@{fps} seed {seed}"));
                    }
                }
            }
        }
    }
    assert!(worst.0 <= 5.0, "{worst:?}");
}
