//! Publishing to the station's MQTT broker.
//!
//! Topics, under `<prefix>/<site>/<device>/`:
//! - `status` (retained): `online` once connected; `offline` as the Last Will and on clean shutdown.
//! - `<camera>/events` (QoS 1): one JSON message per event start, update or end.
//! - `<camera>/counts` (QoS 1): line crossings per interval, for cameras with lines.
//! - `stats` (QoS 0): counters every `mqtt.stats_interval_s` seconds.
//! - `<camera>/snapshot` and `<camera>/snapshot/info` (retained, opt-in): the camera's newest
//!   event snapshot ([`snapshots`]).

pub mod commands;
pub mod discovery;
pub mod mqtt;
pub mod outbox;
pub mod snapshots;
pub mod tls;

/// A message for the broker.
#[derive(Debug, Clone, PartialEq)]
pub struct Outgoing {
    /// Topic below the device root, e.g. `cam1/events`.
    pub subtopic: String,
    pub payload: Vec<u8>,
    pub qos: u8,
    pub retain: bool,
}

impl Outgoing {
    pub fn event(e: &crate::event::Event) -> Self {
        Self { subtopic: format!("{}/events", e.camera), payload: e.to_json(), qos: 1, retain: false }
    }
}

/// A `<camera>/counts` message as kept in the outbox: traffic statistics survive an uplink
/// drop like events do.
pub fn counts_record(c: &crate::event::CountsMessage) -> outbox::Record {
    outbox::Record {
        id: c.id.clone(),
        camera: c.camera.clone(),
        subtopic: format!("{}/counts", c.camera),
        payload: c.to_json(),
        qos: 1,
        retain: false,
    }
}

/// An event as kept in the outbox until the broker acknowledges it.
pub fn event_record(e: &crate::event::Event) -> outbox::Record {
    let o = Outgoing::event(e);
    outbox::Record {
        id: e.id.clone(),
        camera: e.camera.clone(),
        subtopic: o.subtopic,
        payload: o.payload,
        qos: o.qos,
        retain: o.retain,
    }
}
