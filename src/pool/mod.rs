//! A work-stealing thread pool whose idle workers sleep on a futex: [`ThreadPool`].
//!
//! * `spawn` returns a [`JoinHandle`] carrying the task's value (or its panic); the handle is
//!   also a `Future`. `execute` is fire-and-forget; its panics go to the optional
//!   [`panic_handler`](Builder::panic_handler). A panicking task never kills a worker.
//! * `scope` runs tasks that borrow from the caller; `join` is rayon-style fork-join.
//! * `wait_idle`, `stats`, and a shutdown that finishes queued tasks (`Drop`, bounded by
//!   `shutdown_timeout`).
//!
//! | file        | what it owns                                                                 |
//! |-------------|------------------------------------------------------------------------------|
//! | `mod.rs`    | the public pool: [`ThreadPool`], [`Builder`], [`PoolStats`], [`BuildError`]  |
//! | `shared.rs` | what the pool and its workers share: the queues, the `pending` and `live_workers` words, the shutdown flag, running a job with its bookkeeping, the panic handler |
//! | `worker.rs` | the worker loop, stealing, `WorkerThread`, a worker's `join` and waits        |
//! | `sleep.rs`  | how idle workers sleep without missing a job (the jobs-event-counter protocol) |
//! | `latch.rs`  | the one-time event a `join`/`scope`/`install` caller waits on, asleep on its own word or in the pool's protocol |
//! | `job.rs`    | jobs as type-erased pointers, and the guard that aborts where nothing may unwind |
//! | `handle.rs` | [`JoinHandle`] and the one-shot result cell under it                         |
//! | `scope.rs`  | [`Scope`], and the queue of a scope opened outside the pool                  |
//! | `slab.rs`   | a scope's recycled task memory (cache-line blocks its opener fills)          |
//! | `recycle.rs`| `execute`'s recycled task memory (blocks of no owner: per-thread lists, a per-pool stack) |
//!
//! **Waiting workers stay workers.** A worker waiting for something (the stolen half of its
//! `join`, a scope it opened, a `JoinHandle::join` in a task) runs other pool work meanwhile;
//! asleep when there is none, it is woken by a new job as well as by the awaited event
//! (`worker.rs`, `latch.rs`).
//!
//! **Callers outside the pool take part.** `join` from a thread that is not a worker runs `a`
//! on the caller and offers `b` to the pool; `scope` from outside queues its tasks in a queue
//! of its own (plus a few tickets in the injector for the workers), and the caller runs them
//! while it waits (`scope.rs`). Both complete even if every worker is blocked. `install` is
//! the way to run a whole computation on a worker.
//!
//! **Shutdown.** Dropping the pool (or `shutdown_timeout`) sets the shutdown flag and wakes
//! every worker; a worker exits only when it finds no work anywhere after seeing the flag, so
//! every queued task runs, including tasks that running tasks spawn during shutdown. After
//! shutdown has begun, `spawn`/`execute`/`scope`/`join` called from a thread that is not one
//! of the pool's workers run the work on the calling thread (the handle is then already
//! finished): no task is lost and nothing can wait for a worker that has exited. After
//! `shutdown_timeout` returned false, `Drop` detaches the workers instead of joining them.
//!
//! **Panics.** No unwind crosses a worker's frame or a `join`/`scope` frame. Every piece of
//! user code the pool calls is either caught and accounted, or the process aborts where no
//! sound recovery exists. "Counted": [`PoolStats::panicked`] of the task (instead of
//! `completed`); "handler": the payload goes to the [`panic_handler`](Builder::panic_handler)
//! (or is dropped).
//!
//! The policy per site (caught and accounted, or abort, and why) is the table in
//! `docs/design.md` ("Panics, per user-code site").
//!
//! The user's own calls that drop values on the user's thread (a `JoinHandle` dropped after the
//! task finished, the value returned by `join()`) unwind normally into the user's code: that is
//! the caller's frame, with nothing of the pool in between. `tests/pool_panics.rs` panics at
//! each site and then checks N live workers, exact `stats()`, `wait_idle` and `Drop`.

mod handle;
mod latch;
mod recycle;
mod sleep;

mod job;
#[cfg(not(loom))]
mod scope;
#[cfg(not(loom))]
mod shared;
mod slab;
#[cfg(not(loom))]
mod worker;

