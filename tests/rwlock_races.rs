//! The RwLock's timed and racing paths (issue 10): a wake spent on a writer that then times out,
//! readers barging between a writer's wake and its CAS (writer starvation, also with every core
//! hogged), passed deadlines on a loaded machine, and the upgradable fair unlock.
//!
//! These tests measure waiting times, and some hog every core on purpose, so they live in their
//! own test binary (cargo runs test binaries one after the other) and take [`SERIAL`] so that
//! they do not run beside each other either: a hog must only slow down the test that asked for
//! it. Every blocking test runs under [`within`].

mod common;

use atomsync::{RwLock, RwLockUpgradableReadGuard};
use std::sync::atomic::Ordering::SeqCst;
use std::sync::atomic::{AtomicBool, AtomicUsize};
use std::sync::{Arc, Mutex, MutexGuard, mpsc};
use std::thread;
use std::time::{Duration, Instant};

use common::{spawn_sleeping_on_rwlock, spawn_watched, wait_until_asleep_on_rwlock, within};

/// Held by each test of this file for its whole run.
static SERIAL: Mutex<()> = Mutex::new(());

fn serial() -> MutexGuard<'static, ()> {
    SERIAL.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

// ---------------------------------------------------------------------------------------------
// Timed and racing paths (issue 10): a wake spent on a thread that then times out, readers
// barging between a wake and the woken writer's CAS, passed deadlines, the upgradable fair unlock
// ---------------------------------------------------------------------------------------------

/// Busy loops on every core until `stop`: the machine is as loaded as a user's can be.
fn hog_cores(stop: &Arc<AtomicBool>) -> Vec<thread::JoinHandle<()>> {
    let cores = thread::available_parallelism().map_or(2, |n| n.get());
    (0..cores)
        .map(|_| {
            let stop = Arc::clone(stop);
            thread::spawn(move || {
                while !stop.load(SeqCst) {
                    std::hint::spin_loop();
                }
            })
        })
        .collect()
}

/// Case 1 of issue 10: the lock is held (by a reader, or by a writer); W1 waits with a timeout,
/// W2 without; the holder releases right at W1's deadline and at once wants the lock again. The
/// release's wake may go to W1, which then times out: W2 must still get the lock (it used to
/// sleep forever on a free lock). Several release offsets before the deadline, both holders;
/// the holder keeps its second lock until W1 has finished.
#[test]
fn a_timed_out_writer_never_strands_the_next_writer() {
    let _serial = serial();
    within(|| {
        const TIMEOUT: Duration = Duration::from_millis(20);
        for holder_writes in [false, true] {
            for offset_us in [0u64, 300, 700, 1_000, 1_500, 2_000, 3_000, 5_000] {
                let lock = Arc::new(RwLock::new(0u32));
                let held = if holder_writes { Err(lock.write()) } else { Ok(lock.read()) };
                let started = Instant::now();
                let (w1, w1_id) = {
                    let lock = Arc::clone(&lock);
                    spawn_watched(move || {
                        lock.try_write_for(TIMEOUT).map(|mut guard| *guard += 1).is_some()
                    })
                };
                wait_until_asleep_on_rwlock(w1_id, &lock);
                let (done_tx, done_rx) = mpsc::channel();
                let w2 = spawn_sleeping_on_rwlock(&lock, move |lock| {
                    *lock.write() += 1;
                    done_tx.send(()).unwrap();
                });
                // Release just before W1's deadline (offset_us early), then take it again.
                let release_at = started + TIMEOUT - Duration::from_micros(offset_us);
                while Instant::now() < release_at {
                    std::hint::spin_loop();
                }
                drop(held);
                let again = if holder_writes { Err(lock.write()) } else { Ok(lock.read()) };
                // Hold it until W1 has finished (taken the lock or given up).
                let w1_wrote = w1.join().unwrap();
                drop(again);
                assert!(
                    done_rx.recv_timeout(Duration::from_secs(5)).is_ok(),
                    "W2 never got the lock (holder writes: {holder_writes}, offset {offset_us} us)"
                );
                w2.join().unwrap();
                assert_eq!(*lock.read(), 1 + u32::from(w1_wrote));
                assert!(!lock.is_locked());
            }
        }
    });
}

