//! Drawing detections, lines and labels on a frame.

use std::path::Path;

use ab_glyph::FontVec;
use image::{Rgb, RgbImage};
use imageproc::drawing::{draw_filled_rect_mut, draw_hollow_rect_mut, draw_line_segment_mut, draw_text_mut, text_size};
use imageproc::rect::Rect;

use crate::detect::Detection;
use crate::detect::manifest::{Group, LabelMap};

/// Fonts tried for labels, in order (Debian's fonts-dejavu-core).
const FONTS: &[&str] =
    &["/usr/share/fonts/truetype/dejavu/DejaVuSans-Bold.ttf", "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf"];

/// A label font if one is installed; without one, boxes are drawn without text.
pub fn load_font() -> Option<FontVec> {
    FONTS.iter().find_map(|p| std::fs::read(Path::new(p)).ok().and_then(|b| FontVec::try_from_vec(b).ok()))
}

/// One colour per kind of road user, so a glance tells persons from vehicles.
pub fn group_colour(group: Option<Group>) -> Rgb<u8> {
    match group {
        Some(Group::Person) => Rgb([0, 200, 255]),
        Some(Group::Vehicle) => Rgb([255, 170, 0]),
        Some(Group::Motorcycle) => Rgb([255, 40, 140]),
        None => Rgb([170, 170, 170]),
    }
}

/// A rectangle `thickness` pixels wide, clipped to the image.
pub fn draw_box(img: &mut RgbImage, b: [f32; 4], colour: Rgb<u8>, thickness: u32) {
    for t in 0..thickness as i32 {
        let (x1, y1) = (b[0].round() as i32 - t, b[1].round() as i32 - t);
        let (w, h) = ((b[2] - b[0]).round() as i32 + 2 * t, (b[3] - b[1]).round() as i32 + 2 * t);
        if w > 0 && h > 0 {
            draw_hollow_rect_mut(img, Rect::at(x1, y1).of_size(w as u32, h as u32), colour);
        }
    }
}

/// A text label on a filled tab just above (or, at the top edge, inside) the box.
pub fn draw_label(img: &mut RgbImage, font: &FontVec, x: f32, y: f32, text: &str, colour: Rgb<u8>) {
    let scale = (img.height() as f32 / 40.0).clamp(12.0, 32.0);
    let (tw, th) = text_size(scale, font, text);
    // Keep the tab inside the picture at the right edge too.
    let x = (x.round() as i32).min(img.width() as i32 - tw as i32 - 6).max(0);
    let y = if y as i32 >= th as i32 + 4 { y as i32 - th as i32 - 4 } else { y as i32 };
    draw_filled_rect_mut(img, Rect::at(x, y).of_size(tw + 6, th + 4), colour);
    draw_text_mut(img, Rgb([0, 0, 0]), x + 3, y + 1, scale, font, text);
}

/// Draw detections with their labels and scores.
pub fn draw_detections(img: &mut RgbImage, dets: &[Detection], labels: &LabelMap, font: Option<&FontVec>) {
    let thickness = (img.width() / 400).max(2);
    for d in dets {
        let colour = group_colour(labels.group(d.class_id));
        draw_box(img, [d.bbox.x1, d.bbox.y1, d.bbox.x2, d.bbox.y2], colour, thickness);
        if let Some(font) = font {
            draw_label(img, font, d.bbox.x1, d.bbox.y1, &format!("{} {:.2}", labels.name(d.class_id), d.score), colour);
        }
    }
}

/// A thick line with an arrow head at `b`, showing the line's direction (p1 → p2).
pub fn draw_arrow(img: &mut RgbImage, a: (f32, f32), b: (f32, f32), colour: Rgb<u8>) {
    let thickness = (img.width() / 300).max(2) as i32;
    let (dx, dy) = (b.0 - a.0, b.1 - a.1);
    let len = (dx * dx + dy * dy).sqrt().max(1.0);
    let (nx, ny) = (-dy / len, dx / len);
    for t in -thickness / 2..=thickness / 2 {
        let o = (nx * t as f32, ny * t as f32);
        draw_line_segment_mut(img, (a.0 + o.0, a.1 + o.1), (b.0 + o.0, b.1 + o.1), colour);
    }
    let head = (len * 0.15).clamp(8.0, 30.0);
    let (ux, uy) = (dx / len, dy / len);
    for side in [-1.0f32, 1.0] {
        let p = (b.0 - ux * head + side * nx * head * 0.6, b.1 - uy * head + side * ny * head * 0.6);
        for t in -thickness / 2..=thickness / 2 {
            let o = (nx * t as f32, ny * t as f32);
            draw_line_segment_mut(img, (p.0 + o.0, p.1 + o.1), (b.0 + o.0, b.1 + o.1), colour);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::detect::BBox;

    #[test]
    fn boxes_are_drawn_where_the_detection_is() {
        let labels = LabelMap::new(
            vec!["person".into(), "car".into()],
            &crate::detect::manifest::Groups {
                person: vec!["person".into()],
                vehicle: vec!["car".into()],
                motorcycle: vec![],
            },
        )
        .expect("labels");
        let mut img = RgbImage::new(200, 100);
        let det = Detection { class_id: 1, score: 0.9, bbox: BBox::new(20.0, 30.0, 60.0, 80.0) };
        draw_detections(&mut img, &[det], &labels, None);
        let car = group_colour(Some(Group::Vehicle));
        assert_eq!(*img.get_pixel(20, 50), car, "left edge");
        assert_eq!(*img.get_pixel(40, 80), car, "bottom edge");
        assert_eq!(*img.get_pixel(40, 55), Rgb([0, 0, 0]), "inside stays untouched");
        assert_eq!(*img.get_pixel(100, 50), Rgb([0, 0, 0]), "elsewhere stays untouched");
    }

    #[test]
    fn boxes_off_the_image_do_not_panic() {
        let mut img = RgbImage::new(10, 10);
        draw_box(&mut img, [-50.0, -50.0, 500.0, 500.0], Rgb([255, 0, 0]), 3);
        draw_box(&mut img, [5.0, 5.0, 5.0, 5.0], Rgb([255, 0, 0]), 3);
        draw_arrow(&mut img, (-5.0, -5.0), (50.0, 50.0), Rgb([255, 0, 0]));
        if let Some(font) = load_font() {
            draw_label(&mut img, &font, 8.0, 0.0, "person 0.99", Rgb([255, 0, 0]));
        }
    }
}
