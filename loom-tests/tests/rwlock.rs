//! loom models of `RawRwLock`: read/write exclusion, the writer-waiting path, upgrade racing a
//! reader, downgrade waking a reader, writers woken one by one through `writer_notify`, and the
//! phase-fair hand-over to sleeping readers, and upgradable readers waking each other and
//! upgrading beside a reader and a writer, and the read fast path's tentative add taken back
//! beside a downgrade and a waiting writer, and tentative readers racing a woken writer
//! (WRITER_WOKEN). See `docs/loom.md`.
//!
//! Run: `RUSTFLAGS="--cfg loom" CARGO_TARGET_DIR=target/loom LOOM_MAX_PREEMPTIONS=2 \
//!       cargo test -p atomsync-loom-tests --release --test rwlock`
#![cfg(loom)]

use atomsync::{RawRwLock, futex_model_expire_deadlines, futex_model_stats};
use atomsync_loom_tests::{model, model_with_preemptions, wait_until_asleep};
use loom::cell::UnsafeCell;
use loom::sync::Arc;
use loom::thread;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

/// A `RawRwLock` protecting a loom `UnsafeCell`: loom reports a data race if a writer's
/// critical section ever overlaps another reader's or writer's.
struct Locked {
    lock: RawRwLock,
    value: UnsafeCell<usize>,
}

// SAFETY: `value` is written only under the write lock and read only under a read (or
// upgradable, or write) lock; loom checks that those never overlap wrongly.
unsafe impl Sync for Locked {}

impl Locked {
    fn new() -> Arc<Self> {
        Arc::new(Self { lock: RawRwLock::new(), value: UnsafeCell::new(0) })
    }

    /// The value. The caller holds some lock.
    fn read(&self) -> usize {
        // SAFETY: the caller holds a lock, so no writer runs now.
        self.value.with(|value| unsafe { *value })
    }

    /// Sets the value. The caller holds the write lock.
    fn write(&self, new: usize) {
        // SAFETY: the caller holds the write lock, so nobody else accesses `value` now.
        self.value.with_mut(|value| unsafe { *value = new });
    }

    /// read lock; read; release.
    fn read_locked(&self) -> usize {
        self.lock.lock_shared();
        let value = self.read();
        // SAFETY: acquired just above.
        unsafe { self.lock.unlock_shared() };
        value
    }

    /// write lock; add one (after a yield: a long critical section); release.
    fn increment(&self) {
        self.lock.lock_exclusive();
        let value = self.read();
        thread::yield_now();
        self.write(value + 1);
        // SAFETY: acquired just above.
        unsafe { self.lock.unlock_exclusive() };
    }

    /// The final value; the lock must be free (every other thread was joined).
    fn total(&self) -> usize {
        assert!(self.lock.try_lock_exclusive(), "the lock is still held at the end");
        let total = self.read();
        // SAFETY: `try_lock_exclusive` just succeeded.
        unsafe { self.lock.unlock_exclusive() };
        total
    }
}

/// A thread that takes the write lock and adds one (`Locked::increment`).
fn spawn_increment(locked: &Arc<Locked>) -> thread::JoinHandle<()> {
    let locked = Arc::clone(locked);
    thread::spawn(move || locked.increment())
}

/// A thread that takes a read lock and returns the value it saw (`Locked::read_locked`).
fn spawn_read(locked: &Arc<Locked>) -> thread::JoinHandle<usize> {
    let locked = Arc::clone(locked);
    thread::spawn(move || locked.read_locked())
}

/// A writer and a reader race: the reader sees 0 or 1 (never a torn or racing access), the
/// writer's update is not lost, the lock ends free.
#[test]
fn read_write_exclusion() {
    model("read_write_exclusion", || {
        let locked = Locked::new();
        let writer = {
            let locked = Arc::clone(&locked);
            thread::spawn(move || locked.increment())
        };
        let seen = locked.read_locked();
        assert!(seen <= 1);
        writer.join().unwrap();
        assert_eq!(locked.total(), 1);
    });
}

/// Two writers race (one is the main thread), then a reader: no lost update.
#[test]
fn two_writers_exclusion() {
    model("two_writers_exclusion", || {
        let locked = Locked::new();
        let writer = {
            let locked = Arc::clone(&locked);
            thread::spawn(move || locked.increment())
        };
        locked.increment();
        writer.join().unwrap();
        assert_eq!(locked.total(), 2);
    });
}

