//! Finding and loading the ONNX Runtime library (ort's `load-dynamic`).

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use anyhow::{Result, anyhow, bail};

/// The ONNX Runtime version the `ort` crate is built against (api-31).
pub const ORT_VERSION: &str = "1.31.1";

/// Where the library is looked for, in order, with why each place is on the list.
pub fn candidates(configured: Option<&Path>) -> Vec<(PathBuf, &'static str)> {
    let lib = format!("libonnxruntime.so.{ORT_VERSION}");
    let mut v = Vec::new();
    if let Some(p) = configured {
        v.push((p.to_path_buf(), "config model.runtime"));
        return v;
    }
    if let Some(p) = std::env::var_os("ORT_DYLIB_PATH").filter(|p| !p.is_empty()) {
        v.push((PathBuf::from(p), "ORT_DYLIB_PATH"));
        return v;
    }
    v.push((PathBuf::from("/usr/lib/anttd").join(&lib), "package install"));
    v.push((Path::new(env!("CARGO_MANIFEST_DIR")).join("runtime/onnxruntime").join(&lib), "scripts/setup"));
    v
}

/// Locate the library: the first candidate that exists, or one line naming every place looked at.
pub fn locate(configured: Option<&Path>) -> Result<PathBuf> {
    let c = candidates(configured);
    if let Some((p, _)) = c.iter().find(|(p, _)| p.is_file()) {
        return Ok(p.clone());
    }
    let looked: Vec<String> = c.iter().map(|(p, why)| format!("{} ({why})", p.display())).collect();
    bail!(
        "ONNX Runtime {ORT_VERSION} library not found; looked at: {}. Run scripts/setup, or set model.runtime in the config or ORT_DYLIB_PATH",
        looked.join(", ")
    )
}

static ENV: OnceLock<std::result::Result<ort::environment::Environment, String>> = OnceLock::new();

/// The process-wide ONNX Runtime environment, loading the library on first use. ONNX Runtime can
/// be loaded once per process, so later calls get the first result whatever path they pass.
pub fn environment(configured: Option<&Path>) -> Result<&'static ort::environment::Environment> {
    let env = ENV.get_or_init(|| {
        let path = locate(configured).map_err(|e| e.to_string())?;
        let builder =
            ort::init_from(&path).map_err(|e| format!("cannot load ONNX Runtime from {}: {e}", path.display()))?;
        builder
            .with_name("anttd")
            .build()
            .map_err(|e| format!("ONNX Runtime from {} did not start: {e}", path.display()))
    });
    env.as_ref().map_err(|e| anyhow!("{e}"))
}
