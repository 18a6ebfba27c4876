//! [`Scope`]: tasks that may borrow from the caller of [`ThreadPool::scope`].
//!
//! A scope counts its unfinished tasks in `pending`, starting at 1 for the scope's own closure;
//! the task that brings it to 0 sets the latch the caller waits on. While the closure runs, the
//! scope's own thread reserves units [`SPAWN_CREDIT`] at a time and spends one per spawn
//! (`credit`), and gives the unused ones back with the closure's unit when the closure
//! returns; after that every spawn adds one unit. `pending` thus never falls below the true
//! count, and reaches 0 only once the closure has returned and every task has finished.
//! (One contended increment per spawn, on the line that every finishing task decrements, cost
//! half the time of a scope of 100 000 tiny tasks.) The first panic of a task
//! is kept in `panic` and re-raised by `scope` once every task has finished; a later task's
//! payload is dropped under `catch_unwind` (its `Drop` is user code), and a panic of that drop
//! goes to the pool's `panic_handler`.
//!
//! **A scope opened outside the pool** (by a thread that is not one of its workers) has a
//! FIFO queue of its own (a crossbeam `Worker` owned by the caller's thread, whose `Stealer`
//! is in [`ScopeQueue`]): the tasks that the caller's thread spawns go there, and
//! for each the pool gets a *ticket* (at most `num_threads` outstanding), a job that runs the
//! scope's queued tasks until the queue is empty. While the caller waits it takes tasks from
//! the same queue and runs them itself, so the scope completes even if every worker is blocked,
//! and the caller runs only its own scope's tasks, never unrelated work. Taking a task from the
//! queue (the owner's `pop`, a ticket's `steal`) is the claim: each task runs once, on whoever
//! took it. Only the caller's thread pushes to the queue, and only while it is not waiting,
//! so a caller that finds the queue empty may sleep on the latch: every task left is running
//! somewhere. (Tasks spawned from a worker go to that worker's deque; from any other thread,
//! to the injector.) The ticket count is only a hint: a missed ticket costs parallelism, never
//! progress, since the caller runs whatever is left.
//!
//! **Job memory.** The tasks that the scope's own thread spawns (all of them, in the common
//! case of a loop in the scope's closure) go in blocks of the scope's [`JobSlab`], which the
//! scope recycles as the tasks run, instead of a `Box` each: a scope of 100 000 tiny tasks
//! spent 42 % of its CPU time in `malloc` and the cross-thread `free` (`slab.rs`). Tasks
//! spawned from other threads (by tasks, say) are boxed.
//!
//! **Orderings.** `pending`'s decrements are AcqRel: the last one acquires every other task's
//! release, and `Latch::set` (Release) hands all of it to the waiter. Its increments are
//! Relaxed: the count only has to reach 0 after each task is done, which the decrements order.
//! The first panic is published by an AcqRel CAS (its Release half counts) and taken by an
//! Acquire swap. The ticket count is Relaxed (a hint).
//!
//! [`ThreadPool::scope`]: super::ThreadPool::scope

use super::job::{HeapJob, JobRef, Kind, Latch, Outcome, Payload};
use super::shared::Shared;
use super::slab::JobSlab;
use crate::shim::{Arc, AtomicUsize};
use crossbeam_deque::{Steal, Stealer, Worker};
use std::any::Any;
use std::marker::PhantomData;
use std::panic::{self, AssertUnwindSafe};
use std::ptr;
use std::sync::atomic::AtomicPtr;
use std::sync::atomic::Ordering::{AcqRel, Acquire, Relaxed};

/// Units of `pending` the owner thread reserves at a time for its own spawns while the scope's
/// closure runs (see the module docs).
const SPAWN_CREDIT: usize = 64;
/// `credit` once the scope's closure has returned: spawns count one unit each.
const CLOSED: usize = usize::MAX;

