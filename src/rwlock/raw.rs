//! The RwLock's protocol: one 32-bit state word plus a companion futex word for writers, the
//! state table, its transitions and the slow paths. The public guard-free API and its fast
//! paths are in `mod.rs`, the `lock_api` glue in `lock_api_impls.rs`.
//!
//! Readers (and threads waiting to take an upgradable read lock) sleep on `state`; writers and
//! an upgrading thread sleep on `writer_notify`, a sequence number bumped before each wake, so
//! that waking a writer never wakes the readers and the other way round; its bit 0 says that
//! a writer may be asleep there, so that a wake with none makes no system call (`raw/wake.rs`).
//! 8 bytes in all.
//!
//! | bits   | name            | meaning                                                          |
//! |--------|-----------------|------------------------------------------------------------------|
//! | 0..25  | readers         | read locks held (the upgradable one included), plus the tentative adds of readers on their way in or out (see below); at most `MAX_READERS` = 2^24 held, bit 24 is the headroom |
//! | 25     | WRITE_LOCKED    | a writer holds the lock (`count` = bits 0..26 is 0 only when nobody holds or enters it) |
//! | 26     | WRITER_WOKEN    | a writer was woken for the free lock and no writer has taken it since (nor timed out); implies WRITERS_WAITING; excludes WRITE_LOCKED and every held read lock |
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
//! | read (fast) | | `fetch_add` READER (Acquire); the lock is ours if the state before the add was as for a fresh read | else take the add back: `fetch_sub` READER (Release), then as a read unlock; then the slow path |
//! | read (fresh) | readers < MAX_READERS, not write-locked, no WRITERS_WAITING, no UPGRADING | count + 1 (Acquire) | |
//! | read (slow) | HANDOFF set | clear HANDOFF (Acquire): the phantom lock is ours | |
//! | read (slow, woken from a sleep) | 0 < readers < MAX_READERS, not write-locked, no WRITER_WOKEN, no HANDOFF, no UPGRADING | count + 1 (Acquire): join the running read phase | |
//! | read (slow) | readers ≥ MAX_READERS | panic, nothing acquired | |
//! | read (slow) | otherwise | spin while READERS_WAITING is clear; then set it, `wait(state)` | |
//! | upgradable | as read, and no UPGRADABLE, no HANDOFF | count + 1, set UPGRADABLE | |
//! | write | count = 0 | set WRITE_LOCKED, clear WRITER_WOKEN, plus WRITERS_WAITING if we ever registered (Acquire) | |
//! | write (slow) | count > 0 | spin while WRITERS_WAITING is clear (behind a writer: busy-wait rounds, yields, then back-off sleeps registered nowhere; behind readers: busy-wait rounds only); set it; spin and yield while WRITER_WOKEN is set; read `writer_notify`; re-check; `wait(writer_notify)` | |
//! | read unlock | | count - 1 (Release) | count 0, WRITERS_WAITING, no WRITER_WOKEN: set WRITER_WOKEN (CAS, while so), wake one writer, *keeping* WRITERS_WAITING; if none was asleep (or the platform cannot tell), clear WRITER_WOKEN, and WRITERS_WAITING and READERS_WAITING if count is 0, and wake all readers if cleared. count 1 and UPGRADING: wake all of `writer_notify` |
//! | write unlock | readers wait (writers too, or not) | clear WRITE_LOCKED and READERS_WAITING, readers + 1, set HANDOFF, keep WRITERS_WAITING (Release) | wake all readers; if none woke, take the phantom lock back and read-unlock it |
//! | write unlock | only writers wait (or tentative adds are in) | clear WRITE_LOCKED, WRITERS_WAITING kept (Release) | wake one writer; if none was asleep, as the read unlock |
//! | upgradable unlock | | count - 1, clear UPGRADABLE and READERS_WAITING (Release) | wake all readers; count 0 and WRITERS_WAITING: as the read unlock |
//! | upgrade | count = 1 | readers = 0, set WRITE_LOCKED, clear UPGRADABLE, UPGRADING (Acquire) | |
//! | upgrade (slow) | count > 1 | spin; set UPGRADING; `wait(writer_notify)` | |
//! | downgrade (write → read / upgradable) | | clear WRITE_LOCKED, readers + 1 (+ UPGRADABLE), clear READERS_WAITING (Release) | wake all readers |
//! | upgradable → read | | clear UPGRADABLE and READERS_WAITING | wake all readers |
//! | writer times out | it had registered | clear WRITERS_WAITING and WRITER_WOKEN; if not write-locked and no UPGRADING, clear READERS_WAITING | wake all writers (they re-register); wake all readers if cleared |
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
//! - More than `MAX_READERS` (2^24) read locks at once is a panic, never a wrap-around. The
//!   limit is checked against the readers field, tentative adds included, so the panic can come
//!   up to one read lock per thread entering at that instant early.
//! - Writers among themselves barge, as in std: a woken writer can lose the lock to a running
//!   one. There is no writer-to-writer hand-off (and `unlock_exclusive_fair` is the plain
//!   unlock), so per-thread fairness among many writers is weaker than the mutex's.
//!
//! **Tentative adds.** `lock_shared` is one `fetch_add` of READER (which, unlike a CAS, cannot
//! lose to another reader's lock or unlock). If the state before it did not let a fresh reader
//! in, the add is not a read lock: the reader takes it back at once with a `fetch_sub` that
//! is, for everyone else, a read unlock (it wakes the writer at count 0, the upgrader at 1).
//! Meanwhile the lock only looks read-held: a writer or upgrader waits for the take-back,
//! `try_lock_exclusive`/`try_upgrade` can fail for that instant, and a write unlock or
//! downgrade keeps the add (they clear WRITE_LOCKED and only *add* their read lock). One add
//! in flight per thread: MAX_READERS plus 2^22 threads (Linux's limit) stay below 2^25.
//!
//! **WRITER_WOKEN.** Every reader arriving behind a waiting writer adds and takes back, so a
//! take-back can bring the count to 0 after the last reader out woke the writer, before that
//! writer runs (cores busy). Finding no writer asleep, it would take WRITERS_WAITING for stale
//! and let a new read phase in ahead of the writer, again and again. So the waker sets
//! WRITER_WOKEN before its wake, and while it is set no reader enters (fresh or woken: the
//! count is tentative adds only), a release to count 0 does nothing, and writers that find the
//! count above 0 wait for the take-backs awake (spin, yield) instead of sleeping, so nobody
//! else wakes a writer and a wake that finds nobody asleep still means a stale flag. Cleared
//! by a writer's locking CAS (any writer's: its unlock wakes anew), by a timed-out writer with
//! WRITERS_WAITING (it wakes every writer), and by a waker whose wake found nobody asleep.
//!
//! **Who clears WRITERS_WAITING.** Only (a) a waker that found no writer asleep (the flag was
//! stale; a writer about to sleep finds `writer_notify` bumped and sets it again), while the
//! lock is free, and (b) a writer that times out, which then wakes *every* writer so the others
//! set it again. So a writer never sleeps on a wake that a timed-out writer swallowed, and no
//! reader slips in between the wake of a writer and that writer's CAS (WRITER_WOKEN): once a
//! writer waits, a writer is next (a waiting writer waits for at most one read phase).
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
//! **Orderings.** Every acquisition is an Acquire RMW (a CAS, or the read fast path's
//! `fetch_add`) and every release a Release RMW (a tentative add's take-back too, though it
//! publishes nothing: any RMW would carry the release sequence on), so a
//! writer's critical section happens-before the next reader's or writer's, and readers' reads
//! happen-before the next writer's writes (the count changes only by RMWs, so each release
//! sequence reaches the writer that takes count 0). Flag-only changes are Relaxed (WRITER_WOKEN
//! set or taken back too): no data is published through them, and whoever acts on a flag
//! acquires with its own CAS.
//! `writer_notify` is bumped with Release *after* the state change it announces; a sleeper
//! loads it with Acquire *before* re-checking `state` and sleeps only on the value it loaded,
//! so a wake between its check and its sleep makes the `futex_wait` return at once.

