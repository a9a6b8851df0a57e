//! The MQTT connection (rumqttc): connect and reconnect with capped backoff, Last Will, status,
//! delivery of the outbox (a row leaves it only when its PUBACK arrives), and a bounded drain on
//! shutdown.

use std::collections::VecDeque;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use anyhow::{Context, Result, anyhow};
use rumqttc::{AsyncClient, Event, LastWill, MqttOptions, Packet, QoS};
use tokio::sync::mpsc::Receiver;
use tokio::sync::watch;

use super::Outgoing;
use super::discovery::{self, Announce, Announcer, Step};
use super::outbox::Outbox;
use super::snapshots::{self, SnapshotFeed};
use crate::health::status::{self, CameraState, CameraStatus, Published};

pub const ONLINE: &[u8] = b"online";
pub const OFFLINE: &[u8] = b"offline";

/// Connection counters, shared with the stats reporter.
#[derive(Debug, Default)]
pub struct LinkStats {
    pub connected: AtomicBool,
    pub connects: AtomicU64,
    /// Connection attempts that did not reach the broker (refused, unreachable, timed out, or
    /// the broker refused the login).
    pub connect_failures: AtomicU64,
    /// QoS 1 messages handed to the client, and acknowledged by the broker.
    pub sent_qos1: AtomicU64,
    pub acked: AtomicU64,
    /// Turns while the publisher's loop turns (at least every [`BEAT`]), connected or not: the
    /// systemd watchdog is pinged only while it does.
    pub beat: AtomicU64,
    /// Errors that cost a connection (a refused publish, an outbox that could not be read) and
    /// acknowledgements the outbox could not store yet (retried).
    pub errors: AtomicU64,
    /// The command connection's ([`super::commands`]).
    pub commands: Arc<super::commands::CommandStats>,
}

/// The publisher's loop turns at least this often.
pub const BEAT: Duration = Duration::from_secs(5);

/// Without a PUBACK for this long while messages wait for one, the connection is taken for dead
/// and made again (a half-open TCP link, a broker that stopped answering).
const STALL: Duration = Duration::from_secs(120);

impl LinkStats {
    fn beat(&self) {
        self.beat.fetch_add(1, Ordering::Relaxed);
    }
}

fn qos(q: u8) -> QoS {
    match q {
        0 => QoS::AtMostOnce,
        1 => QoS::AtLeastOnce,
        _ => QoS::ExactlyOnce,
    }
}

/// The broker and how this box reaches it, resolved from `[mqtt]` (files read, defaults filled)
/// by `crate::config::Config::broker`. No `Debug`: it holds the password.
#[derive(Clone)]
pub struct Broker {
    pub host: String,
    pub port: u16,
    pub client_id: String,
    pub keep_alive: Duration,
    /// Username and password, for a broker that asks for them.
    pub credentials: Option<(String, String)>,
    /// TLS with its certificates read; None for plain TCP.
    pub tls: Option<Arc<rustls::ClientConfig>>,
    /// `<prefix>/<site>/<device>`: the root of every topic this box publishes.
    pub root: String,
}

impl Broker {
    /// `host:port`, with `mqtts://` in front over TLS: for logs.
    pub fn address(&self) -> String {
        format!("{}{}:{}", if self.tls.is_some() { "mqtts://" } else { "" }, self.host, self.port)
    }
}

/// The event connection's settings: [`base_options`] and `offline` as its last will.
pub fn options(broker: &Broker) -> MqttOptions {
    let mut o = base_options(broker);
    o.set_last_will(LastWill::new(format!("{}/status", broker.root), OFFLINE, QoS::AtLeastOnce, true));
    o
}

/// Broker, credentials, TLS, keep-alive and packet limits: what every connection of the box shares.
pub fn base_options(broker: &Broker) -> MqttOptions {
    let mut o = MqttOptions::new(broker.client_id.clone(), broker.host.clone(), broker.port);
    o.set_keep_alive(broker.keep_alive);
    // A clean session: what was in flight when a link dropped is sent again from the outbox
    // (same message id), not replayed by the MQTT session; see `run`.
    o.set_clean_session(true);
    o.set_max_packet_size(MAX_PACKET, MAX_PACKET);
    if let Some((user, password)) = &broker.credentials {
        o.set_credentials(user.clone(), password.clone());
    }
    if let Some(tls) = &broker.tls {
        o.set_transport(rumqttc::Transport::tls_with_config(rumqttc::TlsConfiguration::Rustls(Arc::clone(tls))));
    }
    o
}

