//! `anttd fetch`, on the station's side: ask a box over MQTT for a stretch of a camera's video
//! (see [`super::extract`]) with a request signed by the station's key, take only the reply the
//! box signed, reassemble the chunks it announced, check the SHA-256 and write the file.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, anyhow, bail};
use ed25519_dalek::{SigningKey, VerifyingKey};
use rumqttc::{Client, Event, MqttOptions, Packet, QoS};
use sha2::{Digest, Sha256};

use super::extract::{DATA, REQUEST, RESULT, Reply, RequestBody};
use super::signed;

pub struct FetchOptions {
    pub host: String,
    pub port: u16,
    pub username: Option<String>,
    pub password: Option<String>,
    /// Connect with TLS, trusting this configuration.
    pub tls: Option<Arc<rustls::ClientConfig>>,
    /// `<prefix>/<site>/<device>` of the box.
    pub root: String,
    pub camera: String,
    pub from: String,
    pub to: String,
    pub output: PathBuf,
    pub timeout: Duration,
    /// Draw a progress bar on the terminal.
    pub progress: bool,
    /// Where a caller that is not a terminal (the station's pages) reads the progress.
    pub progress_to: Option<Arc<Progress>>,
    /// The station's key: the box serves only requests it signed.
    pub key: SigningKey,
    /// The box's public key: replies it did not sign are ignored.
    pub box_key: VerifyingKey,
}

/// Bytes received so far of the `total` the box announced (0 until its reply).
#[derive(Debug, Default)]
pub struct Progress {
    pub received: std::sync::atomic::AtomicU64,
    pub total: std::sync::atomic::AtomicU64,
}

/// Chunks kept that arrive before the reply announcing them (the reply and the first chunks
/// travel on different topics); the rest are dropped.
const EARLY_CHUNKS: usize = 16;

