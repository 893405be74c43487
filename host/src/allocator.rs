//! Settings of mimalloc (v3), the engine's allocator, so that memory does
//! not grow with the machine. With its defaults mimalloc gives pages back to
//! the OS only a second after they were freed, and only when the allocator
//! runs again (an idle engine keeps them), and commits its first arena
//! eagerly (whose freed pages then stay resident); RSS grew with the async
//! threads: building and draining a 1,000,000-event backlog peaked at
//! 268 / 309 MiB on 16 threads and 226 / 250 MiB on 2. With these settings,
//! applied before anything allocates (main.rs): 173 / 196 and 151 / 171 MiB,
//! idle 48 instead of 121 (docs/performance.md). An operator's own
//! `MIMALLOC_*` variable wins over each setting.

use std::ffi::{c_int, c_long};

/// (mimalloc's option index, its environment variable, our value). The
/// indices are mimalloc v3's `mi_option_e`; a test checks them against the
/// linked library's defaults.
const SETTINGS: [(c_int, &str, c_long); 2] = [
    // Commit arena memory as it is used.
    (4, "MIMALLOC_ARENA_EAGER_COMMIT", 0),
    // Give freed pages back to the OS 10 ms after they were freed (default
    // 1 s; 0 measured no smaller, and costs a system call per free span).
    (15, "MIMALLOC_PURGE_DELAY", 10),
];

pub use mimalloc::MiMalloc;

/// Makes the binary it is used in allocate as the engine does: mimalloc,
/// with [`SETTINGS`] applied right after mimalloc's own start-up
/// (constructor priority 101), before other constructors and Rust's
/// runtime, so that its first arena is reserved with them too (`main` is
/// too late for that). The engine uses it, and so does the benchmark,
/// which runs the plugin runtime in its own process: per-event WASM costs
/// are mostly allocations, and are measured as the engine pays them.
#[macro_export]
macro_rules! engine_allocator {
    () => {
        #[global_allocator]
        static GLOBAL: $crate::allocator::MiMalloc = $crate::allocator::MiMalloc;

        #[cfg(target_os = "linux")]
        #[allow(unsafe_code, reason = "a constructor in .init_array")]
        #[used]
        #[unsafe(link_section = ".init_array.00102")]
        static TUNE_ALLOCATOR: extern "C" fn() = {
            extern "C" fn tune() {
                $crate::allocator::tune();
            }
            tune
        };
    };
}

/// Applies [`SETTINGS`]: before the first allocation (a constructor in
/// main.rs on Linux), or first thing in `main`.
pub fn tune() {
    for (option, variable, value) in SETTINGS {
        if std::env::var_os(variable).is_none() {
            set(option, value);
        }
    }
}

#[allow(unsafe_code, reason = "mimalloc's C option setter")]
fn set(option: c_int, value: c_long) {
    // SAFETY: mi_option_set stores an integer in mimalloc's option table
    // (an index below _mi_option_last, checked by the test below); it has no
    // other precondition and is safe to call from any thread.
    unsafe { libmimalloc_sys::mi_option_set(option, value) }
}

#[cfg(test)]
mod tests {
    #[allow(unsafe_code, reason = "mimalloc's C option getter")]
    fn get(option: std::ffi::c_int) -> std::ffi::c_long {
        // SAFETY: reads an entry of mimalloc's option table by a valid index.
        unsafe { libmimalloc_sys::mi_option_get(option) }
    }

    /// The indices name the options we mean: mimalloc v3's defaults
    /// (arena eager commit 2 on Linux, purge delay 1,000 ms) are at them,
    /// and a setting takes.
    #[test]
    fn the_option_indices_are_mimallocs() {
        let [arena, purge] = super::SETTINGS.map(|(option, ..)| option);
        if std::env::vars().any(|(name, _)| name.starts_with("MIMALLOC_")) {
            return; // an operator's settings change the defaults
        }
        assert_eq!(get(arena), 2);
        assert_eq!(get(purge), 1000);
        super::set(purge, 0);
        assert_eq!(get(purge), 0);
        super::set(purge, 1000);
    }
}
