//! loom models of `RawCondvar` with `RawMutex`: wait/notify_one, notify_all with two waiters
//! and the requeue onto the mutex word, a `wait_while`-style predicate, a notified waiter and
//! `unlock_fair`, and timed waits with the futex model's clock. See `docs/loom.md`.
//!
//! Run: `RUSTFLAGS="--cfg loom" CARGO_TARGET_DIR=target/loom LOOM_MAX_PREEMPTIONS=2 \
//!       cargo test -p atomsync-loom-tests --release --test condvar`
#![cfg(loom)]

use atomsync::{RawCondvar, RawMutex, futex_model_stats};
use atomsync_loom_tests::{model, model_with_max_preemptions, wait_until_asleep};
use loom::cell::UnsafeCell;
use loom::sync::Arc;
use loom::thread;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

/// A deadline that passes, under loom, only when a model's timer thread fires the futex
/// model's clock: in a model without a timer it never does.
fn far_deadline() -> Option<Instant> {
    Some(Instant::now() + Duration::from_secs(3600))
}

/// A mutex, a condvar and the state they guard, in a loom `UnsafeCell` so that loom reports
/// any access the mutex fails to order.
struct Shared {
    mutex: RawMutex,
    condvar: RawCondvar,
    value: UnsafeCell<usize>,
}

