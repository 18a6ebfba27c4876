//! What the pool and its workers share ([`Shared`], rayon's `Registry`): the queues, the idle
//! protocol, the task and worker counts, the one place where a job runs with its bookkeeping
//! (`execute_job`), and where panic payloads nobody receives go (`report_panic`). The loop
//! that takes jobs from these queues is `worker.rs`.
//!
//! | field          | what                                                  | changed by                  | waited on by |
//! |----------------|-------------------------------------------------------|-----------------------------|--------------|
//! | `pending`      | futex word: submitted, unfinished tasks (bits 0–30; an open scope counts as one) + `IDLE_WAITERS` (bit 31) | `task_submitted` +1 before the push; `task_done` −1 after the task's bookkeeping | `wait_idle` |
//! | `live_workers` | futex word: workers not yet exited                    | `worker_exited` −1, a worker's last act; `workers_never_started` | `wait_for_workers` (`shutdown_timeout`) |
//! | `shutdown`     | the shutdown has begun                                | `begin_shutdown`, once      | the workers, `inject` |
//! | `counters[i]`  | per worker, plus one slot for every other thread: running, completed, panicked | the worker; the last slot by RMW | `stats` (a snapshot) |
//!
//! ```text
//! task_done:     prev = pending.fetch_sub(1); prev == IDLE_WAITERS | 1:
//!                clear IDLE_WAITERS, wake_all(pending)
//! wait_idle:     s = pending.load(); count 0: return; else CAS s -> s | IDLE_WAITERS,
//!                futex wait(pending, s | IDLE_WAITERS); loop
//! worker exit:   live_workers.fetch_sub(1) == 1: wake_all(live_workers)
//! ```
//!
//! **Shutdown.** `begin_shutdown` stores the flag and wakes every idle worker
//! (`Sleep::notify_all`). A worker exits only if, after it saw the flag and a SeqCst fence, it
//! finds no work anywhere (`worker.rs`, `main_loop`): every queued task runs, including tasks
//! that running tasks spawn meanwhile (they go to the spawner's own deque, which the spawner
//! drains before it can exit). A thread outside the pool that submits (`inject`) checks the
//! flag before its push (set: it runs the job itself) and again after the push and the SeqCst
//! fence in `Sleep::notify_one` (set: it drains the injector itself). With the worker's fence,
//! that is the store-buffering pattern: either the exiting worker's re-check sees the push, or
//! the submitter sees the flag. So after shutdown has begun, work from outside runs on the
//! calling thread, and nothing can wait for a worker that has exited.
//!
//! **Orderings.** `task_done`'s Release decrement pairs with `wait_idle`'s Acquire load, so the
//! effects of the finished tasks are visible to the caller of `wait_idle`; the increment of
//! `task_submitted` and the changes of the `IDLE_WAITERS` bit are Relaxed (the bit only asks
//! for a wake, and the waiter re-loads with Acquire). `live_workers` the same way: each
//! exiting worker's Release decrement pairs with the Acquire loads of `wait_for_workers`.
//! `shutdown` is SeqCst for the fence pair above. The statistics counters are Relaxed
//! throughout: `stats` is a snapshot (exact after `wait_idle`, which orders through `pending`).

use super::PanicHandler;
use super::PoolStats;
use super::job::{AbortOnUnwind, JobRef, Kind, Latch, Outcome, Payload};
use super::recycle::TaskBlocks;
use super::scope::ScopeQueue;
use super::sleep::Sleep;
use super::worker::WorkerThread;
use crate::futex;
use crate::shim::{AtomicBool, AtomicU32, AtomicUsize};
use crate::stats::Primitive;
use crossbeam_deque::{Injector, Steal, Stealer};
use crossbeam_utils::CachePadded;
use std::panic::{self, AssertUnwindSafe};
use std::sync::atomic::Ordering::{Acquire, Relaxed, Release, SeqCst};
use std::time::Instant;

/// `pending`'s bit 31: `wait_idle` callers sleep on the word.
const IDLE_WAITERS: u32 = 1 << 31;