#[cfg(not(loom))]
pub use handle::JoinHandle;
#[cfg(not(loom))]
pub use scope::Scope;

/// Loom-only test entry points for `loom-tests/tests/pool.rs`: the protocol pieces in
/// isolation. Not part of the API.
#[cfg(loom)]
#[doc(hidden)]
pub use {
    handle::OneShot,
    latch::{Announce, Latch},
    recycle::LoomTaskBlocks,
    slab::{LoomJob, LoomSlab},
    sleep::Sleep,
    sleep::Ticket,
};

#[cfg(not(loom))]
use {
    crate::futex,
    crate::shim::Arc,
    crossbeam_deque::Worker,
    job::{AbortOnUnwind, HeapJob, JobRef, Kind, Outcome, StackJob},
    shared::Shared,
    std::any::Any,
    std::panic::{self, AssertUnwindSafe},
    std::sync::atomic::Ordering::SeqCst,
    std::time::Duration,
    std::{fmt, io, thread},
    worker::WorkerThread,
};

/// A snapshot of a pool's task counts (see [`ThreadPool::stats`]). Tasks are what `spawn`,
/// `execute`, `install` and `Scope::spawn` submit, and the `b` half of a `join` called from
/// outside the pool (its `a` runs on the caller); the halves of a `join` made inside a task are
/// part of that task. A task whose result's drop, payload's drop or `Waker` panicked counts as
/// panicked.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct PoolStats {
    /// Submitted and not yet started: `pending − running`, where `pending` counts
    /// `spawn`/`execute`/`install`/outside-`join` tasks and each open scope as one unit (not
    /// its scoped tasks, to keep their submission cheap), so with scopes in flight this is
    /// approximate.
    pub queued: usize,
    /// Running now.
    pub running: usize,
    /// Finished without panicking.
    pub completed: usize,
    /// Finished by panicking.
    pub panicked: usize,
}

/// Why [`Builder::build`] failed.
#[derive(Debug)]
#[non_exhaustive]
pub enum BuildError {
    /// `num_threads(0)`: a pool needs at least one worker.
    ZeroThreads,
    /// The operating system refused to start a worker thread (the workers already started
    /// have been shut down again).
    Spawn(std::io::Error),
}

impl std::fmt::Display for BuildError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::ZeroThreads => f.write_str("a thread pool needs at least one thread"),
            Self::Spawn(error) => write!(f, "could not spawn a worker thread: {error}"),
        }
    }
}

impl std::error::Error for BuildError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Self::ZeroThreads => None,
            Self::Spawn(error) => Some(error),
        }
    }
}

#[cfg(not(loom))]
type PanicHandler = Box<dyn Fn(Box<dyn Any + Send>) + Send + Sync>;

/// Configures and builds a [`ThreadPool`].
///
/// ```
/// use atomsync::pool::BuildError;
/// use atomsync::ThreadPool;
///
/// let pool = ThreadPool::builder()
///     .num_threads(2)
///     .thread_name(|index| format!("worker-{index}"))
///     .stack_size(1 << 20)
///     .panic_handler(|_payload| eprintln!("a task panicked"))
///     .build()
///     .unwrap();
/// assert_eq!(pool.num_threads(), 2);
/// assert!(matches!(ThreadPool::builder().num_threads(0).build(), Err(BuildError::ZeroThreads)));
/// ```
#[cfg(not(loom))]
#[derive(Default)]
#[must_use = "a builder does nothing until `build` is called"]
pub struct Builder {
    num_threads: Option<usize>,
    thread_name: Option<Box<dyn FnMut(usize) -> String>>,
    stack_size: Option<usize>,
    panic_handler: Option<PanicHandler>,
}

#[cfg(not(loom))]
impl Builder {
    /// The default configuration: `available_parallelism()` threads (1 if unknown), named
    /// `atomsync-pool-<index>`, the platform's default stack size, no panic handler.
    pub fn new() -> Self {
        Self::default()
    }

    /// The number of worker threads; 0 makes `build` fail with [`BuildError::ZeroThreads`].
    pub fn num_threads(mut self, num_threads: usize) -> Self {
        self.num_threads = Some(num_threads);
        self
    }

