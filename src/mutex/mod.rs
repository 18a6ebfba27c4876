//! A mutual-exclusion lock on one 32-bit futex word.
//!
//! The word holds the lock bit, three bits that steer wake-ups, and a count of the threads that
//! have gone to sleep (or are about to) waiting for the lock:
//!
//! | bits  | name      | meaning                                                               |
//! |-------|-----------|-----------------------------------------------------------------------|
//! | 0     | LOCKED    | somebody owns the lock                                                |
//! | 1     | WOKEN     | a waiter is awake and on its way: no unlock needs to wake another     |
//! | 2     | HANDOFF   | the owner handed the lock to the sleepers: the first to claim owns it |
//! | 3     | STARVING  | a waiter has waited over 0.5 ms: the next unlock is a fair hand-off   |
//! | 4     | REQUEUED  | threads moved here by `Condvar::notify_all` sleep uncounted           |
//! | 5..32 | waiters   | threads registered to sleep (asleep, or woken and retrying)           |
//!
//! Transitions (every CAS loops on failure with the value it read; `s` is the value read):
//!
//! | operation | from | to | then |
//! |---|---|---|---|
//! | lock, fast (one `fetch_or`) | `s`, no LOCKED | `s \| LOCKED` (other bits kept) | — |
//! | lock, free | `s`, no LOCKED | `s \| LOCKED`, WOKEN cleared if ours | — |
//! | lock, claim | `s` with HANDOFF; our futex wait returned `Woken`, or a condvar waiter re-locking with REQUEUED set | `s & !HANDOFF` (WOKEN cleared if ours) | own the lock |
//! | lock, spin | `s` with LOCKED, waiters > 0, no WOKEN | `s \| WOKEN` (now ours) | spin; no unlock wakes a sleeper meanwhile |
//! | lock, back off (the schedule's back-off rounds, while waiters = 0) | `s` with WOKEN ours | `s & !WOKEN` | sleep 15 µs registered nowhere, look again (with waiters > 0 the round is a yield instead) |
//! | lock, sleep | `s` with LOCKED | `s + WAITER` (WOKEN cleared if ours; STARVING if woken before and waiting > 0.5 ms) | `futex_wait`, then `waiters -= 1` at once |
//! | lock, timeout (checked before spinning) | `s` with LOCKED | WOKEN cleared if ours | return false |
//! | lock, timeout after a counted sleep that timed out, HANDOFF found | `s` with HANDOFF | `s & !HANDOFF` (claim) | fair unlock (pass it on), return false |
//! | unlock (one `fetch_sub`) | `s` | `s - LOCKED` (other bits kept) | from the exact result `r`: REQUEUED (no STARVING): wake two, done if it woke somebody; then if STARVING or REQUEUED: retake (below); else waiters > 0 and no WOKEN/HANDOFF/REQUEUED: set WOKEN, wake one |
//! | unlock, retake | `r` with STARVING or REQUEUED, no LOCKED | `r \| LOCKED` | own the lock again: the owner's unlock below (LOCKED found set: the new owner's job) |
//! | owner's unlock (`unlock_fair`, a retake) | `s` | `s & !(LOCKED \| STARVING)` | waiters > 0 and no WOKEN/HANDOFF/REQUEUED: set WOKEN, wake one |
//! | owner's unlock, REQUEUED | `s` | wake two first; if it woke nobody, clear REQUEUED too | — |
//! | owner's unlock: fair, or STARVING | `s` with sleepers (re-checked on every retry) | `(s \| HANDOFF) & !STARVING` | wake one; if nobody slept, take HANDOFF back and unlock normally |
//!
//! **Orderings.** Every RMW that takes the lock (fast, free, claim, retake) is Acquire; every
//! one that gives it up (unlock, setting HANDOFF, taking HANDOFF back) is Release, so each
//! critical section happens-before the next. The bookkeeping CASes (register, WOKEN, the waiter
//! decrement, REQUEUED) are Relaxed: they publish no data, and the futex value check plus the
//! word's single modification order are what make them visible.
//!
//! Why a count and a WOKEN bit rather than std's 3-state word: once anyone has slept, a 3-state
//! word cannot tell whether sleepers remain, so every later unlock pays a `futex_wake` syscall.
//! Counting sleepers ends that; the WOKEN bit (as in Go's `sync.Mutex`) keeps an unlock from
//! waking a second sleeper while the first is still on its way to the CPU, which would
//! otherwise stampede context switches under oversubscription.
//!
//! **One RMW each way, whatever the other bits say.** `lock` is a `fetch_or` of LOCKED and
//! `unlock` a `fetch_sub` of it, so a word carrying a waiter count or WOKEN (a woken sleeper
//! still waiting for a CPU, which under oversubscription can take milliseconds) costs the
//! running threads nothing more than a clear word; with a compare-exchange against `0`, each
//! lock and unlock in that window took a failed CAS plus a second one (measured: 60 % of the
//! acquisitions at 8 threads went that way, at half the throughput). The price is that
//! `unlock` releases before it looks: what needs an owner (the hand-off STARVING asks for,
//! clearing REQUEUED) it does after taking the free lock back, and if another thread took
//! the lock first, that thread finds the bits at its own unlock. A REQUEUED unlock wakes its
//! requeued sleeper after the release, so the woken thread finds the lock free.
//!
//! **Fairness**: barging. A running thread may take the lock ahead of a woken sleeper, which
//! is what makes the lock fast under contention. Two bounds keep that from starving anyone:
//! [`unlock_fair`](lock_api::MutexGuard::unlock_fair) hands the lock directly to a sleeper, and
//! *eventual fairness*: a sleeper that wakes, fails to get the lock and has been waiting for
//! more than 0.5 ms sets STARVING, which turns the next unlock into a fair hand-off.
//!
//! **No poisoning**: as in parking_lot, a panic while the lock is held simply unlocks it as the
//! guard is dropped during unwinding; the next `lock()` succeeds and sees whatever the panicking
//! thread left behind.
//!
//! **Condvar requeue**: `notify_all` moves the sleepers of a condvar onto this word without
//! counting them (nobody can count them on their behalf: a woken thread cannot tell whether it
//! was requeued). REQUEUED, set only by the lock owner, tells `unlock` to wake requeued
//! threads, two at a time ([`REQUEUED_WAKES`]); an unlock whose wake finds nobody on the word
//! clears it. Because only the owner sets or clears it, no requeue can race the clearing. Who
//! may claim a HANDOFF: a thread whose own futex wait on this word returned `Woken`, and a
//! condvar waiter re-taking the lock while REQUEUED is set (it may be a requeued sleeper that
//! the hand-off woke; with REQUEUED clear it cannot be one, so a waiter woken by `notify_one`
//! never takes a hand-off meant for a sleeper).
//!
//! **Timeouts**: a timed lock checks its deadline before it spins, so a passed deadline
//! (`Duration::ZERO`) costs about what `try_lock` costs. A timed waiter that gives up clears
//! WOKEN if it is (or may be) its own, so the next unlock wakes another sleeper; the lock is
//! held when it gives up (a free lock is taken instead), so its owner's unlock does that.
//! A waiter that timed out *while counted* and then finds HANDOFF claims it and passes it on
//! with a fair unlock: where `wake_one` cannot tell whether it woke anyone (the non-Linux
//! fallback always says yes), that hand-off may have counted on this waiter alone. A wake
//! never goes to a thread that already timed out (the kernel, and the loom model, let a wake
//! win over a simultaneous timeout), so no other timed path can swallow one;
//! `docs/loom.md` ("Timed paths audit") goes through each.

