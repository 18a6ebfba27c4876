//! Unit tests of the mutex word's transitions (they read and set `state` directly).

use super::*;
use std::cell::Cell;

thread_local! {
    /// Spin rounds this thread has taken in `lock_contended` (unit tests only).
    pub(super) static SPIN_ROUNDS: Cell<u32> = const { Cell::new(0) };
    /// WOKEN claims of this thread while spinning, and give-ups before a back-off.
    pub(super) static WOKEN_CLAIMED: Cell<u32> = const { Cell::new(0) };
    pub(super) static WOKEN_GIVEN_UP: Cell<u32> = const { Cell::new(0) };
}

/// Runs `lock` on a held `raw` whose word is `state` (LOCKED set) until the contender has
/// registered to sleep, then releases it; returns the contender's spin rounds, back-offs, WOKEN
/// claims and give-ups.
fn contend_until_registered(state: u32) -> (u32, u32, u32, u32) {
    let raw = RawMutex::new();
    raw.state.store(state, Relaxed);
    std::thread::scope(|scope| {
        let contender = scope.spawn(|| {
            raw.lock();
            let seen = (
                SPIN_ROUNDS.with(Cell::get),
                crate::spin::BACK_OFFS.with(Cell::get),
                WOKEN_CLAIMED.with(Cell::get),
                WOKEN_GIVEN_UP.with(Cell::get),
            );
            // SAFETY: held since `lock` above.
            unsafe { raw.unlock() };
            seen
        });
        // The contender registers (the count goes up by one) once its schedule has run.
        let give_up_at = Instant::now() + Duration::from_secs(20);
        while waiters(raw.state.load(Relaxed)) <= waiters(state) {
            assert!(Instant::now() < give_up_at, "the contender never registered");
            std::thread::yield_now();
        }
        // Take the made-up sleepers out (the contender sleeps on the word, which this does not
        // wake), then unlock: nobody else holds WOKEN, so the unlock wakes the contender.
        raw.state.fetch_sub(waiters(state) * WAITER, Relaxed);
        // SAFETY: the lock was "held" by this test since the store above.
        unsafe { raw.unlock() };
        let seen = contender.join().unwrap();
        assert_eq!(raw.state.load(Relaxed), UNLOCKED);
        seen
    })
}

#[test]
fn a_contender_backs_off_only_while_no_sleeper_is_counted() {
    // Nobody counted: 2 busy-wait rounds, 2 yields, 5 back-offs, then the sleep; no WOKEN
    // claimed (no sleeper to keep an unlock from waking).
    assert_eq!(contend_until_registered(LOCKED), (2 + 2 + 5, 5, 0, 0));
    // A sleeper counted: the back-off rounds yield instead, and the contender claims WOKEN (so
    // that the owner's unlock does not wake the sleeper) and keeps it while it stays awake.
    let (rounds, back_offs, claimed, given_up) = contend_until_registered(LOCKED | WAITER);
    assert_eq!((rounds, back_offs, given_up), (2 + 2 + 5, 0, 0));
    assert!(claimed >= 1, "no WOKEN claim while a sleeper was counted");
}

#[test]
fn a_contender_gives_its_woken_up_before_it_backs_off() {
    let raw = RawMutex::new();
    // Held, WOKEN ours (claimed while a sleeper was counted, who has left since), no sleeper
    // counted now: the schedule's next round is a back-off.
    raw.state.store(LOCKED | WOKEN, Relaxed);
    let mut me = Contender::new(false);
    me.owns_woken = true;
    let mut spin = SpinWait::exclusive(Primitive::Mutex);
    for _ in 0..2 + 2 {
        assert!(spin.spin());
    }
    WOKEN_GIVEN_UP.with(|count| count.set(0));
    let start = Instant::now();
    let state = raw.spin_round(LOCKED | WOKEN, &mut me, &mut spin);
    // It gave WOKEN up in the word and in its own record, then slept its back-off.
    assert_eq!(state, Some(LOCKED));
    assert_eq!(raw.state.load(Relaxed), LOCKED);
    assert!(!me.owns_woken);
    assert_eq!(WOKEN_GIVEN_UP.with(Cell::get), 1);
    if cfg!(target_os = "linux") {
        assert!(start.elapsed() >= crate::spin::BACK_OFF);
    }
    // With a sleeper counted it keeps WOKEN: the round is a yield, and it stays awake.
    raw.state.store(LOCKED | WOKEN | WAITER, Relaxed);
    me.owns_woken = true;
    let state = raw.spin_round(LOCKED | WOKEN | WAITER, &mut me, &mut spin);
    assert_eq!(state, Some(LOCKED | WOKEN | WAITER));
    assert!(me.owns_woken);
    assert_eq!(WOKEN_GIVEN_UP.with(Cell::get), 1);
    // A HANDOFF ends the spinning: the caller sleeps (and claims it if it may).
    assert_eq!(raw.spin_round(LOCKED | HANDOFF, &mut me, &mut spin), None);
}

