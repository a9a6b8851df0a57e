//! MQTT over TLS against a real mosquitto with a TLS listener, with certificates made here
//! (rcgen): events arrive with a client certificate; a broker certificate from another CA is a
//! clear logged error and retried, never a panic; unusable TLS files are refused at load.

use crate::common;

use std::path::{Path, PathBuf};
use std::time::Duration;

use common::{Broker, Daemon, Msg, Subscriber, anttd, write_config};
use rcgen::{BasicConstraints, CertificateParams, CertifiedIssuer, DnType, ExtendedKeyUsagePurpose, IsCa, KeyPair};

const ROOT: &str = "antt/test-site/test-box";

/// A CA, a broker certificate for 127.0.0.1 and a client certificate, as PEM files in `dir`.
struct Pki {
    ca: PathBuf,
    server_cert: PathBuf,
    server_key: PathBuf,
    client_cert: PathBuf,
    client_key: PathBuf,
}

fn write(dir: &Path, name: &str, pem: &str) -> PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, pem).expect("write pem");
    p
}

fn make_pki(dir: &Path, tag: &str) -> Pki {
    let mut ca_params = CertificateParams::new(Vec::<String>::new()).expect("params");
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca_params.distinguished_name.push(DnType::CommonName, format!("anttd test CA {tag}"));
    let ca = CertifiedIssuer::self_signed(ca_params, KeyPair::generate().expect("key")).expect("CA");

    let leaf = |names: Vec<String>, usage: ExtendedKeyUsagePurpose, cn: &str| {
        let mut p = CertificateParams::new(names).expect("params");
        p.distinguished_name.push(DnType::CommonName, cn);
        p.extended_key_usages = vec![usage];
        let key = KeyPair::generate().expect("key");
        let cert = p.signed_by(&key, &ca).expect("sign");
        (cert.pem(), key.serialize_pem())
    };
    let (server, server_key) =
        leaf(vec!["127.0.0.1".into(), "localhost".into()], ExtendedKeyUsagePurpose::ServerAuth, "broker");
    let (client, client_key) = leaf(vec![], ExtendedKeyUsagePurpose::ClientAuth, "anttd-test-box");
    Pki {
        ca: write(dir, &format!("ca-{tag}.pem"), &ca.pem()),
        server_cert: write(dir, &format!("server-{tag}.pem"), &server),
        server_key: write(dir, &format!("server-{tag}.key"), &server_key),
        client_cert: write(dir, &format!("client-{tag}.pem"), &client),
        client_key: write(dir, &format!("client-{tag}.key"), &client_key),
    }
}

/// A config for `port` with `[mqtt.tls]` (the keys given in `tls`), one vtest camera.
fn tls_config(dir: &Path, port: u16, tls: &str) -> PathBuf {
    let camera = common::vtest_camera("road", "realtime = false");
    let path = write_config(dir, port, &camera);
    let text = std::fs::read_to_string(&path).expect("config");
    // [mqtt.tls] goes right after [mqtt] (before [model]), so it is its own table.
    let text = text.replacen("[model]", &format!("[mqtt.tls]\n{tls}\n\n[model]"), 1);
    std::fs::write(&path, text).expect("config");
    path
}

#[test]
fn events_arrive_over_tls_with_a_client_certificate() {
    let dir = tempfile::tempdir().expect("dir");
    let pki = make_pki(dir.path(), "a");
    let broker = Broker::start_tls(&pki.server_cert, &pki.server_key, Some(&pki.ca));
    let sub = Subscriber::connect(broker.port, "antt/#");
    let cfg = tls_config(
        dir.path(),
        broker.tls_port.expect("tls port"),
        &format!(
            "ca_file = \"{}\"\nclient_cert = \"{}\"\nclient_key = \"{}\"",
            pki.ca.display(),
            pki.client_cert.display(),
            pki.client_key.display()
        ),
    );
    let mut daemon = Daemon::start({
        let mut c = anttd();
        c.arg("run").arg("-c").arg(&cfg);
        c
    });
    let msgs = sub.wait_for(Duration::from_secs(120), "events over TLS", |m| {
        m.iter().filter(|m| m.topic == format!("{ROOT}/road/events")).count() >= 3
    });
    assert!(msgs.iter().any(|m| m.topic == format!("{ROOT}/status") && m.payload == b"online"));
    let ev = msgs.iter().find(|m| m.topic.ends_with("/events")).map(Msg::json).expect("event");
    assert_eq!(ev["camera"], "road");
    assert!(daemon.terminate(Duration::from_secs(60)).success(), "{}", daemon.log());
}

