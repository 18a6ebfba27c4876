//! Unit tests of the RwLock's protocol (`raw.rs`): the state encoding and transitions a
//! single thread can reach. In a file of their own so that `raw.rs` stays under 700 lines.

use super::*;

#[test]
fn state_bits_do_not_overlap() {
    let flags = [HANDOFF, UPGRADABLE, UPGRADING, READERS_WAITING, WRITERS_WAITING];
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
