//! The Semaphore's protocol: the permit count and a closed bit in one 32-bit futex word, four
//! companion words, the state table, its transitions and the slow paths. The public API and
//! the fast paths are in `mod.rs`, the permits in `permit.rs`.
//!
//! ```text
//! state (no thread sleeps on it):
//! | bits  | name     | meaning                                                           |
//! |-------|----------|-------------------------------------------------------------------|
//! | 0     | CLOSED   | `close()` was called: every acquire fails with `Closed`           |
//! | 1     | HEAD     | a head waiter waits for its permits; others may still take them   |
//! | 2     | RESERVED | the head has waited its 0.5 ms: nobody else may take a permit     |
//! | 3..32 | permits  | the available permits (at most MAX_PERMITS = 2^29 - 1: the field) |
//!
//! head_need   the head's futex word: the permits it asks for while it is armed (about to
//!             sleep or asleep), 0 once a release has claimed its wake (and before any head)
//! queued      threads registered to sleep on `queue` (waiters behind the head); in bit 31
//!             WAKING: a queue wake is in flight (set only while the count is not 0); in
//!             bit 30, only with WAKING, HANDOFF: the wake carries the head's place
//! queue       a generation counter, the futex word of the waiters behind the head
//! total       the permits that exist: available + held by permits (at most MAX_PERMITS)
//! ```
//!
//! RESERVED is only ever set together with HEAD, by the head itself, and cleared with it.
//!
//! ```text
//! acquire(n):  CAS permits -= n if RESERVED and CLOSED are clear and permits >= n (fast path;
//!              while a head waits unreserved, this is barging past it)
//!              else spin a little while nobody has reserved, then
//!              no head: CAS HEAD on, and as the head, until the permits suffice:
//!                       arm (head_need = n); re-check `state` with a CAS that also sets
//!                       RESERVED once the head has slept and is 0.5 ms old; sleep on
//!                       `head_need` (unreserved: at most until it is 0.5 ms old); once
//!                       woken, spin the busy-wait rounds and 2 yields before sleeping again.
//!                       Then take the permits and clear RESERVED in one CAS, and HEAD too
//!                       if nobody is queued; wake the queue for what is left (at least one):
//!                       with HEAD kept, the wake carries HANDOFF (pass the place on)
//!              a head:  queued += 1, sleep on `queue` while HEAD is set, queued -= 1; clear
//!                       WAKING | HANDOFF: with HANDOFF, we are the head (HEAD is still set);
//!                       with WAKING only, wake the queue for the permits beyond n if there
//!                       is no head; retry
//! release(n):  fetch_add(n permits); if HEAD was set: if head_need is armed and the permits
//!              now cover it, claim the wake (CAS head_need -> 0) and wake the head;
//!              else if queued > 0 and no WAKING: set WAKING, wake min(n, queued) of the queue
//! wake queue:  the served head (at least one), a timed-out one, a timed-out queued waiter
//!              (one, if permits are free): all only if queued > 0 and no WAKING (a served
//!              head that finds WAKING set adds HANDOFF to it instead of waking)
//! add_permits: total += n (checked, before the permits appear), then as release(n)
//! forget:      permits leave `state` (or the permit), then total -= n
//! close():     set CLOSED, disarm head_need, wake everybody on both futex words
//! ```
//!
//! **No lost wake-ups.** A waiter first announces itself (`queued += 1`, or arms `head_need`)
//! and then re-checks `state` with a read-modify-write (AcqRel: the queued waiter's
//! `fetch_add(0)`, the head's CAS, which must succeed for it to sleep); a releaser first
//! changes `state` with its `fetch_add` (AcqRel) and then reads the announcement. Two RMWs of
//! one word are ordered: if the waiter's comes first, the releaser's acquires it and so sees
//! the announcement, and wakes; if the releaser's comes first, the waiter sees the new permits
//! (or they were taken again by a running thread, whose own release then comes after the
//! waiter's RMW). (No store-load `SeqCst` handshake between two words: that is the pattern
//! loom cannot check, and it needs a fence on the hot path.) The futex words change before
//! every wake (the queue's generation is bumped; the head's `head_need` is claimed, or
//! disarmed by `close`), so a wake that comes between the re-check and the sleep is not lost
//! either. A release that finds `head_need` already claimed (0) wakes nobody: its RMW came
//! before the head's next re-check (or it would read the re-armed need), so the head sees its
//! permits. So a head that running threads keep beating is woken at most once per arming, not
//! once per release. Likewise a release that finds WAKING set wakes nobody on the queue: the
//! counted waiter that clears WAKING next (woken, or on its way: the bump changed its futex
//! word) re-checks `state` with an RMW after the clear, so it sees those permits and passes on
//! what it does not need. WAKING is set only by a CAS that sees the count above 0, and every
//! counted waiter leaves `sleep_in_queue` through the clear, so it never stays set for nobody.
//!
//! **The head's place passed on.** A served head that finds waiters queued keeps HEAD set and
//! sets HANDOFF with WAKING (a CAS that sees the count above 0, as for WAKING alone). HANDOFF
//! is cleared with WAKING, in one RMW, so exactly one counted waiter finds it, and there is
//! one: the argument above. That waiter is the head from then on, HEAD never having been
//! clear; meanwhile a release wakes nobody on the queue (HEAD is set; the stale `head_need`
//! it may claim is re-armed by the new head, which re-checks `state` after arming). A head
//! that finds the count gone to 0 (its queued waiter timed out in between) clears HEAD itself
//! and wakes as `head_left` does. A waiter handed the place that times out resigns it as any
//! head does.
//!
//! **Fairness.** The first waiter that finds too few permits becomes the *head*; the others
//! queue behind it. While the head waits, running threads still take permits (barging: a
//! permit goes to whoever is on a CPU, not through a futex wake and a context switch to the
//! head), and a release that covers the head's need wakes it to compete. Once the head has
//! slept and has been the head for 0.5 ms (`STARVATION_LIMIT`, the mutex's figure), its next
//! re-check sets RESERVED: from then on no other acquire (new or queued, `try_acquire`
//! included) takes a permit, releases accumulate until the head's request is met, and the head
//! is woken exactly then. The head's first sleeps end at the 0.5 ms mark even if no release
//! wakes it, so it reserves in time. A waiting `acquire_many(n)` therefore never starves
//! behind a stream of `acquire(1)`: once it is the head it is served within about 0.5 ms plus
//! the time until `n` permits have been released. A served head passes its place to a waiter
//! queued behind it (above), so a running thread that finds no permit queues behind the woken
//! waiter instead of becoming the next head before it: the heads come from the queue in the
//! order the kernel wakes it (FIFO on Linux), except that a waiter registering just as the
//! place is passed (its sleep finds the generation bumped and returns at once) may clear
//! WAKING before the woken one and take the place. A running thread may still take free permits
//! past the head and the queue until the head reserves (tokio's semaphore is strictly FIFO;
//! it keeps a queue in memory, this one keeps 20 bytes). Under loom, which has no clock for
//! 0.5 ms, a head counts as old as soon as it has slept once (a futile wake, or the model
//! clock firing), so the models reach both the barging and the reserved mode.
//!
//! **Spinning.** A newcomer does not busy-wait: it yields 2 rounds, then sleeps and waits its
//! turn (`SpinWait::semaphore_newcomer`). Polling would catch a permit that a running thread
//! cycles between its release and its next acquire, and move it to the other CPU on nearly
//! every operation. A newcomer that finds no permit in existence (`total` is 0), no head and
//! nobody queued yields the whole schedule's 7 rounds (`SpinWait::semaphore_first_waiter`): its
//! permit can only come from another thread's `add_permits`, a hand-off from a thread that runs
//! now, and about a wake-up's time of yields catches it without a sleep. A head woken from its
//! sleep (or handed the place) that finds the permits taken by a barger runs the busy-wait
//! rounds and 2 yields before sleeping again (`SpinWait::woken_semaphore_head`): on a machine
//! where a wake-up costs about 10 µs, the barger's short hold is over first (`docs/design.md`,
//! Semaphore). No spinning while a head has reserved.
//!
//! **Timeouts.** A timed acquire looks at its deadline before it spins, so a zero timeout or
//! a passed deadline costs about what `try_acquire` costs (and, like it, takes free permits).
//! A waiter that times out passes on what it may hold: a head gives up its place (and its
//! reservation) and wakes the queue as a served head does; a queued waiter that may have
//! swallowed a queue wake wakes another queued waiter if the permits are free for the queue
//! (`docs/loom.md`, "Timed paths audit").
//!
//! **Orderings.** The sleep handshake above (AcqRel RMWs of `state`); the site comments of
//! the handshake say which side of it they are. The acquiring CASes are Acquire and the
//! release `fetch_add` Release, so a permit's previous holder happens-before its next. Flag
//! and count changes that publish nothing (`forget_permits`' CAS, `queued` and its WAKING,
//! close's generation bump, arming and claiming `head_need`) are Relaxed: what they announce is
//! published by the RMW of `state` that follows them, and the futex checks its word under its
//! own lock. Passing the head's place is a Release CAS of `queued`, and the clear that finds
//! HANDOFF is Acquire: the old head's arming of `head_need` happens before the new head's. A
//! queue wake's generation bump is Release, read with Acquire before a waiter
//! registers: a waiter that sees the bump registers after the WAKING that came with it, so it
//! is not one of the waiters that WAKING counts on to clear it. `total`
//! is lowered with Release after the permits left `state` (or the permit), and raised with
//! Acquire before they enter `state`, so an `add_permits` that counts a forget's decrement
//! comes after the forget in `state`'s order too.
//!
//! **Seeded bugs** (`cfg(atomsync_seeded_bug)`, for the loom CI check): a release wakes
//! nobody; a head that times out frees its reservation but does not wake the queue.