/// What the pool and its workers share (see the module docs).
pub(crate) struct Shared {
    pub(super) injector: Injector<JobRef>,
    pub(super) stealers: Box<[Stealer<JobRef>]>,
    pub(super) sleep: Sleep,
    shutdown: AtomicBool,
    pending: AtomicU32,
    live_workers: AtomicU32,
    /// One per worker, then one for every other thread (tasks run inline after shutdown, the
    /// tasks of a scope run by the thread that opened it outside the pool).
    counters: Box<[CachePadded<Counters>]>,
    panic_handler: Option<PanicHandler>,
    /// Given-back memory for `execute`'s tasks (`recycle.rs`), on a line of its own.
    pub(super) task_blocks: CachePadded<TaskBlocks>,
}

impl Shared {
    /// The state of a pool whose workers own the deques of `stealers`, all of them counted as
    /// live.
    pub(super) fn new(
        stealers: Box<[Stealer<JobRef>]>,
        live_workers: u32,
        panic_handler: Option<PanicHandler>,
    ) -> Self {
        let counters = (0..=stealers.len()).map(|_| CachePadded::new(Counters::default()));
        Self {
            injector: Injector::new(),
            stealers,
            sleep: Sleep::new(),
            shutdown: AtomicBool::new(false),
            pending: AtomicU32::new(0),
            live_workers: AtomicU32::new(live_workers),
            counters: counters.collect(),
            panic_handler,
            task_blocks: CachePadded::new(TaskBlocks::new()),
        }
    }

    /// The number of worker threads.
    pub(super) fn num_threads(&self) -> usize {
        self.stealers.len()
    }

    /// The counters' slot of the threads that are not workers.
    pub(super) fn outside_slot(&self) -> usize {
        self.counters.len() - 1
    }

    /// Queues a job: on the calling worker's deque if it is one of ours, else the injector.
    pub(crate) fn submit(&self, job: JobRef) {
        if job.kind == Kind::Task {
            self.task_submitted();
        }
        match WorkerThread::current_in(self) {
            Some(worker) => worker.push(job),
            None => self.inject(job),
        }
    }

    /// One more task in `pending`.
    pub(super) fn task_submitted(&self) {
        let previous = self.pending.fetch_add(1, Relaxed);
        assert!(
            previous & !IDLE_WAITERS < IDLE_WAITERS - 1,
            "ThreadPool: more than 2^31 - 1 tasks pending"
        );
    }

    /// Queues a job from a thread that is not a worker (see "Shutdown" in the module docs).
    pub(super) fn inject(&self, job: JobRef) {
        if self.shutdown_begun() {
            self.execute_job(job, self.outside_slot());
            return;
        }
        self.injector.push(job);
        // Contains a SeqCst fence after the push: the submitter's half of the store-buffering
        // pair with `begin_shutdown` and the worker's fence after seeing the flag (module docs).
        self.sleep.notify_one();
        if self.shutdown_begun() {
            self.drain_injector();
        }
    }

    /// Shutdown began while we pushed, and the workers may have exited without seeing the
    /// job: run whatever is left in the injector here.
    #[cold]
    fn drain_injector(&self) {
        loop {
            match self.injector.steal() {
                Steal::Success(job) => self.execute_job(job, self.outside_slot()),
                Steal::Retry => continue,
                Steal::Empty => return,
            }
        }
    }

    /// Runs a job, with the bookkeeping its kind asks for. Never unwinds: every job catches
    /// the panics of the user code it runs (see the module docs of `mod.rs`), and the guard
    /// turns a bug of ours that would unwind here into an abort.
    pub(super) fn execute_job(&self, job: JobRef, slot: usize) {
        // A ticket is not a job of its own: its tasks are counted as they run.
        stat!(ThreadPool, Job, job.kind != Kind::ScopeTicket);
        let guard = AbortOnUnwind("a pool job");
        match job.kind {
            Kind::Part | Kind::ScopedTask => {
                // A scoped task does its own bookkeeping (`Scope::spawn`); a part is not a task.
                // SAFETY: a job is in exactly one queue and was just taken from it (or never
                // queued), so it runs once; its owner keeps it alive until it ran.
                if let Outcome::Panicked(payloads) = unsafe { job.execute() } {
                    self.report_panics(payloads);
                }
            }
            Kind::ScopeTicket => {
                // SAFETY: `job` is a ticket (its kind says so), taken from a queue once.
                let queue = unsafe { ScopeQueue::from_ticket(job) };
                self.run_scope_ticket(&queue, slot);
            }
            Kind::Task => {
                // SAFETY: as for `Kind::Part` above.
                let outcome = self.counted(slot, || unsafe { job.execute() });
                if let Outcome::Panicked(payloads) = outcome {
                    self.report_panics(payloads);
                }
                self.task_done();
            }
        }
        guard.disarm();
    }