/// The largest packet sent or accepted; [`snapshots::MAX_BYTES`] keeps pictures below it.
const MAX_PACKET: usize = 1 << 20;

/// At most this many QoS 1 messages wait for their PUBACK at a time (below rumqttc's own limit
/// of 100, so its packet ids never collide with an unacknowledged one).
const WINDOW: usize = 64;

/// Acknowledged rows are removed from the outbox in one transaction per this many, or after
/// `ACK_FLUSH` at the latest: one fsync per PUBACK would cap the drain rate at the disk's.
const ACK_BATCH: usize = 32;
const ACK_FLUSH: Duration = Duration::from_millis(50);

/// A QoS 1 publish waiting for its PUBACK.
struct Flight {
    /// The outbox row, or None for a status message.
    seq: Option<i64>,
    /// Known once rumqttc has written the packet (`Outgoing::Publish(pkid)`), in request order.
    pkid: Option<u16>,
    offline: bool,
    /// (camera, event id) of a `<camera>/snapshot` picture.
    snapshot: Option<(String, String)>,
}

/// The retained states the box keeps current, newest wins (not through the outbox): each
/// camera's status, its newest event snapshot when publishing snapshots is on, and what the
/// box announces to Home Assistant (`None` without discovery).
pub struct States {
    pub cams: watch::Receiver<status::Snapshot>,
    pub snapshots: Option<SnapshotFeed>,
    pub announce: watch::Receiver<Option<Announce>>,
    /// Where what the box announced is remembered across connections and restarts
    /// (`<data_dir>/discovery.json`, see [`discovery::Memory`]).
    pub memory: PathBuf,
}

/// The next change of an optional `watch`; never, when there is none.
async fn next_change<T>(rx: &mut Option<watch::Receiver<T>>) -> bool {
    match rx {
        Some(rx) => rx.changed().await.is_ok(),
        None => std::future::pending().await,
    }
}

