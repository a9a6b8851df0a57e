//! Model manifests (models/*.toml): what a model file is and how to read its output.

use std::path::{Path, PathBuf};

use serde::Deserialize;

use crate::schema::{ConfigError, read_toml};

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Manifest {
    pub name: String,
    /// The ONNX file, relative to the manifest.
    pub onnx: PathBuf,
    pub format: OutputFormat,
    pub input: InputSpec,
    /// A list of labels by class id, or `"metadata"` to read them from the model's `names` entry.
    #[serde(default)]
    pub labels: LabelSource,
    #[serde(default = "default_score")]
    pub score_threshold: Fraction,
    #[serde(default = "default_nms")]
    pub nms_iou: Fraction,
    #[serde(default = "default_max_det")]
    pub max_detections: usize,
    /// Grey level of the letterbox padding (Ultralytics trains with 114).
    #[serde(default = "default_pad")]
    pub pad_value: u8,
    /// Which labels count as which kind of road user.
    pub groups: Groups,
    /// The same model for other picture shapes (`[[shapes]]`): a camera's frames go to the
    /// input that shows its picture largest with the least padding ([`Letterbox::choose`]).
    ///
    /// [`Letterbox::choose`]: super::letterbox::Letterbox::choose
    #[serde(default)]
    pub shapes: Vec<ShapeSpec>,
    #[serde(skip)]
    pub path: PathBuf,
}

/// One more input shape of the model: its own ONNX file (same weights, same output layout).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ShapeSpec {
    /// The ONNX file, relative to the manifest.
    pub onnx: PathBuf,
    pub input: InputSpec,
}

fn default_score() -> Fraction {
    Fraction(0.35)
}
fn default_nms() -> Fraction {
    Fraction(0.45)
}
fn default_max_det() -> usize {
    300
}
fn default_pad() -> u8 {
    114
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum OutputFormat {
    /// `[1, 4 + nc, n]`: cx, cy, w, h then class scores (YOLOv8, YOLO11, YOLOv12).
    Yolov8,
}

#[derive(Debug, Clone, Copy, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct InputSpec {
    pub width: u32,
    pub height: u32,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(try_from = "toml::Value")]
pub enum LabelSource {
    #[default]
    Metadata,
    List(Vec<String>),
}

impl TryFrom<toml::Value> for LabelSource {
    type Error = String;
    fn try_from(v: toml::Value) -> Result<Self, String> {
        match v {
            toml::Value::String(s) if s == "metadata" => Ok(Self::Metadata),
            toml::Value::Array(items) if !items.is_empty() => items
                .into_iter()
                .map(|i| match i {
                    toml::Value::String(s) if !s.trim().is_empty() => Ok(s),
                    other => Err(format!("labels must be non-empty strings, found {other}")),
                })
                .collect::<Result<_, _>>()
                .map(Self::List),
            other => Err(format!("labels must be \"metadata\" or a non-empty list of names, found {other}")),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Deserialize)]
#[serde(try_from = "f64")]
pub struct Fraction(pub f32);

impl TryFrom<f64> for Fraction {
    type Error = String;
    fn try_from(v: f64) -> Result<Self, String> {
        if (0.0..=1.0).contains(&v) { Ok(Self(v as f32)) } else { Err(format!("{v} is not between 0 and 1")) }
    }
}

#[derive(Debug, Clone, Deserialize, serde::Serialize)]
#[serde(deny_unknown_fields)]
pub struct Groups {
    pub person: Vec<String>,
    pub vehicle: Vec<String>,
    pub motorcycle: Vec<String>,
}

/// The kind of road user a label stands for; rules reason in these.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Group {
    Person,
    Vehicle,
    Motorcycle,
}

impl Manifest {
    pub fn load(path: &Path) -> Result<Self, ConfigError> {
        let (m, _): (Manifest, String) = read_toml(path)?;
        Self::checked(path, m)
    }

    /// A manifest from its text, as if read from `path`.
    pub fn from_str(path: &Path, text: &str) -> Result<Self, ConfigError> {
        Self::checked(path, crate::schema::parse_toml(path, text)?)
    }

    fn checked(path: &Path, mut m: Manifest) -> Result<Self, ConfigError> {
        m.path = path.to_path_buf();
        let mut seen: Vec<(u32, u32)> = Vec::new();
        for i in std::iter::once(&m.input).chain(m.shapes.iter().map(|s| &s.input)) {
            if !(32..=4096).contains(&i.width) || !(32..=4096).contains(&i.height) {
                return Err(ConfigError::new(path, "input width and height must be 32 to 4096 pixels"));
            }
            if seen.contains(&(i.width, i.height)) {
                return Err(ConfigError::new(path, format!("shapes: input {}x{} is given twice", i.width, i.height)));
            }
            seen.push((i.width, i.height));
        }
        if m.max_detections == 0 {
            return Err(ConfigError::new(path, "max_detections must be at least 1"));
        }
        Ok(m)
    }

    pub fn onnx_path(&self) -> PathBuf {
        self.path.parent().unwrap_or(Path::new(".")).join(&self.onnx)
    }

    /// Every input shape with its ONNX file: the manifest's own first, then `[[shapes]]`.
    pub fn inputs(&self) -> Vec<((u32, u32), PathBuf)> {
        let dir = self.path.parent().unwrap_or(Path::new("."));
        std::iter::once(((self.input.width, self.input.height), self.onnx_path()))
            .chain(self.shapes.iter().map(|s| ((s.input.width, s.input.height), dir.join(&s.onnx))))
            .collect()
    }
}

