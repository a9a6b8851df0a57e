//! Reading TOML files with errors that name the file, the key and the line.

use std::fmt;
use std::path::{Path, PathBuf};

use serde::de::DeserializeOwned;

/// A mistake in a TOML file, located as precisely as the parser allows.
#[derive(Debug, Clone, PartialEq)]
pub struct ConfigError {
    pub file: PathBuf,
    /// 1-based line and column, when the mistake has a place in the file.
    pub position: Option<(usize, usize)>,
    /// Dotted key path such as `cameras[0].detect_fps`, when known.
    pub key: Option<String>,
    pub message: String,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.file.display())?;
        if let Some((line, col)) = self.position {
            write!(f, ":{line}:{col}")?;
        }
        if let Some(key) = &self.key {
            write!(f, ": key `{key}`")?;
        }
        write!(f, ": {}", self.message)
    }
}

impl std::error::Error for ConfigError {}

impl ConfigError {
    pub fn new(file: &Path, message: impl Into<String>) -> Self {
        Self { file: file.to_path_buf(), position: None, key: None, message: message.into() }
    }

    /// An error about a value whose place in `text` is `span` (a byte range).
    pub fn at(
        file: &Path,
        text: &str,
        span: std::ops::Range<usize>,
        key: impl Into<String>,
        message: impl Into<String>,
    ) -> Self {
        Self {
            file: file.to_path_buf(),
            position: Some(line_col(text, span.start)),
            key: Some(key.into()),
            message: message.into(),
        }
    }
}

/// 1-based line and column of byte offset `at` in `text`.
pub fn line_col(text: &str, at: usize) -> (usize, usize) {
    let at = at.min(text.len());
    let before = &text.as_bytes()[..at];
    let line = before.iter().filter(|&&b| b == b'\n').count() + 1;
    let line_start = before.iter().rposition(|&b| b == b'\n').map_or(0, |p| p + 1);
    let col = String::from_utf8_lossy(&before[line_start..]).chars().count() + 1;
    (line, col)
}

/// Parse `text` (read from `file`) into `T`, refusing unknown keys and bad values with their place.
pub fn parse_toml<T: DeserializeOwned>(file: &Path, text: &str) -> Result<T, ConfigError> {
    let de = toml::Deserializer::parse(text).map_err(|e| toml_error(file, text, &e, None))?;
    serde_path_to_error::deserialize(de).map_err(|e| {
        // A `Spanned` value is read through a private field whose name serde puts in the path.
        let path = e.path().to_string().replace(".$__serde_spanned_private_value", "");
        let key = (path != "." && !path.is_empty()).then_some(path);
        toml_error(file, text, e.inner(), key)
    })
}

/// Read and parse a TOML file.
pub fn read_toml<T: DeserializeOwned>(file: &Path) -> Result<(T, String), ConfigError> {
    let text = std::fs::read_to_string(file).map_err(|e| ConfigError::new(file, format!("cannot read: {e}")))?;
    let value = parse_toml(file, &text)?;
    Ok((value, text))
}

fn toml_error(file: &Path, text: &str, e: &toml::de::Error, key: Option<String>) -> ConfigError {
    let message = e.message().trim().to_string();
    let (mut span, mut key) = (e.span(), key);
    // Tables read through serde's buffering (the `kind`-tagged rules) report an unknown key at
    // their `[[header]]`: point at the key's own line instead, and name it in the path.
    if let (Some(s), Some(k)) = (span.clone(), key.as_deref())
        && text.get(s.start..).is_some_and(|t| t.starts_with('['))
        && let Some(field) = message.strip_prefix("unknown field `").and_then(|m| m.split('`').next())
    {
        let at = key_span(text, s.clone(), field);
        if at != s {
            key = Some(format!("{k}.{field}"));
            span = Some(at);
        }
    }
    ConfigError { file: file.to_path_buf(), position: span.map(|s| line_col(text, s.start)), key, message }
}

/// The place of `key = …` in the table that starts at `table` in `text`: a table's span may
/// cover only its `[[header]]`, so look from there to the next header. The table itself if the
/// key is not written on a line of its own (inline tables).
pub fn key_span(text: &str, table: std::ops::Range<usize>, key: &str) -> std::ops::Range<usize> {
    let Some(body) = text.get(table.start..) else { return table };
    let mut offset = table.start;
    for (n, line) in body.split_inclusive('\n').enumerate() {
        let trimmed = line.trim_start();
        if n > 0 && trimmed.starts_with('[') {
            break;
        }
        if let Some(rest) = trimmed.strip_prefix(key)
            && rest.trim_start().starts_with('=')
        {
            let at = offset + (line.len() - trimmed.len());
            return at..at + key.len();
        }
        offset += line.len();
    }
    table
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn line_col_counts_from_one() {
        let t = "a = 1\nbb = 2\n";
        assert_eq!(line_col(t, 0), (1, 1));
        assert_eq!(line_col(t, 6), (2, 1));
        assert_eq!(line_col(t, 11), (2, 6));
    }
}
