//! The MQTT connection (rumqttc): connect and reconnect with capped backoff, Last Will, status,
//! and a drain on shutdown that waits for the broker to acknowledge what was sent.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use anyhow::{Result, anyhow};
use rumqttc::{AsyncClient, Event, LastWill, MqttOptions, Packet, QoS};
use tokio::sync::mpsc::UnboundedReceiver;
use tokio::sync::watch;

use super::Outgoing;
use crate::config::Config;

pub const ONLINE: &[u8] = b"online";
pub const OFFLINE: &[u8] = b"offline";

/// Connection counters, shared with the stats reporter.
#[derive(Debug, Default)]
pub struct LinkStats {
    pub connected: AtomicBool,
    pub connects: AtomicU64,
    /// QoS 1 messages handed to the client, and acknowledged by the broker.
    pub sent_qos1: AtomicU64,
    pub acked: AtomicU64,
}

fn qos(q: u8) -> QoS {
    match q {
        0 => QoS::AtMostOnce,
        1 => QoS::AtLeastOnce,
        _ => QoS::ExactlyOnce,
    }
}

/// Connection settings from the config.
pub fn options(cfg: &Config) -> MqttOptions {
    let m = &cfg.mqtt;
    let mut o = MqttOptions::new(cfg.client_id(), m.host.0.clone(), m.port.0);
    o.set_keep_alive(Duration::from_secs(m.keep_alive_s.0));
    // A persistent session: messages in flight when the link drops are sent again after the
    // reconnect instead of being discarded (the broker de-duplicates nothing; the station can,
    // by the message id).
    o.set_clean_session(false);
    o.set_max_packet_size(1 << 20, 1 << 20);
    if let Some(user) = &m.username {
        o.set_credentials(user.clone(), m.password.clone().unwrap_or_default());
    }
    o.set_last_will(LastWill::new(format!("{}/status", cfg.topic_root()), OFFLINE, QoS::AtLeastOnce, true));
    o
}

/// Run the connection until `rx` is closed and drained, then publish `offline` and disconnect.
/// Once `shutdown` turns true, everything left must be done within `drain_timeout` (a broker
/// that is away must not hold the process forever). Returns the number of QoS 1 messages that
/// were not acknowledged (or not even sent) by then.
pub async fn run(
    cfg: &Config,
    mut rx: UnboundedReceiver<Outgoing>,
    link: Arc<LinkStats>,
    mut shutdown: watch::Receiver<bool>,
    drain_timeout: Duration,
) -> Result<u64> {
    let root = cfg.topic_root();
    let (client, mut eventloop) = AsyncClient::new(options(cfg), 1024);
    let broker = format!("{}:{}", cfg.mqtt.host.0, cfg.mqtt.port.0);

    // The event loop runs on its own task: it connects, reconnects and counts acknowledgements.
    let (acked_tx, acked_rx) = watch::channel(0u64);
    let loop_link = Arc::clone(&link);
    let loop_client = client.clone();
    let status_topic = format!("{root}/status");
    let driver = tokio::spawn(async move {
        let mut backoff = Duration::from_millis(500);
        let mut failures = 0u32;
        loop {
            match eventloop.poll().await {
                Ok(Event::Incoming(Packet::ConnAck(_))) => {
                    loop_link.connected.store(true, Ordering::Relaxed);
                    loop_link.connects.fetch_add(1, Ordering::Relaxed);
                    tracing::info!(broker = %broker, "connected to MQTT broker");
                    failures = 0;
                    backoff = Duration::from_millis(500);
                    if loop_client.try_publish(&status_topic, QoS::AtLeastOnce, true, ONLINE).is_ok() {
                        loop_link.sent_qos1.fetch_add(1, Ordering::Relaxed);
                    }
                }
                Ok(Event::Incoming(Packet::PubAck(_))) => {
                    let n = loop_link.acked.fetch_add(1, Ordering::Relaxed) + 1;
                    let _ = acked_tx.send(n);
                }
                Ok(Event::Outgoing(rumqttc::Outgoing::Disconnect)) => break,
                Ok(_) => {}
                Err(e) => {
                    loop_link.connected.store(false, Ordering::Relaxed);
                    if matches!(e, rumqttc::ConnectionError::RequestsDone) {
                        break;
                    }
                    failures += 1;
                    // Log the first failure and then every tenth, not every retry.
                    if failures == 1 || failures.is_multiple_of(10) {
                        tracing::warn!(broker = %broker, attempt = failures, retry_in = ?backoff, "MQTT broker not reachable: {e}");
                    }
                    tokio::time::sleep(jitter(backoff)).await;
                    backoff = (backoff * 2).min(Duration::from_secs(30));
                }
            }
        }
    });

    // Resolves `drain_timeout` after shutdown began.
    let deadline = async move {
        let _ = shutdown.wait_for(|s| *s).await;
        tokio::time::sleep(drain_timeout).await;
    };
    tokio::pin!(deadline);
    let mut unsent = 0u64;
    loop {
        let msg = tokio::select! {
            m = rx.recv() => match m { Some(m) => m, None => break },
            _ = &mut deadline => break,
        };
        let topic = format!("{root}/{}", msg.subtopic);
        if msg.qos >= 1 {
            link.sent_qos1.fetch_add(1, Ordering::Relaxed);
        }
        tokio::select! {
            r = client.publish(topic, qos(msg.qos), msg.retain, msg.payload) => r.map_err(|e| anyhow!("MQTT client stopped: {e}"))?,
            _ = &mut deadline => { unsent += 1; break }
        }
    }
    // Whatever is still queued when time ran out is not going to make it.
    rx.close();
    while let Ok(m) = rx.try_recv() {
        unsent += u64::from(m.qos >= 1);
    }

    // Everything is queued: wait for the broker to acknowledge it, then say goodbye.
    let acked_rx = acked_rx;
    let wait_acks = |target: u64, mut acked_rx: watch::Receiver<u64>| async move {
        let _ = tokio::time::timeout(drain_timeout, acked_rx.wait_for(|n| *n >= target)).await;
        acked_rx
    };
    let acked_rx = wait_acks(link.sent_qos1.load(Ordering::Relaxed), acked_rx).await;
    let offline = client.publish(format!("{root}/status"), QoS::AtLeastOnce, true, OFFLINE);
    if let Ok(Ok(())) = tokio::time::timeout(Duration::from_secs(2), offline).await {
        link.sent_qos1.fetch_add(1, Ordering::Relaxed);
        let target = link.sent_qos1.load(Ordering::Relaxed);
        let _ = wait_acks(target, acked_rx).await;
    }
    let unacked = link.sent_qos1.load(Ordering::Relaxed).saturating_sub(link.acked.load(Ordering::Relaxed)) + unsent;
    let _ = tokio::time::timeout(Duration::from_secs(1), client.disconnect()).await;
    let _ = tokio::time::timeout(Duration::from_secs(2), driver).await;
    Ok(unacked)
}

/// ±25 % so that many boxes losing the same uplink do not reconnect in lockstep.
fn jitter(d: Duration) -> Duration {
    let nanos =
        std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|t| t.subsec_nanos()).unwrap_or(0);
    let f = 0.75 + (nanos % 1000) as f64 / 2000.0;
    d.mul_f64(f)
}
