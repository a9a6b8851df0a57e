//! The integration tests, in one binary: each module is one part of anttd tried with the real
//! things (GStreamer, ONNX Runtime and the shipped model, mosquitto, the packaged `.deb`),
//! mostly by running the `anttd` binary. One binary links GStreamer, ONNX Runtime and SQLite
//! once instead of once per file. `common` holds the shared fixtures.
//!
//! One module: `cargo test --release --test it outbox::`.

mod common;

mod bad_input;
mod carry_vtest;
mod config_matrix;
mod deb_package;
mod detect_model;
mod discovery;
mod e2e_mqtt;
mod evidence;
mod motion_gate;
mod outbox;
mod regions;
mod reload;
mod replay;
mod replay_rules;
mod rtsp;
mod simulate;
mod source_modes;
mod station;
mod systemd_notify;
mod tls;
mod vtest_rules;
