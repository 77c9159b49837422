//! Checks that imports between the modules of each crate go one way: no module imports one
//! that imports it back, directly or around a loop. Run by `.ci/run`:
//!
//! ```sh
//! rustc --edition 2024 -O .ci/imports.rs -o target/imports && target/imports async-tasks/src async-tasks-macros/src
//! ```
//!
//! `target/imports --edges SRC_DIR` also prints every import it found, as `from -> to`.
//!
//! It also keeps the crate root a façade on top: no module names an item through the root's
//! re-exports (`crate::Tasks`), only through the module that defines it
//! (`crate::task::Tasks`), so that no import runs back up to `lib.rs`.
//!
//! A module is a file. An import is any path through `crate::`, `super::` or `self::` in the
//! file's code (in `use` items and in expressions), resolved to the file that defines the
//! item, following re-exports (`crate::Tasks` is `tasks.rs`; `crate::tasks::with_current`,
//! re-exported there, is `tasks/supervise.rs`). A parent's re-exports of its own children
//! (`pub use self::spawn::TaskHandle` in `tasks.rs`) declare its surface and are not
//! imports; everything else is. Test code (`#[cfg(test)]` modules and files) is left out.
//!
//! It reads the code as text, with no dependency: good enough for this workspace's style
//! (one item per `use` path, no macro-generated modules), and it says what it could not
//! resolve rather than guess.

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

/// A module's path from the crate root: `[]` for `lib.rs`, `["tasks", "set"]` for
/// `tasks/set.rs`.
type ModPath = Vec<String>;

struct Module {
    file: PathBuf,
    /// The code, with comments, strings and test modules blanked out.
    code: String,
    /// `pub use` re-exports: the name it exports, and the absolute path it names.
    reexports: BTreeMap<String, ModPath>,
    /// Every path it names through `crate::`, `super::` or `self::`, made absolute, with
    /// whether it is a re-export of one of its own children.
    paths: Vec<(ModPath, bool)>,
}

fn main() -> ExitCode {
    let mut roots: Vec<String> = std::env::args().skip(1).collect();
    let show = roots.first().is_some_and(|arg| arg == "--edges");
    if show {
        roots.remove(0);
    }
    if roots.is_empty() {
        eprintln!("usage: imports SRC_DIR...");
        return ExitCode::from(2);
    }
    let mut failed = false;
    for root in &roots {
        match check(Path::new(root), show) {
            Ok(edges) => println!("{root}: {edges} imports between modules, all one way"),
            Err(problems) => {
                failed = true;
                for problem in problems {
                    eprintln!("{root}: {problem}");
                }
            }
        }
    }
    if failed {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    }
}

/// Checks one crate; the number of edges, or what is wrong.
fn check(root: &Path, show: bool) -> Result<usize, Vec<String>> {
    let mut modules: BTreeMap<ModPath, Module> = BTreeMap::new();
    let mut test_only: BTreeSet<ModPath> = BTreeSet::new();
    load(root, root, &mut modules, &mut test_only);
    for path in &test_only {
        modules.retain(|module, _| !module.starts_with(path));
    }
    let mut problems = Vec::new();
    let mut edges: BTreeMap<ModPath, BTreeSet<ModPath>> = BTreeMap::new();
    for (from, module) in &modules {
        for (path, own_reexport) in &module.paths {
            if *own_reexport {
                continue;
            }
            // The root is the façade on top: a module names an item from the module that
            // defines it (`crate::task::Tasks`), never through the root's re-exports
            // (`crate::Tasks`), so that no import runs back up to `lib.rs`.
            if !from.is_empty()
                && !path.is_empty()
                && modules
                    .get(&Vec::new())
                    .is_some_and(|root| root.reexports.contains_key(&path[0]))
            {
                problems.push(format!(
                    "{}: imports `crate::{}` through the crate root's re-exports; import it from \
                     the module that defines it",
                    module.file.display(),
                    path.join("::")
                ));
            }
            match resolve(&modules, path, 0) {
                Some(to) if to != *from && !from.is_empty() => {
                    edges.entry(from.clone()).or_default().insert(to);
                }
                Some(_) => {}
                None => problems.push(format!(
                    "{}: cannot resolve `crate::{}`",
                    module.file.display(),
                    path.join("::")
                )),
            }
        }
    }
    if show {
        for (from, to) in &edges {
            for to in to {
                println!("{} -> {}", file_of(&modules, from), file_of(&modules, to));
            }
        }
    }
    for cycle in cycles(&edges) {
        let names: Vec<String> = cycle.iter().map(|m| file_of(&modules, m)).collect();
        problems.push(format!("import cycle: {} -> {}", names.join(" -> "), names[0]));
    }
    if problems.is_empty() {
        Ok(edges.values().map(BTreeSet::len).sum())
    } else {
        Err(problems)
    }
}

