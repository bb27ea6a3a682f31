//! The documentation against the repository: every path it names exists,
//! every link it makes leads somewhere, every `rfq` command it shows parses
//! with the real command line, and the README stays short and starts with
//! the two commands of a fresh machine. Files are read when the test runs
//! (not compiled in), so a change to the docs needs no rebuild.
//!
//! What counts as a repository path (kept simple; a false positive is
//! fixed in the document, by writing the path out in full or not as code):
//! - an inline code span (`` `…` ``, outside fenced blocks) holding one
//!   word with a `/`, no character a path here never has (space,
//!   `{}<>…*$?=,()|@:~#+'"`), not starting with `/` or `-`, whose first
//!   segment is lower case (so `DIR/results.db` is a placeholder);
//! - and that ends with `/` (a directory), or ends with a file extension
//!   (`.rs`, `.md`, …: letters and digits after the last dot of the last
//!   segment), or whose first segment is a directory at the root today
//!   (`tests/run`, `.ci/run`). So `text/event-stream` or `partition/instance`
//!   are not paths, while `aggregator/src/ticker.rs` is checked even once
//!   `aggregator/` has moved away;
//! - except what runs produce, not the repository: paths under `target/`,
//!   `data/`, `bench-report/`, `.venv/`, `node_modules/`.
//!
//! A path exists if it does relative to the workspace root, or to the
//! document's own directory (`grafana/README.md` names
//! `dashboards/rfq-pipeline.json`). Paths are checked in `README.md`,
//! `ARCHITECTURE.md`, `docs/*.md` and `tests/README.md`; links and
//! commands in those and in `tests/servers/README.md` and
//! `grafana/README.md`. Links (`[text](to)`)
//! other than `http(s):`/`mailto:` are relative to the document, and an
//! anchor (`#…`) into a Markdown file must be one of its headings, made an
//! anchor as GitHub does (lower case; letters, digits, `-`, `_` kept,
//! spaces made `-`, everything else dropped).

use rfq::cli::Cli;
use rfq_core::settings::parse_layered;
use std::path::{Path, PathBuf};

/// The workspace root (the tests crate is `tests/`).
fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .to_path_buf()
}

/// The documents checked, relative to the root.
fn documents() -> Vec<PathBuf> {
    let mut found = path_documents();
    found.extend(["tests/servers/README.md", "grafana/README.md"].map(PathBuf::from));
    found
}

/// The documents whose paths are checked (those of `tests/servers/` name
/// the files of a server's run directory too).
fn path_documents() -> Vec<PathBuf> {
    let root = root();
    let mut found: Vec<PathBuf> = ["README.md", "ARCHITECTURE.md", "tests/README.md"]
        .iter()
        .map(PathBuf::from)
        .collect();
    let mut docs: Vec<PathBuf> = std::fs::read_dir(root.join("docs"))
        .unwrap()
        .map(|entry| entry.unwrap().path())
        .filter(|path| path.extension().is_some_and(|ext| ext == "md"))
        .map(|path| path.strip_prefix(&root).unwrap().to_path_buf())
        .collect();
    docs.sort();
    found.extend(docs);
    found
}

fn read(document: &Path) -> String {
    std::fs::read_to_string(root().join(document))
        .unwrap_or_else(|e| panic!("reading {}: {e}", document.display()))
}

/// The lines outside fenced code blocks, with their numbers (from 1).
fn prose(text: &str) -> Vec<(usize, &str)> {
    let mut fenced = false;
    let mut lines = Vec::new();
    for (index, line) in text.lines().enumerate() {
        if line.trim_start().starts_with("```") {
            fenced = !fenced;
            continue;
        }
        if !fenced {
            lines.push((index + 1, line));
        }
    }
    lines
}

/// The fenced blocks of a shell language (`sh`, `bash`, `shell`, `console`),
/// each as its lines.
fn shell_blocks(text: &str) -> Vec<Vec<&str>> {
    const SHELLS: &[&str] = &["sh", "bash", "shell", "console"];
    let mut blocks = Vec::new();
    // Inside a fence: Some(lines) for a shell block, None for another.
    let mut fence: Option<Option<Vec<&str>>> = None;
    for line in text.lines() {
        if let Some(language) = line.trim_start().strip_prefix("```") {
            fence = match fence.take() {
                Some(Some(block)) => {
                    blocks.push(block);
                    None
                }
                Some(None) => None,
                None => Some(SHELLS.contains(&language.trim()).then(Vec::new)),
            };
            continue;
        }
        if let Some(Some(block)) = fence.as_mut() {
            block.push(line);
        }
    }
    blocks
}

/// The inline code spans of a line.
fn code_spans(line: &str) -> Vec<&str> {
    line.split('`')
        .enumerate()
        .filter(|(index, _)| index % 2 == 1)
        .map(|(_, span)| span)
        .collect()
}

/// Where runs write: not the repository.
const PRODUCED: &[&str] = &["target", "data", "bench-report", ".venv", "node_modules"];

