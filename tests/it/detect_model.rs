//! `anttd detect` with the real model on frames of the real sample videos.

use crate::common;

use common::{anttd, asset, file_uri};

/// Grab a frame of `video` at `at_s` seconds, run `anttd detect` on it, return its JSON line.
fn detect_frame(video: &str, at_s: f64) -> serde_json::Value {
    let dir = tempfile::tempdir().expect("temp dir");
    let frame = anttd::source::still::grab_frame(&file_uri(&asset(video)), at_s).expect("frame decodes");
    let png = dir.path().join("frame.png");
    frame.save(&png).expect("write png");
    let out = anttd().args(["detect", "-m"]).arg(asset("models/yolov12n.toml")).arg(&png).output().expect("run anttd");
    assert!(out.status.success(), "anttd detect failed: {}", String::from_utf8_lossy(&out.stderr));
    let stdout = String::from_utf8(out.stdout).expect("utf-8");
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(lines.len(), 1, "one JSON line per image: {stdout}");
    let v: serde_json::Value = serde_json::from_str(lines[0]).expect("JSON line");
    assert_eq!(v["image"], png.to_string_lossy().as_ref());
    assert_eq!((v["width"].as_u64(), v["height"].as_u64()), (Some(frame.width() as u64), Some(frame.height() as u64)));
    v
}

fn labelled<'a>(v: &'a serde_json::Value, label: &str) -> Vec<&'a serde_json::Value> {
    v["detections"].as_array().expect("detections array").iter().filter(|d| d["label"] == label).collect()
}

fn check_box_in_image(d: &serde_json::Value, w: f64, h: f64) {
    let b: Vec<f64> = d["box"].as_array().expect("box").iter().map(|x| x.as_f64().expect("number")).collect();
    assert_eq!(b.len(), 4);
    assert!(
        0.0 <= b[0] && b[0] < b[2] && b[2] <= w && 0.0 <= b[1] && b[1] < b[3] && b[3] <= h,
        "box {b:?} not in {w}x{h}"
    );
}

#[test]
fn finds_pedestrians_in_vtest() {
    // At 10 s the campus road has five to six people walking (checked by eye on the frame).
    let v = detect_frame("media/vtest.avi", 10.0);
    assert_eq!((v["width"].as_u64(), v["height"].as_u64()), (Some(768), Some(576)));
    let persons = labelled(&v, "person");
    assert!(persons.len() >= 3, "expected at least three persons: {v}");
    for p in &persons {
        assert_eq!(p["class_id"], 0);
        assert!(p["score"].as_f64().expect("score") >= 0.25);
        check_box_in_image(p, 768.0, 576.0);
        // Pedestrians seen from above stand taller than wide.
        let b: Vec<f64> = p["box"].as_array().expect("box").iter().filter_map(|x| x.as_f64()).collect();
        assert!(b[3] - b[1] > b[2] - b[0], "person box {b:?} is not upright");
    }
}

#[test]
fn finds_motorcycle_and_person_in_bikes() {
    // Around 4.8 s (frame 120 of 250) the parked motorcycle and a passer-by are both in view.
    let v = detect_frame("media/bikes.mp4", 4.8);
    let (w, h) = (v["width"].as_f64().expect("w"), v["height"].as_f64().expect("h"));
    let moto = labelled(&v, "motorcycle");
    let person = labelled(&v, "person");
    assert!(!moto.is_empty(), "no motorcycle found: {v}");
    assert!(!person.is_empty(), "no person found: {v}");
    assert_eq!(moto[0]["class_id"], 3);
    check_box_in_image(moto[0], w, h);
    check_box_in_image(person[0], w, h);
}

#[test]
fn reports_unreadable_images_and_goes_on() {
    let dir = tempfile::tempdir().expect("temp dir");
    let bad = dir.path().join("not-an-image.png");
    std::fs::write(&bad, b"this is not a PNG").expect("write");
    let good = dir.path().join("good.png");
    anttd::source::still::grab_frame(&file_uri(&asset("media/vtest.avi")), 1.0)
        .expect("frame")
        .save(&good)
        .expect("png");
    let out =
        anttd().args(["detect", "-m"]).arg(asset("models/yolov12n.toml")).arg(&bad).arg(&good).output().expect("run");
    assert!(!out.status.success(), "a bad image makes the exit status non-zero");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("not-an-image.png") && stderr.contains("cannot read image"), "{stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(stdout.lines().count(), 1, "the good image is still processed: {stdout}");
    assert!(stdout.contains("good.png"));
}

