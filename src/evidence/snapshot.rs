//! Event snapshots: the frame an event starts on, as JPEG, with the camera's lines and zones,
//! every detection, and the event's own box (thick, with its label and track id) drawn on it.
//!
//! The frame is the one the detector saw (scaled to the model's input, so no second decode or
//! scale branch costs CPU); it is scaled back to the source's size so that every box in the
//! event payload is at the same pixel coordinates in the picture. The clip is the evidence at
//! full resolution; the snapshot is for a glance.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use ab_glyph::FontVec;
use anyhow::{Context, Result, anyhow};
use image::{Rgb, RgbImage};

use super::draw::{draw_box, draw_label};
use super::overlay::{Scene, draw_overlay};
use crate::detect::Detection;
use crate::detect::Picture;
use crate::detect::letterbox::Letterbox;
use crate::detect::manifest::LabelMap;
use crate::event::{Body, Event};

/// The colour of the event's own box.
const EVENT: Rgb<u8> = Rgb([255, 0, 0]);

/// A detected frame, kept for the analytics thread when evidence is on.
#[derive(Clone)]
pub struct SnapFrame {
    /// The frame as detected: at the model's fit size, or at the camera's own size (motion
    /// regions).
    pub image: Arc<RgbImage>,
    pub letterbox: Letterbox,
}

impl SnapFrame {
    /// Copy a frame's pixels out of the GStreamer buffer.
    pub fn new(pic: Picture<'_>, lb: &Letterbox) -> Option<Self> {
        let mut data = Vec::new();
        pic.copy_packed(&mut data)?;
        Some(Self { image: Arc::new(RgbImage::from_raw(pic.width, pic.height, data)?), letterbox: *lb })
    }
}

/// The event's own box and its caption, when it has one.
fn event_box(e: &Event) -> Option<([f64; 4], String)> {
    match &e.body {
        Body::Object { label, track_id, bbox, .. } => Some((*bbox, format!("{label} #{track_id}"))),
        Body::StoppedVehicle { label, track_id, bbox, rule, .. } => {
            Some((*bbox, format!("{rule}: {label} #{track_id}")))
        }
        _ => None,
    }
}

/// Draw the snapshot of `e` on `frame`, its own frame or one `late_ms` later (its frame came
/// without a picture): a later picture gets no box of the event, which would no longer be where
/// the object is, and its title says how much later it is.
pub fn render(
    frame: &SnapFrame,
    e: &Event,
    scene: &Scene,
    dets: &[Detection],
    labels: &LabelMap,
    font: Option<&FontVec>,
    late_ms: Option<i64>,
) -> RgbImage {
    let lb = &frame.letterbox;
    let mut img = if frame.image.dimensions() == (lb.src_w, lb.src_h) {
        (*frame.image).clone()
    } else {
        image::imageops::resize(&*frame.image, lb.src_w, lb.src_h, image::imageops::FilterType::Triangle)
    };
    draw_overlay(&mut img, scene, dets, labels, font);
    if let Some((b, caption)) = event_box(e).filter(|_| late_ms.is_none()) {
        let b = [b[0] as f32, b[1] as f32, b[2] as f32, b[3] as f32];
        let thickness = (img.width() / 200).max(3);
        draw_box(&mut img, b, EVENT, thickness);
        if let Some(font) = font {
            draw_label(&mut img, font, b[0], b[3] + 30.0, &caption, EVENT);
        }
    }
    if let Some(font) = font {
        let mut title = format!("{} {} {}", e.camera, e.kind(), e.ts);
        if let Some(ms) = late_ms {
            title += &format!(" (picture {:.1} s later)", ms as f64 / 1000.0);
        }
        draw_label(&mut img, font, 4.0, 4.0, &title, Rgb([255, 255, 255]));
    }
    img
}

/// Where an event's snapshot goes.
pub fn path(events_dir: &Path, event_id: &str) -> PathBuf {
    events_dir.join(format!("{event_id}.jpg"))
}

/// Encode as JPEG into `out` (written aside, synced and renamed, so neither a reader nor a power
/// cut ever leaves half a file);
/// returns the bytes written, so that a caller publishing them need not read the file back.
pub fn write_jpeg(img: &RgbImage, out: &Path) -> Result<Vec<u8>> {
    let mut jpeg = Vec::new();
    image::codecs::jpeg::JpegEncoder::new_with_quality(&mut jpeg, 85)
        .encode_image(img)
        .map_err(|e| anyhow!("cannot encode {}: {e}", out.display()))?;
    let tmp = out.with_extension("jpg.part");
    std::fs::write(&tmp, &jpeg).with_context(|| format!("cannot write {}", tmp.display()))?;
    // Synced before the `start` naming it is stored (and synced) in the outbox.
    crate::durable::rename(&tmp, out)?;
    Ok(jpeg)
}
