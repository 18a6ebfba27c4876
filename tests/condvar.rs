//! Public behaviour of [`atomsync::Condvar`] with [`atomsync::Mutex`], as a user coming from
//! `std::sync::Condvar` or `parking_lot::Condvar` relies on it: no lost or duplicated work in a
//! bounded producer/consumer queue, `notify_all` reaching every waiter (through the requeue onto
//! the mutex), `notify_one` reaching one waiter per call, timed waits and their bounds
//! (including `Duration::MAX`), notifications not being buffered, and the documented panic when
//! one condvar is used with two mutexes at once.
//!
//! Spurious wake-ups are allowed by the condvar's contract, so every wait that must end for a
//! reason is a `wait_while` on state protected by the mutex. A test that needs "all N threads
//! are waiting" counts them under the mutex: once the main thread holds the mutex and sees the
//! count, each of those threads has released the mutex inside `wait`, i.e. is registered as a
//! waiter, and cannot leave `wait` before the main thread lets go of the mutex. Every test that
//! could block forever on a bug runs under [`within`], which turns a deadlock into a failure.

mod common;

use atomsync::{Condvar, Mutex, MutexGuard, RawCondvar, RawMutex, WaitTimeoutResult};
use std::any::Any;
use std::collections::VecDeque;
use std::mem::size_of;
use std::panic::{self, AssertUnwindSafe};
use std::sync::atomic::AtomicBool;
use std::sync::atomic::Ordering::SeqCst;
use std::sync::mpsc;
use std::sync::{Arc, Barrier};
use std::thread;
use std::time::{Duration, Instant};

use common::{spawn_watched, wait_until_asleep, wait_until_asleep_on, within};

/// Upper slack for "returns promptly" checks: far above any sane latency, far below "hangs".
const PROMPT: Duration = Duration::from_secs(2);

/// The panic message of a condvar used with two mutexes at once must contain this.
const TWO_MUTEXES: &str = "two different mutexes";

/// The text of a panic payload.
fn panic_message(payload: &(dyn Any + Send)) -> String {
    if let Some(message) = payload.downcast_ref::<&str>() {
        message.to_string()
    } else if let Some(message) = payload.downcast_ref::<String>() {
        message.clone()
    } else {
        String::from("<non-string panic payload>")
    }
}

// ---------------------------------------------------------------------------------------------
// Producer / consumer
// ---------------------------------------------------------------------------------------------

const ITEMS: usize = 100_000;
const PRODUCERS: usize = 4;
const CONSUMERS: usize = 4;
const CAPACITY: usize = 16;

struct Queue {
    items: VecDeque<usize>,
    producers_done: usize,
}

/// Runs PRODUCERS producers of ITEMS ids in all and CONSUMERS consumers over a queue of
/// CAPACITY; `not_full` and `not_empty` may be the same condvar. Returns every consumer's ids.
fn run_bounded_queue(
    not_full: Arc<Condvar>,
    not_empty: Arc<Condvar>,
    notify_all: bool,
) -> Vec<Vec<usize>> {
    let queue = Arc::new(Mutex::new(Queue { items: VecDeque::new(), producers_done: 0 }));
    let notify = move |condvar: &Condvar| {
        if notify_all {
            condvar.notify_all();
        } else {
            condvar.notify_one();
        }
    };
    let producers: Vec<_> = (0..PRODUCERS)
        .map(|producer| {
            let (queue, not_full, not_empty) =
                (Arc::clone(&queue), Arc::clone(&not_full), Arc::clone(&not_empty));
            thread::spawn(move || {
                let share = ITEMS / PRODUCERS;
                for id in producer * share..(producer + 1) * share {
                    let mut guard = queue.lock();
                    not_full.wait_while(&mut guard, |queue| queue.items.len() == CAPACITY);
                    assert!(guard.items.len() < CAPACITY, "woke to a full queue");
                    guard.items.push_back(id);
                    drop(guard);
                    notify(&not_empty);
                }
                queue.lock().producers_done += 1;
                // Consumers that find the queue empty must learn that no more is coming.
                not_empty.notify_all();
            })
        })
        .collect();
    let consumers: Vec<_> = (0..CONSUMERS)
        .map(|_| {
            let (queue, not_full, not_empty) =
                (Arc::clone(&queue), Arc::clone(&not_full), Arc::clone(&not_empty));
            thread::spawn(move || {
                let mut taken = Vec::new();
                loop {
                    let mut guard = queue.lock();
                    not_empty.wait_while(&mut guard, |queue| {
                        queue.items.is_empty() && queue.producers_done < PRODUCERS
                    });
                    let Some(id) = guard.items.pop_front() else {
                        // Empty and every producer is done.
                        return taken;
                    };
                    drop(guard);
                    notify(&not_full);
                    taken.push(id);
                }
            })
        })
        .collect();
    for producer in producers {
        producer.join().unwrap();
    }
    let taken = consumers.into_iter().map(|consumer| consumer.join().unwrap()).collect();
    assert!(queue.lock().items.is_empty());
    taken
}

