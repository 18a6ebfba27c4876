//! loom models of the ThreadPool's protocol pieces, in isolation: the idle-worker sleep
//! protocol (`pool/sleep.rs`), a worker waiting on a latch inside that protocol
//! (`pool/latch.rs`), the one-shot result cell under `JoinHandle` (`pool/handle.rs`), and the
//! recycled memory of tasks (a scope's slab, `pool/slab.rs`; `execute`'s blocks,
//! `pool/recycle.rs`). See `docs/loom.md`.
//!
//! The queues of the real pool (crossbeam-deque) are modelled by a loom atomic counter of
//! queued jobs, pushed with a Release increment and taken with an Acquire CAS — no stronger
//! than a deque push/steal, so only the protocol's own fences make the models pass.
//!
//! Run: `RUSTFLAGS="--cfg loom" CARGO_TARGET_DIR=target/loom LOOM_MAX_PREEMPTIONS=2 \
//!       cargo test -p atomsync-loom-tests --release --test pool`
#![cfg(loom)]

use atomsync::pool::{Announce, Latch, LoomJob, LoomSlab, LoomTaskBlocks, OneShot, Sleep};
use atomsync_loom_tests::{model, wait_until_asleep};
use loom::sync::Arc;
use loom::sync::atomic::{AtomicBool, AtomicUsize};
use loom::thread;
use std::sync::atomic::Ordering::{Acquire, Relaxed, Release, SeqCst};
use std::task::{Poll, Wake, Waker};

/// A pool reduced to its sleep protocol: a queue (a count of jobs), the shutdown flag.
struct Pool {
    queued: AtomicUsize,
    ran: AtomicUsize,
    shutdown: AtomicBool,
    sleep: Sleep,
}

impl Pool {
    fn new() -> Arc<Self> {
        Arc::new(Self {
            queued: AtomicUsize::new(0),
            ran: AtomicUsize::new(0),
            shutdown: AtomicBool::new(false),
            sleep: Sleep::new(),
        })
    }

    /// `Shared::submit` from outside: push, then notify.
    fn push(&self) {
        // Release: a deque push publishes the job (no stronger).
        self.queued.fetch_add(1, Release);
        self.sleep.notify_one();
    }

    /// Takes a job if there is one (a steal) and runs it.
    fn try_run_one(&self) -> bool {
        // Acquire: a steal reads the job the push published.
        let mut queued = self.queued.load(Acquire);
        while queued > 0 {
            match self.queued.compare_exchange(queued, queued - 1, Acquire, Acquire) {
                Ok(_) => {
                    self.ran.fetch_add(1, Relaxed);
                    return true;
                }
                Err(current) => queued = current,
            }
        }
        false
    }

    /// `WorkerThread::main_loop` (without the spin phase): run jobs; when there are none,
    /// announce, re-check, sleep; exit on shutdown with empty queues. A wake acknowledged by
    /// `sleep` is passed on when the next job is taken (or, here, when the worker stops, as a
    /// worker returning to a task would). Returns after `stop_after` jobs if given (a model
    /// without shutdown).
    fn worker(&self, stop_after: Option<usize>) {
        let mut ran = 0;
        let mut owe_wake = false;
        loop {
            if stop_after == Some(ran) {
                self.pass_on_wake(&mut owe_wake);
                return;
            }
            if self.try_run_one() {
                self.pass_on_wake(&mut owe_wake);
                ran += 1;
                continue;
            }
            owe_wake = false;
            let ticket = self.sleep.prepare_to_sleep();
            let shutting_down = self.shutdown.load(SeqCst);
            loom::sync::atomic::fence(SeqCst);
            if self.try_run_one() {
                self.sleep.cancel(ticket);
                ran += 1;
            } else if shutting_down {
                self.sleep.cancel(ticket);
                return;
            } else {
                owe_wake = self.sleep.sleep(ticket);
            }
        }
    }

