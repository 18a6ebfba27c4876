//! The RwLock's protocol: one 32-bit state word plus a companion futex word for writers, the
//! state table, its transitions and the slow paths. The public guard-free API and its fast
//! paths are in `mod.rs`, the `lock_api` glue in `lock_api_impls.rs`.
//!
//! Readers (and threads waiting to take an upgradable read lock) sleep on `state`; writers and
//! an upgrading thread sleep on `writer_notify`, a sequence number bumped before each wake, so
//! that waking a writer never wakes the readers and the other way round. 8 bytes in all.
//!
//! | bits   | name            | meaning                                                          |
//! |--------|-----------------|------------------------------------------------------------------|
//! | 0..27  | count           | read locks held (the upgradable one included); `MASK` = write-locked |
//! | 27     | HANDOFF         | a write unlock handed the lock to the sleeping readers: one phantom read lock is counted, the first reader to come claims it |
//! | 28     | UPGRADABLE      | an upgradable read lock is held (also counted as a reader)       |
//! | 29     | UPGRADING       | its holder waits in `upgrade` for the other readers to drain     |
//! | 30     | READERS_WAITING | threads sleep (or are about to) on `state`                       |
//! | 31     | WRITERS_WAITING | writers sleep (or are about to) on `writer_notify`; stays set until a woken writer has the lock |
//!
//! Transitions (every CAS loops on failure with the value it read):
//!
//! | operation | condition | change | then |
//! |---|---|---|---|
//! | read (fresh) | count < MAX_READERS, no WRITERS_WAITING, no UPGRADING | count + 1 (Acquire) | |
//! | read (slow) | HANDOFF set | clear HANDOFF (Acquire): the phantom lock is ours | |
//! | read (slow, woken from a sleep) | 0 < count < MAX_READERS, no HANDOFF, no UPGRADING | count + 1 (Acquire): join the running read phase | |
//! | read (slow) | count = MAX_READERS | panic, nothing acquired | |
//! | read (slow) | otherwise | spin while READERS_WAITING is clear; then set it, `wait(state)` | |
//! | upgradable | as read, and no UPGRADABLE, no HANDOFF | count + 1, set UPGRADABLE | |
//! | write | count = 0 | count = MASK, plus WRITERS_WAITING if we ever registered (Acquire) | |
//! | write (slow) | count > 0 | spin while WRITERS_WAITING is clear (behind readers: busy-wait rounds only, no yields); set it; read `writer_notify`; re-check; `wait(writer_notify)` | |
//! | read unlock | | count - 1 (Release) | count 0 and WRITERS_WAITING: wake one writer, *keeping* the flag; if none was asleep (or the platform cannot tell), clear WRITERS_WAITING and READERS_WAITING while count is 0 and wake all readers. count 1 and UPGRADING: wake all of `writer_notify` |
//! | write unlock | readers wait (writers too, or not) | count = 1 + HANDOFF, clear READERS_WAITING, keep WRITERS_WAITING (Release) | wake all readers; if none woke, take the phantom lock back and read-unlock it |
//! | write unlock | only writers wait | count = 0, WRITERS_WAITING kept (Release) | wake one writer; if none was asleep, as the read unlock |
//! | upgradable unlock | | count - 1, clear UPGRADABLE and READERS_WAITING (Release) | wake all readers; count 0 and WRITERS_WAITING: as the read unlock |
//! | upgrade | count = 1 | count = MASK, clear UPGRADABLE, UPGRADING (Acquire) | |
//! | upgrade (slow) | count > 1 | spin; set UPGRADING; `wait(writer_notify)` | |
//! | downgrade (write → read / upgradable) | | count = 1 (+ UPGRADABLE), clear READERS_WAITING (Release) | wake all readers |
//! | upgradable → read | | clear UPGRADABLE and READERS_WAITING | wake all readers |
//! | writer times out | it had registered | clear WRITERS_WAITING; if not write-locked and no UPGRADING, clear READERS_WAITING | wake all writers (they re-register); wake all readers if cleared |
//! | upgrade times out | | clear UPGRADING and READERS_WAITING | wake all readers if it was set |
//!
//! **Policy (phase-fair):**
//! - *No writer starvation*: once a writer waits (WRITERS_WAITING) or an upgrade waits
//!   (UPGRADING), new readers wait behind it. Only readers that were *woken from their sleep*
//!   may still join a read phase that is running (count > 0), and each of them once.
//! - *No reader starvation*: a write unlock that finds readers waiting does not free the lock:
//!   it leaves it read-locked by a phantom reader (HANDOFF) and wakes the readers; the first of
//!   them claims the phantom lock, the others join it, and the next writer (the unlocking one
//!   too, if it locks again at once) waits for them all. Alternating or barging writers cannot
//!   lock readers out. If no thread was asleep on `state` after all, the unlocker takes the
//!   phantom lock back and releases it.
//! - *Upgradable read*: shares with readers, excludes writers and other upgradable readers.
//!   `upgrade` sets UPGRADING, which stops new readers (and woken ones), so it cannot be
//!   starved; it takes the write lock when the count drops to 1 (itself).
//! - `downgrade` (write -> read, write -> upgradable) and upgradable -> read are one atomic
//!   step that keeps every writer out, and wake the sleeping readers.
//! - More than `MAX_READERS` (2^27 - 2) read locks at once is a panic, never a wrap-around.
//! - Writers among themselves barge, as in std: a woken writer can lose the lock to a running
//!   one. There is no writer-to-writer hand-off (and `unlock_exclusive_fair` is the plain
//!   unlock), so per-thread fairness among many writers is weaker than the mutex's.
//!
//! **Who clears WRITERS_WAITING.** Only (a) a waker that found no writer asleep (the flag was
//! stale; a writer about to sleep finds `writer_notify` bumped and sets it again), while the
//! lock is free, and (b) a writer that times out, which then wakes *every* writer so the others
//! set it again. So a writer never sleeps on a wake that a timed-out writer swallowed, and a
//! reader never slips in between the wake of a writer and that writer's CAS: once a writer
//! waits, a writer is next (a waiting writer waits for at most one read phase).
//!
//! **Timeouts** (every timed path checks its deadline before spinning, so a passed deadline
//! returns at once): a timed-out reader leaves READERS_WAITING set (harmless: at worst a
//! spurious wake later); reader wakes are wake-alls and a woken reader claims a HANDOFF before
//! it looks at its deadline, so it never swallows a wake. A timed-out writer cannot know
//! whether other writers wait (they are not counted), so it clears WRITERS_WAITING, wakes *all*
//! writers (passing on any wake spent on it; the others set the flag again) and, if the lock is
//! not write-locked, wakes the readers that were blocked behind it. A woken writer that finds
//! the lock free takes it even if its deadline has passed. A timed-out upgrade clears UPGRADING
//! and wakes the readers held back by it; a woken upgrader that finds the count at 1 upgrades.
//!
//! **Orderings.** Every acquisition is an Acquire CAS and every release a Release RMW, so a
//! writer's critical section happens-before the next reader's or writer's, and readers' reads
//! happen-before the next writer's writes (the count changes only by RMWs, so each release
//! sequence reaches the writer that takes count 0). Flag-only changes are Relaxed: no data is
//! published through them, and whoever acts on a flag acquires with its own CAS.
//! `writer_notify` is bumped with Release *after* the state change it announces; a sleeper
//! loads it with Acquire *before* re-checking `state` and sleeps only on the value it loaded,
//! so a wake between its check and its sleep makes the `futex_wait` return at once.

