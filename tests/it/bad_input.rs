//! Bad input gets a clear error naming what was wrong, or a retry; never a panic.

use crate::common;

use std::path::Path;
use std::time::Duration;

use common::{Broker, Daemon, Subscriber, anttd, asset, free_port, write_config};

fn camera(uri: &Path) -> String {
    format!("[[cameras]]\nid = \"gate\"\nuri = \"{}\"\nrealtime = false\n", uri.display())
}

/// A manifest like the default one, for another ONNX file.
fn manifest_for(dir: &Path, onnx: &Path) -> std::path::PathBuf {
    let text = std::fs::read_to_string(asset("models/yolov12n.toml")).expect("manifest");
    let text = text.replace("onnx = \"yolov12n.onnx\"", &format!("onnx = \"{}\"", onnx.display()));
    let p = dir.join("model.toml");
    std::fs::write(&p, text).expect("write manifest");
    p
}

/// `anttd check` on a config using `manifest`; returns (success, stderr).
fn check_with_manifest(dir: &Path, manifest: &Path) -> (bool, String) {
    let cfg = write_config(dir, 1883, &camera(&asset("media/vtest.avi")));
    let text = std::fs::read_to_string(&cfg).expect("cfg");
    let text = text.replace(&asset("models/yolov12n.toml").display().to_string(), &manifest.display().to_string());
    std::fs::write(&cfg, text).expect("cfg");
    let out = anttd().arg("check").arg("-c").arg(&cfg).output().expect("run");
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(!stderr.contains("panicked"), "{stderr}");
    (out.status.success(), stderr)
}

#[test]
fn valid_config_checks_ok() {
    let dir = tempfile::tempdir().expect("dir");
    let cfg = write_config(dir.path(), 1883, &camera(&asset("media/vtest.avi")));
    let out = anttd().arg("check").arg("-c").arg(&cfg).output().expect("run");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("OK") && stdout.contains("yolov12n") && stdout.contains("80 labels"), "{stdout}");
    // No hardware decoder on the test machine: `auto` falls back to software decoding.
    assert!(stdout.contains("decoders: software"), "{stdout}");
}

#[test]
fn check_skip_model_does_not_load_the_model() {
    // An ONNX file that does not exist: `check` fails on it, `check --skip-model` never opens it
    // (for hosts where ONNX Runtime cannot run, such as an aarch64 build under qemu-user).
    let dir = tempfile::tempdir().expect("dir");
    let manifest = manifest_for(dir.path(), &dir.path().join("absent.onnx"));
    assert!(!check_with_manifest(dir.path(), &manifest).0);
    let cfg = dir.path().join("anttd.toml");
    let out = anttd().arg("check").arg("-c").arg(&cfg).arg("--skip-model").output().expect("run");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("OK") && stdout.contains("not loaded (--skip-model)"), "{stdout}");
    // The manifest itself is still validated.
    std::fs::write(&manifest, "name = \"broken\"\n").expect("write");
    let out = anttd().arg("check").arg("-c").arg(&cfg).arg("--skip-model").output().expect("run");
    assert!(!out.status.success(), "{}", String::from_utf8_lossy(&out.stdout));
}

#[test]
fn missing_model_file() {
    let dir = tempfile::tempdir().expect("dir");
    let missing = dir.path().join("nowhere.onnx");
    let (ok, err) = check_with_manifest(dir.path(), &manifest_for(dir.path(), &missing));
    assert!(!ok);
    assert!(err.contains("nowhere.onnx") && err.contains("not found"), "{err}");
}

#[test]
fn corrupt_model_file() {
    let dir = tempfile::tempdir().expect("dir");
    let bad = dir.path().join("garbage.onnx");
    std::fs::write(&bad, (0..4096u32).map(|i| (i.wrapping_mul(2654435761) >> 24) as u8).collect::<Vec<u8>>())
        .expect("w");
    let (ok, err) = check_with_manifest(dir.path(), &manifest_for(dir.path(), &bad));
    assert!(!ok);
    assert!(err.contains("cannot load model") && err.contains("garbage.onnx"), "{err}");
}

#[test]
fn truncated_model_file() {
    let dir = tempfile::tempdir().expect("dir");
    let cut = dir.path().join("cut.onnx");
    let full = std::fs::read(asset("models/yolov12n.onnx")).expect("model");
    std::fs::write(&cut, &full[..full.len() / 3]).expect("w");
    let (ok, err) = check_with_manifest(dir.path(), &manifest_for(dir.path(), &cut));
    assert!(!ok);
    assert!(err.contains("cannot load model") && err.contains("cut.onnx"), "{err}");
}

