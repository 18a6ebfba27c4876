//! Unit tests of the RwLock's protocol (`raw.rs`): the state encoding and transitions a
//! single thread can reach. In a file of their own so that `raw.rs` stays under 700 lines.

use super::wake::WRITER_ASLEEP;
use super::*;

#[test]
fn state_bits_do_not_overlap() {
    let flags = [WRITER_WOKEN, HANDOFF, UPGRADABLE, UPGRADING, READERS_WAITING, WRITERS_WAITING];
    let all = flags.iter().fold(MASK, |acc, flag| {
        assert_eq!(acc & flag, 0);
        acc | flag
    });
    assert_eq!(all, u32::MAX);
}

#[test]
fn uncontended_round_trips_leave_the_word_clear() {
    let raw = RawRwLock::new();
    raw.lock_exclusive();
    // SAFETY: held.
    unsafe { raw.unlock_exclusive() };
    raw.lock_shared();
    // SAFETY: held.
    unsafe { raw.unlock_shared() };
    raw.lock_upgradable();
    // SAFETY: held; upgraded; downgraded; released.
    unsafe {
        raw.upgrade();
        raw.downgrade_to_upgradable();
        raw.downgrade_upgradable();
        raw.unlock_shared();
    }
    assert_eq!(raw.state.load(Relaxed), 0);
}

#[test]
fn too_many_readers_panics_and_leaves_the_count() {
    let raw = RawRwLock::new();
    raw.state.store(MAX_READERS, Relaxed);
    let result = std::panic::catch_unwind(|| raw.lock_shared());
    let message = *result.unwrap_err().downcast::<&str>().unwrap();
    assert!(message.contains("too many read locks"), "{message}");
    assert!(std::panic::catch_unwind(|| raw.try_lock_shared()).is_err());
    assert_eq!(raw.state.load(Relaxed), MAX_READERS);
    // One fewer: fine.
    raw.state.store(MAX_READERS - 1, Relaxed);
    assert!(raw.try_lock_shared());
    assert_eq!(raw.state.load(Relaxed), MAX_READERS);
}

#[test]
fn hand_off_without_sleepers_is_taken_back() {
    let raw = RawRwLock::new();
    raw.lock_exclusive();
    // A reader and a writer that registered but timed out before sleeping.
    raw.state.fetch_or(READERS_WAITING | WRITERS_WAITING, Relaxed);
    // SAFETY: held.
    unsafe { raw.unlock_exclusive() };
    // The phantom read lock was taken back and released; WRITERS_WAITING was cleared by
    // that release, which woke (nobody on) writer_notify.
    assert_eq!(raw.state.load(Relaxed), 0);
    assert!(raw.try_lock_exclusive());
}

#[test]
fn a_woken_reader_joins_only_a_running_read_phase_it_can_count_in() {
    // Joins a read phase even while a writer waits...
    assert!(is_read_lockable_after_wakeup(READER, false));
    assert!(is_read_lockable_after_wakeup(READER | WRITERS_WAITING, false));
    assert!(is_read_lockable_after_wakeup(MAX_READERS - 1, false));
    // ...but not a free lock (the fresh rule decides that), the write-locked value (one
    // more reader would make the count read as a writer), a hand-off or an upgrade's drain.
    assert!(!is_read_lockable_after_wakeup(0, false));
    assert!(!is_read_lockable_after_wakeup(MAX_READERS, false));
    assert!(!is_read_lockable_after_wakeup(WRITE_LOCKED, false));
    assert!(!is_read_lockable_after_wakeup(READER | HANDOFF, false));
    assert!(!is_read_lockable_after_wakeup(READER | UPGRADING, false));
    // An upgradable reader never joins while another holds the upgradable lock.
    assert!(is_read_lockable_after_wakeup(READER | UPGRADABLE, false));
    assert!(!is_read_lockable_after_wakeup(READER | UPGRADABLE, true));
    assert!(is_read_lockable_after_wakeup(READER, true));
}

#[test]
fn the_readers_field_has_headroom_for_a_tentative_add_per_thread() {
    // MAX_READERS held read locks plus one tentative add per thread (Linux's pid_max is at
    // most 2^22) never carry into WRITE_LOCKED.
    const { assert!(MAX_READERS + (1 << 22) < READERS_MASK) };
    assert_eq!(READERS_MASK & WRITE_LOCKED, 0);
    assert_eq!(MASK, READERS_MASK | WRITE_LOCKED);
}

#[test]
fn at_max_readers_with_tentative_adds_a_reader_panics_and_takes_its_add_back() {
    let raw = RawRwLock::new();
    // MAX_READERS read locks held and two other readers' tentative adds in flight.
    raw.state.store(MAX_READERS + 2 * READER, Relaxed);
    let result = std::panic::catch_unwind(|| raw.lock_shared());
    assert!(result.is_err());
    assert_eq!(raw.state.load(Relaxed), MAX_READERS + 2 * READER);
    assert!(std::panic::catch_unwind(|| raw.try_lock_shared()).is_err());
    // A write unlock on a word with that many adds on it (more than can happen) keeps them
    // in their field.
    raw.state.store(WRITE_LOCKED | (MAX_READERS + (1 << 22)), Relaxed);
    // SAFETY: the "write lock" stored above; the adds stay for their readers to take back.
    unsafe { raw.unlock_exclusive() };
    assert_eq!(raw.state.load(Relaxed), MAX_READERS + (1 << 22));
}

