//! `anttd fetch`, on the station's side: ask a box for a stretch of a camera's video over MQTT
//! (see [`super::extract`]), reassemble the chunks, check the SHA-256 and write the file.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, anyhow, bail};
use rumqttc::{Client, Event, MqttOptions, Packet, QoS};
use sha2::{Digest, Sha256};

use super::extract::{DATA, REQUEST, RESULT, Reply};

pub struct FetchOptions {
    pub host: String,
    pub port: u16,
    pub username: Option<String>,
    pub password: Option<String>,
    /// `<prefix>/<site>/<device>` of the box.
    pub root: String,
    pub camera: String,
    pub from: String,
    pub to: String,
    pub output: PathBuf,
    pub timeout: Duration,
    pub progress: bool,
}

/// Fetch, verify and write; returns the box's reply (size, hash, times).
pub fn fetch(o: &FetchOptions) -> Result<Reply> {
    let request_id = uuid::Uuid::now_v7().to_string();
    let mut mo = MqttOptions::new(format!("anttd-fetch-{request_id}"), o.host.clone(), o.port);
    mo.set_keep_alive(Duration::from_secs(30));
    mo.set_max_packet_size(2 << 20, 2 << 20);
    if let Some(u) = &o.username {
        mo.set_credentials(u.clone(), o.password.clone().unwrap_or_default());
    }
    let (client, mut conn) = Client::new(mo, 256);
    let root = o.root.trim_end_matches('/');
    let result_topic = format!("{root}/{RESULT}");
    let data_prefix = format!("{root}/{DATA}/{request_id}/");
    client.subscribe(&result_topic, QoS::AtLeastOnce)?;
    client.subscribe(format!("{data_prefix}+"), QoS::AtLeastOnce)?;
    let request = serde_json::json!({"request_id": request_id, "camera": o.camera, "from": o.from, "to": o.to});

    let deadline = Instant::now() + o.timeout;
    let mut subacks = 0;
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
            anyhow!("no complete answer from the box within {:?} ({} chunks received)", o.timeout, chunks.len())
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
                    client.publish(format!("{root}/{REQUEST}"), QoS::AtLeastOnce, false, request.to_string())?;
                }
            }
            Event::Incoming(Packet::Publish(p)) if p.topic == result_topic => {
                let Ok(r) = serde_json::from_slice::<Reply>(&p.payload) else { continue };
                if r.request_id.as_deref() != Some(request_id.as_str()) {
                    continue;
                }
                if !r.ok {
                    bail!("the box refused: {}", r.error.unwrap_or_default());
                }
                if o.progress {
                    let b = indicatif::ProgressBar::new(r.bytes);
                    if let Ok(style) = indicatif::ProgressStyle::with_template(
                        "{bar:40} {bytes}/{total_bytes} {bytes_per_sec} eta {eta}",
                    ) {
                        b.set_style(style);
                    }
                    bar = Some(b);
                }
                reply = Some(r);
            }
            Event::Incoming(Packet::Publish(p)) => {
                let Some(n) = p.topic.strip_prefix(&data_prefix).and_then(|n| n.parse::<u64>().ok()) else { continue };
                if let Some(b) = &bar {
                    b.inc(p.payload.len() as u64);
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
