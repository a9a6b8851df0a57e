//! Decode templates (pipelines/*.toml): which GStreamer elements decode a camera's stream on
//! this platform, and choosing one, by name or automatically from the elements that exist.
//!
//! The choice itself is plain logic over "does element X exist", so it is tested with faked
//! element lists; [`gst_has_element`] asks the real GStreamer registry.

use serde::Deserialize;

/// Built-in templates, in the order `auto` tries them: the most specific hardware first,
/// software last (it always works).
pub const BUILTIN: &[(&str, &str)] = &[
    ("jetson", include_str!("../../pipelines/jetson.toml")),
    ("rockchip", include_str!("../../pipelines/rockchip.toml")),
    ("raspberrypi", include_str!("../../pipelines/raspberrypi.toml")),
    ("intel", include_str!("../../pipelines/intel.toml")),
    ("software", include_str!("../../pipelines/software.toml")),
];

/// The name meaning "probe and pick".
pub const AUTO: &str = "auto";

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DecoderTemplate {
    pub name: String,
    pub description: String,
    /// Every one of these elements must exist.
    #[serde(default)]
    pub requires: Vec<String>,
    /// At least one of these must exist (when not empty).
    #[serde(default)]
    pub requires_any: Vec<String>,
    /// Decoders raised above the software ones, so uridecodebin picks them.
    #[serde(default)]
    pub prefer: Vec<String>,
    /// The decode part of the pipeline; `{uri}` is replaced by the camera's URI.
    pub decode: String,
    /// Elements between decoding and anttd's videoconvert (out of GPU memory); may be empty.
    #[serde(default)]
    pub convert: String,
}

impl DecoderTemplate {
    /// The elements this template lacks on a machine (empty: usable).
    pub fn missing(&self, has: &dyn Fn(&str) -> bool) -> Vec<String> {
        let mut missing: Vec<String> = self.requires.iter().filter(|e| !has(e)).cloned().collect();
        if !self.requires_any.is_empty() && !self.requires_any.iter().any(|e| has(e)) {
            missing.push(format!("one of {}", self.requires_any.join(", ")));
        }
        missing
    }
}

/// The built-in templates, parsed.
pub fn builtin() -> Vec<DecoderTemplate> {
    BUILTIN
        .iter()
        .map(|(name, text)| {
            // The files are compiled in and covered by a unit test, so they always parse.
            toml::from_str(text).unwrap_or_else(|e| panic!("pipelines/{name}.toml is invalid: {e}"))
        })
        .collect()
}

/// Pick the template for `wanted` (a name or `auto`). `auto` takes the first usable template;
/// a name must exist and be usable here, else the error says what is missing.
pub fn choose<'a>(
    templates: &'a [DecoderTemplate],
    wanted: &str,
    has: &dyn Fn(&str) -> bool,
) -> Result<&'a DecoderTemplate, String> {
    if wanted == AUTO {
        return templates.iter().find(|t| t.missing(has).is_empty()).ok_or_else(|| {
            "no decoder template is usable: GStreamer lacks even uridecodebin/videoconvert (install gstreamer1.0-plugins-base)"
                .to_string()
        });
    }
    let t = templates.iter().find(|t| t.name == wanted).ok_or_else(|| {
        let names: Vec<&str> = templates.iter().map(|t| t.name.as_str()).collect();
        format!("unknown decoder `{wanted}`: use auto or one of {}", names.join(", "))
    })?;
    let missing = t.missing(has);
    if missing.is_empty() {
        Ok(t)
    } else {
        Err(format!("decoder `{wanted}` needs GStreamer elements this machine lacks: {}", missing.join("; ")))
    }
}

/// Whether the GStreamer registry has an element factory of this name.
pub fn gst_has_element(name: &str) -> bool {
    gstreamer::ElementFactory::find(name).is_some()
}

/// Raise the template's preferred decoders above every other decoder, so that uridecodebin
/// plugs them whenever they can handle the stream.
pub fn apply_preferences(t: &DecoderTemplate) {
    use gstreamer::prelude::*;
    for name in &t.prefer {
        if let Some(f) = gstreamer::ElementFactory::find(name) {
            f.set_rank(gstreamer::Rank::PRIMARY + 100);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn has(list: &'static [&'static str]) -> impl Fn(&str) -> bool {
        move |e| list.contains(&e)
    }

    const BASE: &[&str] = &["uridecodebin", "videoconvert", "videoscale", "videorate"];

    #[test]
    fn builtin_templates_parse_and_have_uri() {
        let t = builtin();
        assert_eq!(t.len(), BUILTIN.len());
        for (tpl, (name, _)) in t.iter().zip(BUILTIN) {
            assert_eq!(&tpl.name, name, "file name and `name` agree");
            assert!(tpl.decode.contains("{uri}"), "{name} has no {{uri}}");
            assert!(!tpl.prefer.is_empty() || tpl.name == "software");
        }
        assert_eq!(t.last().map(|t| t.name.as_str()), Some("software"), "software is the last resort");
    }

    #[test]
    fn auto_falls_back_to_software() {
        let t = builtin();
        assert_eq!(choose(&t, AUTO, &has(BASE)).map(|t| t.name.as_str()), Ok("software"));
    }

    #[test]
    fn auto_picks_the_platform_decoder() {
        let t = builtin();
        let cases: &[(&'static [&'static str], &str)] = &[
            (&["uridecodebin", "videoconvert", "videoscale", "videorate", "mppvideodec"], "rockchip"),
            (&["uridecodebin", "videoconvert", "videoscale", "videorate", "v4l2h264dec"], "raspberrypi"),
            (&["uridecodebin", "videoconvert", "videoscale", "videorate", "v4l2slh265dec"], "raspberrypi"),
            (&["uridecodebin", "videoconvert", "videoscale", "videorate", "nvv4l2decoder", "nvvidconv"], "jetson"),
            (&["uridecodebin", "videoconvert", "videoscale", "videorate", "vah264dec", "vapostproc"], "intel"),
            // A Jetson decoder without its converter is not usable: fall through.
            (&["uridecodebin", "videoconvert", "videoscale", "videorate", "nvv4l2decoder"], "software"),
            // VA decoders without vapostproc: not usable either.
            (&["uridecodebin", "videoconvert", "videoscale", "videorate", "vah264dec"], "software"),
        ];
        for (elements, want) in cases {
            assert_eq!(choose(&t, AUTO, &has(elements)).map(|t| t.name.as_str()), Ok(*want), "{elements:?}");
        }
    }

    #[test]
    fn named_template_must_be_usable() {
        let t = builtin();
        assert_eq!(choose(&t, "software", &has(BASE)).map(|t| t.name.as_str()), Ok("software"));
        let err = choose(&t, "rockchip", &has(BASE)).expect_err("no MPP here");
        assert!(err.contains("mppvideodec"), "{err}");
        let err = choose(&t, "raspberrypi", &has(BASE)).expect_err("no V4L2 decoder here");
        assert!(err.contains("one of v4l2h264dec"), "{err}");
        let err = choose(&t, "cuda", &has(BASE)).expect_err("unknown");
        assert!(err.contains("unknown decoder `cuda`") && err.contains("software"), "{err}");
    }

    #[test]
    fn nothing_usable_is_an_error() {
        assert!(choose(&builtin(), AUTO, &has(&[])).is_err());
    }
}
