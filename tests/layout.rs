//! The code's layout rules (ARCHITECTURE.md), checked on every test run so they stay
//! true: no file in `src/` over 400 lines, no module named after a standard crate, no
//! import cycle between files (file A naming an item of file B, directly or through
//! others, while B names one of A's), and `unsafe` code in one file only.
//!
//! Imports are read from the source text: `use` trees and inline `crate::`, `super::`,
//! `self::` paths outside comments and outside a file's trailing `#[cfg(test)]` module.
//! A path resolves to the deepest file module it names, so naming an item that a
//! `mod.rs` re-exports counts as importing that `mod.rs`.

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::path::{Path, PathBuf};

const MAX_LINES: usize = 400;
const STD_CRATES: [&str; 5] = ["core", "std", "alloc", "proc_macro", "test"];

/// Every `.rs` file under `dir`.
fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in fs::read_dir(dir).expect("read src") {
        let path = entry.expect("dir entry").path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// The module path of a file: `src/conn/send.rs` → `["conn", "send"]`, `src/conn/mod.rs`
/// → `["conn"]`, `src/lib.rs` → `[]`.
fn module_of(src: &Path, file: &Path) -> Vec<String> {
    let rel = file.strip_prefix(src).expect("under src");
    let mut parts: Vec<String> = rel
        .iter()
        .map(|p| p.to_string_lossy().trim_end_matches(".rs").to_string())
        .collect();
    if matches!(parts.last().map(String::as_str), Some("mod" | "lib")) {
        parts.pop();
    }
    parts
}

/// The code of a file without comments, string contents or its trailing test module.
fn code_of(text: &str) -> String {
    let mut out = String::new();
    let mut lines = text.lines().peekable();
    while let Some(line) = lines.next() {
        if line.starts_with("#[cfg(test)]")
            && lines.peek().is_some_and(|next| next.starts_with("mod "))
        {
            break;
        }
        let code = match line.find("//") {
            Some(i) => &line[..i],
            None => line,
        };
        // Strings may hold "crate::" in messages; drop their contents.
        let mut in_str = false;
        for c in code.chars() {
            if c == '"' {
                in_str = !in_str;
                out.push(c);
            } else if !in_str {
                out.push(c);
            }
        }
        out.push('\n');
    }
    out
}

/// Expands a `use` tree (`a::{b, c::{d, e}}`) into its paths.
fn expand(tree: &str) -> Vec<String> {
    let tree = tree.trim();
    let Some(open) = tree.find('{') else {
        let path = tree.split(" as ").next().unwrap_or("").trim();
        return if path.is_empty() {
            vec![]
        } else {
            vec![path.to_string()]
        };
    };
    let prefix = tree[..open].trim().trim_end_matches("::");
    let inner = &tree[open + 1..tree.rfind('}').unwrap_or(tree.len())];
    let mut parts = Vec::new();
    let (mut depth, mut start) = (0, 0);
    for (i, c) in inner.char_indices() {
        match c {
            '{' => depth += 1,
            '}' => depth -= 1,
            ',' if depth == 0 => {
                parts.push(&inner[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    parts.push(&inner[start..]);
    parts
        .into_iter()
        .flat_map(expand)
        .map(|p| {
            if p == "self" {
                prefix.to_string()
            } else if prefix.is_empty() {
                p
            } else {
                format!("{prefix}::{p}")
            }
        })
        .collect()
}

/// Every path the code names: `use` trees and inline `crate::`/`super::`/`self::` paths.
fn paths_in(code: &str) -> Vec<String> {
    let mut paths = Vec::new();
    let mut rest = code;
    while let Some(i) = rest.find("use ") {
        let before = rest[..i].chars().last();
        let after = &rest[i + 4..];
        if before.is_some_and(|c| c.is_alphanumeric() || c == '_') {
            rest = after;
            continue;
        }
        let end = after.find(';').unwrap_or(after.len());
        paths.extend(expand(&after[..end]));
        rest = &after[end..];
    }
    let bytes = code.as_bytes();
    for start in ["crate::", "super::", "self::"] {
        for (i, _) in code.match_indices(start) {
            if i > 0 && (bytes[i - 1].is_ascii_alphanumeric() || bytes[i - 1] == b'_') {
                continue;
            }
            let end = code[i..]
                .find(|c: char| !(c.is_alphanumeric() || c == '_' || c == ':'))
                .map_or(code.len(), |e| i + e);
            paths.push(code[i..end].trim_end_matches(':').to_string());
        }
    }
    paths
}

/// The file a path from module `from` lands in: the deepest existing file module.
fn resolve(
    from: &[String],
    path: &str,
    files: &BTreeMap<Vec<String>, PathBuf>,
) -> Option<Vec<String>> {
    let mut segs: Vec<&str> = path.split("::").filter(|s| !s.is_empty()).collect();
    let mut base: Vec<String> = match segs.first().copied() {
        Some("crate") => vec![],
        // `self` is the file's module (a mod.rs's is its directory's).
        Some("self") => from.to_vec(),
        Some("super") => {
            let mut b = from.to_vec();
            let mut n = 0;
            while segs.get(n) == Some(&"super") {
                n += 1;
            }
            // `super` is the parent module (of a mod.rs: the directory's parent).
            for _ in 0..n {
                b.pop();
            }
            segs.drain(..n - 1);
            b
        }
        _ => return None,
    };
    segs.remove(0);
    let mut best = None;
    if files.contains_key(&base) {
        best = Some(base.clone());
    }
    for s in segs {
        base.push(s.to_string());
        if files.contains_key(&base) {
            best = Some(base.clone());
        } else {
            break;
        }
    }
    best
}

#[test]
fn src_files_are_small_named_for_their_concept_and_import_without_cycles() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut list = Vec::new();
    rust_files(&src, &mut list);
    let mut files = BTreeMap::new();
    let mut problems = Vec::new();
    for f in &list {
        let text = fs::read_to_string(f).expect("read");
        let n = text.lines().count();
        if n > MAX_LINES {
            problems.push(format!("{} has {n} lines (over {MAX_LINES})", f.display()));
        }
        let module = module_of(&src, f);
        if let Some(name) = module.last() {
            if STD_CRATES.contains(&name.as_str()) {
                problems.push(format!("{} is named after a standard crate", f.display()));
            }
        }
        files.insert(module, f.clone());
    }

    let mut edges: BTreeMap<Vec<String>, BTreeSet<Vec<String>>> = BTreeMap::new();
    for (module, f) in &files {
        let code = code_of(&fs::read_to_string(f).expect("read"));
        for p in paths_in(&code) {
            if let Some(to) = resolve(module, &p, &files) {
                if &to != module {
                    edges.entry(module.clone()).or_default().insert(to);
                }
            }
        }
    }
    // A cycle is an edge A → B with a path B → … → A.
    let reaches = |from: &Vec<String>, to: &Vec<String>| -> Option<Vec<Vec<String>>> {
        let mut stack = vec![vec![from.clone()]];
        let mut seen = BTreeSet::new();
        while let Some(trail) = stack.pop() {
            let last = trail.last().expect("trail").clone();
            if &last == to {
                return Some(trail);
            }
            if !seen.insert(last.clone()) {
                continue;
            }
            for next in edges.get(&last).into_iter().flatten() {
                let mut t = trail.clone();
                t.push(next.clone());
                stack.push(t);
            }
        }
        None
    };
    let name = |m: &Vec<String>| files[m].strip_prefix(&src).unwrap().display().to_string();
    let mut reported = BTreeSet::new();
    for (a, tos) in &edges {
        for b in tos {
            if let Some(back) = reaches(b, a) {
                let mut cycle: Vec<String> = std::iter::once(a).chain(&back).map(name).collect();
                let key: BTreeSet<String> = cycle.iter().cloned().collect();
                if reported.insert(key) {
                    cycle.dedup();
                    problems.push(format!("import cycle: {}", cycle.join(" -> ")));
                }
            }
        }
    }
    assert!(
        problems.is_empty(),
        "layout rules broken:\n{}",
        problems.join("\n")
    );
    // The check sees the imports it should: send.rs names the outbox.
    let send = vec!["conn".to_string(), "send".to_string()];
    let outbox = vec!["conn".to_string(), "outbox".to_string()];
    assert!(edges.get(&send).is_some_and(|e| e.contains(&outbox)));
}

/// The one file allowed `unsafe` code (calls into `#[target_feature]` functions after
/// run-time CPU detection), and the one line that allows it.
const UNSAFE_FILE: &str = "cipher/backend.rs";
const UNSAFE_ALLOW: (&str, &str) = ("cipher/mod.rs", "#[allow(unsafe_code)]");

#[test]
fn unsafe_code_is_confined_to_one_file_with_a_safety_comment_per_block() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut list = Vec::new();
    rust_files(&src, &mut list);
    let mut problems = Vec::new();
    for f in &list {
        let rel = f
            .strip_prefix(&src)
            .expect("under src")
            .display()
            .to_string();
        let text = fs::read_to_string(f).expect("read");
        let code = code_of(&text);
        for line in code.lines() {
            let allows = line.contains("unsafe_code") && !line.contains("deny(unsafe_code)");
            if allows && (rel.as_str(), line.trim()) != UNSAFE_ALLOW {
                problems.push(format!("{rel}: {}", line.trim()));
            }
            if line.contains("unsafe") && !line.contains("unsafe_code") && rel != UNSAFE_FILE {
                problems.push(format!("{rel}: {}", line.trim()));
            }
        }
        if rel == UNSAFE_FILE {
            // Every `unsafe` block follows a `// SAFETY:` comment.
            let lines: Vec<&str> = text.lines().collect();
            for (i, line) in lines.iter().enumerate() {
                if line.contains("unsafe {")
                    && !lines[..i]
                        .iter()
                        .rev()
                        .take(4)
                        .any(|l| l.contains("// SAFETY:"))
                {
                    problems.push(format!("{rel}:{}: unsafe block without // SAFETY:", i + 1));
                }
            }
        }
    }
    assert!(
        problems.is_empty(),
        "unsafe code rules broken (only {UNSAFE_FILE} may have it):\n{}",
        problems.join("\n")
    );
}

#[test]
fn use_trees_expand_to_every_path() {
    let mut got = expand("super::{a::{B, C}, d, self}");
    got.sort();
    assert_eq!(got, ["super", "super::a::B", "super::a::C", "super::d"]);
    assert_eq!(expand("crate::x::Y as Z"), ["crate::x::Y"]);
}