#[test]
fn annotate_writes_a_picture_with_the_boxes() {
    let dir = tempfile::tempdir().expect("temp dir");
    let frame = anttd::source::still::grab_frame(&file_uri(&asset("media/vtest.avi")), 10.0).expect("frame");
    let png = dir.path().join("frame.png");
    frame.save(&png).expect("png");
    let out_dir = dir.path().join("pictures");
    let out = anttd()
        .args(["detect", "-m"])
        .arg(asset("models/yolov12n.toml"))
        .arg("--annotate")
        .arg(&out_dir)
        .arg(&png)
        .output()
        .expect("run");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    let pic = image::open(out_dir.join("frame.detections.jpg")).expect("a JPEG was written").to_rgb8();
    assert_eq!(pic.dimensions(), frame.dimensions());
    // Each person's box edge is painted in the person colour (JPEG shifts colours a little).
    let person = anttd::evidence::draw::group_colour(Some(anttd::detect::manifest::Group::Person));
    for d in labelled(&v, "person") {
        let b: Vec<f64> = d["box"].as_array().expect("box").iter().filter_map(|x| x.as_f64()).collect();
        let (x, y) = (b[0].round() as u32, ((b[1] + b[3]) / 2.0).round() as u32);
        let p = pic.get_pixel(x, y);
        let close = (0..3).all(|c| (p[c] as i32 - person[c] as i32).abs() < 60);
        assert!(close, "pixel {p:?} at the left edge of {b:?} is not the person colour {person:?}");
        // The original frame there was not already that colour.
        let o = frame.get_pixel(x, y);
        assert!((0..3).any(|c| (o[c] as i32 - person[c] as i32).abs() >= 60), "test is meaningless at {x},{y}");
    }
}

#[test]
fn overlay_draws_the_camera_set_up_on_a_frame() {
    let dir = tempfile::tempdir().expect("temp dir");
    let cam = common::vtest_camera("road", "")
        + "\n[[cameras.zones]]\nname = \"crossing\"\npolygon = [[300, 180], [620, 150], [700, 260], [330, 300]]\n";
    let cfg = common::write_config(dir.path(), 1883, &cam);
    let out_png = dir.path().join("overlay.png");
    let out = anttd()
        .args(["overlay", "-c"])
        .arg(&cfg)
        .args(["--camera", "road", "--at", "10", "-o"])
        .arg(&out_png)
        .output()
        .expect("run");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let pic = image::open(&out_png).expect("a PNG was written").to_rgb8();
    assert_eq!(pic.dimensions(), (768, 576));
    // The zone's bottom edge runs from (700, 260) to (330, 300): its midpoint is green.
    assert_eq!(*pic.get_pixel(515, 280), image::Rgb([80, 255, 80]), "zone edge");
    // The line p1 (400, 170) → p2 (400, 330) is red, drawn over the road.
    assert_eq!(*pic.get_pixel(400, 320), image::Rgb([255, 60, 60]), "line");
    let bad =
        anttd().args(["overlay", "-c"]).arg(&cfg).args(["--camera", "nope", "-o"]).arg(&out_png).output().expect("run");
    assert!(!bad.status.success());
    assert!(String::from_utf8_lossy(&bad.stderr).contains("no camera `nope` (cameras: road)"));
}