use super::AcquireError;
use crate::futex;
use crate::shim::AtomicU32;
use crate::spin::SpinWait;
use crate::stats::Primitive;
use std::sync::atomic::Ordering::{AcqRel, Acquire, Relaxed, Release};
use std::time::{Duration, Instant};

pub(super) const CLOSED: u32 = 1;
pub(super) const HEAD: u32 = 1 << 1;
pub(super) const RESERVED: u32 = 1 << 2;
pub(super) const PERMIT_SHIFT: u32 = 3;
/// MAX_PERMITS: the whole permit field. No release can overflow it (held permits count
/// against the maximum, `mod.rs`, Limits).
pub(super) const MAX: u32 = u32::MAX >> PERMIT_SHIFT;

/// In `queued` (whose count is far below it): a queue wake is in flight (module docs).
const WAKING: u32 = 1 << 31;
/// In `queued`, only with WAKING: the head's place is passed on with the wake; the waiter that
/// clears WAKING becomes the head (module docs, Fairness).
const HANDOFF: u32 = 1 << 30;
/// The count of `queued`, below its two flags.
const COUNT: u32 = HANDOFF - 1;
/// In `queued`: a queue wake in flight that carries the head's place.
const PASSING: u32 = WAKING | HANDOFF;

/// How long a head may be barged past before it reserves the permits (the mutex's figure).
const STARVATION_LIMIT: Duration = Duration::from_micros(500);