/// Deliver the outbox to the broker until shutdown; QoS 0 messages from `rx` (stats) go out
/// while connected and are dropped while away or when the client's queue is full. Of `states`,
/// the camera states are published on every connection and each change; each camera's newest
/// snapshot once the outbox is empty (see [`snapshots`]).
///
/// Each connection gets a fresh rumqttc client and event loop, and starts again from the oldest
/// row in the outbox: the outbox, not the MQTT session, is what survives a lost link, so
/// nothing queued inside rumqttc for a dead connection can be confused with the new one. A row is
/// removed only when the PUBACK carrying its packet id arrives.
///
/// It never gives up before shutdown: a publish the client refuses, an outbox that cannot be
/// read, or no PUBACK for [`STALL`] cost the connection, which is made again after a backoff;
/// acknowledgements the outbox cannot store (busy, disk full) are kept and stored later, and
/// their rows are not sent again meanwhile.
///
/// Once `shutdown` turns true the outbox is drained (at most `drain_timeout`), `offline` is
/// published and the connection closed. Returns how many events were left in the outbox: they
/// stay on disk and are delivered after the next start.
pub async fn run(
    broker: &Broker,
    outbox: Arc<Outbox>,
    rx: Receiver<Outgoing>,
    states: States,
    link: Arc<LinkStats>,
    mut shutdown: watch::Receiver<bool>,
    drain_timeout: Duration,
) -> Result<u64> {
    let root = broker.root.clone();
    let address = broker.address();
    let status_topic = format!("{root}/status");
    let mut stop = shutdown.clone();
    // Resolves `drain_timeout` after shutdown began.
    let deadline = async move {
        let _ = shutdown.wait_for(|s| *s).await;
        tokio::time::sleep(drain_timeout).await;
    };
    tokio::pin!(deadline);

    let mut stopping = false;
    let mut timed_out = false;
    let mut q0 = Qos0 { rx, open: true };
    let mut backoff = Duration::from_millis(500);
    let mut failures = 0u32;
    let mut acks = Acks::default();
    let States { mut cams, snapshots: snaps, mut announce, memory } = states;
    let snap_interval = snaps.as_ref().map_or(Duration::ZERO, |f| f.min_interval);
    let mut snap_rx = snaps.map(|f| f.rx);
    let mut snaps_open = snap_rx.is_some();
    let mut snaps_sent = snapshots::Sent::default();
    // What discovery has announced, across connections and restarts (what left is removed).
    let mut announcer = Announcer::new(discovery::load(&memory));
    let mut remembered = announcer.memory().clone();
    // Kept for the next start whenever it changes (tried again at the next change or connection
    // while it cannot be written); a memory that cannot be written costs only the removal of
    // what leaves the config while the box is stopped.
    let mut remember = |announcer: &Announcer| {
        if *announcer.memory() != remembered {
            match discovery::save(&memory, announcer.memory()) {
                Ok(()) => remembered = announcer.memory().clone(),
                Err(e) => {
                    tracing::warn!(path = %memory.display(), "[mqtt.discovery] cannot keep what was announced: {e:#}")
                }
            }
        }
    };
    let mut announce_open = true;
    let flush = |acks: &mut Acks| acks.flush(&outbox, &link);
    let mut heartbeat = tokio::time::interval(BEAT);
    heartbeat.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);

    'conn: loop {
        link.beat();
        stopping |= *stop.borrow();
        if (stopping && outbox.is_empty()) || timed_out {
            break;
        }
        let (client, mut el) = AsyncClient::new(options(broker), 1024);

        // Connect.
        let error = loop {
            link.beat();
            tokio::select! {
                ev = el.poll() => match ev {
                    Ok(Event::Incoming(Packet::ConnAck(_))) => break None,
                    Ok(_) => {}
                    Err(e) => break Some(e),
                },
                _ = &mut deadline => break 'conn,
                // Nothing else here: cancelling `poll` before the CONNACK drops the connection
                // being made (rumqttc's connect is not cancel-safe). A connect attempt ends
                // within the client's connection timeout, and the backoff after it beats.
            }
        };
        // Stats queued while connecting are stale: not kept.
        while q0.rx.try_recv().is_ok() {}
        if let Some(e) = error {
            failures += 1;
            link.connect_failures.fetch_add(1, Ordering::Relaxed);
            tracing::debug!(broker = %address, attempt = failures, "MQTT connection attempt failed: {e}");
            // Log the first failure and then every tenth, not every retry.
            if failures == 1 || failures.is_multiple_of(10) {
                tracing::warn!(broker = %address, attempt = failures, retry_in = ?backoff, waiting = outbox.len(), "MQTT broker not reachable: {e}");
            }
            if !wait_backoff(backoff, &mut q0, &mut stop, &mut stopping, deadline.as_mut(), &outbox, &link).await {
                break 'conn;
            }
            backoff = (backoff * 2).min(Duration::from_secs(30));
            continue;
        }

        link.connected.store(true, Ordering::Relaxed);
        link.connects.fetch_add(1, Ordering::Relaxed);
        tracing::info!(broker = %address, waiting = outbox.len(), "connected to MQTT broker");
        failures = 0;
        backoff = Duration::from_millis(500);

        let mut inflight: VecDeque<Flight> = VecDeque::new();
        let mut cursor = 0i64; // the last outbox row sent on this connection
        let mut ack_due: Option<tokio::time::Instant> = None;
        let mut offline_sent = false;
        let mut hard_stop: Option<tokio::time::Instant> = None;
        let send = |inflight: &mut VecDeque<Flight>,
                    topic: String,
                    q: u8,
                    retain: bool,
                    payload: Vec<u8>,
                    seq: Option<i64>,
                    offline: bool|
         -> Result<()> {
            if let Err(e) = client.try_publish(topic, qos(q), retain, payload) {
                if q == 0 {
                    tracing::debug!("QoS 0 message dropped: {e}");
                    return Ok(());
                }
                return Err(anyhow!("the MQTT client refused a publish: {e}"));
            }
            if q >= 1 {
                link.sent_qos1.fetch_add(1, Ordering::Relaxed);
                inflight.push_back(Flight { seq, pkid: None, offline, snapshot: None });
            }
            Ok(())
        };
        // Every camera's latest state on each connection, then each change as it happens.
        let mut published = Published::default();
        let mut cams_open = true;
        let send_cams = |inflight: &mut VecDeque<Flight>, due: Vec<(String, CameraStatus)>| -> Result<()> {
            for (id, st) in due {
                send(inflight, format!("{root}/{id}/status"), 1, true, st.to_json(), None, false)?;
            }
            Ok(())
        };
        let discover = |inflight: &mut VecDeque<Flight>, steps: Vec<Step>| -> Result<()> {
            for step in steps {
                match step {
                    Step::Subscribe(topic) => client
                        .try_subscribe(topic, QoS::AtLeastOnce)
                        .context("cannot subscribe to Home Assistant's status")?,
                    Step::Publish(topic, payload) => send(inflight, topic, 1, true, payload, None, false)?,
                }
            }
            Ok(())
        };
        snaps_sent.new_connection();
        // Clean shutdown: every camera `offline` (keeping its restart count), before the box's own.
        // One already offline (its file ended) keeps its reason.
        let cams_offline = |inflight: &mut VecDeque<Flight>, cams: &watch::Receiver<status::Snapshot>| -> Result<()> {
            let snap = cams.borrow().clone();
            send_cams(
                inflight,
                snap.into_iter()
                    .map(|(id, s)| match s.state {
                        CameraState::Offline if s.reason.as_deref() != Some("starting") => (id, s),
                        _ => (id, CameraStatus::new(CameraState::Offline, Some("shutdown".into()), s.restarts)),
                    })
                    .collect(),
            )
        };

        let mut last_ack = tokio::time::Instant::now();
        // Err: a failure that costs this connection (never the publisher).
        let lost: Result<Option<rumqttc::ConnectionError>> = async {
        send(&mut inflight, status_topic.clone(), 1, true, ONLINE.to_vec(), None, false)?;
        // Home Assistant discovery, on every connection (a clean session forgets subscriptions).
        announcer.connected();
        let now = announce.borrow_and_update().clone();
        discover(&mut inflight, announcer.update(now.as_ref()))?;
        remember(&announcer);
        let snap = cams.borrow_and_update().clone();
        send_cams(&mut inflight, published.due(&snap))?;
        loop {
            link.beat();
            // Fill the window, oldest rows first (the order of insertion, so per camera too).
            while !offline_sent && inflight.len() < WINDOW {
                let batch = outbox.next_batch(cursor, WINDOW - inflight.len()).context("cannot read the outbox")?;
                if batch.is_empty() {
                    break;
                }
                for row in batch {
                    cursor = row.seq;
                    if acks.pending.contains(&row.seq) {
                        continue; // delivered; its removal failed and is retried
                    }
                    let r = row.record;
                    send(
                        &mut inflight,
                        format!("{root}/{}", r.subtopic),
                        r.qos,
                        r.retain,
                        r.payload,
                        Some(row.seq),
                        false,
                    )?;
                    if r.qos == 0 {
                        acks.pending.push(row.seq); // nothing will acknowledge it
                    }
                }
            }
            if stopping {
                flush(&mut acks);
            }
            // Snapshots once no event waits (live events first), before `offline` when stopping.
            let mut snap_wake: Option<std::time::Instant> = None;
            if !offline_sent
                && outbox.is_empty()
                && let Some(rx) = &snap_rx
            {
                let latest = rx.borrow().clone();
                let (due, wake) = snaps_sent.due(&latest, std::time::Instant::now(), snap_interval, stopping);
                snap_wake = wake;
                for (cam, l) in due {
                    send(
                        &mut inflight,
                        format!("{root}/{cam}/snapshot/info"),
                        1,
                        true,
                        l.info_json(&cam),
                        None,
                        false,
                    )?;
                    send(&mut inflight, format!("{root}/{cam}/snapshot"), 1, true, l.jpeg.to_vec(), None, false)?;
                    if let Some(f) = inflight.back_mut() {
                        f.snapshot = Some((cam, l.event_id));
                    }
                }
            }
            // Shutting down and everything delivered: say offline, then leave once it is acknowledged.
            if stopping && !offline_sent && outbox.is_empty() && inflight.iter().all(|f| f.seq.is_none()) {
                cams_offline(&mut inflight, &cams)?;
                send(&mut inflight, status_topic.clone(), 1, true, OFFLINE.to_vec(), None, true)?;
                offline_sent = true;
                hard_stop.get_or_insert(tokio::time::Instant::now() + Duration::from_secs(2));
            }
            if offline_sent && !inflight.iter().any(|f| f.offline) {
                break Ok(None);
            }
            let now = tokio::time::Instant::now();
            if inflight.is_empty() {
                last_ack = now;
            }
            tokio::select! {
                ev = el.poll() => match ev {
                    Ok(Event::Outgoing(rumqttc::Outgoing::Publish(pkid))) if pkid != 0 => {
                        if let Some(f) = inflight.iter_mut().find(|f| f.pkid.is_none()) {
                            f.pkid = Some(pkid);
                        }
                    }
                    Ok(Event::Incoming(Packet::PubAck(a))) => match inflight.iter().position(|f| f.pkid == Some(a.pkid)) {
                        Some(i) => {
                            last_ack = now;
                            link.acked.fetch_add(1, Ordering::Relaxed);
                            let f = inflight.remove(i);
                            if let Some(seq) = f.as_ref().and_then(|f| f.seq) {
                                acks.pending.push(seq);
                                ack_due.get_or_insert(now + ACK_FLUSH);
                            }
                            if let Some((cam, event_id)) = f.and_then(|f| f.snapshot) {
                                snaps_sent.acked(&cam, &event_id);
                            }
                        }
                        None => tracing::warn!(pkid = a.pkid, "PUBACK for a packet not in flight; ignored"),
                    },
                    // Home Assistant (re)started: it asks for the configs again.
                    Ok(Event::Incoming(Packet::Publish(p))) if !offline_sent => {
                        let now = announce.borrow().clone();
                        discover(&mut inflight, announcer.birth(&p.topic, &p.payload, now.as_ref()).into_iter().collect())?;
                    }
                    Ok(_) => {}
                    Err(e) => break Ok(Some(e)),
                },
                // A reload changed what the box announces.
                r = announce.changed(), if announce_open && !offline_sent => match r {
                    Ok(()) => {
                        let now = announce.borrow_and_update().clone();
                        discover(&mut inflight, announcer.update(now.as_ref()))?;
                        remember(&announcer);
                    }
                    Err(_) => announce_open = false,
                },
                _ = outbox.pushed(), if !offline_sent => {} // new rows: the window is filled above
                r = cams.changed(), if cams_open && !offline_sent => match r {
                    Ok(()) => {
                        let snap = cams.borrow_and_update().clone();
                        send_cams(&mut inflight, published.due(&snap))?;
                    }
                    Err(_) => cams_open = false,
                },
                // A new snapshot: published at the top of the loop, if it may go now.
                ok = next_change(&mut snap_rx), if snaps_open && !offline_sent => match (ok, &mut snap_rx) {
                    (true, Some(rx)) => {
                        rx.borrow_and_update();
                    }
                    _ => snaps_open = false,
                },
                _ = tokio::time::sleep_until(snap_wake.map_or(now, tokio::time::Instant::from_std)), if snap_wake.is_some() => {}
                m = q0.rx.recv(), if q0.open => match m {
                    Some(m) => send(&mut inflight, format!("{root}/{}", m.subtopic), m.qos, m.retain, m.payload, None, false)?,
                    None => q0.open = false,
                },
                _ = tokio::time::sleep_until(ack_due.unwrap_or(now)), if ack_due.is_some() => {
                    flush(&mut acks);
                    ack_due = acks.next_try(now);
                }
                _ = tokio::time::sleep_until(last_ack + STALL), if !inflight.is_empty() => {
                    break Err(anyhow!("no PUBACK for {} s with {} messages in flight", STALL.as_secs(), inflight.len()));
                }
                _ = heartbeat.tick() => {}
                _ = stop.wait_for(|s| *s), if !stopping => stopping = true,
                // Out of time: what is left stays in the outbox; still try to say offline.
                _ = &mut deadline, if !timed_out => {
                    timed_out = true;
                    stopping = true;
                    if !offline_sent {
                        cams_offline(&mut inflight, &cams)?;
                        send(&mut inflight, status_topic.clone(), 1, true, OFFLINE.to_vec(), None, true)?;
                        offline_sent = true;
                    }
                    hard_stop = Some(tokio::time::Instant::now() + Duration::from_secs(2));
                }
                _ = tokio::time::sleep_until(hard_stop.unwrap_or(now)), if hard_stop.is_some() => break Ok(None),
            }
            if acks.pending.len() >= ACK_BATCH {
                flush(&mut acks);
                ack_due = acks.next_try(now);
            }
        }
        }
        .await;
        flush(&mut acks);
        link.connected.store(false, Ordering::Relaxed);
        let lost = match lost {
            Ok(e) => e.map(|e| e.to_string()),
            Err(e) => {
                link.errors.fetch_add(1, Ordering::Relaxed);
                Some(format!("{e:#}; the publisher starts a new connection"))
            }
        };
        match lost {
            Some(e) => {
                // The rows in flight are still in the outbox: the next connection sends them again.
                tracing::warn!(broker = %address, in_flight = inflight.len(), waiting = outbox.len(), "MQTT connection lost: {e}");
                if !wait_backoff(backoff, &mut q0, &mut stop, &mut stopping, deadline.as_mut(), &outbox, &link).await {
                    break 'conn;
                }
                backoff = (backoff * 2).min(Duration::from_secs(30));
            }
            None => {
                let _ = client.try_disconnect();
                let _ = tokio::time::timeout(Duration::from_secs(1), async {
                    loop {
                        match el.poll().await {
                            Ok(Event::Outgoing(rumqttc::Outgoing::Disconnect)) | Err(_) => break,
                            Ok(_) => {}
                        }
                    }
                })
                .await;
                break;
            }
        }
    }
    flush(&mut acks);
    Ok(outbox.len())
}