/// Main holds a read lock; a writer comes and sleeps (WRITERS_WAITING), a second reader comes
/// (and must then wait behind the writer, or got in before it registered). Main releases: the
/// last reader out wakes the writer. Every execution sleeps at least once.
#[test]
fn two_readers_and_a_writer_writer_waits() {
    model("two_readers_and_a_writer_writer_waits", || {
        let locked = Locked::new();
        locked.lock.lock_shared();
        let writer = {
            let locked = Arc::clone(&locked);
            thread::spawn(move || locked.increment())
        };
        let reader = {
            let locked = Arc::clone(&locked);
            thread::spawn(move || locked.read_locked())
        };
        wait_until_asleep(1);
        // SAFETY: acquired above.
        unsafe { locked.lock.unlock_shared() };
        assert!(reader.join().unwrap() <= 1);
        writer.join().unwrap();
        assert_eq!(locked.total(), 1);
        assert!(futex_model_stats().sleeps >= 1);
    });
}

/// An upgradable reader upgrades while a plain reader races it: the reader sees 0 or 1, the
/// upgrade waits for it (sleeping on writer_notify when needed), the lock ends free.
#[test]
fn upgrade_racing_a_reader() {
    static UPGRADE_SLEPT: AtomicBool = AtomicBool::new(false);
    model("upgrade_racing_a_reader", || {
        let locked = Locked::new();
        let upgrader = {
            let locked = Arc::clone(&locked);
            thread::spawn(move || {
                locked.lock.lock_upgradable();
                let value = locked.read();
                // SAFETY: the upgradable lock is held; then the write lock.
                unsafe { locked.lock.upgrade() };
                locked.write(value + 1);
                // SAFETY: the write lock is held.
                unsafe { locked.lock.unlock_exclusive() };
            })
        };
        locked.lock.lock_shared();
        let seen = locked.read();
        thread::yield_now();
        assert_eq!(locked.read(), seen, "a writer ran during our read lock");
        // SAFETY: acquired above.
        unsafe { locked.lock.unlock_shared() };
        upgrader.join().unwrap();
        assert_eq!(locked.total(), 1);
        if futex_model_stats().sleeps > 0 {
            UPGRADE_SLEPT.store(true, Ordering::Relaxed);
        }
    });
    assert!(UPGRADE_SLEPT.load(Ordering::Relaxed), "no execution reached the upgrade's sleep");
}

/// Main holds the write lock; a reader sleeps; main downgrades to a read lock: the reader must
/// get in *while main still holds its read lock* (the downgrade woke it), seeing main's write.
#[test]
fn downgrade_wakes_a_reader() {
    model("downgrade_wakes_a_reader", || {
        let locked = Locked::new();
        locked.lock.lock_exclusive();
        let reader = {
            let locked = Arc::clone(&locked);
            thread::spawn(move || locked.read_locked())
        };
        wait_until_asleep(1);
        locked.write(1);
        // SAFETY: the write lock is held; then a read lock.
        unsafe { locked.lock.downgrade() };
        assert_eq!(reader.join().unwrap(), 1);
        // SAFETY: the read lock from the downgrade.
        unsafe { locked.lock.unlock_shared() };
        assert_eq!(locked.total(), 1);
    });
}

/// Main holds the write lock; a reader sleeps; main releases: the reader must be woken. This
/// is the model the seeded bug (write unlock forgets to wake the readers) must fail.
#[test]
fn write_unlock_wakes_sleeping_reader() {
    model("write_unlock_wakes_sleeping_reader", || {
        let locked = Locked::new();
        locked.lock.lock_exclusive();
        let reader = {
            let locked = Arc::clone(&locked);
            thread::spawn(move || locked.read_locked())
        };
        wait_until_asleep(1);
        locked.write(1);
        // SAFETY: the write lock is held.
        unsafe { locked.lock.unlock_exclusive() };
        assert_eq!(reader.join().unwrap(), 1);
        assert_eq!(locked.total(), 1);
    });
}

