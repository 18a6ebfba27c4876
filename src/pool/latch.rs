//! [`Latch`]: a one-time event that one thread waits for, either asleep on the latch's own
//! futex word (a thread outside the pool) or, for a worker of the pool, asleep in the pool's
//! idle protocol (`sleep.rs`), so that a job pushed meanwhile wakes it as well as the latch.
//!
//! | state           | meaning                                                          |
//! |-----------------|------------------------------------------------------------------|
//! | `UNSET`         | not set, nobody sleeps                                           |
//! | `SLEEPING`      | not set; the waiter sleeps (or is about to) on this latch's word |
//! | `POOL_SLEEPING` | not set; the waiter (a worker) sleeps (or may) in the pool's `Sleep` |
//! | `WAKING`        | set; the setter is still waking the waiter                       |
//! | `SET`           | set; the setter no longer touches the latch                      |
//!
//! ```text
//! set:   CAS UNSET -> SET; else (a waiter announced itself) store WAKING,
//!        wake (SLEEPING: futex wake_all on the latch; POOL_SLEEPING: Sleep::notify_all),
//!        store SET (Release)
//! wait (a thread outside the pool): UNSET -> SLEEPING, futex wait while SLEEPING, until SET
//! worker: announce_pool_sleeper (UNSET -> POOL_SLEEPING), Sleep::prepare_to_sleep,
//!         re-check: still POOL_SLEEPING and no job anywhere -> Sleep::sleep(ticket)
//! ```
//!
//! The waiter returns only on `SET`, and the setter touches neither the latch nor the `Sleep`
//! after storing `SET`, so a latch on the waiter's stack is never freed under the setter, and
//! the `Sleep` is alive while the setter uses it (the waiting worker holds its pool).
//!
//! Why a worker asleep in the pool protocol is not missed: its announcement (`POOL_SLEEPING`)
//! precedes its ticket read, and the setter's `WAKING` store precedes its `notify_all` bump. If
//! the worker's ticket read sees the bump (Acquire on the SeqCst RMW), its re-check sees
//! `WAKING` or `SET` and it does not sleep; if its ticket predates the bump, it either sees
//! the bump when it commits to sleeping, or `notify_all` sees it committed and its `wake_all`
//! ends the futex wait (`sleep.rs`). A push while the worker decides is
//! the `sleep.rs` protocol itself. Waking every idle worker for one latch is a thundering herd,
//! but only when the waiter really went to sleep; a targeted wake would need a futex word per
//! worker.
//!
//! **Orderings.** `set`'s CAS and its final store are Release, paired with the Acquire loads of
//! `is_set`/`wait`: the job's result written before `set` is visible to the waiter that saw
//! `SET`. `WAKING` and the announcements are Relaxed stores/CASes: `WAKING` is not `SET`, so no
//! waiter acts on it except to look again, and an announcement is published to the setter by
//! the CAS order on the one word (the setter's CAS fails on it). The argument for the pool case
//! above rests on `notify_all`'s SeqCst bump and `prepare_to_sleep`'s Acquire ticket load.
//!
//! With `--cfg atomsync_seeded_bug` a setter that finds `POOL_SLEEPING` does not notify the
//! pool: the loom model `latch_set_wakes_worker_asleep_in_pool` must report a deadlock.

use super::sleep::Sleep;
use crate::futex;
use crate::shim::AtomicU32;
use crate::stats::Primitive;
use std::sync::atomic::Ordering::{Acquire, Relaxed, Release};

const UNSET: u32 = 0;
const SLEEPING: u32 = 1;
const POOL_SLEEPING: u32 = 2;
const WAKING: u32 = 3;
const SET: u32 = 4;

/// A one-time event a thread can poll or sleep on (see the module docs).
#[derive(Debug)]
pub struct Latch {
    state: AtomicU32,
    /// The pool whose idle protocol a waiting worker may sleep in; null: the waiter is never a
    /// worker (it then uses [`wait`](Self::wait) only).
    sleep: *const Sleep,
}

// SAFETY: `sleep` points to a `Sleep` (which is `Sync`) that, by the contract of `for_pool`,
// outlives every use of it; the rest is atomics.
unsafe impl Send for Latch {}
// SAFETY: as above.
unsafe impl Sync for Latch {}

