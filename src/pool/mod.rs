//! A work-stealing thread pool whose idle workers sleep on a futex: [`ThreadPool`].
//!
//! * `spawn` returns a [`JoinHandle`] carrying the task's value (or its panic); the handle is
//!   also a `Future`. `execute` is fire-and-forget; its panics go to the optional
//!   [`panic_handler`](Builder::panic_handler). A panicking task never kills a worker.
//! * `scope` runs tasks that borrow from the caller; `join` is rayon-style fork-join.
//! * `wait_idle`, `stats`, and a shutdown that finishes queued tasks (`Drop`, bounded by
//!   `shutdown_timeout`).
//!
//! Inside: every worker owns a LIFO deque (crossbeam-deque); tasks submitted from outside the
//! pool go to a shared injector; tasks spawned by a worker go to its own deque. A worker looks
//! for work in its deque, then the injector (taking a batch), then steals from the other
//! workers starting at a random victim. A worker that found nothing spins briefly
//! (`spin.rs`'s `SpinWait`) and then sleeps on a futex word through the
//! jobs-event-counter protocol of `sleep.rs`, which never misses a job pushed while the worker
//! is deciding to sleep and wakes at most one sleeper per push. A `JoinHandle` holds an
//! `Arc` of the one-shot cell of `handle.rs`.
//!
//! | counter (`Shared`) | what                                                           |
//! |--------------------|----------------------------------------------------------------|
//! | `pending`          | futex word: submitted, unfinished tasks (bits 0–30) + `IDLE_WAITERS` (bit 31) |
//! | `live_workers`     | futex word: workers not yet exited (for `shutdown_timeout`)     |
//! | `counters[i]`      | per worker (plus one for other threads): running, completed, panicked |
//!
//! **Waiting workers stay workers.** A worker waiting for something (the stolen half of its
//! `join`, a scope it opened, a `JoinHandle::join` in a task) runs other pool work meanwhile,
//! and when there is none it sleeps in the `sleep.rs` protocol with the latch announced
//! (`latch.rs`), so that both a new job and the awaited event wake it.
//!
//! **Callers outside the pool take part.** `join` from a thread that is not a worker runs `a`
//! on the caller and offers `b` to the pool; `scope` from outside queues its tasks in a queue
//! of its own (plus a few tickets in the injector for the workers), and the caller runs them
//! while it waits (`scope.rs`). Both complete even if every worker is blocked. `install` is
//! the way to run a whole computation on a worker.
//!
//! **Panics.** No unwind crosses a worker's frame or a `join`/`scope` frame. Per site of user
//! code: the task body is caught (to its handle, scope, `join` caller, or the
//! [`panic_handler`](Builder::panic_handler) for `execute`); the drop of a result or payload
//! nobody else will receive (a spawned task whose handle is gone, a scope's second payload) and
//! a consumer's `Waker::wake` are caught, the task counts as panicked and the payload goes to
//! the `panic_handler`; the handler's own panic and payloads whose drop panics are caught and
//! dropped (after 4 rounds of drops that panic again, leaked); a panic from anywhere else
//! inside job execution or inside a `join`/`scope` frame while a job still points into it
//! aborts the process with a message (`job.rs`'s `AbortOnUnwind`) — only a bug of the pool can
//! get there, and unwinding would be a use-after-free. The table with the reasons is in
//! `docs/design.md`.
//!
//! **Shutdown.** Dropping the pool (or `shutdown_timeout`) sets the shutdown flag and wakes
//! every worker; a worker exits only when it finds no work anywhere after seeing the flag, so
//! every queued task runs, including tasks that running tasks spawn during shutdown. After
//! shutdown has begun, `spawn`/`execute`/`scope`/`join` called from a thread that is not one
//! of the pool's workers run the work on the calling thread (the handle is then already
//! finished): no task is lost and nothing can wait for a worker that has exited. After
//! `shutdown_timeout` returned false, `Drop` detaches the workers instead of joining them.

mod handle;
mod latch;
mod sleep;

#[cfg(not(loom))]
mod job;
#[cfg(not(loom))]
mod scope;

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
    sleep::Sleep,
    sleep::Ticket,
};