/// The available permits in `state`.
#[inline]
pub(super) fn permits(state: u32) -> u32 {
    state >> PERMIT_SHIFT
}

/// `state` with `n` permits taken out.
#[inline]
pub(super) fn without_permits(state: u32, n: u32) -> u32 {
    state - (n << PERMIT_SHIFT)
}

/// A counting semaphore; 20 bytes, `const`-constructible.
///
/// The uncontended acquire is one CAS and the release one `fetch_add` (no system call while
/// nobody sleeps). **Fairness**: the first waiter that finds too few permits becomes the head;
/// running threads may still take permits while it waits (barging), but once it has waited
/// about 0.5 ms it reserves them: no other acquire (`try_acquire` included) takes any until it
/// is served, and it is woken as soon as releases cover its request. So `acquire_many(n)`
/// never starves behind a stream of `acquire(1)`. A served head passes its place to the
/// waiter queued behind it that the kernel wakes first (FIFO on Linux), so heads come from the
/// queue in order, though running threads may take free permits past them. Timed acquires
/// return `Err(AcquireError::TimedOut)` never before their deadline.
///
/// ```
/// use atomsync::Semaphore;
/// static SLOTS: Semaphore = Semaphore::new(3);
/// let permit = SLOTS.acquire_many(2).unwrap();
/// assert_eq!(SLOTS.available_permits(), 1);
/// drop(permit);
/// assert_eq!(SLOTS.available_permits(), 3);
/// ```
pub struct Semaphore {
    /// CLOSED | HEAD | RESERVED | permits << PERMIT_SHIFT.
    pub(super) state: AtomicU32,
    /// The head's futex word: the permits it asks for while armed, 0 once a release claimed
    /// its wake (not reset when a head leaves: see `wake_head_slow`).
    pub(super) head_need: AtomicU32,
    /// Waiters registered to sleep on `queue`.
    pub(super) queued: AtomicU32,
    /// Generation counter; the futex word of the waiters behind the head.
    pub(super) queue: AtomicU32,
    /// Permits that exist: available (in `state`) plus held by permits; at most MAX. Only
    /// `add_permits`, `forget_permits` and a permit's `forget` change it (`mod.rs`, Limits).
    pub(super) total: AtomicU32,
}

