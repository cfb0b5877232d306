//! The on-disk cluster.conf as a versioned store: read the current version, replace it
//! atomically with a strictly newer valid one, keep a bounded number of backups.
//!
//! Config sync and `ccs_sync` write the file every node starts from; a node killed in the
//! middle of that write must come back with a complete, valid file (the old or the new, never a
//! mix), and a refused text must leave the file exactly as it was. Hence:
//!
//! - **Atomic replace**: the new text goes to a temporary file in the same directory
//!   (`.cluster.conf.tmp.<pid>`), created 0640 (and given the owner and group of the file it
//!   replaces when we may, i.e. as root), written, fsynced, then renamed over the real name and
//!   the directory fsynced. Readers see the old file or the new one, before and after a crash.
//! - **Backups**: the replaced file is kept, by a hard link made before the rename (a copy if the
//!   file system cannot link), as `cluster.conf.v<N>` where N is its `config_version`. Only the
//!   newest K backups are kept (default [`DEFAULT_KEEP`]), the oldest removed after each replace
//!   and by `open`.
//!   Any file of that directory named `<name>.v<digits>` counts as a backup.
//! - **One writer at a time**: `replace` holds an exclusive `flock` on the directory. So any
//!   temporary file found while holding the lock was left by a writer that died; `open` and
//!   `replace` remove them.
//! - **Refusals before any write**: the new text must be UTF-8, pass [`crate::check_str`] without
//!   errors and carry a `config_version` strictly greater than the current file's. An equal
//!   version with different bytes is a conflict. The text is stored byte for byte as given.

use std::ffi::OsString;
use std::fmt;
use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::os::fd::AsRawFd;
use std::os::unix::fs::{MetadataExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use sha2::{Digest, Sha256};

use crate::validate::Diagnostic;

/// How many backups a store keeps unless told otherwise.
pub const DEFAULT_KEEP: usize = 5;

/// The mode of every cluster.conf the store writes: fence passwords live in the file.
pub const FILE_MODE: u32 = 0o640;

/// SHA-256 of a configuration's exact bytes: how two nodes tell equal texts from different ones.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ConfHash(pub [u8; 32]);

impl ConfHash {
    pub fn of(bytes: &[u8]) -> Self {
        ConfHash(Sha256::digest(bytes).into())
    }

    /// All 64 hex digits.
    pub fn to_hex(&self) -> String {
        self.0.iter().map(|b| format!("{b:02x}")).collect()
    }
}

/// The first 16 hex digits: enough to tell two configurations apart in a log line.
impl fmt::Display for ConfHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for b in &self.0[..8] {
            write!(f, "{b:02x}")?;
        }
        Ok(())
    }
}

impl fmt::Debug for ConfHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ConfHash({})", self.to_hex())
    }
}

/// Bytes and their SHA-256, computed once. The sync transport hashes a received file once
/// (its frame's MAC covers that digest) and the same digest is the configuration's hash: no
/// byte is hashed twice on its way from the wire to the store. Only [`Hashed::new`] makes
/// one, so the hash is always that of the bytes.
#[derive(Clone, PartialEq, Eq)]
pub struct Hashed {
    bytes: Arc<[u8]>,
    hash: ConfHash,
}

impl Hashed {
    pub fn new(bytes: impl Into<Arc<[u8]>>) -> Self {
        let bytes: Arc<[u8]> = bytes.into();
        let hash = ConfHash::of(&bytes);
        Hashed { bytes, hash }
    }

    pub fn bytes(&self) -> &Arc<[u8]> {
        &self.bytes
    }

    pub fn hash(&self) -> ConfHash {
        self.hash
    }
}

impl From<Arc<[u8]>> for Hashed {
    fn from(bytes: Arc<[u8]>) -> Self {
        Hashed::new(bytes)
    }
}

impl std::ops::Deref for Hashed {
    type Target = [u8];
    fn deref(&self) -> &[u8] {
        &self.bytes
    }
}

impl fmt::Debug for Hashed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Hashed({} bytes, {})", self.bytes.len(), self.hash)
    }
}

/// Why a text is not a configuration a node may run.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum Invalid {
    #[error("not UTF-8 text (at byte {offset})")]
    NotUtf8 { offset: usize },
    /// The validator's first error, and how many there were.
    #[error("invalid: {first}{}", if *.count > 1 { format!(" (and {} more error(s))", .count - 1) } else { String::new() })]
    Errors { first: Diagnostic, count: usize },
    #[error("no readable config_version")]
    NoVersion,
}

/// A valid configuration: its exact bytes, their hash and its `config_version`, with the model
/// its check parsed (a live reload uses it rather than parsing a large file again). Two are
/// equal when their versions and bytes are.
#[derive(Clone)]
pub struct Versioned {
    version: u64,
    text: Hashed,
    conf: Arc<crate::ClusterConf>,
}

