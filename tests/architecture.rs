//! The shape of the code (STYLE.md "four rooms, one direction"), read from
//! the source: which module refers to which, through `use` and inline
//! `crate::`/`super::` paths.
//!
//! - no two modules depend on each other, directly or through others;
//! - `domain/` and `render/` use nothing of `service/`, `api/` or `store/`,
//!   and `domain/` knows neither HTTP nor SQL;
//! - an error code is written once, in the table of `src/error.rs`.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// A module's path from the crate root, e.g. `["service", "invoices"]`.
type Module = Vec<String>;

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

fn module_of(src: &Path, file: &Path) -> Module {
    let rel = file.strip_prefix(src).unwrap().with_extension("");
    let mut parts: Vec<String> = rel
        .components()
        .map(|c| c.as_os_str().to_string_lossy().into_owned())
        .collect();
    if matches!(
        parts.last().map(String::as_str),
        Some("mod" | "lib" | "main")
    ) {
        parts.pop();
    }
    parts
}

/// The file's code without its unit tests (an inline `mod tests` changes
/// what `super` means, and tests may reach anywhere) and without comments.
fn code_of(text: &str) -> String {
    let mut code = String::new();
    let mut lines = text.lines().peekable();
    while let Some(line) = lines.next() {
        if line.trim() == "#[cfg(test)]"
            && lines
                .peek()
                .is_some_and(|next| next.trim_start().starts_with("mod "))
        {
            break;
        }
        let line = line.split("//").next().unwrap_or("");
        code.push_str(line);
        code.push('\n');
    }
    code
}

/// Expands `a::{b, c::{d, e}}` into `a::b`, `a::c::d`, `a::c::e`.
fn expand(tree: &str) -> Vec<String> {
    let tree: String = tree.chars().filter(|c| !c.is_whitespace()).collect();
    let Some(open) = tree.find('{') else {
        return vec![tree];
    };
    let prefix = &tree[..open];
    let inner = &tree[open + 1..tree.rfind('}').unwrap()];
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
        .filter(|p| !p.is_empty())
        .flat_map(|p| expand(&format!("{prefix}{p}")))
        .collect()
}

/// Every `crate::...` and `super::...` path the code names.
fn paths_in(code: &str) -> Vec<String> {
    let mut paths = Vec::new();
    // `use` statements, braces expanded.
    for statement in code.split(';') {
        let s = statement.trim_start();
        let s = s.strip_prefix("pub ").unwrap_or(s).trim_start();
        if let Some(tree) = s.strip_prefix("use ") {
            paths.extend(expand(tree));
        }
    }
    // Inline paths: `crate::a::b`, `super::a`.
    let bytes = code.as_bytes();
    for start in ["crate::", "super::"] {
        let mut from = 0;
        while let Some(i) = code[from..].find(start) {
            let at = from + i;
            from = at + start.len();
            if at > 0 && (bytes[at - 1].is_ascii_alphanumeric() || bytes[at - 1] == b'_') {
                continue;
            }
            let end = code[at..]
                .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_' || c == ':'))
                .map_or(code.len(), |e| at + e);
            paths.push(code[at..end].trim_end_matches(':').to_owned());
        }
    }
    paths
}

/// The module a path refers to: the longest prefix that is a module.
fn target(from: &Module, path: &str, modules: &BTreeSet<Module>) -> Option<Module> {
    let mut segments = path.split("::").filter(|s| !s.is_empty());
    let mut base: Module = match segments.next()? {
        "crate" => Vec::new(),
        "super" => from[..from.len().saturating_sub(1)].to_vec(),
        _ => return None,
    };
    let mut rest: Vec<&str> = segments.collect();
    while rest.first() == Some(&"super") {
        base.pop();
        rest.remove(0);
    }
    let mut best = base.clone();
    for segment in rest {
        base.push(segment.to_owned());
        if modules.contains(&base) {
            best = base.clone();
        } else {
            break;
        }
    }
    Some(best)
}

struct Graph {
    edges: BTreeMap<Module, BTreeSet<Module>>,
    sources: BTreeMap<Module, String>,
}

fn graph() -> Graph {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    rust_files(&src, &mut files);
    let modules: BTreeSet<Module> = files.iter().map(|f| module_of(&src, f)).collect();
    let mut edges = BTreeMap::new();
    let mut sources = BTreeMap::new();
    for file in &files {
        let from = module_of(&src, file);
        let text = std::fs::read_to_string(file).unwrap();
        let code = code_of(&text);
        let to: BTreeSet<Module> = paths_in(&code)
            .iter()
            .filter_map(|p| target(&from, p, &modules))
            // A module may use its own parents' items (`super::Ctx`) and
            // its children; those are the tree, not dependencies.
            .filter(|t| {
                t != &from && !t.is_empty() && !from.starts_with(t) && !t.starts_with(&from)
            })
            .collect();
        edges.insert(from.clone(), to);
        sources.insert(from, code);
    }
    Graph { edges, sources }
}