/// Parse Ultralytics' `names` metadata, a Python dict literal: `{0: 'person', 1: 'bicycle', ...}`.
pub fn parse_names_metadata(s: &str) -> Result<Vec<String>, String> {
    let body = s
        .trim()
        .strip_prefix('{')
        .and_then(|b| b.strip_suffix('}'))
        .ok_or("names metadata is not a {id: 'name'} dict")?;
    let mut out: Vec<(usize, String)> = Vec::new();
    let mut rest = body.trim();
    while !rest.is_empty() {
        let colon = rest.find(':').ok_or("names metadata: missing `:`")?;
        let id: usize =
            rest[..colon].trim().parse().map_err(|_| format!("names metadata: bad id `{}`", rest[..colon].trim()))?;
        let after = rest[colon + 1..].trim_start();
        let quote =
            after.chars().next().filter(|c| *c == '\'' || *c == '"').ok_or("names metadata: name is not quoted")?;
        let end = after[1..].find(quote).ok_or("names metadata: unterminated name")? + 1;
        out.push((id, after[1..end].to_string()));
        rest = after[end + 1..].trim_start().trim_start_matches(',').trim_start();
    }
    out.sort_by_key(|(id, _)| *id);
    if out.iter().enumerate().any(|(i, (id, _))| i != *id) {
        return Err("names metadata: class ids are not 0..n".into());
    }
    Ok(out.into_iter().map(|(_, n)| n).collect())
}

/// Labels resolved to class ids, with their groups.
#[derive(Debug, Clone)]
pub struct LabelMap {
    pub labels: Vec<String>,
    pub groups: Vec<Option<Group>>,
}

impl LabelMap {
    pub fn new(labels: Vec<String>, g: &Groups) -> Result<Self, String> {
        let mut groups = vec![None; labels.len()];
        for (group, names) in
            [(Group::Person, &g.person), (Group::Vehicle, &g.vehicle), (Group::Motorcycle, &g.motorcycle)]
        {
            for name in names {
                let id = labels
                    .iter()
                    .position(|l| l == name)
                    .ok_or_else(|| format!("groups: the model has no label `{name}`"))?;
                groups[id] = Some(group);
            }
        }
        Ok(Self { labels, groups })
    }

    pub fn name(&self, class_id: u32) -> &str {
        self.labels.get(class_id as usize).map_or("unknown", String::as_str)
    }

    pub fn group(&self, class_id: u32) -> Option<Group> {
        self.groups.get(class_id as usize).copied().flatten()
    }

    pub fn id(&self, label: &str) -> Option<u32> {
        self.labels.iter().position(|l| l == label).map(|i| i as u32)
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(300))]

        /// Any edit of the shipped manifest, and any `names` metadata a model file may carry,
        /// is accepted or refused, never a panic.
        #[test]
        fn edited_manifests_and_names_never_panic(at in 0.0f64..1.0, cut in 0usize..30, insert in "[ -~\n]{0,30}", names in "[{}0-9:, '\"a-z]{0,60}") {
            let path = concat!(env!("CARGO_MANIFEST_DIR"), "/models/yolov12n.toml");
            let text = std::fs::read_to_string(path).expect("models/yolov12n.toml");
            let chars: Vec<char> = text.chars().collect();
            let i = (at * chars.len() as f64) as usize;
            let j = (i + cut).min(chars.len());
            let edited: String = chars[..i].iter().copied().chain(insert.chars()).chain(chars[j..].iter().copied()).collect();
            let _ = Manifest::from_str(Path::new(path), &edited);
            let _ = parse_names_metadata(&names);
        }
    }

    #[test]
    fn the_shipped_manifest_lists_its_shapes_and_refuses_a_shape_twice() {
        let path = Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/models/yolov12n.toml"));
        let m = Manifest::load(path).expect("the shipped manifest");
        let inputs: Vec<(u32, u32)> = m.inputs().into_iter().map(|(s, _)| s).collect();
        assert_eq!(inputs, vec![(640, 640), (640, 384), (640, 480), (320, 320)]);
        assert!(m.inputs()[1].1.ends_with("models/yolov12n-640x384.onnx"));
        let text = std::fs::read_to_string(path).expect("text");
        let twice = format!("{text}\n[[shapes]]\nonnx = \"x.onnx\"\ninput = {{ width = 640, height = 384 }}\n");
        let e = Manifest::from_str(path, &twice).expect_err("a shape twice");
        assert!(e.to_string().contains("640x384 is given twice"), "{e}");
        let tiny = format!("{text}\n[[shapes]]\nonnx = \"x.onnx\"\ninput = {{ width = 16, height = 384 }}\n");
        assert!(Manifest::from_str(path, &tiny).is_err());
    }

    #[test]
    fn parses_ultralytics_names() {
        let n = parse_names_metadata("{0: 'person', 1: 'bicycle', 2: \"traffic light\"}").expect("valid");
        assert_eq!(n, vec!["person", "bicycle", "traffic light"]);
        assert!(parse_names_metadata("{0: 'a', 2: 'b'}").is_err());
        assert!(parse_names_metadata("person,car").is_err());
        assert!(parse_names_metadata("{0: 'unterminated}").is_err());
    }

    #[test]
    fn label_map_groups() {
        let labels = vec!["person".to_string(), "car".into(), "motorcycle".into(), "dog".into()];
        let g = Groups {
            person: vec!["person".into()],
            vehicle: vec!["car".into()],
            motorcycle: vec!["motorcycle".into()],
        };
        let m = LabelMap::new(labels.clone(), &g).expect("all known");
        assert_eq!(m.group(2), Some(Group::Motorcycle));
        assert_eq!(m.group(3), None);
        assert_eq!(m.name(99), "unknown");
        let bad = Groups { vehicle: vec!["bus".into()], ..g };
        assert!(LabelMap::new(labels, &bad).unwrap_err().contains("bus"));
    }
}
