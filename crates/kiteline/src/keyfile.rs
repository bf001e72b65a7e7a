//! The key file: key-encryption keys and the blind-index key, kept outside
//! the database so that a copy of the database alone opens nothing.
//!
//! ```text
//! # Kiteline key file …
//! kek.1 = <base64 of 32 bytes>
//! blind = <base64 of 32 bytes>
//! ```
//!
//! The highest `kek.N` wraps data keys. To rotate: add `kek.N+1`, restart
//! every node (each re-wraps the data keys at start), then remove `kek.N`.
//! The blind-index key must not change without rebuilding the indexes.

use std::io::Write;
use std::path::Path;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use kiteline_core::crypto::{KekRing, SecretKey};

pub struct KeyFile {
    pub keks: KekRing,
    pub blind: SecretKey,
}

impl std::fmt::Debug for KeyFile {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("KeyFile(<redacted>)")
    }
}

pub fn parse(text: &str) -> Result<KeyFile, String> {
    let mut keks = KekRing::new();
    let mut blind = None;
    for (n, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        // Split at the first `=`; base64 values may end in `=` padding.
        let (name, value) = line
            .split_once('=')
            .filter(|(name, _)| !name.trim().is_empty() && !name.trim().contains(char::is_whitespace))
            .ok_or_else(|| format!("line {}: expected `name = value`", n + 1))?;
        let bytes = STANDARD.decode(value.trim()).map_err(|_| format!("line {}: the value is not base64", n + 1))?;
        let key = SecretKey::from_slice(&bytes).ok_or_else(|| format!("line {}: a key must be 32 bytes", n + 1))?;
        // A second line of a name would silently replace the first; changing
        // the blind key changes the CSRF, audit and reset keys, so refuse.
        let duplicate = || format!("line {}: {} appears twice; keep exactly one", n + 1, name.trim());
        match name.trim() {
            "blind" => {
                if blind.replace(key).is_some() {
                    return Err(duplicate());
                }
            }
            other => {
                let version =
                    other.strip_prefix("kek.").and_then(|v| v.parse::<u32>().ok()).filter(|v| *v > 0).ok_or_else(
                        || format!("line {}: unknown key name {other:?} (expected kek.N or blind)", n + 1),
                    )?;
                if keks.versions().any(|v| v == version) {
                    return Err(duplicate());
                }
                keks.insert(version, key);
            }
        }
    }
    if keks.current_version().is_none() {
        return Err("it holds no kek.N key".into());
    }
    Ok(KeyFile { keks, blind: blind.ok_or("it holds no blind key")? })
}

/// Reads the key file, or creates one with fresh keys (mode 0600) if absent.
/// Returns the keys and whether the file was created now. A key file that
/// other users can read is refused, unless `allow_readable` (the setting
/// `KITELINE_ALLOW_READABLE_KEY_FILE`), when it is only warned about.
pub fn load_or_create(path: &Path, allow_readable: bool) -> Result<(KeyFile, bool), String> {
    match std::fs::read_to_string(path) {
        Ok(text) => {
            check_private(path, allow_readable)?;
            Ok((parse(&text).map_err(|e| format!("key file {}: {e}", path.display()))?, false))
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            let text = format!(
                "# Kiteline key file, created {}.\n\
                 # Without it, sealed fields in the database cannot be read. Back it up, apart\n\
                 # from the database backups, and never share it. See README, \"Keys\".\n\
                 kek.1 = {}\nblind = {}\n",
                jiff::Timestamp::now().strftime("%Y-%m-%d"),
                STANDARD.encode(kiteline_store::random_bytes::<32>()),
                STANDARD.encode(kiteline_store::random_bytes::<32>()),
            );
            write_new_private(path, text.as_bytes())
                .map_err(|e| format!("cannot create key file {}: {e}", path.display()))?;
            Ok((parse(&text).expect("a generated key file parses"), true))
        }
        Err(e) => Err(format!("cannot read key file {}: {e}", path.display())),
    }
}

fn write_new_private(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut opts, 0o600);
    let mut f = opts.open(path)?;
    f.write_all(bytes)?;
    f.sync_all()
}

fn check_private(path: &Path, allow_readable: bool) -> Result<(), String> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(path).map_err(|e| format!("cannot read key file {}: {e}", path.display()))?;
        let mode = mode.permissions().mode() & 0o777;
        if mode & 0o077 != 0 {
            if !allow_readable {
                return Err(format!(
                    "key file {} can be read by other users (mode {mode:o}); run `chmod 600 {}`, \
                     or set KITELINE_ALLOW_READABLE_KEY_FILE=on to start anyway",
                    path.display(),
                    path.display()
                ));
            }
            tracing::warn!(
                path = %path.display(),
                mode = format_args!("{mode:o}"),
                "the key file is readable by other users (allowed by KITELINE_ALLOW_READABLE_KEY_FILE); run chmod 600 on it"
            );
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn created_once_private_and_reloaded_identically() {
        let dir = kiteline_store::testing::TempDir::new("kl-keys");
        let path = dir.path().join("kiteline.key");
        let (a, created) = load_or_create(&path, false).unwrap();
        assert!(created);
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(std::fs::metadata(&path).unwrap().permissions().mode() & 0o777, 0o600);
        let (b, created) = load_or_create(&path, false).unwrap();
        assert!(!created);
        assert_eq!(a.blind.expose(), b.blind.expose());
        assert_eq!(a.keks.current_version(), Some(1));
    }

    #[test]
    fn malformed_files_are_refused_with_the_line() {
        let k = STANDARD.encode([1u8; 32]);
        assert!(parse(&format!("kek.1 = {k}\nblind = {k}\nkek.2 = {k}\n")).is_ok());
        assert!(parse(&format!("blind = {k}\n")).unwrap_err().contains("no kek"));
        assert!(parse(&format!("kek.1 = {k}\n")).unwrap_err().contains("no blind"));
        assert!(parse("kek.1 = short\n").unwrap_err().contains("line 1"));
        assert!(parse(&format!("kek.0 = {k}\n")).unwrap_err().contains("unknown key name"));
        assert!(parse(&format!("# c\n\nkek.x = {k}\n")).unwrap_err().contains("line 3"));
        assert!(parse(&format!("kek.1 {k}\n")).unwrap_err().contains("name = value"));
    }

    #[test]
    fn a_second_line_of_a_name_is_an_error_not_a_replacement() {
        let (a, b) = (STANDARD.encode([1u8; 32]), STANDARD.encode([2u8; 32]));
        let twice_blind = parse(&format!("kek.1 = {a}\nblind = {a}\nblind = {b}\n")).unwrap_err();
        assert!(twice_blind.contains("line 3") && twice_blind.contains("blind appears twice"), "{twice_blind}");
        let twice_kek = parse(&format!("kek.1 = {a}\nkek.1 = {b}\nblind = {a}\n")).unwrap_err();
        assert!(twice_kek.contains("line 2") && twice_kek.contains("kek.1 appears twice"), "{twice_kek}");
    }

    #[test]
    fn a_key_file_others_can_read_is_refused_unless_allowed() {
        use std::os::unix::fs::PermissionsExt;
        let dir = kiteline_store::testing::TempDir::new("kl-keys");
        let path = dir.path().join("kiteline.key");
        load_or_create(&path, false).unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
        let e = load_or_create(&path, false).err().unwrap();
        assert!(e.contains("chmod 600") && e.contains("KITELINE_ALLOW_READABLE_KEY_FILE"), "{e}");
        assert!(load_or_create(&path, true).is_ok());
    }
}