    /// Runs `task` (a task's body, which catches its own panics) with a task's bookkeeping in
    /// the counters of `slot`: `running` while it runs, then `completed` or `panicked`. A
    /// scoped task calls this inside its own job, so that it is counted before its scope's
    /// `pending` decrement can let `scope`, and then `wait_idle`, return: `stats` are exact
    /// after either.
    #[inline]
    pub(super) fn counted(&self, slot: usize, task: impl FnOnce() -> Outcome) -> Outcome {
        let counters = &self.counters[slot];
        // A worker's own slot has one writer (that worker): no locked RMW needed.
        let shared_slot = slot == self.outside_slot();
        counters.running.add(1, shared_slot);
        let outcome = task();
        counters.running.sub(1, shared_slot);
        match outcome {
            Outcome::Completed => counters.completed.add(1, shared_slot),
            Outcome::Panicked(_) => counters.panicked.add(1, shared_slot),
        }
        outcome
    }

    /// The counters' slot of the calling thread: its own if it is one of our workers, else
    /// the shared one.
    #[inline]
    pub(super) fn current_slot(&self) -> usize {
        WorkerThread::current_in(self).map_or_else(|| self.outside_slot(), WorkerThread::index)
    }

    /// A ticket of a scope opened outside the pool: run that scope's queued tasks until its
    /// queue is empty (its caller runs them too; each is taken once).
    fn run_scope_ticket(&self, queue: &ScopeQueue, slot: usize) {
        queue.ticket_taken();
        while let Some(job) = queue.take() {
            self.execute_job(job, slot);
        }
    }

    fn report_panics(&self, payloads: Vec<Payload>) {
        for payload in payloads {
            self.report_panic(payload);
        }
    }

    /// Hands a payload nobody else receives to the `panic_handler` (or drops it). Neither the
    /// handler's panic nor a payload's panicking `Drop` unwinds out of here.
    #[cold]
    fn report_panic(&self, payload: Payload) {
        match &self.panic_handler {
            Some(handler) => {
                if let Err(handler_panic) =
                    panic::catch_unwind(AssertUnwindSafe(|| handler(payload)))
                {
                    drop_payload(handler_panic);
                }
            }
            None => drop_payload(payload),
        }
    }

    /// Drops a value the user gets no more (a result, a second panic payload) without letting
    /// a panic of its `Drop` unwind: such a panic goes to the `panic_handler`.
    pub(crate) fn discard<T>(&self, value: T) {
        if let Err(payload) = panic::catch_unwind(AssertUnwindSafe(move || drop(value))) {
            self.report_panic(payload);
        }
    }

    /// One task (or an open scope) fewer in `pending`.
    pub(super) fn task_done(&self) {
        if self.pending.fetch_sub(1, Release) == IDLE_WAITERS | 1 {
            self.wake_idle_waiters();
        }
    }

    #[cold]
    fn wake_idle_waiters(&self) {
        // A task submitted between the decrement and this only makes the waiters set the bit
        // again and sleep.
        self.pending.fetch_and(!IDLE_WAITERS, Relaxed);
        futex::wake_all(&self.pending, Primitive::ThreadPool);
    }

    /// Blocks until `pending` is 0 (`ThreadPool::wait_idle`; not on a worker of this pool).
    pub(super) fn wait_idle(&self) {
        let pending = &self.pending;
        loop {
            let state = pending.load(Acquire);
            if state & !IDLE_WAITERS == 0 {
                return;
            }
            if state & IDLE_WAITERS == 0
                && pending.compare_exchange(state, state | IDLE_WAITERS, Relaxed, Relaxed).is_err()
            {
                continue;
            }
            futex::wait(pending, state | IDLE_WAITERS, None, Primitive::ThreadPool);
        }
    }