#[cfg(not(loom))]
use {
    crate::futex,
    crate::shim::{Arc, AtomicBool, AtomicU32, AtomicUsize, fence},
    crate::spin::SpinWait,
    crossbeam_deque::{Injector, Steal, Stealer, Worker},
    crossbeam_utils::CachePadded,
    job::{AbortOnUnwind, HeapJob, JobRef, Kind, Latch, Outcome, Payload, StackJob},
    latch::Announce,
    scope::ScopeQueue,
    sleep::Sleep,
    std::any::Any,
    std::cell::Cell,
    std::panic::{self, AssertUnwindSafe},
    std::sync::atomic::Ordering::{Acquire, Relaxed, Release, SeqCst},
    std::time::{Duration, Instant},
    std::{fmt, io, ptr, thread},
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
            BuildError::Spawn(io::Error::new(
                io::ErrorKind::InvalidInput,
                "too many threads",
            ))
        })?;
        let locals: Vec<Worker<JobRef>> = (0..num_threads).map(|_| Worker::new_lifo()).collect();
        let shared = Arc::new(Shared {
            injector: Injector::new(),
            stealers: locals.iter().map(Worker::stealer).collect(),
            sleep: Sleep::new(),
            shutdown: AtomicBool::new(false),
            pending: AtomicU32::new(0),
            live_workers: AtomicU32::new(live_workers),
            counters: (0..=num_threads)
                .map(|_| CachePadded::new(Counters::default()))
                .collect(),
            panic_handler: self.panic_handler,
        });
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
            let worker = WorkerThread {
                shared: Arc::clone(&shared),
                local,
                index,
                random: Cell::new((index as u64 + 1).wrapping_mul(0x9E37_79B9_7F4A_7C15)),
            };
            match builder.spawn(move || worker.run()) {
                Ok(thread) => threads.push(thread),
                Err(error) => {
                    // The workers that never started will not count themselves out.
                    let missing = (num_threads - index) as u32;
                    // Release: as a worker's exit (pairs with `shutdown_timeout`'s Acquire).
                    shared.live_workers.fetch_sub(missing, Release);
                    drop(ThreadPool {
                        shared,
                        threads,
                        detached: Default::default(),
                    });
                    return Err(BuildError::Spawn(error));
                }
            }
        }
        Ok(ThreadPool {
            shared,
            threads,
            detached: Default::default(),
        })
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
        self.shared.stealers.len()
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
    pub fn execute<F>(&self, task: F)
    where
        F: FnOnce() + Send + 'static,
    {
        let job = HeapJob::boxed_static(
            move || match panic::catch_unwind(AssertUnwindSafe(task)) {
                Ok(()) => Outcome::Completed,
                Err(payload) => Outcome::Panicked(vec![payload]),
            },
            Kind::Task,
        );
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
        scope.task_done();
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
        if self.shared.shutdown.load(SeqCst) {
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
    /// scope re-raises `a`'s panic first, after `b` has finished.
    #[cold]
    fn join_from_outside<A, B, RA, RB>(&self, a: A, b: B) -> (RA, RB)
    where
        A: FnOnce() -> RA + Send,
        B: FnOnce() -> RB + Send,
        RA: Send,
        RB: Send,
    {
        let mut result_b = None;
        let result_a = self.scope(|s| {
            s.spawn(|| result_b = Some(b()));
            a()
        });
        let result_b = result_b.expect("scope returned without a panic, so its task ran");
        (result_a, result_b)
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
        let pending = &self.shared.pending;
        loop {
            // Acquire: pairs with the Release decrement in `task_done`, so the effects of the
            // finished tasks are visible to the caller.
            let state = pending.load(Acquire);
            if state & !IDLE_WAITERS == 0 {
                return;
            }
            if state & IDLE_WAITERS == 0 {
                // Relaxed: the bit only asks `task_done` to wake us; we re-load with Acquire.
                if pending
                    .compare_exchange(state, state | IDLE_WAITERS, Relaxed, Relaxed)
                    .is_err()
                {
                    continue;
                }
            }
            futex::wait(pending, state | IDLE_WAITERS, None);
        }
    }

    /// A snapshot of the task counts. The fields are read one after another while tasks
    /// keep running, so they need not add up at any instant; after [`wait_idle`](Self::wait_idle)
    /// (with no concurrent submitters) they are exact.
    pub fn stats(&self) -> PoolStats {
        let mut stats = PoolStats::default();
        for counters in self.shared.counters.iter() {
            stats.running += counters.running.load();
            stats.completed += counters.completed.load();
            stats.panicked += counters.panicked.load();
        }
        // Relaxed: as above.
        let pending = (self.shared.pending.load(Relaxed) & !IDLE_WAITERS) as usize;
        stats.queued = pending.saturating_sub(stats.running);
        stats
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
    pub fn shutdown_timeout(&self, timeout: Duration) -> bool {
        let finished = self.shutdown_and_wait(timeout);
        // Relaxed would do (only `Drop`, on a thread that owns the pool, reads it).
        self.detached.store(!finished, SeqCst);
        finished
    }

    fn shutdown_and_wait(&self, timeout: Duration) -> bool {
        self.shared.begin_shutdown();
        if WorkerThread::current_in(&self.shared).is_some() {
            return false;
        }
        let deadline = Instant::now().checked_add(timeout);
        let live = &self.shared.live_workers;
        loop {
            // Acquire: pairs with the Release decrement of each exiting worker.
            let workers = live.load(Acquire);
            if workers == 0 {
                return true;
            }
            if futex::wait(live, workers, deadline) == futex::Wait::TimedOut {
                // Acquire: as above.
                return live.load(Acquire) == 0;
            }
        }
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

/// `pending`'s bit 31: `wait_idle` callers sleep on the word.
#[cfg(not(loom))]
const IDLE_WAITERS: u32 = 1 << 31;

/// Per-thread task counters; each in its own cache line.
#[cfg(not(loom))]
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
#[cfg(not(loom))]
#[derive(Default)]
struct Counter(AtomicUsize);

#[cfg(not(loom))]
impl Counter {
    #[inline]
    fn add(&self, delta: usize, shared_slot: bool) {
        // Relaxed (all): statistics, read as a racy snapshot; the single writer's own
        // load-store sequence is ordered by program order.
        if shared_slot {
            self.0.fetch_add(delta, Relaxed);
        } else {
            self.0
                .store(self.0.load(Relaxed).wrapping_add(delta), Relaxed);
        }
    }

    #[inline]
    fn sub(&self, delta: usize, shared_slot: bool) {
        // Relaxed: as in `add`.
        if shared_slot {
            self.0.fetch_sub(delta, Relaxed);
        } else {
            self.0
                .store(self.0.load(Relaxed).wrapping_sub(delta), Relaxed);
        }
    }

    #[inline]
    fn load(&self) -> usize {
        // Relaxed: a snapshot.
        self.0.load(Relaxed)
    }
}

/// What the pool and its workers share.
#[cfg(not(loom))]
pub(crate) struct Shared {
    injector: Injector<JobRef>,
    stealers: Box<[Stealer<JobRef>]>,
    sleep: Sleep,
    shutdown: AtomicBool,
    pending: AtomicU32,
    live_workers: AtomicU32,
    /// One per worker, then one for every other thread (tasks run inline after shutdown).
    counters: Box<[CachePadded<Counters>]>,
    panic_handler: Option<PanicHandler>,
}

#[cfg(not(loom))]
impl Shared {
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
    fn task_submitted(&self) {
        // Relaxed: the count is read with Acquire only after `task_done`'s Release.
        let previous = self.pending.fetch_add(1, Relaxed);
        assert!(
            previous & !IDLE_WAITERS < IDLE_WAITERS - 1,
            "ThreadPool: more than 2^31 - 1 tasks pending"
        );
    }

    fn inject(&self, job: JobRef) {
        if self.shutdown.load(SeqCst) {
            self.execute_job(job, self.counters.len() - 1);
            return;
        }
        self.injector.push(job);
        // Contains a SeqCst fence after the push: the store-buffering pair with
        // `begin_shutdown`'s store and the worker's fence after seeing it (see `main_loop`).
        self.sleep.notify_one();
        if self.shutdown.load(SeqCst) {
            self.drain_injector();
        }
    }

    /// Shutdown began while we pushed, and the workers may have exited without seeing the
    /// job: run whatever is left in the injector here.
    #[cold]
    fn drain_injector(&self) {
        loop {
            match self.injector.steal() {
                Steal::Success(job) => self.execute_job(job, self.counters.len() - 1),
                Steal::Retry => continue,
                Steal::Empty => return,
            }
        }
    }

    /// Runs a job, with the bookkeeping its kind asks for. Never unwinds: every job catches
    /// the panics of the user code it runs (see the module docs), and the guard turns a bug of
    /// ours that would unwind here into an abort.
    fn execute_job(&self, job: JobRef, slot: usize) {
        let guard = AbortOnUnwind("a pool job");
        match job.kind {
            Kind::Part => {
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
            Kind::Task | Kind::ScopedTask => {
                let kind = job.kind;
                let counters = &self.counters[slot];
                // A worker's own slot has one writer (that worker): no locked RMW needed.
                let shared_slot = slot == self.counters.len() - 1;
                counters.running.add(1, shared_slot);
                // SAFETY: as above.
                let outcome = unsafe { job.execute() };
                counters.running.sub(1, shared_slot);
                match outcome {
                    Outcome::Completed => counters.completed.add(1, shared_slot),
                    Outcome::Panicked(payloads) => {
                        counters.panicked.add(1, shared_slot);
                        self.report_panics(payloads);
                    }
                }
                if kind == Kind::Task {
                    self.task_done();
                }
            }
        }
        guard.disarm();
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

    fn task_done(&self) {
        // Release: pairs with the Acquire load in `wait_idle`.
        if self.pending.fetch_sub(1, Release) == IDLE_WAITERS | 1 {
            self.wake_idle_waiters();
        }
    }

    #[cold]
    fn wake_idle_waiters(&self) {
        // Relaxed: the waiters re-load with Acquire; a task submitted in between only makes
        // them set the bit again and sleep.
        self.pending.fetch_and(!IDLE_WAITERS, Relaxed);
        futex::wake_all(&self.pending);
    }

    fn begin_shutdown(&self) {
        self.shutdown.store(true, SeqCst);
        self.sleep.notify_all();
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
#[cfg(not(loom))]
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

#[cfg(not(loom))]
thread_local! {
    /// The worker running on this thread (set for the whole of `WorkerThread::run`).
    static CURRENT: Cell<*const WorkerThread> = const { Cell::new(ptr::null()) };
}

/// One worker's own state; lives on its thread's stack for the thread's whole life.
#[cfg(not(loom))]
struct WorkerThread {
    shared: Arc<Shared>,
    local: Worker<JobRef>,
    index: usize,
    random: Cell<u64>,
}

#[cfg(not(loom))]
impl WorkerThread {
    /// The worker of `shared`'s pool running on this thread, if this thread is one.
    fn current_in(shared: &Shared) -> Option<&WorkerThread> {
        let current = CURRENT.with(Cell::get);
        // SAFETY: CURRENT is non-null only while `run` executes on this thread, with the
        // worker alive on its stack; every caller is code running inside `run` (a task) and
        // does not keep the reference beyond its own call.
        let worker = unsafe { current.as_ref() }?;
        ptr::eq(&*worker.shared, shared).then_some(worker)
    }

    /// Calls `f` with the worker (of any atomsync pool) running on this thread, if any.
    fn with_current<R>(f: impl FnOnce(&WorkerThread) -> R) -> Option<R> {
        let current = CURRENT.with(Cell::get);
        // SAFETY: as in `current_in`.
        let worker = unsafe { current.as_ref() }?;
        Some(f(worker))
    }

    fn run(self) {
        CURRENT.with(|current| current.set(&self));
        self.main_loop();
        CURRENT.with(|current| current.set(ptr::null()));
        // Release: pairs with `shutdown_timeout`'s Acquire load.
        if self.shared.live_workers.fetch_sub(1, Release) == 1 {
            futex::wake_all(&self.shared.live_workers);
        }
    }

    fn main_loop(&self) {
        let shared = &*self.shared;
        loop {
            if let Some(job) = self.find_work().or_else(|| self.spin_for_work()) {
                self.execute(job);
                continue;
            }
            let ticket = shared.sleep.prepare_to_sleep();
            let shutting_down = shared.shutdown.load(SeqCst);
            // With the flag seen: orders the queue checks below after `begin_shutdown`'s
            // store, pairing with the fence after an injector push (see `Shared::inject`),
            // so a worker cannot exit past a job pushed by a submitter that missed the flag.
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
                None => shared.sleep.sleep(ticket),
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

    fn push(&self, job: JobRef) {
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
                    Steal::Success(job) => return Some(job),
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
    fn wait_until(&self, latch: &Latch) {
        let sleep = &self.shared.sleep;
        let mut spin = SpinWait::new();
        while !latch.is_set() {
            if let Some(job) = self.find_work() {
                self.execute(job);
                spin.reset();
                continue;
            }
            if spin.spin() {
                continue;
            }
            if !latch.has_pool() {
                // Not a latch of ours (never the case today): block on it directly.
                latch.wait();
                return;
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
                None => sleep.sleep(ticket),
            }
            spin.reset();
        }
    }

    /// `JoinHandle::join` called on this worker: wait for `cell` as for a latch, through a
    /// `Waker` that sets one.
    fn wait_for_cell<T>(&self, cell: &handle::OneShot<T>) -> T {
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

    fn join<A, B, RA, RB>(&self, a: A, b: B) -> (RA, RB)
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
        let result_b = if taken_back {
            job_b.run_inline()
        } else {
            job_b.into_result()
        };
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
#[cfg(not(loom))]
struct LatchWaker(Latch);

#[cfg(not(loom))]
impl std::task::Wake for LatchWaker {
    fn wake(self: std::sync::Arc<Self>) {
        self.0.set();
    }

    fn wake_by_ref(self: &std::sync::Arc<Self>) {
        self.0.set();
    }
}
