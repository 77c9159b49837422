//! The crate's modules import one way: no module imports one that imports it back, directly
//! or around a loop (the house rule, checked here rather than by eye).

use std::collections::BTreeMap;

/// Each module of the crate (but the tests) and its source.
const MODULES: [(&str, &str); 8] = [
    ("lib", include_str!("../lib.rs")),
    ("attr", include_str!("../attr.rs")),
    ("error", include_str!("../error.rs")),
    ("expand", include_str!("../expand.rs")),
    ("fallback", include_str!("../fallback.rs")),
    ("item", include_str!("../item.rs")),
    ("receiver", include_str!("../receiver.rs")),
    ("valid", include_str!("../valid.rs")),
];

/// The modules `source` names through `crate::` (its own unit tests left out).
fn imports(source: &str) -> Vec<&'static str> {
    let source = source.split("#[cfg(test)]").next().unwrap_or(source);
    MODULES
        .iter()
        .map(|(name, _)| *name)
        .filter(|name| *name != "lib" && source.contains(&format!("crate::{name}")))
        .collect()
}

#[test]
fn modules_import_one_way() {
    let graph: BTreeMap<&str, Vec<&str>> = MODULES
        .iter()
        .map(|(name, source)| (*name, imports(source)))
        .collect();
    // Depth-first, with the path so far: reaching a module already on it is a loop.
    fn visit<'a>(graph: &BTreeMap<&'a str, Vec<&'a str>>, path: &mut Vec<&'a str>) {
        let here = path[path.len() - 1];
        for next in &graph[here] {
            assert!(
                !path.contains(next),
                "import loop: {} -> {next}",
                path.join(" -> ")
            );
            path.push(next);
            visit(graph, path);
            path.pop();
        }
    }
    for name in graph.keys() {
        visit(&graph, &mut vec![name]);
    }
    // The leaves import nothing of the crate's.
    for leaf in ["item", "error", "receiver"] {
        assert_eq!(graph[leaf], Vec::<&str>::new(), "{leaf} imports");
    }
}
