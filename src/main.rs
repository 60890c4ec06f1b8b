//! The `ptest` binary: everything lives in the library so tests and benchmarks share it.

fn main() -> std::process::ExitCode {
    ptest::run(std::env::args_os())
}

// Evaluating a large config is mostly small allocations (Lua strings, tables, Rust strings):
// mimalloc makes `ptest list` on 10,000 suites about a quarter faster than glibc's malloc.
#[global_allocator]
static ALLOC: mimalloc::MiMalloc = mimalloc::MiMalloc;