#[cfg(not(loom))]
mod lock_api_impls;
#[cfg(not(loom))]
pub use lock_api_impls::{ArcMutexGuard, MappedMutexGuard, Mutex, MutexGuard, const_mutex};

use crate::futex;
use crate::shim::{self, AtomicU32};
use crate::spin::SpinWait;
use crate::stats::Primitive;
use std::sync::atomic::Ordering::{Acquire, Relaxed, Release};
#[cfg(not(loom))]
use std::time::Duration;
use std::time::Instant;

const UNLOCKED: u32 = 0;
const LOCKED: u32 = 1;
const WOKEN: u32 = 1 << 1;
const HANDOFF: u32 = 1 << 2;
const STARVING: u32 = 1 << 3;
const REQUEUED: u32 = 1 << 4;
const WAITER_SHIFT: u32 = 5;
const WAITER: u32 = 1 << WAITER_SHIFT;

/// How many requeued sleepers one REQUEUED unlock wakes: one to take the lock, and the next
/// already on its way to a CPU, so that its wake-up latency overlaps the first one's turn
/// instead of following it. After a `notify_all` to many waiters the chain of wakes is the
/// whole cost: `notify_all` to 32 waiters took about 9 % less time with two than with one
/// (seventeen alternated pairs, `docs/benchmarks.md`), and three or four were no better than
/// two. A woken thread that loses the race spins and sleeps again as an ordinary waiter.
const REQUEUED_WAKES: u32 = 2;