impl PartialEq for Versioned {
    fn eq(&self, other: &Self) -> bool {
        // Equal bytes parse to equal models: the model need not be compared.
        self.version == other.version && self.text == other.text
    }
}

impl Eq for Versioned {}

/// The version and hash: the text (fence passwords included) is never printed.
impl fmt::Debug for Versioned {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Versioned")
            .field("version", &self.version)
            .field("hash", &self.text.hash)
            .finish_non_exhaustive()
    }
}

impl Versioned {
    /// Checks a text: UTF-8, no validation errors (warnings are allowed, as cman allowed them),
    /// a `config_version`.
    pub fn check(bytes: impl Into<Arc<[u8]>>) -> Result<Self, Invalid> {
        Self::check_hashed(Hashed::new(bytes))
    }

    /// [`Versioned::check`] for bytes already hashed (a received frame's body).
    pub fn check_hashed(text: Hashed) -> Result<Self, Invalid> {
        let bytes = text.bytes();
        let text_str = std::str::from_utf8(bytes).map_err(|e| Invalid::NotUtf8 {
            offset: e.valid_up_to(),
        })?;
        let report = crate::check_str(text_str);
        let count = report.errors().count();
        if let Some(first) = report.errors().next() {
            return Err(Invalid::Errors {
                first: first.clone(),
                count,
            });
        }
        let conf = report.conf.ok_or(Invalid::NoVersion)?;
        let version = conf.config_version().ok_or(Invalid::NoVersion)?;
        Ok(Versioned {
            version,
            text,
            conf: Arc::new(conf),
        })
    }

    pub fn version(&self) -> u64 {
        self.version
    }

    pub fn hash(&self) -> ConfHash {
        self.text.hash()
    }

    pub fn bytes(&self) -> &Arc<[u8]> {
        self.text.bytes()
    }

    /// The model parsed from the bytes.
    pub fn conf(&self) -> &Arc<crate::ClusterConf> {
        &self.conf
    }

    /// The bytes with their hash (what an offer carries).
    pub fn hashed(&self) -> &Hashed {
        &self.text
    }
}

/// Why the store refused or failed. Each message is one line naming the file.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("{}: {op}: {source}", .path.display())]
    Io {
        path: PathBuf,
        op: &'static str,
        source: io::Error,
    },
    /// The new text is not a valid configuration.
    #[error("{}: refused: {reason}", .path.display())]
    Invalid { path: PathBuf, reason: Invalid },
    /// The new version is not strictly greater than the current one (same bytes included).
    #[error("{}: refused: version {new} is not newer than {current}", .path.display())]
    NotNewer {
        path: PathBuf,
        new: u64,
        current: u64,
    },
    /// Same version, different bytes: two administrators edited without agreeing.
    #[error("{}: conflict: version {version} here has hash {ours}, the new text {theirs}; nothing written", .path.display())]
    Conflict {
        path: PathBuf,
        version: u64,
        ours: ConfHash,
        theirs: ConfHash,
    },
    /// The file on disk is not a configuration (for `current`), or has no readable version
    /// (for `replace`, which then cannot order the new text after it).
    #[error("{}: the current file is unusable: {reason}", .path.display())]
    CurrentUnusable { path: PathBuf, reason: Invalid },
}

/// What a successful [`Store::replace`] did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Replaced {
    /// The replaced file's version; `None` when there was no file.
    pub previous: Option<u64>,
    pub version: u64,
    pub hash: ConfHash,
    /// Where the replaced file was kept.
    pub backup: Option<PathBuf>,
    /// Backups removed to stay within the bound.
    pub removed: Vec<PathBuf>,
}

/// A cluster.conf on disk and its backups.
#[derive(Clone, Debug)]
pub struct Store {
    path: PathBuf,
    dir: PathBuf,
    name: OsString,
    keep: usize,
}

fn io_err<'a>(path: &'a Path, op: &'static str) -> impl FnOnce(io::Error) -> StoreError + 'a {
    move |source| StoreError::Io {
        path: path.to_path_buf(),
        op,
        source,
    }
}

/// The directory, open and exclusively locked until dropped (the kernel drops the lock of a
/// killed process).
struct DirLock {
    dir: File,
}

impl DirLock {
    fn take(dir: &Path) -> Result<Self, StoreError> {
        let f = File::open(dir).map_err(io_err(dir, "cannot open the directory"))?;
        loop {
            // SAFETY: flock on a descriptor we own; no memory is shared with the kernel.
            let rc = unsafe { libc::flock(f.as_raw_fd(), libc::LOCK_EX) };
            if rc == 0 {
                return Ok(DirLock { dir: f });
            }
            let e = io::Error::last_os_error();
            if e.kind() != io::ErrorKind::Interrupted {
                return Err(io_err(dir, "cannot lock the directory")(e));
            }
        }
    }
}

