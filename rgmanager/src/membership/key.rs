//! The cluster key: the shared secret that authenticates every membership frame (HMAC-SHA256),
//! its file, and `rgm_keygen`, which makes one the way corosync-keygen did.
//!
//! It exists so that the rules about the secret live in one place: the key is read from a file
//! only its owner may read, is never printed (its `Debug` is redacted, errors name the file,
//! never the bytes), and is wiped from memory when dropped.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Read, Write};
use std::os::unix::fs::{MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

/// Where the daemon looks for the key unless told otherwise.
pub const DEFAULT_KEY_PATH: &str = "/etc/cluster/authkey";
/// Shorter keys are refused: 128 bits is the least HMAC-SHA256 should get.
pub const MIN_KEY_LEN: usize = 16;
/// What `rgm_keygen` writes by default (corosync-keygen's 1024 bits).
pub const DEFAULT_KEY_LEN: usize = 128;
/// Longer files are refused: a key that large is a wrong file.
pub const MAX_KEY_LEN: usize = 4096;

/// A cluster key in memory.
pub struct ClusterKey(Vec<u8>);

impl std::fmt::Debug for ClusterKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "ClusterKey({} bytes, redacted)", self.0.len())
    }
}

impl Drop for ClusterKey {
    fn drop(&mut self) {
        for b in self.0.iter_mut() {
            // Volatile, so that the wipe of memory about to be freed is not optimised away.
            // SAFETY: `b` is a valid, aligned, exclusive reference to a byte of our vector.
            unsafe { std::ptr::write_volatile(b, 0) };
        }
    }
}

/// Why a key could not be read or written. Messages name the file, never its content.
#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    #[error("cannot read the cluster key {path}: {source}")]
    Read { path: PathBuf, source: io::Error },
    #[error("the cluster key {path} is not a regular file")]
    NotAFile { path: PathBuf },
    #[error(
        "the cluster key {path} is readable by other users (mode {mode:04o}); \
         run chmod 0400 on it, or make a new key with rgm_keygen"
    )]
    Exposed { path: PathBuf, mode: u32 },
    #[error(
        "the cluster key {path} is too short ({len} bytes; at least {MIN_KEY_LEN} are needed); \
         make a new key with rgm_keygen"
    )]
    TooShort { path: PathBuf, len: usize },
    #[error(
        "the cluster key {path} is too long (more than {MAX_KEY_LEN} bytes): is it the right file?"
    )]
    TooLong { path: PathBuf },
    #[error("key length {0} is outside {MIN_KEY_LEN}..{MAX_KEY_LEN} bytes")]
    BadLength(usize),
    #[error("{path} already exists; use -f to replace it")]
    Exists { path: PathBuf },
    #[error("cannot write the cluster key {path}: {source}")]
    Write { path: PathBuf, source: io::Error },
    #[error("the operating system gave no random bytes: {0}")]
    Random(String),
}

impl ClusterKey {
    /// A key from bytes (tests, or a key received by other means).
    pub fn from_bytes(bytes: Vec<u8>) -> Result<Self, KeyError> {
        let len = bytes.len();
        let key = ClusterKey(bytes);
        if !(MIN_KEY_LEN..=MAX_KEY_LEN).contains(&len) {
            return Err(KeyError::BadLength(len));
        }
        Ok(key)
    }

    /// Reads the key file at `path`: a regular file of `MIN_KEY_LEN..=MAX_KEY_LEN` bytes that
    /// other users cannot read. The checks look at the opened file, not at the path again.
    pub fn load(path: &Path) -> Result<Self, KeyError> {
        let p = || path.to_path_buf();
        let mut f = File::open(path).map_err(|source| KeyError::Read { path: p(), source })?;
        let meta = f
            .metadata()
            .map_err(|source| KeyError::Read { path: p(), source })?;
        if !meta.is_file() {
            return Err(KeyError::NotAFile { path: p() });
        }
        let mode = meta.mode() & 0o7777;
        if mode & 0o007 != 0 {
            return Err(KeyError::Exposed { path: p(), mode });
        }
        let mut bytes = ClusterKey(Vec::with_capacity(MAX_KEY_LEN + 1));
        (&mut f)
            .take(MAX_KEY_LEN as u64 + 1)
            .read_to_end(&mut bytes.0)
            .map_err(|source| KeyError::Read { path: p(), source })?;
        match bytes.0.len() {
            n if n < MIN_KEY_LEN => Err(KeyError::TooShort { path: p(), len: n }),
            n if n > MAX_KEY_LEN => Err(KeyError::TooLong { path: p() }),
            _ => Ok(bytes),
        }
    }