    /// Names worker `index` (0-based) `name(index)`.
    pub fn thread_name<F>(mut self, name: F) -> Self
    where
        F: FnMut(usize) -> String + 'static,
    {
        self.thread_name = Some(Box::new(name));
        self
    }

    /// The stack size of each worker thread, in bytes.
    pub fn stack_size(mut self, bytes: usize) -> Self {
        self.stack_size = Some(bytes);
        self
    }

    /// Called (on the worker) with the payload of every panic of a task submitted with
    /// [`ThreadPool::execute`]; panics of `spawn`ed tasks go to their handle and panics of
    /// scoped tasks to `scope` instead. Without a handler such payloads are dropped (the panic
    /// is still counted in [`PoolStats::panicked`], and the default panic hook has printed the
    /// message). A panic of the handler itself is caught and dropped.
    pub fn panic_handler<F>(mut self, handler: F) -> Self
    where
        F: Fn(Box<dyn Any + Send>) + Send + Sync + 'static,
    {
        self.panic_handler = Some(Box::new(handler));
        self
    }

    /// Starts the workers. Fails, without panicking, on 0 threads or if a thread cannot be
    /// spawned (then the workers already started are shut down and joined).
    pub fn build(self) -> Result<ThreadPool, BuildError> {
        let num_threads = self
            .num_threads
            .unwrap_or_else(|| thread::available_parallelism().map_or(1, |n| n.get()));
        if num_threads == 0 {
            return Err(BuildError::ZeroThreads);
        }
        let live_workers = u32::try_from(num_threads).map_err(|_| {
            BuildError::Spawn(io::Error::new(io::ErrorKind::InvalidInput, "too many threads"))
        })?;
        let locals: Vec<Worker<JobRef>> = (0..num_threads).map(|_| Worker::new_lifo()).collect();
        let stealers = locals.iter().map(Worker::stealer).collect();
        let shared = Arc::new(Shared::new(stealers, live_workers, self.panic_handler));
        let mut name = self.thread_name;
        let mut threads = Vec::with_capacity(num_threads);
        for (index, local) in locals.into_iter().enumerate() {
            let name = match &mut name {
                Some(name) => name(index),
                None => format!("atomsync-pool-{index}"),
            };
            let mut builder = thread::Builder::new().name(name);
            if let Some(bytes) = self.stack_size {
                builder = builder.stack_size(bytes);
            }
            match WorkerThread::spawn(builder, Arc::clone(&shared), local, index) {
                Ok(thread) => threads.push(thread),
                Err(error) => {
                    shared.workers_never_started((num_threads - index) as u32);
                    drop(ThreadPool { shared, threads, detached: Default::default() });
                    return Err(BuildError::Spawn(error));
                }
            }
        }
        Ok(ThreadPool { shared, threads, detached: Default::default() })
    }
}

#[cfg(not(loom))]
impl fmt::Debug for Builder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Builder")
            .field("num_threads", &self.num_threads)
            .field("thread_name", &self.thread_name.is_some())
            .field("stack_size", &self.stack_size)
            .field("panic_handler", &self.panic_handler.is_some())
            .finish()
    }
}

/// A work-stealing thread pool (see the [module docs](self)).
///
/// ```
/// use atomsync::ThreadPool;
///
/// let pool = ThreadPool::new(4);
/// // Tasks with results.
/// let handles: Vec<_> = (0..8u64).map(|i| pool.spawn(move || i * i)).collect();
/// let squares: Vec<u64> = handles.into_iter().map(|h| h.join().unwrap()).collect();
/// assert_eq!(squares, [0, 1, 4, 9, 16, 25, 36, 49]);
///
/// // Tasks that borrow.
/// let mut data = vec![1u32; 1000];
/// pool.scope(|s| {
///     for chunk in data.chunks_mut(100) {
///         s.spawn(move || chunk.iter_mut().for_each(|x| *x *= 2));
///     }
/// });
/// assert!(data.iter().all(|&x| x == 2));
///
/// // Fork-join.
/// fn fib(pool: &ThreadPool, n: u32) -> u64 {
///     if n < 2 {
///         return n.into();
///     }
///     let (a, b) = pool.join(|| fib(pool, n - 1), || fib(pool, n - 2));
///     a + b
/// }
/// assert_eq!(fib(&pool, 20), 6765);
/// ```
#[cfg(not(loom))]
pub struct ThreadPool {
    shared: Arc<Shared>,
    threads: Vec<thread::JoinHandle<()>>,
    /// `shutdown_timeout` gave up: `Drop` detaches the workers instead of joining them.
    detached: std::sync::atomic::AtomicBool,
}