use crate::futex;
use crate::shim::AtomicU32;
use crate::spin::SpinWait;
use crate::stats::Primitive;
use std::sync::atomic::Ordering::{self, Acquire, Relaxed, Release};
use std::time::Instant;

pub(super) const READER: u32 = 1;
/// The reader count's field: held read locks plus readers' in-flight tentative adds.
pub(super) const READERS_MASK: u32 = (1 << 25) - 1;
pub(super) const WRITE_LOCKED: u32 = 1 << 25;
/// A writer was woken to take the free lock and has not yet taken it or slept again.
pub(super) const WRITER_WOKEN: u32 = 1 << 26;
/// Readers and the writer: the lock is free when these bits are 0.
pub(super) const MASK: u32 = READERS_MASK | WRITE_LOCKED;
/// Read locks held at most; the field's upper half is headroom for tentative adds.
pub(super) const MAX_READERS: u32 = 1 << 24;
pub(super) const HANDOFF: u32 = 1 << 27;
pub(super) const UPGRADABLE: u32 = 1 << 28;
pub(super) const UPGRADING: u32 = 1 << 29;
pub(super) const READERS_WAITING: u32 = 1 << 30;
pub(super) const WRITERS_WAITING: u32 = 1 << 31;

/// The readers and the write-locked bit: 0 if and only if nobody holds (or is entering) the lock.
#[inline]
pub(super) fn count(state: u32) -> u32 {
    state & MASK
}