/// What [`Latch::announce_pool_sleeper`] found.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Announce {
    /// The worker is announced (now or before): the setter will notify the pool.
    Announced,
    /// The latch is being set: look again in a moment.
    Setting,
    /// The latch is set.
    Set,
}

impl Latch {
    /// A latch only threads outside the pool wait on (with [`wait`](Self::wait)).
    pub fn new() -> Self {
        Self { state: AtomicU32::new(UNSET), sleep: std::ptr::null() }
    }

    /// A latch a worker of the pool that owns `sleep` may wait on while it stays in the pool.
    ///
    /// # Safety
    /// `sleep` must stay alive for as long as a waiter may wait on this latch (the waiter holds
    /// the pool: a `Sleep` inside the pool's shared state qualifies).
    pub unsafe fn for_pool(sleep: &Sleep) -> Self {
        Self { state: AtomicU32::new(UNSET), sleep }
    }

    /// Whether a worker may sleep in the pool while waiting on this latch.
    pub fn has_pool(&self) -> bool {
        !self.sleep.is_null()
    }

    /// Whether the latch is set; if true, everything before `set` is visible.
    #[inline]
    pub fn is_set(&self) -> bool {
        self.state.load(Acquire) == SET
    }

    /// Sets the latch and wakes the waiter. The latch may be freed as soon as this returns
    /// (and not before). Setting a set latch again does nothing.
    pub fn set(&self) {
        match self.state.compare_exchange(UNSET, SET, Release, Relaxed) {
            Ok(_) => {}
            Err(SLEEPING) => self.set_and_wake(false),
            Err(POOL_SLEEPING) => self.set_and_wake(true),
            Err(_already_set) => {}
        }
    }

    #[cold]
    fn set_and_wake(&self, in_pool: bool) {
        // Only the waiter moves the state out of UNSET, and only the setter out of the
        // sleeping states: no other transition races with ours.
        self.state.store(WAKING, Relaxed);
        if in_pool {
            // SAFETY: POOL_SLEEPING is announced only on latches made by `for_pool`, whose
            // `Sleep` outlives the waiter, and the waiter is still waiting (no SET yet).
            let sleep = unsafe { &*self.sleep };
            #[cfg(not(atomsync_seeded_bug))]
            sleep.notify_all();
            #[cfg(atomsync_seeded_bug)]
            let _ = sleep;
        } else {
            futex::wake_all(&self.state, Primitive::ThreadPool);
        }
        // After this store the waiter may free the latch.
        self.state.store(SET, Release);
    }

    /// Blocks until the latch is set (a thread outside the pool).
    pub fn wait(&self) {
        loop {
            match self.state.load(Acquire) {
                SET => return,
                UNSET => {
                    let _ = self.state.compare_exchange(UNSET, SLEEPING, Relaxed, Relaxed);
                }
                SLEEPING => {
                    futex::wait(&self.state, SLEEPING, None, Primitive::ThreadPool);
                }
                _waking => crate::shim::yield_now(),
            }
        }
    }

    /// A worker is about to sleep in the pool's idle protocol while it waits: asks the setter
    /// to notify the pool. Then call `Sleep::prepare_to_sleep`, and sleep only if
    /// [`still_announced`](Self::still_announced) (and no job was found).
    pub fn announce_pool_sleeper(&self) -> Announce {
        debug_assert!(self.has_pool(), "announce_pool_sleeper on a latch without a pool");
        match self.state.compare_exchange(UNSET, POOL_SLEEPING, Relaxed, Relaxed) {
            Ok(_) | Err(POOL_SLEEPING) => Announce::Announced,
            Err(SET) => Announce::Set,
            Err(_waking) => Announce::Setting,
        }
    }

    /// The re-check after `prepare_to_sleep`: true while the latch is still unset.
    pub fn still_announced(&self) -> bool {
        // Relaxed: ordered after the ticket's Acquire load by the fence in
        // `prepare_to_sleep`; a SET seen here is re-read with Acquire by `is_set`.
        self.state.load(Relaxed) == POOL_SLEEPING
    }
}

impl Default for Latch {
    fn default() -> Self {
        Self::new()
    }
}