/// Every id in 0..ITEMS was taken exactly once.
fn assert_each_item_exactly_once(taken: Vec<Vec<usize>>) {
    let mut seen = vec![0u8; ITEMS];
    for id in taken.into_iter().flatten() {
        assert!(id < ITEMS, "an id nobody produced: {id}");
        seen[id] += 1;
        assert_eq!(seen[id], 1, "item {id} was consumed twice");
    }
    let lost: Vec<_> = (0..ITEMS).filter(|&id| seen[id] == 0).collect();
    assert!(lost.is_empty(), "{} items lost, e.g. {:?}", lost.len(), &lost[..lost.len().min(10)]);
}

#[test]
fn bounded_queue_with_two_condvars_loses_and_duplicates_nothing() {
    within(|| {
        let taken = run_bounded_queue(Arc::new(Condvar::new()), Arc::new(Condvar::new()), false);
        assert_each_item_exactly_once(taken);
    });
}

#[test]
fn bounded_queue_with_one_shared_condvar_and_notify_all_loses_and_duplicates_nothing() {
    // Producers and consumers sleep on the same condvar, so every notify must be a notify_all
    // (a notify_one could wake the wrong side); this drives the requeue path hard.
    within(|| {
        let condvar = Arc::new(Condvar::new());
        let taken = run_bounded_queue(Arc::clone(&condvar), condvar, true);
        assert_each_item_exactly_once(taken);
    });
}

// ---------------------------------------------------------------------------------------------
// notify_all and notify_one reach their waiters
// ---------------------------------------------------------------------------------------------

#[derive(Default)]
struct Gathering {
    /// Threads that have started waiting for the current generation.
    waiting: usize,
    /// Bumped by the notifier; waiters wait for it to change.
    generation: u64,
    /// Wake-ups that returned to the caller with the generation changed.
    woken: usize,
    /// Set while a woken thread is inside its critical section (non-atomic exclusivity check).
    inside: bool,
}

/// `waiters` threads wait on one condvar `rounds` times; each round the main thread waits
/// until all are waiting, then bumps the generation and calls `notify_all` once. With
/// `hammer_threads` > 0, other threads lock and unlock the mutex all along, so the requeued
/// waiters must get the mutex back from a contended lock; `Hammer::FairAndTimed` makes them
/// alternate `unlock_fair` (a hand-off while requeued sleepers are on the mutex word) with
/// short timed locks (a waiter that gives up while requeued sleepers are being woken).
fn notify_all_rounds(waiters: usize, rounds: usize, hammer_threads: usize) {
    notify_all_rounds_with(waiters, rounds, hammer_threads, Hammer::Plain);
}

#[derive(Clone, Copy)]
enum Hammer {
    Plain,
    FairAndTimed,
}

fn notify_all_rounds_with(waiters: usize, rounds: usize, hammer_threads: usize, hammer: Hammer) {
    let state = Arc::new((Mutex::new(Gathering::default()), Condvar::new(), Condvar::new()));
    let stop = Arc::new(AtomicBool::new(false));
    let hammers: Vec<_> = (0..hammer_threads)
        .map(|_| {
            let (state, stop) = (Arc::clone(&state), Arc::clone(&stop));
            thread::spawn(move || {
                let mut turn = 0u32;
                while !stop.load(SeqCst) {
                    turn = turn.wrapping_add(1);
                    let timed = matches!(hammer, Hammer::FairAndTimed) && turn.is_multiple_of(2);
                    let mut guard = if timed {
                        match state.0.try_lock_for(Duration::from_micros(20)) {
                            Some(guard) => guard,
                            None => continue,
                        }
                    } else {
                        state.0.lock()
                    };
                    assert!(!guard.inside);
                    guard.inside = true;
                    guard.inside = false;
                    if matches!(hammer, Hammer::FairAndTimed) && !timed {
                        MutexGuard::unlock_fair(guard);
                    }
                }
            })
        })
        .collect();
    let handles: Vec<_> = (0..waiters)
        .map(|_| {
            let state = Arc::clone(&state);
            thread::spawn(move || {
                let (mutex, wake_up, all_waiting) = (&state.0, &state.1, &state.2);
                let mut guard = mutex.lock();
                for _ in 0..rounds {
                    guard.waiting += 1;
                    if guard.waiting == waiters {
                        all_waiting.notify_one();
                    }
                    let generation = guard.generation;
                    wake_up.wait_while(&mut guard, |gathering| gathering.generation == generation);
                    assert!(!guard.inside, "two woken waiters hold the mutex at once");
                    guard.inside = true;
                    guard.woken += 1;
                    // Hold the mutex across a reschedule: the others queue up behind us.
                    thread::yield_now();
                    guard.inside = false;
                }
            })
        })
        .collect();
    {
        let (mutex, wake_up, all_waiting) = (&state.0, &state.1, &state.2);
        for round in 0..rounds {
            let mut guard = mutex.lock();
            all_waiting.wait_while(&mut guard, |gathering| gathering.waiting < waiters);
            assert_eq!(guard.waiting, waiters);
            assert_eq!(guard.woken, round * waiters, "a waiter woke before it was notified");
            guard.waiting = 0;
            guard.generation += 1;
            wake_up.notify_all();
        }
    }
    for handle in handles {
        handle.join().unwrap();
    }
    stop.store(true, SeqCst);
    for hammer in hammers {
        hammer.join().unwrap();
    }
    assert_eq!(state.0.lock().woken, waiters * rounds);
}