fn name(m: &Module) -> String {
    m.join("::")
}

/// Strongly connected components of more than one module (Tarjan).
fn cycles(edges: &BTreeMap<Module, BTreeSet<Module>>) -> Vec<Vec<String>> {
    struct State<'a> {
        edges: &'a BTreeMap<Module, BTreeSet<Module>>,
        index: BTreeMap<&'a Module, usize>,
        low: BTreeMap<&'a Module, usize>,
        stack: Vec<&'a Module>,
        on_stack: BTreeSet<&'a Module>,
        found: Vec<Vec<String>>,
    }
    fn visit<'a>(s: &mut State<'a>, v: &'a Module) {
        let i = s.index.len();
        s.index.insert(v, i);
        s.low.insert(v, i);
        s.stack.push(v);
        s.on_stack.insert(v);
        for w in s.edges.get(v).into_iter().flatten() {
            let Some((w, _)) = s.edges.get_key_value(w) else {
                continue;
            };
            if !s.index.contains_key(w) {
                visit(s, w);
                let low = s.low[v].min(s.low[w]);
                s.low.insert(v, low);
            } else if s.on_stack.contains(w) {
                let low = s.low[v].min(s.index[w]);
                s.low.insert(v, low);
            }
        }
        if s.low[v] == s.index[v] {
            let mut component = Vec::new();
            while let Some(w) = s.stack.pop() {
                s.on_stack.remove(w);
                component.push(name(w));
                if w == v {
                    break;
                }
            }
            if component.len() > 1 {
                component.sort();
                s.found.push(component);
            }
        }
    }
    let mut state = State {
        edges,
        index: BTreeMap::new(),
        low: BTreeMap::new(),
        stack: Vec::new(),
        on_stack: BTreeSet::new(),
        found: Vec::new(),
    };
    for v in edges.keys() {
        if !state.index.contains_key(v) {
            visit(&mut state, v);
        }
    }
    state.found
}

#[test]
fn no_two_modules_depend_on_each_other_even_through_others() {
    let g = graph();
    assert!(
        g.edges
            .contains_key(&vec!["service".to_owned(), "invoices".to_owned()]),
        "the source was read"
    );
    let found = cycles(&g.edges);
    assert!(found.is_empty(), "modules in a cycle: {found:#?}");
}

#[test]
fn the_cycle_finder_finds_a_cycle_through_a_third_module() {
    let m = |s: &str| vec![s.to_owned()];
    let mut edges = BTreeMap::new();
    edges.insert(m("a"), BTreeSet::from([m("b")]));
    edges.insert(m("b"), BTreeSet::from([m("c")]));
    edges.insert(m("c"), BTreeSet::from([m("a")]));
    edges.insert(m("d"), BTreeSet::from([m("a")]));
    assert_eq!(cycles(&edges), vec![vec!["a", "b", "c"]]);
    edges.insert(m("c"), BTreeSet::new());
    assert!(cycles(&edges).is_empty());
}

#[test]
fn paths_are_read_from_use_trees_and_inline_code() {
    let code = "use super::{Ctx, audit, x::{y, z}};\nfn f() { crate::store::Tx::begin(); }";
    let paths = paths_in(code);
    for p in [
        "super::Ctx",
        "super::audit",
        "super::x::y",
        "super::x::z",
        "crate::store::Tx::begin",
    ] {
        assert!(paths.contains(&p.to_owned()), "{p} in {paths:?}");
    }
}

#[test]
fn domain_and_render_use_nothing_of_service_api_or_store() {
    let g = graph();
    let mut wrong = Vec::new();
    for (from, to) in &g.edges {
        if !matches!(from.first().map(String::as_str), Some("domain" | "render")) {
            continue;
        }
        for t in to {
            if matches!(
                t.first().map(String::as_str),
                Some("service" | "api" | "store")
            ) {
                wrong.push(format!("{} uses {}", name(from), name(t)));
            }
        }
    }
    for (module, code) in &g.sources {
        if module.first().map(String::as_str) == Some("domain") {
            for framework in ["actix_web::", "sqlx::"] {
                if code.contains(framework) {
                    wrong.push(format!("{} uses {framework}", name(module)));
                }
            }
        }
    }
    assert!(wrong.is_empty(), "{wrong:#?}");
}

#[test]
fn an_error_code_is_written_only_in_the_error_table() {
    let g = graph();
    let mut wrong = Vec::new();
    for (module, code) in &g.sources {
        if name(module) == "error" {
            continue;
        }
        for c in comptoir::error::Code::ALL {
            let literal = format!("\"{}\"", c.as_str());
            if code.contains(&literal) {
                wrong.push(format!("{} writes {literal}", name(module)));
            }
        }
    }
    assert!(wrong.is_empty(), "{wrong:#?}");
}