/// Fetch, verify and write; returns the box's reply (size, hash, times).
pub fn fetch(o: &FetchOptions) -> Result<Reply> {
    let request_id = uuid::Uuid::now_v7().to_string();
    let mut mo = MqttOptions::new(format!("anttd-fetch-{request_id}"), o.host.clone(), o.port);
    mo.set_keep_alive(Duration::from_secs(30));
    mo.set_max_packet_size(2 << 20, 2 << 20);
    if let Some(u) = &o.username {
        mo.set_credentials(u.clone(), o.password.clone().unwrap_or_default());
    }
    if let Some(tls) = &o.tls {
        mo.set_transport(rumqttc::Transport::tls_with_config(rumqttc::TlsConfiguration::Rustls(Arc::clone(tls))));
    }
    let (client, mut conn) = Client::new(mo, 256);
    let root = o.root.trim_end_matches('/');
    let result_topic = format!("{root}/{RESULT}");
    let data_prefix = format!("{root}/{DATA}/{request_id}/");
    client.subscribe(&result_topic, QoS::AtLeastOnce)?;
    client.subscribe(format!("{data_prefix}+"), QoS::AtLeastOnce)?;

    let deadline = Instant::now() + o.timeout;
    let mut subacks = 0;
    let mut forged = 0u64;
    let mut reply: Option<Reply> = None;
    let mut chunks: BTreeMap<u64, Vec<u8>> = BTreeMap::new();
    let mut bar: Option<indicatif::ProgressBar> = None;
    loop {
        if let Some(r) = &reply
            && chunks.len() as u64 == r.chunks
        {
            break;
        }
        let left = deadline.checked_duration_since(Instant::now()).ok_or_else(|| {
            let forged = if forged > 0 {
                format!("; {forged} replies not signed by the box were ignored")
            } else {
                String::new()
            };
            anyhow!("no complete answer from the box within {:?} ({} chunks received{forged})", o.timeout, chunks.len())
        })?;
        let ev = match conn.recv_timeout(left.min(Duration::from_secs(1))) {
            Ok(Ok(ev)) => ev,
            Ok(Err(e)) => bail!("broker {}:{}: {e}", o.host, o.port),
            Err(_) => continue,
        };
        match ev {
            Event::Incoming(Packet::SubAck(_)) => {
                subacks += 1;
                if subacks == 2 {
                    let issued = crate::event::rfc3339(std::time::SystemTime::now());
                    let body = RequestBody {
                        request_id: &request_id,
                        for_box: root,
                        camera: &o.camera,
                        from: &o.from,
                        to: &o.to,
                        issued_at: &issued,
                    };
                    let body = serde_json::to_string(&body)?;
                    let sealed = signed::seal(&o.key, signed::REQUEST, &body);
                    client.publish(format!("{root}/{REQUEST}"), QoS::AtLeastOnce, false, sealed)?;
                }
            }
            Event::Incoming(Packet::Publish(p)) if p.topic == result_topic => {
                let Ok(body) = signed::open(&p.payload, signed::REPLY, std::slice::from_ref(&o.box_key)) else {
                    forged += 1;
                    continue;
                };
                let Ok(r) = serde_json::from_str::<Reply>(&body) else { continue };
                if r.request_id.as_deref() != Some(request_id.as_str()) || reply.is_some() {
                    continue;
                }
                if !r.ok {
                    bail!("the box refused: {}", r.error.unwrap_or_default());
                }
                // Only the chunks it announced, of the size it announced.
                chunks.retain(|n, c| *n < r.chunks && c.len() as u64 <= r.chunk_bytes);
                if o.progress {
                    let b = indicatif::ProgressBar::new(r.bytes);
                    if let Ok(style) = indicatif::ProgressStyle::with_template(
                        "{bar:40} {bytes}/{total_bytes} {bytes_per_sec} eta {eta}",
                    ) {
                        b.set_style(style);
                    }
                    b.inc(chunks.values().map(|c| c.len() as u64).sum());
                    bar = Some(b);
                }
                if let Some(p) = &o.progress_to {
                    p.total.store(r.bytes, std::sync::atomic::Ordering::Relaxed);
                    let early: u64 = chunks.values().map(|c| c.len() as u64).sum();
                    p.received.store(early, std::sync::atomic::Ordering::Relaxed);
                }
                reply = Some(r);
            }
            Event::Incoming(Packet::Publish(p)) => {
                let Some(n) = p.topic.strip_prefix(&data_prefix).and_then(|n| n.parse::<u64>().ok()) else { continue };
                let wanted = match &reply {
                    Some(r) => n < r.chunks && p.payload.len() as u64 <= r.chunk_bytes,
                    None => chunks.len() < EARLY_CHUNKS,
                };
                if !wanted || chunks.contains_key(&n) {
                    continue;
                }
                if let Some(b) = &bar {
                    b.inc(p.payload.len() as u64);
                }
                if let (Some(pr), Some(_)) = (&o.progress_to, &reply) {
                    pr.received.fetch_add(p.payload.len() as u64, std::sync::atomic::Ordering::Relaxed);
                }
                chunks.insert(n, p.payload.to_vec());
            }
            _ => {}
        }
    }
    if let Some(b) = &bar {
        b.finish();
    }
    let _ = client.disconnect();
    let reply = reply.ok_or_else(|| anyhow!("no reply"))?;
    let data: Vec<u8> = chunks.into_values().flatten().collect();
    let sha = super::clip::hex(&Sha256::digest(&data));
    if data.len() as u64 != reply.bytes || Some(&sha) != reply.sha256.as_ref() {
        bail!(
            "the received file does not match the box's: {} bytes, SHA-256 {sha}; expected {} bytes, {:?}",
            data.len(),
            reply.bytes,
            reply.sha256
        );
    }
    let tmp = o.output.with_extension("part");
    std::fs::write(&tmp, &data).with_context(|| format!("cannot write {}", tmp.display()))?;
    std::fs::rename(&tmp, &o.output).with_context(|| format!("cannot write {}", o.output.display()))?;
    Ok(reply)
}