#[test]
fn notify_all_wakes_every_one_of_32_waiters() {
    within(|| notify_all_rounds(32, 5, 0));
}

#[test]
fn notify_all_wakes_every_waiter_while_other_threads_contend_for_the_mutex() {
    within(|| notify_all_rounds(16, 10, 4));
}

#[test]
fn notify_all_wakes_every_waiter_while_fair_unlocks_and_timed_locks_contend_for_the_mutex() {
    within(|| notify_all_rounds_with(16, 10, 3, Hammer::FairAndTimed));
}

#[test]
fn notify_all_wakes_a_single_waiter() {
    within(|| notify_all_rounds(1, 20, 0));
}

#[test]
fn notify_one_per_ticket_wakes_every_waiter_eventually() {
    // 16 waiters each need one ticket; the main thread hands out 16 tickets, one notify_one
    // each. No notify_one may be lost (a woken thread that finds no ticket goes back to sleep,
    // but then somebody else found one).
    const WAITERS: usize = 16;
    within(|| {
        #[derive(Default)]
        struct Tickets {
            waiting: usize,
            available: usize,
            taken: usize,
        }
        let state = Arc::new((Mutex::new(Tickets::default()), Condvar::new(), Condvar::new()));
        let handles: Vec<_> = (0..WAITERS)
            .map(|_| {
                let state = Arc::clone(&state);
                thread::spawn(move || {
                    let mut guard = state.0.lock();
                    guard.waiting += 1;
                    state.2.notify_one();
                    state.1.wait_while(&mut guard, |tickets| tickets.available == 0);
                    guard.available -= 1;
                    guard.taken += 1;
                })
            })
            .collect();
        let mut guard = state.0.lock();
        state.2.wait_while(&mut guard, |tickets| tickets.waiting < WAITERS);
        drop(guard);
        for _ in 0..WAITERS {
            state.0.lock().available += 1;
            state.1.notify_one();
        }
        for handle in handles {
            handle.join().unwrap();
        }
        let guard = state.0.lock();
        assert_eq!(guard.taken, WAITERS);
        assert_eq!(guard.available, 0);
    });
}

#[test]
fn ping_pong_between_two_threads_never_loses_a_notify() {
    const EXCHANGES: u64 = 20_000;
    within(|| {
        // `turn` is even when it is the ping thread's turn, odd for the pong thread.
        let state = Arc::new((Mutex::new(0u64), Condvar::new()));
        let pong = {
            let state = Arc::clone(&state);
            thread::spawn(move || {
                let mut turn = state.0.lock();
                while *turn < 2 * EXCHANGES {
                    state.1.wait_while(&mut turn, |turn| *turn % 2 == 0);
                    *turn += 1;
                    state.1.notify_one();
                }
            })
        };
        let mut turn = state.0.lock();
        while *turn < 2 * EXCHANGES {
            *turn += 1;
            state.1.notify_one();
            state.1.wait_while(&mut turn, |turn| *turn % 2 == 1);
        }
        drop(turn);
        pong.join().unwrap();
        assert_eq!(*state.0.lock(), 2 * EXCHANGES);
    });
}

#[test]
fn notify_with_no_waiters_is_harmless_and_not_remembered() {
    let mutex = Mutex::new(());
    let condvar = Condvar::new();
    // Spurious wake-ups are possible, so the contract's return values are false and 0.
    assert!(!condvar.notify_one());
    assert_eq!(condvar.notify_all(), 0);
    for _ in 0..3 {
        condvar.notify_one();
        condvar.notify_all();
    }
    // Notifications are not buffered: a later wait still times out.
    let timeout = Duration::from_millis(20);
    let start = Instant::now();
    let result = condvar.wait_for(&mut mutex.lock(), timeout);
    assert!(result.timed_out(), "an earlier notify with no waiter woke a later wait");
    assert!(start.elapsed() >= timeout);
    assert!(!mutex.is_locked());
}

