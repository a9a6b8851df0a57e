//! `anttd station`: the duty-room console of a commune (docs/station.md).
//!
//! The boxes publish; the station takes in what they publish and shows it:
//! - [`ingest`] subscribes to `<prefix>/#` on one or more brokers (persistent sessions, QoS 1)
//!   and hands every message to one writer thread;
//! - [`store`] keeps boxes, cameras, their status history, events (merged by `event_id`,
//!   duplicates dropped by `id`), counts and snapshots in SQLite under the data directory;
//! - [`web`] serves the pages of [`pages`]: the fleet board, live alerts, search with CSV
//!   export, each event, and counts over time; everything it serves is in the binary.
//!
//! [`topic`] says which message a topic carries. The station reads the boxes' messages as
//! docs/mqtt.md describes them and publishes nothing.

pub mod access;
pub mod footage;
pub mod ingest;
pub mod pages;
pub mod store;
pub mod topic;
pub mod web;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, Result};
use tokio::sync::{broadcast, mpsc, watch};

use crate::publish::mqtt::Broker;

/// Everything `anttd station` needs, from its command line.
pub struct StationOptions {
    pub data_dir: PathBuf,
    pub listen: SocketAddr,
    /// `host:port` of each broker; every one is read with the same login, TLS and prefix.
    pub brokers: Vec<(String, u16)>,
    pub prefix: String,
    /// The fixed client id of the persistent sessions (with `-<n>` for the second broker on).
    pub client_id: String,
    pub credentials: Option<(String, String)>,
    pub tls: Option<Arc<rustls::ClientConfig>>,
    pub silent_after_s: i64,
    pub pre_roll_s: u32,
    pub post_roll_s: u32,
    /// The station's signing key, for footage requests; None: requests are off.
    pub key: Option<ed25519_dalek::SigningKey>,
    /// Each box's pinned public key, by topic root.
    pub box_keys: std::collections::HashMap<String, ed25519_dalek::VerifyingKey>,
    /// How long a footage request may take.
    pub footage_timeout: Duration,
    /// Logins and what each user sees; None: no logins.
    pub access: Option<access::Access>,
}

/// Runs the station until SIGINT or SIGTERM.
pub fn run(o: StationOptions) -> Result<()> {
    std::fs::create_dir_all(&o.data_dir)
        .with_context(|| format!("cannot create the data directory {}", o.data_dir.display()))?;
    let db = o.data_dir.join("station.db");
    let store =
        store::Store::open(&db).with_context(|| format!("cannot open the station's database {}", db.display()))?;
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build()?;
    rt.block_on(async move {
        let stats = Arc::new(ingest::IngestStats::new(o.brokers.len()));
        let (alerts, _) = broadcast::channel(256);
        let (queue, rx) = mpsc::channel(ingest::QUEUE);
        let writer = {
            let (alerts, stats, db) = (alerts.clone(), Arc::clone(&stats), db.clone());
            std::thread::Builder::new()
                .name("station-writer".into())
                .spawn(move || ingest::write(store, rx, alerts, stats, db))?
        };
        let (stop, stopped) = watch::channel(false);
        let mut addresses = Vec::new();
        let mut footage_brokers = Vec::new();
        let mut subscribers = Vec::new();
        for (i, (host, port)) in o.brokers.iter().enumerate() {
            let broker = Broker {
                host: host.clone(),
                port: *port,
                client_id: if i == 0 { o.client_id.clone() } else { format!("{}-{i}", o.client_id) },
                keep_alive: Duration::from_secs(30),
                credentials: o.credentials.clone(),
                tls: o.tls.clone(),
                root: o.prefix.clone(),
            };
            addresses.push(broker.address());
            footage_brokers.push(broker.clone());
            subscribers.push(tokio::spawn(ingest::subscribe(
                i,
                broker,
                o.prefix.clone(),
                queue.clone(),
                Arc::clone(&stats),
                stopped.clone(),
            )));
        }
        drop(queue);
        let footage =
            Arc::new(footage::Footage::new(o.key, o.box_keys, footage_brokers, &o.data_dir, o.footage_timeout));
        let web = Arc::new(web::Web {
            access: o.access.map(Arc::new),
            footage,
            db,
            alerts,
            stats,
            brokers: addresses,
            silent_after_s: o.silent_after_s,
            pre_roll_s: o.pre_roll_s,
            post_roll_s: o.post_roll_s,
        });
        let listener =
            tokio::net::TcpListener::bind(o.listen).await.with_context(|| format!("cannot listen on {}", o.listen))?;
        tracing::info!("station console on http://{}", listener.local_addr()?);
        axum::serve(listener, web::router(web).into_make_service_with_connect_info::<SocketAddr>())
            .with_graceful_shutdown(signal())
            .await
            .context("web server")?;
        tracing::info!("station stopping");
        let _ = stop.send(true);
        for s in subscribers {
            let _ = s.await;
        }
        // Every sender is gone: the writer stores what is queued, acknowledges it, and ends.
        tokio::task::spawn_blocking(move || writer.join()).await.ok();
        Ok(())
    })
}

async fn signal() {
    use tokio::signal::unix::{SignalKind, signal};
    let (Ok(mut term), Ok(mut int)) = (signal(SignalKind::terminate()), signal(SignalKind::interrupt())) else {
        return std::future::pending().await;
    };
    tokio::select! {
        _ = term.recv() => {}
        _ = int.recv() => {}
    }
}
