//! Events: what the station receives. One compact JSON message per event start, update or end.
//!
//! Every message has its own unique `id` (a UUIDv7, time-ordered) that stays the same if it is
//! ever delivered again, and an `event_id` shared by the start, updates and end of one event.

use std::time::SystemTime;

use serde::Serialize;
use time::OffsetDateTime;
use time::macros::format_description;

use crate::detect::BBox;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Phase {
    Start,
    Update,
    End,
}

/// One message on `<camera>/events`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Event {
    pub id: String,
    pub event_id: String,
    #[serde(rename = "type")]
    pub phase: Phase,
    pub camera: String,
    /// The frame's time, RFC 3339 UTC with milliseconds.
    pub ts: String,
    #[serde(flatten)]
    pub body: Body,
}

/// The kind of event and its own fields.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Body {
    /// A tracked person, vehicle or motorcycle: `start` when the track is confirmed, `end` when it ends.
    Object {
        label: String,
        track_id: u64,
        first_seen: String,
        last_seen: String,
        best_score: f64,
        #[serde(rename = "box")]
        bbox: [f64; 4],
    },
    /// A track crossed a configured line. A crossing is a moment: it is sent once, as `start`.
    LineCross { line: String, direction: String, label: String, track_id: u64 },
    /// `crowd` rule: at least `min_persons` persons in a zone. `start` with the count, `update`
    /// when the count changes (rate limited), `end` when it has stayed below the threshold.
    Crowd {
        rule: String,
        zone: String,
        /// Persons in the zone.
        count: u32,
        /// Persons per square metre of the zone, when the camera is calibrated.
        #[serde(skip_serializing_if = "Option::is_none")]
        persons_per_m2: Option<f64>,
    },
    /// `loitering` rule: a person in a zone for longer than `for_s`; `end` when they leave or
    /// the track ends.
    Loitering {
        rule: String,
        zone: String,
        label: String,
        track_id: u64,
        /// Seconds in the zone so far (at `start`) or in all (at `end`).
        dwell_s: f64,
    },
    /// `stopped_vehicle` rule: a vehicle standing still in a zone; `end` when it moves away or
    /// the track ends.
    StoppedVehicle {
        rule: String,
        zone: String,
        label: String,
        track_id: u64,
        /// Seconds stood still so far (at `start`) or in all (at `end`).
        stopped_s: f64,
        #[serde(rename = "box")]
        bbox: [f64; 4],
    },
    /// `speeding` rule: a vehicle or motorcycle above the zone's limit; `end` when it has
    /// slowed down, left the zone, or its track ended.
    Speeding {
        rule: String,
        zone: String,
        label: String,
        track_id: u64,
        /// The rule's limit, km/h.
        limit_kmh: f64,
        /// Latest smoothed ground speed, km/h.
        speed_kmh: f64,
        /// Highest and mean speed above the limit so far (`start`) or in all (`end`), km/h.
        max_kmh: f64,
        mean_kmh: f64,
    },
    /// `racing` rule: a fast group of motorcycles, or a fast weaving one.
    Racing {
        rule: String,
        zone: String,
        /// Motorcycles in the group now (`end`: the most at once).
        group_size: u32,
        /// Their tracks (`end`: every track that took part).
        track_ids: Vec<u64>,
        max_kmh: f64,
        mean_kmh: f64,
        /// A member is weaving.
        weaving: bool,
    },
    /// `collision_suspect` rule: two road users met, one braked hard, and both stopped or one
    /// vanished; `end` when both tracks have ended.
    CollisionSuspect {
        rule: String,
        zone: String,
        track_ids: [u64; 2],
        labels: [String; 2],
        /// Each one's highest speed in the two seconds before they met, km/h.
        speeds_before_kmh: [f64; 2],
    },
    /// `wrong_way` rule: a road user moving against the zone's allowed direction.
    WrongWay {
        rule: String,
        zone: String,
        label: String,
        track_id: u64,
        /// Angle between its movement and the allowed direction (180: straight against).
        angle_deg: f64,
        /// Net movement over the rule's window, in metres or pixels as the rule measures.
        moved: f64,
    },
}

/// One message on `<camera>/counts`: line crossings over one interval.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CountsMessage {
    /// Unique id of this message, the same on every delivery.
    pub id: String,
    pub camera: String,
    /// Always `counts`.
    pub kind: &'static str,
    /// The interval, RFC 3339 UTC: crossings at or after `from` and before `to`.
    pub from: String,
    pub to: String,
    /// Its length in seconds (shorter than the configured interval only for the last one
    /// before the stream ended).
    pub interval_s: f64,
    /// One row per line, label and direction that had crossings; empty if nobody crossed.
    pub counts: Vec<CountRow>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CountRow {
    pub line: String,
    pub label: String,
    pub direction: String,
    pub count: u64,
}

impl CountsMessage {
    pub fn to_json(&self) -> Vec<u8> {
        serde_json::to_vec(self).unwrap_or_default()
    }
}

impl Event {
    pub fn kind(&self) -> &'static str {
        match self.body {
            Body::Object { .. } => "object",
            Body::LineCross { .. } => "line_cross",
            Body::Crowd { .. } => "crowd",
            Body::Loitering { .. } => "loitering",
            Body::StoppedVehicle { .. } => "stopped_vehicle",
            Body::Speeding { .. } => "speeding",
            Body::Racing { .. } => "racing",
            Body::CollisionSuspect { .. } => "collision_suspect",
            Body::WrongWay { .. } => "wrong_way",
        }
    }

    pub fn to_json(&self) -> Vec<u8> {
        // Serialising plain strings and numbers cannot fail.
        serde_json::to_vec(self).unwrap_or_default()
    }
}