#[test]
fn the_return_values_of_notify_follow_the_contract_with_waiters_too() {
    // With spurious wake-ups possible, lock_api requires false / 0 even when a thread waits.
    within(|| {
        let state = Arc::new((Mutex::new((false, false)), Condvar::new()));
        let waiter = {
            let state = Arc::clone(&state);
            thread::spawn(move || {
                let mut guard = state.0.lock();
                guard.0 = true;
                state.1.wait_while(&mut guard, |(_, go)| !*go);
            })
        };
        loop {
            let mut guard = state.0.lock();
            if guard.0 {
                // The waiter is registered (it released the mutex inside wait).
                guard.1 = true;
                assert!(!state.1.notify_one());
                assert_eq!(state.1.notify_all(), 0);
                break;
            }
            drop(guard);
            thread::yield_now();
        }
        waiter.join().unwrap();
    });
}

// ---------------------------------------------------------------------------------------------
// Timed waits
// ---------------------------------------------------------------------------------------------

#[test]
fn wait_for_times_out_no_earlier_than_its_timeout() {
    let mutex = Mutex::new(0);
    let condvar = Condvar::new();
    let mut guard = mutex.lock();
    for timeout in [Duration::from_millis(1), Duration::from_millis(20), Duration::from_millis(100)]
    {
        let start = Instant::now();
        let result: WaitTimeoutResult = condvar.wait_for(&mut guard, timeout);
        let elapsed = start.elapsed();
        assert!(result.timed_out(), "nobody notified, yet the wait did not time out");
        assert!(elapsed >= timeout, "timed out after {elapsed:?}, before the {timeout:?} timeout");
        assert!(elapsed < timeout + PROMPT, "took {elapsed:?} for a {timeout:?} timeout");
        // The mutex is held again, and the guard works.
        assert!(mutex.is_locked());
        *guard += 1;
    }
    drop(guard);
    assert_eq!(*mutex.lock(), 3);
}

#[test]
fn wait_until_times_out_no_earlier_than_its_deadline() {
    let mutex = Mutex::new(());
    let condvar = Condvar::new();
    let mut guard = mutex.lock();
    for timeout in [Duration::from_millis(5), Duration::from_millis(60)] {
        let deadline = Instant::now() + timeout;
        let result = condvar.wait_until(&mut guard, deadline);
        let now = Instant::now();
        assert!(result.timed_out());
        assert!(now >= deadline, "returned {:?} before the deadline", deadline - now);
        assert!(now < deadline + PROMPT);
    }
}

#[test]
fn past_deadlines_and_zero_timeouts_time_out_at_once() {
    let mutex = Mutex::new(1);
    let condvar = Condvar::new();
    let mut guard = mutex.lock();
    let past = Instant::now().checked_sub(Duration::from_millis(10)).unwrap_or_else(Instant::now);
    let start = Instant::now();
    assert!(condvar.wait_until(&mut guard, past).timed_out());
    assert!(condvar.wait_for(&mut guard, Duration::ZERO).timed_out());
    assert!(condvar.wait_while_until(&mut guard, |_| true, past).timed_out());
    assert!(condvar.wait_while_for(&mut guard, |_| true, Duration::ZERO).timed_out());
    assert!(start.elapsed() < PROMPT, "a past deadline waited {:?}", start.elapsed());
    assert!(mutex.is_locked());
    *guard += 1;
    drop(guard);
    assert_eq!(*mutex.lock(), 2);
}

#[test]
fn wait_while_for_an_unchanging_condition_times_out_no_earlier_than_its_timeout() {
    let mutex = Mutex::new(0u32);
    let condvar = Condvar::new();
    let mut guard = mutex.lock();
    let timeout = Duration::from_millis(50);

    let start = Instant::now();
    let mut checks = 0;
    let result = condvar.wait_while_for(
        &mut guard,
        |_| {
            checks += 1;
            true // never satisfied
        },
        timeout,
    );
    assert!(result.timed_out());
    assert!(start.elapsed() >= timeout);
    assert!(checks >= 2, "the condition is checked before waiting and after the timeout");

    let deadline = Instant::now() + timeout;
    assert!(condvar.wait_while_until(&mut guard, |_| true, deadline).timed_out());
    assert!(Instant::now() >= deadline);
}

#[test]
fn wait_while_with_a_condition_already_met_does_not_wait() {
    let mutex = Mutex::new(5);
    let condvar = Condvar::new();
    let mut guard = mutex.lock();
    let start = Instant::now();
    assert!(
        !condvar
            .wait_while_for(&mut guard, |value| *value != 5, Duration::from_secs(30))
            .timed_out()
    );
    assert!(!condvar.wait_while_for(&mut guard, |_| false, Duration::ZERO).timed_out());
    let past = Instant::now().checked_sub(Duration::from_millis(10)).unwrap_or_else(Instant::now);
    assert!(!condvar.wait_while_until(&mut guard, |_| false, past).timed_out());
    condvar.wait_while(&mut guard, |_| false);
    assert!(start.elapsed() < PROMPT);
}