/// How long a sleeper may wait before the next unlock must hand the lock over to a sleeper.
#[cfg(not(loom))]
const STARVATION_LIMIT: Duration = Duration::from_micros(500);

/// What one thread in `lock_contended` knows about itself.
struct Contender {
    /// A condvar waiter re-taking the lock (it may have been requeued onto this word).
    after_wait: bool,
    /// Our own futex wait on this word returned `Woken`: we may claim a HANDOFF.
    woken: bool,
    /// WOKEN is (or may be) ours: set for us by the unlock that woke us (a condvar waiter may
    /// have been woken on this word after a requeue), or by ourselves while spinning. We clear
    /// it in our next decisive CAS (take, claim, sleep, give up).
    owns_woken: bool,
    /// Our last futex wait on this word ended in a timeout while we were counted: an unlock
    /// that cannot tell whether its wake reached anyone may have handed the lock to us.
    timed_out_counted: bool,
    /// When we first slept (for STARVING).
    #[cfg(not(loom))]
    since: Option<Instant>,
}

impl Contender {
    fn new(after_wait: bool) -> Self {
        Self {
            after_wait,
            woken: false,
            owns_woken: after_wait,
            timed_out_counted: false,
            #[cfg(not(loom))]
            since: None,
        }
    }

    /// `state` with WOKEN cleared if it is ours.
    fn clear_woken(&self, state: u32) -> u32 {
        if self.owns_woken { state & !WOKEN } else { state }
    }

    /// May we claim the HANDOFF in `state`? Only if we slept on this word. A condvar waiter
    /// cannot tell a wake on the condvar (never requeued: not an addressee of the hand-off)
    /// from a wake here after a requeue (an addressee: if it did not claim, nobody might). It
    /// claims only while REQUEUED is set: a requeued thread that a hand-off woke always sees
    /// REQUEUED, because only an owner clears it and nobody owns the lock between a hand-off
    /// and its claim.
    fn may_claim_hand_off(&self, state: u32) -> bool {
        state & HANDOFF != 0 && (self.woken || (self.after_wait && state & REQUEUED != 0))
    }
}

#[inline]
fn waiters(state: u32) -> u32 {
    state >> WAITER_SHIFT
}

/// The raw futex mutex behind [`Mutex`]. 4 bytes; `const`-constructible.
///
/// Most code wants [`Mutex<T>`](Mutex). `RawMutex` implements `lock_api`'s `RawMutex`,
/// `RawMutexTimed` and `RawMutexFair`, so it also plugs into code generic over `lock_api`.
/// Its guard-free inherent methods have the traits' names (`lock`, `try_lock`, `unlock`,
/// `unlock_fair`, `is_locked`; the timed one takes an `Option<Instant>`), so a method call
/// on a `RawMutex` picks the inherent one; generic code, or a call through the trait path,
/// gets the trait's, which hands out and takes back a guard marker:
///
/// ```
/// use atomsync::RawMutex;
///
/// let raw = RawMutex::new();
/// let guard = lock_api::RawMutex::lock(&raw);
/// assert!(raw.is_locked());
/// // SAFETY: we hold the lock; `guard` is the state of that acquisition.
/// unsafe { lock_api::RawMutex::unlock(&raw, guard) };
/// assert!(!raw.is_locked());
///
/// // The guard-free form, as the loom models use it:
/// raw.lock();
/// // SAFETY: locked just above.
/// unsafe { raw.unlock() };
/// ```
#[derive(Debug)]
pub struct RawMutex {
    pub(crate) state: AtomicU32,
}

