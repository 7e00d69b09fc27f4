//! The server's top-level modules form layers, and so do the shared crate's (`app`, which the
//! server and the page both build): no module imports another that imports it back,
//! directly or through others. A folder module and its own children may refer to each other;
//! test code (`tests.rs`, `#[cfg(test)] mod tests`) is left out, since it may reach anywhere.
//!
//! The check reads the sources as text: every `crate::name` path (in `use` lists too) is an
//! edge from the module whose file holds it to the top-level module `name`.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// `#[macro_export]` macros live at the crate root but belong to a module.
const MACROS: [(&str, &str); 1] = [("on_pool", "db")];

fn source_files(path: &Path, out: &mut Vec<PathBuf>) {
    if path.is_dir() {
        let mut entries: Vec<PathBuf> = std::fs::read_dir(path)
            .expect("readable source folder")
            .map(|e| e.expect("a folder entry").path())
            .collect();
        entries.sort();
        for entry in entries {
            source_files(&entry, out);
        }
    } else if path.extension().is_some_and(|e| e == "rs")
        && path.file_name().is_some_and(|n| n != "tests.rs")
    {
        out.push(path.to_path_buf());
    }
}

/// The code of a file: without comments (docs may name any module) and without its trailing
/// `#[cfg(test)] mod tests { … }` (or `mod tests;`).
fn code_of(text: &str) -> String {
    without_tests(text)
        .lines()
        .map(|line| match line.find("//") {
            Some(at) => &line[..at],
            None => line,
        })
        .collect::<Vec<_>>()
        .join("\n")
}

fn without_tests(text: &str) -> &str {
    let mut rest = text;
    let mut cut = text.len();
    while let Some(at) = rest.find("#[cfg(test)]") {
        let offset = text.len() - rest.len() + at;
        let after = text[offset + "#[cfg(test)]".len()..].trim_start();
        if after.starts_with("mod ") || after.starts_with("pub(crate) mod test_support") {
            cut = cut.min(offset);
        }
        rest = &rest[at + 1..];
    }
    &text[..cut]
}

/// The first path segment of every `crate::…` path in `code`, `use crate::{a, b::c}` included.
fn crate_paths(code: &str) -> BTreeSet<String> {
    let mut found = BTreeSet::new();
    let mut rest = code;
    while let Some(at) = rest.find("crate::") {
        let before = rest[..at].chars().last();
        rest = &rest[at + "crate::".len()..];
        if before.is_some_and(|c| c.is_alphanumeric() || c == '_') {
            continue; // `thor_crate::`, not ours
        }
        if let Some(list) = rest.strip_prefix('{') {
            let mut depth = 1;
            let mut item = String::new();
            let mut at_item_start = true;
            for c in list.chars() {
                match c {
                    '{' => depth += 1,
                    '}' => depth -= 1,
                    ',' if depth == 1 => {
                        if !item.is_empty() {
                            found.insert(std::mem::take(&mut item));
                        }
                        at_item_start = true;
                        continue;
                    }
                    _ => {}
                }
                if depth == 0 {
                    break;
                }
                if depth == 1 && at_item_start {
                    if c.is_alphanumeric() || c == '_' {
                        item.push(c);
                    } else if !item.is_empty() {
                        found.insert(std::mem::take(&mut item));
                        at_item_start = false;
                    }
                }
            }
            if !item.is_empty() {
                found.insert(item);
            }
        } else {
            let name: String = rest
                .chars()
                .take_while(|c| c.is_alphanumeric() || *c == '_')
                .collect();
            if !name.is_empty() {
                found.insert(name);
            }
        }
    }
    found
}

