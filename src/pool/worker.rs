//! The worker side of the pool, rayon's `WorkerThread` of `registry.rs`: each worker owns a
//! LIFO deque (crossbeam-deque) and looks for work in it, then in the shared injector (taking a
//! batch), then by stealing from the other workers starting at a random victim. A worker that
//! found nothing spins briefly (`spin.rs`'s idle-worker schedule) and then sleeps in the
//! jobs-event-counter protocol of `sleep.rs`; it exits when it finds no work after seeing the
//! shutdown flag (`shared.rs`).
//!
//! A worker that waits for something (the stolen half of its `join`, a scope it opened, a
//! `JoinHandle::join` in a task) stays a worker: it runs other pool work meanwhile, and when
//! there is none it sleeps in the `sleep.rs` protocol with the latch announced (`latch.rs`), so
//! that both a new job and the awaited event wake it.
//!
//! The worker running on a thread is published in a thread-local (`CURRENT`), so that code
//! running in a task can tell "I am a worker of this pool" (pointer comparison of `Shared`):
//! that decides where submitted work goes and how a caller waits.

use super::handle::OneShot;
use super::job::{AbortOnUnwind, JobRef, Kind, Latch, StackJob};
use super::latch::Announce;
use super::shared::Shared;
use crate::shim::{Arc, fence};
use crate::spin::SpinWait;
use crate::stats::Primitive;
use crossbeam_deque::{Steal, Worker};
use std::cell::Cell;
use std::panic::{self, AssertUnwindSafe};
use std::sync::atomic::Ordering::SeqCst;
use std::{io, ptr, thread};

thread_local! {
    /// The worker running on this thread (set for the whole of `WorkerThread::run`).
    static CURRENT: Cell<*const WorkerThread> = const { Cell::new(ptr::null()) };
}

/// One worker's own state; lives on its thread's stack for the thread's whole life.
pub(super) struct WorkerThread {
    shared: Arc<Shared>,
    local: Worker<JobRef>,
    index: usize,
    random: Cell<u64>,
}

impl WorkerThread {
    /// Starts worker `index` of the pool of `shared` on a thread made by `builder`; the
    /// worker owns `local`, the deque whose stealer is `shared.stealers[index]`.
    pub(super) fn spawn(
        builder: thread::Builder,
        shared: Arc<Shared>,
        local: Worker<JobRef>,
        index: usize,
    ) -> io::Result<thread::JoinHandle<()>> {
        let worker = WorkerThread {
            shared,
            local,
            index,
            random: Cell::new((index as u64 + 1).wrapping_mul(0x9E37_79B9_7F4A_7C15)),
        };
        builder.spawn(move || worker.run())
    }

    /// The worker of `shared`'s pool running on this thread, if this thread is one.
    pub(super) fn current_in(shared: &Shared) -> Option<&WorkerThread> {
        let current = CURRENT.with(Cell::get);
        // SAFETY: CURRENT is non-null only while `run` executes on this thread, with the
        // worker alive on its stack; every caller is code running inside `run` (a task) and
        // does not keep the reference beyond its own call.
        let worker = unsafe { current.as_ref() }?;
        ptr::eq(&*worker.shared, shared).then_some(worker)
    }

    /// This worker's index (its deque's and its counters' slot).
    #[inline]
    pub(super) fn index(&self) -> usize {
        self.index
    }

    /// Calls `f` with the worker (of any atomsync pool) running on this thread, if any.
    pub(super) fn with_current<R>(f: impl FnOnce(&WorkerThread) -> R) -> Option<R> {
        let current = CURRENT.with(Cell::get);
        // SAFETY: as in `current_in`.
        let worker = unsafe { current.as_ref() }?;
        Some(f(worker))
    }

    fn run(self) {
        CURRENT.with(|current| current.set(&self));
        self.main_loop();
        CURRENT.with(|current| current.set(ptr::null()));
        self.shared.worker_exited();
    }

