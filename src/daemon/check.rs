//! `anttd check`, and what `run` shares with it: the model loaded and checked against the
//! config, the decoder of every camera.

use anyhow::{Context, Result, anyhow};

use crate::config::{Config, ConfigError};
use crate::detect::{Detector, DetectorOptions};
use crate::source;
use crate::source::decoders::{self, DecoderTemplate};

/// Load what `run` and `check` both need: the model, checked against the config.
pub fn load_detector(cfg: &Config) -> Result<Detector> {
    let manifest = crate::detect::manifest::Manifest::load(&cfg.manifest_path())?;
    let opts = DetectorOptions::new(cfg.model.threads.as_ref().map(|t| t.0), cfg.model.spin);
    let runtime = cfg.model.runtime.as_ref().map(|p| cfg.base_dir().join(p));
    let detector = Detector::load(&manifest, runtime.as_deref(), &opts)?;
    cfg.check_labels(&detector.labels.labels)?;
    Ok(detector)
}

/// The decode template of every camera (named in the config, or probed for `auto`), with the
/// preferred hardware decoders raised in GStreamer's registry.
pub fn choose_decoders(cfg: &Config) -> Result<Vec<DecoderTemplate>> {
    source::init()?;
    let templates = decoders::builtin();
    let mut chosen = Vec::with_capacity(cfg.cameras.len());
    for (i, cam) in cfg.cameras.iter().enumerate() {
        let wanted = &cam.decoder.get_ref().0;
        let t = decoders::choose(&templates, wanted, &decoders::gst_has_element).map_err(|e| {
            let span = cam.decoder.span();
            let msg = format!("camera `{}`: {e}", cam.id.get_ref().0);
            if span.is_empty() {
                anyhow!(ConfigError::new(&cfg.path, msg))
            } else {
                anyhow!(ConfigError::at(&cfg.path, &cfg.text, span, format!("cameras[{i}].decoder"), msg))
            }
        })?;
        tracing::info!(camera = %cam.id.get_ref().0, decoder = %t.name, requested = %wanted, "{}", t.description);
        decoders::apply_preferences(t);
        chosen.push(t.clone());
    }
    Ok(chosen)
}

/// Check everything `run` would need, without running: config, model, file sources, decoders.
///
/// With `skip_model` the model manifest is still read and validated but the ONNX model is not
/// loaded (no ONNX Runtime): for checking a binary where ONNX Runtime cannot run, e.g. an
/// aarch64 build under qemu-user, where ONNX Runtime aborts while reading the CPU topology.
pub fn check(cfg: &Config, skip_model: bool) -> Result<String> {
    let model = if skip_model {
        let manifest = crate::detect::manifest::Manifest::load(&cfg.manifest_path())?;
        format!("model {} not loaded (--skip-model)", manifest.name)
    } else {
        let mut detector = load_detector(cfg)?;
        // Every input shape, so a broken picture-shaped file is found here, not at a camera's
        // first frame.
        detector.load_all()?;
        let inputs: Vec<String> = detector.input_sizes().iter().map(|(w, h)| format!("{w}x{h}")).collect();
        format!(
            "model {} ({} labels, input{} {})",
            detector.manifest.name,
            detector.labels.labels.len(),
            if inputs.len() > 1 { "s" } else { "" },
            inputs.join(", ")
        )
    };
    let decoders = choose_decoders(cfg)?;
    for cam in &cfg.cameras {
        if let Some(p) = cam.uri.file_path(&cfg.base_dir()) {
            std::fs::File::open(&p)
                .with_context(|| format!("camera {}: cannot read video file {}", cam.id.get_ref().0, p.display()))?;
        }
    }
    let names: Vec<&str> = decoders.iter().map(|d| d.name.as_str()).collect();
    let mut out = format!(
        "{}: OK: {} camera(s) (decoders: {}), {model}",
        cfg.path.display(),
        cfg.cameras.len(),
        names.join(", ")
    );
    // Rules that cannot fire at this detect rate and calibration: a warning, not a failure.
    for cam in &cfg.cameras {
        use crate::config::feasibility as f;
        let warnings = (f::shortfalls(cam).into_iter().map(|w| w.to_string()))
            .chain(f::fast_escapes(cam).into_iter().map(|w| w.to_string()))
            .chain(f::weave_shortfalls(cam).into_iter().map(|w| w.to_string()))
            .chain(f::no_road_axis(cam).into_iter().map(|w| w.to_string()))
            .chain(f::no_road_direction(cam).into_iter().map(|w| w.to_string()))
            .chain(f::near_miss_blind(cam).into_iter().map(|w| w.to_string()));
        for w in warnings {
            out += &format!("\n{}: warning: camera `{}`: {w}", cfg.path.display(), cam.id.get_ref().0);
        }
    }
    out += &format!("\n{}: {}", cfg.path.display(), extraction_summary(cfg)?);
    if cfg.plaintext_credentials() {
        out += &format!("\n{}: warning: {PLAINTEXT_CREDENTIALS}", cfg.path.display());
    }
    Ok(out)
}

pub(super) const PLAINTEXT_CREDENTIALS: &str =
    "[mqtt] sends its password to a broker that is not on this machine without TLS: add [mqtt.tls]";

/// Whether stations can ask this box for footage, and the box's public key for `fetch --box-key`.
fn extraction_summary(cfg: &Config) -> Result<String> {
    let x = &cfg.extract;
    if !x.enabled() {
        return Ok("extraction on request: off (no [extract] station_keys)".into());
    }
    if !cfg.evidence.enabled {
        return Ok("warning: [extract] station_keys are set but [evidence] is off: there is no footage to give".into());
    }
    let path = x.key_path(&cfg.base_dir(), &cfg.data_dir());
    let key = if path.exists() {
        let k = crate::evidence::signed::read_key(&path).context("[extract] key_file")?;
        format!("box key {} (public key {})", path.display(), crate::evidence::signed::public_text(&k.verifying_key()))
    } else {
        format!("box key {} made at first start (`anttd pubkey` prints its public key)", path.display())
    };
    Ok(format!("extraction on request: on, for {} station key(s); {key}", x.station_keys.len()))
}
