//! The command connection: a second MQTT connection (client id `<id>-cmd`) that carries
//! `cmd/extract` only: requests in, the box's replies and clip chunks out.
//!
//! Policy: nothing a broker client sends can reach the connection that delivers events. Commands
//! never share it, so an oversized packet (which makes the MQTT client drop its connection), a
//! retained request (which would arrive again on every subscribe), a flood, or a slow uplink
//! filling with chunks can at worst cut or slow this connection, which reconnects on its own.
//! On arrival a request is dropped unread when it is retained, over the size the command's
//! owner allows, or when the bounded queue to it is full, each counted in [`CommandStats`]. Outgoing messages are
//! QoS 1 and at most [`WINDOW`] wait for their PUBACK: the next chunk is taken only when an
//! earlier one is acknowledged, so a slow uplink slows the sender instead of filling a queue.

use std::collections::VecDeque;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use rumqttc::{AsyncClient, Event, MqttOptions, Packet, QoS};
use tokio::sync::{mpsc, watch};

use super::Outgoing;
use super::mqtt::Broker;

/// The command to serve: its topic below the root, and the largest request it takes.
#[derive(Debug, Clone)]
pub struct Command {
    pub subtopic: &'static str,
    pub max_bytes: usize,
}

/// QoS 1 messages (replies, chunks) waiting for their PUBACK at most.
pub const WINDOW: usize = 4;

/// Without a PUBACK for this long while messages wait for one, the connection is taken for dead
/// and made again.
const STALL: Duration = Duration::from_secs(120);

/// What the command connection saw, for `stats`.
#[derive(Debug, Default)]
pub struct CommandStats {
    pub connected: AtomicBool,
    pub requests: AtomicU64,
    pub ignored_retained: AtomicU64,
    pub ignored_oversize: AtomicU64,
    /// Dropped because the extraction thread's queue was full (a flood).
    pub dropped_busy: AtomicU64,
    pub sent: AtomicU64,
}

/// [`CommandStats`] as published in `stats` (`mqtt.commands`).
#[derive(Debug, Clone, serde::Serialize)]
pub struct CommandReport {
    pub connected: bool,
    pub requests: u64,
    pub ignored_retained: u64,
    pub ignored_oversize: u64,
    pub dropped_busy: u64,
}

impl CommandStats {
    pub fn report(&self) -> CommandReport {
        CommandReport {
            connected: self.connected.load(Ordering::Relaxed),
            requests: self.requests.load(Ordering::Relaxed),
            ignored_retained: self.ignored_retained.load(Ordering::Relaxed),
            ignored_oversize: self.ignored_oversize.load(Ordering::Relaxed),
            dropped_busy: self.dropped_busy.load(Ordering::Relaxed),
        }
    }
}

/// The largest packet read: a packet over it makes the client drop the connection (and a
/// retained one would do so on every reconnect), so the limit is generous and requests over
/// the command's own limit are dropped after reading instead. Brokers should refuse packets
/// over 1 MiB (docs/deploy.md); chunks are 64 KiB plus the topic.
const MAX_INCOMING: usize = 1 << 20;
const MAX_OUTGOING: usize = 128 * 1024;

fn options(broker: &Broker) -> MqttOptions {
    let mut o = super::mqtt::base_options(broker);
    o.set_client_id(format!("{}-cmd", broker.client_id));
    o.set_max_packet_size(MAX_INCOMING, MAX_OUTGOING);
    o
}