#[test]
fn missing_onnx_runtime_is_one_clear_line() {
    let dir = tempfile::tempdir().expect("dir");
    let cfg = write_config(dir.path(), 1883, &camera(&asset("media/vtest.avi")));
    let out = anttd()
        .env("ORT_DYLIB_PATH", "/nonexistent/libonnxruntime.so")
        .arg("check")
        .arg("-c")
        .arg(&cfg)
        .output()
        .expect("run");
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    let errors: Vec<&str> = stderr.lines().filter(|l| l.contains("error")).collect();
    assert_eq!(errors.len(), 1, "{stderr}");
    assert!(
        errors[0].contains("ONNX Runtime") && errors[0].contains("/nonexistent/libonnxruntime.so (ORT_DYLIB_PATH)"),
        "{stderr}"
    );
}

#[test]
fn check_refuses_unreadable_video() {
    let dir = tempfile::tempdir().expect("dir");
    let cfg = write_config(dir.path(), 1883, &camera(&dir.path().join("no-such-video.avi")));
    let out = anttd().arg("check").arg("-c").arg(&cfg).output().expect("run");
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("camera gate") && stderr.contains("no-such-video.avi"), "{stderr}");
}

#[test]
fn config_mistake_names_file_key_and_line() {
    let dir = tempfile::tempdir().expect("dir");
    let cfg = write_config(
        dir.path(),
        1883,
        &camera(&asset("media/vtest.avi")).replace("realtime = false", "detect_fps = 0"),
    );
    let line =
        std::fs::read_to_string(&cfg).expect("cfg").lines().position(|l| l.starts_with("detect_fps")).expect("line")
            + 1;
    let out = anttd().arg("check").arg("-c").arg(&cfg).output().expect("run");
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains(&format!("{}:{line}:", cfg.display())), "{stderr}");
    assert!(stderr.contains("cameras[0].detect_fps") && stderr.contains("1 to 60"), "{stderr}");
}

#[test]
fn undecodable_video_is_retried_without_panic() {
    let broker = Broker::start();
    let dir = tempfile::tempdir().expect("dir");
    let junk = dir.path().join("junk.avi");
    std::fs::write(&junk, b"RIFF\0\0\0\0AVI LIST this is not a video at all".repeat(50)).expect("w");
    let cfg = write_config(dir.path(), broker.port, &camera(&junk));
    let sub = Subscriber::connect(broker.port, "antt/#");
    let mut daemon = Daemon::start({
        let mut c = anttd();
        c.arg("run").arg("-c").arg(&cfg);
        c
    });
    // The camera's status says it failed, and it is tried again (its restart count grows),
    // while the box stays connected.
    let restarted = |m: &[common::Msg]| {
        m.iter()
            .filter(|m| m.topic.ends_with("/gate/status"))
            .map(|m| m.json())
            .any(|s| s["state"] == "error" && s["restarts"].as_u64().is_some_and(|n| n >= 2) && s["reason"].is_string())
    };
    let msgs = sub.wait_for(Duration::from_secs(60), "the camera failing and tried again", restarted);
    assert!(msgs.iter().any(|m| m.topic.ends_with("test-box/status") && m.payload == b"online"));
    // The operator's log names the camera and the file.
    let log = daemon.log();
    assert!(log.contains("camera=gate") && log.contains("junk.avi"), "the error names the camera and file:\n{log}");
    assert!(daemon.child.try_wait().expect("wait").is_none(), "{log}");
    let status = daemon.terminate(Duration::from_secs(20));
    assert!(status.success(), "{}", daemon.log());
    assert!(!daemon.log().contains("panicked"));
}