use crate::futex;
use crate::shim::AtomicU32;
use crate::spin::SpinWait;
use crate::stats::Primitive;
use std::sync::atomic::Ordering::{Acquire, Relaxed, Release};
use std::time::Instant;

pub(super) const READER: u32 = 1;
pub(super) const MASK: u32 = (1 << 27) - 1;
pub(super) const WRITE_LOCKED: u32 = MASK;
pub(super) const MAX_READERS: u32 = MASK - 1;
pub(super) const HANDOFF: u32 = 1 << 27;
pub(super) const UPGRADABLE: u32 = 1 << 28;
pub(super) const UPGRADING: u32 = 1 << 29;
pub(super) const READERS_WAITING: u32 = 1 << 30;
pub(super) const WRITERS_WAITING: u32 = 1 << 31;

#[inline]
pub(super) fn count(state: u32) -> u32 {
    state & MASK
}

/// May a reader (`upgradable`: an upgradable reader) that has not slept enter in `state`?
#[inline]
pub(super) fn is_read_lockable(state: u32, upgradable: bool) -> bool {
    count(state) < MAX_READERS
        && state & (WRITERS_WAITING | UPGRADING) == 0
        && !(upgradable && state & (UPGRADABLE | HANDOFF) != 0)
}

/// May a reader that was woken from its sleep enter in `state`? Besides the fresh rule, it may
/// join a running read phase (count > 0) even if a writer waits, but not an upgrade's drain.
#[inline]
pub(super) fn is_read_lockable_after_wakeup(state: u32, upgradable: bool) -> bool {
    let count = count(state);
    count > 0
        && count < MAX_READERS
        && state & (HANDOFF | UPGRADING) == 0
        && !(upgradable && state & UPGRADABLE != 0)
}

