//! Records the git commit the tools are built from (`RGM_GIT_COMMIT`), for `--version`.
//!
//! `RGM_GIT_COMMIT` in the build environment wins (a build from a tarball has no `.git`);
//! otherwise `git rev-parse` in this checkout; otherwise `unknown`. The build script runs again
//! when HEAD or the branch it points to moves, so a new commit is never reported as the old one.

use std::path::{Path, PathBuf};
use std::process::Command;

fn git(dir: &Path, args: &[&str]) -> Option<String> {
    let out = Command::new("git")
        .args(args)
        .current_dir(dir)
        .output()
        .ok()?;
    if !out.status.success() {
        return None;
    }
    let s = String::from_utf8(out.stdout).ok()?.trim().to_string();
    (!s.is_empty()).then_some(s)
}

fn main() {
    println!("cargo:rerun-if-env-changed=RGM_GIT_COMMIT");
    let dir = PathBuf::from(std::env::var_os("CARGO_MANIFEST_DIR").unwrap_or_default());
    let from_env = std::env::var("RGM_GIT_COMMIT")
        .ok()
        .filter(|s| !s.trim().is_empty());
    let commit = from_env
        .clone()
        .or_else(|| git(&dir, &["rev-parse", "--short=12", "HEAD"]))
        .unwrap_or_else(|| "unknown".to_string());
    if from_env.is_none() {
        // Paths git keeps the position in (a worktree's HEAD lives apart from the refs).
        let mut watch = vec!["HEAD".to_string(), "packed-refs".to_string()];
        if let Some(r) = git(&dir, &["symbolic-ref", "-q", "HEAD"]) {
            watch.push(r);
        }
        for w in watch {
            if let Some(p) = git(&dir, &["rev-parse", "--git-path", &w]) {
                let p = dir.join(p);
                // A path that does not exist would make cargo run this script on every build.
                if p.exists() {
                    println!("cargo:rerun-if-changed={}", p.display());
                }
            }
        }
    }
    println!("cargo:rustc-env=RGM_GIT_COMMIT={commit}");
}