/// Main holds the write lock and a reader arrives (spinning, registering or asleep: loom tries
/// each); main releases and writes again at once. If the reader was not asleep yet, the write
/// unlock's hand-over wakes nobody and takes the phantom read lock back, racing the reader's
/// own claim of it: whoever wins, the reader's lock stays counted (loom reports a data race if
/// main's second write section overlaps the reader's read).
#[test]
fn write_unlock_races_an_arriving_reader() {
    model("write_unlock_races_an_arriving_reader", || {
        let locked = Locked::new();
        locked.lock.lock_exclusive();
        let reader = {
            let locked = Arc::clone(&locked);
            thread::spawn(move || locked.read_locked())
        };
        locked.write(1);
        // SAFETY: the write lock is held.
        unsafe { locked.lock.unlock_exclusive() };
        locked.increment();
        let seen = reader.join().unwrap();
        assert!(seen == 1 || seen == 2, "the reader saw {seen}");
        assert_eq!(locked.total(), 2);
    });
}

/// The writer-notify path: main holds the write lock, two writers sleep on writer_notify;
/// main's unlock wakes one (leaving WRITERS_WAITING set), whose unlock must wake the other.
#[test]
fn writer_notify_wakes_writers_one_by_one() {
    model("writer_notify_wakes_writers_one_by_one", || {
        let locked = Locked::new();
        locked.lock.lock_exclusive();
        let writers: Vec<_> = (0..2)
            .map(|_| {
                let locked = Arc::clone(&locked);
                thread::spawn(move || locked.increment())
            })
            .collect();
        wait_until_asleep(2);
        // SAFETY: the write lock is held.
        unsafe { locked.lock.unlock_exclusive() };
        for writer in writers {
            writer.join().unwrap();
        }
        assert_eq!(locked.total(), 2);
    });
}

/// Two writers behind main's read lock, free to spin, register and sleep in any order; main
/// releases. The last read unlock's wake may find nobody asleep (a writer still on its way),
/// while the other writer barges, takes the lock and lets the first sleep behind it: the
/// waker's clearing of its stale flags must not outlive its WRITER_WOKEN, or the barging
/// writer's unlock finds WRITERS_WAITING cleared and leaves the sleeper asleep on a free lock.
/// That interleaving needs 3 preemptions (the mutant `state & WRITER_WOKEN` -> `|` in
/// `wake_waiting_writer` passes at 2), so this small model always runs at 3 or more.
#[test]
fn read_unlock_and_two_writers() {
    model_with_preemptions("read_unlock_and_two_writers", 3, || {
        let locked = Locked::new();
        locked.lock.lock_shared();
        let writers = [spawn_increment(&locked), spawn_increment(&locked)];
        // SAFETY: the read lock is held.
        unsafe { locked.lock.unlock_shared() };
        for writer in writers {
            writer.join().unwrap();
        }
        assert_eq!(locked.total(), 2);
    });
}

/// Phase-fair hand-over: main holds the write lock, a reader and a writer both sleep; main
/// writes 1 and releases. The reader must get in before the writer (it reads 1, never 2).
#[test]
fn write_unlock_hands_over_to_readers_first() {
    model("write_unlock_hands_over_to_readers_first", || {
        let locked = Locked::new();
        locked.lock.lock_exclusive();
        let reader = {
            let locked = Arc::clone(&locked);
            thread::spawn(move || locked.read_locked())
        };
        let writer = {
            let locked = Arc::clone(&locked);
            thread::spawn(move || locked.increment())
        };
        wait_until_asleep(2);
        locked.write(1);
        // SAFETY: the write lock is held.
        unsafe { locked.lock.unlock_exclusive() };
        assert_eq!(reader.join().unwrap(), 1, "the writer overtook the waiting reader");
        writer.join().unwrap();
        assert_eq!(locked.total(), 2);
    });
}

/// Main holds the upgradable lock; a second upgradable reader sleeps; main releases: it must
/// be woken (upgradable readers exclude each other and sleep on the state word).
#[test]
fn upgradable_release_wakes_a_waiting_upgradable() {
    model("upgradable_release_wakes_a_waiting_upgradable", || {
        let locked = Locked::new();
        locked.lock.lock_upgradable();
        let second = {
            let locked = Arc::clone(&locked);
            thread::spawn(move || {
                locked.lock.lock_upgradable();
                let value = locked.read();
                // SAFETY: acquired just above.
                unsafe { locked.lock.unlock_upgradable() };
                value
            })
        };
        wait_until_asleep(1);
        // SAFETY: acquired above.
        unsafe { locked.lock.unlock_upgradable() };
        assert_eq!(second.join().unwrap(), 0);
        assert_eq!(locked.total(), 0);
    });
}

