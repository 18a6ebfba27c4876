//! RwLock tests written to kill mutants that `tests/rwlock.rs` and `tests/rwlock_races.rs` let
//! survive (issue 11; see `docs/testing.md`). Each test pins one rule of the protocol in
//! `src/rwlock/raw.rs` that the other tests execute without checking.
//!
//! "This thread is asleep in the lock" is read from `/proc/self/task/<id>/syscall` (see
//! `tests/common`). A thread that must get in is waited for directly (a join, or a bounded
//! `recv_timeout` for an event that comes at once). A thread that must *not* get in after a wake
//! is checked once it reads as asleep (or gone) again; just after a wake the kernel may still
//! show it in its futex wait, so such a check can come early. It then passes on the real code
//! all the same (the thread is not inside), and at worst misses the mutant on that run. Every
//! blocking test runs under [`within`].

mod common;

use atomsync::{RwLock, RwLockUpgradableReadGuard, RwLockWriteGuard};
use std::sync::atomic::AtomicBool;
use std::sync::atomic::Ordering::SeqCst;
use std::sync::{Arc, mpsc};
use std::time::Duration;

use common::{
    asleep_on_rwlock_now, spawn_sleeping_on_rwlock, spawn_watched, wait_until_asleep_on_rwlock,
    within,
};

/// How long an event that must come at once may take on a loaded machine (far below a hang).
const PROMPT: Duration = Duration::from_secs(10);

/// A reader woken from its sleep may join a running read phase although a writer waits: the
/// readers that slept through a write lock get in when it is downgraded (to a read lock, or to
/// the upgradable lock), before the writer that queued behind them, while the downgraded lock
/// is still held. The woken reader may also be one waiting for the upgradable lock, if the
/// downgrade leaves that free.
fn woken_reader_joins_the_downgrade(to_upgradable: bool, upgradable_reader: bool) {
    within(move || {
        let lock = Arc::new(RwLock::new(0));
        let mut write = lock.write();
        let (seen_tx, seen_rx) = mpsc::channel();
        let (reader, reader_id) = {
            let lock = Arc::clone(&lock);
            spawn_watched(move || {
                let value = if upgradable_reader { *lock.upgradable_read() } else { *lock.read() };
                seen_tx.send(value).unwrap();
            })
        };
        wait_until_asleep_on_rwlock(reader_id, &lock);
        // Then a writer queues: WRITERS_WAITING stops fresh readers from here on.
        let writer = spawn_sleeping_on_rwlock(&lock, |lock| *lock.write() += 1);
        *write = 7;
        let held = if to_upgradable {
            Err(RwLockWriteGuard::downgrade_to_upgradable(write))
        } else {
            Ok(RwLockWriteGuard::downgrade(write))
        };
        // The reader was woken: it must get in now, while we hold the downgraded lock, not go
        // back to sleep behind the writer (then it would get in only after the writer, and
        // only once we let go). A wait for the expected event, bounded: it comes at once.
        assert_eq!(
            seen_rx.recv_timeout(PROMPT),
            Ok(7),
            "the woken reader (upgradable: {upgradable_reader}) did not join the downgraded lock \
             (upgradable: {to_upgradable}) while a writer waits"
        );
        // A fresh reader still waits behind the writer.
        assert!(lock.try_read().is_none(), "a fresh reader overtook the waiting writer");
        drop(held);
        reader.join().unwrap();
        writer.join().unwrap();
        assert_eq!(*lock.read(), 8);
    });
}

#[test]
fn readers_woken_by_a_downgrade_join_it_although_a_writer_waits() {
    woken_reader_joins_the_downgrade(false, false);
}

#[test]
fn an_upgradable_reader_woken_by_a_downgrade_joins_it_although_a_writer_waits() {
    woken_reader_joins_the_downgrade(false, true);
}

#[test]
fn readers_woken_by_a_downgrade_to_upgradable_join_it_although_a_writer_waits() {
    woken_reader_joins_the_downgrade(true, false);
}

/// A thread woken while waiting for the upgradable lock must not take it while another thread
/// holds it: `write -> upgradable` wakes the sleepers, and the upgradable one goes back to sleep
/// until the upgradable lock is released.
#[test]
fn a_woken_upgradable_reader_does_not_join_a_held_upgradable_lock() {
    within(|| {
        let lock = Arc::new(RwLock::new(0));
        let write = lock.write();
        let entered = Arc::new(AtomicBool::new(false));
        let (second, second_id) = {
            let (lock, entered) = (Arc::clone(&lock), Arc::clone(&entered));
            spawn_watched(move || {
                let guard = lock.upgradable_read();
                entered.store(true, SeqCst);
                *guard
            })
        };
        wait_until_asleep_on_rwlock(second_id, &lock);
        let upgradable = RwLockWriteGuard::downgrade_to_upgradable(write);
        // Woken by the downgrade: it must be asleep again, not inside.
        wait_until_asleep_on_rwlock(second_id, &lock);
        assert!(!entered.load(SeqCst), "two upgradable read locks held at once");
        // Ours still works as the only upgradable lock: it upgrades (no other reader holds).
        let mut write =
            RwLockUpgradableReadGuard::try_upgrade(upgradable).expect("we are the only reader");
        *write = 1;
        drop(write);
        assert_eq!(second.join().unwrap(), 1);
        assert!(entered.load(SeqCst));
        assert!(!lock.is_locked());
    });
}