impl RawMutex {
    shim::const_fn! {
        /// A new, unlocked mutex.
        ///
        /// ```
        /// static LOCK: atomsync::RawMutex = atomsync::RawMutex::new();
        /// assert!(LOCK.try_lock());
        /// ```
        pub const fn new() -> Self {
            Self { state: AtomicU32::new(UNLOCKED) }
        }
    }

    /// Blocks until the lock is acquired. The guard-free form of `lock_api::RawMutex::lock`.
    ///
    /// ```
    /// let raw = atomsync::RawMutex::new();
    /// raw.lock();
    /// // SAFETY: this thread holds the lock.
    /// unsafe { raw.unlock() };
    /// ```
    #[inline]
    pub fn lock(&self) {
        // Acquire: pairs with the Release in `unlock`, so the previous owner's critical
        // section happens-before ours.
        // One RMW whatever the other bits say (a `lock bts` on x86): a free lock is ours even
        // while a woken waiter is on its way or sleepers are counted, as in step 1 of
        // `lock_contended`. Setting LOCKED in a word where it is already set changes nothing.
        if self.state.fetch_or(LOCKED, Acquire) & LOCKED == 0 {
            stat!(Mutex, Fast);
        } else {
            self.lock_contended(None, false);
        }
    }

    /// Takes the lock if it is free right now; never blocks.
    ///
    /// ```
    /// let raw = atomsync::RawMutex::new();
    /// assert!(raw.try_lock());
    /// assert!(!raw.try_lock());
    /// # unsafe { raw.unlock() };
    /// ```
    #[inline]
    #[must_use = "if it returns true the lock is held and must be released"]
    pub fn try_lock(&self) -> bool {
        let mut state = self.state.load(Relaxed);
        loop {
            if state & LOCKED != 0 {
                return false;
            }
            // Acquire: pairs with the Release in `unlock` (see `lock`).
            match self.state.compare_exchange_weak(state, state | LOCKED, Acquire, Relaxed) {
                Ok(_) => {
                    stat!(Mutex, Fast);
                    return true;
                }
                Err(actual) => state = actual,
            }
        }
    }

    /// Tries to take the lock until `deadline` (`None`: forever). True if it was taken; false
    /// only once the deadline has passed.
    ///
    /// ```
    /// use std::time::{Duration, Instant};
    /// let raw = atomsync::RawMutex::new();
    /// assert!(raw.try_lock_until(Some(Instant::now() + Duration::from_millis(1))));
    /// assert!(!raw.try_lock_until(Some(Instant::now() + Duration::from_millis(1))));
    /// # unsafe { raw.unlock() };
    /// ```
    #[inline]
    #[must_use = "if it returns true the lock is held and must be released"]
    pub fn try_lock_until(&self, deadline: Option<Instant>) -> bool {
        // Acquire: pairs with the Release in `unlock` (see `lock`).
        if self.state.compare_exchange(UNLOCKED, LOCKED, Acquire, Relaxed).is_err() {
            return self.lock_contended(deadline, false);
        }
        stat!(Mutex, Fast);
        true
    }

    /// Releases the lock, waking a sleeper if there is one.
    ///
    /// # Safety
    /// The calling context must hold the lock (the thread that took it, or one it handed the
    /// ownership to).
    ///
    /// ```
    /// let raw = atomsync::RawMutex::new();
    /// raw.lock();
    /// // SAFETY: the lock is held.
    /// unsafe { raw.unlock() };
    /// ```
    #[inline]
    pub unsafe fn unlock(&self) {
        // Release: publishes our critical section to the Acquire of the next owner.
        // One RMW whatever the other bits say: LOCKED is set (we own the lock), so subtracting
        // it clears just that bit. Anything else in the word is dealt with after the release.
        let before = self.state.fetch_sub(LOCKED, Release);
        debug_assert!(before & LOCKED != 0, "unlock of an unowned mutex");
        if before != LOCKED {
            self.after_release(before - LOCKED);
        }
    }

