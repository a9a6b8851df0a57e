//! `anttd check` over a table of broken configs: each is refused (non-zero exit), the message
//! names the file, the line and (where the mistake is a value) the key, and nothing panics.

use crate::common;

use common::{anttd, asset};

/// A valid config; each case edits it.
fn base() -> String {
    common::fixture(
        "every-section.toml",
        &[
            ("manifest", &asset("models/yolov12n.toml").display().to_string()),
            ("video", &asset("media/vtest.avi").display().to_string()),
        ],
    )
}

/// (what is wrong, the edit: `from` (VIDEO stands for the video's path) replaced once by `to` in
/// the base, the key expected in the message or "" where the parser gives only a line, a fragment
/// of the explanation).
const CASES: &[(&str, &str, &str, &str, &str)] = &[
    ("site not an id", "site = \"s\"", "site = \"a b\"", "site", "not a valid id"),
    ("device empty", "device = \"d\"", "device = \"\"", "device", "not a valid id"),
    ("site a number", "site = \"s\"", "site = 7", "site", "invalid type"),
    ("unknown top key", "data_dir = \"data\"", "data_dir = \"data\"\nfrobnicate = 1", "", "unknown field `frobnicate`"),
    ("mqtt port 0", "port = 1883", "port = 0", "mqtt.port", "port 0"),
    ("mqtt port too big", "port = 1883", "port = 70000", "mqtt.port", ""),
    ("mqtt port a string", "port = 1883", "port = \"1883\"", "mqtt.port", "invalid type"),
    ("mqtt host empty", "host = \"127.0.0.1\"", "host = \" \"", "mqtt.host", "must not be empty"),
    ("keep-alive too short", "keep_alive_s = 30", "keep_alive_s = 1", "mqtt.keep_alive_s", "out of range"),
    ("stats interval 0", "stats_interval_s = 10", "stats_interval_s = 0", "mqtt.stats_interval_s", "out of range"),
    (
        "topic prefix wildcard",
        "host = \"127.0.0.1\"",
        "host = \"127.0.0.1\"\ntopic_prefix = \"a/#\"",
        "mqtt.topic_prefix",
        "wildcards",
    ),
    (
        "password without user",
        "host = \"127.0.0.1\"",
        "host = \"127.0.0.1\"\npassword = \"x\"",
        "mqtt.password",
        "username",
    ),
    ("unknown mqtt key", "port = 1883", "port = 1883\nsecure = true", "mqtt", "unknown field `secure`"),
    (
        "tls without ca_file",
        "[outbox]",
        "[mqtt.tls]\nclient_cert = \"c.pem\"\n\n[outbox]",
        "mqtt.tls",
        "missing field `ca_file`",
    ),
    (
        "tls ca_file missing",
        "[outbox]",
        "[mqtt.tls]\nca_file = \"absent.pem\"\n\n[outbox]",
        "mqtt.tls.ca_file",
        "cannot read",
    ),
    ("outbox too small", "max_events = 1000", "max_events = 1", "outbox.max_events", "out of range"),
    (
        "publish_snapshots not a boolean",
        "[outbox]",
        "[evidence]\npublish_snapshots = \"yes\"\n\n[outbox]",
        "evidence.publish_snapshots",
        "invalid type",
    ),
    (
        "snapshot interval over a day",
        "[outbox]",
        "[evidence]\nsnapshot_min_interval_s = 90000\n\n[outbox]",
        "evidence",
        "evidence.snapshot_min_interval_s must be 0..=86400",
    ),
    ("model section missing", "[model]\nmanifest", "[modelx]\nmanifest", "", "unknown field `modelx`"),
    ("tracker threshold above 1", "high_thresh = 0.5", "high_thresh = 1.5", "tracker", ""),
    (
        "cameras a table, not a list",
        "[[cameras]]\nid = \"road\"",
        "[[cameraz]]\nid = \"road\"",
        "cameras",
        "expected a sequence",
    ),
    ("camera id bad", "id = \"road\"", "id = \"road/1\"", "cameras[0].id", "not a valid id"),
    (
        "camera id twice",
        "[[cameras.lines]]",
        "[[cameras]]\nid = \"road\"\nuri = \"rtsp://h/1\"\n\n[[cameras.lines]]",
        "cameras[1].id",
        "already used on line",
    ),
    ("uri scheme", "uri = \"VIDEO\"", "uri = \"http://cam/1\"", "cameras[0].uri", "not supported"),
    ("uri empty", "uri = \"VIDEO\"", "uri = \"\"", "cameras[0].uri", "must not be empty"),
    ("detect_fps 0", "detect_fps = 5", "detect_fps = 0", "cameras[0].detect_fps", "out of range"),
    ("detect_fps negative", "detect_fps = 5", "detect_fps = -5", "cameras[0].detect_fps", ""),
    ("detect_fps a float", "detect_fps = 5", "detect_fps = 2.5", "cameras[0].detect_fps", "invalid type"),
    (
        "carry_fps not above detect_fps",
        "detect_fps = 5",
        "detect_fps = 5\ncarry_fps = 4",
        "cameras[0].carry_fps",
        "not above detect_fps",
    ),
    ("carry_fps too high", "detect_fps = 5", "detect_fps = 5\ncarry_fps = 120", "cameras[0].carry_fps", "out of range"),
    (
        "stall timeout too short",
        "stall_timeout_s = 10",
        "stall_timeout_s = 1",
        "cameras[0].stall_timeout_s",
        "out of range",
    ),
    (
        "realtime a string",
        "detect_fps = 5",
        "detect_fps = 5\nrealtime = \"yes\"",
        "cameras[0].realtime",
        "invalid type",
    ),
    ("unknown decoder", "detect_fps = 5", "detect_fps = 5\ndecoder = \"magic\"", "cameras[0].decoder", "magic"),
    (
        "line one point",
        "points = [[400, 170], [400, 330]]",
        "points = [[400, 170]]",
        "cameras[0].lines[0].points",
        "exactly two points",
    ),
    (
        "line same points",
        "points = [[400, 170], [400, 330]]",
        "points = [[400, 170], [400, 170]]",
        "cameras[0].lines[0].points",
        "same",
    ),
    (
        "line same directions",
        "directions = [\"in\", \"out\"]",
        "directions = [\"in\", \"in\"]",
        "cameras[0].lines[0].directions",
        "different names",
    ),
    (
        "zone two points",
        "polygon = [[10, 10], [300, 10], [300, 200], [10, 200]]",
        "polygon = [[10, 10], [300, 10]]",
        "cameras[0].zones[0].polygon",
        "at least 3",
    ),
    (
        "zone edges cross",
        "polygon = [[10, 10], [300, 10], [300, 200], [10, 200]]",
        "polygon = [[10, 10], [300, 200], [300, 10], [10, 200]]",
        "cameras[0].zones[0].polygon",
        "cross",
    ),
    ("rule unknown zone", "zone = \"square\"", "zone = \"circle\"", "cameras[0].rules[0].zone", "circle"),
    ("rule unknown kind", "kind = \"crowd\"", "kind = \"riot\"", "cameras[0].rules[0]", "riot"),
    ("rule missing key", "min_persons = 3\n", "", "cameras[0].rules[0]", "min_persons"),
    ("syntax: unclosed string", "site = \"s\"", "site = \"s", "", ""),
    ("syntax: no value", "data_dir = \"data\"", "data_dir =", "", ""),
    ("syntax: duplicate key", "port = 1883", "port = 1883\nport = 1884", "", "duplicate key"),
];

