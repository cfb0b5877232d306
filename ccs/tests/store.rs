//! `ccs::store` on a real file system: replace, backups and their bound, modes and owners,
//! refusals that leave the file untouched, and a writer SIGKILLed at random moments.

use std::io::{BufRead, BufReader};
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use ccs::store::{ConfHash, Invalid, Store, StoreError, Versioned, DEFAULT_KEEP, FILE_MODE};

fn conf(version: u64, tag: &str) -> Vec<u8> {
    format!(
        "<?xml version=\"1.0\"?>\n<!-- {tag}: kept as written -->\n<cluster config_version=\"{version}\" name=\"c\">\n  <clusternodes>\n    <clusternode name=\"n1\" nodeid=\"1\"/>\n      <clusternode name=\"n2\"   nodeid=\"2\"/>\n  </clusternodes>\n</cluster>\n"
    )
    .into_bytes()
}

fn setup() -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("cluster.conf");
    (dir, path)
}

fn temps(dir: &Path) -> Vec<String> {
    std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with(".cluster.conf.tmp."))
        .collect()
}

fn mode(p: &Path) -> u32 {
    std::fs::metadata(p).unwrap().permissions().mode() & 0o7777
}

#[test]
fn fixtures_are_valid() {
    let v = Versioned::check(conf(3, "x")).unwrap();
    assert_eq!(v.version(), 3);
    assert_eq!(v.hash(), ConfHash::of(&conf(3, "x")));
    assert_ne!(v.hash(), ConfHash::of(&conf(3, "y")));
}

#[test]
fn replace_stores_bytes_and_rotates_backups() {
    let (dir, path) = setup();
    let store = Store::open(&path).unwrap();
    let r = store.replace(&conf(1, "first")).unwrap();
    assert_eq!((r.previous, r.version, r.backup.as_ref()), (None, 1, None));
    assert_eq!(std::fs::read(&path).unwrap(), conf(1, "first"));
    assert_eq!(mode(&path), FILE_MODE);

    for v in 2..=9u64 {
        let r = store.replace(&conf(v, &format!("edit {v}"))).unwrap();
        assert_eq!(r.previous, Some(v - 1));
        assert_eq!(r.version, v);
        let backup = r.backup.unwrap();
        assert_eq!(backup, dir.path().join(format!("cluster.conf.v{}", v - 1)));
        let old_tag = if v == 2 {
            "first".to_string()
        } else {
            format!("edit {}", v - 1)
        };
        assert_eq!(std::fs::read(&backup).unwrap(), conf(v - 1, &old_tag));
        // Byte for byte: comments and odd indentation survive.
        assert_eq!(std::fs::read(&path).unwrap(), conf(v, &format!("edit {v}")));
        assert_eq!(mode(&path), FILE_MODE);
        if v == 7 {
            assert_eq!(r.removed, vec![dir.path().join("cluster.conf.v1")]);
        }
    }
    let kept: Vec<u64> = store.backups().unwrap().iter().map(|b| b.0).collect();
    assert_eq!(kept.len(), DEFAULT_KEEP);
    assert_eq!(kept, vec![4, 5, 6, 7, 8]);
    assert_eq!(store.current().unwrap().version(), 9);
    assert!(temps(dir.path()).is_empty());
}

#[test]
fn backup_bound_is_configurable() {
    let (dir, path) = setup();
    std::fs::write(&path, conf(1, "a")).unwrap();
    let store = Store::open_keeping(&path, 2).unwrap();
    for v in 2..=5 {
        store.replace(&conf(v, "b")).unwrap();
    }
    let kept: Vec<u64> = store.backups().unwrap().iter().map(|b| b.0).collect();
    assert_eq!(kept, vec![3, 4]);

    let none = Store::open_keeping(&path, 0).unwrap();
    let r = none.replace(&conf(6, "c")).unwrap();
    assert_eq!(r.backup, None);
    assert!(none.backups().unwrap().is_empty());
    // Files that merely look alike are not backups.
    std::fs::write(dir.path().join("cluster.conf.vold"), "x").unwrap();
    std::fs::write(dir.path().join("cluster.conf.v"), "x").unwrap();
    assert!(none.backups().unwrap().is_empty());
}