/// Serve the command connection until `shutdown`: requests go to `requests` (bounded; a full
/// queue drops them), `replies` go to the broker. Never returns early: every failure is a lost
/// connection, made again after a capped backoff.
pub async fn run(
    broker: Broker,
    command: Command,
    requests: mpsc::Sender<Vec<u8>>,
    mut replies: mpsc::Receiver<Outgoing>,
    stats: Arc<CommandStats>,
    mut shutdown: watch::Receiver<bool>,
) {
    let topic = format!("{}/{}", broker.root, command.subtopic);
    let mut backoff = Duration::from_millis(500);
    let mut replies_open = true;
    loop {
        if *shutdown.borrow() {
            return;
        }
        let (client, mut el) = AsyncClient::new(options(&broker), 64);
        let mut inflight: VecDeque<Option<u16>> = VecDeque::new();
        let mut last_ack = tokio::time::Instant::now();
        let mut connected = false;
        let lost = loop {
            let stall = last_ack + STALL;
            tokio::select! {
                ev = el.poll() => match ev {
                    Ok(Event::Incoming(Packet::ConnAck(_))) => {
                        connected = true;
                        stats.connected.store(true, Ordering::Relaxed);
                        backoff = Duration::from_millis(500);
                        tracing::info!(topic = %topic, "command connection up");
                        if let Err(e) = client.try_subscribe(topic.clone(), QoS::AtLeastOnce) {
                            break format!("cannot subscribe: {e}");
                        }
                    }
                    Ok(Event::Incoming(Packet::Publish(p))) => {
                        if p.topic != topic {
                            continue;
                        }
                        stats.requests.fetch_add(1, Ordering::Relaxed);
                        if p.retain {
                            // A retained request would run again on every reconnect.
                            stats.ignored_retained.fetch_add(1, Ordering::Relaxed);
                            tracing::warn!(topic = %topic, "retained command ignored (clear it: mosquitto_pub -r -n -t {topic})");
                        } else if p.payload.len() > command.max_bytes {
                            stats.ignored_oversize.fetch_add(1, Ordering::Relaxed);
                            tracing::warn!(bytes = p.payload.len(), max = command.max_bytes, "command over its size limit ignored");
                        } else if requests.try_send(p.payload.to_vec()).is_err() {
                            stats.dropped_busy.fetch_add(1, Ordering::Relaxed);
                            tracing::debug!(topic = %topic, "command queue full: dropped");
                        }
                    }
                    Ok(Event::Outgoing(rumqttc::Outgoing::Publish(pkid))) if pkid != 0 => {
                        if let Some(slot) = inflight.iter_mut().find(|p| p.is_none()) {
                            *slot = Some(pkid);
                        }
                    }
                    Ok(Event::Incoming(Packet::PubAck(a))) => {
                        if let Some(i) = inflight.iter().position(|p| *p == Some(a.pkid)) {
                            inflight.remove(i);
                            stats.sent.fetch_add(1, Ordering::Relaxed);
                            last_ack = tokio::time::Instant::now();
                        }
                    }
                    Ok(_) => {}
                    Err(e) => break e.to_string(),
                },
                m = replies.recv(), if replies_open && connected && inflight.len() < WINDOW => match m {
                    Some(m) => {
                        if inflight.is_empty() {
                            last_ack = tokio::time::Instant::now();
                        }
                        if let Err(e) = client.try_publish(format!("{}/{}", broker.root, m.subtopic), QoS::AtLeastOnce, false, m.payload) {
                            break format!("cannot publish: {e}");
                        }
                        inflight.push_back(None);
                    }
                    None => replies_open = false,
                },
                _ = tokio::time::sleep_until(stall), if !inflight.is_empty() => {
                    break format!("no PUBACK for {} s", STALL.as_secs());
                }
                _ = shutdown.wait_for(|s| *s) => {
                    let _ = client.try_disconnect();
                    return;
                }
            }
        };
        stats.connected.store(false, Ordering::Relaxed);
        // What was in flight is lost: the station's fetch times out and asks again.
        tracing::warn!(in_flight = inflight.len(), retry_in = ?backoff, "command connection lost: {lost}");
        tokio::select! {
            _ = tokio::time::sleep(super::mqtt::jitter(backoff)) => {}
            _ = shutdown.wait_for(|s| *s) => return,
        }
        backoff = (backoff * 2).min(Duration::from_secs(30));
    }
}