#[cold]
#[inline(never)]
pub(super) fn too_many_readers() -> ! {
    panic!("atomsync::RwLock: too many read locks held at once (the reader count would overflow)")
}

/// The raw reader-writer lock behind [`RwLock`](super::RwLock): 8 bytes, `const`-constructible.
///
/// Most code wants [`RwLock<T>`](super::RwLock). `RawRwLock` implements `lock_api`'s `RawRwLock`,
/// `RawRwLockTimed`, `RawRwLockDowngrade`, `RawRwLockUpgrade`, `RawRwLockUpgradeTimed`,
/// `RawRwLockUpgradeDowngrade`, `RawRwLockFair` and `RawRwLockUpgradeFair`. Its guard-free
/// inherent methods have the traits' names (`lock_shared`/`unlock_shared`, `upgrade`,
/// `downgrade`, ...; the timed ones take an `Option<Instant>`): a method call on a `RawRwLock`
/// picks the inherent one, generic code the trait's. The loom models drive the inherent ones.
///
/// ```
/// use atomsync::RawRwLock;
///
/// let raw = RawRwLock::new();
/// raw.lock_shared();
/// assert!(raw.try_lock_shared());
/// assert!(!raw.try_lock_exclusive());
/// // SAFETY: two read locks are held.
/// unsafe {
///     raw.unlock_shared();
///     raw.unlock_shared();
/// }
/// assert!(raw.try_lock_exclusive());
/// # unsafe { raw.unlock_exclusive() };
/// ```
#[derive(Debug)]
pub struct RawRwLock {
    pub(super) state: AtomicU32,
    /// Bumped (Release) before every wake of `writer_notify`; writers and the upgrader sleep
    /// on it with the value they read before re-checking `state`.
    pub(super) writer_notify: AtomicU32,
}

impl RawRwLock {
    // ------------------------------------------------------------------ the slow paths

    /// The transition behind `unlock_upgradable` (see there).
    pub(super) fn unlock_upgradable_slow(&self) {
        let mut state = self.state.load(Relaxed);
        loop {
            debug_assert!(
                state & UPGRADABLE != 0 && count(state) >= 1,
                "release of an unheld upgradable lock"
            );
            let mut new = (state - READER) & !UPGRADABLE;
            let wake_readers = new & READERS_WAITING != 0;
            new &= !READERS_WAITING;
            // WRITERS_WAITING stays set until a writer has the lock (`wake_waiting_writer`).
            let wake_writer = count(new) == 0 && new & WRITERS_WAITING != 0;
            // Release: as in `unlock_shared`.
            match self.state.compare_exchange_weak(state, new, Release, Relaxed) {
                Ok(_) => {
                    if wake_readers {
                        futex::wake_all(&self.state, Primitive::RwLock);
                    }
                    if wake_writer {
                        self.wake_waiting_writer();
                    }
                    return;
                }
                Err(actual) => state = actual,
            }
        }
    }

    /// The transition behind `try_upgrade` (see there).
    pub(super) fn try_upgrade_now(&self) -> bool {
        let mut state = self.state.load(Relaxed);
        while count(state) == 1 {
            debug_assert!(state & UPGRADABLE != 0, "upgrade without an upgradable lock");
            let new = (state & !(MASK | UPGRADABLE | UPGRADING)) | WRITE_LOCKED;
            // Acquire: pairs with the Release of the read unlocks that drained the count, so
            // their reads happen-before our writes.
            match self.state.compare_exchange_weak(state, new, Acquire, Relaxed) {
                Ok(_) => {
                    stat!(RwLock, Fast);
                    return true;
                }
                Err(actual) => state = actual,
            }
        }
        false
    }