    /// `WorkerThread::pass_on_wake`.
    fn pass_on_wake(&self, owe_wake: &mut bool) {
        if std::mem::take(owe_wake) {
            self.sleep.notify_one();
        }
    }

    fn begin_shutdown(&self) {
        self.shutdown.store(true, SeqCst);
        self.sleep.notify_all();
    }
}

/// Starts a thread running `pool.worker(stop_after)`.
fn spawn_worker(pool: &Arc<Pool>, stop_after: Option<usize>) -> thread::JoinHandle<()> {
    let pool = Arc::clone(pool);
    thread::spawn(move || pool.worker(stop_after))
}

/// One worker that stops after `jobs` jobs; `submit` (given the pool) pushes them: every job
/// runs, and the worker is done.
fn one_worker_runs_every_job(jobs: usize, submit: impl FnOnce(&Arc<Pool>)) {
    let pool = Pool::new();
    let worker = spawn_worker(&pool, Some(jobs));
    submit(&pool);
    worker.join().unwrap();
    assert_eq!(pool.ran.load(Relaxed), jobs);
}

/// A worker that already sleeps (or is deciding to) when the job is pushed: the push wakes it
/// and the job runs. Without the wake (the seeded bug) the worker sleeps forever: a loom
/// deadlock. CI runs this model on the seeded-bug build and requires that deadlock.
#[test]
fn push_wakes_sleeping_worker() {
    model("pool::push_wakes_sleeping_worker", || {
        one_worker_runs_every_job(1, |pool| {
            // Every execution takes the sleeping path at least once: the job comes after the
            // worker is asleep.
            wait_until_asleep(1);
            pool.push();
        });
    });
}

/// The job is pushed at any point while the worker decides to sleep (no forced ordering):
/// it always runs.
#[test]
fn push_races_worker_going_to_sleep() {
    model("pool::push_races_worker_going_to_sleep", || {
        one_worker_runs_every_job(1, |pool| pool.push());
    });
}

/// Two workers; `before_pushes` (given the pool), then two pushes and shutdown: each job runs
/// exactly once and both workers exit.
fn two_workers_two_pushes_then_shutdown(before_pushes: impl Fn(&Pool)) {
    let pool = Pool::new();
    let workers = [spawn_worker(&pool, None), spawn_worker(&pool, None)];
    before_pushes(&pool);
    pool.push();
    pool.push();
    pool.begin_shutdown();
    for worker in workers {
        worker.join().unwrap();
    }
    assert_eq!(pool.ran.load(Relaxed), 2);
}

/// Two workers, two jobs, then shutdown: each job runs exactly once and both workers exit
/// (a push wakes at most one sleeper, so the second push must wake the other).
#[test]
fn two_workers_two_jobs_then_shutdown() {
    model("pool::two_workers_two_jobs_then_shutdown", || {
        two_workers_two_pushes_then_shutdown(|_| {});
    });
}

/// The push lands while the worker is registered as idle: re-checking the queues, committing
/// to sleep, or asleep (wherever loom puts it). A pusher that finds it registered but not
/// committed only bumps the event counter (no wake): the worker must then not sleep through
/// the job.
#[test]
fn push_while_worker_registered() {
    model("pool::push_while_worker_registered", || {
        one_worker_runs_every_job(1, |pool| {
            while pool.sleep.registered() == 0 {
                thread::yield_now();
            }
            pool.push();
        });
    });
}

/// One worker asleep, two concurrent pushes: the second may find the first one's wake in
/// flight (`WAKE_PENDING`) and skip its own, so the woken worker must find both jobs.
#[test]
fn second_push_while_wake_in_flight() {
    model("pool::second_push_while_wake_in_flight", || {
        one_worker_runs_every_job(2, |pool| {
            wait_until_asleep(1);
            let pusher = {
                let pool = Arc::clone(pool);
                thread::spawn(move || pool.push())
            };
            pool.push();
            pusher.join().unwrap();
        });
    });
}

