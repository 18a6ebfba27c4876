//! Unit tests of the Semaphore's protocol (`raw.rs`): the words after a step and the head's
//! clock, as a single thread can reach them. In a file of their own so that `raw.rs` stays
//! under 700 lines.

use super::*;

// The flags sit below the permit field.
const _: () = assert!((CLOSED | HEAD | RESERVED) >> PERMIT_SHIFT == 0);

#[test]
fn the_permit_field_holds_max_permits_exactly() {
    assert_eq!(permits(u32::MAX), MAX);
    assert_eq!(Semaphore::MAX_PERMITS, (1 << 29) - 1);
    // A release of every permit into an empty word leaves the flags alone.
    assert_eq!((HEAD | RESERVED) + (MAX << PERMIT_SHIFT), !CLOSED);
}

#[test]
fn total_counts_available_and_held_permits() {
    let semaphore = Semaphore::new(5);
    let total = || semaphore.total.load(Relaxed);
    let mut held = semaphore.acquire_many(3).unwrap();
    assert_eq!((semaphore.available_permits(), total()), (2, 5));
    held.split(1).unwrap().forget();
    assert_eq!((semaphore.available_permits(), total()), (2, 4));
    semaphore.add_permits(7);
    assert_eq!((semaphore.available_permits(), total()), (9, 11));
    assert_eq!(semaphore.forget_permits(4), 4);
    assert_eq!((semaphore.available_permits(), total()), (5, 7));
    drop(held);
    assert_eq!((semaphore.available_permits(), total()), (7, 7));
    semaphore.acquire_many(0).unwrap().forget();
    assert_eq!(total(), 7);
}

/// A head is old enough to reserve only once it has slept *and* its 0.5 ms are up.
#[test]
fn a_head_reserves_only_after_a_sleep_and_its_time() {
    let before = Instant::now();
    let clock = HeadClock::start();
    assert!(clock.reserve_at >= before + STARVATION_LIMIT);
    assert!(!clock.slept);
    let hour = Duration::from_secs(3600);
    let young = HeadClock { reserve_at: before + hour, slept: true };
    assert!(!young.is_old(), "slept, but its time is not up");
    let sleepless = HeadClock { reserve_at: before - Duration::from_millis(1), slept: false };
    assert!(!sleepless.is_old(), "its time is up, but it never slept");
    let old = HeadClock { reserve_at: before - Duration::from_millis(1), slept: true };
    assert!(old.is_old());
}

/// A young head re-checks without reserving: running threads may still take permits.
#[test]
fn a_young_head_sleeps_without_reserving() {
    let semaphore = Semaphore::new(0);
    semaphore.become_head(0).unwrap();
    let mut clock = HeadClock::start();
    // A deadline already passed: the futex wait returns at once.
    semaphore.sleep_as_head(HEAD, 2, Some(Instant::now()), &mut clock);
    assert!(clock.slept);
    assert_eq!(semaphore.state.load(Relaxed), HEAD, "no RESERVED");
    assert_eq!(semaphore.head_need.load(Relaxed), 2, "armed");
    semaphore.release(1);
    assert!(semaphore.try_acquire().is_ok(), "barging past an unreserved head");
}

/// A served head with somebody queued keeps HEAD set and marks the queue wake that
/// carries its place; the permits it leaves decide how many it wakes (at least one).
#[test]
fn a_served_head_with_a_waiter_queued_passes_its_place() {
    let semaphore = Semaphore::new(0);
    semaphore.queued.store(2, Relaxed); // two registered waiters
    let state = (1 << PERMIT_SHIFT) | HEAD | RESERVED;
    semaphore.state.store(state, Relaxed);
    assert_eq!(semaphore.take_as_waiter(state, 1, true), Ok(()));
    assert_eq!(semaphore.state.load(Relaxed), HEAD, "HEAD kept, RESERVED cleared");
    assert_eq!(semaphore.queued.load(Relaxed), 2 | WAKING | HANDOFF);
    assert_eq!(semaphore.queue.load(Relaxed), 1, "one queue wake");
}

/// With nobody queued, a served head clears HEAD as it leaves, and no wake is marked.
#[test]
fn a_served_head_with_nobody_queued_clears_head() {
    let semaphore = Semaphore::new(0);
    let state = (2 << PERMIT_SHIFT) | HEAD;
    semaphore.state.store(state, Relaxed);
    assert_eq!(semaphore.take_as_waiter(state, 1, true), Ok(()));
    assert_eq!(semaphore.state.load(Relaxed), 1 << PERMIT_SHIFT);
    assert_eq!(semaphore.queued.load(Relaxed), 0);
    assert_eq!(semaphore.queue.load(Relaxed), 0);
}

/// `pass_head` that finds the count gone to 0 (the queued waiter timed out) clears HEAD
/// itself; one that finds a queue wake in flight adds HANDOFF to it without a second wake.
#[test]
fn passing_the_head_place_to_nobody_or_to_a_wake_in_flight() {
    let semaphore = Semaphore::new(0);
    semaphore.state.store(HEAD, Relaxed);
    semaphore.pass_head(HEAD);
    assert_eq!(semaphore.state.load(Relaxed), 0, "HEAD cleared: nobody to take it");

    semaphore.state.store(HEAD, Relaxed);
    semaphore.queued.store(1 | WAKING, Relaxed);
    semaphore.pass_head(HEAD);
    assert_eq!(semaphore.state.load(Relaxed), HEAD);
    assert_eq!(semaphore.queued.load(Relaxed), 1 | WAKING | HANDOFF);
    assert_eq!(semaphore.queue.load(Relaxed), 0, "the wake in flight carries it");
}

/// The counted waiter that clears a WAKING marked with HANDOFF becomes the head; the flags
/// are gone and its count with them.
#[test]
fn the_waiter_that_clears_a_handoff_becomes_the_head() {
    let semaphore = Semaphore::new(0);
    // HEAD clear, so the waiter does not sleep; as if woken at once.
    semaphore.queued.store(WAKING | HANDOFF, Relaxed);
    assert!(semaphore.sleep_in_queue(1, None));
    assert_eq!(semaphore.queued.load(Relaxed), 0);
    semaphore.queued.store(WAKING, Relaxed);
    assert!(!semaphore.sleep_in_queue(1, None), "a plain queue wake passes no place");
    assert_eq!(semaphore.queued.load(Relaxed), 0);
}

#[test]
fn uncontended_round_trip_leaves_the_word_clean() {
    let semaphore = Semaphore::new(3);
    let permit = semaphore.acquire_many(3).unwrap();
    assert_eq!(semaphore.state.load(Relaxed), 0);
    drop(permit);
    assert_eq!(semaphore.state.load(Relaxed), 3 << PERMIT_SHIFT);
    assert_eq!(semaphore.queued.load(Relaxed), 0);
}