fn file_of(modules: &BTreeMap<ModPath, Module>, path: &ModPath) -> String {
    modules
        .get(path)
        .map_or_else(|| path.join("::"), |m| m.file.display().to_string())
}

/// Reads every `.rs` file under `dir` into `modules`.
fn load(
    root: &Path,
    dir: &Path,
    modules: &mut BTreeMap<ModPath, Module>,
    test_only: &mut BTreeSet<ModPath>,
) {
    let mut entries: Vec<_> = fs::read_dir(dir)
        .unwrap_or_else(|err| panic!("{}: {err}", dir.display()))
        .map(|entry| entry.expect("a directory entry").path())
        .collect();
    entries.sort();
    for path in entries {
        if path.is_dir() {
            load(root, &path, modules, test_only);
        } else if path.extension().is_some_and(|ext| ext == "rs") {
            let module = module_path(root, &path);
            let text = fs::read_to_string(&path).expect("a source file");
            let (code, tests) = blank(&text);
            for test in tests {
                let mut child = module.clone();
                child.push(test);
                test_only.insert(child);
            }
            let (reexports, paths) = paths_of(&module, &code);
            modules.insert(
                module,
                Module {
                    file: path,
                    code,
                    reexports,
                    paths,
                },
            );
        }
    }
}

fn module_path(root: &Path, file: &Path) -> ModPath {
    let relative = file.strip_prefix(root).expect("under the root");
    let mut parts: ModPath = relative
        .iter()
        .map(|part| part.to_string_lossy().trim_end_matches(".rs").to_owned())
        .collect();
    if matches!(parts.last().map(String::as_str), Some("lib" | "mod")) {
        parts.pop();
    }
    parts
}

/// The code with comments and string literals blanked, and `#[cfg(test)]` inline modules
/// cut out; also the names of the `#[cfg(test)] mod name;` declared here.
fn blank(text: &str) -> (String, Vec<String>) {
    let chars: Vec<char> = text.chars().collect();
    let mut code = String::with_capacity(text.len());
    let mut i = 0;
    while i < chars.len() {
        let rest = &chars[i..];
        if rest.starts_with(&['/', '/']) {
            while i < chars.len() && chars[i] != '\n' {
                i += 1;
            }
        } else if rest.starts_with(&['/', '*']) {
            i += 2;
            while i < chars.len() && !chars[i..].starts_with(&['*', '/']) {
                i += 1;
            }
            i += 2;
        } else if chars[i] == '"' {
            code.push('"');
            i += 1;
            while i < chars.len() && chars[i] != '"' {
                if chars[i] == '\\' {
                    i += 1;
                }
                i += 1;
            }
            code.push('"');
            i += 1;
        } else if chars[i] == '\'' && i + 2 < chars.len() && (chars[i + 2] == '\'' || chars[i + 1] == '\\') {
            // A char literal ('"', '\n'); a lifetime has no closing quote.
            code.push_str("' '");
            i += if chars[i + 1] == '\\' { 4 } else { 3 };
        } else {
            code.push(chars[i]);
            i += 1;
        }
    }
    let mut kept = String::with_capacity(code.len());
    let mut tests = Vec::new();
    let lines: Vec<&str> = code.lines().collect();
    let mut i = 0;
    while i < lines.len() {
        let line = lines[i].trim();
        let test_attr = line.starts_with("#[cfg(test)]") || line.starts_with("#[cfg(all(test");
        if test_attr {
            let mut j = i + 1;
            while j < lines.len() && lines[j].trim().starts_with("#[") {
                j += 1;
            }
            let decl = lines.get(j).map_or("", |l| l.trim());
            let decl = decl.strip_prefix("pub(crate) ").unwrap_or(decl);
            if let Some(name) = decl.strip_prefix("mod ") {
                if let Some(name) = name.strip_suffix(';') {
                    tests.push(name.trim().to_owned());
                    i = j + 1;
                    continue;
                }
                // An inline test module: skip to its closing brace.
                let mut depth = 0i32;
                let mut k = j;
                loop {
                    depth += lines[k].matches('{').count() as i32;
                    depth -= lines[k].matches('}').count() as i32;
                    k += 1;
                    if depth <= 0 && k > j || k >= lines.len() {
                        break;
                    }
                }
                i = k;
                continue;
            }
        }
        kept.push_str(lines[i]);
        kept.push('\n');
        i += 1;
    }
    (kept, tests)
}

