//! Writing a file so that a power cut leaves the old one or the whole new one: the box is
//! switched off at the pole without warning. Below every stage (evidence files, the discovery
//! memory); no imports from the crate.

use std::path::Path;

use anyhow::Context;

/// Sync `tmp`, rename it to `out` and sync the folder: after a power cut, `out` is either the
/// whole file or absent.
pub fn rename(tmp: &Path, out: &Path) -> anyhow::Result<()> {
    std::fs::File::open(tmp).and_then(|f| f.sync_all()).with_context(|| format!("cannot sync {}", tmp.display()))?;
    std::fs::rename(tmp, out).with_context(|| format!("cannot write {}", out.display()))?;
    if let Some(dir) = out.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::File::open(dir)
            .and_then(|d| d.sync_all())
            .with_context(|| format!("cannot sync {}", dir.display()))?;
    }
    Ok(())
}