#[test]
fn broker_down_at_start_is_retried() {
    let port = free_port();
    let dir = tempfile::tempdir().expect("dir");
    let cfg = write_config(
        dir.path(),
        port,
        &camera(&asset("media/vtest.avi")).replace("realtime = false", "realtime = true"),
    );
    let mut daemon = Daemon::start({
        let mut c = anttd();
        c.arg("run").arg("-c").arg(&cfg);
        c
    });
    // The pipeline keeps running meanwhile (events wait in the outbox); the broker comes up
    // later.
    common::wait_until(Duration::from_secs(60), "events stored while no broker is there", || {
        !common::outbox_events(dir.path()).is_empty()
    });
    assert!(daemon.child.try_wait().expect("wait").is_none(), "{}", daemon.log());
    let broker = Broker::start_on(port);
    let sub = Subscriber::connect(broker.port, "antt/#");
    sub.wait_for(Duration::from_secs(60), "the box online and events after the broker came up", |m| {
        m.iter().any(|m| m.topic.ends_with("test-box/status") && m.payload == b"online")
            && m.iter().any(|m| m.topic.ends_with("/gate/events"))
    });
    // It had tried before the broker was there, and got through on a later attempt.
    sub.wait_for(Duration::from_secs(30), "stats after failed attempts and one connection", |m| {
        m.iter().filter(|m| m.topic.ends_with("test-box/stats")).any(|m| {
            let v: serde_json::Value = serde_json::from_slice(&m.payload).unwrap_or_default();
            v["mqtt"]["connects"] == 1 && v["mqtt"]["connect_failures"].as_u64().is_some_and(|n| n >= 1)
        })
    });
    let status = daemon.terminate(Duration::from_secs(30));
    assert!(status.success(), "{}", daemon.log());
    sub.wait_for(Duration::from_secs(10), "offline", |m| m.iter().any(|m| m.payload == b"offline"));
}

#[test]
fn unavailable_hardware_decoder_is_refused_with_its_place() {
    let dir = tempfile::tempdir().expect("dir");
    let cam = camera(&asset("media/vtest.avi")) + "decoder = \"rockchip\"\n";
    let cfg = write_config(dir.path(), 1883, &cam);
    let line =
        std::fs::read_to_string(&cfg).expect("cfg").lines().position(|l| l.starts_with("decoder")).expect("line") + 1;
    let out = anttd().arg("check").arg("-c").arg(&cfg).output().expect("run");
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains(&format!("{}:{line}:", cfg.display())), "{stderr}");
    assert!(stderr.contains("cameras[0].decoder") && stderr.contains("camera `gate`"), "{stderr}");
    assert!(stderr.contains("mppvideodec"), "names the missing element: {stderr}");
}

/// A manifest for `onnx` with `edit` (from, to) applied to the default manifest's text.
fn manifest_edited(dir: &Path, onnx: &Path, edits: &[(&str, &str)]) -> std::path::PathBuf {
    let p = manifest_for(dir, onnx);
    let mut text = std::fs::read_to_string(&p).expect("manifest");
    for (from, to) in edits {
        assert!(text.contains(from), "the manifest has no `{from}`");
        text = text.replacen(from, to, 1);
    }
    std::fs::write(&p, text).expect("write manifest");
    p
}

#[test]
fn real_model_with_a_manifest_of_another_input_size_is_refused() {
    let dir = tempfile::tempdir().expect("dir");
    let m = manifest_edited(
        dir.path(),
        &asset("models/yolov12n.onnx"),
        // A size the shipped manifest does not list among its other shapes.
        &[("input = { width = 640, height = 640 }", "input = { width = 416, height = 416 }")],
    );
    let (ok, err) = check_with_manifest(dir.path(), &m);
    assert!(!ok);
    assert!(err.contains("input shape") && err.contains("[1, 3, 416, 416]") && err.contains("yolov12n.onnx"), "{err}");
}

#[test]
fn real_model_with_a_manifest_of_other_labels_is_refused() {
    // Five labels declared, the model scores 80 classes: its output does not fit the manifest.
    let dir = tempfile::tempdir().expect("dir");
    let m = manifest_edited(
        dir.path(),
        &asset("models/yolov12n.onnx"),
        &[("labels = \"metadata\"", "labels = [\"person\", \"car\", \"bus\", \"truck\", \"motorcycle\"]")],
    );
    let (ok, err) = check_with_manifest(dir.path(), &m);
    assert!(!ok);
    assert!(err.contains("output shape") && err.contains("5 labels"), "{err}");
}