/// The docs' picture: `anttd overlay` with examples/vtest-calibrated.toml shades the part of the
/// picture where speeds can be measured (about 80 m out and nearer: below row ~140), draws its
/// limit, and leaves the rest alone. On a plain grey picture, so every change is the overlay's.
#[test]
fn overlay_shades_where_speeds_can_be_measured() {
    let dir = tempfile::tempdir().expect("temp dir");
    let grey = image::Rgb([100u8, 100, 100]);
    let plain = dir.path().join("grey.png");
    image::RgbImage::from_pixel(768, 576, grey).save(&plain).expect("write grey picture");
    let out_png = dir.path().join("overlay.png");
    let cfg = common::root().join("examples/vtest-calibrated.toml");
    let out = anttd()
        .args(["overlay", "-c"])
        .arg(&cfg)
        .args(["--camera", "campus-road", "--image"])
        .arg(&plain)
        .arg("-o")
        .arg(&out_png)
        .output()
        .expect("run");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let pic = image::open(&out_png).expect("a PNG was written").to_rgb8();
    // Beyond the limit (the far car park): untouched. Nearer, away from grid, zone and line:
    // tinted blue.
    assert_eq!(*pic.get_pixel(200, 100), grey);
    let p = *pic.get_pixel(200, 160);
    assert!(p != grey && p[2] > grey[2] + 30 && p[0] < grey[0], "{p:?} is not tinted blue");
    // The limit between them, drawn solid.
    let blue = image::Rgb([60u8, 130, 255]);
    assert!((120..155).any(|y| *pic.get_pixel(200, y) == blue), "no limit drawn in column 200");
    // The legend at the bottom left, when the label font is installed.
    if std::path::Path::new("/usr/share/fonts/truetype/dejavu/DejaVuSans-Bold.ttf").is_file() {
        assert_eq!(*pic.get_pixel(1, 574), blue, "legend");
    }
}

/// `anttd detect -m manifest` on the images; one JSON value per image.
fn detect_all(manifest: &str, images: &[std::path::PathBuf]) -> Vec<serde_json::Value> {
    let out = anttd().args(["detect", "-m"]).arg(asset(manifest)).args(images).output().expect("run anttd");
    assert!(out.status.success(), "anttd detect -m {manifest}: {}", String::from_utf8_lossy(&out.stderr));
    let stdout = String::from_utf8(out.stdout).expect("utf-8");
    stdout.lines().map(|l| serde_json::from_str(l).expect("JSON line")).collect()
}

