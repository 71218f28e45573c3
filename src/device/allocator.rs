//! How the process allocates host memory for tensors.
//!
//! The CPU backends allocate a fresh buffer for nearly every operation's output: tens of
//! megabytes each for a MobileNetV2 batch of 32 at 160 px. With glibc's defaults the heap top
//! is trimmed back to the system as soon as such a buffer is freed, so the next one is paged
//! in again: every page faulted and zeroed by the kernel, and a TLB shootdown on every other
//! core when it is unmapped. Measured with `runner bench experiments/mobilenet_ft.yaml` on the
//! 2-core machine: a fifth of the CPU time went to the kernel, and the frozen-base training
//! step ran at 64-78 images/s. Asking glibc to grow the heap in 1 GiB steps (`M_TOP_PAD`)
//! keeps freed buffers mapped for reuse: kernel time fell from about 3 s to 0.3 s of the
//! benchmark and the step ran at 108-114 images/s. The price is resident memory that stays
//! after it is freed: the tutorial recipe at 1+1 epochs peaked at 2.1 GB instead of 1.6 GB,
//! and took 64 s instead of 168-182 s (a pad of 256 MiB was as slow as none). jemalloc and
//! mimalloc, preloaded, returned memory just as eagerly and were slower still.

/// How far glibc extends the heap beyond each request, and how much freed memory at its top it
/// keeps instead of trimming (`M_TOP_PAD`).
#[cfg(all(target_os = "linux", target_env = "gnu"))]
const HEAP_GROWTH_BYTES: libc::c_int = 1 << 30;

/// Makes freed tensor buffers stay mapped for the next operation to reuse (see the module
/// docs). Call once, at the start of the process; does nothing outside Linux with glibc, or
/// when the user set glibc's own `MALLOC_TOP_PAD_` (theirs stands).
pub fn reuse_freed_buffers() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    if std::env::var_os("MALLOC_TOP_PAD_").is_none() {
        // SAFETY: mallopt only changes glibc's allocation parameters; it is called before any
        // other thread exists.
        unsafe {
            libc::mallopt(libc::M_TOP_PAD, HEAP_GROWTH_BYTES);
        }
    }
}