    pub fn as_bytes(&self) -> &[u8] {
        &self.0
    }
}

/// Writes a new random key of `len` bytes to `path`, mode 0400. The file appears whole or not
/// at all (written beside it, then linked or renamed into place); an existing file is only
/// replaced when `force` is set.
pub fn generate(path: &Path, len: usize, force: bool) -> Result<(), KeyError> {
    if !(MIN_KEY_LEN..=MAX_KEY_LEN).contains(&len) {
        return Err(KeyError::BadLength(len));
    }
    let p = || path.to_path_buf();
    if !force && fs::symlink_metadata(path).is_ok() {
        return Err(KeyError::Exists { path: p() });
    }
    let mut key = ClusterKey(vec![0u8; len]);
    getrandom::fill(&mut key.0).map_err(|e| KeyError::Random(e.to_string()))?;
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "authkey".into());
    let tmp = dir.join(format!(".{name}.{}.tmp", std::process::id()));
    let write = || -> io::Result<()> {
        let mut f = OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o400)
            .open(&tmp)?;
        f.write_all(&key.0)?;
        f.sync_all()
    };
    if let Err(source) = write() {
        let _ = fs::remove_file(&tmp);
        return Err(KeyError::Write { path: p(), source });
    }
    let placed = if force {
        fs::rename(&tmp, path)
    } else {
        // link(2) refuses an existing target: no window in which another key is overwritten.
        let r = fs::hard_link(&tmp, path);
        let _ = fs::remove_file(&tmp);
        r
    };
    match placed {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {
            let _ = fs::remove_file(&tmp);
            Err(KeyError::Exists { path: p() })
        }
        Err(source) => {
            let _ = fs::remove_file(&tmp);
            Err(KeyError::Write { path: p(), source })
        }
    }
}

/// `rgm_keygen [-k FILE] [-l BYTES] [-f]` parsed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KeygenArgs {
    pub path: PathBuf,
    pub len: usize,
    pub force: bool,
}

/// The usage text of `rgm_keygen`.
pub fn keygen_usage(arg0: &str) -> String {
    format!(
        "usage: {arg0} [-k FILE] [-l BYTES] [-f]\n\
         \x20 -k FILE   where to write the key (default {DEFAULT_KEY_PATH})\n\
         \x20 -l BYTES  key length in bytes, {MIN_KEY_LEN}..{MAX_KEY_LEN} (default {DEFAULT_KEY_LEN})\n\
         \x20 -f        replace an existing key file\n\
         \x20 -h        this help\n"
    )
}

