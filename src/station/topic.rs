//! Which of a box's messages a topic carries (docs/mqtt.md, "Topics"): the station reads every
//! topic under its prefix and keeps the ones it understands; the rest (commands, extraction
//! chunks, topics of a later version) are acknowledged and left alone.

/// A topic under the station's prefix, parsed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Topic {
    /// `<prefix>/<site>/<device>`: the box, as the box itself names its topic root.
    pub root: String,
    pub site: String,
    pub device: String,
    pub what: What,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum What {
    /// `status`: `online` / `offline`.
    BoxStatus,
    /// `stats`: the box's health.
    Stats,
    CameraStatus(String),
    Events(String),
    Counts(String),
    /// `<camera>/snapshot`: the JPEG.
    Snapshot(String),
    /// `<camera>/snapshot/info`: which event the next `snapshot` shows.
    SnapshotInfo(String),
}

/// Parses `topic` if it lies under `prefix` (one or more levels, no wildcards) and is one the
/// station keeps; None otherwise.
pub fn parse(prefix: &str, topic: &str) -> Option<Topic> {
    let rest = topic.strip_prefix(prefix)?.strip_prefix('/')?;
    let parts: Vec<&str> = rest.split('/').collect();
    if parts.len() < 3 || parts.iter().any(|p| p.is_empty()) {
        return None;
    }
    let (site, device) = (parts[0], parts[1]);
    let what = match &parts[2..] {
        ["status"] => What::BoxStatus,
        ["stats"] => What::Stats,
        // The extraction protocol's own topics: a station's requests and the boxes' replies.
        ["cmd", "extract", ..] => return None,
        [camera, "status"] => What::CameraStatus(camera.to_string()),
        [camera, "events"] => What::Events(camera.to_string()),
        [camera, "counts"] => What::Counts(camera.to_string()),
        [camera, "snapshot"] => What::Snapshot(camera.to_string()),
        [camera, "snapshot", "info"] => What::SnapshotInfo(camera.to_string()),
        _ => return None,
    };
    Some(Topic { root: format!("{prefix}/{site}/{device}"), site: site.to_string(), device: device.to_string(), what })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_kept_topic_is_recognised() {
        let t = |s: &str| parse("antt", s).map(|t| t.what);
        assert_eq!(t("antt/ward/box/status"), Some(What::BoxStatus));
        assert_eq!(t("antt/ward/box/stats"), Some(What::Stats));
        assert_eq!(t("antt/ward/box/road/status"), Some(What::CameraStatus("road".into())));
        assert_eq!(t("antt/ward/box/road/events"), Some(What::Events("road".into())));
        assert_eq!(t("antt/ward/box/road/counts"), Some(What::Counts("road".into())));
        assert_eq!(t("antt/ward/box/road/snapshot"), Some(What::Snapshot("road".into())));
        assert_eq!(t("antt/ward/box/road/snapshot/info"), Some(What::SnapshotInfo("road".into())));
        let full = parse("antt", "antt/ward/box/road/events").expect("parsed");
        assert_eq!((full.root.as_str(), full.site.as_str(), full.device.as_str()), ("antt/ward/box", "ward", "box"));
    }

    #[test]
    fn a_prefix_of_several_levels_is_part_of_the_root() {
        let t = parse("city/antt", "city/antt/ward/box/road/events").expect("parsed");
        assert_eq!(t.root, "city/antt/ward/box");
        assert_eq!(t.site, "ward");
    }

    #[test]
    fn other_topics_are_left_alone() {
        for topic in [
            "antt/ward/box/cmd/extract",
            "antt/ward/box/cmd/extract/result",
            "antt/ward/box/cmd/extract/data/r1/0",
            "antt/ward/box",
            "antt/ward//status",
            "antt/ward/box/road/something",
            "anttx/ward/box/status",
            "other/ward/box/status",
            "homeassistant/device/box/config",
        ] {
            assert_eq!(parse("antt", topic), None, "{topic}");
        }
    }
}
