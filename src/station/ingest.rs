//! Ingest: every broker's `<prefix>/#` into the [`Store`].
//!
//! - **Nothing is lost while the station is away**: each broker connection is a persistent
//!   session (a fixed client id, no clean session) subscribed at QoS 1, so the broker keeps the
//!   messages that arrive meanwhile (within its own limits, `max_queued_messages`).
//! - **Nothing is lost when the station dies**: a message is acknowledged to the broker only
//!   after the transaction that stored it has committed; one not yet acknowledged is sent again.
//! - **Many messages, one transaction**: the writer thread stores what has arrived since its last
//!   commit in one transaction, so ingest keeps up with thousands of events a second.
//! - A message the station cannot read (docs/mqtt.md names every payload) is logged with its topic,
//!   counted in [`IngestStats::rejected`] and acknowledged: sending it again would not mend it.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, SystemTime};

use rumqttc::{AsyncClient, Event, Packet, Publish, QoS};
use tokio::sync::{broadcast, mpsc, watch};

use super::store::{self, Ingested, Store, StoreError};
use super::topic;
use crate::publish::mqtt::{Broker, base_options};

/// Messages waiting for the writer; a full queue holds the broker connections back (they stop
/// reading), which is what MQTT's flow control is for.
pub const QUEUE: usize = 4096;

/// What the station has taken in since it started: shown on the board.
#[derive(Debug, Default)]
pub struct IngestStats {
    pub received: AtomicU64,
    pub duplicates: AtomicU64,
    pub rejected: AtomicU64,
    pub ignored: AtomicU64,
    /// Per broker, whether its connection is up.
    pub connected: Vec<AtomicBool>,
}

impl IngestStats {
    pub fn new(brokers: usize) -> Self {
        Self { connected: (0..brokers).map(|_| AtomicBool::new(false)).collect(), ..Default::default() }
    }
}

/// One message on its way to the writer, with where to send it back for acknowledgement.
pub struct Incoming {
    /// Which of the station's brokers it came through.
    pub broker: usize,
    pub prefix: Arc<str>,
    pub publish: Publish,
    pub acks: mpsc::UnboundedSender<Publish>,
}

/// Connects to `broker` and forwards every message under `prefix` to `queue` until `shutdown`.
/// Never gives up: a lost connection is made again after a capped backoff, and the persistent
/// session brings what arrived meanwhile.
///
/// Flow: one message at a time waits for room in `queue` before the connection is read again,
/// so a writer that falls behind holds the broker back (it keeps the rest for the session);
/// acknowledgements come back from the writer on a channel of their own and are handed to the
/// client whenever it has room, so the writer never waits on the connection, which may itself
/// be waiting on the writer.
pub async fn subscribe(
    index: usize,
    broker: Broker,
    prefix: String,
    queue: mpsc::Sender<Incoming>,
    stats: Arc<IngestStats>,
    mut shutdown: watch::Receiver<bool>,
) {
    let prefix: Arc<str> = prefix.into();
    let filter = format!("{prefix}/#");
    let mut o = base_options(&broker);
    o.set_clean_session(false);
    o.set_manual_acks(true);
    let (client, mut el) = AsyncClient::new(o, 1024);
    let (ack_tx, mut ack_rx) = mpsc::unbounded_channel::<Publish>();
    let mut acks: std::collections::VecDeque<Publish> = std::collections::VecDeque::new();
    let mut waiting: Option<Incoming> = None;
    let mut backoff = Duration::from_millis(500);
    loop {
        tokio::select! {
            biased;
            _ = shutdown.changed() => {
                let _ = client.try_disconnect();
                return;
            }
            Some(p) = ack_rx.recv() => acks.push_back(p),
            permit = queue.reserve(), if waiting.is_some() => match (permit, waiting.take()) {
                (Ok(permit), Some(m)) => permit.send(m),
                _ => return,
            },
            ev = el.poll(), if waiting.is_none() => match ev {
                Ok(Event::Incoming(Packet::ConnAck(ack))) => {
                    backoff = Duration::from_millis(500);
                    stats.connected[index].store(true, Ordering::Relaxed);
                    tracing::info!(broker = %broker.address(), filter = %filter, resumed = ack.session_present, "station connected");
                    // Subscribing again on a resumed session is harmless and covers a broker that
                    // lost the session.
                    if let Err(e) = client.try_subscribe(filter.clone(), QoS::AtLeastOnce) {
                        tracing::warn!(broker = %broker.address(), "cannot subscribe: {e}");
                    }
                }
                Ok(Event::Incoming(Packet::Publish(p))) => {
                    stats.received.fetch_add(1, Ordering::Relaxed);
                    waiting = Some(Incoming { broker: index, prefix: Arc::clone(&prefix), publish: p, acks: ack_tx.clone() });
                }
                Ok(_) => {}
                Err(e) => {
                    stats.connected[index].store(false, Ordering::Relaxed);
                    tracing::warn!(broker = %broker.address(), "station connection lost: {e}; again in {:.1} s", backoff.as_secs_f64());
                    tokio::select! {
                        _ = tokio::time::sleep(backoff) => {}
                        _ = shutdown.changed() => return,
                    }
                    backoff = (backoff * 2).min(Duration::from_secs(30));
                }
            },
        }
        // Into the client's queue as far as it has room; the rest at the next turn.
        while let Some(p) = acks.front() {
            if client.try_ack(p).is_err() {
                break;
            }
            acks.pop_front();
        }
    }
}