#[test]
fn a_broker_certificate_from_another_ca_is_a_clear_error_and_retried() {
    let dir = tempfile::tempdir().expect("dir");
    let broker_pki = make_pki(dir.path(), "broker");
    let other = make_pki(dir.path(), "other");
    let broker = Broker::start_tls(&broker_pki.server_cert, &broker_pki.server_key, None);
    let sub = Subscriber::connect(broker.port, "antt/#");
    let cfg =
        tls_config(dir.path(), broker.tls_port.expect("tls port"), &format!("ca_file = \"{}\"", other.ca.display()));
    let mut daemon = Daemon::start({
        let mut c = anttd();
        c.arg("run").arg("-c").arg(&cfg);
        c
    });
    daemon.wait_log(Duration::from_secs(60), "MQTT broker not reachable");
    let log = daemon.log();
    let line = log.lines().find(|l| l.contains("MQTT broker not reachable")).expect("line");
    assert!(line.contains("invalid peer certificate") && line.contains("UnknownIssuer"), "{line}");
    // It keeps trying (every attempt is in the debug log), and keeps running.
    common::wait_until(Duration::from_secs(60), "a second attempt", || {
        daemon.log().matches("MQTT connection attempt failed").count() >= 2
    });
    assert!(daemon.child.try_wait().expect("wait").is_none(), "still running");
    assert!(sub.all().iter().all(|m| !m.topic.starts_with(ROOT)), "nothing got through");
    assert!(daemon.terminate(Duration::from_secs(60)).success(), "{}", daemon.log());
    assert!(!daemon.log().contains("panicked"), "{}", daemon.log());
}

#[test]
fn unusable_tls_files_are_refused_at_load_naming_the_key() {
    let dir = tempfile::tempdir().expect("dir");
    let pki = make_pki(dir.path(), "c");
    let junk = write(dir.path(), "junk.pem", "not a certificate\n");
    let cases = [
        ("ca_file = \"absent.pem\"".to_string(), "mqtt.tls.ca_file", "cannot read"),
        (format!("ca_file = \"{}\"", junk.display()), "mqtt.tls.ca_file", "no certificate"),
        (
            format!("ca_file = \"{}\"\nclient_cert = \"{}\"", pki.ca.display(), pki.client_cert.display()),
            "mqtt.tls.client_cert",
            "needs client_key",
        ),
        (
            format!(
                "ca_file = \"{}\"\nclient_cert = \"{}\"\nclient_key = \"{}\"",
                pki.ca.display(),
                pki.client_cert.display(),
                junk.display()
            ),
            "mqtt.tls.client_key",
            "no PEM private key",
        ),
        (
            format!(
                "ca_file = \"{}\"\nclient_cert = \"{}\"\nclient_key = \"{}\"",
                pki.ca.display(),
                pki.client_cert.display(),
                pki.server_key.display()
            ),
            "mqtt.tls.client_key",
            "does not go with client_cert",
        ),
    ];
    for (tls, key, what) in cases {
        let cfg = tls_config(dir.path(), 8883, &tls);
        let out = anttd().arg("check").arg("-c").arg(&cfg).arg("--skip-model").output().expect("run");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "{tls}: accepted");
        assert!(!err.contains("panicked"), "{err}");
        assert!(err.contains(&format!("key `{key}`")) && err.contains(what), "{tls}: {err}");
        assert!(err.contains("anttd.toml:"), "names the file and line: {err}");
    }
}

#[test]
fn username_and_password_are_sent_and_a_wrong_one_is_a_clear_error() {
    let broker = Broker::start_with_login("box-001", "s3cret");
    let login_port = broker.tls_port.expect("login port");
    let sub = Subscriber::connect(broker.port, "antt/#");
    let dir = tempfile::tempdir().expect("dir");
    let run = |password: &str| {
        let path = write_config(dir.path(), login_port, &common::vtest_camera("road", "realtime = false"));
        let text = std::fs::read_to_string(&path).expect("config");
        let login = format!("port = {login_port}\nusername = \"box-001\"\npassword = \"{password}\"");
        std::fs::write(&path, text.replacen(&format!("port = {login_port}"), &login, 1)).expect("config");
        Daemon::start({
            let mut c = anttd();
            c.arg("run").arg("-c").arg(&path);
            c
        })
    };
    let mut wrong = run("guess");
    wrong.wait_log(Duration::from_secs(60), "MQTT broker not reachable");
    let log = wrong.log();
    let line = log.lines().find(|l| l.contains("MQTT broker not reachable")).expect("line");
    assert!(line.contains("NotAuthorized") || line.contains("BadUserNamePassword"), "{line}");
    assert!(!log.contains("s3cret") && !log.contains("guess"), "passwords are not logged");
    assert!(wrong.terminate(Duration::from_secs(60)).success(), "{}", wrong.log());

    let mut right = run("s3cret");
    sub.wait_for(Duration::from_secs(120), "events with a login", |m| {
        m.iter().any(|m| m.topic == format!("{ROOT}/road/events"))
    });
    assert!(right.terminate(Duration::from_secs(60)).success(), "{}", right.log());
}