/// Both workers asleep, two pushes (the second while the first wake may be in flight), then
/// shutdown: both jobs run once and both workers exit.
#[test]
fn two_sleepers_two_pushes_then_shutdown() {
    model("pool::two_sleepers_two_pushes_then_shutdown", || {
        two_workers_two_pushes_then_shutdown(|_| wait_until_asleep(2));
    });
}

/// Both workers asleep, two pushes; each worker runs one job and then stops, as a worker
/// that blocks in its task would. The second push may skip its wake on the first one's, which
/// is in flight: the woken worker must pass the wake on when it takes its job (`sleep`
/// returned true), or the other job stays queued behind a blocked worker while the other one
/// sleeps (a deadlock).
#[test]
fn busy_worker_passes_the_wake_on() {
    model("pool::busy_worker_passes_the_wake_on", || {
        let pool = Pool::new();
        let workers = [spawn_worker(&pool, Some(1)), spawn_worker(&pool, Some(1))];
        wait_until_asleep(2);
        pool.push();
        pool.push();
        for worker in workers {
            worker.join().unwrap();
        }
        assert_eq!(pool.ran.load(Relaxed), 2);
    });
}

/// A worker's wait on a latch (`WorkerThread::wait_until` without the spin phase): run jobs
/// while the latch is unset; when there are none, announce itself on the latch, announce
/// itself to the sleep protocol, re-check both, sleep; a wake acknowledged by `sleep` is passed
/// on when a job is taken or the wait ends. `run_job` is what running one job does.
fn wait_until(pool: &Pool, latch: &Latch, run_job: impl Fn()) {
    let mut owe_wake = false;
    help_until(pool, latch, &run_job, &mut owe_wake);
    pool.pass_on_wake(&mut owe_wake);
}

/// `WorkerThread::help_until`: `wait_until`'s loop.
fn help_until(pool: &Pool, latch: &Latch, run_job: &impl Fn(), owe_wake: &mut bool) {
    while !latch.is_set() {
        if pool.try_run_one() {
            pool.pass_on_wake(owe_wake);
            run_job();
            continue;
        }
        *owe_wake = false;
        match latch.announce_pool_sleeper() {
            Announce::Set => return,
            Announce::Setting => {
                thread::yield_now();
                continue;
            }
            Announce::Announced => {}
        }
        let ticket = pool.sleep.prepare_to_sleep();
        if !latch.still_announced() {
            pool.sleep.cancel(ticket);
            continue;
        }
        if pool.try_run_one() {
            pool.sleep.cancel(ticket);
            run_job();
        } else {
            *owe_wake = pool.sleep.sleep(ticket);
        }
    }
}

/// A latch a worker of `pool` may wait on, with the pool (whose `Sleep` it points to).
fn pool_latch(pool: &Arc<Pool>) -> Arc<Latch> {
    // SAFETY: every model keeps `pool` (an `Arc` clone per thread) alive until all its threads
    // are joined, so the `Sleep` outlives every use of the latch.
    Arc::new(unsafe { Latch::for_pool(&pool.sleep) })
}

/// The latch is set (by a "thief") already while the waiter is asleep in the pool's protocol:
/// the setter must notify the pool. Without it (the seeded bug) the waiter sleeps forever: a
/// loom deadlock, which CI requires on the seeded-bug build.
#[test]
fn latch_set_wakes_worker_asleep_in_pool() {
    model("pool::latch_set_wakes_worker_asleep_in_pool", || {
        let pool = Pool::new();
        let latch = pool_latch(&pool);
        let waiter = {
            let (pool, latch) = (Arc::clone(&pool), Arc::clone(&latch));
            thread::spawn(move || wait_until(&pool, &latch, || {}))
        };
        wait_until_asleep(1);
        latch.set();
        waiter.join().unwrap();
        assert!(latch.is_set());
    });
}

