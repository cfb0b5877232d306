//! `rgm_keygen` as a process: a new key file, refusal to overwrite, `-f`, bad lengths.

use std::os::unix::fs::MetadataExt;
use std::process::Command;

fn keygen(args: &[&str]) -> (i32, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_rgm_keygen"))
        .args(args)
        .output()
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8(out.stdout).unwrap(),
        String::from_utf8(out.stderr).unwrap(),
    )
}

#[test]
fn writes_refuses_and_replaces() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("authkey");
    let p = path.to_str().unwrap();
    let (code, out, err) = keygen(&["-k", p]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(out, format!("Writing 128 bytes of random data to {p}.\n"));
    let meta = std::fs::metadata(&path).unwrap();
    assert_eq!((meta.len(), meta.mode() & 0o7777), (128, 0o400));
    let first = std::fs::read(&path).unwrap();

    let (code, _, err) = keygen(&["-k", p, "-l", "64"]);
    assert_eq!(code, 1);
    assert!(
        err.contains("already exists; use -f to replace it"),
        "{err}"
    );
    assert_eq!(std::fs::read(&path).unwrap(), first);

    let (code, _, err) = keygen(&["-k", p, "-l", "64", "-f"]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(std::fs::read(&path).unwrap().len(), 64);
    assert!(rgmanager::membership::key::ClusterKey::load(&path).is_ok());
}

#[test]
fn bad_command_lines() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("k");
    let (code, _, err) = keygen(&["-k", p.to_str().unwrap(), "-l", "8"]);
    assert_eq!(code, 1);
    assert!(
        err.contains("key length 8 is outside 16..4096 bytes"),
        "{err}"
    );
    assert!(!p.exists());
    let (code, _, err) = keygen(&["-x"]);
    assert_eq!(code, 1);
    assert!(
        err.contains("unexpected argument '-x'") && err.contains("Usage: rgm_keygen"),
        "{err}"
    );
    let (code, _, err) = keygen(&["-l", "many"]);
    assert_eq!(code, 1);
    assert!(
        err.contains("invalid value 'many' for '-l <BYTES>'"),
        "{err}"
    );
    let (code, out, _) = keygen(&["-h"]);
    assert_eq!(code, 0);
    assert!(out.contains("Usage: rgm_keygen [OPTIONS]"), "{out}");
    assert!(out.contains("-k <FILE>"), "{out}");
    let (code, out, _) = keygen(&["--version"]);
    assert_eq!(code, 0);
    assert_eq!(out, format!("rgm_keygen {}\n", tooldoc::VERSION));
}