fn module_graph(src: &Path) -> BTreeMap<String, BTreeSet<String>> {
    let mut graph = BTreeMap::new();
    for entry in std::fs::read_dir(src).expect("server/src") {
        let path = entry.expect("an entry").path();
        let Some(stem) = path.file_stem().and_then(|s| s.to_str()) else {
            continue;
        };
        if matches!(stem, "lib" | "main") {
            continue;
        }
        let mut files = Vec::new();
        source_files(&path, &mut files);
        let edges: &mut BTreeSet<String> = graph.entry(stem.to_string()).or_default();
        for file in files {
            let text = std::fs::read_to_string(&file).expect("readable source");
            for name in crate_paths(&code_of(&text)) {
                let name = MACROS
                    .iter()
                    .find(|(m, _)| *m == name)
                    .map_or(name.clone(), |(_, module)| module.to_string());
                if name != stem {
                    edges.insert(name);
                }
            }
        }
    }
    let modules: BTreeSet<String> = graph.keys().cloned().collect();
    for edges in graph.values_mut() {
        edges.retain(|name| modules.contains(name));
    }
    graph
}

/// A cycle through `start`, if there is one, as the modules along it.
fn cycle_from(graph: &BTreeMap<String, BTreeSet<String>>, start: &str) -> Option<Vec<String>> {
    fn walk(
        graph: &BTreeMap<String, BTreeSet<String>>,
        start: &str,
        at: &str,
        path: &mut Vec<String>,
        seen: &mut BTreeSet<String>,
    ) -> bool {
        for next in graph.get(at).into_iter().flatten() {
            if next == start {
                path.push(next.clone());
                return true;
            }
            if seen.insert(next.clone()) {
                path.push(next.clone());
                if walk(graph, start, next, path, seen) {
                    return true;
                }
                path.pop();
            }
        }
        false
    }
    let mut path = vec![start.to_string()];
    walk(graph, start, start, &mut path, &mut BTreeSet::new()).then_some(path)
}

#[test]
fn no_top_level_module_imports_one_that_imports_it_back() {
    assert_no_cycles(
        &Path::new(env!("CARGO_MANIFEST_DIR")).join("../server/src"),
        10,
    );
}

#[test]
fn no_module_of_the_shared_crate_imports_one_that_imports_it_back() {
    // The views (components, dashboard, live, site) and the types they share with the server.
    assert_no_cycles(&Path::new(env!("CARGO_MANIFEST_DIR")).join("../app/src"), 4);
    assert_no_cycles(
        &Path::new(env!("CARGO_MANIFEST_DIR")).join("../core/src"),
        10,
    );
}

/// `src`'s top-level modules (at least `modules` of them: the right directory was read) import
/// one another without a cycle.
fn assert_no_cycles(src: &Path, modules: usize) {
    let graph = module_graph(src);
    assert!(graph.len() >= modules, "the modules were found: {graph:?}");
    let cycles: Vec<String> = graph
        .keys()
        .filter_map(|module| cycle_from(&graph, module))
        .map(|cycle| cycle.join(" -> "))
        .collect();
    let layout: Vec<String> = graph
        .iter()
        .map(|(module, uses)| format!("{module} -> {uses:?}"))
        .collect();
    assert!(
        cycles.is_empty(),
        "import cycles:\n{}\n\nthe graph:\n{}",
        cycles.join("\n"),
        layout.join("\n")
    );
}

#[test]
fn the_check_sees_paths_in_use_lists_and_catches_a_cycle() {
    let paths =
        crate_paths("use crate::{api, auth::{self, User}, hub};\nlet x = crate::db::open();");
    assert_eq!(
        paths.into_iter().collect::<Vec<_>>(),
        ["api", "auth", "db", "hub"]
    );
    assert_eq!(
        without_tests("fn a() {}\n#[cfg(test)]\nmod tests { use crate::x; }"),
        "fn a() {}\n"
    );
    let graph: BTreeMap<String, BTreeSet<String>> = [
        ("a", vec!["b"]),
        ("b", vec!["c"]),
        ("c", vec!["a"]),
        ("d", vec!["a"]),
    ]
    .into_iter()
    .map(|(m, e)| (m.to_string(), e.into_iter().map(String::from).collect()))
    .collect();
    assert_eq!(
        cycle_from(&graph, "a"),
        Some(vec!["a".into(), "b".into(), "c".into(), "a".into()])
    );
    assert_eq!(cycle_from(&graph, "d"), None);
}
