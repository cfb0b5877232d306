//! The man pages and shell completions under `packaging/` are what the tools' sources give now
//! (`rgmanager::manuals`), and every page is valid roff: `groff -man -Tascii -ww` warns about
//! nothing.
//! `UPDATE_GENERATED=1 cargo test -p rgmanager --test generated_docs` rewrites them after a
//! deliberate change of a tool's options or texts.

use std::path::{Path, PathBuf};
use std::process::Command;

fn packaging() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../packaging")
}

#[test]
fn generated_files_are_current() {
    let update = std::env::var_os("UPDATE_GENERATED").is_some();
    let mut stale = Vec::new();
    let files = rgmanager::manuals::files();
    for (rel, text) in &files {
        let path = packaging().join(rel);
        let now = std::fs::read_to_string(&path).unwrap_or_default();
        if now != *text {
            if update {
                std::fs::create_dir_all(path.parent().unwrap()).unwrap();
                std::fs::write(&path, text).unwrap();
            } else {
                stale.push(rel.clone());
            }
        }
    }
    // No leftover page or completion of a tool that is gone.
    for dir in [
        "man",
        "completions/bash",
        "completions/zsh",
        "completions/fish",
    ] {
        for e in std::fs::read_dir(packaging().join(dir)).unwrap() {
            let rel = format!("{dir}/{}", e.unwrap().file_name().to_string_lossy());
            if !files.iter().any(|(r, _)| *r == rel) {
                if update {
                    std::fs::remove_file(packaging().join(&rel)).unwrap();
                } else {
                    stale.push(format!("{rel} (no such tool)"));
                }
            }
        }
    }
    assert!(
        stale.is_empty(),
        "out of date under packaging/ (run UPDATE_GENERATED=1 cargo test -p rgmanager --test \
         generated_docs): {stale:?}"
    );
}

#[test]
fn man_pages_are_clean_roff() {
    for (rel, text) in rgmanager::manuals::files() {
        if !rel.starts_with("man/") {
            continue;
        }
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("page");
        std::fs::write(&f, &text).unwrap();
        let out = Command::new("groff")
            // ASCII: what a minimal system without a UTF-8 locale renders with.
            .args(["-man", "-Tascii", "-ww", "-z"])
            .arg(&f)
            .output()
            .expect("groff (Debian's groff-base; scripts/test installs it)");
        assert!(out.status.success(), "{rel}: {out:?}");
        assert_eq!(
            String::from_utf8_lossy(&out.stderr),
            "",
            "{rel}: groff warns"
        );
    }
}
