//! The `ptest` binary: everything lives in the library so tests and benchmarks share it.

fn main() -> std::process::ExitCode {
    keep_freed_memory();
    ptest::run(std::env::args_os())
}

// Evaluating a large config is mostly small allocations (Lua strings, tables, Rust strings):
// mimalloc makes `ptest list` on 10,000 suites about a quarter faster than glibc's malloc.
#[global_allocator]
static ALLOC: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// By default mimalloc hands freed pages back to the OS 10 ms later, and the next allocation
/// faults them in again, zeroing a 2 MiB transparent huge page each time: during a run of many
/// short suites that churn cost about 8 % of ptest's own CPU time. ptest is a short-lived process
/// whose memory peaks early (the plan), so it keeps what it freed.
fn keep_freed_memory() {
    // `mi_option_purge_delay` in mimalloc.h (v3, the version libmimalloc-sys builds by default);
    // -1 means never purge.
    const PURGE_DELAY: libmimalloc_sys::mi_option_t = 15;
    // SAFETY: sets one integer option of the allocator; called before any other thread exists.
    unsafe { libmimalloc_sys::mi_option_set(PURGE_DELAY, -1) };
}