#[test]
fn a_notified_timed_wait_returns_early_and_not_timed_out() {
    within(|| {
        let state = Arc::new((Mutex::new((false, false)), Condvar::new()));
        let (waiting_tx, waiting_rx) = mpsc::channel();
        let timeout = Duration::from_secs(30);
        let waiter = {
            let state = Arc::clone(&state);
            thread::spawn(move || {
                let mut guard = state.0.lock();
                guard.0 = true;
                waiting_tx.send(()).unwrap();
                let start = Instant::now();
                let result = state.1.wait_while_for(&mut guard, |(_, done)| !*done, timeout);
                assert!(!result.timed_out());
                assert!(guard.1);
                assert!(start.elapsed() < timeout);
            })
        };
        waiting_rx.recv().unwrap();
        // Taking the mutex after the waiter announced itself under it means it is waiting.
        let mut guard = state.0.lock();
        assert!(guard.0);
        guard.1 = true;
        state.1.notify_one();
        drop(guard);
        waiter.join().unwrap();
    });
}

/// The latest `Instant` that can be represented (found by halving steps from now).
fn farthest_instant() -> Instant {
    let mut instant = Instant::now();
    let mut step = Duration::MAX;
    while step > Duration::from_nanos(0) {
        match instant.checked_add(step) {
            Some(later) => instant = later,
            None => step /= 2,
        }
    }
    instant
}

#[test]
fn waits_with_duration_max_and_the_farthest_deadline_are_woken_by_notify() {
    // None of these may overflow, panic, or return "timed out".
    within(|| {
        for form in 0..4 {
            let state = Arc::new((Mutex::new((false, false)), Condvar::new()));
            let waiter = {
                let state = Arc::clone(&state);
                thread::spawn(move || {
                    let (mutex, condvar) = (&state.0, &state.1);
                    let mut guard = mutex.lock();
                    guard.0 = true;
                    let not_done = |state: &mut (bool, bool)| !state.1;
                    match form {
                        0 => {
                            while !guard.1 {
                                assert!(!condvar.wait_for(&mut guard, Duration::MAX).timed_out());
                            }
                        }
                        1 => assert!(
                            !condvar
                                .wait_while_for(&mut guard, not_done, Duration::MAX)
                                .timed_out()
                        ),
                        2 => {
                            while !guard.1 {
                                assert!(
                                    !condvar.wait_until(&mut guard, farthest_instant()).timed_out()
                                );
                            }
                        }
                        _ => assert!(
                            !condvar
                                .wait_while_until(&mut guard, not_done, farthest_instant())
                                .timed_out()
                        ),
                    }
                    assert!(guard.1);
                })
            };
            loop {
                let mut guard = state.0.lock();
                if guard.0 {
                    guard.1 = true;
                    state.1.notify_one();
                    break;
                }
                drop(guard);
                thread::yield_now();
            }
            waiter.join().unwrap();
        }
    });
}

#[test]
fn a_timed_out_wait_returns_only_once_it_holds_the_mutex_again() {
    within(|| {
        let state = Arc::new((Mutex::new((false, false)), Condvar::new()));
        let (waiting_tx, waiting_rx) = mpsc::channel();
        let waiter = {
            let state = Arc::clone(&state);
            thread::spawn(move || {
                let mut guard = state.0.lock();
                guard.0 = true;
                waiting_tx.send(()).unwrap();
                let result = state.1.wait_for(&mut guard, Duration::from_millis(10));
                // The main thread held the mutex past our timeout, then set the flag just
                // before releasing it: we must see it.
                assert!(guard.1, "wait_for returned without re-taking the mutex");
                assert!(result.timed_out());
            })
        };
        waiting_rx.recv().unwrap();
        let mut guard = state.0.lock();
        assert!(guard.0);
        // Outlast the waiter's timeout while holding the mutex.
        thread::sleep(Duration::from_millis(50));
        guard.1 = true;
        drop(guard);
        waiter.join().unwrap();
    });
}

