//! One test per kind of mistake in a config file: each checks the file, the key, the line and
//! the message the user would read. Line numbers are worked out from the test text.

use std::path::{Path, PathBuf};

use super::*;

const FILE: &str = "/etc/anttd/anttd.toml";

/// A minimal valid config, one key per line (numbered for the tests below):
const BASE: [&str; 7] = [
    r#"site = "s1""#,         // 1
    r#"device = "d1""#,       // 2
    "[model]",                // 3
    r#"manifest = "m.toml""#, // 4
    "[[cameras]]",            // 5
    r#"id = "cam1""#,         // 6
    r#"uri = "rtsp://h/s""#,  // 7
];

/// [`BASE`] with `hole` inserted so that its first line becomes line `at` (1-based); `at = 8`
/// appends to the camera's table, `at = 3` adds top-level keys or tables before `[model]`.
fn with(at: usize, hole: &str) -> String {
    let mut lines: Vec<&str> = BASE.to_vec();
    lines.insert(at - 1, hole.trim_end_matches('\n'));
    lines.join("\n") + "\n"
}

/// [`BASE`] with line `n` (1-based) replaced by `line` (empty: the key is removed).
fn replaced(n: usize, line: &str) -> String {
    let mut lines: Vec<&str> = BASE.to_vec();
    lines[n - 1] = line;
    lines.join("\n") + "\n"
}

fn parse(text: &str) -> Result<Config, ConfigError> {
    Config::from_str(Path::new(FILE), text)
}

fn err(text: &str) -> ConfigError {
    match parse(text) {
        Ok(_) => panic!("accepted:\n{text}"),
        Err(e) => e,
    }
}

/// Asserts the error's file, key, line, and that its message contains `fragment`.
#[track_caller]
fn assert_err(e: &ConfigError, key: Option<&str>, line: usize, fragment: &str) {
    assert_eq!(e.file, PathBuf::from(FILE), "{e}");
    assert_eq!(e.key.as_deref(), key, "{e}");
    assert_eq!(e.position.map(|(l, _)| l), Some(line), "{e}");
    assert!(e.message.contains(fragment), "message lacks {fragment:?}: {e}");
}

#[test]
fn base_text_is_valid() {
    // Every test below changes one thing in it, so it must be accepted as is.
    let cfg = parse(&with(8, "")).unwrap();
    assert_eq!(cfg.cameras.len(), 1);
}

