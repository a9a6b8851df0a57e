//! The building blocks of every config section: validated value types (seconds, speeds, ids,
//! polygons, URIs, …) that refuse what they cannot hold while they are read, and errors located
//! in their file by line and key.
//!
//! It sits below every stage so that each stage can own its section of the config (a rule its
//! `[[cameras.rules]]` table, evidence its `[evidence]`) while `crate::config` assembles the
//! whole file from them: a stage imports `schema`, never `config`.

mod load;
mod values;

pub use load::{ConfigError, key_span, line_col, parse_toml, read_toml};
pub use values::*;