    /// Releases the lock and, if a thread sleeps waiting for it, hands the lock directly to it:
    /// no other thread can take the lock in between.
    ///
    /// # Safety
    /// As for [`unlock`](Self::unlock).
    ///
    /// ```
    /// let raw = atomsync::RawMutex::new();
    /// raw.lock();
    /// // SAFETY: the lock is held.
    /// unsafe { raw.unlock_fair() };
    /// ```
    #[inline]
    pub unsafe fn unlock_fair(&self) {
        // Release: as in `unlock`.
        if self.state.compare_exchange(LOCKED, UNLOCKED, Release, Relaxed).is_err() {
            self.unlock_slow(true);
        }
    }

    /// True if somebody holds the lock (a snapshot that may be stale at once).
    ///
    /// ```
    /// let raw = atomsync::RawMutex::new();
    /// assert!(!raw.is_locked());
    /// ```
    #[inline]
    pub fn is_locked(&self) -> bool {
        self.state.load(Relaxed) & LOCKED != 0
    }

    /// Re-takes the lock after a condvar wait. The thread may have been requeued onto this
    /// word and woken there (by a plain or a fair unlock), so it takes over WOKEN, and it may
    /// claim a HANDOFF while REQUEUED says requeued sleepers exist (see `lock_contended`).
    pub(crate) fn lock_after_wait(&self) {
        // Acquire: pairs with the Release in `unlock` (see `lock`).
        if self.state.compare_exchange(UNLOCKED, LOCKED, Acquire, Relaxed).is_err() {
            self.lock_contended(None, true);
        } else {
            stat!(Mutex, Fast);
        }
    }

    /// Marks that threads were requeued onto this word. Called by the lock owner only.
    pub(crate) fn mark_requeued(&self) {
        // Relaxed: only the owner sets or clears the bit, and the owner's own `unlock`
        // reads it; the requeued threads do not read it.
        self.state.fetch_or(REQUEUED, Relaxed);
    }

    /// The slow path of every lock operation. `after_wait`: a condvar waiter re-taking the
    /// lock (it may have been requeued onto this word and woken there). Returns false only if
    /// `deadline` passed.
    #[cold]
    fn lock_contended(&self, deadline: Option<Instant>, after_wait: bool) -> bool {
        stat!(Mutex, Contended);
        let mut spin = SpinWait::exclusive(Primitive::Mutex);
        let mut me = Contender::new(after_wait);
        let mut state = self.state.load(Relaxed);
        loop {
            // 1. The lock is free: take it.
            if state & LOCKED == 0 {
                let new = me.clear_woken(state | LOCKED);
                // Acquire: pairs with the Release in `unlock`.
                match self.state.compare_exchange_weak(state, new, Acquire, Relaxed) {
                    Ok(_) => return true,
                    Err(actual) => state = actual,
                }
                continue;
            }

            // 2. The owner handed the lock to the sleepers, and we may be one: claim it.
            if me.may_claim_hand_off(state) {
                let new = me.clear_woken(state & !HANDOFF);
                // Acquire: pairs with the Release that set HANDOFF in `hand_off`.
                match self.state.compare_exchange_weak(state, new, Acquire, Relaxed) {
                    Ok(_) => return claimed_hand_off(),
                    Err(actual) => state = actual,
                }
                continue;
            }

            // 3. Out of time: give up (the lock is held, so its owner will wake the others).
            //    Checked before spinning, so a passed deadline (`Duration::ZERO`) returns at
            //    once instead of running the spin-and-yield schedule first.
            if futex::deadline_passed(deadline) {
                match self.give_up(state, &me) {
                    Ok(()) => {
                        stat!(Mutex, Timeout);
                        return false;
                    }
                    Err(actual) => state = actual,
                }
                continue;
            }

            // 4. Spin a little: the owner probably runs and will release soon.
            if let Some(actual) = self.spin_round(state, &mut me, &mut spin) {
                state = actual;
                continue;
            }

            // 5. Count ourselves in and sleep until the word changes.
            state = match self.sleep_counted(state, &mut me, deadline) {
                Ok(state) => {
                    spin.reset();
                    state
                }
                Err(actual) => actual,
            };
        }
    }