/// A head's own clock: when it may reserve, and whether it has slept yet (a head reserves
/// only after a sleep: a barging thread may well have served it before that).
struct HeadClock {
    reserve_at: Instant,
    slept: bool,
}

impl HeadClock {
    fn start() -> Self {
        Self { reserve_at: Instant::now() + STARVATION_LIMIT, slept: false }
    }

    /// Has the head waited long enough to reserve? Under loom (no clock for 0.5 ms) one sleep
    /// is enough: it ended in a futile wake, or at the model clock (module docs, Fairness).
    fn is_old(&self) -> bool {
        self.slept && (cfg!(loom) || Instant::now() >= self.reserve_at)
    }

    /// The deadline of the head's next sleep: its own, and while unreserved the reservation
    /// time, so that it reserves in time even if no release wakes it.
    fn sleep_until(&self, deadline: Option<Instant>, reserved: bool) -> Option<Instant> {
        if reserved {
            deadline
        } else {
            Some(deadline.map_or(self.reserve_at, |deadline| deadline.min(self.reserve_at)))
        }
    }
}

impl Semaphore {
    /// The slow path of acquire: spin, become the head or queue behind it, sleep. Takes `need`
    /// (at least 1) permits.
    #[cold]
    pub(super) fn acquire_contended(
        &self,
        need: u32,
        deadline: Option<Instant>,
    ) -> Result<(), AcquireError> {
        stat!(Semaphore, Contended);
        let mut state = self.state.load(Relaxed);
        // Yields only, until woken as the head; more of them for the first waiter of a hand-off:
        // no permit exists, so ours can only come from `add_permits` (module docs, Spinning).
        // Relaxed: hints; a stale value only picks the other schedule.
        let hand_off =
            state & HEAD == 0 && self.queued.load(Relaxed) == 0 && self.total.load(Relaxed) == 0;
        let mut spin = if hand_off {
            SpinWait::semaphore_first_waiter()
        } else {
            SpinWait::semaphore_newcomer()
        };
        // Some while this waiter is the head.
        let mut head: Option<HeadClock> = None;
        // Has this waiter registered on the queue (so a queue wake may have been spent on it)?
        let mut was_queued = false;
        loop {
            if state & CLOSED != 0 {
                // `close` woke everybody; a head leaves HEAD set, which no longer matters.
                return Err(AcquireError::Closed);
            }

            // 1. Enough permits and nobody else's reservation: take them (the head also gives
            //    up RESERVED in the same CAS, and HEAD or, with waiters queued, its place).
            if (state & RESERVED == 0 || head.is_some()) && permits(state) >= need {
                match self.take_as_waiter(state, need, head.is_some()) {
                    Ok(()) => return Ok(()),
                    Err(actual) => state = actual,
                }
                continue;
            }

            // 2. Out of time: give up, passing on what we might have swallowed. Checked before
            //    any spinning, so a zero timeout or a passed deadline costs about a try_acquire.
            if futex::deadline_passed(deadline) {
                if head.is_some() {
                    self.resign_head();
                } else if was_queued {
                    self.pass_on_queue_wake();
                }
                stat!(Semaphore, Timeout);
                return Err(AcquireError::TimedOut);
            }

            // 3. Nobody reserved: permits may come back soon, spin a little (a head only after
            //    a wake: it became the head when its spin was used up).
            if state & RESERVED == 0 && spin.spin() {
                state = self.state.load(Relaxed);
                continue;
            }

            // 4. No head: become the head.
            if state & HEAD == 0 {
                match self.become_head(state) {
                    Ok(()) => {
                        head = Some(HeadClock::start());
                        state |= HEAD;
                    }
                    Err(actual) => state = actual,
                }
                continue;
            }

            // 5. The head: sleep on `head_need` until a release covers `need` (or close).
            if let Some(clock) = &mut head {
                self.sleep_as_head(state, need, deadline, clock);
                spin = SpinWait::woken_semaphore_head();
                state = self.state.load(Relaxed);
                continue;
            }

            // 6. Behind somebody else's head: register and sleep on the queue while HEAD is set;
            //    we may come back as the head, its place passed on to us.
            was_queued = true;
            if self.sleep_in_queue(need, deadline) {
                head = Some(HeadClock::start());
                spin = SpinWait::woken_semaphore_head();
            } else {
                spin.reset();
            }
            state = self.state.load(Relaxed);
        }
    }