/// Outbox rows the broker acknowledged, not yet removed from the outbox.
#[derive(Default)]
struct Acks {
    pending: Vec<i64>,
    /// After a failed removal (SQLite busy, disk full): not before this.
    retry_at: Option<tokio::time::Instant>,
}

/// After a failed removal, the next try waits this long.
const ACK_RETRY: Duration = Duration::from_secs(1);

impl Acks {
    /// Remove the pending rows from the outbox; on failure they are kept for the next try, not
    /// before [`ACK_RETRY`] (and skipped when filling the window, so they are not sent twice).
    fn flush(&mut self, outbox: &Outbox, link: &LinkStats) {
        if self.pending.is_empty() || self.retry_at.is_some_and(|t| tokio::time::Instant::now() < t) {
            return;
        }
        match outbox.ack(&self.pending) {
            Ok(_) => {
                self.pending.clear();
                self.retry_at = None;
            }
            Err(e) => {
                link.errors.fetch_add(1, Ordering::Relaxed);
                self.retry_at = Some(tokio::time::Instant::now() + ACK_RETRY);
                tracing::warn!(
                    pending = self.pending.len(),
                    "cannot remove acknowledged events from the outbox yet: {e:#}"
                );
            }
        }
    }

    /// When to flush next, if anything is pending.
    fn next_try(&self, now: tokio::time::Instant) -> Option<tokio::time::Instant> {
        (!self.pending.is_empty()).then(|| self.retry_at.unwrap_or(now + ACK_FLUSH))
    }
}