impl Store {
    /// A store for the file at `path` (which need not exist yet; its directory must) keeping
    /// [`DEFAULT_KEEP`] backups. See [`Store::open_keeping`].
    pub fn open(path: impl Into<PathBuf>) -> Result<Self, StoreError> {
        Self::open_keeping(path, DEFAULT_KEEP)
    }

    /// A store keeping `keep` backups (0: none). Finishes what a writer killed mid-replace left
    /// undone: removes its temporary file, and the backups beyond the bound (a kill between the
    /// rename and the rotation leaves one too many).
    pub fn open_keeping(path: impl Into<PathBuf>, keep: usize) -> Result<Self, StoreError> {
        let path: PathBuf = path.into();
        let Some(name) = path.file_name().map(|n| n.to_os_string()) else {
            return Err(StoreError::Io {
                path,
                op: "not a file name",
                source: io::Error::from(io::ErrorKind::InvalidInput),
            });
        };
        let dir = match path.parent() {
            Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
            _ => PathBuf::from("."),
        };
        let store = Store {
            path,
            dir,
            name,
            keep,
        };
        let lock = DirLock::take(&store.dir)?;
        store.remove_stale_temps()?;
        if !store.rotate()?.is_empty() {
            lock.dir
                .sync_all()
                .map_err(io_err(&store.dir, "cannot sync the directory"))?;
        }
        Ok(store)
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The current file, which must be a valid configuration.
    pub fn current(&self) -> Result<Versioned, StoreError> {
        let bytes = fs::read(&self.path).map_err(io_err(&self.path, "cannot read"))?;
        Versioned::check(bytes).map_err(|reason| StoreError::CurrentUnusable {
            path: self.path.clone(),
            reason,
        })
    }

    /// The backups on disk, oldest version first.
    pub fn backups(&self) -> Result<Vec<(u64, PathBuf)>, StoreError> {
        let mut out = Vec::new();
        let prefix = format!("{}.v", self.name.to_string_lossy());
        let entries = fs::read_dir(&self.dir).map_err(io_err(&self.dir, "cannot list"))?;
        for e in entries {
            let e = e.map_err(io_err(&self.dir, "cannot list"))?;
            let name = e.file_name();
            let Some(name) = name.to_str() else { continue };
            let Some(digits) = name.strip_prefix(&prefix) else {
                continue;
            };
            if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
                continue;
            }
            if let Ok(v) = digits.parse::<u64>() {
                out.push((v, e.path()));
            }
        }
        out.sort();
        Ok(out)
    }

    fn temp_prefix(&self) -> String {
        format!(".{}.tmp.", self.name.to_string_lossy())
    }

    /// Called with the directory lock held: any temporary file is a dead writer's.
    fn remove_stale_temps(&self) -> Result<usize, StoreError> {
        let prefix = self.temp_prefix();
        let mut removed = 0;
        let entries = fs::read_dir(&self.dir).map_err(io_err(&self.dir, "cannot list"))?;
        for e in entries {
            let e = e.map_err(io_err(&self.dir, "cannot list"))?;
            if e.file_name().to_string_lossy().starts_with(&prefix) {
                let p = e.path();
                fs::remove_file(&p).map_err(io_err(&p, "cannot remove a stale temporary file"))?;
                tracing::info!("removed {}, left by an interrupted write", p.display());
                removed += 1;
            }
        }
        Ok(removed)
    }

    /// Replaces the file with `new`, stored byte for byte, if it is valid and strictly newer.
    /// Refusals happen before anything is written.
    pub fn replace(&self, new: &[u8]) -> Result<Replaced, StoreError> {
        let new = Versioned::check(new.to_vec()).map_err(|reason| StoreError::Invalid {
            path: self.path.clone(),
            reason,
        })?;
        self.replace_checked(&new)
    }

