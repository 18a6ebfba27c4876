//! Condvar tests written to kill mutants that `tests/condvar.rs` lets survive (issue 11; see
//! `docs/testing.md`). Each pins one rule of `src/condvar.rs` that the other tests execute
//! without checking.
//!
//! The condvar's contract allows spurious wake-ups, so these tests first make sure every waiter
//! really sleeps in the futex (read from `/proc/self/task/<id>/syscall`, see `tests/common`):
//! then no wake-up can come from anything but a notify, and counting them is exact. Every
//! blocking test runs under [`within`].

mod common;

use atomsync::{Condvar, Mutex};
use std::sync::{Arc, mpsc};

use common::{DEADLOCK, spawn_watched, wait_until_asleep, within};

/// `notify_one` with two waiters asleep wakes one of them; the other stays asleep on the
/// condvar. (Only `notify_all` asks the woken waiter to requeue the others onto the mutex, from
/// where the mutex's unlocks would wake them one by one.)
#[test]
fn notify_one_wakes_one_of_two_sleeping_waiters_and_leaves_the_other_asleep() {
    within(|| {
        struct Shared {
            state: Mutex<(usize, usize)>, // (waiting, returned)
            condvar: Condvar,
        }
        let shared = Arc::new(Shared { state: Mutex::new((0, 0)), condvar: Condvar::new() });
        let (returned_tx, returned_rx) = mpsc::channel();
        let waiters: Vec<_> = (0..2)
            .map(|index| {
                let (shared, returned_tx) = (Arc::clone(&shared), returned_tx.clone());
                spawn_watched(move || {
                    let mut guard = shared.state.lock();
                    guard.0 += 1;
                    // One plain wait: it returns on the first wake, whatever woke it.
                    shared.condvar.wait(&mut guard);
                    guard.1 += 1;
                    returned_tx.send(index).unwrap();
                })
            })
            .collect();
        // Both registered (each released the mutex inside `wait`), then both asleep on the
        // condvar: the only futex a registered waiter sleeps on before it is woken.
        while shared.state.lock().0 < 2 {
            std::thread::yield_now();
        }
        for (_, id) in &waiters {
            wait_until_asleep(*id);
        }
        shared.condvar.notify_one();
        let first = returned_rx.recv_timeout(DEADLOCK).expect("notify_one woke nobody");
        let mut waiters: Vec<_> = waiters.into_iter().map(Some).collect();
        let (first_handle, _) = waiters[first].take().unwrap();
        first_handle.join().unwrap();
        // A requeued waiter would be woken by a release of the mutex: release it once more.
        drop(shared.state.lock());
        let (other_handle, other_id) = waiters[1 - first].take().unwrap();
        wait_until_asleep(other_id);
        assert!(returned_rx.try_recv().is_err(), "notify_one woke both waiters");
        assert_eq!(shared.state.lock().1, 1);
        // Let the other one go.
        shared.condvar.notify_one();
        assert_eq!(returned_rx.recv_timeout(DEADLOCK), Ok(1 - first));
        other_handle.join().unwrap();
        assert_eq!(*shared.state.lock(), (2, 2));
    });
}