    /// Step 4 of `lock_contended`: one round of the spin schedule (`SpinWait::exclusive`); the
    /// state to go on with, or `None` once the schedule is used up (then we sleep). While we
    /// spin, WOKEN tells unlockers not to wake a sleeper: we will take the lock instead.
    ///
    /// After the busy-wait rounds and two yields the schedule backs off: timed sleeps,
    /// registered nowhere, which leave an owner that retakes the lock at once to run alone
    /// (`spin.rs`). Only while no sleeper is counted, though: with sleepers, the lock is passed
    /// among several threads, and a contender that leaves for a while is missing when its turn
    /// comes (the 100 ns row lost more with back-offs there); a back-off round yields instead.
    /// Asleep in a back-off we are not on our way: a WOKEN we hold is given up first, so that
    /// an unlock wakes a sleeper who registers meanwhile.
    fn spin_round(&self, state: u32, me: &mut Contender, spin: &mut SpinWait) -> Option<u32> {
        if state & HANDOFF != 0 {
            return None;
        }
        let backs_off = spin.backs_off_next();
        let back_off = backs_off && waiters(state) == 0;
        if back_off && me.owns_woken {
            // Relaxed: only the flag changes, as when it was claimed. (Without WOKEN in the
            // word it was ours only perhaps, a condvar waiter's, and nobody holds it now.)
            if state & WOKEN != 0
                && let Err(actual) =
                    self.state.compare_exchange_weak(state, state & !WOKEN, Relaxed, Relaxed)
            {
                return Some(actual);
            }
            #[cfg(all(test, not(loom)))]
            tests::WOKEN_GIVEN_UP.with(|count| count.set(count.get() + 1));
            me.owns_woken = false;
        }
        let spun = if backs_off && !back_off { spin.spin_yielding() } else { spin.spin() };
        if !spun {
            return None;
        }
        #[cfg(all(test, not(loom)))]
        tests::SPIN_ROUNDS.with(|rounds| rounds.set(rounds.get() + 1));
        if !me.owns_woken && state & WOKEN == 0 && waiters(state) > 0 {
            // Relaxed: only the flag changes. If the CAS fails we just spin without it.
            me.owns_woken =
                self.state.compare_exchange_weak(state, state | WOKEN, Relaxed, Relaxed).is_ok();
            #[cfg(all(test, not(loom)))]
            tests::WOKEN_CLAIMED.with(|count| count.set(count.get() + u32::from(me.owns_woken)));
        }
        Some(self.state.load(Relaxed))
    }

    /// Step 3 of `lock_contended`, the deadline passed: give up. `Err` carries the state to
    /// retry with when a CAS lost a race.
    fn give_up(&self, state: u32, me: &Contender) -> Result<(), u32> {
        // We timed out while counted and find a HANDOFF: where `wake_one` cannot tell whether
        // it woke anyone, the hand-off may have been meant for us alone, and nobody else would
        // ever claim it. Claim it and pass it on with a fair release (to a sleeper if one is
        // counted, else a plain release). (The seeded bug for the loom CI check drops this.)
        if !cfg!(atomsync_seeded_bug) && me.timed_out_counted && state & HANDOFF != 0 {
            let new = me.clear_woken(state & !HANDOFF);
            // Acquire: pairs with the Release that set HANDOFF in `hand_off`.
            self.state.compare_exchange_weak(state, new, Acquire, Relaxed)?;
            // SAFETY: the CAS above claimed the hand-off: we own the lock.
            unsafe { self.unlock_fair() };
            return Ok(());
        }
        let new = me.clear_woken(state);
        if new != state {
            // Relaxed: only WOKEN changes.
            self.state.compare_exchange_weak(state, new, Relaxed, Relaxed)?;
        }
        Ok(())
    }

