//! A pole-camera scene simulator (issue 13): road users on a flat road seen by a pinhole camera,
//! a model of the detector's errors, and scenarios with what the rules should report. It only
//! measures: frames go through the real tracker and rules (`replay`'s loop), unchanged.
//!
//! `anttd simulate` writes a scenario's detections as a recording with a matching config, and
//! `anttd scenarios` prints how the rules did on every scenario, detect rate and geometry; with `--explain`, one run frame by frame.

pub mod actors;
pub mod camera;
pub mod carrier;
pub mod detector;
pub mod explain;
pub mod render;
pub mod run;
pub mod scenario;
pub mod tracking;

/// The shipped model's labels in class-id order (COCO-80, as yolov12n's `names` metadata lists
/// them), so a simulated recording needs no model.
pub const COCO_LABELS: [&str; 80] = [
    "person",
    "bicycle",
    "car",
    "motorcycle",
    "airplane",
    "bus",
    "train",
    "truck",
    "boat",
    "traffic light",
    "fire hydrant",
    "stop sign",
    "parking meter",
    "bench",
    "bird",
    "cat",
    "dog",
    "horse",
    "sheep",
    "cow",
    "elephant",
    "bear",
    "zebra",
    "giraffe",
    "backpack",
    "umbrella",
    "handbag",
    "tie",
    "suitcase",
    "frisbee",
    "skis",
    "snowboard",
    "sports ball",
    "kite",
    "baseball bat",
    "baseball glove",
    "skateboard",
    "surfboard",
    "tennis racket",
    "bottle",
    "wine glass",
    "cup",
    "fork",
    "knife",
    "spoon",
    "bowl",
    "banana",
    "apple",
    "sandwich",
    "orange",
    "broccoli",
    "carrot",
    "hot dog",
    "pizza",
    "donut",
    "cake",
    "chair",
    "couch",
    "potted plant",
    "bed",
    "dining table",
    "toilet",
    "tv",
    "laptop",
    "mouse",
    "remote",
    "keyboard",
    "cell phone",
    "microwave",
    "oven",
    "toaster",
    "sink",
    "refrigerator",
    "book",
    "clock",
    "vase",
    "scissors",
    "teddy bear",
    "hair drier",
    "toothbrush",
];