    /// Step 1 of `acquire_contended`: takes `need` permits out of `state`; the actual state if
    /// the CAS failed. A waiter that is not the head leaves the flags alone.
    fn take_as_waiter(&self, state: u32, need: u32, is_head: bool) -> Result<(), u32> {
        if is_head {
            return self.take_as_head(state, need);
        }
        // Acquire: for the permits, as the fast path's CAS (we publish nothing).
        self.state.compare_exchange_weak(state, without_permits(state, need), Acquire, Relaxed)?;
        Ok(())
    }

    /// Step 1 for the head: takes the permits and clears RESERVED in one CAS, and HEAD too if
    /// nobody is queued (then wakes the queue as `head_left`); if somebody is, it keeps HEAD
    /// set and passes its place on (`pass_head`).
    fn take_as_head(&self, state: u32, need: u32) -> Result<(), u32> {
        // Relaxed: a stale 0 only sends us the old way (clear HEAD, then `head_left`), which
        // is right whoever is queued; a stale count is checked again by `pass_head`'s CAS.
        let pass = self.queued.load(Relaxed) & COUNT != 0;
        let leaving = if pass { RESERVED } else { HEAD | RESERVED };
        let new = without_permits(state, need) & !leaving;
        // AcqRel: Acquire for the permits (as the fast path's CAS); Release so that a queued
        // waiter's re-check RMW that reads our clearing of HEAD is ordered after it (see
        // `head_left`).
        self.state.compare_exchange_weak(state, new, AcqRel, Relaxed)?;
        // A hand-off: the permits it had reserved (not a race it won).
        stat!(Semaphore, HandOff, state & RESERVED != 0);
        if pass {
            self.pass_head(new);
        } else {
            self.head_left(new);
        }
        Ok(())
    }