/// Main upgrades while a reader and a writer race it: the upgrade, the writer and the reader
/// exclude each other properly and both updates land.
#[test]
fn upgrade_with_a_reader_and_a_writer() {
    model("upgrade_with_a_reader_and_a_writer", || {
        let locked = Locked::new();
        locked.lock.lock_upgradable();
        let writer = {
            let locked = Arc::clone(&locked);
            thread::spawn(move || locked.increment())
        };
        let reader = {
            let locked = Arc::clone(&locked);
            thread::spawn(move || locked.read_locked())
        };
        let value = locked.read();
        // SAFETY: the upgradable lock is held; then the write lock.
        unsafe { locked.lock.upgrade() };
        locked.write(value + 1);
        // SAFETY: the write lock is held.
        unsafe { locked.lock.unlock_exclusive() };
        assert!(reader.join().unwrap() <= 2);
        writer.join().unwrap();
        assert_eq!(locked.total(), 2);
    });
}

/// The read fast path's tentative add racing a writer: main writes and downgrades while a
/// reader enters. The reader's `fetch_add` may land on the write-locked word (the downgrade
/// keeps the add, the reader takes it back and waits, or is woken by the downgrade), or after
/// the downgrade (a read lock beside main's). The reader sees 0 (before main's write lock) or
/// 1, never a racing access; the lock ends free.
#[test]
fn tentative_reader_races_a_write_and_a_downgrade() {
    model("tentative_reader_races_a_write_and_a_downgrade", || {
        let locked = Locked::new();
        let reader = spawn_read(&locked);
        locked.lock.lock_exclusive();
        locked.write(1);
        // SAFETY: the write lock is held; then a read lock.
        unsafe { locked.lock.downgrade() };
        assert_eq!(locked.read(), 1);
        // SAFETY: the read lock from the downgrade.
        unsafe { locked.lock.unlock_shared() };
        assert!(reader.join().unwrap() <= 1);
        assert_eq!(locked.total(), 1);
    });
}

/// The take-back as a read unlock: main holds a read lock; a reader and a writer come. When
/// the writer registers before the reader's `fetch_add`, the add is tentative and taken back,
/// racing main's unlock: whichever brings the count to 0 must wake the writer (with that wake
/// deleted from the take-back, loom reports the deadlock). The reader sees 0 (in before the
/// writer) or 1.
#[test]
fn tentative_reader_backs_out_to_a_waiting_writer() {
    model("tentative_reader_backs_out_to_a_waiting_writer", || {
        let locked = Locked::new();
        locked.lock.lock_shared();
        let reader = spawn_read(&locked);
        let writer = spawn_increment(&locked);
        // SAFETY: acquired above.
        unsafe { locked.lock.unlock_shared() };
        assert!(reader.join().unwrap() <= 1);
        writer.join().unwrap();
        assert_eq!(locked.total(), 1);
    });
}

/// WRITER_WOKEN: a writer sleeps behind main's read lock; then (`second_reader`) a reader R
/// arrives (its add is tentative: WRITERS_WAITING is set). Main releases, waking the writer,
/// and at once reads again (another tentative add). Whatever take-back brings the count to 0
/// while the woken writer has not run yet must leave WRITERS_WAITING alone: the readers arrived
/// after the writer registered, so they must see its write (1). Without WRITER_WOKEN a
/// take-back found no writer asleep, cleared the flag as stale and read 0.
fn readers_behind_a_woken_writer(second_reader: bool) {
    let locked = Locked::new();
    locked.lock.lock_shared();
    let writer = spawn_increment(&locked);
    wait_until_asleep(1);
    let reader = second_reader.then(|| spawn_read(&locked));
    // SAFETY: acquired above.
    unsafe { locked.lock.unlock_shared() };
    assert_eq!(locked.read_locked(), 1, "main read before the woken writer");
    if let Some(reader) = reader {
        assert_eq!(reader.join().unwrap(), 1, "a reader passed the woken writer");
    }
    writer.join().unwrap();
    assert_eq!(locked.total(), 1);
}