/// The writer: stores what `queue` brings in batches, acknowledges each message after its
/// batch committed, and sends every new rule event to `alerts`. Runs on its own thread until
/// every sender is gone.
pub fn write(
    mut store: Store,
    mut queue: mpsc::Receiver<Incoming>,
    alerts: broadcast::Sender<store::EventRow>,
    stats: Arc<IngestStats>,
    db: std::path::PathBuf,
) {
    // None: prune at the first batch. (Not "now minus an hour": the monotonic clock starts at
    // boot, and a station started by systemd at boot would have no hour to subtract.)
    let mut last_prune: Option<std::time::Instant> = None;
    let mut batch: Vec<Incoming> = Vec::with_capacity(256);
    while let Some(first) = queue.blocking_recv() {
        batch.push(first);
        while batch.len() < 256 {
            match queue.try_recv() {
                Ok(m) => batch.push(m),
                Err(_) => break,
            }
        }
        let received = crate::event::rfc3339(SystemTime::now());
        let done = store.batch(|b| {
            let mut new_alerts = Vec::new();
            for m in &batch {
                let p = &m.publish;
                let Some(t) = topic::parse(&m.prefix, &p.topic) else {
                    stats.ignored.fetch_add(1, Ordering::Relaxed);
                    continue;
                };
                let r = b.ingest(&t, &p.payload, p.retain, &received);
                if t.what == topic::What::BoxStatus && r.is_ok() {
                    b.set_broker(&t.root, m.broker)?;
                }
                match r {
                    Ok(Ingested::Duplicate) => {
                        stats.duplicates.fetch_add(1, Ordering::Relaxed);
                    }
                    Ok(Ingested::Event { event_id, start: true }) => new_alerts.push(event_id),
                    Ok(Ingested::Unmatched) => {
                        stats.ignored.fetch_add(1, Ordering::Relaxed);
                    }
                    Ok(_) => {}
                    Err(StoreError::Bad(why)) => {
                        stats.rejected.fetch_add(1, Ordering::Relaxed);
                        tracing::warn!(topic = %p.topic, "message dropped: {why}");
                    }
                    Err(StoreError::Db(e)) => return Err(e),
                }
            }
            Ok(new_alerts)
        });
        match done {
            Ok(new) => {
                for m in batch.drain(..) {
                    // Fails only when the connection's task is gone: the broker then sends the
                    // message again on the next connection.
                    let _ = m.acks.send(m.publish);
                }
                if alerts.receiver_count() > 0 && !new.is_empty() {
                    announce(&db, &new, &alerts);
                }
            }
            Err(e) => {
                // Not acknowledged: the broker delivers these again on the next connection.
                tracing::error!("cannot store {} messages: {e}", batch.len());
                batch.clear();
                std::thread::sleep(Duration::from_secs(1));
            }
        }
        if last_prune.is_none_or(|t| t.elapsed() > Duration::from_secs(3600)) {
            last_prune = Some(std::time::Instant::now());
            match store.prune_seen(&crate::event::rfc3339(SystemTime::now())) {
                Ok(n) if n > 0 => tracing::info!("forgot {n} message ids older than {} days", store::SEEN_DAYS),
                Ok(_) => {}
                Err(e) => tracing::warn!("cannot forget old message ids: {e}"),
            }
        }
    }
}

/// Sends the rule events among `new` to the live alert pages.
fn announce(db: &std::path::Path, new: &[String], alerts: &broadcast::Sender<store::EventRow>) {
    let Ok(conn) = store::open_reader(db) else { return };
    for id in new {
        if let Ok(Some(e)) = store::event(&conn, id)
            && e.is_alert()
        {
            let _ = alerts.send(e);
        }
    }
}