    /// A served head that left HEAD set (`state` is the word it left) passes its place to a
    /// queued waiter: it marks HANDOFF with a queue wake (or with the one in flight), and the
    /// waiter that clears WAKING becomes the head. Running threads meanwhile see HEAD and
    /// queue behind it, so the woken waiter is not overtaken as the next head (module docs,
    /// Fairness). If nobody is counted any more, HEAD is cleared and the queue woken as
    /// `head_left` does.
    fn pass_head(&self, state: u32) {
        // Relaxed: the CAS below decides.
        let mut queued = self.queued.load(Relaxed);
        loop {
            if queued & COUNT == 0 {
                // AcqRel: as the clearing of HEAD in `take_as_head` (see `head_left`).
                self.state.fetch_and(!HEAD, AcqRel);
                // Wakes as many as `state` had permits left (at least one): only waiters
                // counted since we looked, whom HEAD sent to sleep.
                return self.head_left(state);
            }
            // Release: the new head's `fetch_and` acquires it, so what we did as the head
            // (our arming of `head_need`) happens before what it does. WAKING is set only
            // while somebody is counted, so a counted waiter clears it, and takes our place.
            match self.queued.compare_exchange_weak(queued, queued | PASSING, Release, Relaxed) {
                Ok(_) if queued & WAKING != 0 => return,
                Ok(_) => return self.wake_queue(permits(state).max(1).min(queued & COUNT)),
                Err(actual) => queued = actual,
            }
        }
    }

    /// Step 4 of `acquire_contended`: CAS HEAD on; the actual state if the CAS failed.
    fn become_head(&self, state: u32) -> Result<(), u32> {
        // AcqRel: in the modification order of `state`, with the releasers' RMWs.
        self.state.compare_exchange_weak(state, state | HEAD, AcqRel, Relaxed)?;
        Ok(())
    }

    /// Step 5 of `acquire_contended`: the head arms `head_need`, re-checks that `state` is
    /// still `state` (setting RESERVED if it is old enough) and sleeps.
    fn sleep_as_head(
        &self,
        state: u32,
        need: u32,
        deadline: Option<Instant>,
        clock: &mut HeadClock,
    ) {
        let reserve = state & RESERVED == 0 && clock.is_old();
        let new = if reserve { state | RESERVED } else { state };
        // Relaxed: published by the re-check RMW below, which a releaser that comes later
        // acquires (the head's side of the handshake).
        self.head_need.store(need, Relaxed);
        // AcqRel: the re-check RMW (module docs). A failed CAS is no RMW: then we do not sleep.
        if self.state.compare_exchange(state, new, AcqRel, Relaxed).is_ok() {
            let until = clock.sleep_until(deadline, new & RESERVED != 0);
            futex::wait(&self.head_need, need, until, Primitive::Semaphore);
            clock.slept = true;
        }
    }

    /// Step 6 of `acquire_contended`: register on the queue and sleep on it while somebody
    /// else's HEAD is set. The waiter's side of the handshake with `release`, `head_left` and
    /// `close` (module docs). True if the head's place was passed on to us (`pass_head`).
    fn sleep_in_queue(&self, need: u32, deadline: Option<Instant>) -> bool {
        // Acquire: a generation not older than the last bump we saw; pairs with the bump's
        // Release (`wake_queue`).
        let generation = self.queue.load(Acquire);
        // Relaxed: published by the re-check RMW below (Release).
        self.queued.fetch_add(1, Relaxed);
        // AcqRel: the re-check RMW.
        let seen = self.state.fetch_add(0, AcqRel);
        if seen & (CLOSED | HEAD) == HEAD {
            futex::wait(&self.queue, generation, deadline, Primitive::Semaphore);
        }
        // Relaxed: a releaser that still counts us may wake us for nothing; harmless.
        self.queued.fetch_sub(1, Relaxed);
        // Acquire: pairs with `pass_head`'s Release when we become the head. Otherwise what
        // the clear says is published by the RMW of `state` that follows (Release).
        let flags = self.queued.fetch_and(!PASSING, Acquire);
        if flags & HANDOFF != 0 {
            // The head's place is ours, HEAD still set: nothing to pass on (a release while
            // HEAD is set serves the head, never the queue).
            return true;
        }
        if flags & WAKING != 0 {
            // AcqRel: as a release (an RMW of `state`, then the count): a release that saw
            // WAKING and woke nobody made its RMW before ours, so we see its permits.
            let state = self.state.fetch_add(0, AcqRel);
            if state & (CLOSED | HEAD) == 0 && permits(state) > need {
                self.wake_queue_once(permits(state) - need);
            }
        }
        false
    }

