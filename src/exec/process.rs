//! What to start for a command line (`sh -c` or a direct exec, the program found on the child's
//! `PATH`) and spawn errors in words a user can act on. Must not wait for children — only the
//! reaper may — nor know about logs, timeouts or attempts.

use std::path::Path;

use crate::command::CommandLine;
use crate::os::spawn::{SpawnError, Step};

/// The program's path as the child's `PATH` finds it: the child only calls `execve`, which does
/// not search. A name found nowhere is returned as is, so the spawn reports it missing.
pub(crate) fn resolve(
    program: &std::ffi::OsStr,
    path: Option<&std::ffi::OsStr>,
    cwd: &Path,
) -> std::path::PathBuf {
    use std::os::unix::ffi::OsStrExt;
    use std::os::unix::fs::PermissionsExt;
    if program.as_bytes().contains(&b'/') {
        return program.into();
    }
    let inherited;
    let path = match path {
        Some(path) => path.as_bytes(),
        None => {
            inherited = std::env::var_os("PATH").unwrap_or_default();
            inherited.as_bytes()
        }
    };
    for dir in path.split(|&b| b == b':') {
        let dir = if dir.is_empty() {
            cwd
        } else {
            Path::new(std::ffi::OsStr::from_bytes(dir))
        };
        let candidate = dir.join(program);
        let executable = std::fs::metadata(&candidate)
            .is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0);
        if executable {
            return candidate;
        }
    }
    program.into()
}

/// What the user reads when the process could not be started at all. `program` is the file the
/// start tried to exec (`/bin/sh` for a shell line).
pub(crate) fn spawn_error(
    command: &CommandLine,
    program: &Path,
    cwd: &Path,
    err: &SpawnError,
) -> String {
    use std::io::ErrorKind;
    let kind = err.error.kind();
    if err.step == Step::Chdir {
        return match kind {
            ErrorKind::NotFound | ErrorKind::NotADirectory => {
                format!("working directory not found: {}", cwd.display())
            }
            _ => format!("cannot enter {}: {}", cwd.display(), err.error),
        };
    }
    let name = match command {
        CommandLine::Shell(_) => "sh".to_owned(),
        CommandLine::Argv(_) => command.program(),
    };
    match (err.step, kind) {
        (Step::Exec, ErrorKind::NotFound) => match missing_interpreter(program, cwd) {
            Some(Missing::Interpreter(interpreter)) => format!(
                "cannot start {name}: its interpreter {interpreter} (from its #! line) was not found"
            ),
            Some(Missing::Loader) => format!(
                "cannot start {name}: the file exists but the loader it names was not found (a \
                 program built for another system?)"
            ),
            None => format!("command not found: {name}"),
        },
        (Step::Exec, ErrorKind::PermissionDenied) => format!("permission denied: {name}"),
        _ => format!("cannot start {name}: {}", err.error),
    }
}

/// What is missing when `execve` says "not found" for a file that is there.
#[derive(Debug, PartialEq, Eq)]
enum Missing {
    /// The `#!` line names a program that does not exist.
    Interpreter(String),
    /// A binary whose dynamic loader does not exist.
    Loader,
}

/// `None` when `program` itself is missing (the usual "command not found").
fn missing_interpreter(program: &Path, cwd: &Path) -> Option<Missing> {
    use std::io::Read;
    let path = if program.is_relative() {
        cwd.join(program)
    } else {
        program.to_path_buf()
    };
    let meta = std::fs::metadata(&path).ok()?;
    if !meta.is_file() {
        return None;
    }
    // The first line only, bounded (the kernel itself reads at most 256 bytes of it), without
    // waiting on anything but a regular file.
    let mut head = Vec::new();
    let opened = std::fs::File::open(&path).ok()?;
    let _ = opened.take(256).read_to_end(&mut head);
    let Some(line) = head.strip_prefix(b"#!") else {
        return Some(Missing::Loader);
    };
    let line = line.split(|&b| b == b'\n').next().unwrap_or(line);
    let interpreter = String::from_utf8_lossy(line)
        .split_whitespace()
        .next()
        .map(str::to_owned)?;
    Some(Missing::Interpreter(interpreter))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    #[test]
    fn a_missing_interpreter_is_named_not_the_script() {
        let dir = tempfile::tempdir().unwrap();
        let script = dir.path().join("script.sh");
        std::fs::write(&script, "#!/nonexistent/python9 -u\nprint(1)\n").unwrap();
        std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).unwrap();
        assert_eq!(
            missing_interpreter(Path::new("script.sh"), dir.path()),
            Some(Missing::Interpreter("/nonexistent/python9".into()))
        );
        let elf = dir.path().join("prog");
        std::fs::write(&elf, b"\x7fELF not really").unwrap();
        assert_eq!(missing_interpreter(&elf, dir.path()), Some(Missing::Loader));
        assert_eq!(
            missing_interpreter(&dir.path().join("none"), dir.path()),
            None
        );
    }
}