/// Issue 10, case 7: `notify_all` wakes one waiter and the others sleep on the mutex word (or
/// still on the condvar) until the ones before them have had the mutex. Three waiters with
/// `wait_for(100 ms)`, notified a few milliseconds in, each holding the mutex 60 ms afterwards:
/// the third gets the mutex back ~120 ms in, past its deadline, but it was notified in time
/// and must not report a timeout. A timeout counts as false only if the notify came before
/// that waiter's deadline (so a machine too slow to get all three waiting in 100 ms does not
/// fail the test). Before the fix: about one wait in three reported a timeout.
#[test]
fn waits_notified_in_time_report_no_timeout_however_long_the_mutex_takes_afterwards() {
    const WAITERS: usize = 3;
    const ROUNDS: usize = 8;
    const TIMEOUT: Duration = Duration::from_millis(100);
    const HOLD: Duration = Duration::from_millis(60);
    #[derive(Default)]
    struct Round {
        waiting: usize,
        notified: bool,
    }
    within(|| {
        let mut false_timeouts = Vec::new();
        for round in 0..ROUNDS {
            let state = Arc::new((Mutex::new(Round::default()), Condvar::new()));
            let waiters: Vec<_> = (0..WAITERS)
                .map(|_| {
                    let state = Arc::clone(&state);
                    thread::spawn(move || {
                        let (mutex, condvar) = (&state.0, &state.1);
                        let mut guard = mutex.lock();
                        let deadline = Instant::now() + TIMEOUT;
                        guard.waiting += 1;
                        // Loop only over spurious wake-ups; report the last wait's result.
                        let timed_out = loop {
                            let result = condvar.wait_until(&mut guard, deadline);
                            if result.timed_out() || guard.notified {
                                break result.timed_out();
                            }
                        };
                        // Hold the mutex a long time: the others queue behind us.
                        thread::sleep(HOLD);
                        (timed_out, deadline)
                    })
                })
                .collect();
            let notified_at = loop {
                let mut guard = state.0.lock();
                if guard.waiting == WAITERS {
                    guard.notified = true;
                    state.1.notify_all();
                    break Instant::now();
                }
                drop(guard);
                thread::sleep(Duration::from_micros(200));
            };
            for waiter in waiters {
                let (timed_out, deadline) = waiter.join().unwrap();
                if timed_out && notified_at < deadline {
                    false_timeouts.push((round, deadline - notified_at));
                }
            }
        }
        assert!(
            false_timeouts.is_empty(),
            "waits notified in time reported a timeout (round, notify this long before the \
             deadline): {false_timeouts:?}"
        );
    });
}

/// Issue 10, case 5: a condvar waiter woken by `notify_one` was never requeued onto the mutex
/// word, so it must not claim a hand-off that `unlock_fair` made to the thread asleep in
/// `lock()`. The main thread holds the mutex with one thread asleep on the mutex word and one
/// asleep on the condvar; it notifies the waiter and, still holding the mutex, unlocks fairly:
/// the sleeper must get the mutex first. Before the fix the notified waiter, already running,
/// claimed the hand-off in most rounds.
#[test]
fn unlock_fair_hands_off_to_the_mutex_sleeper_not_to_a_notified_condvar_waiter() {
    const ROUNDS: usize = 20;
    #[derive(Default)]
    struct Order {
        waiting: bool,
        go: bool,
        order: Vec<&'static str>,
    }
    within(|| {
        let mut stolen = 0;
        for _round in 0..ROUNDS {
            let state = Arc::new((Mutex::new(Order::default()), Condvar::new()));
            let (waiter, waiter_id) = {
                let state = Arc::clone(&state);
                spawn_watched(move || {
                    let mut guard = state.0.lock();
                    guard.waiting = true;
                    state.1.wait_while(&mut guard, |order| !order.go);
                    guard.order.push("condvar waiter");
                })
            };
            // Once we hold the mutex and see `waiting`, the waiter is inside `wait`; the only
            // futex it can sleep on then is the condvar's.
            let mut guard = loop {
                let guard = state.0.lock();
                if guard.waiting {
                    break guard;
                }
                drop(guard);
                thread::yield_now();
            };
            wait_until_asleep(waiter_id);
            let (sleeper, sleeper_id) = {
                let state = Arc::clone(&state);
                spawn_watched(move || state.0.lock().order.push("mutex sleeper"))
            };
            // SAFETY: only the address of the raw mutex is taken.
            let word = unsafe { state.0.raw() } as *const RawMutex as u64;
            wait_until_asleep_on(sleeper_id, &[word]);
            guard.go = true;
            state.1.notify_one();
            MutexGuard::unlock_fair(guard);
            sleeper.join().unwrap();
            waiter.join().unwrap();
            let order = state.0.lock().order.clone();
            assert_eq!(order.len(), 2, "{order:?}");
            if order[0] != "mutex sleeper" {
                stolen += 1;
            }
        }
        assert_eq!(
            stolen, 0,
            "a condvar waiter woken by notify_one took the hand-off meant for the sleeper in \
             {stolen} of {ROUNDS} rounds"
        );
    });
}

// ---------------------------------------------------------------------------------------------
// One condvar, two mutexes
// ---------------------------------------------------------------------------------------------

#[derive(Default)]
struct Parked {
    /// The parked thread has started waiting (set under the mutex before `wait`).
    waiting: bool,
    /// Tells the parked thread to finish.
    done: bool,
}

/// Two mutexes side by side. The condvar's two-mutex check compares a 15-bit hash of the
/// mutex address, documented to miss one pair of unrelated addresses in 32768; neighbouring
/// addresses are always told apart by that multiplicative hash, so the tests below are not
/// flaky by 1 in 32768.
struct TwoMutexes {
    mutexes: [Mutex<Parked>; 2],
    condvar: Condvar,
}

