//! loom models of `RawCondvar` with `RawMutex`: wait/notify_one, notify_all with two waiters
//! and the requeue onto the mutex word, and a `wait_while`-style predicate. See `docs/loom.md`.
//!
//! Run: `RUSTFLAGS="--cfg loom" CARGO_TARGET_DIR=target/loom LOOM_MAX_PREEMPTIONS=2 \
//!       cargo test -p atomsync-loom-tests --release --test condvar`
#![cfg(loom)]

use atomsync::{RawCondvar, RawMutex, futex_model_stats};
use atomsync_loom_tests::{model, wait_until_asleep};
use loom::cell::UnsafeCell;
use loom::sync::Arc;
use loom::thread;
use std::sync::atomic::{AtomicBool, Ordering};

/// A mutex, a condvar and the state they guard, in a loom `UnsafeCell` so that loom reports
/// any access the mutex fails to order.
struct Shared {
    mutex: RawMutex,
    condvar: RawCondvar,
    value: UnsafeCell<usize>,
}

// SAFETY: `value` is only accessed while `mutex` is held (between `acquire` and `release`,
// and `wait_raw` re-locks before returning), so accesses never overlap; loom checks that.
unsafe impl Sync for Shared {}

impl Shared {
    fn new() -> Arc<Self> {
        Arc::new(Self {
            mutex: RawMutex::new(),
            condvar: RawCondvar::new(),
            value: UnsafeCell::new(0),
        })
    }

    /// The guarded value. The caller must hold `mutex`.
    fn read(&self) -> usize {
        // SAFETY: the caller holds `mutex`, so no other thread writes `value` now.
        self.value.with(|value| unsafe { *value })
    }

    /// Adds one to the guarded value. The caller must hold `mutex`.
    fn add_one(&self) {
        // SAFETY: the caller holds `mutex`, so no other thread accesses `value` now.
        self.value.with_mut(|value| unsafe { *value += 1 });
    }

    /// `Condvar::wait_while`: with the mutex held, waits while `pred(value)`; returns with the
    /// mutex held and `pred(value)` false. Untimed (loom cannot time out anyway).
    fn wait_while(&self, pred: impl Fn(usize) -> bool) {
        while pred(self.read()) {
            // SAFETY: the caller holds `mutex`; `value` is not borrowed across the wait.
            let in_time = unsafe { self.condvar.wait_raw(&self.mutex, None) };
            assert!(in_time, "an untimed wait reported a timeout");
            assert!(self.mutex.is_held(), "wait_raw returned without the mutex");
        }
    }

    /// Locks, adds one, notifies one waiter, unlocks.
    fn add_one_and_notify_one(&self) {
        self.mutex.acquire();
        self.add_one();
        self.condvar.notify_one_waiter();
        // SAFETY: acquired above.
        unsafe { self.mutex.release() };
    }

    /// Locks, waits until `value >= target`, unlocks.
    fn wait_for_at_least(&self, target: usize) {
        self.mutex.acquire();
        self.wait_while(|value| value < target);
        // SAFETY: held (`wait_while` returns with the mutex re-locked).
        unsafe { self.mutex.release() };
    }

    /// With every other thread joined: the mutex is free and the value is `expected`.
    fn assert_final(&self, expected: usize) {
        assert!(
            self.mutex.try_acquire(),
            "the mutex is still held after every thread finished"
        );
        assert_eq!(self.read(), expected);
        // SAFETY: `try_acquire` just succeeded.
        unsafe { self.mutex.release() };
    }
}

/// The waiter is asleep on the condvar before the notifier changes the flag, so every
/// execution needs `notify_one`'s wake (and then the mutex hand-back). With the wake dropped
/// (`--cfg atomsync_seeded_bug`) loom reports a deadlock.
#[test]
fn notify_one_wakes_sleeping_waiter() {
    model("notify_one_wakes_sleeping_waiter", || {
        let shared = Shared::new();
        let waiter = {
            let shared = Arc::clone(&shared);
            thread::spawn(move || shared.wait_for_at_least(1))
        };
        // Nothing holds the mutex meanwhile, so the one sleeper sleeps on the condvar.
        wait_until_asleep(1);
        shared.add_one_and_notify_one();
        waiter.join().unwrap();
        shared.assert_final(1);
    });
}