    /// The transition behind `downgrade_upgradable` (see there).
    pub(super) fn downgrade_upgradable_slow(&self) {
        // We keep holding a read lock, so there is nothing to publish (Relaxed is enough).
        self.clear_flags_waking_readers(UPGRADABLE | READERS_WAITING, |state| {
            debug_assert!(state & UPGRADABLE != 0, "downgrade without an upgradable lock");
            true
        });
    }

    /// The writers' (and the upgrader's) sleep on `writer_notify`, if `blocked(state)` still
    /// holds once the sequence is read. Returns the state to go on with and whether it slept.
    fn sleep_on_writer_notify(
        &self,
        deadline: Option<Instant>,
        blocked: impl Fn(u32) -> bool,
    ) -> (u32, bool) {
        // Read the sequence *before* re-checking the state: a wake that comes after our check
        // bumped it first, so the futex wait returns at once. Acquire: pairs with the Release
        // bump in `wake_writer`, so if we see the new value we also see the state change made
        // before it.
        let seq = self.writer_notify.load(Acquire);
        let state = self.state.load(Relaxed);
        if !blocked(state) {
            return (state, false);
        }
        futex::wait(&self.writer_notify, seq, deadline, Primitive::RwLock);
        (self.state.load(Relaxed), true)
    }

    /// Sets `flag` in `state` unless it is set; `Err` carries the state to retry with. Relaxed:
    /// only the flag changes, and whoever acts on it reads it with a read-modify-write of the
    /// word (an unlock's, a reader's CAS), so it sees it in the word's modification order.
    fn set_flag(&self, state: u32, flag: u32) -> Result<(), u32> {
        if state & flag != 0 {
            return Ok(());
        }
        self.state.compare_exchange_weak(state, state | flag, Relaxed, Relaxed).map(drop)
    }

    /// The step before a reader or the upgrader sleeps: while `flag` (its waiting flag) is
    /// clear, a round of `spin` if it has one left; else `set_flag`. `Err` carries the state to
    /// look at again: re-read after the spin, or the one that failed the CAS.
    fn spin_or_set_flag(&self, state: u32, flag: u32, spin: &mut SpinWait) -> Result<(), u32> {
        if state & flag == 0 && spin.spin() {
            return Err(self.state.load(Relaxed));
        }
        self.set_flag(state, flag)
    }

    /// Clears `flags` in one CAS, retried while `proceed(state)` holds, and wakes the threads
    /// asleep on `state` if that cleared READERS_WAITING. Relaxed: only flags change; woken
    /// threads acquire with their own Acquire CAS.
    fn clear_flags_waking_readers(&self, flags: u32, proceed: impl Fn(u32) -> bool) {
        let mut state = self.state.load(Relaxed);
        while proceed(state) {
            match self.state.compare_exchange_weak(state, state & !flags, Relaxed, Relaxed) {
                Ok(_) => {
                    if state & flags & READERS_WAITING != 0 {
                        futex::wake_all(&self.state, Primitive::RwLock);
                    }
                    return;
                }
                Err(actual) => state = actual,
            }
        }
    }

    /// The non-blocking read (or upgradable read) acquisition shared by the fast paths.
    #[inline]
    pub(super) fn try_read(&self, upgradable: bool) -> bool {
        let add = if upgradable { READER | UPGRADABLE } else { READER };
        let mut state = self.state.load(Relaxed);
        loop {
            if !is_read_lockable(state, upgradable) {
                if count(state) == MAX_READERS {
                    too_many_readers();
                }
                return false;
            }
            // Acquire: as in `lock_shared`.
            match self.state.compare_exchange_weak(state, state + add, Acquire, Relaxed) {
                Ok(_) => {
                    stat!(RwLock, Fast);
                    return true;
                }
                Err(actual) => state = actual,
            }
        }
    }