    /// After the head left (`state` is the word it left): wake queued waiters for the
    /// permits left, and at least one so that somebody becomes the next head; none if a queue
    /// wake is in flight (its waiter passes on).
    fn head_left(&self, state: u32) {
        // The count is read Relaxed in `wake_queue_once`: our clearing RMW of `state` acquired
        // every queued waiter's re-check RMW that came before it, and with it the waiter's
        // increment; a waiter whose re-check came after sees HEAD clear and does not sleep.
        self.wake_queue_once(permits(state).max(1));
    }

    /// A head that times out clears HEAD and RESERVED (so the permits it may have reserved are
    /// free again) and wakes the queue as `head_left` does.
    fn resign_head(&self) {
        let mut state = self.state.load(Relaxed);
        loop {
            if state & CLOSED != 0 {
                return;
            }
            let new = state & !(HEAD | RESERVED);
            // AcqRel: as the clearing of HEAD in `take_as_head`.
            match self.state.compare_exchange_weak(state, new, AcqRel, Relaxed) {
                Ok(_) => {
                    if cfg!(atomsync_seeded_bug) {
                        // The seeded timeout bug for the loom CI check: a timed-out head
                        // frees its reservation but does not pass the queue's turn on.
                        return;
                    }
                    return self.head_left(new);
                }
                Err(actual) => state = actual,
            }
        }
    }

    /// A queued waiter that gives up may have been the one a release woke: if the permits are
    /// free for the queue and others wait there, wake one of them instead.
    fn pass_on_queue_wake(&self) {
        // AcqRel, then Relaxed: as in `release` (an RMW, then the count).
        let state = self.state.fetch_add(0, AcqRel);
        if state & (CLOSED | HEAD) == 0 && permits(state) > 0 {
            self.wake_queue_once(1);
        }
    }

    /// Puts `n` permits into `state` and wakes whom they serve: a permit's drop, and
    /// `add_permits` once `total` counts them. Never panics: every permit is counted in
    /// `total`, so the available ones stay within MAX (`mod.rs`, Limits).
    pub(super) fn release(&self, n: u32) {
        // AcqRel: Release for the permits' next holder (pairs with the Acquire of the CASes
        // that take them); Acquire for the releaser's side of the sleep handshake: change
        // `state`, then read `head_need`/`queued` (module docs).
        let old = self.state.fetch_add(n << PERMIT_SHIFT, AcqRel);
        debug_assert!(permits(old) + n <= MAX, "held permits not counted in total");
        self.wake_after_release(old, n);
    }

    /// After `added` permits were put into a `state` that was `old`: wake the head if they
    /// cover its need, or up to `added` queued waiters if there is no head.
    #[inline]
    fn wake_after_release(&self, old: u32, added: u32) {
        if cfg!(atomsync_seeded_bug) {
            // The seeded bug for the loom CI check: a release that never wakes anybody.
            return;
        }
        if old & HEAD != 0 {
            return self.wake_head_slow(old, added);
        }
        // Relaxed: the handshake with the queued waiters (see `head_left`).
        let queued = self.queued.load(Relaxed);
        if queued != 0 && queued & WAKING == 0 {
            self.wake_queue_once(added);
        }
    }