    /// Step 5 of `lock_contended`: count ourselves in, sleep until the word changes, and leave
    /// the count. `Ok` carries the state after the sleep; `Err` the state to retry with when
    /// the registering CAS lost a race.
    fn sleep_counted(
        &self,
        state: u32,
        me: &mut Contender,
        deadline: Option<Instant>,
    ) -> Result<u32, u32> {
        assert!(waiters(state) < u32::MAX >> WAITER_SHIFT, "atomsync::Mutex: too many waiters");
        #[allow(unused_mut)]
        let mut new = me.clear_woken(state + WAITER);
        #[cfg(not(loom))]
        if me.woken && me.since.is_some_and(|since| since.elapsed() > STARVATION_LIMIT) {
            new |= STARVING;
        }
        // Relaxed: only the count and flags change; the futex value check and the unlocker's
        // CAS see this value through the word's modification order.
        self.state.compare_exchange_weak(state, new, Relaxed, Relaxed)?;
        #[cfg(not(loom))]
        if me.since.is_none() {
            me.since = Some(Instant::now());
        }
        // Only a thread that really slept may claim a HANDOFF (one whose wait found the word
        // already changed is a newcomer to the hand-off). Any thread that registered owns WOKEN
        // afterwards: an unlock may have set it on its behalf before it slept.
        let wait = futex::wait(&self.state, new, deadline, Primitive::Mutex);
        me.woken |= wait == futex::Wait::Woken;
        me.timed_out_counted = wait == futex::Wait::TimedOut;
        me.owns_woken = true;
        // Leave the count at once (WOKEN stays until our next decisive CAS): `waiters` then
        // counts only threads that sleep, which is what an unlock needs to know.
        // Relaxed: bookkeeping only; the lock is taken with Acquire above.
        Ok(self.state.fetch_sub(WAITER, Relaxed) - WAITER)
    }

    /// The slow path of `unlock`, which has already released the lock. `state` is the word
    /// our release left (exact: from the releasing RMW), so the common cases (a woken waiter
    /// on its way, nobody counted) decide without touching the word again, which the next
    /// owner is probably already taking.
    ///
    /// - REQUEUED (and no STARVING): wake two requeued sleepers now, after the release, so
    ///   that the first finds the lock free rather than held by us (parking_lot also wakes
    ///   after its release). If the wake found nobody, REQUEUED must be cleared, which only an
    ///   owner may do (nobody may requeue between the wake that found nobody and the
    ///   clearing): go on as for STARVING.
    /// - STARVING or REQUEUED: take the free lock back and release it through `unlock_slow`
    ///   (a hand-off; a wake, and the clearing, while the lock is held). If somebody else took
    ///   the lock meanwhile, those bits are theirs to act on at their own unlock.
    /// - otherwise: wake a sleeper if one is counted and nobody is on the way.
    #[cold]
    fn after_release(&self, mut state: u32) {
        if state & (REQUEUED | STARVING) == REQUEUED {
            if self.wake_requeued() {
                return;
            }
            state = self.state.load(Relaxed);
        }
        loop {
            if state & LOCKED != 0 {
                return;
            }
            if state & (STARVING | REQUEUED) == 0 {
                return self.wake_waiter(state);
            }
            // Acquire: we own the lock again, after whoever owned it since our release.
            match self.state.compare_exchange_weak(state, state | LOCKED, Acquire, Relaxed) {
                Ok(_) => return self.unlock_slow(false),
                Err(actual) => state = actual,
            }
        }
    }

    /// Wakes [`REQUEUED_WAKES`] threads asleep on the word (requeued or counted: the futex
    /// cannot tell them apart) for a REQUEUED unlock; true if it woke anyone. (The seeded bug
    /// for the loom CI check drops this wake.)
    fn wake_requeued(&self) -> bool {
        !cfg!(atomsync_seeded_bug)
            && futex::wake_up_to(&self.state, REQUEUED_WAKES, Primitive::Mutex)
    }