#[test]
fn toml_syntax_error() {
    // An unterminated string, then a stray `=`: no key, just the place.
    let e = err(&replaced(6, r#"id = "cam1"#));
    assert_err(&e, None, 6, "invalid basic string");
    let e = err(&with(8, "detect_fps = = 5"));
    assert_err(&e, None, 8, "extra `=`");
    assert_eq!(e.position, Some((8, 14)));
}

#[test]
fn display_is_file_line_col_key_message() {
    let e = err(&with(8, "detect_fps = 0"));
    assert_eq!(
        e.to_string(),
        format!(
            "{FILE}:8:14: key `cameras[0].detect_fps`: detect_fps 0 is out of range: use 1 to 60 frames per second"
        )
    );
}

#[test]
fn unknown_top_level_key() {
    let e = err(&with(3, "colour = \"red\""));
    assert_err(&e, Some("colour"), 3, "unknown field `colour`");
}

#[test]
fn unknown_key_in_mqtt() {
    let e = err(&with(3, "[mqtt]\nhots = \"broker\""));
    assert_err(&e, Some("mqtt.hots"), 4, "unknown field `hots`");
}

#[test]
fn unknown_key_in_camera() {
    let e = err(&with(8, "detect_fsp = 5"));
    assert_err(&e, Some("cameras[0].detect_fsp"), 8, "unknown field `detect_fsp`");
}

#[test]
fn unknown_key_in_line() {
    let e = err(&with(8, "[[cameras.lines]]\nname = \"gate\"\npoints = [[0, 0], [10, 0]]\ncolour = 1"));
    assert_err(&e, Some("cameras[0].lines[0].colour"), 11, "unknown field `colour`");
}

#[test]
fn missing_site() {
    // A top-level key has no table to point at: the key is absent, the place is the start.
    let e = err(&replaced(1, ""));
    assert_eq!((e.key.as_deref(), e.position), (None, Some((1, 1))));
    assert_err(&e, None, 1, "missing field `site`");
}

#[test]
fn missing_model_manifest() {
    let e = err(&replaced(4, "threads = 2"));
    assert_err(&e, Some("model"), 3, "missing field `manifest`");
}

#[test]
fn missing_camera_uri() {
    let e = err(&replaced(7, "detect_fps = 5"));
    assert_err(&e, Some("cameras[0]"), 5, "missing field `uri`");
}

#[test]
fn wrong_type() {
    let e = err(&with(3, "[mqtt]\nport = \"x\""));
    assert_err(&e, Some("mqtt.port"), 4, "invalid type: string \"x\"");
}

#[test]
fn port_out_of_range() {
    let e = err(&with(3, "[mqtt]\nport = 0"));
    assert_err(&e, Some("mqtt.port"), 4, "port 0 is not a port");
    let e = err(&with(3, "[mqtt]\nhost = \"broker\"\nport = 70000"));
    assert_err(&e, Some("mqtt.port"), 5, "70000");
}

#[test]
fn bad_id_characters() {
    let e = err(&replaced(1, r#"site = "a/b""#));
    assert_err(&e, Some("site"), 1, "`a/b` is not a valid id");
    let e = err(&replaced(6, r#"id = "cam 1""#));
    assert_err(&e, Some("cameras[0].id"), 6, "`cam 1` is not a valid id");
}

#[test]
fn empty_id() {
    let e = err(&replaced(2, r#"device = """#));
    assert_err(&e, Some("device"), 2, "is not a valid id");
    let e = err(&with(8, "[[cameras.lines]]\nname = \"\"\npoints = [[0, 0], [10, 0]]"));
    assert_err(&e, Some("cameras[0].lines[0].name"), 9, "is not a valid id");
}

#[test]
fn bad_topic_prefix() {
    let e = err(&with(3, "[mqtt]\ntopic_prefix = \"antt/#\""));
    assert_err(&e, Some("mqtt.topic_prefix"), 4, "not a valid topic prefix");
    let e = err(&with(3, "[mqtt]\nport = 1884\ntopic_prefix = \"/antt\""));
    assert_err(&e, Some("mqtt.topic_prefix"), 5, "not a valid topic prefix");
}

#[test]
fn keep_alive_out_of_range() {
    let e = err(&with(3, "[mqtt]\nkeep_alive_s = 4"));
    assert_err(&e, Some("mqtt.keep_alive_s"), 4, "keep-alive 4 s is out of range");
    let e = err(&with(3, "[mqtt]\nkeep_alive_s = 3601"));
    assert_err(&e, Some("mqtt.keep_alive_s"), 4, "keep-alive 3601 s is out of range");
    // The bounds themselves are accepted.
    assert_eq!(parse(&with(3, "[mqtt]\nkeep_alive_s = 5")).unwrap().mqtt.keep_alive_s, KeepAlive(5));
    assert_eq!(parse(&with(3, "[mqtt]\nkeep_alive_s = 3600")).unwrap().mqtt.keep_alive_s, KeepAlive(3600));
}

#[test]
fn detect_fps_out_of_range() {
    let e = err(&with(8, "detect_fps = 0"));
    assert_err(&e, Some("cameras[0].detect_fps"), 8, "detect_fps 0 is out of range");
    let e = err(&with(8, "realtime = false\ndetect_fps = 61"));
    assert_err(&e, Some("cameras[0].detect_fps"), 9, "detect_fps 61 is out of range");
    assert_eq!(parse(&with(8, "detect_fps = 60")).unwrap().cameras[0].detect_fps, DetectFps(60));
}

#[test]
fn carry_fps_is_checked_against_detect_fps() {
    let e = err(&with(8, "carry_fps = 0"));
    assert_err(&e, Some("cameras[0].carry_fps"), 8, "carry_fps 0 is out of range");
    // Carrying onto no frame between two detections: said, on its line.
    let e = err(&with(8, "detect_fps = 5\ncarry_fps = 5"));
    assert_err(&e, Some("cameras[0].carry_fps"), 9, "carry_fps 5 is not above detect_fps 5");
    let cam = &parse(&with(8, "detect_fps = 3\ncarry_fps = 15")).unwrap().cameras[0];
    assert_eq!(cam.carry_fps.as_ref().map(|c| c.get_ref().0), Some(15));
    assert!(parse(&with(8, "detect_fps = 3")).unwrap().cameras[0].carry_fps.is_none());
}

#[test]
fn unsupported_uri_scheme() {
    let e = err(&replaced(7, r#"uri = "http://cam/stream""#));
    assert_err(&e, Some("cameras[0].uri"), 7, "`http://` sources are not supported");
}

#[test]
fn relative_file_uri() {
    let e = err(&replaced(7, r#"uri = "file://videos/a.mp4""#));
    assert_err(&e, Some("cameras[0].uri"), 7, "needs an absolute path");
}

#[test]
fn empty_uri() {
    let e = err(&replaced(7, r#"uri = "  ""#));
    assert_err(&e, Some("cameras[0].uri"), 7, "uri must not be empty");
    let e = err(&replaced(7, r#"uri = "rtsp://""#));
    assert_err(&e, Some("cameras[0].uri"), 7, "names no host");
}

#[test]
fn line_with_identical_points() {
    let e = err(&with(8, "[[cameras.lines]]\nname = \"gate\"\npoints = [[10, 20], [10.5, 20]]"));
    assert_err(&e, Some("cameras[0].lines[0].points"), 10, "the line's two points are the same");
}

#[test]
fn line_with_more_or_fewer_than_two_points() {
    let line = |points: &str| err(&with(8, &format!("[[cameras.lines]]\nname = \"gate\"\npoints = {points}")));
    for points in ["[[0, 0], [10, 0], [20, 5]]", "[[0, 0, 1], [10, 0]]", "[[0, 0]]", "[]"] {
        let e = line(points);
        assert_err(&e, Some("cameras[0].lines[0].points"), 10, "exactly two points");
    }
    let e =
        err(&with(8, "[[cameras.lines]]\nname = \"g\"\npoints = [[0, 0], [9, 0]]\ndirections = [\"a\", \"b\", \"c\"]"));
    assert_err(&e, Some("cameras[0].lines[0].directions"), 11, "exactly two directions, not 3");
}

#[test]
fn negative_coordinates() {
    let e = err(&with(8, "[[cameras.lines]]\nname = \"gate\"\npoints = [[10, -1], [100, 20]]"));
    assert_err(&e, Some("cameras[0].lines[0].points"), 10, "pixel coordinates (0 or more)");
}

#[test]
fn directions_with_equal_names() {
    let e =
        err(&with(8, "[[cameras.lines]]\nname = \"gate\"\npoints = [[0, 0], [10, 0]]\ndirections = [\"in\", \"in\"]"));
    assert_err(&e, Some("cameras[0].lines[0].directions"), 11, "both are `in`");
    let e = err(&with(
        8,
        "[[cameras.lines]]\nname = \"gate\"\npoints = [[0, 0], [10, 0]]\ndirections = [\"in\", \"o/ut\"]",
    ));
    assert_err(&e, Some("cameras[0].lines[0].directions"), 11, "`o/ut` is not a valid id");
}

#[test]
fn duplicate_camera_id() {
    let e = err(&with(8, "detect_fps = 2\n[[cameras]]\nid = \"cam1\"\nuri = \"b.mp4\""));
    assert_err(&e, Some("cameras[1].id"), 10, "camera id `cam1` is already used on line 6");
    assert_eq!(e.position, Some((10, 6)));
}

#[test]
fn duplicate_line_name() {
    let lines = "[[cameras.lines]]\nname = \"gate\"\npoints = [[0, 0], [10, 0]]\n\
                 [[cameras.lines]]\nname = \"gate\"\npoints = [[0, 5], [10, 5]]";
    let e = err(&with(8, lines));
    assert_err(&e, Some("cameras[0].lines[1].name"), 12, "camera `cam1` has two lines named `gate`");
    // The same name on two cameras is fine.
    let two = "[[cameras.lines]]\nname = \"gate\"\npoints = [[0, 0], [10, 0]]\n\
               [[cameras]]\nid = \"cam2\"\nuri = \"b.mp4\"\n[[cameras.lines]]\nname = \"gate\"\npoints = [[0, 0], [10, 0]]";
    assert_eq!(parse(&with(8, two)).unwrap().cameras.len(), 2);
}

#[test]
fn no_cameras() {
    let e = err("site = \"s1\"\ndevice = \"d1\"\ncameras = []\n[model]\nmanifest = \"m.toml\"\n");
    assert_eq!(e.file, PathBuf::from(FILE));
    assert_eq!((e.key.as_deref(), e.position), (None, None), "{e}");
    assert!(e.message.contains("no cameras"), "{e}");
    // Without the key at all, serde names it.
    let e = err("site = \"s1\"\ndevice = \"d1\"\n[model]\nmanifest = \"m.toml\"\n");
    assert!(e.message.contains("missing field `cameras`"), "{e}");
}

#[test]
fn tracker_value_out_of_range() {
    let e = err(&with(3, "[tracker]\nmin_hits = 2\nhigh_thresh = 1.5"));
    assert_err(&e, Some("tracker"), 3, "tracker.high_thresh must be between 0 and 1");
    let e = err(&with(3, "[tracker]\nlow_thresh = 0.6\nhigh_thresh = 0.5"));
    assert_err(&e, Some("tracker"), 3, "must not exceed tracker.high_thresh");
    let e = err(&with(3, "[tracker]\nmatch_iou = 0.0"));
    assert_err(&e, Some("tracker"), 3, "match_iou must be greater than 0");
    let e = err(&with(3, "[tracker]\nmax_lost_s = -1.0"));
    assert_err(&e, Some("tracker"), 3, "max_lost_s must be a non-negative");
    // However the table is written, the place is where it is: inline, dotted keys, and after a
    // comment that mentions it.
    let e = err(&with(3, "tracker = { high_thresh = 2.0 }"));
    assert_err(&e, Some("tracker"), 3, "tracker.high_thresh must be between 0 and 1, got 2");
    let e = err(&with(3, "tracker.min_hits = 2\ntracker.low_thresh = -0.5"));
    assert_err(&e, Some("tracker"), 3, "tracker.low_thresh must be between 0 and 1");
    let e = err(&with(3, "# see [tracker] below\n[tracker]\nhigh_thresh = 2.0"));
    assert_err(&e, Some("tracker"), 4, "tracker.high_thresh");
    // Unknown keys in [tracker] are refused like everywhere else.
    let e = err(&with(3, "[tracker]\nmin_hit = 2"));
    assert_err(&e, Some("tracker.min_hit"), 4, "unknown field `min_hit`");
}

#[test]
fn model_threads_zero() {
    let e = err(&with(5, "threads = 0"));
    assert_err(&e, Some("model.threads"), 5, "0 threads is out of range");
}

#[test]
fn load_of_a_missing_file_names_it() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("nope.toml");
    let e = Config::load(&path).unwrap_err();
    assert_eq!(e.file, path);
    assert!(e.message.starts_with("cannot read"), "{e}");
    assert!(e.to_string().starts_with(&format!("{}: cannot read", path.display())), "{e}");
}

#[test]
fn load_reads_the_file_and_resolves_relative_paths() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("anttd.toml");
    std::fs::write(&path, with(8, "")).unwrap();
    let cfg = Config::load(&path).unwrap();
    assert_eq!(cfg.path, path);
    assert_eq!(cfg.base_dir(), dir.path());
    assert_eq!(cfg.manifest_path(), dir.path().join("m.toml"));
    // A mistake in a loaded file names that file.
    std::fs::write(&path, with(8, "detect_fps = 0")).unwrap();
    let e = Config::load(&path).unwrap_err();
    assert_eq!((e.file, e.position.map(|p| p.0)), (path, Some(8)));
}

#[test]
fn unknown_label_is_located() {
    let cfg = parse(&with(8, r#"labels = ["person", "unicorn"]"#)).unwrap();
    let known = vec!["person".to_string(), "car".to_string()];
    let e = cfg.check_labels(&known).unwrap_err();
    assert_eq!(e.file, PathBuf::from(FILE));
    assert_eq!(e.key.as_deref(), Some("cameras[0].labels[1]"));
    assert_eq!(e.position, Some((8, 21)));
    assert!(e.message.contains("camera `cam1`: the model has no label `unicorn` (it knows person, car)"), "{e}");
    // A label of the wrong type is refused while reading, with the element's key.
    let e = err(&with(8, "labels = [\"person\", 1]"));
    assert_err(&e, Some("cameras[0].labels[1]"), 8, "invalid type: integer `1`, expected a string");
    // Known labels pass.
    let cfg = parse(&with(8, r#"labels = ["person", "car"]"#)).unwrap();
    assert_eq!(cfg.check_labels(&known), Ok(()));
}

#[test]
fn valid_config_with_defaults() {
    let text = "site = \"ward-7\"\ndevice = \"box_01\"\n[model]\nmanifest = \"../models/m.toml\"\n\
                [[cameras]]\nid = \"gate\"\nuri = \"video.mp4\"\n\
                [[cameras.lines]]\nname = \"door\"\npoints = [[400, 170], [400, 330]]\n";
    let cfg = Config::from_str(Path::new("conf/anttd.toml"), text).unwrap();
    assert_eq!(cfg.site, Id("ward-7".into()));
    assert_eq!(cfg.device, Id("box_01".into()));
    assert_eq!(cfg.mqtt.host, NonEmpty("127.0.0.1".into()));
    assert_eq!(cfg.mqtt.port, Port(1883));
    assert_eq!(cfg.mqtt.topic_prefix, TopicPrefix("antt".into()));
    assert_eq!(cfg.mqtt.keep_alive_s, KeepAlive(30));
    assert_eq!(cfg.mqtt.stats_interval_s, Interval(10));
    assert_eq!((cfg.mqtt.username.as_deref(), cfg.mqtt.password.as_deref()), (None, None));
    assert_eq!(cfg.client_id(), "anttd-ward-7-box_01");
    assert_eq!(cfg.topic_root(), "antt/ward-7/box_01");
    assert_eq!(cfg.tracker, TrackerConfig::default());
    assert_eq!(cfg.model.manifest, PathBuf::from("../models/m.toml"));
    assert_eq!((cfg.model.runtime.as_ref(), cfg.model.threads.as_ref()), (None, None));
    assert_eq!(cfg.manifest_path(), PathBuf::from("conf/../models/m.toml"));
    assert_eq!(cfg.text, text);
    assert_eq!(cfg.data_dir(), PathBuf::from("/var/lib/anttd"));
    assert_eq!(cfg.outbox_path(), PathBuf::from("/var/lib/anttd/outbox.sqlite"));
    assert_eq!(cfg.outbox.max_events, MaxEvents(100_000));

    let cam = &cfg.cameras[0];
    assert_eq!(cam.id.get_ref(), &Id("gate".into()));
    assert_eq!(cam.uri, SourceUri("video.mp4".into()));
    assert_eq!(cam.detect_fps, DetectFps(5));
    assert!(cam.labels.is_empty());
    assert!(cam.realtime);
    assert!(!cam.looping);
    let line = &cam.lines[0];
    assert_eq!(line.name.get_ref(), &Id("door".into()));
    assert_eq!(line.points, LinePoints([[400.0, 170.0], [400.0, 330.0]]));
    assert_eq!(line.directions, Directions(["forward".into(), "backward".into()]));
}

#[test]
fn explicit_values_override_defaults() {
    let text =
        with(3, "[mqtt]\nclient_id = \"me\"\ntopic_prefix = \"city/antt\"\nport = 8883\n[tracker]\nmin_hits = 1");
    // `text` ends in the camera's table: these keys are the camera's.
    let cfg = parse(&format!("{text}loop = true\nrealtime = false\n")).unwrap();
    assert_eq!(cfg.client_id(), "me");
    assert_eq!(cfg.topic_root(), "city/antt/s1/d1");
    assert_eq!(cfg.mqtt.port, Port(8883));
    assert_eq!(cfg.mqtt.keep_alive_s, KeepAlive(30), "unset keys of a present table keep their default");
    assert_eq!(cfg.tracker.min_hits, 1);
    assert_eq!(cfg.tracker.max_lost_s, TrackerConfig::default().max_lost_s);
    assert!(cfg.cameras[0].looping);
    assert!(!cfg.cameras[0].realtime);
}

#[test]
fn data_dir_and_outbox_paths_are_relative_to_the_config_file() {
    let text = with(3, "data_dir = \"state\"");
    let cfg = Config::from_str(Path::new("conf/anttd.toml"), &text).unwrap();
    assert_eq!(cfg.outbox_path(), PathBuf::from("conf/state/outbox.sqlite"));
    let text = with(3, "[outbox]\npath = \"/data/ob.sqlite\"\nmax_events = 500");
    let cfg = Config::from_str(Path::new("conf/anttd.toml"), &text).unwrap();
    assert_eq!(cfg.outbox_path(), PathBuf::from("/data/ob.sqlite"));
    assert_eq!(cfg.outbox.max_events, MaxEvents(500));
}

#[test]
fn outbox_bound_out_of_range() {
    let e = err(&with(3, "[outbox]\nmax_events = 0"));
    assert_err(&e, Some("outbox.max_events"), 4, "max_events 0 is out of range");
}

#[test]
fn source_uri_kinds() {
    let uri = |s: &str| SourceUri::try_from(s.to_string()).unwrap();
    assert!(uri("a.mp4").is_file());
    assert!(uri("/data/a.mp4").is_file());
    assert!(uri("file:///data/a.mp4").is_file());
    assert!(!uri("rtsp://cam/s").is_file());
    assert!(!uri("rtsps://cam/s").is_file());
}

#[test]
fn source_uri_file_path_is_relative_to_the_base() {
    let uri = |s: &str| SourceUri::try_from(s.to_string()).unwrap();
    let base = Path::new("/etc/anttd");
    assert_eq!(uri("media/a.mp4").file_path(base), Some(PathBuf::from("/etc/anttd/media/a.mp4")));
    assert_eq!(uri("/data/a.mp4").file_path(base), Some(PathBuf::from("/data/a.mp4")));
    assert_eq!(uri("file:///data/my%20a.mp4").file_path(base), Some(PathBuf::from("/data/my a.mp4")));
    assert_eq!(uri("rtsp://cam/s").file_path(base), None);
}

#[test]
fn source_uri_to_gst_uri() {
    let uri = |s: &str| SourceUri::try_from(s.to_string()).unwrap();
    let base = Path::new("/srv/anttd");
    assert_eq!(uri("media/my video#1.mp4").to_gst_uri(base), "file:///srv/anttd/media/my%20video%231.mp4");
    assert_eq!(uri("rtsp://user:pw@cam:554/s?x=1").to_gst_uri(base), "rtsp://user:pw@cam:554/s?x=1");
    assert_eq!(uri("file:///data/a%20b.mp4").to_gst_uri(base), "file:///data/a%20b.mp4");
    // A relative base is made absolute against the working directory.
    let cwd = std::env::current_dir().unwrap();
    let got = uri("a b.mp4").to_gst_uri(Path::new("."));
    assert!(got.starts_with("file:///"), "{got}");
    assert!(got.ends_with("/a%20b.mp4"), "{got}");
    assert!(got.contains(&cwd.file_name().unwrap().to_string_lossy().replace(' ', "%20")), "{got}");
}

#[test]
fn password_without_username() {
    let text = "site = \"s\"\ndevice = \"d\"\n[mqtt]\npassword = \"x\"\n[model]\nmanifest = \"m.toml\"\n[[cameras]]\nid = \"c\"\nuri = \"v.avi\"\n";
    let err = Config::from_str(std::path::Path::new("p.toml"), text).expect_err("refused");
    assert_eq!(err.key.as_deref(), Some("mqtt.password"));
    assert!(err.message.contains("username"), "{err}");
    let ok = text.replace("password", "username = \"u\"\npassword");
    assert!(Config::from_str(std::path::Path::new("p.toml"), &ok).is_ok());
}

#[test]
fn the_password_can_live_in_a_file_of_its_own() {
    let dir = tempfile::tempdir().expect("dir");
    let cfg_path = dir.path().join("anttd.toml");
    std::fs::write(dir.path().join("mqtt-password"), "s3cret\n").expect("write");
    let text = |mqtt: &str| {
        format!(
            "site = \"s\"\ndevice = \"d\"\n[mqtt]\n{mqtt}\n[model]\nmanifest = \"m.toml\"\n[[cameras]]\nid = \"c\"\nuri = \"v.avi\"\n"
        )
    };
    let cfg = Config::from_str(&cfg_path, &text("username = \"box-1\"\npassword_file = \"mqtt-password\""))
        .expect("read relative to the config");
    assert_eq!(cfg.mqtt.password.as_deref(), Some("s3cret"), "the newline is not part of it");
    for (mqtt, want) in [
        ("username = \"u\"\npassword_file = \"missing\"", "cannot read"),
        ("username = \"u\"\npassword = \"x\"\npassword_file = \"mqtt-password\"", "not both"),
        ("password_file = \"mqtt-password\"", "username"),
    ] {
        let err = Config::from_str(&cfg_path, &text(mqtt)).expect_err(mqtt);
        assert_eq!(err.key.as_deref(), Some("mqtt.password_file"), "{err}");
        assert!(err.message.contains(want), "{err}");
        assert!(err.position.is_some(), "located: {err}");
    }
}

/// A zone named `yard` (lines 8–10), then `rest` (which starts at line 11).
fn with_zone(rest: &str) -> String {
    with(8, &format!("[[cameras.zones]]\nname = \"yard\"\npolygon = [[0, 0], [100, 0], [100, 100], [0, 100]]\n{rest}"))
}

/// Ground calibration of a 10 m × 30 m stretch of road seen in perspective (three lines).
const CALIBRATION: &str = "[cameras.calibration]\n\
    image = [[440, 700], [840, 700], [272.7, 45.5], [90.9, 45.5]]\n\
    ground = [[-5, 0], [5, 0], [5, 30], [-5, 30]]\n";

#[test]
fn zones_and_rules_are_read() {
    let rules = "[[cameras.rules]]\nkind = \"crowd\"\nname = \"crowd-yard\"\nzone = \"yard\"\nmin_persons = 10\nfor_s = 5\nend_after_s = 10\n\
                 [[cameras.rules]]\nkind = \"loitering\"\nname = \"loiter\"\nzone = \"yard\"\nfor_s = 60\n\
                 [[cameras.rules]]\nkind = \"stopped_vehicle\"\nname = \"parked\"\nzone = \"yard\"\nfor_s = 30\nmax_move_m = 1.5\n";
    let cfg = parse(&with_zone(&format!("{CALIBRATION}{rules}"))).unwrap();
    let cam = &cfg.cameras[0];
    assert_eq!(cam.zones[0].polygon.0.len(), 4);
    assert!(cam.homography().is_some());
    let kinds: Vec<&str> = cam.rules.iter().map(|r| r.get_ref().kind()).collect();
    assert_eq!(kinds, ["crowd", "loitering", "stopped_vehicle"]);
    match cam.rules[0].get_ref() {
        RuleConfig::Crowd(c) => assert_eq!((c.min_persons.0, c.update_interval_s.0, c.cooldown_s.0), (10, 5.0, 60.0)),
        other => panic!("{other:?}"),
    }
}

#[test]
fn zone_polygon_mistakes() {
    let zone = |poly: &str| err(&with(8, &format!("[[cameras.zones]]\nname = \"z\"\npolygon = {poly}")));
    assert_err(&zone("[[0, 0], [10, 0]]"), Some("cameras[0].zones[0].polygon"), 10, "at least 3 points, not 2");
    assert_err(&zone("[[0, 0], [10, 0], [20, 0]]"), Some("cameras[0].zones[0].polygon"), 10, "no area");
    assert_err(&zone("[[0, 0], [10, 10], [10, 0], [0, 10]]"), Some("cameras[0].zones[0].polygon"), 10, "edges cross");
    assert_err(
        &zone("[[0, 0], [10, 0, 1], [0, 10]]"),
        Some("cameras[0].zones[0].polygon"),
        10,
        "point 2 is not [x, y]",
    );
    let e = err(&with_zone("[[cameras.zones]]\nname = \"yard\"\npolygon = [[0, 0], [10, 0], [0, 10]]"));
    assert_err(&e, Some("cameras[0].zones[1].name"), 12, "camera `cam1` has two zones named `yard`");
}

#[test]
fn degenerate_calibration_names_the_camera() {
    let e = err(&with(
        8,
        "[cameras.calibration]\nimage = [[0, 0], [10, 0], [20, 0], [0, 10]]\nground = [[0, 0], [1, 0], [1, 1], [0, 1]]",
    ));
    assert_err(&e, Some("cameras[0].calibration"), 9, "camera `cam1`: bad ground calibration");
    assert!(e.message.contains("image points are degenerate"), "{e}");
    let e =
        err(&with(8, "[cameras.calibration]\nimage = [[0, 0], [10, 0], [10, 10]]\nground = [[0, 0], [1, 0], [1, 1]]"));
    assert_err(&e, Some("cameras[0].calibration"), 9, "at least 4");
    let e = err(&with(
        8,
        "[cameras.calibration]\nimage = [[0, 0], [10, 0], [10, 10], [0, 10]]\nground = [[0, 0], [1, 0], [1, 1], [1, 1]]",
    ));
    assert_err(&e, Some("cameras[0].calibration"), 9, "ground points 3 and 4 are the same point");
}

#[test]
fn rule_mistakes() {
    let rule = |body: &str| err(&with_zone(&format!("[[cameras.rules]]\n{body}")));
    // Unknown zone: the key and its line.
    let e = rule("kind = \"loitering\"\nname = \"l\"\nfor_s = 5\nzone = \"gate\"");
    assert_err(
        &e,
        Some("cameras[0].rules[0].zone"),
        15,
        "names zone `gate`, which the camera does not have (it has: yard)",
    );
    // Metres without calibration: the rule and the camera.
    let e = rule("kind = \"stopped_vehicle\"\nname = \"parked\"\nzone = \"yard\"\nfor_s = 5\nmax_move_m = 1");
    assert_err(&e, Some("cameras[0].rules[0].max_move_m"), 16, "rule `parked` of camera `cam1` measures in metres");
    let e = rule("kind = \"stopped_vehicle\"\nname = \"parked\"\nzone = \"yard\"\nfor_s = 5");
    assert!(e.message.contains("exactly one of max_move_m and max_move_px"), "{e}");
    // Keys of another kind, unknown kinds, missing keys, bad values: refused at the rule's line.
    let e = rule("kind = \"loitering\"\nname = \"l\"\nzone = \"yard\"\nfor_s = 5\nmin_persons = 3");
    // Pointed at the key's own line, not the rule's header (line 11).
    assert_err(&e, Some("cameras[0].rules[0].min_persons"), 16, "unknown field `min_persons`");
    let e = rule("kind = \"speed_trap\"\nname = \"l\"\nzone = \"yard\"");
    assert!(e.message.contains("unknown variant `speed_trap`"), "{e}");
    let e = rule("kind = \"crowd\"\nname = \"c\"\nzone = \"yard\"\nmin_persons = 3\nfor_s = 5");
    assert!(e.message.contains("missing field `end_after_s`"), "{e}");
    let e = rule("kind = \"crowd\"\nname = \"c\"\nzone = \"yard\"\nmin_persons = 0\nfor_s = 5\nend_after_s = 5");
    assert!(e.message.contains("0 is out of range"), "{e}");
    let e = rule("kind = \"loitering\"\nname = \"l\"\nzone = \"yard\"\nfor_s = -1");
    assert!(e.message.contains("-1 s is out of range"), "{e}");
    // Two rules with one name.
    let e = rule(
        "kind = \"loitering\"\nname = \"l\"\nzone = \"yard\"\nfor_s = 5\n[[cameras.rules]]\nkind = \"loitering\"\nname = \"l\"\nzone = \"yard\"\nfor_s = 9",
    );
    assert_err(&e, Some("cameras[0].rules[1].name"), 18, "two rules named `l`");
}

#[test]
fn moving_object_rules_are_checked() {
    let rule = |body: &str| err(&with_zone(&format!("[[cameras.rules]]\n{body}")));
    // Speeds need metres: refused without calibration, naming the rule, its kind and the camera.
    for body in [
        "kind = \"speeding\"\nname = \"fast\"\nzone = \"yard\"\nlimit_kmh = 50",
        "kind = \"racing\"\nname = \"fast\"\nzone = \"yard\"\nmin_speed_kmh = 60",
        "kind = \"collision_suspect\"\nname = \"fast\"\nzone = \"yard\"",
    ] {
        let e = rule(body);
        assert_err(&e, Some("cameras[0].rules[0].kind"), 12, "rule `fast` of camera `cam1` measures in metres");
        assert!(e.message.contains(&format!("({} rule)", &body[8..body[8..].find('"').unwrap() + 8])), "{e}");
    }
    // With calibration they are read, with their defaults.
    let cfg = parse(&with_zone(&format!(
        "{CALIBRATION}[[cameras.rules]]\nkind = \"racing\"\nname = \"r\"\nzone = \"yard\"\nmin_speed_kmh = 60\n\
         [[cameras.rules]]\nkind = \"speeding\"\nname = \"s\"\nzone = \"yard\"\nlimit_kmh = 50\n\
         [[cameras.rules]]\nkind = \"collision_suspect\"\nname = \"c\"\nzone = \"yard\"\n"
    )))
    .unwrap();
    match cfg.cameras[0].rules[0].get_ref() {
        RuleConfig::Racing(r) => {
            assert_eq!((r.min_group.0, r.max_gap_m.0, r.for_s.0, r.weave_min_swings.0), (3, 15.0, 0.5, 2))
        }
        other => panic!("{other:?}"),
    }
    // wrong_way: one way to give the direction, one distance, a line and direction it has.
    let ww = |extra: &str| rule(&format!("kind = \"wrong_way\"\nname = \"w\"\nzone = \"yard\"\n{extra}"));
    let e = ww("min_distance_px = 50");
    assert!(e.message.contains("either as direction = [dx, dy] or as line and line_direction"), "{e}");
    let e = ww("direction = [0, 1]\nmin_distance_px = 50\nmin_distance_m = 5");
    assert!(e.message.contains("exactly one of min_distance_m and min_distance_px"), "{e}");
    let e = ww("direction = [0, 0]\nmin_distance_px = 50");
    assert!(e.message.contains("not both 0"), "{e}");
    let e = ww("line = \"gate\"\nline_direction = \"in\"\nmin_distance_px = 50");
    assert_err(&e, Some("cameras[0].rules[0].line"), 15, "names line `gate`, which the camera does not have");
    let e = ww("direction = [0, 1]\nmin_distance_m = 5");
    assert_err(&e, Some("cameras[0].rules[0].min_distance_m"), 16, "measures in metres");
    let e = ww("direction = [0, 1]\nmin_distance_px = 5\ntolerance_deg = 120");
    assert!(e.message.contains("120° is out of range"), "{e}");
}

/// Any edit of a real config (the shipped example, calibrated zones and rules included) is
/// either accepted or refused with an error, never a panic.
mod properties {
    use proptest::prelude::*;

    use super::*;

    fn example() -> String {
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/examples/vtest-calibrated.toml"))
            .expect("examples/vtest-calibrated.toml")
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(400))]

        #[test]
        fn edited_configs_never_panic(at in 0.0f64..1.0, cut in 0usize..40, insert in "[ -~\n]{0,40}") {
            let text = example();
            let chars: Vec<char> = text.chars().collect();
            let i = (at * chars.len() as f64) as usize;
            let j = (i + cut).min(chars.len());
            let edited: String = chars[..i].iter().chain(insert.chars().collect::<Vec<_>>().iter()).chain(chars[j..].iter()).collect();
            let _ = Config::from_str(Path::new(FILE), &edited);
        }

        #[test]
        fn numbers_anywhere_never_panic(n in prop_oneof![Just("-1".to_string()), Just("1e309".to_string()), Just("nan".to_string()), Just("inf".to_string()), Just("18446744073709551616".to_string()), any::<i64>().prop_map(|v| v.to_string()), any::<f64>().prop_map(|v| format!("{v:?}"))], which in 0usize..200) {
            // Replace the `which`-th number of the example with `n`.
            let text = example();
            let mut seen = 0;
            let mut out = String::new();
            let mut chars = text.chars().peekable();
            while let Some(c) = chars.next() {
                if c.is_ascii_digit() {
                    let mut num = c.to_string();
                    while let Some(&d) = chars.peek() {
                        if d.is_ascii_digit() || d == '.' { num.push(d); chars.next(); } else { break; }
                    }
                    out.push_str(if seen == which { &n } else { &num });
                    seen += 1;
                } else {
                    out.push(c);
                }
            }
            let _ = Config::from_str(Path::new(FILE), &out);
        }
    }
}

#[test]
fn discovery_ids_that_would_collide_are_refused() {
    // Camera `a_b`'s fps and camera `a`'s line `b` crossed towards `fps`: both `a_b_fps`.
    let text = "site = \"s\"\ndevice = \"d\"\n[mqtt.discovery]\nenabled = true\n[model]\nmanifest = \"m.toml\"\n\
                [[cameras]]\nid = \"a_b\"\nuri = \"rtsp://h/1\"\n[[cameras]]\nid = \"a\"\nuri = \"rtsp://h/2\"\n\
                [[cameras.lines]]\nname = \"b\"\npoints = [[0, 0], [10, 10]]\ndirections = [\"fps\", \"back\"]\n";
    let e = err(text);
    assert_eq!(e.key.as_deref(), Some("mqtt.discovery"), "{e}");
    assert!(e.message.contains("same id"), "{e}");
    // Without discovery there is nothing to collide.
    assert!(parse(&text.replace("enabled = true", "enabled = false")).is_ok());
}