/// wait / notify_one racing freely: the notifier may come before the waiter locks, between
/// its registering and its sleep, or after it sleeps. The waiter loops while the flag is
/// false, as `wait_while` does.
#[test]
fn notify_one_races_waiter() {
    model("notify_one_races_waiter", || {
        let shared = Shared::new();
        let notifier = {
            let shared = Arc::clone(&shared);
            thread::spawn(move || shared.add_one_and_notify_one())
        };
        shared.wait_for_at_least(1);
        notifier.join().unwrap();
        shared.assert_final(1);
    });
}

/// notify_all with two waiters, both asleep on the condvar: it wakes one, which (holding the
/// mutex) requeues the other onto the mutex word and marks the mutex REQUEUED; its unlock must
/// then wake the requeued one. Checks in every execution that exactly one sleeper was requeued.
#[test]
fn notify_all_requeues_second_waiter() {
    model("notify_all_requeues_second_waiter", || {
        let shared = Shared::new();
        let waiters: Vec<_> = (0..2)
            .map(|_| {
                let shared = Arc::clone(&shared);
                thread::spawn(move || shared.wait_for_at_least(1))
            })
            .collect();
        // The mutex is not held by the main thread while it polls, so once two threads sleep
        // both are on the condvar (a thread sleeps on the mutex word only while another holds
        // the mutex, and a waiter releases it before it sleeps).
        wait_until_asleep(2);
        shared.mutex.acquire();
        shared.add_one();
        shared.condvar.notify_all_waiters();
        // SAFETY: acquired above.
        unsafe { shared.mutex.release() };
        for waiter in waiters {
            waiter.join().unwrap();
        }
        shared.assert_final(1);
        assert_eq!(
            futex_model_stats().requeued,
            1,
            "notify_all did not requeue the second waiter"
        );
    });
}

/// notify_all racing two waiters freely (either may not have registered yet, or not be asleep
/// yet, when notify_all runs); also notifying after the unlock. Records that some execution
/// went through the requeue.
#[test]
fn notify_all_races_two_waiters() {
    static REQUEUED: AtomicBool = AtomicBool::new(false);
    model("notify_all_races_two_waiters", || {
        let shared = Shared::new();
        let waiter = {
            let shared = Arc::clone(&shared);
            thread::spawn(move || shared.wait_for_at_least(1))
        };
        let notifier = {
            let shared = Arc::clone(&shared);
            thread::spawn(move || {
                shared.mutex.acquire();
                shared.add_one();
                // SAFETY: acquired above.
                unsafe { shared.mutex.release() };
                shared.condvar.notify_all_waiters();
            })
        };
        shared.wait_for_at_least(1);
        waiter.join().unwrap();
        notifier.join().unwrap();
        shared.assert_final(1);
        if futex_model_stats().requeued > 0 {
            REQUEUED.store(true, Ordering::Relaxed);
        }
    });
    assert!(
        REQUEUED.load(Ordering::Relaxed),
        "no execution went through the requeue"
    );
}

/// A `wait_while` predicate that needs two notifications: the waiter may be woken by the first
/// with the predicate still true and must sleep again (not miss the second); two notifiers
/// each add one and notify_one.
#[test]
fn wait_while_predicate_two_notifiers() {
    model("wait_while_predicate_two_notifiers", || {
        let shared = Shared::new();
        let notifiers: Vec<_> = (0..2)
            .map(|_| {
                let shared = Arc::clone(&shared);
                thread::spawn(move || shared.add_one_and_notify_one())
            })
            .collect();
        shared.wait_for_at_least(2);
        for notifier in notifiers {
            notifier.join().unwrap();
        }
        shared.assert_final(2);
    });
}