/// Parks a thread in `condvar.wait_while` with `mutexes[index]` and returns with that mutex
/// held: while we hold it, the parked thread cannot leave `wait` (it must re-take the mutex
/// first), so it stays registered as a waiter with that mutex.
fn park_a_waiter(
    shared: &Arc<TwoMutexes>,
    index: usize,
) -> (MutexGuard<'_, Parked>, thread::JoinHandle<()>) {
    let parked = {
        let shared = Arc::clone(shared);
        thread::spawn(move || {
            let mut guard = shared.mutexes[index].lock();
            guard.waiting = true;
            shared.condvar.wait_while(&mut guard, |parked| !parked.done);
        })
    };
    loop {
        let guard = shared.mutexes[index].lock();
        if guard.waiting {
            return (guard, parked);
        }
        drop(guard);
        thread::yield_now();
    }
}

/// Lets the parked thread finish.
fn release_parked(
    shared: &TwoMutexes,
    mut guard: MutexGuard<'_, Parked>,
    parked: thread::JoinHandle<()>,
) {
    guard.done = true;
    shared.condvar.notify_all();
    drop(guard);
    parked.join().unwrap();
}

fn two_mutexes() -> Arc<TwoMutexes> {
    Arc::new(TwoMutexes { mutexes: Default::default(), condvar: Condvar::new() })
}

#[test]
fn waiting_with_a_second_mutex_while_a_thread_waits_with_the_first_panics() {
    within(|| {
        let shared = two_mutexes();
        let (guard_a, parked) = park_a_waiter(&shared, 0);

        let mutex_b = &shared.mutexes[1];
        let mut guard_b = mutex_b.lock();
        let result = panic::catch_unwind(AssertUnwindSafe(|| {
            shared.condvar.wait(&mut guard_b);
        }));
        let payload = result.expect_err("a wait with a second mutex must panic");
        let message = panic_message(&*payload);
        assert!(message.contains(TWO_MUTEXES), "unexpected panic message: {message:?}");
        // The panic came before the unlock: B is still locked and the guard still valid.
        assert!(mutex_b.is_locked());
        assert!(mutex_b.try_lock().is_none());
        guard_b.done = true;
        drop(guard_b);
        assert!(!mutex_b.is_locked());
        assert!(mutex_b.try_lock().unwrap().done);

        release_parked(&shared, guard_a, parked);
    });
}

#[test]
fn every_wait_form_panics_with_a_second_mutex_and_unwinding_unlocks_it() {
    within(|| {
        let shared = two_mutexes();
        let (guard_a, parked) = park_a_waiter(&shared, 0);
        let mutex_b = &shared.mutexes[1];
        let condvar = &shared.condvar;
        for form in 0..6 {
            // The guard lives inside the closure: unwinding drops it, which must unlock B.
            let result = panic::catch_unwind(AssertUnwindSafe(|| {
                let mut guard_b = mutex_b.lock();
                let in_an_hour = Instant::now() + Duration::from_secs(3600);
                match form {
                    0 => condvar.wait(&mut guard_b),
                    1 => condvar.wait_while(&mut guard_b, |_| true),
                    2 => drop(condvar.wait_for(&mut guard_b, Duration::from_secs(3600))),
                    3 => drop(condvar.wait_until(&mut guard_b, in_an_hour)),
                    4 => drop(condvar.wait_while_for(
                        &mut guard_b,
                        |_| true,
                        Duration::from_secs(3600),
                    )),
                    _ => drop(condvar.wait_while_until(&mut guard_b, |_| true, in_an_hour)),
                }
            }));
            let payload = result.expect_err("a wait with a second mutex must panic");
            let message = panic_message(&*payload);
            assert!(
                message.contains(TWO_MUTEXES),
                "form {form}: unexpected panic message: {message:?}"
            );
            assert!(mutex_b.try_lock().is_some(), "form {form}: the unwind did not unlock B");
        }
        release_parked(&shared, guard_a, parked);

        // The failed attempts left nothing behind: with A's waiter gone, B may use the condvar.
        let mut guard_b = mutex_b.lock();
        assert!(condvar.wait_for(&mut guard_b, Duration::from_millis(1)).timed_out());
    });
}

#[test]
fn a_condvar_may_be_used_with_two_mutexes_one_after_the_other() {
    within(|| {
        let shared = two_mutexes();
        let condvar = &shared.condvar;
        // Timed-out waits, alternating.
        for round in 0..4 {
            let mut guard = shared.mutexes[round % 2].lock();
            assert!(condvar.wait_for(&mut guard, Duration::from_millis(1)).timed_out());
        }
        // Real waits ended by a notify, first with A, then with B, then A again.
        for round in 0..3 {
            let (guard, parked) = park_a_waiter(&shared, round % 2);
            release_parked(&shared, guard, parked);
            *shared.mutexes[round % 2].lock() = Parked::default();
        }
    });
}