/// The latch is set at any point while the waiter decides to sleep: the waiter returns.
#[test]
fn latch_set_races_worker_going_to_sleep() {
    model("pool::latch_set_races_worker_going_to_sleep", || {
        let pool = Pool::new();
        let latch = pool_latch(&pool);
        let waiter = {
            let (pool, latch) = (Arc::clone(&pool), Arc::clone(&latch));
            thread::spawn(move || wait_until(&pool, &latch, || {}))
        };
        latch.set();
        waiter.join().unwrap();
    });
}

/// A job is pushed at any point while the waiter decides to sleep on its latch: the push wakes
/// it (the latch alone would not: here the job itself is what sets the latch, as when the
/// waiter's own dependency is queued), the job runs once, and the waiter returns.
#[test]
fn push_races_worker_waiting_on_latch() {
    model("pool::push_races_worker_waiting_on_latch", || {
        let pool = Pool::new();
        let latch = pool_latch(&pool);
        let waiter = {
            let (pool, latch) = (Arc::clone(&pool), Arc::clone(&latch));
            thread::spawn(move || wait_until(&pool, &latch, || latch.set()))
        };
        pool.push();
        waiter.join().unwrap();
        assert_eq!(pool.ran.load(Relaxed), 1);
    });
}

/// Both at once: a third thread sets the latch while main pushes a job; the waiter must end
/// up running the job or seeing the latch (and `ran` counts the job at most once).
#[test]
fn push_and_latch_set_race_worker_waiting() {
    model("pool::push_and_latch_set_race_worker_waiting", || {
        let pool = Pool::new();
        let latch = pool_latch(&pool);
        let waiter = {
            let (pool, latch) = (Arc::clone(&pool), Arc::clone(&latch));
            thread::spawn(move || wait_until(&pool, &latch, || {}))
        };
        let setter = {
            let latch = Arc::clone(&latch);
            thread::spawn(move || latch.set())
        };
        pool.push();
        setter.join().unwrap();
        waiter.join().unwrap();
        assert!(pool.ran.load(Relaxed) <= 1);
    });
}

/// A value with a loom-visible drop counter.
struct Counted(Arc<AtomicUsize>);

impl Drop for Counted {
    fn drop(&mut self) {
        self.0.fetch_add(1, Relaxed);
    }
}

/// `complete` on the worker vs a blocking `join`: the joiner gets the value, whether it
/// arrived before, while spinning, or after the joiner slept.
#[test]
fn oneshot_complete_vs_join() {
    model("pool::oneshot_complete_vs_join", || {
        let cell = Arc::new(OneShot::new());
        let producer = {
            let cell = Arc::clone(&cell);
            thread::spawn(move || cell.complete(42u32))
        };
        assert_eq!(cell.wait(None), Some(42));
        producer.join().unwrap();
    });
}

/// `complete` vs dropping the handle (detach): the value is dropped exactly once, by
/// whichever side lets go last.
#[test]
fn oneshot_complete_vs_drop_of_handle() {
    model("pool::oneshot_complete_vs_drop_of_handle", || {
        let drops = Arc::new(AtomicUsize::new(0));
        let cell = Arc::new(OneShot::new());
        let producer = {
            let (cell, drops) = (Arc::clone(&cell), Arc::clone(&drops));
            thread::spawn(move || cell.complete(Counted(drops)))
        };
        drop(cell);
        producer.join().unwrap();
        assert_eq!(drops.load(Relaxed), 1);
    });
}

/// A waker that records that it was woken.
struct Flag(AtomicBool);

impl Wake for Flag {
    fn wake(self: std::sync::Arc<Self>) {
        self.0.store(true, Release);
    }
}