/// Main's own take-back races the writer its unlock woke.
#[test]
fn tentative_reader_does_not_pass_a_woken_writer() {
    model("tentative_reader_does_not_pass_a_woken_writer", || {
        readers_behind_a_woken_writer(false);
    });
}

/// Two take-backs (R's and main's) race the writer and each other.
#[test]
fn tentative_readers_do_not_pass_a_woken_writer() {
    model("tentative_readers_do_not_pass_a_woken_writer", || {
        readers_behind_a_woken_writer(true);
    });
}

// ------------------------------------------------------------------------------------------
// Timed paths: a timer thread fires the futex model's clock at a point loom chooses, so every
// timed wait may time out before it sleeps, while it sleeps, or just after a wake was spent on
// it (see `futex_model_expire_deadlines`).
// ------------------------------------------------------------------------------------------

/// A deadline the model's clock decides (the real clock never reaches it).
fn deadline() -> Option<Instant> {
    Some(Instant::now() + Duration::from_secs(3600))
}

/// A writer that tries to take the lock until the model's clock fires and, if it got it, adds
/// one; returns whether it did.
fn spawn_timed_increment(locked: &Arc<Locked>) -> thread::JoinHandle<bool> {
    let locked = Arc::clone(locked);
    thread::spawn(move || {
        if !locked.lock.try_lock_exclusive_until(deadline()) {
            return false;
        }
        let value = locked.read();
        locked.write(value + 1);
        // SAFETY: acquired just above.
        unsafe { locked.lock.unlock_exclusive() };
        true
    })
}

/// The thread that fires the model's clock once.
fn timer() -> thread::JoinHandle<()> {
    thread::spawn(futex_model_expire_deadlines)
}

/// A timed writer W1 and an untimed writer W2 wait behind main's lock (a read lock, or the
/// write lock); main releases and at once wants the lock again. Whether W1 takes the lock or
/// times out (perhaps after a wake was spent on it), W2 must get the lock: a wake consumed by
/// a timed-out writer is passed on (issue 10, case 1). Seeded-bug target (the timed-out
/// writer's pass-on is dropped).
fn timed_writer_and_writer_behind(holder_writes: bool) {
    let locked = Locked::new();
    let hold = |locked: &Locked| {
        if holder_writes {
            locked.lock.lock_exclusive();
        } else {
            locked.lock.lock_shared();
        }
    };
    let release = |locked: &Locked| {
        // SAFETY: `hold` acquired this lock mode just before.
        unsafe {
            if holder_writes {
                locked.lock.unlock_exclusive();
            } else {
                locked.lock.unlock_shared();
            }
        }
    };
    hold(&locked);
    let timed = spawn_timed_increment(&locked);
    let untimed = {
        let locked = Arc::clone(&locked);
        thread::spawn(move || locked.increment())
    };
    let timer = timer();
    release(&locked);
    hold(&locked);
    release(&locked);
    let timed_wrote = timed.join().unwrap();
    untimed.join().unwrap();
    timer.join().unwrap();
    assert_eq!(locked.total(), 1 + usize::from(timed_wrote));
}

#[test]
fn timed_writer_and_writer_behind_a_writer() {
    model("timed_writer_and_writer_behind_a_writer", || timed_writer_and_writer_behind(true));
}

/// A timed reader waits behind main's write lock while a writer waits too, so main's unlock
/// hands the lock to the readers (HANDOFF: one phantom read lock that a woken reader claims).
/// If the timed reader was the one woken, it claims the phantom lock even when its deadline
/// has passed; if it timed out first, main takes the phantom lock back. Either way the writer
/// gets in and the lock ends free.
#[test]
fn timed_reader_and_the_readers_hand_over() {
    model("timed_reader_and_the_readers_hand_over", || {
        let locked = Locked::new();
        locked.lock.lock_exclusive();
        let reader = {
            let locked = Arc::clone(&locked);
            thread::spawn(move || {
                if locked.lock.try_lock_shared_until(deadline()) {
                    let value = locked.read();
                    // SAFETY: acquired just above.
                    unsafe { locked.lock.unlock_shared() };
                    Some(value)
                } else {
                    None
                }
            })
        };
        let writer = {
            let locked = Arc::clone(&locked);
            thread::spawn(move || locked.increment())
        };
        let timer = timer();
        locked.write(1);
        // SAFETY: the write lock is held.
        unsafe { locked.lock.unlock_exclusive() };
        let seen = reader.join().unwrap();
        assert!(matches!(seen, None | Some(1) | Some(2)));
        writer.join().unwrap();
        timer.join().unwrap();
        assert_eq!(locked.total(), 2);
    });
}

