//! anttd: an edge video-analytics daemon. Camera video → GStreamer decode → ONNX detector →
//! tracker → rules → events → MQTT, on the camera box itself.
//!
//! Each stage has a folder: [`source`], [`detect`], [`track`], [`rules`], [`event`], [`publish`],
//! [`evidence`], [`health`]; each owns its section of the config, built from [`schema`]'s value
//! types, and [`config`] assembles the file. [`analytics`] runs one camera's pure stages,
//! [`pipeline`] the cameras, detector and analytics threads, and [`daemon`] the rest of
//! `anttd run`. No top-level module imports one that imports it (`scripts/module-cycles`).

pub mod analytics;
pub mod bench;
pub mod config;
pub mod daemon;
pub mod detect;
pub mod durable;
pub mod event;
pub mod evidence;
pub mod geometry;
pub mod health;
pub mod pipeline;
pub mod publish;
pub mod replay;
pub mod rules;
pub mod schema;
pub mod sim;
pub mod source;
pub mod station;
pub mod track;
