//! systemd: readiness and reload notices, and the watchdog fed only while the box works.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use crate::publish::mqtt::LinkStats;

/// Tell systemd (when started by it with `Type=notify`); outside systemd this does nothing.
pub(super) fn notify(state: &[sd_notify::NotifyState]) {
    if let Err(e) = sd_notify::notify(state) {
        tracing::warn!("cannot notify systemd: {e}");
    }
}

/// Ping systemd's watchdog at half its period, but only while the detector makes progress and
/// the publisher's loop turns (it turns at least every [`mqtt::BEAT`], connected or not, and
/// stops only if the publisher ended or hangs): either stuck, the pings stop and systemd
/// restarts the process. The pings come from the tokio runtime, so a wedged runtime stops them too.
pub(super) async fn watchdog_loop(
    period: Duration,
    detector_beat: Arc<std::sync::atomic::AtomicU64>,
    link: Arc<LinkStats>,
) {
    let mut tick = tokio::time::interval(period / 2);
    let mut last = (detector_beat.load(Ordering::Relaxed), link.beat.load(Ordering::Relaxed));
    tracing::info!(period = ?period, "systemd watchdog enabled");
    loop {
        tick.tick().await;
        let now = (detector_beat.load(Ordering::Relaxed), link.beat.load(Ordering::Relaxed));
        match (now.0 != last.0, now.1 != last.1) {
            (true, true) => notify(&[sd_notify::NotifyState::Watchdog]),
            (false, _) => {
                tracing::error!("the detector made no progress for {:?}: not pinging the watchdog", period / 2)
            }
            (_, false) => {
                tracing::error!("the MQTT publisher stopped for {:?}: not pinging the watchdog", period / 2)
            }
        }
        last = now;
    }
}