/// Case 2 of issue 10: four readers that each hold about 1 ms and release only while another
/// reader is inside (or after 20 ms alone), so the lock is always read-held while they run. A
/// `write()` must get in within the longest read section plus 100 ms (one read phase), also with
/// every core hogged by a busy loop. (It used to wait until the readers stopped: seconds.)
fn writer_waits_one_read_phase(hog: bool) {
    let _serial = serial();
    within(move || {
        const READERS: usize = 4;
        const HOLD: Duration = Duration::from_millis(1);
        const ALONE: Duration = Duration::from_millis(20);
        let lock = Arc::new(RwLock::new(0u64));
        let stop = Arc::new(AtomicBool::new(false));
        let inside = Arc::new(AtomicUsize::new(0));
        let reads = Arc::new(AtomicUsize::new(0));
        let longest_section_us = Arc::new(AtomicUsize::new(0));
        let hogs = if hog { hog_cores(&stop) } else { Vec::new() };
        let readers: Vec<_> = (0..READERS)
            .map(|_| {
                let (lock, stop, inside, reads, longest) = (
                    Arc::clone(&lock),
                    Arc::clone(&stop),
                    Arc::clone(&inside),
                    Arc::clone(&reads),
                    Arc::clone(&longest_section_us),
                );
                thread::spawn(move || {
                    while !stop.load(SeqCst) {
                        let guard = lock.read();
                        let entered = Instant::now();
                        inside.fetch_add(1, SeqCst);
                        while entered.elapsed() < HOLD {
                            std::hint::spin_loop();
                        }
                        // Leave only while another reader is inside, or after ALONE.
                        while inside.load(SeqCst) < 2
                            && entered.elapsed() < ALONE
                            && !stop.load(SeqCst)
                        {
                            thread::yield_now();
                        }
                        inside.fetch_sub(1, SeqCst);
                        std::hint::black_box(*guard);
                        drop(guard);
                        let section = entered.elapsed().as_micros() as usize;
                        longest.fetch_max(section, SeqCst);
                        reads.fetch_add(1, SeqCst);
                    }
                })
            })
            .collect();
        while reads.load(SeqCst) < 20 {
            thread::yield_now();
        }
        let start = Instant::now();
        *lock.write() += 1;
        let waited = start.elapsed();
        stop.store(true, SeqCst);
        for thread in readers.into_iter().chain(hogs) {
            thread.join().unwrap();
        }
        let longest = Duration::from_micros(longest_section_us.load(SeqCst) as u64);
        assert!(
            waited <= longest + Duration::from_millis(100),
            "the writer waited {waited:?}; the longest read section was {longest:?} (hogged: {hog})"
        );
        assert_eq!(*lock.read(), 1);
    });
}

#[test]
fn a_writer_waits_at_most_one_read_phase_behind_overlapping_readers() {
    writer_waits_one_read_phase(false);
}

#[test]
fn a_writer_waits_at_most_one_read_phase_with_every_core_hogged() {
    writer_waits_one_read_phase(true);
}

/// Case 9 of issue 10: a passed deadline returns at once, before any spinning or yielding. With
/// every core hogged, each `yield_now` of a spin schedule gives the CPU away for a time slice,
/// so the median zero-timeout call would take milliseconds; it must take what `try_*` takes.
#[test]
fn zero_timeouts_return_at_once_on_a_loaded_machine() {
    let _serial = serial();
    within(|| {
        let stop = Arc::new(AtomicBool::new(false));
        let hogs = hog_cores(&stop);
        let lock = RwLock::new(0);
        let median = |op: &dyn Fn() -> bool| {
            let mut took: Vec<Duration> = (0..41)
                .map(|_| {
                    let start = Instant::now();
                    assert!(!op(), "a zero timeout acquired a held lock");
                    start.elapsed()
                })
                .collect();
            took.sort();
            took[took.len() / 2]
        };
        let write = lock.write();
        let read_zero = median(&|| lock.try_read_for(Duration::ZERO).is_some());
        let write_zero = median(&|| lock.try_write_for(Duration::ZERO).is_some());
        let upgradable_zero = median(&|| lock.try_upgradable_read_until(Instant::now()).is_some());
        drop(write);
        let upgradable = lock.upgradable_read();
        let read = lock.read();
        let mut upgradable = Some(upgradable);
        let upgrade_zero = median(&|| false);
        let mut took = Vec::new();
        for _ in 0..41 {
            let start = Instant::now();
            let guard = upgradable.take().unwrap();
            let back = RwLockUpgradableReadGuard::try_upgrade_for(guard, Duration::ZERO)
                .expect_err("a reader holds");
            took.push(start.elapsed());
            upgradable = Some(back);
        }
        took.sort();
        let upgrade_took = took[took.len() / 2].max(upgrade_zero);
        drop(read);
        drop(upgradable);
        stop.store(true, SeqCst);
        for hog in hogs {
            hog.join().unwrap();
        }
        for (what, took) in [
            ("try_read_for(ZERO)", read_zero),
            ("try_write_for(ZERO)", write_zero),
            ("try_upgradable_read_until(now)", upgradable_zero),
            ("try_upgrade_for(ZERO)", upgrade_took),
        ] {
            assert!(took < Duration::from_micros(500), "{what}: median {took:?}");
        }
        assert!(!lock.is_locked());
    });
}

/// `RawRwLockUpgradeFair` (issue 10, build 5): `unlock_fair` releases an upgradable lock, and
/// `bump` lets a waiting writer in before the bumping thread gets its upgradable lock back.
#[test]
fn upgradable_fair_unlock_and_bump_let_a_waiting_writer_in() {
    let _serial = serial();
    within(|| {
        let lock = Arc::new(RwLock::new(0u32));
        let guard = lock.upgradable_read();
        RwLockUpgradableReadGuard::unlock_fair(guard);
        assert!(!lock.is_locked());

        let mut guard = lock.upgradable_read();
        // Nobody waits: bump gives the lock back at once, still upgradable.
        RwLockUpgradableReadGuard::bump(&mut guard);
        assert_eq!(*guard, 0);
        let writer = spawn_sleeping_on_rwlock(&lock, |lock| *lock.write() += 1);
        RwLockUpgradableReadGuard::bump(&mut guard);
        // The writer had its turn before we got the upgradable lock back.
        assert_eq!(*guard, 1);
        writer.join().unwrap();
        let mut write = RwLockUpgradableReadGuard::upgrade(guard);
        *write += 1;
        drop(write);
        assert_eq!(*lock.read(), 2);
        assert!(!lock.is_locked());
    });
}