    /// Waits for a read (or upgradable read) lock until `deadline`; false if it passed.
    #[cold]
    pub(super) fn read_contended(&self, deadline: Option<Instant>, upgradable: bool) -> bool {
        stat!(RwLock, Contended);
        let add = if upgradable { READER | UPGRADABLE } else { READER };
        let mut spin = SpinWait::new(Primitive::RwLock);
        // A futex wake ended one of our sleeps: we may join a running read phase.
        let mut woken = false;
        let mut state = self.state.load(Relaxed);
        loop {
            // 1. A write unlock handed the lock to the readers: the phantom read lock is ours.
            //    (Checked first: a thread woken by the hand-off must claim it, or nobody might.)
            if state & HANDOFF != 0 {
                let new = (state & !HANDOFF) | (add & UPGRADABLE);
                // Acquire: pairs with the Release CAS of the write unlock that set HANDOFF.
                match self.state.compare_exchange_weak(state, new, Acquire, Relaxed) {
                    Ok(_) => {
                        stat!(RwLock, HandOff);
                        return true;
                    }
                    Err(actual) => state = actual,
                }
                continue;
            }

            // 2. We may enter: take a read lock.
            if is_read_lockable(state, upgradable)
                || (woken && is_read_lockable_after_wakeup(state, upgradable))
            {
                // Acquire: as in `lock_shared`.
                match self.state.compare_exchange_weak(state, state + add, Acquire, Relaxed) {
                    Ok(_) => return true,
                    Err(actual) => state = actual,
                }
                continue;
            }
            if count(state) == MAX_READERS {
                too_many_readers();
            }

            // 3. Out of time (checked before spinning: a passed deadline returns at once).
            //    READERS_WAITING may stay set: at worst a spurious wake later. Reader wakes
            //    are wake-alls, and a HANDOFF was claimed in step 1 first: a timed-out reader
            //    never swallows a wake that another thread needed.
            if futex::deadline_passed(deadline) {
                stat!(RwLock, Timeout);
                return false;
            }

            // 4. Spin a little while nobody sleeps: a writer's critical section is short.
            // 5. Say that we sleep, then sleep until the word changes.
            if let Err(actual) = self.spin_or_set_flag(state, READERS_WAITING, &mut spin) {
                state = actual;
                continue;
            }
            woken |= futex::wait(&self.state, state | READERS_WAITING, deadline, Primitive::RwLock)
                == futex::Wait::Woken;
            spin.reset();
            state = self.state.load(Relaxed);
        }
    }

    /// The slow path of `unlock_shared`: a writer or the upgrader may need waking.
    #[cold]
    pub(super) fn unlock_shared_slow(&self, state: u32) {
        if count(state) == 1 && state & UPGRADING != 0 {
            // Only the upgrader holds on: wake it (it shares writer_notify with the writers,
            // so wake them all; the writers find the lock still held and sleep again).
            self.wake_all_writers();
            return;
        }
        if count(state) == 0 && state & WRITERS_WAITING != 0 {
            self.wake_waiting_writer();
        }
    }

    /// The lock became free with WRITERS_WAITING set: wake one writer, *leaving the flag set*
    /// so that no reader can slip in before that writer takes the lock (it would cost the
    /// writer a whole read phase). If no writer was asleep, the flag may be stale (the last
    /// writer that set it has the lock already, or gave up): clear it while the lock is still
    /// free and let in the readers that stopped behind it. A writer that was about to sleep
    /// finds `writer_notify` bumped, does not sleep, and sets the flag again.
    pub(super) fn wake_waiting_writer(&self) {
        // Where `wake_one` cannot tell whether it woke anyone, never trust it: clear the flag.
        if self.wake_writer() && futex::WAKES_ARE_COUNTED {
            return;
        }
        // If it was taken meanwhile (by a writer, which keeps the flag), its unlock takes over.
        self.clear_flags_waking_readers(WRITERS_WAITING | READERS_WAITING, |state| {
            count(state) == 0 && state & WRITERS_WAITING != 0
        });
    }