/// Parses `rgm_keygen`'s arguments; `Err` holds the message for a bad command line, `Ok(None)`
/// asks for the help.
pub fn parse_keygen_args(args: &[String]) -> Result<Option<KeygenArgs>, String> {
    let mut out = KeygenArgs {
        path: PathBuf::from(DEFAULT_KEY_PATH),
        len: DEFAULT_KEY_LEN,
        force: false,
    };
    let mut it = args.iter();
    while let Some(a) = it.next() {
        match a.as_str() {
            "-k" => {
                out.path = it.next().ok_or("-k needs a file name")?.into();
            }
            "-l" => {
                let v = it.next().ok_or("-l needs a number of bytes")?;
                out.len = v
                    .parse()
                    .map_err(|_| format!("-l {v}: not a number of bytes"))?;
            }
            "-f" => out.force = true,
            "-h" | "--help" => return Ok(None),
            other => return Err(format!("unknown option {other}")),
        }
    }
    Ok(Some(out))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    #[test]
    fn generate_then_load() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("authkey");
        generate(&path, DEFAULT_KEY_LEN, false).unwrap();
        let meta = fs::metadata(&path).unwrap();
        assert_eq!(meta.mode() & 0o7777, 0o400);
        assert_eq!(meta.len(), DEFAULT_KEY_LEN as u64);
        let key = ClusterKey::load(&path).unwrap();
        assert_eq!(key.as_bytes().len(), DEFAULT_KEY_LEN);
        // Random: two keys differ, and a key is not all zeros.
        let other = dir.path().join("second");
        generate(&other, DEFAULT_KEY_LEN, false).unwrap();
        assert_ne!(ClusterKey::load(&other).unwrap().as_bytes(), key.as_bytes());
        assert!(key.as_bytes().iter().any(|b| *b != 0));
        // Nothing left behind.
        assert_eq!(fs::read_dir(dir.path()).unwrap().count(), 2);
    }

    #[test]
    fn never_overwrites_without_force() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("authkey");
        generate(&path, 32, false).unwrap();
        let first = fs::read(&path).unwrap();
        let err = generate(&path, 32, false).unwrap_err();
        assert!(matches!(err, KeyError::Exists { .. }), "{err}");
        assert_eq!(
            err.to_string(),
            format!("{} already exists; use -f to replace it", path.display())
        );
        assert_eq!(fs::read(&path).unwrap(), first);
        generate(&path, 64, true).unwrap();
        assert_eq!(fs::read(&path).unwrap().len(), 64);
        assert_eq!(fs::metadata(&path).unwrap().mode() & 0o777, 0o400);
        assert_eq!(fs::read_dir(dir.path()).unwrap().count(), 1);
    }

    #[test]
    fn lengths_are_bounded() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("k");
        assert!(matches!(
            generate(&path, 8, false),
            Err(KeyError::BadLength(8))
        ));
        assert!(matches!(
            generate(&path, 5000, false),
            Err(KeyError::BadLength(5000))
        ));
        assert!(!path.exists());
        assert!(ClusterKey::from_bytes(vec![1; 15]).is_err());
        assert!(ClusterKey::from_bytes(vec![1; 16]).is_ok());
    }

    fn write_mode(path: &Path, bytes: &[u8], mode: u32) {
        fs::write(path, bytes).unwrap();
        fs::set_permissions(path, fs::Permissions::from_mode(mode)).unwrap();
    }

    #[test]
    fn refuses_bad_key_files_without_showing_them() {
        let dir = tempfile::tempdir().unwrap();
        let secret = b"SECRET-SECRET-SECRET-SECRET";
        let open = dir.path().join("open");
        write_mode(&open, secret, 0o644);
        let err = ClusterKey::load(&open).unwrap_err();
        assert!(
            matches!(err, KeyError::Exposed { mode: 0o644, .. }),
            "{err}"
        );
        assert!(err
            .to_string()
            .contains("readable by other users (mode 0644)"));
        assert!(!err.to_string().contains("SECRET"));
        assert!(!format!("{err:?}").contains("SECRET"));
        let short = dir.path().join("short");
        write_mode(&short, b"tiny", 0o600);
        let err = ClusterKey::load(&short).unwrap_err();
        assert!(matches!(err, KeyError::TooShort { len: 4, .. }), "{err}");
        let long = dir.path().join("long");
        write_mode(&long, &vec![7u8; MAX_KEY_LEN + 1], 0o400);
        assert!(matches!(
            ClusterKey::load(&long),
            Err(KeyError::TooLong { .. })
        ));
        assert!(matches!(
            ClusterKey::load(&dir.path().join("missing")),
            Err(KeyError::Read { .. })
        ));
        assert!(matches!(
            ClusterKey::load(dir.path()),
            Err(KeyError::NotAFile { .. })
        ));
        // A good one, and its Debug hides it.
        let good = dir.path().join("good");
        write_mode(&good, secret, 0o440);
        let key = ClusterKey::load(&good).unwrap();
        assert_eq!(key.as_bytes(), secret);
        assert_eq!(format!("{key:?}"), "ClusterKey(27 bytes, redacted)");
    }

    #[test]
    fn keygen_arguments() {
        let a =
            |v: &[&str]| parse_keygen_args(&v.iter().map(|s| s.to_string()).collect::<Vec<_>>());
        assert_eq!(
            a(&[]),
            Ok(Some(KeygenArgs {
                path: DEFAULT_KEY_PATH.into(),
                len: DEFAULT_KEY_LEN,
                force: false
            }))
        );
        assert_eq!(
            a(&["-k", "/tmp/k", "-l", "32", "-f"]),
            Ok(Some(KeygenArgs {
                path: "/tmp/k".into(),
                len: 32,
                force: true
            }))
        );
        assert_eq!(a(&["-h"]), Ok(None));
        assert!(a(&["-l", "x"]).is_err());
        assert!(a(&["-k"]).is_err());
        assert!(a(&["-q"]).is_err());
    }
}