#[test]
fn a_passed_deadline_gives_up_without_spinning() {
    let raw = RawMutex::new();
    raw.lock();
    let past = Instant::now();
    SPIN_ROUNDS.with(|rounds| rounds.set(0));
    assert!(!raw.try_lock_until(Some(past)));
    assert!(!raw.try_lock_until(futex::deadline_after(Duration::ZERO)));
    assert_eq!(SPIN_ROUNDS.with(Cell::get), 0, "a passed deadline ran the spin schedule");
    // A future deadline still spins before it sleeps.
    assert!(!raw.try_lock_until(futex::deadline_after(Duration::from_millis(1))));
    assert!(SPIN_ROUNDS.with(Cell::get) > 0);
    // SAFETY: held since `lock` above.
    unsafe { raw.unlock() };
    assert_eq!(raw.state.load(Relaxed), UNLOCKED);
}

#[test]
fn state_bits_do_not_overlap() {
    let flags = [LOCKED, WOKEN, HANDOFF, STARVING, REQUEUED];
    let all = flags.iter().fold(0, |acc, flag| {
        assert_eq!(acc & flag, 0);
        acc | flag
    });
    assert!(all < WAITER);
    // The flags never read as waiters, and the count reads back whole.
    assert_eq!(waiters(all), 0);
    assert_eq!(waiters(all | (3 * WAITER)), 3);
}

#[test]
fn uncontended_round_trip_leaves_the_word_clear() {
    let raw = RawMutex::new();
    raw.lock();
    assert_eq!(raw.state.load(Relaxed), LOCKED);
    // SAFETY: held.
    unsafe { raw.unlock() };
    assert_eq!(raw.state.load(Relaxed), UNLOCKED);
}

#[test]
fn fast_paths_keep_the_other_bits() {
    let raw = RawMutex::new();
    // A sleeper counted and woken, not yet running: the fast paths take and release the
    // lock around it and leave its bits alone (WOKEN set: no wake is due).
    raw.state.store(WOKEN | WAITER, Relaxed);
    raw.lock();
    assert_eq!(raw.state.load(Relaxed), LOCKED | WOKEN | WAITER);
    // SAFETY: held.
    unsafe { raw.unlock() };
    assert_eq!(raw.state.load(Relaxed), WOKEN | WAITER);
}

#[test]
fn requeued_unlock_with_nobody_asleep_clears_requeued() {
    let raw = RawMutex::new();
    raw.lock();
    raw.mark_requeued();
    // SAFETY: held. Nobody sleeps on the word: the wake after the release finds nobody,
    // so the unlock takes the lock back, wakes again while holding it, and clears the bit.
    unsafe { raw.unlock() };
    assert_eq!(raw.state.load(Relaxed), UNLOCKED);
}

#[test]
#[cfg(debug_assertions)]
#[should_panic(expected = "unlock of an unowned mutex")]
fn unlock_of_an_unowned_mutex_panics_in_debug_builds() {
    let raw = RawMutex::new();
    // SAFETY: deliberately breaks `unlock`'s contract to check its debug assertion; the
    // word is a plain atomic and nothing else is at stake.
    unsafe { raw.unlock() };
}

#[test]
fn fair_release_without_sleepers_is_a_plain_release() {
    let raw = RawMutex::new();
    raw.lock();
    // SAFETY: held.
    unsafe { raw.unlock_fair() };
    assert_eq!(raw.state.load(Relaxed), UNLOCKED);
}