/// A scope of tasks created by [`ThreadPool::scope`](super::ThreadPool::scope); its tasks may
/// borrow anything that outlives the scope (`'scope`), like [`std::thread::scope`]'s.
pub struct Scope<'scope, 'env: 'scope> {
    pub(super) shared: Arc<Shared>,
    latch: Latch,
    /// The first panic payload of a task (a leaked `Box<Box<dyn Any + Send>>`), or null.
    panic: AtomicPtr<Box<dyn Any + Send>>,
    /// Opened outside the pool: the scope's own queue (see the module docs).
    outside: Option<OutsideQueue>,
    /// The thread that opened the scope (the address of a thread-local marker).
    owner: usize,
    /// Recycled memory for the jobs the owner thread spawns (`slab.rs`).
    slab: JobSlab,
    /// Units of `pending` reserved for the owner's next spawns, or [`CLOSED`]. Written by the
    /// owner thread only (an atomic so that the scope stays `Sync`; `Debug` reads it).
    credit: AtomicUsize,
    // Invariance over both lifetimes, as in `std::thread::Scope`.
    scope: PhantomData<&'scope mut &'scope ()>,
    env: PhantomData<&'env mut &'env ()>,
}

impl<'scope, 'env> Scope<'scope, 'env> {
    /// A scope of the pool of `shared`, opened on this thread; `outside`: this thread is not
    /// a worker of that pool.
    pub(super) fn new(shared: Arc<Shared>, outside: bool) -> Self {
        // SAFETY: the `Sleep` is in `shared`, which the scope holds.
        let latch = unsafe { Latch::for_pool(&shared.sleep) };
        Self {
            shared,
            latch,
            panic: AtomicPtr::new(ptr::null_mut()),
            outside: outside.then(OutsideQueue::new),
            owner: thread_marker(),
            slab: JobSlab::new(1),
            credit: AtomicUsize::new(0),
            scope: PhantomData,
            env: PhantomData,
        }
    }