/// A new message id.
pub fn new_id() -> String {
    uuid::Uuid::now_v7().to_string()
}

/// Milliseconds since the epoch of a time in the form [`rfc3339`] writes (any RFC 3339 time).
pub fn ts_ms(ts: &str) -> Option<i64> {
    let t = time::OffsetDateTime::parse(ts, &time::format_description::well_known::Rfc3339).ok()?;
    Some((t.unix_timestamp_nanos() / 1_000_000) as i64)
}

/// RFC 3339 in UTC with milliseconds: `2026-11-28T11:40:30.123Z`.
/// A time outside years 0000–9999 (only from absurd input) gives the epoch rather than a panic.
pub fn rfc3339(t: SystemTime) -> String {
    let nanos = match t.duration_since(SystemTime::UNIX_EPOCH) {
        Ok(d) => i128::try_from(d.as_nanos()).unwrap_or(i128::MAX),
        Err(e) => -i128::try_from(e.duration().as_nanos()).unwrap_or(i128::MAX),
    };
    OffsetDateTime::from_unix_timestamp_nanos(nanos)
        .ok()
        .and_then(|dt| {
            dt.format(format_description!("[year]-[month]-[day]T[hour]:[minute]:[second].[subsecond digits:3]Z")).ok()
        })
        .unwrap_or_else(|| "1970-01-01T00:00:00.000Z".into())
}

/// A box rounded to tenths of a pixel (enough for any camera, and keeps messages short).
pub fn round_box(b: BBox) -> [f64; 4] {
    // Rounded as f64 so that JSON shows `589.9`, not the f32 value's long decimal expansion.
    let r = |v: f32| (v as f64 * 10.0).round() / 10.0;
    [r(b.x1), r(b.y1), r(b.x2), r(b.y2)]
}

/// Speeds and angles to tenths.
pub fn round1(v: f64) -> f64 {
    (v * 10.0).round() / 10.0
}

/// Seconds to tenths.
pub fn round_s(v: f64) -> f64 {
    (v * 10.0).round() / 10.0
}

pub fn round3(v: f32) -> f64 {
    (v as f64 * 1000.0).round() / 1000.0
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn sample() -> Event {
        Event {
            id: new_id(),
            event_id: new_id(),
            phase: Phase::Start,
            camera: "cam-1".into(),
            ts: rfc3339(SystemTime::UNIX_EPOCH + Duration::from_millis(1_795_873_230_123)),
            body: Body::Object {
                label: "motorcycle".into(),
                track_id: 42,
                first_seen: "2026-11-28T11:40:29.000Z".into(),
                last_seen: "2026-11-28T11:40:30.123Z".into(),
                best_score: round3(0.87654),
                bbox: round_box(BBox::new(10.04, 20.06, 300.56, 400.0)),
            },
        }
    }

    #[test]
    fn object_payload_shape() {
        let v: serde_json::Value = serde_json::from_slice(&sample().to_json()).expect("json");
        assert_eq!(v["type"], "start");
        assert_eq!(v["kind"], "object");
        assert_eq!(v["camera"], "cam-1");
        assert_eq!(v["ts"], "2026-11-28T13:40:30.123Z");
        assert_eq!(v["track_id"], 42);
        assert_eq!(v["label"], "motorcycle");
        assert_eq!(v["box"], serde_json::json!([10.0, 20.1, 300.6, 400.0]));
        assert!((v["best_score"].as_f64().expect("number") - 0.877).abs() < 1e-6);
        assert_eq!(v["id"].as_str().expect("id").len(), 36);
        let keys: Vec<&String> = v.as_object().expect("object").keys().collect();
        assert_eq!(keys.len(), 12, "{keys:?}");
    }

    #[test]
    fn line_cross_payload_is_compact() {
        let e = Event {
            body: Body::LineCross {
                line: "gate".into(),
                direction: "forward".into(),
                label: "person".into(),
                track_id: 3,
            },
            ..sample()
        };
        let json = e.to_json();
        assert!(json.len() < 400, "{} bytes", json.len());
        let v: serde_json::Value = serde_json::from_slice(&json).expect("json");
        assert_eq!(
            (v["kind"].as_str(), v["line"].as_str(), v["direction"].as_str()),
            (Some("line_cross"), Some("gate"), Some("forward"))
        );
        assert!(sample().to_json().len() < 1024);
    }

    #[test]
    fn rule_payloads_carry_their_kind_and_fields() {
        let crowd = Event {
            body: Body::Crowd { rule: "r".into(), zone: "yard".into(), count: 12, persons_per_m2: None },
            ..sample()
        };
        let v: serde_json::Value = serde_json::from_slice(&crowd.to_json()).expect("json");
        assert_eq!(
            (v["kind"].as_str(), v["count"].as_u64(), v["zone"].as_str()),
            (Some("crowd"), Some(12), Some("yard"))
        );
        assert!(v.get("persons_per_m2").is_none(), "omitted when uncalibrated: {v}");
        let sv = Event {
            body: Body::StoppedVehicle {
                rule: "r".into(),
                zone: "z".into(),
                label: "car".into(),
                track_id: 7,
                stopped_s: round_s(30.04),
                bbox: [1.0, 2.0, 3.0, 4.0],
            },
            ..sample()
        };
        let v: serde_json::Value = serde_json::from_slice(&sv.to_json()).expect("json");
        assert_eq!((v["kind"].as_str(), v["stopped_s"].as_f64()), (Some("stopped_vehicle"), Some(30.0)));
        assert_eq!(sv.kind(), "stopped_vehicle");
    }

    #[test]
    fn ids_are_unique() {
        let ids: std::collections::HashSet<String> = (0..1000).map(|_| new_id()).collect();
        assert_eq!(ids.len(), 1000);
    }
}