#[test]
fn a_woken_waiter_asks_for_a_hand_off_only_past_the_starvation_limit() {
    // (woken from a sleep before, first slept this long ago, sets STARVING)
    let cases = [
        (true, STARVATION_LIMIT * 4, true),
        (true, Duration::ZERO, false),
        (false, STARVATION_LIMIT * 4, false),
    ];
    for (woken, slept_since, starving) in cases {
        let raw = RawMutex::new();
        raw.state.store(LOCKED, Relaxed);
        let mut me = Contender::new(false);
        me.woken = woken;
        me.since = Some(Instant::now() - slept_since);
        // A passed deadline: the futex wait returns at once, timed out.
        let after = raw.sleep_counted(LOCKED, &mut me, Some(Instant::now())).unwrap();
        assert_eq!(after & STARVING != 0, starving, "woken {woken}, since {slept_since:?}");
        assert_eq!(waiters(after), 0);
    }
}

#[cfg(target_os = "linux")]
/// Returns once the thread `tid` sleeps in a futex call on `word` (read from
/// `/proc/self/task/<tid>/syscall`: the call's number, then the word's address); where that
/// cannot be read, returns after 50 ms and the test below checks less.
fn wait_until_in_futex_on(tid: i32, word: &crate::shim::AtomicU32) {
    let address = word as *const crate::shim::AtomicU32 as u64;
    let give_up = Instant::now() + Duration::from_secs(20);
    loop {
        let Ok(line) = std::fs::read_to_string(format!("/proc/self/task/{tid}/syscall")) else {
            return std::thread::sleep(Duration::from_millis(50));
        };
        let mut fields = line.split_whitespace();
        let number = fields.next().and_then(|field| field.parse::<libc::c_long>().ok());
        let on = fields
            .next()
            .and_then(|field| u64::from_str_radix(field.trim_start_matches("0x"), 16).ok());
        if number == Some(libc::SYS_futex) && on == Some(address) {
            return;
        }
        assert!(Instant::now() < give_up, "the sleeper never slept on the word: {line}");
        // The poll's interval while waiting for the thread's real state.
        std::thread::sleep(Duration::from_micros(200));
    }
}

#[test]
#[cfg(target_os = "linux")]
fn a_requeued_unlock_that_wakes_a_sleeper_frees_the_lock_and_keeps_requeued() {
    // The REQUEUED branch of `unlock_slow` (a slow unlock, not fair, no STARVING), with a
    // thread asleep on the word as a requeued condvar waiter sleeps there (uncounted): the
    // owner wakes it while it still holds the lock, then releases, keeping REQUEUED for the
    // next owner to clear (other requeued threads may sleep on).
    let raw = RawMutex::new();
    raw.lock();
    raw.mark_requeued();
    std::thread::scope(|scope| {
        let (tid_tx, tid_rx) = std::sync::mpsc::channel();
        let raw = &raw;
        let sleeper = scope.spawn(move || {
            // SAFETY: `gettid` has no preconditions.
            tid_tx.send(unsafe { libc::gettid() }).unwrap();
            futex::wait(&raw.state, LOCKED | REQUEUED, None, Primitive::Mutex)
        });
        wait_until_in_futex_on(tid_rx.recv().unwrap(), &raw.state);
        raw.unlock_slow(false);
        assert_eq!(raw.state.load(Relaxed), REQUEUED, "released, REQUEUED kept");
        assert_eq!(sleeper.join().unwrap(), futex::Wait::Woken);
    });
}

#[test]
fn a_requeued_unlock_whose_wake_finds_nobody_still_wakes_a_counted_waiter() {
    // The same branch when nobody sleeps on the word yet but a waiter is counted (registered,
    // on its way to its futex wait): the owner clears REQUEUED and, released, wakes the
    // counted waiter the plain way (WOKEN marks it as on its way), so a waiter that fell
    // asleep between the owner's wake of nobody and its release is not left asleep.
    let raw = RawMutex::new();
    raw.state.store(LOCKED | REQUEUED | WAITER, Relaxed);
    raw.unlock_slow(false);
    assert_eq!(raw.state.load(Relaxed), WAITER | WOKEN);
}