/// Every path through `crate::`, `super::` or `self::` in `code`, made absolute; and the
/// `pub use` re-exports.
#[allow(clippy::type_complexity)]
fn paths_of(module: &ModPath, code: &str) -> (BTreeMap<String, ModPath>, Vec<(ModPath, bool)>) {
    let mut reexports = BTreeMap::new();
    let mut paths = Vec::new();
    // `use` items first: their braces expand to several paths.
    let mut rest = code;
    let mut outside_uses = String::new();
    while let Some(at) = find_use(rest) {
        outside_uses.push_str(&rest[..at.start]);
        let item = &rest[at.body..at.end];
        for (path, alias) in expand(item.trim()) {
            let Some(absolute) = absolute(module, &path) else {
                continue;
            };
            if at.public {
                let name = alias.unwrap_or_else(|| path.last().cloned().unwrap_or_default());
                reexports.insert(name, absolute.clone());
            }
            let own_child = at.public
                && absolute.len() > module.len()
                && absolute.starts_with(module)
                && path.first().map(String::as_str) == Some("self");
            let is_glob = absolute.last().map(String::as_str) == Some("*");
            let mut absolute = absolute;
            if is_glob {
                absolute.pop();
            }
            paths.push((absolute, own_child));
        }
        rest = &rest[at.end..];
    }
    outside_uses.push_str(rest);
    // Paths written in the code.
    let bytes = outside_uses.as_bytes();
    for start in ["crate::", "super::", "self::"] {
        let mut from = 0;
        while let Some(found) = outside_uses[from..].find(start) {
            let at = from + found;
            from = at + start.len();
            let before = at.checked_sub(1).map(|i| bytes[i] as char);
            if before.is_some_and(|c| c.is_alphanumeric() || c == '_' || c == ':') {
                continue;
            }
            let end = outside_uses[at..]
                .find(|c: char| !(c.is_alphanumeric() || c == '_' || c == ':'))
                .map_or(outside_uses.len(), |e| at + e);
            let path: Vec<String> = outside_uses[at..end]
                .split("::")
                .filter(|s| !s.is_empty())
                .map(str::to_owned)
                .collect();
            if let Some(absolute) = absolute(module, &path) {
                paths.push((absolute, false));
            }
        }
    }
    (reexports, paths)
}

struct UseAt {
    start: usize,
    body: usize,
    end: usize,
    public: bool,
}

/// The next `use` item in `code`: where it starts, where its path starts, where it ends
/// (after the `;`), and whether it is `pub`.
fn find_use(code: &str) -> Option<UseAt> {
    let mut from = 0;
    loop {
        let found = code[from..].find("use ")? + from;
        let line_start = code[..found].rfind('\n').map_or(0, |i| i + 1);
        let prefix = code[line_start..found].trim();
        let ok = prefix.is_empty() || prefix.starts_with("pub");
        if ok {
            let end = code[found..].find(';')? + found + 1;
            return Some(UseAt {
                start: line_start,
                body: found + 4,
                end,
                public: prefix.starts_with("pub"),
            });
        }
        from = found + 4;
    }
}

/// A use tree as paths: `a::{b, c::{d as e}}` is `a::b`, `a::c::d` (as `e`).
fn expand(tree: &str) -> Vec<(Vec<String>, Option<String>)> {
    let tree = tree.trim().trim_end_matches(';').trim();
    let tree: String = tree.split_whitespace().collect::<Vec<_>>().join(" ");
    let mut out = Vec::new();
    expand_into(&tree, &mut Vec::new(), &mut out);
    out
}

fn expand_into(tree: &str, prefix: &mut Vec<String>, out: &mut Vec<(Vec<String>, Option<String>)>) {
    let tree = tree.trim();
    if let Some(open) = tree.find('{') {
        let head: Vec<String> = tree[..open]
            .split("::")
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(str::to_owned)
            .collect();
        let inner = &tree[open + 1..tree.rfind('}').unwrap_or(tree.len())];
        let depth = prefix.len();
        prefix.extend(head);
        for part in split_top(inner) {
            expand_into(part, prefix, out);
        }
        prefix.truncate(depth);
    } else if !tree.is_empty() {
        let (path, alias) = match tree.split_once(" as ") {
            Some((path, alias)) => (path, Some(alias.trim().to_owned())),
            None => (tree, None),
        };
        let mut full = prefix.clone();
        full.extend(
            path.split("::")
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .map(str::to_owned),
        );
        if full.last().map(String::as_str) == Some("self") {
            full.pop();
        }
        out.push((full, alias));
    }
}