    /// [`Store::replace`] for a text already checked (a [`Versioned`] is valid by
    /// construction): the sync daemon checks an offer once, not once more here.
    pub fn replace_checked(&self, new: &Versioned) -> Result<Replaced, StoreError> {
        let lock = DirLock::take(&self.dir)?;
        self.remove_stale_temps()?;

        let old = match fs::read(&self.path) {
            Ok(b) => Some(b),
            Err(e) if e.kind() == io::ErrorKind::NotFound => None,
            Err(e) => return Err(io_err(&self.path, "cannot read")(e)),
        };
        let old_meta = match &old {
            Some(_) => Some(fs::metadata(&self.path).map_err(io_err(&self.path, "cannot stat"))?),
            None => None,
        };
        let previous = match &old {
            Some(bytes) => Some(self.version_of_current(bytes)?),
            None => None,
        };
        if let (Some(current), Some(bytes)) = (previous, &old) {
            // Hashed only when it matters (equal versions): 1 MB of SHA-256 saved per write.
            let ours = (new.version() == current).then(|| ConfHash::of(bytes));
            if let Some(ours) = ours.filter(|o| *o != new.hash()) {
                return Err(StoreError::Conflict {
                    path: self.path.clone(),
                    version: current,
                    ours,
                    theirs: new.hash(),
                });
            }
            if new.version() <= current {
                return Err(StoreError::NotNewer {
                    path: self.path.clone(),
                    new: new.version(),
                    current,
                });
            }
        }

        let temp = self
            .dir
            .join(format!("{}{}", self.temp_prefix(), std::process::id()));
        self.write_temp(&temp, new, old_meta.as_ref())?;

        let backup = match previous {
            Some(v) if self.keep > 0 => Some(self.link_backup(v)?),
            _ => None,
        };
        // The oldest backups go before the rename, so that one directory sync makes the
        // rename, the new backup link and the removals durable together (each sync is a
        // journal commit, milliseconds on a real disk). A crash in between leaves the old file
        // and at least the newest backups: nothing a reader relies on.
        let removed = self.rotate()?;
        fs::rename(&temp, &self.path).map_err(io_err(&self.path, "cannot rename over"))?;
        lock.dir
            .sync_all()
            .map_err(io_err(&self.dir, "cannot sync the directory"))?;
        Ok(Replaced {
            previous,
            version: new.version(),
            hash: new.hash(),
            backup,
            removed,
        })
    }

    /// The version of the file on disk. A file with validation errors still has an order (so
    /// that a newer push can repair a hand-broken file); one without a readable version has not.
    fn version_of_current(&self, bytes: &[u8]) -> Result<u64, StoreError> {
        let unusable = |reason| StoreError::CurrentUnusable {
            path: self.path.clone(),
            reason,
        };
        let text = std::str::from_utf8(bytes).map_err(|e| {
            unusable(Invalid::NotUtf8 {
                offset: e.valid_up_to(),
            })
        })?;
        // The root's start tag is enough (a 1 MB file is not parsed whole for one attribute);
        // when it is not readable on its own, the whole document is read as before. A file
        // broken by hand after a readable root tag thus still has an order, and a newer push
        // repairs it.
        let fast = crate::xml::root_start(text)
            .filter(|root| root.name == "cluster")
            .and_then(|root| {
                root.attrs
                    .get("config_version")
                    .and_then(crate::value::parse_uint)
            });
        fast.or_else(|| crate::parse_str(text).ok().and_then(|c| c.config_version()))
            .ok_or_else(|| unusable(Invalid::NoVersion))
    }

    fn write_temp(
        &self,
        temp: &Path,
        new: &Versioned,
        old: Option<&fs::Metadata>,
    ) -> Result<(), StoreError> {
        let mut f = OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(FILE_MODE)
            .open(temp)
            .map_err(io_err(temp, "cannot create"))?;
        // The umask may have taken bits away; the mode is part of the contract.
        f.set_permissions(fs::Permissions::from_mode(FILE_MODE))
            .map_err(io_err(temp, "cannot set the mode of"))?;
        if let Some(old) = old {
            let mine = f.metadata().map_err(io_err(temp, "cannot stat"))?;
            if (mine.uid(), mine.gid()) != (old.uid(), old.gid()) {
                // Only root may give a file away; anyone else keeps their own ownership.
                if let Err(e) = std::os::unix::fs::fchown(&f, Some(old.uid()), Some(old.gid())) {
                    tracing::debug!("{}: keeping our own owner: {e}", temp.display());
                }
            }
        }
        f.write_all(new.bytes())
            .map_err(io_err(temp, "cannot write"))?;
        f.sync_all().map_err(io_err(temp, "cannot sync"))?;
        Ok(())
    }

    /// Keeps the current file as the backup of version `v`, before it is renamed over.
    fn link_backup(&self, v: u64) -> Result<PathBuf, StoreError> {
        let backup = self
            .dir
            .join(format!("{}.v{v}", self.name.to_string_lossy()));
        match fs::remove_file(&backup) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(e) => return Err(io_err(&backup, "cannot remove")(e)),
        }
        if fs::hard_link(&self.path, &backup).is_err() {
            fs::copy(&self.path, &backup).map_err(io_err(&backup, "cannot copy to"))?;
        }
        Ok(backup)
    }

    fn rotate(&self) -> Result<Vec<PathBuf>, StoreError> {
        let backups = self.backups()?;
        let excess = backups.len().saturating_sub(self.keep);
        let mut removed = Vec::new();
        for (_, p) in backups.into_iter().take(excess) {
            fs::remove_file(&p).map_err(io_err(&p, "cannot remove an old backup"))?;
            removed.push(p);
        }
        Ok(removed)
    }
}