/// `span` as a repository path, if it is one (see the module's rules).
fn repository_path(span: &str, root: &Path) -> Option<String> {
    const NEVER: &str = " \t{}<>…*$?=,()|@:~#+'\"";
    if !span.contains('/')
        || span.chars().any(|c| NEVER.contains(c))
        || span.starts_with('/')
        || span.starts_with('-')
    {
        return None;
    }
    let span = span.strip_prefix("./").unwrap_or(span);
    let first = span.split('/').next().unwrap_or_default();
    if first.is_empty()
        || first.chars().any(|c| c.is_ascii_uppercase())
        || PRODUCED.contains(&first)
        || first.starts_with("..")
    {
        return None;
    }
    let last = span.rsplit('/').next().unwrap_or_default();
    let extension = last
        .rsplit_once('.')
        .map(|(stem, ext)| {
            !stem.is_empty() && !ext.is_empty() && ext.chars().all(|c| c.is_ascii_alphanumeric())
        })
        .unwrap_or(false);
    let directory = span.ends_with('/');
    let rooted = root.join(first).is_dir();
    (directory || extension || rooted).then(|| span.to_owned())
}

/// GitHub's anchor for a heading's text.
fn anchor(heading: &str) -> String {
    heading
        .trim()
        .to_lowercase()
        .chars()
        .filter(|c| c.is_alphanumeric() || *c == '-' || *c == '_' || *c == ' ')
        .map(|c| if c == ' ' { '-' } else { c })
        .collect()
}

/// The anchors of a Markdown document's headings.
fn anchors(text: &str) -> Vec<String> {
    prose(text)
        .into_iter()
        .filter_map(|(_, line)| {
            let hashes = line.chars().take_while(|c| *c == '#').count();
            (hashes > 0 && line[hashes..].starts_with(' ')).then(|| anchor(&line[hashes..]))
        })
        .collect()
}

/// The targets of a line's Markdown links (`[text](target)`).
fn link_targets(line: &str) -> Vec<&str> {
    line.match_indices("](")
        .filter_map(|(at, _)| {
            let rest = &line[at + 2..];
            rest.find(')').map(|end| rest[..end].trim())
        })
        .collect()
}

#[test]
fn every_path_the_docs_name_exists() {
    let root = root();
    let mut missing = Vec::new();
    let mut checked = 0;
    for document in path_documents() {
        let text = read(&document);
        let directory = document.parent().unwrap_or(Path::new(""));
        for (number, line) in prose(&text) {
            for span in code_spans(line) {
                if let Some(path) = repository_path(span, &root) {
                    checked += 1;
                    if !root.join(&path).exists() && !root.join(directory).join(&path).exists() {
                        missing.push(format!("{}:{number}: `{path}`", document.display()));
                    }
                }
            }
        }
    }
    assert!(
        missing.is_empty(),
        "paths named in the docs that do not exist (fix the doc, or see the rules in tests/it/docs.rs):\n{}",
        missing.join("\n")
    );
    assert!(
        checked > 100,
        "only {checked} paths found: is the scan broken?"
    );
}

#[test]
fn every_link_in_the_docs_leads_somewhere() {
    let root = root();
    let mut broken = Vec::new();
    for document in documents() {
        let text = read(&document);
        let directory = document.parent().unwrap_or(Path::new(""));
        for (number, line) in prose(&text) {
            for target in link_targets(line) {
                if target.starts_with("http://")
                    || target.starts_with("https://")
                    || target.starts_with("mailto:")
                    || target.is_empty()
                {
                    continue;
                }
                let (file, fragment) = match target.split_once('#') {
                    Some((file, fragment)) => (file, Some(fragment)),
                    None => (target, None),
                };
                let linked = if file.is_empty() {
                    document.clone()
                } else {
                    directory.join(file)
                };
                let at = format!("{}:{number}: ({target})", document.display());
                if !root.join(&linked).exists() {
                    broken.push(format!("{at}: no such file"));
                    continue;
                }
                if let Some(fragment) = fragment
                    && linked.extension().is_some_and(|ext| ext == "md")
                    && !anchors(&read(&linked)).iter().any(|a| a == fragment)
                {
                    broken.push(format!("{at}: no heading with that anchor"));
                }
            }
        }
    }
    assert!(broken.is_empty(), "broken links:\n{}", broken.join("\n"));
}

