//! Jobs as type-erased pointers (what the deques hold), and the guard that turns an unwind
//! where none is possible into an abort.
//!
//! A [`JobRef`] is a data pointer plus the function that runs it, 3 words, `Copy`-free (each is
//! executed exactly once). Two kinds:
//!
//! * [`HeapJob`]: a boxed closure (spawn, execute, scope tasks); executing frees the box.
//! * [`StackJob`]: a closure on the stack of a `join` caller, with a result slot and a
//!   [`Latch`] (`latch.rs`); the caller keeps the job alive until the latch is set or it took
//!   the job back.
//!
//! **No job unwinds.** Every `execute_fn` runs the user's closure under `catch_unwind` and
//! returns an [`Outcome`]; the pool wraps each execution in an [`AbortOnUnwind`] guard anyway,
//! so that a bug of ours that lets an unwind escape aborts with a message instead of leaving a
//! `JobRef` to a dead stack frame behind.

// Under loom only the slab's model uses jobs (`slab.rs`): most of this file is idle there.
#![cfg_attr(loom, allow(dead_code))]

pub(crate) use super::latch::Latch;
use std::any::Any;
use std::cell::UnsafeCell;
use std::panic::{self, AssertUnwindSafe};

/// A panic payload.
pub(crate) type Payload = Box<dyn Any + Send>;

/// How a job ended, for the pool's bookkeeping.
pub(crate) enum Outcome {
    /// Ran to completion.
    Completed,
    /// Panicked (the task, or user code run on its behalf: its result's or a payload's `Drop`,
    /// a `Waker`). The payloads are those nobody else receives: report them to the pool's
    /// panic handler (empty when the task's panic went to a handle or scope).
    Panicked(Vec<Payload>),
}

impl Outcome {
    /// `Completed`, or `Panicked` with `payloads` if there are any (panics of user code that
    /// ran after the task body itself completed: a drop, a waker).
    pub(crate) fn completed_unless(payloads: Vec<Payload>) -> Self {
        if payloads.is_empty() { Self::Completed } else { Self::Panicked(payloads) }
    }
}

/// Aborts the process if dropped: held across a region that must not unwind because something
/// (a `JobRef` in a deque, a scope's tasks) still points into the current stack frame, and
/// `mem::forget` at its end. Every user call inside such a region is under `catch_unwind`, so
/// this fires only on a bug of the pool itself (rayon's `AbortIfPanic`).
pub(crate) struct AbortOnUnwind(pub(crate) &'static str);

impl AbortOnUnwind {
    /// Leaves the region: the guard is disarmed.
    #[inline]
    pub(crate) fn disarm(self) {
        std::mem::forget(self);
    }
}

impl Drop for AbortOnUnwind {
    #[cold]
    fn drop(&mut self) {
        // Not `eprintln!` (it panics if stderr is closed): write what we can and abort.
        use std::io::Write;
        let _ = writeln!(
            std::io::stderr(),
            "atomsync ThreadPool: unwinding out of {} would leave a job pointing into a dead \
             stack frame; aborting",
            self.0
        );
        std::process::abort();
    }
}

/// What the pool counts for a job.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Kind {
    /// A top-level task (spawn, execute, a `join` from outside): in the stats and in the
    /// `pending` count that `wait_idle` waits on.
    Task,
    /// A scoped task: in the stats only; its scope holds one `pending` unit for all of them
    /// (saves two contended atomic operations per task).
    ScopedTask,
    /// A half of a `join` made inside a task: part of that task, not counted.
    Part,
    /// A ticket of a scope opened outside the pool (`scope.rs`): runs that scope's queued
    /// tasks; the ticket itself is not counted (its tasks are).
    ScopeTicket,
}

/// A job in a deque: run it exactly once with [`JobRef::execute`].
pub(crate) struct JobRef {
    pointer: *const (),
    execute_fn: unsafe fn(*const ()) -> Outcome,
    pub(crate) kind: Kind,
}

// SAFETY: every job's data is `Send` (the constructors require it or their callers promise it),
// and a `JobRef` is executed by exactly one thread.
unsafe impl Send for JobRef {}

impl JobRef {
    /// A job from its parts (for job types defined elsewhere, like the spawn job of
    /// `handle.rs`).
    ///
    /// # Safety
    /// `execute_fn(pointer)` must be sound to call once, from any thread, at any time until
    /// the job has run.
    pub(crate) unsafe fn from_parts(
        pointer: *const (),
        execute_fn: unsafe fn(*const ()) -> Outcome,
        kind: Kind,
    ) -> Self {
        Self { pointer, execute_fn, kind }
    }

