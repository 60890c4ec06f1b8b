//! The `ptest` binary: everything lives in the library so tests and benchmarks share it.

fn main() -> std::process::ExitCode {
    ptest::run(std::env::args_os())
}