#[test]
fn a_panicking_condition_leaves_no_waiter_behind() {
    // wait_while's condition panics after a real wait; the unwind unlocks the mutex, and the
    // condvar does not still count the thread as a waiter with that mutex.
    within(|| {
        let shared = two_mutexes();
        let result = {
            let shared = Arc::clone(&shared);
            thread::spawn(move || {
                let mut guard = shared.mutexes[0].lock();
                guard.waiting = true;
                shared.condvar.wait_while(&mut guard, |parked| {
                    assert!(!parked.done, "deliberate panic in the condition");
                    true
                });
            })
        };
        loop {
            let mut guard = shared.mutexes[0].lock();
            if guard.waiting {
                guard.done = true;
                shared.condvar.notify_all();
                break;
            }
            drop(guard);
            thread::yield_now();
        }
        assert!(result.join().is_err(), "the condition should have panicked");
        assert!(!shared.mutexes[0].is_locked());
        let mut guard_b = shared.mutexes[1].lock();
        assert!(shared.condvar.wait_for(&mut guard_b, Duration::from_millis(1)).timed_out());
    });
}

// ---------------------------------------------------------------------------------------------
// Stress: notify_one / notify_all with timed waits
// ---------------------------------------------------------------------------------------------

#[test]
fn mixed_notify_one_notify_all_and_timed_waits_under_eight_threads() {
    // Eight threads take turns in a fixed order (thread i moves when turn % 8 == i). Each waits
    // for its turn with a short timed wait; the mover wakes the others with notify_one (which
    // may well wake the wrong thread: the right one then gets there by its timeout) or
    // notify_all. Every timed-out wait must have lasted its timeout and must report a
    // condition still unmet; the turns must all happen, each exactly once.
    const THREADS: usize = 8;
    const ROUNDS: usize = 150;
    within(|| {
        struct Turns {
            turn: usize,
            moves: [usize; THREADS],
        }
        let state = Arc::new((Mutex::new(Turns { turn: 0, moves: [0; THREADS] }), Condvar::new()));
        let start = Arc::new(Barrier::new(THREADS));
        let handles: Vec<_> = (0..THREADS)
            .map(|me| {
                let (state, start) = (Arc::clone(&state), Arc::clone(&start));
                thread::spawn(move || {
                    let (mutex, condvar) = (&state.0, &state.1);
                    start.wait();
                    let mut timeouts = 0usize;
                    for round in 0..ROUNDS {
                        let mut guard = mutex.lock();
                        loop {
                            let timeout =
                                Duration::from_micros(500 + 250 * ((me + round) % 7) as u64);
                            let begin = Instant::now();
                            let result = condvar.wait_while_for(
                                &mut guard,
                                |turns| turns.turn % THREADS != me,
                                timeout,
                            );
                            if !result.timed_out() {
                                break;
                            }
                            assert!(begin.elapsed() >= timeout, "timed out early");
                            assert_ne!(
                                guard.turn % THREADS,
                                me,
                                "timed out with the condition met"
                            );
                            timeouts += 1;
                        }
                        assert_eq!(
                            guard.turn,
                            round * THREADS + me,
                            "a turn was skipped or repeated"
                        );
                        guard.turn += 1;
                        guard.moves[me] += 1;
                        if guard.turn % 2 == 0 {
                            condvar.notify_all();
                        } else {
                            condvar.notify_one();
                        }
                    }
                    timeouts
                })
            })
            .collect();
        for handle in handles {
            handle.join().unwrap();
        }
        let guard = state.0.lock();
        assert_eq!(guard.turn, THREADS * ROUNDS);
        assert_eq!(guard.moves, [ROUNDS; THREADS]);
    });
}

// ---------------------------------------------------------------------------------------------
// Size, const construction
// ---------------------------------------------------------------------------------------------

static READY: Mutex<bool> = Mutex::new(false);
static READY_CHANGED: Condvar = Condvar::new();
static RAW: RawCondvar = RawCondvar::new();

#[test]
fn a_condvar_is_at_most_eight_bytes_and_can_be_a_static() {
    assert!(size_of::<Condvar>() <= 8, "Condvar is {} bytes", size_of::<Condvar>());
    assert_eq!(size_of::<RawCondvar>(), size_of::<Condvar>());
    let _: Condvar = Condvar::default();
    assert!(!RAW.notify_one());
    within(|| {
        let setter = thread::spawn(|| {
            *READY.lock() = true;
            READY_CHANGED.notify_all();
        });
        let mut ready = READY.lock();
        READY_CHANGED.wait_while(&mut ready, |ready| !*ready);
        assert!(*ready);
        drop(ready);
        setter.join().unwrap();
    });
}

#[test]
fn condvars_are_send_and_sync() {
    fn assert_send_sync<T: Send + Sync>() {}
    assert_send_sync::<Condvar>();
    assert_send_sync::<RawCondvar>();
}