#[cfg(not(loom))]
impl ThreadPool {
    /// A pool of `num_threads` workers with the default configuration.
    ///
    /// # Panics
    /// If `num_threads` is 0 or a worker thread cannot be spawned; use
    /// [`builder`](Self::builder) to get these as a [`BuildError`] instead.
    pub fn new(num_threads: usize) -> Self {
        Builder::new()
            .num_threads(num_threads)
            .build()
            .unwrap_or_else(|error| panic!("ThreadPool::new({num_threads}): {error}"))
    }

    /// A [`Builder`] to configure a pool.
    pub fn builder() -> Builder {
        Builder::new()
    }

    /// The number of worker threads.
    pub fn num_threads(&self) -> usize {
        self.shared.num_threads()
    }

    /// Runs `task` on the pool and returns a handle to its result (or panic). Called from a
    /// task of this pool, the new task goes to the calling worker's deque.
    pub fn spawn<F, T>(&self, task: F) -> JoinHandle<T>
    where
        F: FnOnce() -> T + Send + 'static,
        T: Send + 'static,
    {
        let (job, handle) = JoinHandle::new(task);
        self.shared.submit(job);
        handle
    }

    /// Runs `task` on the pool, fire-and-forget. A panic is counted in
    /// [`PoolStats::panicked`] and its payload passed to the
    /// [`panic_handler`](Builder::panic_handler); the worker carries on.
    ///
    /// A `task` of at most 56 bytes of captures (48 if aligned to 16) costs no allocation
    /// once the pool is warm: it is stored in a recycled 64-byte block, which its runner gives
    /// back before running it. The pool keeps at most 64 KiB of such blocks, and each thread
    /// that runs or submits tasks at most 4 KiB; larger tasks are boxed.
    pub fn execute<F>(&self, task: F)
    where
        F: FnOnce() + Send + 'static,
    {
        let run = move || match panic::catch_unwind(AssertUnwindSafe(task)) {
            Ok(()) => Outcome::Completed,
            Err(payload) => Outcome::Panicked(vec![payload]),
        };
        // In a recycled block if it fits (`recycle.rs`), else boxed.
        // SAFETY: the job runs at most once, and only while `self.shared` is alive: every
        // execution is by a worker, which holds the `Arc`, or by a thread inside a call on
        // `&Shared` (a submitter after shutdown began, a caller helping); the task is 'static.
        let job = match unsafe { self.shared.task_blocks.job(run, Kind::Task) } {
            Ok(job) => job,
            Err(run) => HeapJob::boxed_static(run, Kind::Task),
        };
        self.shared.submit(job);
    }