#[test]
fn a_back_out_to_count_0_with_writers_waiting_does_what_a_read_unlock_does() {
    let raw = RawRwLock::new();
    // A writer registered and then left without clearing the flag (or is about to take the
    // free lock): the fast path's add is tentative. Its take-back brings the count to 0 with
    // WRITERS_WAITING set, so it wakes a writer; none is asleep, so it clears the stale flag
    // (as the last read unlock would), and the reader then enters.
    raw.state.store(WRITERS_WAITING | READERS_WAITING, Relaxed);
    raw.lock_shared();
    assert_eq!(raw.state.load(Relaxed), READER);
    // SAFETY: held.
    unsafe { raw.unlock_shared() };
    assert_eq!(raw.state.load(Relaxed), 0);
}

#[test]
fn unlocks_and_downgrades_keep_tentative_adds() {
    let raw = RawRwLock::new();
    raw.lock_exclusive();
    // A reader's tentative add lands on the write-locked word.
    raw.state.fetch_add(READER, Relaxed);
    // SAFETY: the write lock is held; then a read lock.
    unsafe { raw.downgrade() };
    assert_eq!(raw.state.load(Relaxed), 2 * READER);
    // The tentative reader takes its add back; ours is the one left.
    raw.state.fetch_sub(READER, Relaxed);
    // SAFETY: the read lock from the downgrade.
    unsafe { raw.unlock_shared() };
    // A write unlock that hands over to readers (none asleep: it takes the phantom back).
    raw.lock_exclusive();
    raw.state.fetch_add(READER | READERS_WAITING, Relaxed);
    // SAFETY: held.
    unsafe { raw.unlock_exclusive() };
    assert_eq!(raw.state.load(Relaxed), READER);
    raw.state.fetch_sub(READER, Relaxed);
    assert!(raw.try_lock_exclusive());
    assert!(raw.is_locked_exclusive());
    // SAFETY: held.
    unsafe { raw.unlock_exclusive() };
}

#[test]
fn a_release_to_count_0_leaves_a_woken_writer_alone() {
    let raw = RawRwLock::new();
    // A writer was woken for the free lock and has not run yet; a reader's tentative add
    // lands and is taken back: the take-back must neither clear WRITERS_WAITING nor let the
    // readers in (nor wake anyone), and the reader stays out.
    raw.state.store(WRITERS_WAITING | WRITER_WOKEN, Relaxed);
    assert!(!raw.try_lock_shared());
    raw.state.fetch_add(READER, Relaxed);
    let state = raw.state.fetch_sub(READER, Release) - READER;
    raw.unlock_shared_slow(state);
    assert_eq!(raw.state.load(Relaxed), WRITERS_WAITING | WRITER_WOKEN);
    // Nor may a reader woken from its sleep join the tentative adds.
    assert!(!is_read_lockable_after_wakeup(READER | WRITERS_WAITING | WRITER_WOKEN, false));
    // The woken writer takes the lock and clears WRITER_WOKEN (keeping WRITERS_WAITING).
    assert!(raw.try_lock_exclusive());
    assert_eq!(raw.state.load(Relaxed), WRITE_LOCKED | WRITERS_WAITING);
    // Its unlock finds no writer asleep: it takes its WRITER_WOKEN back and clears the stale
    // WRITERS_WAITING.
    // SAFETY: held.
    unsafe { raw.unlock_exclusive() };
    assert_eq!(raw.state.load(Relaxed), 0);
}

#[test]
fn a_timed_out_writer_clears_writer_woken_with_its_flag() {
    let raw = RawRwLock::new();
    raw.state.store(WRITERS_WAITING | WRITER_WOKEN | READERS_WAITING, Relaxed);
    raw.writer_timed_out();
    assert_eq!(raw.state.load(Relaxed), 0);
}

#[test]
fn a_wake_with_no_committed_writer_only_bumps_the_sequence() {
    let raw = RawRwLock::new();
    // A writer registered in `state` but never committed to a sleep: no futex call is owed.
    assert!(!raw.wake_writer());
    assert_eq!(raw.writer_notify.load(Relaxed), 2);
    raw.wake_all_writers();
    assert_eq!(raw.writer_notify.load(Relaxed), 4);
}

#[test]
fn a_wake_that_finds_no_writer_asleep_clears_the_bit_and_bumps_again() {
    let raw = RawRwLock::new();
    // A writer committed (set the bit) and then found the lock free instead of sleeping.
    assert!(!raw.sleep_on_writer_notify(None, |_| false).1);
    assert_eq!(raw.writer_notify.load(Relaxed), WRITER_ASLEEP);
    // The wake's futex call finds nobody: the bit is cleared with a second bump, so a writer
    // that committed in between fails its wait.
    assert!(!raw.wake_writer());
    assert_eq!(raw.writer_notify.load(Relaxed), 4);
    // From now on wakes make no futex call, and leave the bit clear.
    assert!(!raw.wake_writer());
    assert_eq!(raw.writer_notify.load(Relaxed), 6);
    // A wake-all clears the bit with its one bump.
    raw.writer_notify.fetch_or(WRITER_ASLEEP, Relaxed);
    raw.wake_all_writers();
    assert_eq!(raw.writer_notify.load(Relaxed), 8);
}

#[test]
fn the_sequence_wraps_without_touching_the_bit() {
    let raw = RawRwLock::new();
    raw.writer_notify.store(u32::MAX, Relaxed);
    raw.wake_all_writers();
    assert_eq!(raw.writer_notify.load(Relaxed), 0);
    raw.writer_notify.store(u32::MAX - 1, Relaxed);
    assert!(!raw.wake_writer());
    assert_eq!(raw.writer_notify.load(Relaxed), 0);
}
