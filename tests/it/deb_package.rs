//! The amd64 Debian package: built, installed on this machine with apt (as root, as CI is), its
//! installed config checked by the installed binary as the service user, then purged cleanly.

use crate::common;

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
            "/lib/systemd/system/anttd-station.service",
            "/usr/share/doc/anttd/station.md",
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
        // The packaged Apache-2.0 model loads too, chosen by the line the config offers.
        let conf = std::fs::read_to_string("/etc/anttd/anttd.toml").expect("installed config");
        let ssd = "manifest = \"/usr/share/anttd/models/ssd-mobilenet-v2.toml\"";
        assert!(conf.contains(&format!("# {ssd}")), "the config offers the SSD model:\n{conf}");
        let dir = tempfile::tempdir().expect("dir");
        let path = dir.path().join("ssd.toml");
        std::fs::write(&path, conf.replace("manifest = \"/usr/share/anttd/models/yolov12n.toml\"", ssd))
            .expect("write config");
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).expect("chmod");
        let (ok, log) = sh(Command::new("runuser")
            .args(["-u", "anttd", "--", "/usr/bin/anttd", "check", "-c"])
            .arg(&path)
            .env_remove("ORT_DYLIB_PATH"));
        assert!(ok && log.contains("ssd-mobilenet-v2"), "anttd check with the packaged SSD model: {log}");
        for unit in ["anttd.service", "anttd-station.service"] {
            let (ok, log) =
                sh(Command::new("systemd-analyze").arg("verify").arg(format!("/lib/systemd/system/{unit}")));
            assert!(ok, "systemd-analyze verify {unit}: {log}");
        }
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

/// The arm64 package that scripts/test makes after the x86-64 tests (`cross/build-aarch64`, then
/// `deploy/deb/build --arch arm64`) and names in `ANTTD_ARM64_DEB`: what it holds, as
/// `dpkg-deb --info` and `--contents` show it and as `file` sees the unpacked binaries. It cannot
/// be installed here (an arm64 system is needed), so this checks the package itself.
#[test]
fn arm64_deb_contents() {
    let Some(deb) = std::env::var_os("ANTTD_ARM64_DEB") else {
        eprintln!("skipped: ANTTD_ARM64_DEB is not set (scripts/test sets it after the aarch64 build)");
        return;
    };
    let (ok, info) = sh(Command::new("dpkg-deb").arg("--info").arg(&deb));
    assert!(ok, "dpkg-deb --info: {info}");
    assert!(info.lines().any(|l| l.trim() == "Architecture: arm64"), "{info}");
    assert!(info.contains("Depends:") && info.contains("libgstreamer1.0-0"), "{info}");

    let (ok, contents) = sh(Command::new("dpkg-deb").arg("--contents").arg(&deb));
    assert!(ok, "dpkg-deb --contents: {contents}");
    // `-rw-r----- root/root ... ./etc/anttd/anttd.toml`: mode and path of each entry.
    let entry = |path: &str| {
        contents
            .lines()
            .find(|l| l.ends_with(&format!(".{path}")))
            .unwrap_or_else(|| panic!("{path} not in the package:\n{contents}"))
            .split_whitespace()
            .next()
            .unwrap_or_default()
            .to_string()
    };
    assert_eq!(entry("/usr/bin/anttd"), "-rwxr-xr-x");
    assert_eq!(entry("/usr/lib/anttd/libonnxruntime.so.1.31.1"), "-rw-r--r--");
    assert_eq!(entry("/usr/share/anttd/models/yolov12n.onnx"), "-rw-r--r--");
    assert_eq!(entry("/usr/share/anttd/models/yolov12n.toml"), "-rw-r--r--");
    assert_eq!(entry("/usr/share/anttd/models/yolov12n-640x384.onnx"), "-rw-r--r--");
    assert_eq!(entry("/usr/share/anttd/models/yolov12n-640x480.onnx"), "-rw-r--r--");
    assert_eq!(entry("/usr/share/anttd/models/yolov12n-320x320.onnx"), "-rw-r--r--");
    assert_eq!(entry("/usr/share/anttd/models/ssd-mobilenet-v2.onnx"), "-rw-r--r--");
    assert_eq!(entry("/usr/share/anttd/models/ssd-mobilenet-v2.toml"), "-rw-r--r--");
    assert_eq!(entry("/lib/systemd/system/anttd.service"), "-rw-r--r--");
    // Credentials live in the config: not readable by every user of the box.
    assert_eq!(entry("/etc/anttd/anttd.toml"), "-rw-r-----");

    let dir = tempfile::tempdir().expect("dir");
    let (ok, log) = sh(Command::new("dpkg-deb").arg("-x").arg(&deb).arg(dir.path()));
    assert!(ok, "dpkg-deb -x: {log}");
    for bin in ["usr/bin/anttd", "usr/lib/anttd/libonnxruntime.so.1.31.1"] {
        let (ok, desc) = sh(Command::new("file").arg("-b").arg(dir.path().join(bin)));
        assert!(ok && desc.contains("ELF 64-bit") && desc.contains("ARM aarch64"), "{bin}: {desc}");
    }
    // The model is the one scripts/setup checked, byte for byte.
    let packaged = std::fs::read(dir.path().join("usr/share/anttd/models/yolov12n.onnx")).expect("model");
    let fetched = std::fs::read(common::root().join("models/yolov12n.onnx")).expect("models/yolov12n.onnx");
    assert!(packaged == fetched, "the packaged model differs from models/yolov12n.onnx");
    let packaged = std::fs::read(dir.path().join("usr/share/anttd/models/ssd-mobilenet-v2.onnx")).expect("model");
    let made =
        std::fs::read(common::root().join("models/ssd-mobilenet-v2.onnx")).expect("models/ssd-mobilenet-v2.onnx");
    assert!(packaged == made, "the packaged SSD model differs from models/ssd-mobilenet-v2.onnx");
    let unit = std::fs::read_to_string(dir.path().join("lib/systemd/system/anttd.service")).expect("unit");
    for hardening in [
        "User=anttd",
        "NoNewPrivileges=yes",
        "ProtectSystem=strict",
        "CapabilityBoundingSet=",
        "SystemCallFilter=@system-service",
        "LimitCORE=0",
        "MemoryMax=1G",
        "TasksMax=512",
        "DeviceAllow=char-dma_heap rw",
    ] {
        assert!(unit.lines().any(|l| l.trim() == hardening), "the unit lacks {hardening}");
    }
    let copyright = std::fs::read_to_string(dir.path().join("usr/share/doc/anttd/copyright")).expect("copyright");
    assert!(copyright.contains("ONNX Runtime"), "{copyright}");
}
