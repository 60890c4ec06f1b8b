//! Build script: names the git commit ptest is built from, for `ptest --version`.
//!
//! `PTEST_LONG_VERSION` is `0.1.0 (COMMIT DATE)` when the crate's own folder is the top of a git
//! checkout (a clone, or cargo's checkout for `cargo install --git`), and the version alone when
//! built from a tarball (crates.io, a release archive, a copy vendored inside another
//! repository).
//! The script reruns only when HEAD or the branch it points at moves, not on every edit.

use std::path::{Path, PathBuf};
use std::process::Command;

fn git(dir: &Path, args: &[&str]) -> Option<String> {
    let out = Command::new("git")
        .arg("-C")
        .arg(dir)
        .args(args)
        .output()
        .ok()?;
    if !out.status.success() {
        return None;
    }
    let text = String::from_utf8(out.stdout).ok()?;
    let text = text.trim();
    (!text.is_empty()).then(|| text.to_owned())
}

/// A path inside the git folder (`--git-path` knows worktrees and the common folder).
fn git_path(dir: &Path, name: &str) -> Option<PathBuf> {
    let p = PathBuf::from(git(dir, &["rev-parse", "--git-path", name])?);
    Some(if p.is_absolute() { p } else { dir.join(p) })
}

fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    println!("cargo:rerun-if-env-changed=PTEST_BUILD_NO_GIT");
    let version = std::env::var("CARGO_PKG_VERSION").expect("set by cargo");
    let long = match commit() {
        Some((commit, date)) => format!("{version} ({commit} {date})"),
        None => version,
    };
    println!("cargo:rustc-env=PTEST_LONG_VERSION={long}");
}

/// The commit and its date, when the crate's folder is the top of a git checkout; also says
/// which files to watch so that a commit or a checkout reruns this script.
fn commit() -> Option<(String, String)> {
    let dir = PathBuf::from(std::env::var_os("CARGO_MANIFEST_DIR").expect("set by cargo"));
    if std::env::var_os("PTEST_BUILD_NO_GIT").is_some() {
        return None;
    }
    let top = git(&dir, &["rev-parse", "--show-toplevel"])?;
    let same = |a: &Path, b: &Path| match (a.canonicalize(), b.canonicalize()) {
        (Ok(a), Ok(b)) => a == b,
        _ => false,
    };
    if !same(Path::new(&top), &dir) {
        return None;
    }
    let commit = git(&dir, &["rev-parse", "--short=12", "HEAD"])?;
    let date = git(&dir, &["log", "-1", "--format=%cs", "HEAD"])?;
    // Watching a file that does not exist would rerun the script on every build: only what is
    // there. A commit rewrites the branch's ref file; a checkout rewrites HEAD.
    let mut watched = vec![git_path(&dir, "HEAD")];
    if let Some(branch) = git(&dir, &["symbolic-ref", "-q", "HEAD"]) {
        watched.push(git_path(&dir, &branch));
    }
    watched.push(git_path(&dir, "packed-refs"));
    for path in watched.into_iter().flatten() {
        if path.exists() {
            println!("cargo:rerun-if-changed={}", path.display());
        }
    }
    Some((commit, date))
}
