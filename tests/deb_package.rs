//! The amd64 Debian package: built, installed on this machine with apt (as root, as CI is), its
//! installed config checked by the installed binary as the service user, then purged cleanly.

mod common;

use std::path::Path;
use std::process::Command;

fn sh(cmd: &mut Command) -> (bool, String) {
    let out = cmd.output().unwrap_or_else(|e| panic!("cannot run {cmd:?}: {e}"));
    (out.status.success(), format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr)))
}

#[test]
fn deb_installs_checks_and_purges() {
    // Installing touches the system: only as root, and never over a real installation.
    let (_, uid) = sh(Command::new("id").arg("-u"));
    if uid.trim() != "0" {
        eprintln!("skipped: installing a package needs root");
        return;
    }
    let (installed, _) = sh(Command::new("dpkg-query").args(["-W", "-f=${Status}", "anttd"]));
    let (_, status) = sh(Command::new("dpkg-query").args(["-W", "-f=${Status}", "anttd"]));
    assert!(
        !(installed && status.contains("install ok installed")),
        "anttd is installed on this machine: not touching it"
    );

    let out = tempfile::tempdir().expect("dir");
    let (ok, log) = sh(Command::new(common::root().join("deploy/deb/build"))
        .arg("--binary")
        .arg(env!("CARGO_BIN_EXE_anttd"))
        .arg("--out")
        .arg(out.path()));
    assert!(ok, "build failed: {log}");
    let deb = log.lines().last().expect("deb path").trim().to_string();
    assert!(Path::new(&deb).is_file(), "{log}");

    let (ok, log) = sh(Command::new("apt-get")
        .args(["install", "-y", "--no-install-recommends"])
        .arg(&deb)
        .env("DEBIAN_FRONTEND", "noninteractive"));
    let purge = || sh(Command::new("dpkg").args(["--purge", "anttd"]));
    if !ok {
        purge();
        panic!("apt-get install failed: {log}");
    }
    let result = std::panic::catch_unwind(|| {
        for p in [
            "/usr/bin/anttd",
            "/usr/lib/anttd/libonnxruntime.so.1.31.1",
            "/etc/anttd/anttd.toml",
            "/lib/systemd/system/anttd.service",
        ] {
            assert!(Path::new(p).exists(), "{p} not installed");
        }
        let (ok, log) = sh(Command::new("getent").args(["passwd", "anttd"]));
        assert!(ok && log.contains("/var/lib/anttd"), "system user: {log}");
        assert!(Path::new("/var/lib/anttd").is_dir());
        // The installed binary, as the service user, finds the packaged ONNX Runtime and model.
        let (ok, log) = sh(Command::new("runuser")
            .args(["-u", "anttd", "--", "/usr/bin/anttd", "check", "-c", "/etc/anttd/anttd.toml"])
            .env_remove("ORT_DYLIB_PATH"));
        assert!(ok, "anttd check on the installed config failed: {log}");
        assert!(log.contains("OK") && log.contains("yolov12n"), "{log}");
        let (ok, log) = sh(Command::new("systemd-analyze").args(["verify", "/lib/systemd/system/anttd.service"]));
        assert!(ok, "systemd-analyze verify: {log}");
    });
    let (ok, log) = purge();
    assert!(ok, "purge failed: {log}");
    if let Err(e) = result {
        std::panic::resume_unwind(e);
    }
    for p in ["/usr/bin/anttd", "/usr/lib/anttd", "/etc/anttd", "/var/lib/anttd"] {
        assert!(!Path::new(p).exists(), "{p} left behind after purge");
    }
    let (still, _) = sh(Command::new("getent").args(["passwd", "anttd"]));
    assert!(!still, "the anttd user is removed on purge");
}