#[test]
fn new_file_gets_0640_and_the_old_owner() {
    assert_eq!(
        unsafe { libc::geteuid() },
        0,
        "this test needs root (it gives the file away)"
    );
    let (_dir, path) = setup();
    std::fs::write(&path, conf(1, "a")).unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
    std::os::unix::fs::chown(&path, Some(1234), Some(5678)).unwrap();
    let store = Store::open(&path).unwrap();
    store.replace(&conf(2, "b")).unwrap();
    let m = std::fs::metadata(&path).unwrap();
    assert_eq!((m.uid(), m.gid()), (1234, 5678));
    assert_eq!(m.permissions().mode() & 0o7777, 0o640);
    // The backup is the old file itself, mode and owner as they were.
    let b = std::fs::metadata(path.with_file_name("cluster.conf.v1")).unwrap();
    assert_eq!(
        (b.uid(), b.gid(), b.permissions().mode() & 0o7777),
        (1234, 5678, 0o600)
    );
}

/// Each refusal: the exact one-line message, and the file, its mtime and the directory
/// unchanged.
#[test]
fn refusals_leave_everything_untouched() {
    let (dir, path) = setup();
    let store = Store::open(&path).unwrap();
    store.replace(&conf(11, "a")).unwrap();
    store.replace(&conf(12, "current")).unwrap();
    let before = std::fs::read(&path).unwrap();
    let mtime = std::fs::metadata(&path).unwrap().modified().unwrap();
    let listing = |d: &Path| {
        let mut v: Vec<String> = std::fs::read_dir(d)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        v.sort();
        v
    };
    let files = listing(dir.path());
    let shown = path.display().to_string();
    let ours = ConfHash::of(&before);
    let theirs = ConfHash::of(&conf(12, "other"));

    let cases: Vec<(Vec<u8>, String)> = vec![
        (
            conf(12, "current"),
            format!("{shown}: refused: version 12 is not newer than 12"),
        ),
        (
            conf(11, "older"),
            format!("{shown}: refused: version 11 is not newer than 12"),
        ),
        (
            conf(12, "other"),
            format!("{shown}: conflict: version 12 here has hash {ours}, the new text {theirs}; nothing written"),
        ),
        (
            b"this is not XML at all".to_vec(),
            format!("{shown}: refused: invalid: 1:1: XML: text outside the root element"),
        ),
        (
            b"<cluster name=\"c\" config_version=\"13\"><clusternodes><clusternode name=\"a\"/></clusternodes></cluster>".to_vec(),
            String::new(),
        ),
        (
            b"<cluster name=\"c\" config_version=\"13\">\xff</cluster>".to_vec(),
            format!("{shown}: refused: not UTF-8 text (at byte 38)"),
        ),
    ];
    for (text, want) in cases {
        let err = store.replace(&text).unwrap_err();
        let got = err.to_string();
        if want.is_empty() {
            assert!(
                got.starts_with(&format!("{shown}: refused: invalid: 1:")),
                "{got}"
            );
            assert!(matches!(
                err,
                StoreError::Invalid {
                    reason: Invalid::Errors { .. },
                    ..
                }
            ));
        } else {
            assert_eq!(got, want);
        }
        assert!(!got.contains('\n'));
        assert_eq!(std::fs::read(&path).unwrap(), before);
        assert_eq!(std::fs::metadata(&path).unwrap().modified().unwrap(), mtime);
        assert_eq!(listing(dir.path()), files);
    }
}

