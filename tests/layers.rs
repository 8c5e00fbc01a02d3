//! The library's layers, enforced: every top-level module of `src/` has a place in
//! [`LAYERS`], lowest first, and may import only the modules listed before it (its own
//! submodules aside). An import of a module listed later — a low module reaching up, or a
//! cycle — fails this test with the file and line. A new top-level module fails it too
//! until it is given a place. Modules name each other by `crate::` paths (`super::` stays
//! inside a module). ARCHITECTURE.md explains each layer.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// The layers, lowest first; within a layer, each module may import those before it.
const LAYERS: &[(&str, &[&str])] = &[
    (
        "foundation",
        &[
            "error", "fault", "paths", "text", "pyjson", "jsondiff", "dotenv", "procs", "textfile",
        ],
    ),
    ("filesystem", &["fsx", "lock", "store", "holders"]),
    ("documents", &["jsondoc", "salvage", "content"]),
    (
        "plans and settings",
        &[
            "plan", "space", "findings", "config", "mode", "keyfile", "hint", "health", "alerts",
        ],
    ),
    ("journal", &["journal", "stats"]),
    (
        "transactions",
        &[
            "txn",
            "recovery",
            "botlock",
            "quarantine",
            "rollback",
            "prune",
        ],
    ),
    (
        "inspection",
        &["checks", "detect", "predict", "report", "audit"],
    ),
    ("pipeline", &["run"]),
    ("commands", &["commands"]),
];

/// The module of the library each `src/` file belongs to (`None`: the crate root or the
/// binary).
fn module_of(rel: &Path) -> Option<String> {
    let first = rel.components().next()?.as_os_str().to_str()?;
    let name = first.strip_suffix(".rs").unwrap_or(first);
    match name {
        "lib" | "main" | "cli" => None,
        _ => Some(name.to_string()),
    }
}

/// The code of a file without comments and without its test module.
fn code_of(text: &str) -> Vec<(usize, String)> {
    let mut out = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let trimmed = line.trim_start();
        if trimmed.starts_with("#[cfg(test)]") {
            break;
        }
        let code = match line.find("//") {
            Some(at) => &line[..at],
            None => line,
        };
        if !code.trim().is_empty() {
            out.push((i + 1, code.to_string()));
        }
    }
    out
}

/// The crate modules a line names: `crate::a::…`, and each name of a `crate::{a, b::c}`
/// group (a group may span lines: `open` carries the depth across them).
fn named(line: &str, open: &mut usize, out: &mut Vec<String>) {
    let mut rest = line;
    if *open > 0 {
        rest = group(rest, open, out);
    }
    while let Some(at) = rest.find("crate::") {
        rest = &rest[at + "crate::".len()..];
        if let Some(inner) = rest.strip_prefix('{') {
            *open = 1;
            rest = group(inner, open, out);
        } else {
            let name: String = rest
                .chars()
                .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                .collect();
            out.push(name);
        }
    }
}

/// Reads the names at depth 1 of a `crate::{…}` group until it closes.
fn group<'a>(mut rest: &'a str, open: &mut usize, out: &mut Vec<String>) -> &'a str {
    let mut first = true;
    while let Some(c) = rest.chars().next() {
        match c {
            '{' => *open += 1,
            '}' => {
                *open -= 1;
                if *open == 0 {
                    return &rest[1..];
                }
            }
            ',' if *open == 1 => first = true,
            c if (c.is_ascii_alphabetic() || c == '_') && first && *open == 1 => {
                let name: String = rest
                    .chars()
                    .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                    .collect();
                rest = &rest[name.len()..];
                if name != "self" {
                    out.push(name);
                }
                first = false;
                continue;
            }
            c if !c.is_whitespace() => first = false,
            _ => {}
        }
        rest = &rest[c.len_utf8()..];
    }
    rest
}

/// Test-only code (a `tests.rs` or `*_tests.rs` module, the fuzzing harnesses) may reach
/// any layer.
fn is_test_code(rel: &Path) -> bool {
    let name = rel.file_name().and_then(|n| n.to_str()).unwrap_or_default();
    name.ends_with("tests.rs") || rel.components().any(|c| c.as_os_str() == "fuzzing")
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for e in entries.flatten() {
        let p = e.path();
        if p.is_dir() {
            rust_files(&p, out);
        } else if p.extension().is_some_and(|x| x == "rs") {
            out.push(p);
        }
    }
}

#[test]
fn no_module_imports_a_module_above_it() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let rank: BTreeMap<&str, usize> = LAYERS
        .iter()
        .flat_map(|(_, mods)| mods.iter())
        .enumerate()
        .map(|(i, m)| (*m, i))
        .collect();
    let mut files = Vec::new();
    rust_files(&src, &mut files);
    files.sort();
    let mut wrong = Vec::new();
    for path in &files {
        let rel = path.strip_prefix(&src).unwrap_or(path);
        if is_test_code(rel) {
            continue;
        }
        let Some(module) = module_of(rel) else {
            continue;
        };
        let Some(&own) = rank.get(module.as_str()) else {
            wrong.push(format!(
                "src/{}: module `{module}` has no layer",
                rel.display()
            ));
            continue;
        };
        let text = std::fs::read_to_string(path).unwrap_or_default();
        let mut open = 0;
        for (line, code) in code_of(&text) {
            let mut names = Vec::new();
            named(&code, &mut open, &mut names);
            for name in names.into_iter().filter(|n| *n != module) {
                match rank.get(name.as_str()) {
                    Some(&r) if r < own => {}
                    _ => wrong.push(format!(
                        "src/{}:{line}: `{module}` imports `{name}`, which is not below it",
                        rel.display()
                    )),
                }
            }
        }
    }
    assert!(wrong.is_empty(), "layer violations:\n{}", wrong.join("\n"));
}

#[test]
fn every_layer_lists_modules_that_exist() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    for (layer, mods) in LAYERS {
        for m in *mods {
            let exists = src.join(format!("{m}.rs")).is_file() || src.join(m).is_dir();
            assert!(exists, "layer `{layer}` lists `{m}`, which is not in src/");
        }
    }
}