    /// Runs `task` on the pool. It may borrow from outside the scope, and it may spawn more
    /// tasks through the scope (capture `s`, which is `&'scope Scope`). A panic in `task` is
    /// re-raised by `scope` after every task has finished.
    ///
    /// ```
    /// let pool = atomsync::ThreadPool::new(2);
    /// let mut totals = [0u64; 4];
    /// pool.scope(|s| {
    ///     for (i, total) in totals.iter_mut().enumerate() {
    ///         s.spawn(move || *total = (0..=i as u64 * 10).sum());
    ///     }
    /// });
    /// assert_eq!(totals, [0, 55, 210, 465]);
    /// ```
    pub fn spawn<F>(&'scope self, task: F)
    where
        F: FnOnce() + Send + 'scope,
    {
        let on_owner = self.owner == thread_marker();
        self.count_task(on_owner);
        // Taken here, not read from `self` by the job: the owner writes the lines around
        // `self.shared` at every spawn (measured: that read was 80 % of the job's own time).
        let shared: &Shared = &self.shared;
        let job = move || {
            // Counted before the `pending` decrement (see `Shared::counted`).
            let outcome = shared.counted(shared.current_slot(), || {
                match panic::catch_unwind(AssertUnwindSafe(task)) {
                    Ok(()) => Outcome::Completed,
                    Err(payload) => {
                        Outcome::Panicked(self.keep_panic(payload).into_iter().collect())
                    }
                }
            });
            // Must come last: the scope may be gone right after.
            self.task_done();
            outcome
        };
        let job = if on_owner {
            // The slab is a field of `self`, and `scope` does not return (nor unwind: its frame
            // is guarded) before `pending` reached 0; the job's execution gives its block back
            // before it runs `job`, whose last act is that decrement.
            // SAFETY: owner thread (the marker check); the slab and every borrow of 'scope
            // outlive the job's execution (above).
            unsafe { self.slab.job(job, Kind::ScopedTask) }
        } else {
            Err(job)
        };
        // SAFETY: as above, every borrow of 'scope outlives the job's execution.
        let job = job.unwrap_or_else(|job| unsafe { HeapJob::boxed(job, Kind::ScopedTask) });
        match &self.outside {
            Some(outside) if on_owner => {
                // SAFETY: we are on the owner thread (the marker check above).
                unsafe { outside.push(job) };
                let queue = &outside.shared;
                if queue.wants_ticket(self.shared.num_threads()) {
                    self.shared.inject(queue.ticket());
                }
            }
            _ => self.shared.submit(job),
        }
    }

    /// Keeps the first panic; drops a later one, and returns the payload of that drop's own
    /// panic (user code) for the `panic_handler`.
    fn keep_panic(&self, payload: Payload) -> Option<Payload> {
        let boxed = Box::into_raw(Box::new(payload));
        if let Err(_other) = self.panic.compare_exchange(ptr::null_mut(), boxed, AcqRel, Relaxed) {
            // SAFETY: `boxed` came from `Box::into_raw` above and was not published.
            let payload = unsafe { Box::from_raw(boxed) };
            return panic::catch_unwind(AssertUnwindSafe(move || drop(payload))).err();
        }
        None
    }

    /// Unfinished tasks, plus 1 while the scope's own closure runs, plus the owner's unused
    /// credit: kept by the slab, on the line that a task's runner writes just before.
    #[inline]
    fn pending(&self) -> &AtomicUsize {
        self.slab.unfinished()
    }

    /// Counts a new task in `pending`: one unit, or on the owner thread while the closure
    /// runs, one of the units it reserved (a new reservation when none is left).
    #[inline]
    fn count_task(&self, on_owner: bool) {
        if on_owner {
            // Relaxed: only this thread writes `credit`; the units themselves are counted by
            // `pending`'s own RMWs, as a single task's are.
            match self.credit.load(Relaxed) {
                CLOSED => {}
                0 => {
                    self.pending().fetch_add(SPAWN_CREDIT, Relaxed);
                    self.credit.store(SPAWN_CREDIT - 1, Relaxed);
                    return;
                }
                credit => {
                    self.credit.store(credit - 1, Relaxed);
                    return;
                }
            }
        }
        self.pending().fetch_add(1, Relaxed);
    }

    /// The scope's closure returned (called once, on the owner thread): gives back the
    /// closure's unit and the unused credit, and closes the credit.
    pub(super) fn closure_done(&self) {
        let units = 1 + self.credit.swap(CLOSED, Relaxed);
        // AcqRel, and the latch, as in `task_done`.
        if self.pending().fetch_sub(units, AcqRel) == units {
            self.latch.set();
        }
    }

    /// One task finished. Must be the last access to `self`.
    pub(super) fn task_done(&self) {
        if self.pending().fetch_sub(1, AcqRel) == 1 {
            self.latch.set();
        }
    }

    /// Waits until every task has finished: a worker helps with pool work meanwhile (and
    /// stays in the pool); the thread that opened the scope outside the pool runs the scope's
    /// own queued tasks.
    pub(super) fn wait(&self) {
        let Some(outside) = &self.outside else {
            return self.shared.wait_for_latch(&self.latch);
        };
        debug_assert_eq!(self.owner, thread_marker(), "a scope is waited for by its owner");
        // Tasks run here count in the slot of threads outside the pool.
        let slot = self.shared.outside_slot();
        while !self.latch.is_set() {
            // SAFETY: `wait` runs on the thread that opened the scope (`ThreadPool::scope`
            // calls it right after the scope's closure, on the same thread).
            match unsafe { outside.pop() } {
                Some(job) => self.shared.execute_job(job, slot),
                // Only this thread pushes to the queue, and it is here: every task left is
                // running elsewhere, and its end sets the latch.
                None => self.latch.wait(),
            }
        }
    }

    /// The first panic of a task, if any.
    pub(super) fn take_panic(&self) -> Option<Box<dyn Any + Send>> {
        let payload = self.panic.swap(ptr::null_mut(), Acquire);
        // SAFETY: non-null pointers here come from `Box::into_raw` in `keep_panic`, and the
        // swap gave this one to us alone.
        (!payload.is_null()).then(|| *unsafe { Box::from_raw(payload) })
    }
}

impl std::fmt::Debug for Scope<'_, '_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Unfinished tasks (+ 1 while the closure runs): `pending` without the unused credit.
        let credit = match self.credit.load(Relaxed) {
            CLOSED => 0,
            credit => credit,
        };
        let pending = self.pending().load(Relaxed).saturating_sub(credit);
        f.debug_struct("Scope").field("pending", &pending).finish()
    }
}