/// The reader count, tentative adds included.
#[inline]
pub(super) fn readers(state: u32) -> u32 {
    state & READERS_MASK
}

/// May a reader (`upgradable`: an upgradable reader) that has not slept enter in `state`?
#[inline]
pub(super) fn is_read_lockable(state: u32, upgradable: bool) -> bool {
    readers(state) < MAX_READERS
        && state & (WRITE_LOCKED | WRITERS_WAITING | UPGRADING) == 0
        && !(upgradable && state & (UPGRADABLE | HANDOFF) != 0)
}

/// May a reader that was woken from its sleep enter in `state`? Besides the fresh rule, it may
/// join a running read phase (count > 0) even if a writer waits, but not an upgrade's drain,
/// nor once a writer was woken for the free lock (the count is then tentative adds only).
#[inline]
pub(super) fn is_read_lockable_after_wakeup(state: u32, upgradable: bool) -> bool {
    let readers = readers(state);
    readers > 0
        && readers < MAX_READERS
        && state & (WRITE_LOCKED | WRITER_WOKEN | HANDOFF | UPGRADING) == 0
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
        self.try_take(
            |state| count(state) == 1,
            |state| {
                debug_assert!(state & UPGRADABLE != 0, "upgrade without an upgradable lock");
                (state & !(MASK | UPGRADABLE | UPGRADING)) | WRITE_LOCKED
            },
        )
    }

    /// The transition behind `downgrade_upgradable` (see there).
    pub(super) fn downgrade_upgradable_slow(&self) {
        // We keep holding a read lock, so there is nothing to publish (Relaxed is enough).
        self.clear_flags_waking_readers(UPGRADABLE | READERS_WAITING, |state| {
            debug_assert!(state & UPGRADABLE != 0, "downgrade without an upgradable lock");
            true
        });
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
        self.update_waking_readers(Relaxed, proceed, |state| state & !flags);
    }

    /// Moves the word to `next(state)` in one CAS (`success` ordering), retried while
    /// `proceed(state)` holds, and wakes the threads asleep on `state` if that cleared
    /// READERS_WAITING.
    fn update_waking_readers(
        &self,
        success: Ordering,
        proceed: impl Fn(u32) -> bool,
        next: impl Fn(u32) -> u32,
    ) {
        let mut state = self.state.load(Relaxed);
        while proceed(state) {
            let new = next(state);
            match self.state.compare_exchange_weak(state, new, success, Relaxed) {
                Ok(_) => {
                    if state & !new & READERS_WAITING != 0 {
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
                if readers(state) >= MAX_READERS {
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
            if readers(state) >= MAX_READERS {
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

    /// The fast path of `lock_shared` added a reader to a state that did not let one in:
    /// take the tentative add back (as a read unlock: if that brings the count to 0 or to the
    /// upgrader's 1, it wakes the writer or upgrader waiting for that), then wait.
    #[cold]
    #[inline(never)]
    pub(super) fn read_backed_out(&self) {
        // Release: as `unlock_shared` (we read nothing, but a writer's Acquire CAS may read
        // this value; a plain RMW would carry the release sequence on just as well).
        let state = self.state.fetch_sub(READER, Release) - READER;
        if state & (WRITERS_WAITING | UPGRADING) != 0 {
            self.unlock_shared_slow(state);
        }
        self.read_contended(None, false);
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
    /// writer a whole read phase), and set WRITER_WOKEN first, so that a read unlock or a
    /// take-back that brings the count to 0 again meanwhile knows a writer is on its way and
    /// does nothing. If no writer was asleep, the flag may be stale (the last writer that set
    /// it has the lock already, or gave up): take WRITER_WOKEN back and, while the lock is
    /// still free, clear WRITERS_WAITING and let in the readers that stopped behind it. A
    /// writer that was about to sleep finds `writer_notify` bumped, does not sleep, and sets
    /// the flag again.
    pub(super) fn wake_waiting_writer(&self) {
        let mut state = self.state.load(Relaxed);
        loop {
            // Taken or entered meanwhile (its release takes over), cleared by a timed-out
            // writer or a waker (which woke whom it had to), or a writer is already woken (it
            // waits for the take-backs without sleeping: see `write_contended`).
            if count(state) != 0 || state & (WRITERS_WAITING | WRITER_WOKEN) != WRITERS_WAITING {
                return;
            }
            // Relaxed: a flag only; the woken writer acquires with its own CAS.
            match self.state.compare_exchange_weak(state, state | WRITER_WOKEN, Relaxed, Relaxed) {
                Ok(_) => break,
                Err(actual) => state = actual,
            }
        }
        // Where `wake_one` cannot tell whether it woke anyone, never trust it: clear the flag.
        if self.wake_writer() && futex::WAKES_ARE_COUNTED {
            return;
        }
        // No writer was asleep, and none was woken by anyone else since we set WRITER_WOKEN
        // (nobody else wakes a writer while it is set). Nobody took it from us but a writer
        // taking the lock (its unlock takes over) or a timed-out one (which cleared
        // WRITERS_WAITING too and woke every writer).
        // Relaxed: only flags change; woken threads acquire with their own Acquire CAS.
        self.update_waking_readers(
            Relaxed,
            |state| state & WRITER_WOKEN != 0,
            |state| {
                // With the count above 0 (a tentative add), its take-back wakes a writer anew.
                let stale = if count(state) == 0 { WRITERS_WAITING | READERS_WAITING } else { 0 };
                state & !(WRITER_WOKEN | stale)
            },
        );
    }

    /// Waits for the write lock until `deadline`; false if it passed.
    #[cold]
    pub(super) fn write_contended(&self, deadline: Option<Instant>) -> bool {
        stat!(RwLock, Contended);
        // Behind a writer: the exclusive schedule (2 busy-wait rounds, 2 yields, then 5
        // back-off sleeps registered nowhere), as a mutex contender's. Behind readers: the 3
        // busy-wait rounds of the shared schedule (step 3), and as many again for the readers
        // to drain once we have registered (step 6). `docs/design.md`, RwLock, says why the
        // two differ.
        let mut spin = SpinWait::exclusive(Primitive::RwLock);
        let mut behind_readers = SpinWait::new(Primitive::RwLock);
        let mut drain = SpinWait::new(Primitive::RwLock);
        // Once we have set WRITERS_WAITING (or seen it set), other writers may sleep: we set
        // it again when we take the lock, since the unlock that woke us cleared it.
        let mut other_writers_waiting = 0;
        let mut state = self.state.load(Relaxed);
        loop {
            // 1. Nobody holds the lock: take it.
            if count(state) == 0 {
                // A woken writer has arrived: WRITER_WOKEN goes (a barging writer clears it
                // too: the woken one finds the lock taken and sleeps; our unlock wakes anew).
                let new = (state & !WRITER_WOKEN) | WRITE_LOCKED | other_writers_waiting;
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

            // 3. Spin a little while no writer sleeps. Behind a writer that retakes the lock at
            //    once, back off: a sleep that nobody has to end, so its unlocks wake nobody
            //    (no writer is registered; nobody counts on waking us, so no wake-up is lost).
            //    Behind readers, only the busy-waiting rounds: until WRITERS_WAITING is set
            //    new readers keep entering, so every yield (a whole time slice on a loaded
            //    machine) would lengthen our wait.
            if state & WRITERS_WAITING == 0 {
                let spun = if state & WRITE_LOCKED != 0 {
                    spin.spin()
                } else {
                    behind_readers.spin_without_yield()
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

            // 5. A writer was woken for the free lock: no reader enters while WRITER_WOKEN is
            //    set, so the count is only readers' tentative adds, each taken back at once,
            //    and no release to count 0 wakes a writer now. Wait for them awake (yields
            //    where the schedule would back off).
            if state & WRITER_WOKEN != 0 {
                spin.spin_or_yield();
                state = self.state.load(Relaxed);
                continue;
            }

            // 6. Behind readers only: with the flag set no new reader enters, and those in
            //    leave within their critical sections. Busy-wait a few rounds for that
            //    before committing to a sleep (its futex wait would mostly fail, and cost
            //    the last reader out a futex wake).
            if state & WRITE_LOCKED == 0 && drain.spin_without_yield() {
                state = self.state.load(Relaxed);
                continue;
            }

            // 7. Sleep on writer_notify while the lock is held, the flag still set and no
            //    writer woken.
            let slept;
            (state, slept) = self.sleep_on_writer_notify(deadline, |state| {
                count(state) != 0 && state & (WRITERS_WAITING | WRITER_WOKEN) == WRITERS_WAITING
            });
            if slept {
                spin.reset();
                behind_readers.reset();
                drain.reset();
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
            // WRITER_WOKEN too: if the wake was spent on us, the wake-all below passes it on.
            let mut new = state & !(WRITERS_WAITING | WRITER_WOKEN);
            let wake_readers =
                state & READERS_WAITING != 0 && state & WRITE_LOCKED == 0 && state & UPGRADING == 0;
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
            debug_assert!(state & WRITE_LOCKED != 0, "release of an unheld write lock");
            // Besides the lock, only READERS_WAITING, WRITERS_WAITING and readers' tentative
            // adds (which they take back themselves) can be set: keep the adds.
            let unlocked = state & !WRITE_LOCKED;
            let readers = state & READERS_WAITING != 0;
            let writers = state & WRITERS_WAITING != 0;
            let new = if readers {
                // Phase-fair hand-over: one phantom read lock, claimed by a woken reader, so a
                // writer on the CPU (this one, locking again at once) cannot barge ahead of
                // the readers that waited through our critical section.
                ((unlocked & !READERS_WAITING) + READER) | HANDOFF
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

    /// Write lock -> `held` (a read lock, or an upgradable one), waking the readers.
    pub(super) fn downgrade_exclusive(&self, held: u32) {
        // Release: publishes our writes to the readers that enter after this.
        self.update_waking_readers(
            Release,
            |_| true,
            |state| {
                debug_assert!(state & WRITE_LOCKED != 0, "downgrade of an unheld write lock");
                // Tentative adds stay: their readers take them back.
                ((state & !WRITE_LOCKED) + held) & !READERS_WAITING
            },
        );
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
}

#[cfg(all(test, not(loom)))]
mod tests;
mod wake;