    /// The slow path of `unlock_fair` (and of `unlock` retaken by `after_release`): some flag
    /// or waiter count is set and the lock is still held.
    #[cold]
    fn unlock_slow(&self, fair: bool) {
        let mut state = self.state.load(Relaxed);
        loop {
            debug_assert!(
                state & LOCKED != 0 && state & HANDOFF == 0,
                "unlock of an unowned mutex"
            );
            let sleepers_possible = waiters(state) > 0 || state & REQUEUED != 0;
            if (fair || state & STARVING != 0) && sleepers_possible {
                // Set HANDOFF (LOCKED stays set) in this loop, so that a retry re-checks that
                // somebody is still counted: a timed waiter may have left the count meanwhile,
                // and where `wake_one` cannot count, a hand-off with nobody counted is never
                // claimed. Release: publishes our critical section to the claimer's Acquire.
                let new = (state | HANDOFF) & !STARVING;
                match self.state.compare_exchange_weak(state, new, Release, Relaxed) {
                    Ok(_) => return self.hand_off(new),
                    Err(actual) => state = actual,
                }
                continue;
            }
            if state & REQUEUED != 0 {
                // Requeued threads sleep uncounted: wake some while we still own the lock, so
                // that no other owner can requeue more between our wake and our clearing.
                let woke = self.wake_requeued();
                let new =
                    if woke { state & !LOCKED } else { state & !(LOCKED | REQUEUED | STARVING) };
                // Release: publishes our critical section to the next owner's Acquire.
                match self.state.compare_exchange_weak(state, new, Release, Relaxed) {
                    Ok(_) if woke => return,
                    Ok(_) => return self.wake_waiter(new),
                    Err(actual) => state = actual,
                }
                continue;
            }
            // Release: as above.
            match self.state.compare_exchange_weak(
                state,
                state & !(LOCKED | STARVING),
                Release,
                Relaxed,
            ) {
                Ok(_) => return self.wake_waiter(state & !(LOCKED | STARVING)),
                Err(actual) => state = actual,
            }
        }
    }

    /// After a release: if sleepers are counted, the lock is free and nobody is already on its
    /// way, set WOKEN and wake one.
    fn wake_waiter(&self, mut state: u32) {
        loop {
            if waiters(state) == 0 || state & (LOCKED | WOKEN | HANDOFF | REQUEUED) != 0 {
                // Nobody to wake, or somebody else will: the owner, the woken, or the
                // thread woken by a REQUEUED release.
                return;
            }
            // Relaxed: only the flag changes; the woken thread re-reads the word.
            match self.state.compare_exchange_weak(state, state | WOKEN, Relaxed, Relaxed) {
                Ok(_) => {
                    #[cfg(not(atomsync_seeded_bug))]
                    futex::wake_one(&self.state, Primitive::Mutex);
                    return;
                }
                Err(actual) => state = actual,
            }
        }
    }

    /// Fair release, after `unlock_slow` set HANDOFF (`state` is the word it set, LOCKED
    /// still set): wake a sleeper, which claims the lock. If no thread sleeps on the word
    /// after all, take HANDOFF back and release normally.
    fn hand_off(&self, mut state: u32) {
        loop {
            // Every thread asleep on the word (counted or requeued) may claim the lock.
            if futex::wake_one(&self.state, Primitive::Mutex) {
                return;
            }
            // Nobody sleeps here: registered waiters, if any, are running and would claim it;
            // but so might nobody. Release normally instead.
            // Release: publishes our critical section to the next owner's Acquire.
            let new = state & !(LOCKED | HANDOFF | REQUEUED);
            match self.state.compare_exchange(state, new, Release, Relaxed) {
                Ok(_) => return self.wake_waiter(new),
                // Claimed meanwhile: the claimer owns the lock now.
                Err(actual) if actual & HANDOFF == 0 => return,
                // A thread registered meanwhile and may be asleep: try waking again.
                Err(actual) => state = actual,
            }
        }
    }
}

impl Default for RawMutex {
    fn default() -> Self {
        Self::new()
    }
}

/// Step 2 of `lock_contended` succeeded: the hand-off is ours (counted in the profile).
#[inline]
fn claimed_hand_off() -> bool {
    stat!(Mutex, HandOff);
    true
}

#[cfg(all(test, not(loom)))]
mod tests;