    fn main_loop(&self) {
        let shared = &*self.shared;
        // We acknowledged a wake in flight and have not passed it on yet (`sleep.rs`).
        let mut owe_wake = false;
        loop {
            if let Some(job) = self.find_work().or_else(|| self.spin_for_work()) {
                // Pushes that skipped their wake on ours may have queued more than this job:
                // wake the next sleeper before running it.
                self.pass_on_wake(&mut owe_wake);
                self.execute(job);
                continue;
            }
            // Nothing anywhere: every job whose wake we acknowledged has been taken.
            owe_wake = false;
            let ticket = shared.sleep.prepare_to_sleep();
            let shutting_down = shared.shutdown_begun();
            // With the flag seen: orders the queue checks below after `begin_shutdown`'s
            // store, pairing with the fence after an injector push (`Shared::inject`), so a
            // worker cannot exit past a job pushed by a submitter that missed the flag
            // ("Shutdown" in `shared.rs`).
            fence(SeqCst);
            match self.find_work() {
                Some(job) => {
                    shared.sleep.cancel(ticket);
                    self.execute(job);
                }
                None if shutting_down => {
                    shared.sleep.cancel(ticket);
                    return;
                }
                None => owe_wake = shared.sleep.sleep(ticket),
            }
        }
    }

    /// A short bounded spin before sleeping, on `spin.rs`'s idle-worker schedule: work often
    /// comes within microseconds, and a sleep costs the next push a futex wake.
    fn spin_for_work(&self) -> Option<JobRef> {
        let mut spin = SpinWait::idle_worker();
        while spin.spin() {
            if let Some(job) = self.find_work() {
                return Some(job);
            }
        }
        None
    }

    fn execute(&self, job: JobRef) {
        self.shared.execute_job(job, self.index);
    }

    pub(super) fn push(&self, job: JobRef) {
        self.local.push(job);
        self.shared.sleep.notify_one();
    }

    /// Own deque, then the injector, then the other workers from a random victim on.
    fn find_work(&self) -> Option<JobRef> {
        if let Some(job) = self.local.pop() {
            return Some(job);
        }
        let shared = &*self.shared;
        loop {
            let mut retry = false;
            match shared.injector.steal_batch_and_pop(&self.local) {
                Steal::Success(job) => return Some(job),
                Steal::Retry => retry = true,
                Steal::Empty => {}
            }
            let victims = shared.stealers.len();
            let start = self.next_random() as usize % victims;
            for offset in 0..victims {
                let victim = (start + offset) % victims;
                if victim == self.index {
                    continue;
                }
                match shared.stealers[victim].steal() {
                    Steal::Success(job) => {
                        stat!(ThreadPool, Steal);
                        return Some(job);
                    }
                    Steal::Retry => retry = true,
                    Steal::Empty => {}
                }
            }
            if !retry {
                return None;
            }
        }
    }

    /// xorshift64: a cheap victim picker, private to the worker.
    fn next_random(&self) -> u64 {
        let mut x = self.random.get();
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.random.set(x);
        x
    }

    /// Runs pool work until `latch` is set. When there is none (after a spin), sleeps in the
    /// pool's idle protocol with the latch announced (`latch.rs`), so that a job pushed
    /// anywhere in the pool or the latch being set wakes it: a waiting worker stays a worker.
    pub(super) fn wait_until(&self, latch: &Latch) {
        // We acknowledged a wake in flight and have not passed it on yet (`sleep.rs`).
        let mut owe_wake = false;
        self.help_until(latch, &mut owe_wake);
        // We stop looking for work (the latch is set): a wake that pushes may have skipped
        // theirs on goes to the next sleeper.
        self.pass_on_wake(&mut owe_wake);
    }

    /// If we owe a wake (we acknowledged one in flight and have not passed it on), pass it to
    /// the next committed sleeper, if any (`sleep.rs`).
    fn pass_on_wake(&self, owe_wake: &mut bool) {
        if std::mem::take(owe_wake) {
            self.shared.sleep.notify_one();
        }
    }

