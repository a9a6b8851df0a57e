//! A real RTSP camera (gst-rtsp-server on 127.0.0.1, serving vtest.avi encoded to H.264 on the
//! fly) stopped and started again under the daemon: its `<camera>/status` goes `error` and back
//! to `online`, its detections resume, and a second camera's frames keep flowing all along.

use crate::common;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::{Broker, Daemon, Msg, Subscriber, anttd, asset, free_port, write_config};
use gstreamer_rtsp_server as rtsp;
use rtsp::gst;
use rtsp::gst::glib;
use rtsp::prelude::*;

const ROOT: &str = "antt/test-site/test-box";

/// An RTSP server on 127.0.0.1:`port` with vtest.avi at `/cam`, running its own GLib main loop
/// on a thread. Dropping it closes the listening socket and every client connection, as a
/// camera losing power would.
struct RtspServer {
    main_loop: glib::MainLoop,
    /// The `valve` of the stream being served (set once a client has asked for it).
    valve: Arc<Mutex<Option<gst::Element>>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl RtspServer {
    fn start(port: u16) -> Self {
        gst::init().expect("GStreamer");
        let server = rtsp::RTSPServer::new();
        server.set_address("127.0.0.1");
        server.set_service(&port.to_string());
        let factory = rtsp::RTSPMediaFactory::new();
        // Encoded on the fly (x264enc from gstreamer1.0-plugins-ugly), a key frame every second
        // so a reconnecting client starts decoding at once.
        factory.set_launch(&format!(
            "( filesrc location=\"{}\" ! decodebin ! valve name=gate ! videoconvert ! x264enc tune=zerolatency speed-preset=ultrafast \
             key-int-max=10 bframes=0 ! rtph264pay name=pay0 pt=96 config-interval=1 )",
            asset("media/vtest.avi").display()
        ));
        factory.set_shared(true);
        let valve = Arc::new(Mutex::new(None));
        {
            let slot = Arc::clone(&valve);
            factory.connect_media_configure(move |_, media| {
                let gate = media.element().downcast::<gst::Bin>().ok().and_then(|b| b.by_name("gate"));
                *slot.lock().expect("lock") = gate;
            });
        }
        server.mount_points().expect("mount points").add_factory("/cam", factory);
        let ctx = glib::MainContext::new();
        let main_loop = glib::MainLoop::new(Some(&ctx), false);
        let (ready_tx, ready_rx) = std::sync::mpsc::channel();
        let thread = {
            let main_loop = main_loop.clone();
            std::thread::spawn(move || {
                let attached = ctx.with_thread_default(|| {
                    let source = server.attach(Some(&ctx)).expect("RTSP server listens");
                    let _ = ready_tx.send(());
                    main_loop.run();
                    // Stop: close every client connection and the listening socket.
                    server.client_filter(Some(&mut |_, _| rtsp::RTSPFilterResult::Remove));
                    if let Some(s) = ctx.find_source_by_id(&source) {
                        s.destroy();
                    }
                    // Let the removed clients' sources finish before the context goes.
                    while ctx.iteration(false) {}
                });
                attached.expect("main context");
            })
        };
        ready_rx.recv_timeout(Duration::from_secs(10)).expect("RTSP server started");
        Self { main_loop, valve, thread: Some(thread) }
    }

    /// Stop the picture but keep the connection: the camera is up, and sends nothing.
    fn freeze(&self) {
        let valve = self.valve.lock().expect("lock");
        valve.as_ref().expect("a client is playing the stream").set_property("drop", true);
    }
}

impl Drop for RtspServer {
    fn drop(&mut self) {
        self.main_loop.quit();
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

fn status_of(msgs: &[Msg], cam: &str) -> Vec<(usize, serde_json::Value)> {
    let topic = format!("{ROOT}/{cam}/status");
    msgs.iter().enumerate().filter(|(_, m)| m.topic == topic).map(|(i, m)| (i, m.json())).collect()
}

/// Index of the first `state` status of `cam` after message `after`.
fn state_after(msgs: &[Msg], cam: &str, state: &str, after: usize) -> Option<usize> {
    status_of(msgs, cam).into_iter().find(|(i, s)| *i > after && s["state"] == state).map(|(i, _)| i)
}

/// Object `start` events of `cam` after message `after`: new tracks, so detection is running
/// (an `end` could come from tracks closed when the stream came back).
fn starts_after(msgs: &[Msg], cam: &str, after: usize) -> usize {
    let topic = format!("{ROOT}/{cam}/events");
    msgs.iter().skip(after + 1).filter(|m| m.topic == topic && m.json()["type"] == "start").count()
}

/// `frames_processed` of `cam` in each `stats` message after `after`.
fn processed_after(msgs: &[Msg], cam: &str, after: usize) -> Vec<u64> {
    let topic = format!("{ROOT}/stats");
    msgs.iter()
        .skip(after + 1)
        .filter(|m| m.topic == topic)
        .filter_map(|m| {
            let v = m.json();
            v["cameras"].as_array()?.iter().find(|c| c["camera"] == cam)?["frames_processed"].as_u64()
        })
        .collect()
}

#[test]
fn rtsp_camera_down_and_back_leaves_the_other_camera_alone() {
    let rtsp_port = free_port();
    let server = RtspServer::start(rtsp_port);
    let broker = Broker::start();
    let sub = Subscriber::connect(broker.port, "antt/#");
    let dir = tempfile::tempdir().expect("dir");
    let street = format!(
        "[[cameras]]\nid = \"street\"\nuri = \"rtsp://127.0.0.1:{rtsp_port}/cam\"\ndetect_fps = 5\n\
         labels = [\"person\"]\nstall_timeout_s = 5\n"
    );
    let yard = common::vtest_camera("yard", "realtime = true\nloop = true");
    let cfg = write_config(dir.path(), broker.port, &format!("{street}\n{yard}"));
    let mut daemon = Daemon::start({
        let mut c = anttd();
        c.arg("run").arg("-c").arg(&cfg);
        c
    });

    let long = Duration::from_secs(120);
    let msgs = sub.wait_for(long, "street online and detecting", |m| {
        state_after(m, "street", "online", 0).is_some_and(|i| starts_after(m, "street", i) > 0)
            && state_after(m, "yard", "online", 0).is_some()
    });
    let first_online = state_after(&msgs, "street", "online", 0).expect("online");
    let (_, s) = &status_of(&msgs, "street")[0];
    assert_eq!(s["state"], "offline", "a camera is offline until its first frame: {s}");
    assert_eq!(s["reason"], "starting");

    // The camera goes away.
    drop(server);
    let msgs = sub.wait_for(long, "street error", |m| state_after(m, "street", "error", first_online).is_some());
    let down = state_after(&msgs, "street", "error", first_online).expect("error");
    let s = &status_of(&msgs, "street").into_iter().find(|(i, _)| *i == down).expect("status").1;
    assert!(s["reason"].as_str().is_some_and(|r| !r.is_empty()), "an error says why: {s}");
    assert!(s["restarts"].as_u64().is_some_and(|n| n >= 1), "{s}");
    // While it is down, the other camera keeps going: two stats messages with more frames.
    let msgs = sub.wait_for(long, "yard frames during the outage", |m| {
        let p = processed_after(m, "yard", down);
        p.len() >= 2 && p[p.len() - 1] > p[0]
    });
    assert!(state_after(&msgs, "street", "online", down).is_none(), "street cannot be online while its server is down");
    assert!(status_of(&msgs, "yard").iter().all(|(_, s)| s["state"] != "error"), "yard was never in error");

    // The camera comes back on the same address.
    let mark = msgs.len() - 1;
    let _server = RtspServer::start(rtsp_port);
    let msgs = sub.wait_for(long, "street online again and detecting", |m| {
        state_after(m, "street", "online", mark).is_some_and(|i| starts_after(m, "street", i) > 0)
    });
    let back = state_after(&msgs, "street", "online", mark).expect("online");
    let s = &status_of(&msgs, "street").into_iter().find(|(i, _)| *i == back).expect("status").1;
    assert!(s["reason"].is_null(), "online has no reason: {s}");

    // Clean shutdown: both cameras say offline (retained), before the box does.
    assert!(daemon.terminate(Duration::from_secs(60)).success(), "{}", daemon.log());
    let msgs = sub.wait_for(Duration::from_secs(10), "box offline", |m| {
        m.iter().any(|m| m.topic == format!("{ROOT}/status") && m.payload == b"offline")
    });
    let box_offline = msgs.iter().rposition(|m| m.topic == format!("{ROOT}/status")).expect("box status");
    for cam in ["street", "yard"] {
        let (i, s) = status_of(&msgs, cam).pop().expect("status");
        assert_eq!((s["state"].as_str(), s["reason"].as_str()), (Some("offline"), Some("shutdown")), "{cam}: {s}");
        assert!(i < box_offline, "{cam} offline before the box's offline");
    }
    // A late subscriber gets each camera's last state, retained.
    let late = Subscriber::connect(broker.port, &format!("{ROOT}/+/status"));
    let got = late.wait_for(Duration::from_secs(10), "retained camera states", |m| m.len() >= 2);
    for m in &got {
        assert!(m.retain, "{} is retained", m.topic);
        assert_eq!(m.json()["state"], "offline", "{}", m.text());
    }
    let log = daemon.log();
    assert!(!log.contains("panicked"), "{log}");
}

#[test]
fn a_stalled_rtsp_camera_is_torn_down_and_restarted() {
    let rtsp_port = free_port();
    let server = RtspServer::start(rtsp_port);
    let broker = Broker::start();
    let sub = Subscriber::connect(broker.port, "antt/#");
    let dir = tempfile::tempdir().expect("dir");
    let street = format!(
        "[[cameras]]\nid = \"street\"\nuri = \"rtsp://127.0.0.1:{rtsp_port}/cam\"\nlabels = [\"person\"]\nstall_timeout_s = 3\n"
    );
    let yard = common::vtest_camera("yard", "realtime = true\nloop = true");
    let cfg = write_config(dir.path(), broker.port, &format!("{street}\n{yard}"));
    let mut daemon = Daemon::start({
        let mut c = anttd();
        c.arg("run").arg("-c").arg(&cfg);
        c
    });
    let long = Duration::from_secs(120);
    let msgs = sub.wait_for(long, "street online", |m| state_after(m, "street", "online", 0).is_some());
    let online = state_after(&msgs, "street", "online", 0).expect("online");
    // Restarts count from the daemon's start: a first connection can fail on a busy machine.
    let online_status = status_of(&msgs, "street").into_iter().find(|(i, _)| *i == online).expect("status").1;
    let restarts_before = online_status["restarts"].as_u64().expect("restarts");

    // The server keeps the connection but sends no more pictures.
    server.freeze();
    let msgs = sub.wait_for(long, "street stalled", |m| state_after(m, "street", "error", online).is_some());
    let down = state_after(&msgs, "street", "error", online).expect("error");
    let s = &status_of(&msgs, "street").into_iter().find(|(i, _)| *i == down).expect("status").1;
    assert_eq!(s["reason"], "stalled: no frame for 3 s", "{s}");
    assert_eq!(s["restarts"], restarts_before + 1, "one restart for the stall: {s}");
    // Torn down and connected again: a new session of the server streams again.
    let msgs = sub.wait_for(long, "street back", |m| state_after(m, "street", "online", down).is_some());
    assert!(status_of(&msgs, "yard").iter().all(|(_, s)| s["state"] != "error"), "yard was never in error");
    assert!(daemon.terminate(Duration::from_secs(60)).success(), "{}", daemon.log());
}