fn iou(a: &[f64], b: &[f64]) -> f64 {
    let (w, h) = ((a[2].min(b[2]) - a[0].max(b[0])).max(0.0), (a[3].min(b[3]) - a[1].max(b[1])).max(0.0));
    let inter = w * h;
    inter / ((a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter)
}

/// The shipped manifest without its `[[shapes]]`: the square input only, as a temporary manifest.
fn square_manifest(dir: &std::path::Path) -> std::path::PathBuf {
    let shipped = std::fs::read_to_string(asset("models/yolov12n.toml")).expect("manifest");
    let cut = shipped.find("[[shapes]]").expect("the shipped manifest lists shapes");
    let rest = &shipped[cut..];
    let square = format!("{}{}", &shipped[..cut], &rest[rest.find("[groups]").expect("groups")..])
        .replace("onnx = \"yolov12n.onnx\"", &format!("onnx = {:?}", asset("models/yolov12n.onnx")));
    let path = dir.join("square.toml");
    std::fs::write(&path, square).expect("write manifest");
    path
}

/// Of `square`'s boxes with score ≥ 0.5, how many `shaped` finds again (same label, IoU ≥ 0.85,
/// any score it reports): (found, of).
fn agreement(square: &[serde_json::Value], shaped: &[serde_json::Value]) -> (u32, u32) {
    agreement_on(square, shaped, 0.85, |_| true)
}

/// Of `reference`'s boxes with score ≥ 0.5 and a label `keep` takes, how many `other` finds
/// again (same label, IoU ≥ `min_iou`, any score it reports, each of its boxes once): (found, of).
fn agreement_on(
    reference: &[serde_json::Value],
    other: &[serde_json::Value],
    min_iou: f64,
    keep: impl Fn(&str) -> bool,
) -> (u32, u32) {
    let boxes = |v: &serde_json::Value, min: f64| -> Vec<(String, Vec<f64>)> {
        v["detections"]
            .as_array()
            .expect("detections")
            .iter()
            .filter(|d| d["score"].as_f64().expect("score") >= min)
            .map(|d| {
                let b = d["box"].as_array().expect("box").iter().map(|x| x.as_f64().expect("number")).collect();
                (d["label"].as_str().expect("label").to_string(), b)
            })
            .collect()
    };
    let (mut found, mut of) = (0, 0);
    for (a, b) in reference.iter().zip(other) {
        let mut theirs = boxes(b, 0.25);
        for (label, bx) in boxes(a, 0.5).into_iter().filter(|(l, _)| keep(l)) {
            of += 1;
            let best = theirs
                .iter()
                .enumerate()
                .filter(|(_, (l, _))| *l == label)
                .map(|(k, (_, t))| (k, iou(&bx, t)))
                .max_by(|x, y| x.1.total_cmp(&y.1));
            if let Some((k, _)) = best.filter(|(_, v)| *v >= min_iou) {
                theirs.remove(k);
                found += 1;
            }
        }
    }
    (found, of)
}

/// The picture-shaped inputs made by scripts/reshape-model find what the 640x640 letterbox
/// finds: of the square input's boxes with score ≥ 0.5, at least 95 % again, same label, IoU ≥
/// 0.85, on 10 frames of the wide clip (640x384) and of the 4:3 one (640x480). The shipped
/// manifest sends each picture to its input by itself.
#[test]
fn picture_shaped_inputs_are_chosen_by_the_picture_and_find_what_the_square_one_finds() {
    let dir = tempfile::tempdir().expect("temp dir");
    let square = square_manifest(dir.path());
    for (video, step, input) in [("media/bikes.mp4", 0.95, "640x384"), ("media/vtest.avi", 7.5, "640x480")] {
        let images: Vec<std::path::PathBuf> = (0..10)
            .map(|k| {
                let frame = anttd::source::still::grab_frame(&file_uri(&asset(video)), 0.4 + step * f64::from(k))
                    .expect("frame");
                let png = dir.path().join(format!("f{k}.png"));
                frame.save(&png).expect("write png");
                png
            })
            .collect();
        let sq = detect_all(square.to_str().expect("utf-8"), &images);
        let shaped = detect_all("models/yolov12n.toml", &images);
        assert!(sq.iter().all(|v| v["input"] == "640x640"), "{sq:?}");
        assert!(shaped.iter().all(|v| v["input"] == input), "{video}: {shaped:?}");
        let (found, of) = agreement(&sq, &shaped);
        assert!(of >= 10, "{video}: too few boxes to compare: {of}");
        assert!(f64::from(found) >= 0.95 * f64::from(of), "{video}: found {found} of {of}");
    }
}

/// The permissively licensed SSD-MobileNet-v2 (scripts/make-ssd-model) finds most of the road
/// users YOLOv12n finds: of YOLOv12n's person, bicycle, car, motorcycle, bus and truck boxes
/// with score ≥ 0.5 on 20 frames of vtest.avi, at least 65 % again (same label, IoU ≥ 0.5); its
/// boxes come back in the frame's pixels through its 300x300 letterbox. (On 159 frames: 73 %,
/// docs/performance.md.)
#[test]
fn the_permissive_ssd_model_finds_most_of_the_road_users_yolo_finds() {
    let dir = tempfile::tempdir().expect("temp dir");
    let images: Vec<std::path::PathBuf> = (0..20)
        .map(|k| {
            let frame =
                anttd::source::still::grab_frame(&file_uri(&asset("media/vtest.avi")), 0.4 + 3.9 * f64::from(k))
                    .expect("frame");
            let png = dir.path().join(format!("f{k}.png"));
            frame.save(&png).expect("write png");
            png
        })
        .collect();
    let yolo = detect_all("models/yolov12n.toml", &images);
    let ssd = detect_all("models/ssd-mobilenet-v2.toml", &images);
    assert!(ssd.iter().all(|v| v["input"] == "300x300"), "{ssd:?}");
    let road_users = |l: &str| ["person", "bicycle", "car", "motorcycle", "bus", "truck"].contains(&l);
    let (found, of) = agreement_on(&yolo, &ssd, 0.5, road_users);
    eprintln!("SSD found {found} of YOLOv12n's {of} road users");
    assert!(of >= 100, "too few boxes to compare: {of}");
    assert!(f64::from(found) >= 0.65 * f64::from(of), "found {found} of {of}");
}