/// Protobuf encoding, enough to write a small ONNX model by hand.
fn varint(mut v: u64, out: &mut Vec<u8>) {
    while v >= 0x80 {
        out.push((v as u8) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}
fn pb_int(field: u64, v: u64) -> Vec<u8> {
    let mut o = Vec::new();
    varint(field << 3, &mut o);
    varint(v, &mut o);
    o
}
fn pb_bytes(field: u64, b: &[u8]) -> Vec<u8> {
    let mut o = Vec::new();
    varint((field << 3) | 2, &mut o);
    varint(b.len() as u64, &mut o);
    o.extend_from_slice(b);
    o
}

/// An ONNX value (name, float tensor of `dims`).
fn value_info(name: &str, dims: &[u64]) -> Vec<u8> {
    let shape: Vec<u8> = dims.iter().flat_map(|d| pb_bytes(1, &pb_int(1, *d))).collect();
    let tensor = [pb_int(1, 1), pb_bytes(2, &shape)].concat(); // elem_type FLOAT
    [pb_bytes(1, name.as_bytes()), pb_bytes(2, &pb_bytes(1, &tensor))].concat()
}

/// A genuinely different ONNX graph: `images` [1, 3, 640, 640] → Identity → `output0`.
fn identity_model() -> Vec<u8> {
    let node = [pb_bytes(1, b"images"), pb_bytes(2, b"output0"), pb_bytes(4, b"Identity")].concat();
    let graph = [
        pb_bytes(1, &node),
        pb_bytes(2, b"identity"),
        pb_bytes(11, &value_info("images", &[1, 3, 640, 640])),
        pb_bytes(12, &value_info("output0", &[1, 3, 640, 640])),
    ]
    .concat();
    let opset = [pb_bytes(1, b""), pb_int(2, 17)].concat();
    [pb_int(1, 8), pb_bytes(7, &graph), pb_bytes(8, &opset)].concat()
}

#[test]
fn a_different_onnx_graph_is_refused_by_its_output_shape() {
    let dir = tempfile::tempdir().expect("dir");
    let onnx = dir.path().join("identity.onnx");
    std::fs::write(&onnx, identity_model()).expect("write model");
    let m = manifest_edited(
        dir.path(),
        &onnx,
        &[("labels = \"metadata\"", "labels = [\"person\", \"car\", \"bus\", \"truck\", \"motorcycle\"]")],
    );
    let (ok, err) = check_with_manifest(dir.path(), &m);
    assert!(!ok);
    // ONNX Runtime loaded it (no "cannot load model"): the shape check refused it.
    assert!(!err.contains("cannot load model"), "{err}");
    assert!(err.contains("identity.onnx") && err.contains("output shape [1, 3, 640, 640]"), "{err}");
}

#[test]
fn failed_starts_lose_nothing_already_in_the_outbox() {
    // No broker yet: events stay in the outbox. The port is held (listening, never answering)
    // so that no other test's broker can take it meanwhile.
    let hold = std::net::TcpListener::bind("127.0.0.1:0").expect("a loopback port");
    let port = hold.local_addr().expect("address").port();
    let dir = tempfile::tempdir().expect("dir");
    let cfg = write_config(dir.path(), port, &common::vtest_camera("road", "realtime = false"));
    let good = std::fs::read_to_string(&cfg).expect("config");
    let mut daemon = Daemon::start({
        let mut c = anttd();
        c.arg("run").arg("-c").arg(&cfg);
        c
    });
    let stored = || common::outbox_events(dir.path()).into_iter().map(|(_, id)| id).collect::<Vec<String>>();
    common::wait_until(Duration::from_secs(120), "events stored", || stored().len() >= 5);
    assert!(daemon.terminate(Duration::from_secs(60)).success(), "{}", daemon.log());
    // What the outbox holds after exit: none of it was delivered.
    let want = stored();
    assert!(want.len() >= 5, "{want:?}");

    // Starts that fail: a truncated model, a model of another shape, a broken config.
    let cut = dir.path().join("cut.onnx");
    let full = std::fs::read(asset("models/yolov12n.onnx")).expect("model");
    std::fs::write(&cut, &full[..full.len() / 2]).expect("w");
    let real = asset("models/yolov12n.onnx");
    let truncated = manifest_edited(dir.path(), &cut, &[]);
    let truncated_text = std::fs::read_to_string(&truncated).expect("m");
    let shaped = manifest_edited(dir.path(), &real, &[("width = 640, height = 640", "width = 320, height = 320")]);
    let shaped_text = std::fs::read_to_string(&shaped).expect("m");
    let manifest = asset("models/yolov12n.toml").display().to_string();
    for (what, manifest_text, config_text) in [
        ("truncated model", Some(truncated_text), good.clone()),
        ("model of another shape", Some(shaped_text), good.clone()),
        ("broken config", None, good.replace("detect_fps = 5", "detect_fps = 0")),
    ] {
        let mut text = config_text;
        if let Some(m) = manifest_text {
            let p = dir.path().join("model-under-test.toml");
            std::fs::write(&p, m).expect("manifest");
            text = text.replace(&manifest, &p.display().to_string());
        }
        std::fs::write(&cfg, text).expect("config");
        let out = anttd().arg("run").arg("-c").arg(&cfg).output().expect("run");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "{what}: started");
        assert!(!err.contains("panicked") && err.contains("error"), "{what}: {err}");
    }

    // Back with the broker and a corrupt video: the camera fails and is retried, and every event
    // stored before the failures arrives.
    let junk = dir.path().join("junk.avi");
    std::fs::write(&junk, b"RIFF\0\0\0\0AVI LIST not a video".repeat(100)).expect("w");
    std::fs::write(&cfg, good.replace(&asset("media/vtest.avi").display().to_string(), &junk.display().to_string()))
        .expect("config");
    drop(hold);
    let broker = Broker::start_on(port);
    let sub = Subscriber::connect(broker.port, "antt/#");
    let mut daemon = Daemon::start({
        let mut c = anttd();
        c.arg("run").arg("-c").arg(&cfg);
        c
    });
    let msgs = sub.wait_for(Duration::from_secs(60), "the stored events", |m| {
        let got: std::collections::HashSet<String> = m
            .iter()
            .filter(|m| m.topic.ends_with("/events"))
            .map(|m| m.json()["id"].as_str().expect("id").to_string())
            .collect();
        want.iter().all(|id| got.contains(id))
    });
    assert!(!msgs.is_empty());
    sub.wait_for(Duration::from_secs(60), "road in error", |m| {
        m.iter().any(|m| m.topic.ends_with("road/status") && m.json()["state"] == "error")
    });
    assert!(daemon.terminate(Duration::from_secs(60)).success(), "{}", daemon.log());
    assert!(!daemon.log().contains("panicked"), "{}", daemon.log());
}

/// Run a file camera on `video` to its end (no broker needed); returns (success, frames processed, log).
fn run_file_to_end(dir: &Path, video: &Path) -> (bool, u64, String) {
    let cam = format!("[[cameras]]\nid = \"gate\"\nuri = \"{}\"\nrealtime = false\ndetect_fps = 2\n", video.display());
    let cfg = write_config(dir, free_port(), &cam);
    let (status, log) = common::run_to_end(
        {
            let mut c = anttd();
            c.arg("run").arg("-c").arg(&cfg);
            c
        },
        Duration::from_secs(600),
    );
    let frames = log
        .lines()
        .find(|l| l.contains("run summary"))
        .and_then(|l| l.split_whitespace().find_map(|w| w.strip_prefix("frames_processed=")))
        .and_then(|n| n.parse().ok())
        .unwrap_or(0);
    (status.success(), frames, log)
}

#[test]
fn truncated_video_plays_what_it_has() {
    let dir = tempfile::tempdir().expect("dir");
    let full = std::fs::read(asset("media/vtest.avi")).expect("video");
    let cut = dir.path().join("cut.avi");
    std::fs::write(&cut, &full[..full.len() / 2]).expect("w");
    let (ok, frames, log) = run_file_to_end(dir.path(), &cut);
    assert!(ok && !log.contains("panicked"), "{log}");
    // About half of the 80 s clip at 2 frames/s.
    assert!(frames >= 40, "{frames} frames from the first half:\n{log}");
}

#[test]
fn corrupt_bytes_inside_a_video_are_skipped() {
    let dir = tempfile::tempdir().expect("dir");
    let mut data = std::fs::read(asset("media/vtest.avi")).expect("video");
    // Garbage over three stretches in the middle of the stream.
    let n = data.len();
    for start in [n / 4, n / 2, 3 * n / 4] {
        for (i, b) in data[start..start + 20_000].iter_mut().enumerate() {
            *b = (i as u32).wrapping_mul(2654435761).to_be_bytes()[0];
        }
    }
    let bad = dir.path().join("corrupt.avi");
    std::fs::write(&bad, &data).expect("w");
    let (ok, frames, log) = run_file_to_end(dir.path(), &bad);
    assert!(ok && !log.contains("panicked"), "{log}");
    // It went on past the damage to the end: most of the clip's 160 detected frames.
    assert!(frames >= 120, "{frames} frames:\n{log}");
}