/// The `rfq` commands of the docs' shell blocks, each as its words: lines
/// joined at a trailing `\`, a comment (`#` at the start or after a space)
/// cut off, a command starting `rfq`, `target/{release,debug}/rfq` or
/// `cargo run --bin rfq --`; a variable set to a command in quotes
/// (`B="rfq bench …"`) and used at the start of a line (`$B --flag`) is
/// expanded. Commands that need a shell or stand for something (`…`, `$`,
/// `<…>`, quotes, pipes) are left out.
fn rfq_commands(text: &str) -> Vec<Vec<String>> {
    let mut commands = Vec::new();
    for block in shell_blocks(text) {
        let mut joined: Vec<String> = Vec::new();
        let mut continued = false;
        for line in block {
            let line = match line.find(" #") {
                Some(at) => &line[..at],
                None if line.trim_start().starts_with('#') => "",
                None => line,
            };
            let (line, continues) = match line.trim_end().strip_suffix('\\') {
                Some(head) => (head, true),
                None => (line, false),
            };
            if continued {
                joined.last_mut().unwrap().push_str(line);
            } else {
                joined.push(line.to_owned());
            }
            continued = continues;
        }
        // `B="rfq bench …"` then `$B --bench-rate 200`: the variable expanded.
        let mut variables: Vec<(String, String)> = Vec::new();
        for line in joined {
            let mut line = line.trim().to_owned();
            if let Some((name, value)) = line.split_once("=\"")
                && !name.is_empty()
                && name.chars().all(|c| c.is_ascii_uppercase() || c == '_')
                && let Some(value) = value.strip_suffix('"')
            {
                variables.push((format!("${name} "), format!("{value} ")));
                continue;
            }
            for (name, value) in &variables {
                if let Some(rest) = line.strip_prefix(name.as_str()) {
                    line = format!("{value}{rest}");
                }
            }
            let line = line.as_str();
            let rest = if let Some(rest) = line.strip_prefix("cargo run --bin rfq --") {
                rest
            } else if let Some(rest) = ["rfq", "target/release/rfq", "target/debug/rfq"]
                .iter()
                .find_map(|bin| line.strip_prefix(bin).filter(|rest| rest.starts_with(' ')))
            {
                rest
            } else {
                continue;
            };
            if rest.chars().any(|c| "…$<>|&;'\"(`".contains(c)) {
                continue;
            }
            let mut words = vec!["rfq".to_owned()];
            words.extend(rest.split_whitespace().map(str::to_owned));
            commands.push(words);
        }
    }
    commands
}

#[test]
fn every_rfq_command_in_the_docs_parses() {
    let mut refused = Vec::new();
    let mut parsed = 0;
    for document in documents() {
        for command in rfq_commands(&read(&document)) {
            match parse_layered::<Cli>(command.iter()) {
                Ok(_) => parsed += 1,
                Err(error) => refused.push(format!(
                    "{}: {}\n{error}",
                    document.display(),
                    command.join(" ")
                )),
            }
        }
    }
    assert!(
        refused.is_empty(),
        "commands in the docs the real command line refuses:\n{}",
        refused.join("\n")
    );
    assert!(
        parsed >= 10,
        "only {parsed} rfq commands found: is the scan broken?"
    );
}

#[test]
fn the_readme_is_short_and_starts_with_the_two_commands() {
    let readme = read(Path::new("README.md"));
    let lines = readme.lines().count();
    assert!(
        lines <= 220,
        "README.md has {lines} lines: a newcomer reads it in ten minutes (at most 220); move the rest to docs/"
    );
    let first_block = shell_blocks(&readme)
        .into_iter()
        .next()
        .expect("README.md has a shell block");
    let commands: Vec<&str> = first_block
        .iter()
        .map(|line| line.split(" #").next().unwrap_or_default().trim())
        .collect();
    assert!(
        commands.len() >= 2
            && commands[0] == "cargo run --bin rfq -- up"
            && commands[1] == "tests/run",
        "README.md's first commands must be `cargo run --bin rfq -- up` then `tests/run`: {commands:?}"
    );
}

#[test]
fn the_path_rules_catch_what_they_should() {
    let root = root();
    let path = |span: &str| repository_path(span, &root);
    assert_eq!(
        path("aggregator/src/ticker.rs").as_deref(),
        Some("aggregator/src/ticker.rs")
    );
    assert_eq!(path("tests/it/chaos/").as_deref(), Some("tests/it/chaos/"));
    assert_eq!(path("tests/run").as_deref(), Some("tests/run"));
    assert_eq!(path("gone/away.rs").as_deref(), Some("gone/away.rs"));
    for not_a_path in [
        "text/event-stream",
        "partition/instance",
        "application/problem+json",
        "/rfqs/{id}",
        "DIR/results.db",
        "target/debug/rfq",
        "data/demo-api-key",
        "bench-report/report.json",
        "rfq_core::kafka::progress",
        "avro/schemas/*.avsc",
        "rfq up",
    ] {
        assert_eq!(path(not_a_path), None, "{not_a_path}");
    }
    assert_eq!(
        anchor(" Every result explained: `rfq explain`"),
        "every-result-explained-rfq-explain"
    );
    let commands = rfq_commands(
        "```sh\nrfq bench --bench-rate 10 \\\n    --bench-seconds 1   # a comment\nrfq explain 5b0c…\necho rfq\nB=\"rfq bench --bench-rate 5\"\n$B --bench-seconds 2\n```\n",
    );
    assert_eq!(
        commands,
        vec![
            vec!["rfq", "bench", "--bench-rate", "10", "--bench-seconds", "1"],
            vec!["rfq", "bench", "--bench-rate", "5", "--bench-seconds", "2"],
        ]
    );
}