/// `complete` vs `poll` registering a waker: either `poll` is Ready with the value, or it is
/// Pending and the waker is woken (so a second poll is Ready). Polling twice re-registers.
#[test]
fn oneshot_complete_vs_poll() {
    model("pool::oneshot_complete_vs_poll", || {
        let cell = Arc::new(OneShot::new());
        let producer = {
            let cell = Arc::clone(&cell);
            thread::spawn(move || cell.complete(7u32))
        };
        let flag = std::sync::Arc::new(Flag(AtomicBool::new(false)));
        let waker = Waker::from(std::sync::Arc::clone(&flag));
        let mut value = None;
        for _ in 0..2 {
            if let Poll::Ready(v) = cell.poll(&waker) {
                value = Some(v);
                break;
            }
        }
        producer.join().unwrap();
        match value {
            Some(v) => assert_eq!(v, 7),
            None => {
                assert!(flag.0.load(Acquire), "Pending, but the waker was never woken");
                assert_eq!(cell.poll(&waker), Poll::Ready(7));
            }
        }
    });
}

/// `complete` vs `poll` then a blocking `wait` (a handle polled once, then joined).
#[test]
fn oneshot_poll_then_join() {
    model("pool::oneshot_poll_then_join", || {
        let cell = Arc::new(OneShot::new());
        let producer = {
            let cell = Arc::clone(&cell);
            thread::spawn(move || cell.complete(9u32))
        };
        let flag = std::sync::Arc::new(Flag(AtomicBool::new(false)));
        let waker = Waker::from(flag);
        let value = match cell.poll(&waker) {
            Poll::Ready(v) => v,
            Poll::Pending => cell.wait(None).unwrap(),
        };
        assert_eq!(value, 9);
        producer.join().unwrap();
    });
}

// ---- A scope's job slab (`pool/slab.rs`) ----
//
// Under loom each block carries a cell that every touch writes (the owner's fill and refill,
// the runner's read and give-back), so loom reports any two touches of one block that no
// happens-before orders. Chunks are 1 and then 2 blocks, so a refill comes within a few jobs.
// A job reaches its runner through `thread::spawn`, which publishes it as a deque push and
// steal do (Release, Acquire).

/// A job that counts its run.
fn counting(ran: &Arc<AtomicUsize>) -> impl FnOnce() + Send + 'static {
    let ran = Arc::clone(ran);
    move || {
        ran.fetch_add(1, Relaxed);
    }
}

/// A home of job blocks that a model fills: a scope's slab or a pool's task blocks.
trait Blocks: Send + Sync + 'static {
    /// Fills `job` into a block.
    ///
    /// # Safety
    /// As `LoomSlab::job` (one filling thread) or `LoomTaskBlocks::job` (any thread): each
    /// job runs once, before the home is dropped.
    unsafe fn job(&self, job: impl FnOnce() + Send) -> LoomJob;
}

impl Blocks for LoomSlab {
    unsafe fn job(&self, job: impl FnOnce() + Send) -> LoomJob {
        // SAFETY: forwarded.
        unsafe { LoomSlab::job(self, job) }
    }
}

impl Blocks for LoomTaskBlocks {
    unsafe fn job(&self, job: impl FnOnce() + Send) -> LoomJob {
        // SAFETY: forwarded.
        unsafe { LoomTaskBlocks::job(self, job) }
    }
}

/// Fills a counting job into `blocks` (a slab only from the model's main thread, its owner).
fn fill<B: Blocks>(blocks: &Arc<B>, ran: &Arc<AtomicUsize>) -> LoomJob {
    // SAFETY: a slab is filled only from the model's main thread; each model runs every job
    // once, and every runner holds the home's `Arc` (`run_elsewhere`) until its job ran.
    unsafe { blocks.job(counting(ran)) }
}

/// Runs `job` on a new thread that holds the blocks' home until the job ran.
fn run_elsewhere<B: Blocks>(blocks: &Arc<B>, job: LoomJob) -> thread::JoinHandle<()> {
    let blocks = Arc::clone(blocks);
    thread::spawn(move || {
        job.run();
        drop(blocks);
    })
}

