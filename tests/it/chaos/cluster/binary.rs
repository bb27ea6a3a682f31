//! The `rfq` binary the processes run: the code under test, never a stale
//! build of it.

use std::path::{Path, PathBuf};

/// Where the `rfq` binary is: `RFQ_BIN`, or `target/debug/rfq` (built by
/// `tests/run` and `tests/chaos` before the tests). The chaos tests must
/// run the code under test: a binary older than any source file it is
/// built from is refused with the file that is newer.
pub fn rfq_binary() -> PathBuf {
    if let Ok(path) = std::env::var("RFQ_BIN") {
        return path.into();
    }
    let workspace = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let target = std::env::var("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|_| workspace.join("target"));
    let path = target.join("debug/rfq");
    let built = std::fs::metadata(&path)
        .and_then(|meta| meta.modified())
        .unwrap_or_else(|_| {
            panic!(
                "{} is missing: run `cargo build --bin rfq` first (tests/run does)",
                path.display()
            )
        });
    if let Some((source, _)) = newest_source(&path).filter(|(_, changed)| *changed > built) {
        panic!(
            "{} is older than {}: it does not run the code under test; \
             run `cargo build --bin rfq` first (tests/run and tests/chaos do)",
            path.display(),
            source.display()
        );
    }
    path
}

/// The most recently changed file the `rfq` binary is built from, as
/// cargo's dep-info next to it lists them (test-only files and
/// dev-dependencies do not count: they do not change the binary).
fn newest_source(binary: &Path) -> Option<(PathBuf, std::time::SystemTime)> {
    let dep_info = std::fs::read_to_string(binary.with_extension("d")).ok()?;
    let (_, sources) = dep_info.lines().next()?.split_once(": ")?;
    // Paths are separated by spaces; a space inside one is escaped.
    let sources = sources.replace("\\ ", "\u{0}");
    sources
        .split(' ')
        .filter(|path| !path.is_empty())
        .map(|path| PathBuf::from(path.replace('\u{0}', " ")))
        .filter_map(|path| {
            let changed = std::fs::metadata(&path).ok()?.modified().ok()?;
            Some((path, changed))
        })
        .max_by_key(|(_, changed)| *changed)
}