#[test]
fn every_broken_config_is_refused_with_file_line_and_key() {
    let dir = tempfile::tempdir().expect("dir");
    let base = base();
    let mut checked = 0;
    for &(what, from, to, key, fragment) in CASES {
        let from = from.replace("VIDEO", &asset("media/vtest.avi").display().to_string());
        assert!(base.contains(&from), "{what}: the base config has no `{from}`");
        let text = base.replacen(&from, to, 1);
        let path = dir.path().join("anttd.toml");
        std::fs::write(&path, &text).expect("write");
        let out = anttd().arg("check").arg("-c").arg(&path).arg("--skip-model").output().expect("run anttd");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "{what}: accepted:\n{text}");
        assert_eq!(out.status.code(), Some(1), "{what}: exit code; {err}");
        assert!(!err.contains("panicked"), "{what}: {err}");
        // anttd.toml:<line>:<column>: ...
        let located =
            err.split("anttd.toml:").nth(1).and_then(|r| r.split(':').next()).and_then(|l| l.parse::<usize>().ok());
        assert!(located.is_some_and(|l| l >= 1 && l <= text.lines().count() + 1), "{what}: no file:line in {err}");
        if !key.is_empty() {
            assert!(err.contains(&format!("key `{key}")), "{what}: key `{key}` not named in {err}");
        }
        assert!(err.contains(fragment), "{what}: `{fragment}` not in {err}");
        checked += 1;
    }
    assert!(checked >= 30, "{checked} cases");
}

#[test]
fn a_label_the_model_does_not_know_is_named() {
    let dir = tempfile::tempdir().expect("dir");
    let path = dir.path().join("anttd.toml");
    std::fs::write(&path, base().replacen("labels = [\"person\"]", "labels = [\"person\", \"unicorn\"]", 1))
        .expect("w");
    let out = anttd().arg("check").arg("-c").arg(&path).output().expect("run anttd");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success() && !err.contains("panicked"), "{err}");
    assert!(
        err.contains("anttd.toml:") && err.contains("key `cameras[0].labels[1]`") && err.contains("unicorn"),
        "{err}"
    );
}