/// Splits at the commas not inside braces.
fn split_top(list: &str) -> Vec<&str> {
    let (mut parts, mut depth, mut start) = (Vec::new(), 0, 0);
    for (i, c) in list.char_indices() {
        match c {
            '{' => depth += 1,
            '}' => depth -= 1,
            ',' if depth == 0 => {
                parts.push(&list[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    parts.push(&list[start..]);
    parts
}

/// `path` (starting with `crate`, `super` or `self`) from the crate root; `None` for paths
/// into other crates.
fn absolute(module: &ModPath, path: &[String]) -> Option<ModPath> {
    let mut base: ModPath;
    let mut rest = path;
    match rest.first().map(String::as_str) {
        Some("crate") => {
            base = Vec::new();
            rest = &rest[1..];
        }
        Some("self") => {
            base = module.clone();
            rest = &rest[1..];
        }
        Some("super") => {
            base = module.clone();
            while rest.first().map(String::as_str) == Some("super") {
                base.pop()?;
                rest = &rest[1..];
            }
        }
        _ => return None,
    }
    base.extend(rest.iter().cloned());
    Some(base)
}

/// The module that defines what `path` names, following re-exports.
fn resolve(modules: &BTreeMap<ModPath, Module>, path: &ModPath, depth: usize) -> Option<ModPath> {
    if depth > 16 {
        return None;
    }
    // The longest prefix that is a module; the next segment, if any, is an item of it.
    let mut module = path.clone();
    while !modules.contains_key(&module) {
        module.pop()?;
    }
    let Some(item) = path.get(module.len()) else {
        return Some(module);
    };
    match modules[&module].reexports.get(item) {
        Some(target) if target != path => resolve(modules, target, depth + 1),
        _ if modules[&module].code.contains(item.as_str()) || item == "*" => Some(module),
        _ => None,
    }
}

/// Every import cycle, as a list of modules (each strongly connected component with more
/// than one module, or a module importing itself).
fn cycles(edges: &BTreeMap<ModPath, BTreeSet<ModPath>>) -> Vec<Vec<ModPath>> {
    // Tarjan's algorithm, iterative.
    let nodes: BTreeSet<&ModPath> = edges
        .keys()
        .chain(edges.values().flatten())
        .collect();
    let nodes: Vec<&ModPath> = nodes.into_iter().collect();
    let index_of = |m: &ModPath| nodes.iter().position(|n| *n == m).expect("a node");
    let n = nodes.len();
    let mut index = vec![usize::MAX; n];
    let mut low = vec![0; n];
    let mut on_stack = vec![false; n];
    let mut stack = Vec::new();
    let mut next = 0;
    let mut found = Vec::new();
    let succ = |v: usize| -> Vec<usize> {
        edges
            .get(nodes[v])
            .map(|to| to.iter().map(index_of).collect())
            .unwrap_or_default()
    };
    for root in 0..n {
        if index[root] != usize::MAX {
            continue;
        }
        let mut work: Vec<(usize, usize)> = vec![(root, 0)];
        while let Some(&mut (v, ref mut i)) = work.last_mut() {
            if *i == 0 && index[v] == usize::MAX {
                index[v] = next;
                low[v] = next;
                next += 1;
                stack.push(v);
                on_stack[v] = true;
            }
            let successors = succ(v);
            if *i < successors.len() {
                let w = successors[*i];
                *i += 1;
                if index[w] == usize::MAX {
                    work.push((w, 0));
                } else if on_stack[w] {
                    low[v] = low[v].min(index[w]);
                }
                continue;
            }
            work.pop();
            if let Some(&(parent, _)) = work.last() {
                low[parent] = low[parent].min(low[v]);
            }
            if low[v] == index[v] {
                let mut component = Vec::new();
                loop {
                    let w = stack.pop().expect("on the stack");
                    on_stack[w] = false;
                    component.push(nodes[w].clone());
                    if w == v {
                        break;
                    }
                }
                let self_loop = successors.contains(&v);
                if component.len() > 1 || self_loop {
                    component.reverse();
                    found.push(component);
                }
            }
        }
    }
    found
}
