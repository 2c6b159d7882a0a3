//! The Rust crate's modules keep the layering drawn at the top of
//! rust/src/lib.rs: no two modules use each other (directly or around a
//! cycle), and each module uses only modules on lower lines of the drawing, or
//! to its right on its own line. A module is a file of rust/src (`a.rs`, or
//! every file under `a/`); it uses `b` when its code (comments aside, tests
//! included) names a `crate::b` path.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

type Graph = BTreeMap<String, BTreeSet<String>>;

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display())) {
        let path = entry.unwrap().path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|x| x == "rs") {
            out.push(path);
        }
    }
}

/// Strips `//` comments (doc comments included), so prose naming a module is no use of it.
fn code_of(text: &str) -> String {
    text.lines().map(|line| line.find("//").map_or(line, |at| &line[..at])).collect::<Vec<_>>().join("\n")
}

/// The identifiers a `crate::` path starts with: `crate::a::x` and `crate::{a, b::y}`.
fn crate_paths(code: &str) -> Vec<String> {
    let ident = |s: &str| s.chars().take_while(|c| c.is_alphanumeric() || *c == '_').collect::<String>();
    let mut found = Vec::new();
    for (at, _) in code.match_indices("crate::") {
        let rest = &code[at + "crate::".len()..];
        if let Some(group) = rest.strip_prefix('{') {
            let group = &group[..group.find('}').unwrap_or(group.len())];
            found.extend(group.split(',').map(|item| ident(item.trim())));
        } else {
            found.push(ident(rest));
        }
    }
    found
}

fn module_graph(src: &Path) -> Graph {
    let mut files = Vec::new();
    rust_files(src, &mut files);
    let mut modules: BTreeMap<String, Vec<PathBuf>> = BTreeMap::new();
    for file in files {
        let first = file.strip_prefix(src).unwrap().components().next().unwrap().as_os_str().to_string_lossy();
        let module = first.strip_suffix(".rs").unwrap_or(&first).to_string();
        if module != "lib" {
            modules.entry(module).or_default().push(file);
        }
    }
    let mut graph = Graph::new();
    for (module, files) in &modules {
        let uses = graph.entry(module.clone()).or_default();
        for file in files {
            let code = code_of(&std::fs::read_to_string(file).unwrap());
            for used in crate_paths(&code) {
                if used != *module && modules.contains_key(&used) {
                    uses.insert(used);
                }
            }
        }
    }
    graph
}

/// A cycle through the graph, if there is one, as the modules along it.
fn find_cycle(graph: &Graph) -> Option<Vec<String>> {
    fn visit<'g>(
        graph: &'g Graph,
        module: &'g str,
        path: &mut Vec<&'g str>,
        done: &mut BTreeSet<&'g str>,
    ) -> Option<Vec<String>> {
        if let Some(at) = path.iter().position(|m| *m == module) {
            let mut cycle: Vec<String> = path[at..].iter().map(|m| m.to_string()).collect();
            cycle.push(module.to_string());
            return Some(cycle);
        }
        if !done.insert(module) {
            return None;
        }
        path.push(module);
        for used in &graph[module] {
            if let Some(cycle) = visit(graph, used, path, done) {
                return Some(cycle);
            }
        }
        path.pop();
        None
    }
    let mut done = BTreeSet::new();
    graph.keys().find_map(|module| visit(graph, module, &mut Vec::new(), &mut done))
}

/// The drawing's lines, top first: the modules each names (the words of its
/// second column that are modules of the crate), in order.
fn drawn_layers(lib_rs: &str, graph: &Graph) -> Vec<Vec<String>> {
    let drawing = lib_rs
        .split("//! # Layers\n")
        .nth(1)
        .and_then(|section| section.split("//! ```text\n").nth(1))
        .and_then(|rest| rest.split("//! ```").next())
        .expect("rust/src/lib.rs has a # Layers section with a ```text drawing");
    drawing
        .lines()
        .map(|line| {
            line.trim_start_matches("//!")
                .split_whitespace()
                .skip(1)
                .take_while(|word| graph.contains_key(*word))
                .map(str::to_string)
                .collect::<Vec<_>>()
        })
        .filter(|modules| !modules.is_empty())
        .collect()
}

#[test]
fn no_module_cycle_and_every_use_points_down_the_drawn_layers() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let src = root.join("rust/src");
    let graph = module_graph(&src);
    assert!(graph.len() > 10, "found only {:?} under {}", graph.keys(), src.display());
    for (module, uses) in &graph {
        println!("{module} -> {}", uses.iter().cloned().collect::<Vec<_>>().join(" "));
    }
    if let Some(cycle) = find_cycle(&graph) {
        panic!("modules of rust/src use each other around a cycle: {}", cycle.join(" -> "));
    }

    let lib_rs = std::fs::read_to_string(src.join("lib.rs")).unwrap();
    let layers = drawn_layers(&lib_rs, &graph);
    // Position of each module: its line (0 at the top) and its place on the line.
    let mut position = BTreeMap::new();
    for (line, modules) in layers.iter().enumerate() {
        for (column, module) in modules.iter().enumerate() {
            assert!(position.insert(module.clone(), (line, column)).is_none(), "{module} is drawn twice");
        }
    }
    let undrawn: Vec<&String> = graph.keys().filter(|m| !position.contains_key(*m)).collect();
    assert!(undrawn.is_empty(), "modules missing from the drawing in rust/src/lib.rs: {undrawn:?}");
    let mut upward = Vec::new();
    for (module, uses) in &graph {
        let (line, column) = position[module];
        for used in uses {
            let (used_line, used_column) = position[used];
            if !(used_line > line || (used_line == line && used_column > column)) {
                upward.push(format!("{module} -> {used}"));
            }
        }
    }
    assert!(upward.is_empty(), "uses that do not point down the drawing in rust/src/lib.rs: {upward:?}");
}

#[test]
fn the_checks_see_a_cycle_and_an_upward_use() {
    let graph: Graph = [("a", vec!["b"]), ("b", vec!["c"]), ("c", vec!["a"]), ("d", vec![])]
        .into_iter()
        .map(|(m, uses)| (m.to_string(), uses.into_iter().map(str::to_string).collect()))
        .collect();
    assert_eq!(find_cycle(&graph).unwrap(), ["a", "b", "c", "a"]);
    let acyclic: Graph =
        graph.iter().map(|(m, u)| (m.clone(), if m == "c" { BTreeSet::new() } else { u.clone() })).collect();
    assert_eq!(find_cycle(&acyclic), None);
    assert_eq!(
        crate_paths(&code_of("use crate::a::X; // crate::d\nuse crate::{b, c::Y};\n$crate::d::z!()")),
        ["a", "b", "c", "d"]
    );
    let lib =
        "//! ```text\n//! x a\n//! ```\n//! # Layers\n//! ```text\n//! top    a  b   words\n//! bottom c  d\n//! ```\n";
    assert_eq!(drawn_layers(lib, &graph), [vec!["a", "b"], vec!["c", "d"]]);
}