    /// Waits for the write lock until `deadline`; false if it passed.
    #[cold]
    pub(super) fn write_contended(&self, deadline: Option<Instant>) -> bool {
        stat!(RwLock, Contended);
        let mut spin = SpinWait::new(Primitive::RwLock);
        // Once we have set WRITERS_WAITING (or seen it set), other writers may sleep: we set
        // it again when we take the lock, since the unlock that woke us cleared it.
        let mut other_writers_waiting = 0;
        let mut state = self.state.load(Relaxed);
        loop {
            // 1. Nobody holds the lock: take it.
            if count(state) == 0 {
                let new = state | WRITE_LOCKED | other_writers_waiting;
                // Acquire: as in `lock_exclusive`.
                match self.state.compare_exchange_weak(state, new, Acquire, Relaxed) {
                    Ok(_) => return true,
                    Err(actual) => state = actual,
                }
                continue;
            }

            // 2. Out of time (checked before spinning: a passed deadline returns at once).
            //    Undo our WRITERS_WAITING (see `writer_timed_out`).
            if futex::deadline_passed(deadline) {
                stat!(RwLock, Timeout);
                if other_writers_waiting != 0 {
                    self.writer_timed_out();
                }
                return false;
            }

            // 3. Spin a little while no writer sleeps. Behind readers, only the busy-waiting
            //    rounds: until WRITERS_WAITING is set new readers keep entering, so every
            //    yield (a whole time slice on a loaded machine) would lengthen our wait.
            if state & WRITERS_WAITING == 0 {
                let spun = if count(state) == WRITE_LOCKED {
                    spin.spin()
                } else {
                    spin.spin_without_yield()
                };
                if spun {
                    state = self.state.load(Relaxed);
                    continue;
                }
            }

            // 4. Say that a writer waits: new readers stop here.
            if let Err(actual) = self.set_flag(state, WRITERS_WAITING) {
                state = actual;
                continue;
            }
            other_writers_waiting = WRITERS_WAITING;

            // 5. Sleep on writer_notify while the lock is held and the flag still set.
            let slept;
            (state, slept) = self.sleep_on_writer_notify(deadline, |state| {
                count(state) != 0 && state & WRITERS_WAITING != 0
            });
            if slept {
                spin.reset();
            }
        }
    }

    /// A writer that registered in WRITERS_WAITING gives up. Writers are not counted, so we
    /// cannot tell whether we were the only one: clear the flag and wake every writer (the
    /// others set it again), and if the lock is not write-locked and no upgrade drains it,
    /// let in the readers that stopped behind the flag.
    #[cold]
    pub(super) fn writer_timed_out(&self) {
        let mut state = self.state.load(Relaxed);
        let wake_readers = loop {
            if state & WRITERS_WAITING == 0 {
                // Only two things clear the flag: a waker that found no writer asleep (then
                // none sleeps that did not set it again since), or another timed-out writer,
                // which woke them all. Either way no writer sleeps on a wake spent on us.
                return;
            }
            let mut new = state & !WRITERS_WAITING;
            let wake_readers = state & READERS_WAITING != 0
                && count(state) != WRITE_LOCKED
                && state & UPGRADING == 0;
            if wake_readers {
                new &= !READERS_WAITING;
            }
            // Relaxed: only flags change; woken threads acquire with their own Acquire CAS.
            match self.state.compare_exchange_weak(state, new, Relaxed, Relaxed) {
                Ok(_) => break wake_readers,
                Err(actual) => state = actual,
            }
        };
        // The seeded bug for the loom CI check of a timeout path: forget to pass the wake on.
        #[cfg(not(atomsync_seeded_bug))]
        self.wake_all_writers();
        if wake_readers {
            futex::wake_all(&self.state, Primitive::RwLock);
        }
    }

    /// The slow path of `unlock_exclusive`: somebody waits.
    #[cold]
    pub(super) fn unlock_exclusive_slow(&self) {
        let mut state = self.state.load(Relaxed);
        loop {
            debug_assert!(count(state) == WRITE_LOCKED, "release of an unheld write lock");
            // Only READERS_WAITING and WRITERS_WAITING can be set besides the lock.
            let unlocked = state & !MASK;
            let readers = state & READERS_WAITING != 0;
            let writers = state & WRITERS_WAITING != 0;
            let new = if readers {
                // Phase-fair hand-over: one phantom read lock, claimed by a woken reader, so a
                // writer on the CPU (this one, locking again at once) cannot barge ahead of
                // the readers that waited through our critical section.
                (unlocked & !READERS_WAITING) | READER | HANDOFF
            } else {
                // Writers only: WRITERS_WAITING stays set until the woken writer has the lock
                // (see `wake_waiting_writer`).
                unlocked
            };
            // Release: publishes our critical section to the next owner's Acquire.
            match self.state.compare_exchange_weak(state, new, Release, Relaxed) {
                Ok(_) if readers => return self.hand_over_to_readers(),
                Ok(_) if writers => {
                    self.wake_waiting_writer();
                    return;
                }
                // A timed-out writer cleared WRITERS_WAITING meanwhile: nobody to wake.
                Ok(_) => return,
                Err(actual) => state = actual,
            }
        }
    }

