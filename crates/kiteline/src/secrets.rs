//! Handing a single-use link to the operator without leaving it in logs.
//!
//! On a terminal the link is printed. Otherwise — a service manager, a
//! pipe, a log collector — stdout ends up in logs, where a working link to
//! set a password must not be; it is written to a file only this user can
//! read (`<data dir>/links/NAME.txt`, mode 0600, folder 0700), and only the
//! file's path is printed and logged.

use std::io::{IsTerminal, Write};
use std::path::{Path, PathBuf};

use crate::cli::Fail;

/// Gives `link` to the operator under `what` (a sentence ending in a colon).
pub fn deliver(data_dir: &Path, name: &str, what: &str, link: &str) -> Result<(), Fail> {
    if std::io::stdout().is_terminal() {
        println!("{what}");
        println!("  {link}");
        return Ok(());
    }
    let path = write_private(data_dir, name, link)?;
    println!("{what} written to {} (readable only by this user)", path.display());
    tracing::info!(path = %path.display(), "single-use link written to a private file");
    Ok(())
}

fn write_private(data_dir: &Path, name: &str, link: &str) -> Result<PathBuf, Fail> {
    let dir = data_dir.join("links");
    let mut b = std::fs::DirBuilder::new();
    b.recursive(true);
    #[cfg(unix)]
    std::os::unix::fs::DirBuilderExt::mode(&mut b, 0o700);
    b.create(&dir).map_err(|e| Fail::run(format!("cannot create {}: {e}", dir.display())))?;
    let path = dir.join(format!("{name}.txt"));
    let _ = std::fs::remove_file(&path);
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut opts, 0o600);
    let mut f = opts.open(&path).map_err(|e| Fail::run(format!("cannot write {}: {e}", path.display())))?;
    writeln!(f, "{link}")
        .and_then(|()| f.sync_all())
        .map_err(|e| Fail::run(format!("cannot write {}: {e}", path.display())))?;
    Ok(path)
}
