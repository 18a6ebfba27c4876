//! Semaphore paths that `tests/semaphore.rs` executes without pinning down (found by
//! cargo-mutants, `docs/testing.md`): the queue wake of a head that got its permits, the
//! reservation a timed-out head gives back, and the permits' `Debug` output.
//!
//! Each blocking test waits for the real condition (a thread asleep in a futex wait on the
//! semaphore, seen in /proc) and runs under [`within`].

mod common;

use atomsync::{AcquireError, Semaphore};
use std::sync::Arc;
use std::time::Duration;

use common::{spawn_watched, wait_until_asleep_on, within};

/// The addresses of the semaphore's 32-bit words (its sleepers wait on one of them).
fn words_of(semaphore: &Semaphore) -> Vec<u64> {
    let start = semaphore as *const Semaphore as u64;
    (0..std::mem::size_of::<Semaphore>() as u64 / 4).map(|word| start + 4 * word).collect()
}

/// A head and two queued waiters asleep; one release of three permits wakes the head, and the
/// head, served, must wake the queue for the permits it left: nobody else ever will.
#[test]
fn a_served_head_wakes_the_queue_for_the_permits_it_leaves() {
    within(|| {
        let semaphore = Arc::new(Semaphore::new(0));
        let acquire_one = |semaphore: &Arc<Semaphore>| {
            let semaphore = Arc::clone(semaphore);
            spawn_watched(move || semaphore.acquire().map(|permit| permit.forget()))
        };
        let (head, head_id) = acquire_one(&semaphore);
        wait_until_asleep_on(head_id, &words_of(&semaphore));
        let queued: Vec<_> = (0..2)
            .map(|_| {
                let (waiter, waiter_id) = acquire_one(&semaphore);
                wait_until_asleep_on(waiter_id, &words_of(&semaphore));
                waiter
            })
            .collect();
        // The head is woken and takes one; the two permits left are the queue's: both queued
        // waiters must be woken (one wake each), or one sleeps next to a free permit.
        semaphore.add_permits(3);
        assert_eq!(head.join().unwrap(), Ok(()));
        for waiter in queued {
            assert_eq!(waiter.join().unwrap(), Ok(()));
        }
        assert_eq!(semaphore.available_permits(), 0);
    });
}

/// A head that times out gives its reservation back and leaves the semaphore as it was: open,
/// with the permits it held, and usable by the next acquire.
#[test]
fn a_timed_out_head_leaves_the_semaphore_open_and_usable() {
    within(|| {
        let semaphore = Arc::new(Semaphore::new(1));
        let held = semaphore.acquire().unwrap();
        let (head, head_id) = {
            let semaphore = Arc::clone(&semaphore);
            spawn_watched(move || {
                semaphore.acquire_for(Duration::from_millis(300)).map(|permit| permit.forget())
            })
        };
        // Asleep as the head (or, on a very slow machine, already timed out: then the
        // checks below still hold).
        wait_until_asleep_on(head_id, &words_of(&semaphore));
        assert_eq!(head.join().unwrap(), Err(AcquireError::TimedOut));
        assert!(!semaphore.is_closed());
        assert_eq!(semaphore.available_permits(), 0);
        drop(held);
        assert_eq!(semaphore.available_permits(), 1);
        assert_eq!(semaphore.try_acquire_many(1).map(|permit| permit.num_permits()), Ok(1));
        semaphore.add_permits(2);
        assert_eq!(semaphore.acquire_many(2).map(|permit| permit.num_permits()), Ok(2));
    });
}

#[test]
fn permits_show_their_kind_and_count_in_debug() {
    let semaphore = Arc::new(Semaphore::new(3));
    let borrowed = format!("{:?}", semaphore.acquire_many(2).unwrap());
    assert!(borrowed.starts_with("SemaphorePermit"), "{borrowed}");
    assert!(borrowed.contains('2'), "{borrowed}");
    let owned = format!("{:?}", Arc::clone(&semaphore).acquire_owned().unwrap());
    assert!(owned.starts_with("OwnedSemaphorePermit"), "{owned}");
    assert!(owned.contains('1'), "{owned}");
}