// SAFETY: `value` is only accessed while `mutex` is held (between `lock` and `unlock`,
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
            assert!(self.mutex.is_locked(), "wait_raw returned without the mutex");
        }
    }

    /// Locks, adds one, notifies one waiter, unlocks.
    fn add_one_and_notify_one(&self) {
        self.mutex.lock();
        self.add_one();
        self.condvar.notify_one();
        // SAFETY: acquired above.
        unsafe { self.mutex.unlock() };
    }

    /// Locks, waits until `value >= target`, unlocks.
    fn wait_for_at_least(&self, target: usize) {
        self.mutex.lock();
        self.wait_while(|value| value < target);
        // SAFETY: held (`wait_while` returns with the mutex re-locked).
        unsafe { self.mutex.unlock() };
    }

    /// Once `sleepers` waiters sleep (on the condvar: nobody holds the mutex while main polls,
    /// and a thread sleeps on the mutex word only while another holds it): lock, add one,
    /// `notify_all`, unlock.
    fn add_one_and_notify_all_to_sleepers(&self, sleepers: usize) {
        wait_until_asleep(sleepers);
        self.mutex.lock();
        self.add_one();
        self.condvar.notify_all();
        // SAFETY: acquired above.
        unsafe { self.mutex.unlock() };
    }

    /// With every other thread joined: the mutex is free and the value is `expected`.
    fn assert_final(&self, expected: usize) {
        assert!(self.mutex.try_lock(), "the mutex is still held after every thread finished");
        assert_eq!(self.read(), expected);
        // SAFETY: `try_lock` just succeeded.
        unsafe { self.mutex.unlock() };
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

/// `sleepers` waiters asleep on the condvar, then `notify_all`: it wakes one, which (holding
/// the mutex) requeues the others onto the mutex word and marks the mutex REQUEUED; unlocks
/// must then wake every requeued one. Checks that all `sleepers - 1` others were requeued and
/// that every waiter finished.
fn notify_all_wakes_every_sleeper(sleepers: usize) {
    let shared = Shared::new();
    let waiters: Vec<_> = (0..sleepers)
        .map(|_| {
            let shared = Arc::clone(&shared);
            thread::spawn(move || shared.wait_for_at_least(1))
        })
        .collect();
    shared.add_one_and_notify_all_to_sleepers(sleepers);
    for waiter in waiters {
        waiter.join().unwrap();
    }
    shared.assert_final(1);
    assert_eq!(futex_model_stats().requeued, sleepers - 1, "notify_all did not requeue the others");
}

/// notify_all with two waiters, both asleep on the condvar: the woken one requeues the other,
/// and its unlock must wake it.
#[test]
fn notify_all_requeues_second_waiter() {
    model("notify_all_requeues_second_waiter", || notify_all_wakes_every_sleeper(2));
}

/// notify_all with three waiters asleep on the condvar: the woken one requeues two, and a
/// REQUEUED unlock wakes both at once (`REQUEUED_WAKES`); one of them finds the lock taken by
/// the other and must sleep again as an ordinary waiter, and the unlock whose wake later finds
/// nobody clears REQUEUED. Nobody may be left behind. Four threads: explored with at most one
/// preemption (about 22 s here; with two it ran past 15 minutes, beyond the CI budget).
#[test]
fn notify_all_to_three_wakes_both_requeued_sleepers() {
    model_with_max_preemptions("notify_all_to_three_wakes_both_requeued_sleepers", 1, || {
        notify_all_wakes_every_sleeper(3)
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
                shared.mutex.lock();
                shared.add_one();
                // SAFETY: acquired above.
                unsafe { shared.mutex.unlock() };
                shared.condvar.notify_all();
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
    assert!(REQUEUED.load(Ordering::Relaxed), "no execution went through the requeue");
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

/// Issue 10, case 5: a waiter woken by `notify_one` was never requeued onto the mutex word and
/// must not claim the hand-off that `unlock_fair` makes to a thread asleep in `lock`. The
/// waiter sleeps on the condvar (mutex free), then main takes the mutex and a locker sleeps on
/// the mutex word; main sets the flag, notifies one and releases fairly: the locker must run
/// first (the waiter, re-taking the mutex, sees the locker's increment).
#[test]
fn notified_waiter_does_not_take_a_fair_hand_off() {
    model("notified_waiter_does_not_take_a_fair_hand_off", || {
        let shared = Shared::new();
        let waiter = {
            let shared = Arc::clone(&shared);
            thread::spawn(move || {
                shared.mutex.lock();
                shared.wait_while(|value| value < 1);
                let seen = shared.read();
                // SAFETY: held (`wait_while` returns with the mutex re-locked).
                unsafe { shared.mutex.unlock() };
                seen
            })
        };
        wait_until_asleep(1);
        shared.mutex.lock();
        let locker = {
            let shared = Arc::clone(&shared);
            thread::spawn(move || {
                shared.mutex.lock();
                shared.add_one();
                // SAFETY: acquired above.
                unsafe { shared.mutex.unlock() };
            })
        };
        wait_until_asleep(2);
        shared.add_one();
        shared.condvar.notify_one();
        // SAFETY: acquired above.
        unsafe { shared.mutex.unlock_fair() };
        let seen = waiter.join().unwrap();
        locker.join().unwrap();
        assert_eq!(seen, 2, "the notified waiter took the hand-off meant for the sleeping locker");
        shared.assert_final(2);
    });
}

/// Issue 10, case 7 in the small: `wait_for` racing `notify_one` and the clock, with a second,
/// untimed waiter. The main thread puts one token under the mutex and calls `notify_one`.
/// The timed waiter takes a token if it sees one, and otherwise leaves as soon as a wait
/// reports a timeout, *without* re-checking: so if it could spend the notify's wake and then
/// report a timeout, the untimed waiter would sleep forever next to a token (loom: deadlock).
/// The contract checked: a wait that reports a timeout consumed no notify (a wake wins over
/// the timeout, and a notify seen after the timeout, `seq` changed, reports "not timed out").
/// If the timed waiter took the token, main adds a second one for the untimed waiter.
#[test]
fn timed_wait_races_notify_one_with_a_second_waiter() {
    static TIMED_OUT: AtomicBool = AtomicBool::new(false);
    static NOTIFIED: AtomicBool = AtomicBool::new(false);
    model("timed_wait_races_notify_one_with_a_second_waiter", || {
        let shared = Shared::new();
        let timed = {
            let shared = Arc::clone(&shared);
            thread::spawn(move || {
                shared.mutex.lock();
                let got = loop {
                    if shared.read() > 0 {
                        // Take the token.
                        // SAFETY: we hold `mutex`, which guards `value`.
                        shared.value.with_mut(|value| unsafe { *value -= 1 });
                        break true;
                    }
                    // SAFETY: we hold `mutex`.
                    if !unsafe { shared.condvar.wait_raw(&shared.mutex, far_deadline()) } {
                        break false;
                    }
                };
                assert!(shared.mutex.is_locked());
                // SAFETY: held (`wait_raw` returns with the mutex re-locked).
                unsafe { shared.mutex.unlock() };
                got
            })
        };
        let untimed = {
            let shared = Arc::clone(&shared);
            thread::spawn(move || {
                // Wait for a token and take it in one critical section (the timed waiter may
                // take the first token between two).
                shared.mutex.lock();
                shared.wait_while(|value| value < 1);
                // SAFETY (of the cell access): we hold `mutex`.
                shared.value.with_mut(|value| unsafe { *value -= 1 });
                // SAFETY: held (`wait_while` returns with the mutex re-locked).
                unsafe { shared.mutex.unlock() };
            })
        };
        let timer = thread::spawn(atomsync::futex_model_expire_deadlines);
        shared.add_one_and_notify_one();
        let timed_got = timed.join().unwrap();
        if timed_got {
            shared.add_one_and_notify_one();
            NOTIFIED.store(true, Ordering::Relaxed);
        } else {
            TIMED_OUT.store(true, Ordering::Relaxed);
        }
        untimed.join().unwrap();
        timer.join().unwrap();
        shared.assert_final(0);
    });
    assert!(TIMED_OUT.load(Ordering::Relaxed), "no execution timed out");
    assert!(NOTIFIED.load(Ordering::Relaxed), "no execution had the timed waiter notified");
}

/// notify_all with a timed and an untimed waiter, both asleep on the condvar; the clock fires
/// only after the notify (the notify came "in time"), at any point loom chooses from there: the
/// timed waiter may be woken at once, or be requeued onto the mutex word and time out there,
/// or time out just as a wake comes. It must report "notified" every time (issue 10, case 7),
/// see the flag, and no requeued sleeper may be left behind (both waiters finish).
#[test]
fn timed_wait_requeued_by_notify_all_reports_the_notify() {
    model("timed_wait_requeued_by_notify_all_reports_the_notify", || {
        let shared = Shared::new();
        let timed = {
            let shared = Arc::clone(&shared);
            thread::spawn(move || {
                shared.mutex.lock();
                // SAFETY: we hold `mutex`.
                let notified = unsafe { shared.condvar.wait_raw(&shared.mutex, far_deadline()) };
                let value = shared.read();
                // SAFETY: held (`wait_raw` returns with the mutex re-locked).
                unsafe { shared.mutex.unlock() };
                (notified, value)
            })
        };
        let untimed = {
            let shared = Arc::clone(&shared);
            thread::spawn(move || shared.wait_for_at_least(1))
        };
        shared.add_one_and_notify_all_to_sleepers(2);
        let timer = thread::spawn(atomsync::futex_model_expire_deadlines);
        let (notified, value) = timed.join().unwrap();
        untimed.join().unwrap();
        timer.join().unwrap();
        assert!(notified, "a wait notified before its deadline reported a timeout");
        assert_eq!(value, 1);
        shared.assert_final(1);
    });
}

/// notify_all with two waiters asleep on the condvar, then the notifier barges: one
/// `try_lock` (and unlock) after its own unlock. `unlock` releases first and deals with
/// REQUEUED afterwards (it takes the free lock back to wake a requeued sleeper before
/// releasing again), so the barger may take the lock between that release and the
/// take-back: the wake of the requeued sleeper is then the barger's to make at its unlock.
/// No requeued sleeper may be left behind. `timed`: the second waiter to be woken may be the
/// timed one, and the clock fires at any point after the notify (also just after the wake
/// that a take-back spent on it): it must still report the notify and finish.
fn requeue_survives_a_barging_locker(name: &'static str, timed: bool) {
    // A plain std flag per model (the two tests run at once): loom does not see it.
    let barged = std::sync::Arc::new(AtomicBool::new(false));
    let seen = std::sync::Arc::clone(&barged);
    model(name, move || {
        let shared = Shared::new();
        let waiters: Vec<_> = (0..2)
            .map(|index| {
                let shared = Arc::clone(&shared);
                let deadline = if timed && index == 1 { far_deadline() } else { None };
                thread::spawn(move || {
                    shared.mutex.lock();
                    while shared.read() < 1 {
                        // SAFETY: we hold `mutex`.
                        let notified = unsafe { shared.condvar.wait_raw(&shared.mutex, deadline) };
                        assert!(notified, "a wait notified before its deadline reported a timeout");
                    }
                    // SAFETY: held (`wait_raw` returns with the mutex re-locked).
                    unsafe { shared.mutex.unlock() };
                })
            })
            .collect();
        shared.add_one_and_notify_all_to_sleepers(2);
        let timer = timed.then(|| thread::spawn(atomsync::futex_model_expire_deadlines));
        // Barge: one try (a full `lock` makes the model much larger).
        if shared.mutex.try_lock() {
            if futex_model_stats().requeued > 0 {
                seen.store(true, Ordering::Relaxed);
            }
            // SAFETY: `try_lock` returned true.
            unsafe { shared.mutex.unlock() };
        }
        for waiter in waiters {
            waiter.join().unwrap();
        }
        if let Some(timer) = timer {
            timer.join().unwrap();
        }
        shared.assert_final(1);
    });
    assert!(barged.load(Ordering::Relaxed), "{name}: no execution barged after the requeue");
}

#[test]
fn requeued_sleeper_is_woken_when_a_locker_barges_into_the_release() {
    requeue_survives_a_barging_locker(
        "requeued_sleeper_is_woken_when_a_locker_barges_into_the_release",
        false,
    );
}

#[test]
fn timed_requeued_sleeper_survives_a_barging_locker_and_the_clock() {
    requeue_survives_a_barging_locker(
        "timed_requeued_sleeper_survives_a_barging_locker_and_the_clock",
        true,
    );
}