/// An upgrade that gives up (here a zero timeout, which gives up before it ever set UPGRADING)
/// must not wake the readers that wait behind a *writer*: woken readers may join the running
/// read phase, so a spurious wake would let them overtake the writer.
#[test]
fn a_zero_timeout_upgrade_does_not_let_readers_overtake_a_waiting_writer() {
    within(|| {
        let lock = Arc::new(RwLock::new(0));
        let upgradable = lock.upgradable_read();
        let read = lock.read();
        let writer = spawn_sleeping_on_rwlock(&lock, |lock| *lock.write() += 1);
        let entered = Arc::new(AtomicBool::new(false));
        let (reader, reader_id) = {
            let (lock, entered) = (Arc::clone(&lock), Arc::clone(&entered));
            spawn_watched(move || {
                let guard = lock.read();
                entered.store(true, SeqCst);
                *guard
            })
        };
        wait_until_asleep_on_rwlock(reader_id, &lock);
        let upgradable = RwLockUpgradableReadGuard::try_upgrade_for(upgradable, Duration::ZERO)
            .expect_err("another reader holds the lock");
        // Had the failed upgrade woken the reader, it would be inside (or running) now.
        wait_until_asleep_on_rwlock(reader_id, &lock);
        assert!(
            !entered.load(SeqCst),
            "a reader overtook the waiting writer after a failed upgrade"
        );
        drop(read);
        drop(upgradable);
        writer.join().unwrap();
        // Phase-fair: the reader that waited behind the writer comes right after it.
        assert_eq!(reader.join().unwrap(), 1);
        assert!(!lock.is_locked());
    });
}

/// Releasing the upgradable lock wakes a thread asleep waiting for it (readers' wakes are
/// wake-alls on the state word; the release clears READERS_WAITING, so it must wake).
#[test]
fn releasing_the_upgradable_lock_wakes_the_next_upgradable_reader() {
    within(|| {
        let lock = Arc::new(RwLock::new(0));
        let upgradable = lock.upgradable_read();
        let next = spawn_sleeping_on_rwlock(&lock, |lock| {
            let guard = lock.upgradable_read();
            let mut write = RwLockUpgradableReadGuard::upgrade(guard);
            *write += 1;
            *write
        });
        drop(upgradable);
        assert_eq!(next.join().unwrap(), 1);
        assert!(!lock.is_locked());
    });
}

/// An upgrade that had to wait for a reader clears UPGRADABLE with the count: once the write
/// lock it got is released, the lock is free in every mode, the upgradable one included.
#[test]
fn a_contended_upgrade_leaves_no_upgradable_flag_behind() {
    within(|| {
        let lock = Arc::new(RwLock::new(0));
        let read = lock.read();
        let upgrader = spawn_sleeping_on_rwlock(&lock, |lock| {
            let guard = lock.upgradable_read();
            *RwLockUpgradableReadGuard::upgrade(guard) += 1;
        });
        drop(read);
        upgrader.join().unwrap();
        assert!(!lock.is_locked());
        assert!(lock.try_upgradable_read().is_some(), "the upgradable lock is still marked held");
        assert_eq!(*lock.try_write().expect("the lock is free"), 1);
    });
}

/// A writer blocked behind a reader sleeps in the kernel and stays asleep until the reader
/// leaves, also on a lock whose `writer_notify` sequence has moved on: a writer that slept on
/// a wrong value would spin through futex waits that fail at once. (Checks that the sleep uses
/// the value the writer committed with, `src/rwlock/raw/wake.rs`.)
#[test]
fn a_blocked_writer_stays_asleep_on_a_used_lock() {
    within(|| {
        let lock = Arc::new(RwLock::new(0));
        // Move the sequence on: writers that sleep behind a write lock and are woken.
        for round in 1..=3 {
            let write = lock.write();
            let writer = spawn_sleeping_on_rwlock(&lock, |lock| *lock.write() += 1);
            drop(write);
            writer.join().unwrap();
            assert_eq!(*lock.read(), round);
        }
        let read = lock.read();
        let (writer, writer_id) = {
            let lock = Arc::clone(&lock);
            spawn_watched(move || *lock.write() += 1)
        };
        wait_until_asleep_on_rwlock(writer_id, &lock);
        // Look again and again, back to back: a writer spinning through failed waits is on
        // the CPU nearly all the time, so some look finds it out of its futex wait.
        for _ in 0..200 {
            // `None`: the kernel's view cannot be read here; nothing to check.
            if let Some(asleep) = asleep_on_rwlock_now(writer_id, &lock) {
                assert!(asleep, "a writer blocked behind a reader woke up with nothing changed");
            }
        }
        drop(read);
        writer.join().unwrap();
        assert_eq!(*lock.read(), 4);
    });
}