/// The owner refills while a runner reads a job out and gives its block back: the refill
/// reuses the block only after the runner's read (or takes a new chunk). The seeded bug (the
/// give-back's Release made Relaxed) makes loom report the two touches as a race.
#[test]
fn a_block_is_refilled_only_after_its_job_was_read() {
    model("pool::a_block_is_refilled_only_after_its_job_was_read", || {
        let (slab, ran) = (Arc::new(LoomSlab::default()), Arc::new(AtomicUsize::new(0)));
        let runner = run_elsewhere(&slab, fill(&slab, &ran));
        let refills = [fill(&slab, &ran), fill(&slab, &ran)];
        refills.into_iter().for_each(LoomJob::run);
        runner.join().unwrap();
        assert_eq!(ran.load(Relaxed), 3);
    });
}

/// Two runners give their blocks back at once (the push's CAS loop) while the owner takes
/// the given-back stack whole and refills from it.
#[test]
fn two_runners_give_back_while_the_owner_refills() {
    model("pool::two_runners_give_back_while_the_owner_refills", || {
        let (slab, ran) = (Arc::new(LoomSlab::default()), Arc::new(AtomicUsize::new(0)));
        let runners =
            [run_elsewhere(&slab, fill(&slab, &ran)), run_elsewhere(&slab, fill(&slab, &ran))];
        let refills: Vec<LoomJob> = (0..3).map(|_| fill(&slab, &ran)).collect();
        refills.into_iter().for_each(LoomJob::run);
        runners.into_iter().for_each(|runner| runner.join().unwrap());
        assert_eq!(ran.load(Relaxed), 5);
    });
}

// ---- `execute`'s recycled task blocks (`pool/recycle.rs`) ----
//
// As for the slab: every touch of a block writes its loom cell. Under loom a thread keeps no
// list of its own: each give-back pushes a chain of one block onto the pool's stack, and a
// taker takes the whole stack, keeps its first chain and pushes the others back; the stack
// keeps two blocks at most and frees a third. Any thread may fill, unlike a slab.

/// A runner gives its block back, and the submitter refills once the task has run: nothing
/// but the stack's push (Release) and take (Acquire) orders the runner's read of the task
/// before the refill's write (the submitter learns that the task ran from a Relaxed load).
/// The seeded bug (the push's Release made Relaxed) makes loom report the two touches as a
/// race.
#[test]
fn a_task_block_is_refilled_only_after_its_task_was_read() {
    model("pool::a_task_block_is_refilled_only_after_its_task_was_read", || {
        let (blocks, ran) = (Arc::new(LoomTaskBlocks::default()), Arc::new(AtomicUsize::new(0)));
        let runner = run_elsewhere(&blocks, fill(&blocks, &ran));
        while ran.load(Relaxed) == 0 {
            thread::yield_now();
        }
        let refills = [fill(&blocks, &ran), fill(&blocks, &ran)];
        refills.into_iter().for_each(LoomJob::run);
        runner.join().unwrap();
        assert_eq!(ran.load(Relaxed), 3);
    });
}

/// Two runners give back at once (the push's CAS loop, and the bound: the stack keeps two
/// blocks) while a second submitter takes chains from the stack (the whole stack, its first
/// chain kept, the others pushed back) and refills from them.
#[test]
fn two_runners_give_back_while_another_thread_takes_the_stack() {
    model("pool::two_runners_give_back_while_another_thread_takes_the_stack", || {
        let (blocks, ran) = (Arc::new(LoomTaskBlocks::default()), Arc::new(AtomicUsize::new(0)));
        let first = [fill(&blocks, &ran), fill(&blocks, &ran)];
        // The first submitter's own block, given back before the runners start: the stack
        // holds one block, so the runners' pushes meet the bound.
        fill(&blocks, &ran).run();
        let runners = first.map(|job| run_elsewhere(&blocks, job));
        let submitter = {
            let (blocks, ran) = (Arc::clone(&blocks), Arc::clone(&ran));
            thread::spawn(move || {
                let refills = [fill(&blocks, &ran), fill(&blocks, &ran)];
                refills.into_iter().for_each(LoomJob::run);
            })
        };
        runners.into_iter().for_each(|runner| runner.join().unwrap());
        submitter.join().unwrap();
        assert_eq!(ran.load(Relaxed), 5);
    });
}