    /// A snapshot of the task counts (`ThreadPool::stats`).
    pub(super) fn stats(&self) -> PoolStats {
        let mut stats = PoolStats::default();
        for counters in self.counters.iter() {
            stats.running += counters.running.load();
            stats.completed += counters.completed.load();
            stats.panicked += counters.panicked.load();
        }
        let pending = (self.pending.load(Relaxed) & !IDLE_WAITERS) as usize;
        stats.queued = pending.saturating_sub(stats.running);
        stats
    }

    /// Whether the shutdown has begun.
    pub(super) fn shutdown_begun(&self) -> bool {
        self.shutdown.load(SeqCst)
    }

    /// Sets the shutdown flag and wakes every idle worker (module docs).
    pub(super) fn begin_shutdown(&self) {
        self.shutdown.store(true, SeqCst);
        self.sleep.notify_all();
    }

    /// A worker's last act: it leaves `live_workers`.
    pub(super) fn worker_exited(&self) {
        if self.live_workers.fetch_sub(1, Release) == 1 {
            futex::wake_all(&self.live_workers, Primitive::ThreadPool);
        }
    }

    /// `missing` workers could not be started (`Builder::build` failed): they will never
    /// count themselves out.
    pub(super) fn workers_never_started(&self, missing: u32) {
        self.live_workers.fetch_sub(missing, Release);
    }

    /// Waits until every worker has exited, or `deadline` passed; true if they all did.
    pub(super) fn wait_for_workers(&self, deadline: Option<Instant>) -> bool {
        let live = &self.live_workers;
        loop {
            let workers = live.load(Acquire);
            if workers == 0 {
                return true;
            }
            if futex::wait(live, workers, deadline, Primitive::ThreadPool) == futex::Wait::TimedOut
            {
                return live.load(Acquire) == 0;
            }
        }
    }

    /// Waits until `latch` is set: a worker of this pool helps with pool work meanwhile,
    /// any other thread sleeps.
    pub(crate) fn wait_for_latch(&self, latch: &Latch) {
        match WorkerThread::current_in(self) {
            Some(worker) => worker.wait_until(latch),
            None => latch.wait(),
        }
    }
}

/// Drops a panic payload whose own `Drop` might panic, without unwinding into the caller: the
/// panic of such a drop has a payload of its own, which is dropped in turn, and so on; after a
/// few rounds of payloads that panic when dropped, the last one is leaked (sound; and no
/// reasonable payload gets there).
fn drop_payload(payload: Payload) {
    let mut payload = payload;
    for _ in 0..4 {
        match panic::catch_unwind(AssertUnwindSafe(move || drop(payload))) {
            Ok(()) => return,
            Err(next) => payload = next,
        }
    }
    std::mem::forget(payload);
}

/// Per-thread task counters; each in its own cache line.
#[derive(Default)]
struct Counters {
    running: Counter,
    completed: Counter,
    panicked: Counter,
}

/// A statistics counter. A worker's own counters have a single writer (the worker), which
/// updates them with a plain load and store instead of a locked read-modify-write (measured:
/// the three RMWs were ~17 % of a scope of 10 000 tiny tasks); the slot shared by the threads
/// outside the pool uses `fetch_add`. Readers (`stats`) take a racy snapshot either way.
#[derive(Default)]
struct Counter(AtomicUsize);

impl Counter {
    /// Adds `delta` (wrapping); `shared_slot`: other threads may write this counter too.
    #[inline]
    fn add(&self, delta: usize, shared_slot: bool) {
        if shared_slot {
            self.0.fetch_add(delta, Relaxed);
        } else {
            // The single writer's own load-store sequence is ordered by program order.
            self.0.store(self.0.load(Relaxed).wrapping_add(delta), Relaxed);
        }
    }

    /// Subtracts `delta` (wrapping): `add` of its two's complement, the same operation.
    #[inline]
    fn sub(&self, delta: usize, shared_slot: bool) {
        self.add(delta.wrapping_neg(), shared_slot);
    }

    #[inline]
    fn load(&self) -> usize {
        self.0.load(Relaxed)
    }
}