/// The QoS 0 messages (stats) and whether their sender is still there.
struct Qos0 {
    rx: Receiver<Outgoing>,
    open: bool,
}

/// Wait out a reconnect backoff (with jitter), dropping QoS 0 messages meanwhile. False when
/// the publisher should give up instead: shutdown with nothing left to deliver, or the drain
/// deadline passed.
async fn wait_backoff(
    backoff: Duration,
    q0: &mut Qos0,
    stop: &mut watch::Receiver<bool>,
    stopping: &mut bool,
    mut deadline: std::pin::Pin<&mut impl std::future::Future<Output = ()>>,
    outbox: &Outbox,
    link: &LinkStats,
) -> bool {
    let pause = tokio::time::sleep(jitter(backoff));
    tokio::pin!(pause);
    let mut heartbeat = tokio::time::interval(BEAT);
    heartbeat.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        link.beat();
        tokio::select! {
            _ = heartbeat.tick() => {}
            _ = &mut pause => return true,
            m = q0.rx.recv(), if q0.open => q0.open = m.is_some(),
            _ = stop.wait_for(|s| *s), if !*stopping => {
                *stopping = true;
                if outbox.is_empty() {
                    return false;
                }
            }
            _ = &mut deadline => return false,
        }
    }
}

/// ±25 % so that many boxes losing the same uplink do not reconnect in lockstep.
pub(crate) fn jitter(d: Duration) -> Duration {
    let nanos =
        std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|t| t.subsec_nanos()).unwrap_or(0);
    let f = 0.75 + (nanos % 1000) as f64 / 2000.0;
    d.mul_f64(f)
}