    /// After setting HANDOFF: wake the readers. A thread woken from `state` claims the
    /// phantom read lock first thing (the others join it); if no thread slept there, take
    /// the phantom back.
    pub(super) fn hand_over_to_readers(&self) {
        if self.wake_readers_for_hand_over() {
            return;
        }
        let mut state = self.state.load(Relaxed);
        while state & HANDOFF != 0 {
            // Relaxed: the phantom read lock becomes ours; `unlock_shared` publishes with
            // Release (we did not write since the write unlock's Release anyway).
            match self.state.compare_exchange_weak(state, state & !HANDOFF, Relaxed, Relaxed) {
                // SAFETY: the phantom read lock we just claimed.
                Ok(_) => return unsafe { self.unlock_shared() },
                Err(actual) => state = actual,
            }
        }
        // Claimed by a reader meanwhile: it releases it as its own.
    }

    /// Wakes every thread asleep on `state`; true only if the platform says one was woken.
    pub(super) fn wake_readers_for_hand_over(&self) -> bool {
        // The seeded bug for the loom CI check: forget to wake the readers (and believe that
        // one woke, so the phantom read lock is left to nobody).
        if cfg!(atomsync_seeded_bug) {
            return true;
        }
        // Where the platform cannot tell, release the phantom ourselves (readers then race).
        futex::wake_all(&self.state, Primitive::RwLock) && futex::WAKES_ARE_COUNTED
    }

    /// Write lock -> `held` (a read lock, or an upgradable one), waking the readers.
    pub(super) fn downgrade_exclusive(&self, held: u32) {
        let mut state = self.state.load(Relaxed);
        loop {
            debug_assert!(count(state) == WRITE_LOCKED, "downgrade of an unheld write lock");
            let new = ((state & !MASK) | held) & !READERS_WAITING;
            // Release: publishes our writes to the readers that enter after this.
            match self.state.compare_exchange_weak(state, new, Release, Relaxed) {
                Ok(_) => {
                    if state & READERS_WAITING != 0 {
                        futex::wake_all(&self.state, Primitive::RwLock);
                    }
                    return;
                }
                Err(actual) => state = actual,
            }
        }
    }

    /// Waits, as the upgradable holder, for the count to drop to 1 until `deadline`.
    #[cold]
    pub(super) fn upgrade_contended(&self, deadline: Option<Instant>) -> bool {
        stat!(RwLock, Contended);
        let mut spin = SpinWait::new(Primitive::RwLock);
        let mut state = self.state.load(Relaxed);
        loop {
            if count(state) == 1 {
                let new = (state & !(MASK | UPGRADABLE | UPGRADING)) | WRITE_LOCKED;
                // Acquire: as in `try_upgrade`.
                match self.state.compare_exchange_weak(state, new, Acquire, Relaxed) {
                    Ok(_) => return true,
                    Err(actual) => state = actual,
                }
                continue;
            }
            // Out of time (before spinning: a passed deadline returns at once).
            if futex::deadline_passed(deadline) {
                self.upgrade_timed_out();
                return false;
            }
            if let Err(actual) = self.spin_or_set_flag(state, UPGRADING, &mut spin) {
                state = actual;
                continue;
            }
            let slept;
            (state, slept) = self.sleep_on_writer_notify(deadline, |state| count(state) != 1);
            if slept {
                spin.reset();
            }
        }
    }

    /// A timed upgrade gives up: clear UPGRADING and let in the readers it held back.
    #[cold]
    pub(super) fn upgrade_timed_out(&self) {
        stat!(RwLock, Timeout);
        self.clear_flags_waking_readers(UPGRADING | READERS_WAITING, |state| {
            state & UPGRADING != 0
        });
    }

    /// Wakes one writer; false only if the platform says no writer was asleep (on Linux and
    /// under loom; elsewhere `wake_one` cannot tell and this is always true).
    pub(super) fn wake_writer(&self) -> bool {
        // Release: pairs with the Acquire load in `write_contended`: a writer that reads the
        // new value sees the state change made before this bump.
        self.writer_notify.fetch_add(1, Release);
        futex::wake_one(&self.writer_notify, Primitive::RwLock)
    }

    /// Wakes every writer and the upgrader.
    pub(super) fn wake_all_writers(&self) {
        // Release: as in `wake_writer`.
        self.writer_notify.fetch_add(1, Release);
        futex::wake_all(&self.writer_notify, Primitive::RwLock);
    }
}

#[cfg(all(test, not(loom)))]
mod tests;
