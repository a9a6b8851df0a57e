//! anttd: an edge video-analytics daemon. Camera video → GStreamer decode → ONNX detector →
//! tracker → rules → events → MQTT, on the camera box itself.
//!
//! Each stage has a folder: [`source`], [`detect`], [`track`], [`rules`], [`event`], [`publish`],
//! [`health`], [`config`]; [`analytics`] runs one camera's pure stages and [`daemon`] wires the
//! threads together.

pub mod analytics;
pub mod bench;
pub mod config;
pub mod daemon;
pub mod detect;
pub mod event;
pub mod evidence;
pub mod health;
pub mod pipeline;
pub mod publish;
pub mod replay;
pub mod rules;
pub mod sim;
pub mod source;
pub mod track;