/// Main holds the upgradable lock and upgrades with a timeout while a reader holds a read lock
/// and a second reader arrives (stopped by UPGRADING). The upgrade succeeds when the first
/// reader leaves, or times out and must let the second reader in: nobody is left asleep, and
/// main still holds its upgradable lock after a failed upgrade.
#[test]
fn timed_upgrade_with_readers() {
    model("timed_upgrade_with_readers", || {
        let locked = Locked::new();
        locked.lock.lock_upgradable();
        locked.lock.lock_shared();
        let late_reader = {
            let locked = Arc::clone(&locked);
            thread::spawn(move || locked.read_locked())
        };
        let leaving_reader = {
            let locked = Arc::clone(&locked);
            thread::spawn(move || {
                // SAFETY: main took this read lock for us; any thread may release it.
                unsafe { locked.lock.unlock_shared() };
            })
        };
        let timer = timer();
        // SAFETY: the upgradable lock is held.
        if unsafe { locked.lock.try_upgrade_until(deadline()) } {
            locked.write(1);
            // SAFETY: the write lock is held.
            unsafe { locked.lock.unlock_exclusive() };
        } else {
            // SAFETY: a failed upgrade keeps the upgradable lock.
            unsafe { locked.lock.unlock_upgradable() };
        }
        let seen = late_reader.join().unwrap();
        assert!(seen <= 1);
        leaving_reader.join().unwrap();
        timer.join().unwrap();
        assert!(locked.total() <= 1);
    });
}

/// Forced: two writers sleep behind main's write lock, one of them timed; only then does the
/// clock fire, so the timed writer times out while the other sleeps. It must pass the wake on
/// (wake every writer): main's release must then find the other writer registered. Seeded-bug
/// target (it deadlocks in every execution when the pass-on is dropped).
#[test]
fn timed_out_writer_passes_the_wake_on() {
    model("timed_out_writer_passes_the_wake_on", || {
        let locked = Locked::new();
        locked.lock.lock_exclusive();
        let timed = {
            let locked = Arc::clone(&locked);
            thread::spawn(move || locked.lock.try_lock_exclusive_until(deadline()))
        };
        let untimed = {
            let locked = Arc::clone(&locked);
            thread::spawn(move || locked.increment())
        };
        wait_until_asleep(2);
        timer().join().unwrap();
        assert!(!timed.join().unwrap(), "the timed writer got a lock that main holds");
        // SAFETY: the write lock is held.
        unsafe { locked.lock.unlock_exclusive() };
        untimed.join().unwrap();
        assert_eq!(locked.total(), 1);
    });
}

/// Issue 10's case 1, forced: a timed writer W1 and then an untimed W2 sleep behind main's read
/// lock (W1 first in the futex queue, so main's release wakes W1); main releases and at once
/// read-locks again, while the clock may fire anywhere. On the old protocol the release cleared
/// WRITERS_WAITING, main's read got in, W1 timed out finding the flag clear and returned without
/// passing the wake on, and W2 slept forever on a free lock: loom reported that deadlock at
/// bound 2. Now the flag stays set, so main's second read waits for a writer, and W2 always
/// gets the lock.
#[test]
fn woken_writer_times_out_behind_a_reader() {
    model("woken_writer_times_out_behind_a_reader", || {
        let locked = Locked::new();
        locked.lock.lock_shared();
        let timed = spawn_timed_increment(&locked);
        wait_until_asleep(1);
        let untimed = {
            let locked = Arc::clone(&locked);
            thread::spawn(move || locked.increment())
        };
        wait_until_asleep(2);
        let timer = timer();
        // SAFETY: the read lock is held.
        unsafe { locked.lock.unlock_shared() };
        locked.lock.lock_shared();
        // SAFETY: acquired just above.
        unsafe { locked.lock.unlock_shared() };
        let timed_wrote = timed.join().unwrap();
        untimed.join().unwrap();
        timer.join().unwrap();
        assert_eq!(locked.total(), 1 + usize::from(timed_wrote));
    });
}