    /// Runs `f` on the calling thread with a [`Scope`] whose tasks may borrow from the
    /// caller, and returns once `f` and every task spawned in the scope have finished. If `f`
    /// or a task panicked, the panic is re-raised here after all of them finished (`f`'s
    /// panic first, else the first task's). Called from a task of this pool, the waiting
    /// worker runs pool work meanwhile.
    pub fn scope<'env, F, R>(&self, f: F) -> R
    where
        F: for<'scope> FnOnce(&'scope Scope<'scope, 'env>) -> R,
    {
        // One `pending` unit for the whole scope (its tasks are `Kind::ScopedTask`), so that
        // `wait_idle` also waits for scoped tasks.
        self.shared.task_submitted();
        let outside = WorkerThread::current_in(&self.shared).is_none();
        let scope = Scope::new(Arc::clone(&self.shared), outside);
        // Tasks point into this frame (`scope`, the borrows) until `wait` returned; nothing in
        // between unwinds (f is caught, the rest never calls user code outside a catch).
        let guard = AbortOnUnwind("ThreadPool::scope");
        let result = panic::catch_unwind(AssertUnwindSafe(|| f(&scope)));
        scope.closure_done();
        scope.wait();
        guard.disarm();
        self.shared.task_done();
        // Taken on every path: `Scope` has no `Drop` (it would have to outlive its borrows).
        let task_panic = scope.take_panic();
        match (result, task_panic) {
            (Ok(value), None) => value,
            (Ok(value), Some(payload)) => {
                self.shared.discard(value);
                panic::resume_unwind(payload)
            }
            (Err(payload), task_panic) => {
                self.shared.discard(task_panic);
                panic::resume_unwind(payload)
            }
        }
    }

    /// Runs `f` on one of the pool's workers and returns its result (a panic is re-raised
    /// here), like `rayon::ThreadPool::install`; on a worker of this pool it simply calls `f`.
    /// Work that `f` submits (`scope` tasks, `join` halves, `spawn`) then goes to that
    /// worker's own deque instead of the shared injector: `pool.install(|| pool.scope(...))`
    /// is the fast way to run a large scope from outside the pool. After shutdown has begun,
    /// `f` runs on the calling thread.
    ///
    /// ```
    /// let pool = atomsync::ThreadPool::new(2);
    /// let mut data = vec![1u32; 10_000];
    /// pool.install(|| {
    ///     pool.scope(|s| {
    ///         for x in data.iter_mut() {
    ///             s.spawn(move || *x += 1);
    ///         }
    ///     })
    /// });
    /// assert!(data.iter().all(|&x| x == 2));
    /// ```
    pub fn install<F, R>(&self, f: F) -> R
    where
        F: FnOnce() -> R + Send,
        R: Send,
    {
        if WorkerThread::current_in(&self.shared).is_some() {
            return f();
        }
        if self.shared.shutdown_begun() {
            return f();
        }
        let job = StackJob::new(f);
        // SAFETY: we wait for the latch below before `job` goes out of scope.
        self.shared.submit(unsafe { job.as_job_ref(Kind::Task) });
        job.latch.wait();
        match job.into_result() {
            Ok(result) => result,
            Err(payload) => panic::resume_unwind(payload),
        }
    }

    /// Runs `a` and `b`, potentially in parallel, and returns both results, like
    /// `rayon::join`.
    ///
    /// On a worker of this pool: `b` is pushed onto the worker's deque, `a` runs inline, then
    /// `b` runs inline too unless another worker stole it (then the worker helps with other
    /// work until `b` is done). Cheap enough to recurse down to small pieces of work. From any
    /// other thread: `b` is offered to the pool (as a one-task scope), `a` runs on the caller,
    /// and the caller then runs `b` itself unless a worker already took it, so the join
    /// completes even when every worker is blocked.
    ///
    /// Both closures always run. If either panics, the panic is re-raised once both have
    /// finished; if both panic, `a`'s payload is the one re-raised (`b`'s is dropped).
    ///
    /// ```
    /// let pool = atomsync::ThreadPool::new(2);
    /// let ran_b = std::sync::atomic::AtomicBool::new(false);
    /// let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
    ///     pool.join(|| panic!("a failed"), || ran_b.store(true, std::sync::atomic::Ordering::SeqCst))
    /// }));
    /// assert!(outcome.is_err());
    /// assert!(ran_b.load(std::sync::atomic::Ordering::SeqCst), "b ran although a panicked");
    /// ```
    pub fn join<A, B, RA, RB>(&self, a: A, b: B) -> (RA, RB)
    where
        A: FnOnce() -> RA + Send,
        B: FnOnce() -> RB + Send,
        RA: Send,
        RB: Send,
    {
        match WorkerThread::current_in(&self.shared) {
            Some(worker) => worker.join(a, b),
            None => self.join_from_outside(a, b),
        }
    }

    /// `b` as the one task of a scope opened on this thread (a non-worker): the scope offers
    /// it to the pool and, while the caller waits, runs it itself if no worker has taken it;
    /// taking it from the scope's queue is the claim that decides who runs it, once. The
    /// scope re-raises `a`'s panic first, after `b` has finished. `b`'s value is then user
    /// code to drop on an unwinding path: it goes through `discard` (a panic of its `Drop`
    /// reaches the panic handler) instead of being dropped by the unwind, which would abort.
    #[cold]
    fn join_from_outside<A, B, RA, RB>(&self, a: A, b: B) -> (RA, RB)
    where
        A: FnOnce() -> RA + Send,
        B: FnOnce() -> RB + Send,
        RA: Send,
        RB: Send,
    {
        let mut result_b = None;
        let result_a = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            self.scope(|s| {
                s.spawn(|| result_b = Some(b()));
                a()
            })
        }));
        match result_a {
            Ok(result_a) => {
                (result_a, result_b.expect("scope returned without a panic, so its task ran"))
            }
            Err(payload) => {
                self.shared.discard(result_b);
                std::panic::resume_unwind(payload)
            }
        }
    }

    /// Blocks until no task is queued or running (tasks submitted meanwhile are waited for
    /// too).
    ///
    /// # Panics
    /// When called from a task of this pool (it would wait for itself).
    pub fn wait_idle(&self) {
        assert!(
            WorkerThread::current_in(&self.shared).is_none(),
            "ThreadPool::wait_idle called from a task of the same pool (it would wait for itself)"
        );
        self.shared.wait_idle();
    }

    /// A snapshot of the task counts. The fields are read one after another while tasks
    /// keep running, so they need not add up at any instant; after [`wait_idle`](Self::wait_idle)
    /// (with no concurrent submitters) they are exact.
    pub fn stats(&self) -> PoolStats {
        self.shared.stats()
    }

    /// Starts the shutdown (as `Drop` does: every queued task still runs) and waits at most
    /// `timeout` for the workers to finish; true if they all did. Returns false at once when
    /// called from a task of this pool. Either way the pool stays usable as far as the
    /// shutdown rules allow (see the [module docs](self)): later work from other threads runs
    /// on the calling thread.
    ///
    /// After it returned false, dropping the pool does not wait: the workers are detached and
    /// exit on their own once the queued and running tasks have ended (a task stuck forever
    /// keeps its worker thread alive, as a detached `std::thread` would). After it returned
    /// true, the workers have exited and the drop joins them at once.
    ///
    /// ```
    /// use std::time::{Duration, Instant};
    /// let pool = atomsync::ThreadPool::new(1);
    /// let (release, stuck) = std::sync::mpsc::channel::<()>();
    /// pool.execute(move || { let _ = stuck.recv(); });
    /// assert!(!pool.shutdown_timeout(Duration::from_millis(20)));
    /// let start = Instant::now();
    /// drop(pool); // does not wait for the stuck task
    /// assert!(start.elapsed() < Duration::from_secs(1));
    /// drop(release); // the task ends, and its worker exits
    /// ```
    #[must_use = "false means tasks are still running and the workers will be detached"]
    pub fn shutdown_timeout(&self, timeout: Duration) -> bool {
        let finished = self.shutdown_and_wait(timeout);
        stat!(ThreadPool, Timeout, !finished);
        // Relaxed would do (only `Drop`, on a thread that owns the pool, reads it).
        self.detached.store(!finished, SeqCst);
        finished
    }

    fn shutdown_and_wait(&self, timeout: Duration) -> bool {
        self.shared.begin_shutdown();
        if WorkerThread::current_in(&self.shared).is_some() {
            return false;
        }
        self.shared.wait_for_workers(futex::deadline_after(timeout))
    }
}

#[cfg(not(loom))]
impl Drop for ThreadPool {
    /// Runs every queued task, then joins the workers. Dropped on one of its own workers (the
    /// last `Arc<ThreadPool>` held by a task), the pool cannot join that worker: it then only
    /// starts the shutdown, and the workers exit on their own once the queues are empty. After
    /// [`shutdown_timeout`](Self::shutdown_timeout) returned false, likewise: the workers are
    /// detached, not joined.
    fn drop(&mut self) {
        self.shared.begin_shutdown();
        if WorkerThread::current_in(&self.shared).is_some() || *self.detached.get_mut() {
            // Dropping the `JoinHandle`s detaches the threads.
            self.threads.clear();
            return;
        }
        for thread in self.threads.drain(..) {
            // A worker never panics (tasks run under catch_unwind); nothing to report.
            let _ = thread.join();
        }
    }
}

#[cfg(not(loom))]
impl fmt::Debug for ThreadPool {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ThreadPool")
            .field("num_threads", &self.num_threads())
            .field("stats", &self.stats())
            .finish()
    }
}