    /// Runs the job.
    ///
    /// # Safety
    /// At most once per job, and while the data it points to is alive (for a `StackJob`, its
    /// owner waits for the latch).
    pub(crate) unsafe fn execute(self) -> Outcome {
        // SAFETY: forwarded from the caller.
        unsafe { (self.execute_fn)(self.pointer) }
    }

    /// Identifies the job (its data pointer), to recognise a `StackJob` taken back.
    pub(crate) fn id(&self) -> *const () {
        self.pointer
    }
}

/// A boxed closure as a job.
pub(crate) struct HeapJob;

impl HeapJob {
    /// Boxes `job`.
    ///
    /// # Safety
    /// `job` may borrow data with any lifetime: the caller guarantees that the job is executed
    /// before those borrows end (a scope waits for all its tasks).
    pub(crate) unsafe fn boxed<F>(job: F, kind: Kind) -> JobRef
    where
        F: FnOnce() -> Outcome + Send,
    {
        unsafe fn execute<F: FnOnce() -> Outcome>(pointer: *const ()) -> Outcome {
            // SAFETY: `pointer` came from `Box::into_raw` of a `Box<F>` below, and a job is
            // executed once, so we own the box.
            let job = unsafe { Box::from_raw(pointer as *mut F) };
            job()
        }
        JobRef {
            pointer: Box::into_raw(Box::new(job)) as *const (),
            execute_fn: execute::<F>,
            kind,
        }
    }

    /// Boxes a `'static` job (nothing to outlive).
    pub(crate) fn boxed_static<F>(job: F, kind: Kind) -> JobRef
    where
        F: FnOnce() -> Outcome + Send + 'static,
    {
        // SAFETY: `job` borrows nothing shorter than 'static.
        unsafe { Self::boxed(job, kind) }
    }
}

/// A closure on its caller's stack, with a slot for its result and a latch set when it ran.
pub(crate) struct StackJob<F, R> {
    function: UnsafeCell<Option<F>>,
    result: UnsafeCell<Option<std::thread::Result<R>>>,
    pub(crate) latch: Latch,
}

impl<F, R> StackJob<F, R>
where
    F: FnOnce() -> R + Send,
    R: Send,
{
    /// A job whose latch a thread outside the pool waits on.
    pub(crate) fn new(function: F) -> Self {
        Self::with_latch(function, Latch::new())
    }

    /// A job with the given latch (`Latch::for_pool` when a worker waits on it).
    pub(crate) fn with_latch(function: F, latch: Latch) -> Self {
        Self { function: UnsafeCell::new(Some(function)), result: UnsafeCell::new(None), latch }
    }

    /// A reference to this job for a deque.
    ///
    /// # Safety
    /// The caller keeps `self` alive (and in place) until the job has been executed (the latch
    /// is set) or taken back from the deque and run with [`run_inline`](Self::run_inline).
    pub(crate) unsafe fn as_job_ref(&self, kind: Kind) -> JobRef {
        unsafe fn execute<F: FnOnce() -> R + Send, R: Send>(pointer: *const ()) -> Outcome {
            // SAFETY: `pointer` is a live `StackJob<F, R>` (the contract of `as_job_ref`).
            let this = unsafe { &*(pointer as *const StackJob<F, R>) };
            // SAFETY: the job is executed once and its owner does not touch `function` or
            // `result` until the latch is set, so these accesses are exclusive.
            let function = unsafe { (*this.function.get()).take() }.expect("job run twice");
            let result = panic::catch_unwind(AssertUnwindSafe(function));
            let outcome = match result {
                Ok(_) => Outcome::Completed,
                Err(_) => Outcome::Panicked(Vec::new()),
            };
            // SAFETY: as above.
            unsafe { *this.result.get() = Some(result) };
            // After this the owner may free `this`: nothing of it is touched below.
            this.latch.set();
            outcome
        }
        JobRef { pointer: self as *const Self as *const (), execute_fn: execute::<F, R>, kind }
    }

    /// Runs the closure on this thread (the job was taken back before anyone executed it),
    /// catching its panic.
    pub(crate) fn run_inline(self) -> std::thread::Result<R> {
        let function = self.function.into_inner().expect("job run twice");
        panic::catch_unwind(AssertUnwindSafe(function))
    }

    /// The result of the job, after the latch was set.
    pub(crate) fn into_result(self) -> std::thread::Result<R> {
        self.result.into_inner().expect("StackJob: latch set without a result")
    }
}