    /// The release's path when a head waits: if the head is armed and the permits now cover
    /// its need, claim its wake and wake it. Not cold: with barging threads, every release
    /// while a head waits comes here (and usually finds the wake claimed already).
    fn wake_head_slow(&self, old: u32, added: u32) {
        // Relaxed: if the head's re-check RMW came before our RMW of `state`, we acquired it
        // and read its arming (or a later value); if it came after, the head sees our permits.
        // So a stale value (0: claimed, or before the first head; or a previous head's need:
        // it is not reset when a head leaves) only matters when the head re-checks after us,
        // and sees our permits.
        let need = self.head_need.load(Relaxed);
        if need != 0
            && permits(old) + added >= need
            // Relaxed: the futex checks its word under its own lock: a head that has not slept
            // yet finds it changed and returns; one asleep is woken below.
            && self.head_need.compare_exchange(need, 0, Relaxed, Relaxed).is_ok()
        {
            futex::wake_one(&self.head_need, Primitive::Semaphore);
        }
    }

    /// Marks a queue wake in flight (WAKING) and wakes up to `count` (at least 1) of the
    /// queued waiters, unless a wake is in flight already or nobody is queued. WAKING is set
    /// only while somebody is counted, so a counted waiter leaves `sleep_in_queue` after it
    /// and clears it: woken by us, or not asleep yet (our bump changes its futex word).
    #[cold]
    fn wake_queue_once(&self, count: u32) {
        debug_assert!(count > 0, "a queue wake in flight that wakes nobody would stay set");
        // Relaxed: the count changes with RMWs only; the CAS below decides.
        let mut queued = self.queued.load(Relaxed);
        loop {
            if queued == 0 || queued & WAKING != 0 {
                return;
            }
            // Relaxed: what the mark silences is published by the releases' RMWs of `state`.
            match self.queued.compare_exchange_weak(queued, queued | WAKING, Relaxed, Relaxed) {
                Ok(_) => return self.wake_queue(count.min(queued)),
                Err(actual) => queued = actual,
            }
        }
    }

    /// Bumps the queue generation and wakes up to `count` queued waiters.
    #[cold]
    fn wake_queue(&self, count: u32) {
        // Release: a waiter that reads this generation registers after our WAKING (so it is
        // not one of those the mark counts on). A waiter that read the old generation and has
        // not slept yet finds the futex value changed (the futex checks it under its own
        // lock, which our wake takes after).
        self.queue.fetch_add(1, Release);
        for _ in 0..count {
            if !futex::wake_one(&self.queue, Primitive::Semaphore) {
                break;
            }
        }
    }

    /// The transition behind `close`: set CLOSED, wake everybody on both futex words (once).
    pub(super) fn close_transition(&self) {
        // AcqRel: a waiter whose re-check RMW of `state` came before this saw no CLOSED and
        // will sleep; we acquire that RMW, so its arming of `head_need` or its read of the
        // queue generation happened before our change of that word below, which makes its
        // sleep return.
        let old = self.state.fetch_or(CLOSED, AcqRel);
        if old & CLOSED != 0 {
            return;
        }
        // Relaxed: the futex checks the word under its own lock, after our change or before
        // our wake; either way the sleeper returns.
        self.head_need.store(0, Relaxed);
        futex::wake_all(&self.head_need, Primitive::Semaphore);
        self.queue.fetch_add(1, Relaxed);
        futex::wake_all(&self.queue, Primitive::Semaphore);
    }

    /// `n` permits stopped existing (forgotten, after they left `state` or their permit).
    #[inline]
    pub(super) fn forget_total(&self, n: u32) {
        // Release: pairs with the Acquire of `add_permits` (module docs, Orderings).
        self.total.fetch_sub(n, Release);
    }
}

#[cfg(all(test, not(loom)))]
mod tests;
