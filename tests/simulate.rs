//! `anttd simulate` writes a recording and a config that `anttd replay` accepts, and the
//! replay finds the simulated road users.

use std::process::Command;

#[test]
fn simulate_then_replay() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (rec, cfg) = (dir.path().join("rec.jsonl"), dir.path().join("cam.toml"));
    let bin = env!("CARGO_BIN_EXE_anttd");
    let out = Command::new(bin)
        .args(["simulate", "--scenario", "wrong_way", "--geometry", "pole8", "--fps", "10", "--seed", "3", "--out"])
        .arg(&rec)
        .arg("--config-out")
        .arg(&cfg)
        .output()
        .expect("run anttd simulate");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
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
    // The scorecard runs too.
    let out = Command::new(bin)
        .args(["scenarios", "--scenario", "side_by_side", "--geometry", "pole8", "--fps", "5", "--markdown"])
        .output()
        .expect("run anttd scenarios");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let table = String::from_utf8_lossy(&out.stdout);
    assert!(table.starts_with("| scenario |") && table.contains("| side_by_side | pole8 | 5 |"), "{table}");
}