    /// `wait_until`'s loop; `owe_wake` tells whether a wake acknowledged in our last sleep is
    /// still to be passed on.
    fn help_until(&self, latch: &Latch, owe_wake: &mut bool) {
        let sleep = &self.shared.sleep;
        let mut spin = SpinWait::new(Primitive::ThreadPool);
        while !latch.is_set() {
            if let Some(job) = self.find_work() {
                self.pass_on_wake(owe_wake);
                self.execute(job);
                spin.reset();
                continue;
            }
            // Nothing anywhere: every job whose wake we acknowledged has been taken.
            *owe_wake = false;
            if spin.spin() {
                continue;
            }
            match latch.announce_pool_sleeper() {
                Announce::Set => return,
                Announce::Setting => {
                    crate::shim::yield_now();
                    continue;
                }
                Announce::Announced => {}
            }
            let ticket = sleep.prepare_to_sleep();
            if !latch.still_announced() {
                sleep.cancel(ticket);
                continue;
            }
            match self.find_work() {
                Some(job) => {
                    sleep.cancel(ticket);
                    self.execute(job);
                }
                // Our deque is empty: nothing the latch depends on is stranded with us.
                None => *owe_wake = sleep.sleep(ticket),
            }
            spin.reset();
        }
    }

    /// `JoinHandle::join` called on this worker: wait for `cell` as for a latch, through a
    /// `Waker` that sets one.
    pub(super) fn wait_for_cell<T>(&self, cell: &OneShot<T>) -> T {
        // SAFETY: the latch's `Sleep` is in our `Shared`, which we hold for as long as we
        // wait; the waker that may set the latch is woken at most once, by the cell's
        // `complete`, before we return (we return only once the latch is set or the value was
        // there without registering).
        let latch = std::sync::Arc::new(LatchWaker(unsafe { Latch::for_pool(&self.shared.sleep) }));
        let waker = std::task::Waker::from(std::sync::Arc::clone(&latch));
        loop {
            match cell.poll(&waker) {
                std::task::Poll::Ready(value) => return value,
                std::task::Poll::Pending => self.wait_until(&latch.0),
            }
        }
    }

    pub(super) fn join<A, B, RA, RB>(&self, a: A, b: B) -> (RA, RB)
    where
        A: FnOnce() -> RA + Send,
        B: FnOnce() -> RB + Send,
        RA: Send,
        RB: Send,
    {
        // SAFETY: the `Sleep` is in our `Shared`, alive for as long as this worker.
        let job_b = StackJob::with_latch(b, unsafe { Latch::for_pool(&self.shared.sleep) });
        // From the push until `b` ran or was taken back, a `JobRef` into this frame is out:
        // nothing in between may unwind (`a` is caught; `execute` and `wait_until` never
        // unwind), and the guard aborts if our own code ever did.
        let guard = AbortOnUnwind("a worker's join");
        // SAFETY: we do not leave this function before `job_b` ran (its latch is set) or we
        // took it back from our deque (below); the guard covers unwinding.
        let job_b_ref = unsafe { job_b.as_job_ref(Kind::Part) };
        let job_b_id = job_b_ref.id();
        self.push(job_b_ref);
        let result_a = panic::catch_unwind(AssertUnwindSafe(a));
        // `a`'s own joins took back or waited for everything they pushed, so what is above
        // `b` in our deque are tasks `a` spawned: run them until we reach `b`.
        let mut taken_back = false;
        while !job_b.latch.is_set() {
            match self.local.pop() {
                Some(job) if job.id() == job_b_id => {
                    taken_back = true;
                    break;
                }
                Some(job) => self.execute(job),
                None => {
                    // Stolen: help until the thief is done.
                    self.wait_until(&job_b.latch);
                    break;
                }
            }
        }
        guard.disarm();
        // Both halves always run: `b` even when `a` panicked.
        let result_b = if taken_back { job_b.run_inline() } else { job_b.into_result() };
        match (result_a, result_b) {
            (Ok(result_a), Ok(result_b)) => (result_a, result_b),
            (Err(payload), result_b) => {
                self.shared.discard(result_b);
                panic::resume_unwind(payload)
            }
            (Ok(result_a), Err(payload)) => {
                self.shared.discard(result_a);
                panic::resume_unwind(payload)
            }
        }
    }
}

/// A `Waker` that sets a latch (a worker joining a `JoinHandle`).
struct LatchWaker(Latch);

impl std::task::Wake for LatchWaker {
    fn wake(self: std::sync::Arc<Self>) {
        self.0.set();
    }

    fn wake_by_ref(self: &std::sync::Arc<Self>) {
        self.0.set();
    }
}
