//! The audit chain's head, witnessed outside the database.
//!
//! The hash chain catches an edited or a removed entry in the middle, but
//! someone with write access to the database could delete the *newest*
//! entries and leave a chain that verifies. So the head (sequence number and
//! hash, sealed with the audit key) is also written to a file beside the key
//! file — `<key file>.witness`, mode 0600 — every few seconds while the
//! server runs, at every maintenance run, after each command that audits
//! something, and once more at shutdown. `kiteline audit verify` fails when
//! the database's head is behind the witness, when the witnessed entry was
//! replaced, or when the log is empty but the witness is not.
//!
//! The witness only ever moves forward: a database whose head went back is
//! evidence, and is never written over. After restoring a backup (whose log
//! is older by design), delete the witness file; the next run starts a new
//! one. With several PostgreSQL nodes each keeps its own witness of the
//! shared log; any of them catches a truncation past what it saw.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::Duration;

use kiteline_core::audit::Witness;
use kiteline_store::Store;
use tokio::sync::watch;

/// How often a running server records the head.
pub const EVERY: Duration = Duration::from_secs(5);

pub fn path_for(key_file: &Path) -> PathBuf {
    PathBuf::from(format!("{}.witness", key_file.display()))
}

/// The witness in `path`, if there is one. A file that cannot be read as
/// one is an error (it was tampered with, or is not ours).
pub fn read(path: &Path) -> Result<Option<Witness>, String> {
    match std::fs::read_to_string(path) {
        Ok(text) => Witness::parse(text.trim())
            .map(Some)
            .ok_or_else(|| format!("the audit witness {} is not readable", path.display())),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(format!("cannot read the audit witness {}: {e}", path.display())),
    }
}

fn write(path: &Path, witness: &Witness) -> Result<(), String> {
    let tmp = PathBuf::from(format!("{}.tmp", path.display()));
    let _ = std::fs::remove_file(&tmp);
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut opts, 0o600);
    let result = opts.open(&tmp).and_then(|mut f| {
        writeln!(f, "{}", witness.to_line())?;
        f.sync_all()
    });
    result
        .and_then(|()| std::fs::rename(&tmp, path))
        .map_err(|e| format!("cannot write the audit witness {}: {e}", path.display()))
}

/// Records the database's head in `path` if it is past what the file
/// holds; returns the witness now in the file.
pub async fn record(store: &Store, key: &[u8; 32], path: &Path) -> Result<Option<Witness>, String> {
    let current = read(path)?;
    let head = store.audit_head().await.map_err(|e| format!("cannot read the audit log's head: {e}"))?;
    match head {
        Some((seq, hash)) if current.as_ref().is_none_or(|w| w.seq < seq) => {
            let witness = Witness::new(key, seq, &hash);
            write(path, &witness)?;
            Ok(Some(witness))
        }
        _ => Ok(current),
    }
}

/// Records the head every [`EVERY`] until `stop` turns true, then once more.
pub async fn keep(store: std::sync::Arc<Store>, key: [u8; 32], path: PathBuf, mut stop: watch::Receiver<bool>) {
    loop {
        if let Err(e) = record(&store, &key, &path).await {
            tracing::error!(error = %e, "could not record the audit witness");
        }
        if *stop.borrow() {
            break;
        }
        tokio::select! {
            _ = tokio::time::sleep(EVERY) => {}
            _ = stop.changed() => {}
        }
    }
}
