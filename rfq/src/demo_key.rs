//! `rfq up`'s demo API key: so that the README's first commands work on a
//! fresh machine without setting up a customer.
//!
//! When no API key is configured (`--api-keys`, `--api-keys-file`), `rfq
//! up` gives customer `demo` a key, kept in `demo-api-key` in its data
//! directory (readable by its owner only) so it survives a restart, and
//! prints it. Keys configured, none is made.
//!
//! With it comes the demo operator's key (operator `demo`, in
//! `demo-operator-key`): a customer's key reads no scorecard, an
//! operator's reads every one (`GET /providers`).

use anyhow::Context as _;
use rfq_core::auth::ApiKey;
use std::path::{Path, PathBuf};

/// The customer the demo key belongs to.
pub const DEMO_CUSTOMER: &str = "demo";

/// The operator the demo operator key belongs to.
pub const DEMO_OPERATOR: &str = "demo";

/// The file holding the demo key, in `data_dir`.
pub fn path(data_dir: &Path) -> PathBuf {
    data_dir.join("demo-api-key")
}

/// The file holding the demo operator key, in `data_dir`.
pub fn operator_path(data_dir: &Path) -> PathBuf {
    data_dir.join("demo-operator-key")
}

/// The demo key of `data_dir`: the one kept there, or a new one, kept.
pub fn demo_key(data_dir: &Path) -> anyhow::Result<ApiKey> {
    kept_key(&path(data_dir))
}

/// The demo operator key of `data_dir`: the one kept there, or a new one.
pub fn demo_operator_key(data_dir: &Path) -> anyhow::Result<ApiKey> {
    kept_key(&operator_path(data_dir))
}

/// The key kept in `file`, or a new one, kept there.
fn kept_key(file: &Path) -> anyhow::Result<ApiKey> {
    let file = file.to_path_buf();
    match std::fs::read_to_string(&file) {
        Ok(text) => {
            return ApiKey::parse(&text)
                .with_context(|| format!("{} holds no valid API key", file.display()));
        }
        Err(error) if error.kind() != std::io::ErrorKind::NotFound => {
            return Err(error).with_context(|| format!("reading {}", file.display()));
        }
        Err(_) => {}
    }
    let key = ApiKey::generate();
    write_replacing(&file, key.expose())
        .with_context(|| format!("writing a demo API key to {}", file.display()))?;
    Ok(key)
}

/// Writes `text` to `file`, readable by its owner only: aside, then
/// renamed over it, so a crash leaves no half-written secret.
pub fn write_replacing(file: &Path, text: &str) -> std::io::Result<()> {
    let mut aside = file.as_os_str().to_owned();
    aside.push(".new");
    let aside = PathBuf::from(aside);
    let _ = std::fs::remove_file(&aside);
    write_private(&aside, text).and_then(|()| std::fs::rename(&aside, file))
}

#[cfg(unix)]
fn write_private(file: &Path, text: &str) -> std::io::Result<()> {
    use std::{io::Write as _, os::unix::fs::OpenOptionsExt as _};
    let mut out = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(file)?;
    writeln!(out, "{text}")
}

#[cfg(not(unix))]
fn write_private(file: &Path, text: &str) -> std::io::Result<()> {
    std::fs::write(file, format!("{text}\n"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_demo_key_is_made_once_and_kept_private() {
        let dir = tempfile::tempdir().unwrap();
        let first = demo_key(dir.path()).unwrap();
        assert_eq!(demo_key(dir.path()).unwrap(), first, "kept across restarts");
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt as _;
            let mode = std::fs::metadata(path(dir.path()))
                .unwrap()
                .permissions()
                .mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        std::fs::write(path(dir.path()), "x").unwrap();
        assert!(
            demo_key(dir.path()).is_err(),
            "a damaged file is an error, not a new key"
        );
    }
}