#[test]
fn a_file_without_a_version_blocks_replace_and_current() {
    let (_dir, path) = setup();
    std::fs::write(&path, "<cluster name=\"c\"/>\n").unwrap();
    let store = Store::open(&path).unwrap();
    let e = store.replace(&conf(5, "a")).unwrap_err();
    assert_eq!(
        e.to_string(),
        format!(
            "{}: the current file is unusable: no readable config_version",
            path.display()
        )
    );
    assert!(matches!(
        store.current().unwrap_err(),
        StoreError::CurrentUnusable { .. }
    ));
    assert_eq!(std::fs::read(&path).unwrap(), b"<cluster name=\"c\"/>\n");
}

#[test]
fn a_hand_broken_file_with_a_version_can_be_repaired_by_a_newer_one() {
    let (_dir, path) = setup();
    // Validation error (no nodeid), but its version is readable.
    std::fs::write(
        &path,
        "<cluster name=\"c\" config_version=\"4\"><clusternodes><clusternode name=\"a\"/></clusternodes></cluster>",
    )
    .unwrap();
    let store = Store::open(&path).unwrap();
    assert!(matches!(
        store.current().unwrap_err(),
        StoreError::CurrentUnusable {
            reason: Invalid::Errors { .. },
            ..
        }
    ));
    assert!(matches!(
        store.replace(&conf(4, "x")).unwrap_err(),
        StoreError::Conflict { version: 4, .. }
    ));
    assert_eq!(store.replace(&conf(5, "x")).unwrap().previous, Some(4));
}

#[test]
fn the_replaced_file_is_ordered_by_its_root_tag_alone() {
    let (_dir, path) = setup();
    // Broken by hand after a readable root tag: its version still orders it (the store reads
    // only the root's start tag), so a newer push repairs it and an older one is refused.
    std::fs::write(
        &path,
        "<?xml version=\"1.0\"?>\n<!-- edited -->\n<cluster name=\"c\" config_version=\"7\"><clusternodes></cluster>",
    )
    .unwrap();
    let store = Store::open(&path).unwrap();
    assert!(matches!(
        store.replace(&conf(6, "x")).unwrap_err(),
        StoreError::NotNewer {
            new: 6,
            current: 7,
            ..
        }
    ));
    assert_eq!(store.replace(&conf(8, "x")).unwrap().previous, Some(7));
    assert_eq!(std::fs::read(&path).unwrap(), conf(8, "x"));
    // Another root element, or no readable root tag at all: no order.
    for bad in [
        "<notcluster config_version=\"9\"/>",
        "<cluster name=\"c\" config_version=\"9\"",
    ] {
        std::fs::write(&path, bad).unwrap();
        assert!(
            matches!(
                store.replace(&conf(10, "x")).unwrap_err(),
                StoreError::CurrentUnusable { .. }
            ),
            "{bad}"
        );
        assert_eq!(std::fs::read(&path).unwrap(), bad.as_bytes());
    }
}

#[test]
fn stale_temporary_files_are_removed_by_open_and_replace() {
    let (dir, path) = setup();
    std::fs::write(&path, conf(1, "a")).unwrap();
    std::fs::write(dir.path().join(".cluster.conf.tmp.4242"), "<clus").unwrap();
    let store = Store::open(&path).unwrap();
    assert!(temps(dir.path()).is_empty());
    std::fs::write(dir.path().join(".cluster.conf.tmp.77"), "half").unwrap();
    store.replace(&conf(2, "b")).unwrap();
    assert!(temps(dir.path()).is_empty());
    // Other files of the directory are not ours to remove.
    std::fs::write(dir.path().join(".other.tmp.1"), "x").unwrap();
    Store::open(&path).unwrap();
    assert!(dir.path().join(".other.tmp.1").exists());
}

/// Large enough that a kill often lands while the file is being written.
fn big_conf(version: u64) -> Vec<u8> {
    let mut s = String::from("<?xml version=\"1.0\"?>\n<!--");
    let line = format!(" filler of version {version} .........................................\n");
    while s.len() < 256 * 1024 {
        s.push_str(&line);
    }
    s.push_str("-->\n");
    s.push_str(&format!(
        "<cluster config_version=\"{version}\" name=\"c\">\n  <clusternodes>\n    <clusternode name=\"n1\" nodeid=\"1\"/>\n  </clusternodes>\n</cluster>\n"
    ));
    s.into_bytes()
}