/// The owner's end of an outside scope's queue: a FIFO crossbeam `Worker` (single producer,
/// cheaper to push to than an `Injector`), plus the shared end.
struct OutsideQueue {
    /// Used only on the thread that opened the scope (see the `Sync` impl).
    jobs: Worker<JobRef>,
    shared: Arc<ScopeQueue>,
}

// SAFETY: `jobs` (a `Worker`, which is `Send` but not `Sync`) is touched only through `push`
// and `pop`, whose callers guarantee that they run on the thread that opened the scope (the
// scope's `owner` marker is checked before every push; `wait` runs on that thread); every
// other thread reaches the queue only through the `Stealer` in `shared`, which is `Sync`.
unsafe impl Sync for OutsideQueue {}

impl OutsideQueue {
    fn new() -> Self {
        let jobs = Worker::new_fifo();
        let shared = Arc::new(ScopeQueue { stealer: jobs.stealer(), tickets: AtomicUsize::new(0) });
        Self { jobs, shared }
    }

    /// # Safety
    /// Only on the thread that opened the scope.
    unsafe fn push(&self, job: JobRef) {
        self.jobs.push(job);
    }

    /// Takes one queued task (the claim, against the tickets' steals).
    ///
    /// # Safety
    /// Only on the thread that opened the scope.
    unsafe fn pop(&self) -> Option<JobRef> {
        self.jobs.pop()
    }
}

/// The shared end of the queue of a scope opened outside the pool (module docs), held by the
/// scope and its tickets; it outlives the scope only empty (the scope returns once all its
/// tasks ran).
pub(super) struct ScopeQueue {
    stealer: Stealer<JobRef>,
    /// Tickets in the pool's queues not yet started.
    tickets: AtomicUsize,
}

impl ScopeQueue {
    /// Takes one queued task (the claim: whoever takes it runs it).
    pub(super) fn take(&self) -> Option<JobRef> {
        loop {
            match self.stealer.steal() {
                Steal::Success(job) => return Some(job),
                Steal::Retry => continue,
                Steal::Empty => return None,
            }
        }
    }

    /// Whether a new task should come with a ticket: fewer than `workers` are outstanding.
    fn wants_ticket(&self, workers: usize) -> bool {
        if self.tickets.load(Relaxed) >= workers {
            return false;
        }
        self.tickets.fetch_add(1, Relaxed);
        true
    }

    /// A ticket started running.
    pub(super) fn ticket_taken(&self) {
        self.tickets.fetch_sub(1, Relaxed);
    }

    /// A ticket for the pool's queues: a `JobRef` of kind `ScopeTicket` that owns one
    /// reference to this queue.
    fn ticket(self: &Arc<Self>) -> JobRef {
        unsafe fn release(pointer: *const ()) -> Outcome {
            // SAFETY: `pointer` came from `Arc::into_raw` in `ticket`, once per ticket.
            drop(unsafe { Arc::from_raw(pointer as *const ScopeQueue) });
            Outcome::Completed
        }
        let pointer = Arc::into_raw(Arc::clone(self)) as *const ();
        // SAFETY: `release` takes over the reference leaked by `into_raw`, once; a
        // `ScopeQueue` is `Send + Sync` (a `Stealer` of `Send` jobs and an atomic).
        unsafe { JobRef::from_parts(pointer, release, Kind::ScopeTicket) }
    }

    /// The queue of a ticket taken from a pool queue.
    ///
    /// # Safety
    /// `job` is a ticket made by [`ticket`](Self::ticket) (kind `ScopeTicket`), used once.
    pub(super) unsafe fn from_ticket(job: JobRef) -> Arc<Self> {
        debug_assert_eq!(job.kind, Kind::ScopeTicket);
        // SAFETY: the caller's contract; the reference leaked by `ticket` is ours now.
        unsafe { Arc::from_raw(job.id() as *const ScopeQueue) }
    }
}

/// Identifies the calling thread cheaply: the address of a thread-local.
fn thread_marker() -> usize {
    thread_local! {
        static MARKER: u8 = const { 0 };
    }
    MARKER.with(|marker| marker as *const u8 as usize)
}
