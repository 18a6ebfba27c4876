//! loom models of `Semaphore`: two acquirers sleeping (as the head and behind it) and woken
//! by a release, free races of acquirers and a release, `acquire_many` against `acquire(1)`
//! racing a release, and `close` racing sleeping acquirers. See `docs/loom.md`.
//!
//! Run: `RUSTFLAGS="--cfg loom" CARGO_TARGET_DIR=target/loom LOOM_MAX_PREEMPTIONS=2 \
//!       cargo test -p atomsync-loom-tests --release --test semaphore`
#![cfg(loom)]

use atomsync::{AcquireError, Semaphore, futex_model_stats};
use atomsync_loom_tests::{model, wait_until_asleep};
use loom::sync::Arc;
use loom::sync::atomic::AtomicUsize;
use loom::thread;
use std::sync::atomic::{AtomicBool, Ordering};

/// Permits in use, checked against the semaphore's size: loom atomics, so the check is part of
/// every explored interleaving.
struct Usage {
    semaphore: Semaphore,
    in_use: AtomicUsize,
    size: usize,
}

impl Usage {
    fn new(size: usize) -> Arc<Self> {
        Arc::new(Self {
            semaphore: Semaphore::new(size),
            in_use: AtomicUsize::new(0),
            size,
        })
    }

    /// acquire_many(n); check that at most `size` permits are in use; release.
    fn use_permits(&self, n: u32) {
        let permit = self.semaphore.acquire_many(n).unwrap();
        let now = self.in_use.fetch_add(n as usize, Ordering::SeqCst) + n as usize;
        assert!(now <= self.size, "{now} permits in use of {}", self.size);
        self.in_use.fetch_sub(n as usize, Ordering::SeqCst);
        drop(permit);
    }
}

/// The main thread holds the only permit; two acquirers go to sleep (one as the head on the
/// state word, one queued behind it) before the main thread releases. The release must wake
/// the head, and the head, once served, the queued one. This is the model the seeded bug (a
/// release that skips the wake) must fail with a deadlock.
#[test]
fn two_acquirers_sleep_and_a_release_wakes_them() {
    model("two_acquirers_sleep_and_a_release_wakes_them", || {
        let usage = Usage::new(1);
        let held = usage.semaphore.try_acquire().unwrap();
        let acquirers: Vec<_> = (0..2)
            .map(|_| {
                let usage = Arc::clone(&usage);
                thread::spawn(move || usage.use_permits(1))
            })
            .collect();
        wait_until_asleep(2);
        drop(held);
        for acquirer in acquirers {
            acquirer.join().unwrap();
        }
        assert_eq!(usage.semaphore.available_permits(), 1);
        assert!(futex_model_stats().sleeps >= 2);
    });
}

/// Two acquirers race the main thread's release of the only permit, unforced: every
/// interleaving of the fast path, the spin, becoming the head and queueing; some executions
/// must reach a futex sleep.
#[test]
fn two_acquirers_race_a_release() {
    static SLEPT: AtomicBool = AtomicBool::new(false);
    model("two_acquirers_race_a_release", || {
        let usage = Usage::new(1);
        let held = usage.semaphore.try_acquire().unwrap();
        let acquirers: Vec<_> = (0..2)
            .map(|_| {
                let usage = Arc::clone(&usage);
                thread::spawn(move || usage.use_permits(1))
            })
            .collect();
        drop(held);
        for acquirer in acquirers {
            acquirer.join().unwrap();
        }
        assert_eq!(usage.semaphore.available_permits(), 1);
        if futex_model_stats().sleeps > 0 {
            SLEPT.store(true, Ordering::Relaxed);
        }
    });
    assert!(
        SLEPT.load(Ordering::Relaxed),
        "no execution reached a futex sleep"
    );
}

/// `acquire_many(2)` and `acquire(1)` on a semaphore of 2 whose permits the main thread holds
/// and releases, racing both: never more than 2 permits in use, both acquirers finish, all
/// permits come back.
#[test]
fn acquire_many_and_acquire_one_race_a_release() {
    model("acquire_many_and_acquire_one_race_a_release", || {
        let usage = Usage::new(2);
        let held = usage.semaphore.try_acquire_many(2).unwrap();
        let many = {
            let usage = Arc::clone(&usage);
            thread::spawn(move || usage.use_permits(2))
        };
        let one = {
            let usage = Arc::clone(&usage);
            thread::spawn(move || usage.use_permits(1))
        };
        drop(held);
        many.join().unwrap();
        one.join().unwrap();
        assert_eq!(usage.semaphore.available_permits(), 2);
    });
}

/// `acquire_many(2)` sleeps as the head while `acquire(1)` sleeps behind it; the main thread
/// releases its 2 permits one at a time: the first release must not wake anybody who could
/// take it (the head reserved it), the second wakes the head, which then passes on to the
/// queued one.
#[test]
fn head_reservation_holds_across_two_releases() {
    model("head_reservation_holds_across_two_releases", || {
        let usage = Usage::new(2);
        let mut held = usage.semaphore.try_acquire_many(2).unwrap();
        let many = {
            let usage = Arc::clone(&usage);
            thread::spawn(move || usage.use_permits(2))
        };
        wait_until_asleep(1);
        let one = {
            let usage = Arc::clone(&usage);
            thread::spawn(move || usage.use_permits(1))
        };
        wait_until_asleep(2);
        drop(held.split(1).unwrap());
        // The free permit is reserved for the head: nobody may take it.
        assert!(usage.semaphore.try_acquire().is_err());
        drop(held);
        many.join().unwrap();
        one.join().unwrap();
        assert_eq!(usage.semaphore.available_permits(), 2);
    });
}

/// Two acquirers on an empty semaphore race `close`: both return `Closed`, whether they slept
/// (as head or queued) or saw the close first.
#[test]
fn close_races_sleeping_acquirers() {
    model("close_races_sleeping_acquirers", || {
        let semaphore = Arc::new(Semaphore::new(0));
        let acquirers: Vec<_> = (0..2)
            .map(|_| {
                let semaphore = Arc::clone(&semaphore);
                thread::spawn(move || semaphore.acquire().map(drop))
            })
            .collect();
        semaphore.close();
        for acquirer in acquirers {
            assert_eq!(acquirer.join().unwrap(), Err(AcquireError::Closed));
        }
    });
}

/// An acquirer asleep for sure when `close` comes: `close` must wake it.
#[test]
fn close_wakes_a_sleeping_acquirer() {
    model("close_wakes_a_sleeping_acquirer", || {
        let semaphore = Arc::new(Semaphore::new(0));
        let acquirer = {
            let semaphore = Arc::clone(&semaphore);
            thread::spawn(move || semaphore.acquire_many(2).map(drop))
        };
        wait_until_asleep(1);
        semaphore.close();
        assert_eq!(acquirer.join().unwrap(), Err(AcquireError::Closed));
        // Permits added after close are accepted.
        semaphore.add_permits(1);
        assert_eq!(semaphore.available_permits(), 1);
    });
}