const CHILD_ENV: &str = "CCS_STORE_CRASH_CHILD";
const CHILD_READY: &str = "CCS-STORE-CHILD-READY";

/// The child: replaces the file with the next version for ever, until killed.
fn child_loop(path: &str) {
    let store = Store::open(path).unwrap();
    println!("{CHILD_READY}");
    loop {
        let v = store.current().unwrap().version();
        store.replace(&big_conf(v + 1)).unwrap();
    }
}

struct KillOnDrop(Child);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// A writer SIGKILLed at random moments, 200 times: the file is always a complete valid
/// version (exactly the text written for that version), older backups too, and the temporary
/// file a killed writer leaves is gone after the next `open`.
#[test]
fn crash_safety_under_sigkill() {
    if let Ok(path) = std::env::var(CHILD_ENV) {
        child_loop(&path);
        return;
    }
    let (dir, path) = setup();
    Store::open(&path).unwrap().replace(&big_conf(1)).unwrap();
    let exe = std::env::current_exe().unwrap();
    let mut seed = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos() as u64
        | 1;
    eprintln!("seed {seed}");
    let mut last = 1;
    let mut interrupted = 0;
    for i in 0..200 {
        let child = Command::new(&exe)
            .args(["crash_safety_under_sigkill", "--exact", "--nocapture"])
            .env(CHILD_ENV, &path)
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let mut child = KillOnDrop(child);
        let mut out = BufReader::new(child.0.stdout.take().unwrap());
        let mut line = String::new();
        loop {
            line.clear();
            assert!(
                out.read_line(&mut line).unwrap() > 0,
                "iteration {i}: the child ended before it was ready"
            );
            if line.contains(CHILD_READY) {
                break;
            }
        }
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        std::thread::sleep(Duration::from_micros(seed % 30_000));
        drop(child); // SIGKILL, then reaped

        interrupted += temps(dir.path()).len();
        let store = Store::open(&path).unwrap();
        assert!(temps(dir.path()).is_empty(), "iteration {i}");
        let cur = store
            .current()
            .unwrap_or_else(|e| panic!("iteration {i}: {e}"));
        assert_eq!(
            cur.bytes().as_ref(),
            big_conf(cur.version()).as_slice(),
            "iteration {i}: a mix of versions"
        );
        assert!(cur.version() >= last, "iteration {i}: went back");
        last = cur.version();
        let backups = store.backups().unwrap();
        assert!(backups.len() <= DEFAULT_KEEP, "iteration {i}");
        for (v, p) in backups {
            assert_eq!(std::fs::read(&p).unwrap(), big_conf(v), "iteration {i}");
            // A kill between the backup link and the rename leaves a backup of the current
            // version: the same file under a second name.
            assert!(v <= last, "iteration {i}");
        }
    }
    eprintln!("200 kills: reached version {last}, {interrupted} write(s) interrupted mid-file");
    assert!(last > 1, "the child never completed a replace");
}

#[test]
fn an_invalid_text_names_its_first_error_and_counts_the_rest() {
    let two = b"<cluster name=\"c\" config_version=\"3\"><clusternodes><clusternode name=\"a\"/><clusternode name=\"b\"/></clusternodes></cluster>";
    let e = Versioned::check(two.to_vec()).unwrap_err();
    assert!(matches!(e, Invalid::Errors { count: 2, .. }), "{e:?}");
    assert_eq!(
        e.to_string(),
        "invalid: 1:52: <clusternode> is missing the required attribute \"nodeid\" (and 1 more error(s))"
    );
}

#[test]
fn a_missing_directory_is_a_clear_error() {
    let (dir, _) = setup();
    let path = dir.path().join("nope").join("cluster.conf");
    let e = Store::open(&path).unwrap_err();
    assert_eq!(
        e.to_string(),
        format!(
            "{}: cannot open the directory: No such file or directory (os error 2)",
            dir.path().join("nope").display()
        )
    );
}
