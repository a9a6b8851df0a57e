//! Bad input gets a clear error naming what was wrong, or a retry; never a panic.

mod common;

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
    let mut daemon = Daemon::start({
        let mut c = anttd();
        c.arg("run").arg("-c").arg(&cfg);
        c
    });
    daemon.wait_log(Duration::from_secs(30), "camera failed");
    daemon.wait_log(Duration::from_secs(30), "connected to MQTT broker");
    let log = daemon.log();
    assert!(log.contains("camera=gate") && log.contains("junk.avi"), "the error names the camera and file:\n{log}");
    // Still alive and retrying, not crashed.
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
    daemon.wait_log(Duration::from_secs(30), "MQTT broker not reachable");
    // The pipeline keeps running meanwhile; the broker comes up later.
    std::thread::sleep(Duration::from_secs(2));
    let broker = Broker::start_on(port);
    let sub = Subscriber::connect(broker.port, "antt/#");
    daemon.wait_log(Duration::from_secs(60), "connected to MQTT broker");
    sub.wait_for(Duration::from_secs(60), "events after the broker came up", |m| {
        m.iter().any(|m| m.topic.ends_with("/gate/events"))
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
