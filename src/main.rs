//! The `ptest` binary: everything lives in the library so tests and benchmarks share it.

fn main() -> std::process::ExitCode {
    if std::env::args_os().nth(1).as_deref() == Some(ptest::watchdog::ARG.as_ref()) {
        return ptest::watchdog::main();
    }
    keep_freed_memory();
    ptest::run(std::env::args_os())
}

// Evaluating a large config is mostly small allocations (Lua strings, tables, Rust strings):
// mimalloc makes `ptest list` on 10,000 suites about twice as fast as glibc's malloc. It is built
// without transparent huge pages (the `no_thp` feature in Cargo.toml): each first touch of a
// 2 MiB page zeroes all of it, and ptest's few megabytes spread over mimalloc's size classes
// doubled its peak RSS (31.9 MB instead of 12.8 MB for a run of 2,000 suites) and cost
// milliseconds per fault on a virtual machine. The feature only skips mimalloc's own
// `madvise(MADV_HUGEPAGE)`; unlike the `allow_thp` option it does not turn huge pages off for
// the suites ptest starts.
#[global_allocator]
static ALLOC: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// By default mimalloc returns freed pages to the OS 10 ms after they fall empty, and the next
/// allocation faults them in again. ptest is short-lived and its memory peaks early (the plan),
/// so it keeps them.
fn keep_freed_memory() {
    // `mi_option_purge_delay` in mimalloc.h (v3, the version libmimalloc-sys builds by default);
    // -1 means never purge.
    const PURGE_DELAY: libmimalloc_sys::mi_option_t = 15;
    // SAFETY: sets one integer option of the allocator; called before any other thread exists.
    unsafe { libmimalloc_sys::mi_option_set(PURGE_DELAY, -1) };
}
