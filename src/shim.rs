//! One import point for everything loom must be able to replace.
//!
//! Every primitive takes its atomics, `UnsafeCell` and thread helpers from here, never from
//! `std` directly, so that building with `--cfg loom` swaps the whole crate onto loom's
//! model-checked versions. loom atomics are not `const`-constructible, so a constructor is a
//! `const fn` only under `cfg(not(loom))`: `const_fn!` writes both forms from one body.

#[cfg(not(loom))]
pub(crate) use std::sync::atomic::AtomicU32;

#[cfg(loom)]
pub(crate) use loom::sync::atomic::AtomicU32;

// The pool's protocol pieces (pool/sleep.rs, the one-shot cell in pool/handle.rs) are
// loom-checked, so they take these from here too.
#[cfg(not(loom))]
#[allow(unused_imports)]
pub(crate) use std::sync::{
    Arc,
    atomic::{AtomicBool, AtomicPtr, AtomicUsize, fence},
};

#[cfg(loom)]
#[allow(unused_imports)]
pub(crate) use loom::sync::{
    Arc,
    atomic::{AtomicBool, AtomicPtr, AtomicUsize, fence},
};

// `spin_loop` hints the CPU that we are spinning; under loom it is a yield, so that the model
// can make progress. `yield_now` gives up the rest of this thread's time slice.
#[cfg(not(loom))]
pub(crate) use std::{hint::spin_loop, thread::yield_now};

#[cfg(loom)]
pub(crate) use loom::thread::{yield_now, yield_now as spin_loop};

/// A back-off round of the spin schedule: on Linux a timed sleep of `spin::BACK_OFF`, with the
/// thread's timer slack (by default 50 µs, which the kernel may add to any sleep) lowered to
/// `spin::BACK_OFF_SLACK` for the sleep and restored after it, so that the sleep lasts about
/// what it asks for. Elsewhere a yield, as before the back-off existed: how long a short sleep
/// lasts there is not known (Windows rounds it up to its timer tick, about 1–16 ms), and a
/// back-off that long would stall a waiter. Under loom a yield (the schedules that back off
/// have no such rounds there).
#[cfg(all(not(loom), target_os = "linux"))]
pub(crate) fn back_off() {
    use crate::spin::{BACK_OFF, BACK_OFF_SLACK};
    // SAFETY: `prctl` with integer arguments only, reading the calling thread's timer slack
    // (no memory is passed; a failure returns -1, and then we leave it alone).
    let slack = unsafe { libc::prctl(libc::PR_GET_TIMERSLACK, 0, 0, 0, 0) };
    let lower = BACK_OFF_SLACK.as_nanos() as libc::c_ulong;
    if slack > 0 && slack as libc::c_ulong > lower {
        set_timer_slack(lower);
        // Runs no user code (a signal handler would only sleep more precisely) and panics
        // only if `nanosleep` fails with anything but EINTR, which a valid 15 µs request does
        // not; even then the slack left low is a matter of timer precision, not soundness.
        std::thread::sleep(BACK_OFF);
        set_timer_slack(slack as libc::c_ulong);
        return;
    }
    std::thread::sleep(BACK_OFF);
}

/// Sets the calling thread's timer slack to `nanoseconds` (`PR_SET_TIMERSLACK`).
#[cfg(all(not(loom), target_os = "linux"))]
fn set_timer_slack(nanoseconds: libc::c_ulong) {
    // SAFETY: `prctl` with integer arguments only: no memory is passed, and it changes
    // nothing but this thread's timer slack.
    unsafe { libc::prctl(libc::PR_SET_TIMERSLACK, nanoseconds, 0, 0, 0) };
}

#[cfg(all(not(loom), not(target_os = "linux")))]
pub(crate) use std::thread::yield_now as back_off;

#[cfg(loom)]
pub(crate) use loom::thread::yield_now as back_off;

/// `std`'s `UnsafeCell` with loom's `with`/`with_mut` API, so one code path serves both.
#[cfg(not(loom))]
#[derive(Debug, Default)]
pub(crate) struct UnsafeCell<T: ?Sized>(std::cell::UnsafeCell<T>);

#[cfg(not(loom))]
impl<T> UnsafeCell<T> {
    pub(crate) const fn new(value: T) -> Self {
        Self(std::cell::UnsafeCell::new(value))
    }

    #[allow(dead_code)] // half of loom's API; today every caller uses `with_mut`
    pub(crate) fn with<R>(&self, f: impl FnOnce(*const T) -> R) -> R {
        f(self.0.get())
    }

    pub(crate) fn with_mut<R>(&self, f: impl FnOnce(*mut T) -> R) -> R {
        f(self.0.get())
    }
}

#[cfg(loom)]
pub(crate) use loom::cell::UnsafeCell;

/// Defines a `const fn`, which under loom is a plain `fn` (loom's atomics cannot be built in a
/// `const fn`): one doc comment and one body for both forms.
macro_rules! const_fn {
    ($(#[$attr:meta])* $vis:vis const fn $($rest:tt)*) => {
        $(#[$attr])*
        #[cfg(not(loom))]
        $vis const fn $($rest)*

        $(#[$attr])*
        #[cfg(loom)]
        $vis fn $($rest)*
    };
}
pub(crate) use const_fn;
