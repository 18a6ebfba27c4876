//! Jobs as type-erased pointers (what the deques hold), and the latch a thread waits on.
//!
//! A [`JobRef`] is a data pointer plus the function that runs it, 3 words, `Copy`-free (each is
//! executed exactly once). Two kinds:
//!
//! * [`HeapJob`]: a boxed closure (spawn, execute, scope tasks); executing frees the box.
//! * [`StackJob`]: a closure on the stack of a `join` caller, with a result slot and a
//!   [`Latch`]; the caller keeps the job alive until the latch is set or it took the job back.
//!
//! [`Latch`] states (a futex word):
//!
//! | state      | meaning                                                       |
//! |------------|---------------------------------------------------------------|
//! | `UNSET`    | not set, nobody sleeps                                        |
//! | `SLEEPING` | not set, the waiter sleeps (or is about to)                   |
//! | `WAKING`   | set, the setter is still inside its futex wake                |
//! | `SET`      | set; the setter no longer touches the latch                   |
//!
//! `set`: CAS `UNSET -> SET`, else (a sleeper) store `WAKING`, wake, store `SET`. The waiter
//! returns only on `SET`, so a latch on the waiter's stack is never freed under the setter.

use crate::futex;
use crate::shim::AtomicU32;
use std::any::Any;
use std::cell::UnsafeCell;
use std::panic::{self, AssertUnwindSafe};
use std::sync::atomic::Ordering::{Acquire, Relaxed, Release};

/// How a job ended, for the pool's bookkeeping.
pub(crate) enum Outcome {
    /// Ran to completion.
    Completed,
    /// Panicked. `Some(payload)`: nobody else receives the payload, report it to the pool's
    /// panic handler; `None`: it went to a handle or scope already.
    Panicked(Option<Box<dyn Any + Send>>),
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
        Self {
            pointer,
            execute_fn,
            kind,
        }
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
    pub(crate) fn new(function: F) -> Self {
        Self {
            function: UnsafeCell::new(Some(function)),
            result: UnsafeCell::new(None),
            latch: Latch::new(),
        }
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
                Err(_) => Outcome::Panicked(None),
            };
            // SAFETY: as above.
            unsafe { *this.result.get() = Some(result) };
            // After this the owner may free `this`: nothing of it is touched below.
            this.latch.set();
            outcome
        }
        JobRef {
            pointer: self as *const Self as *const (),
            execute_fn: execute::<F, R>,
            kind,
        }
    }

    /// Runs the closure on this thread (the job was taken back before anyone executed it).
    pub(crate) fn run_inline(self) -> R {
        let function = self.function.into_inner().expect("job run twice");
        function()
    }

    /// The result of the job, after the latch was set.
    pub(crate) fn into_result(self) -> std::thread::Result<R> {
        self.result
            .into_inner()
            .expect("StackJob: latch set without a result")
    }
}

const UNSET: u32 = 0;
const SLEEPING: u32 = 1;
const WAKING: u32 = 2;
const SET: u32 = 3;

/// A one-time event a thread can poll or sleep on (see the module docs).
#[derive(Debug)]
pub(crate) struct Latch {
    state: AtomicU32,
}

impl Latch {
    pub(crate) const fn new() -> Self {
        Self {
            state: AtomicU32::new(UNSET),
        }
    }

    /// Whether the latch is set; if true, everything before `set` is visible.
    #[inline]
    pub(crate) fn is_set(&self) -> bool {
        // Acquire: pairs with the Release stores of `set`.
        self.state.load(Acquire) == SET
    }

    /// Sets the latch and wakes the waiter. The latch may be freed as soon as this returns
    /// (and not before).
    pub(crate) fn set(&self) {
        // Release: publishes the job's result to the waiter's Acquire load of SET.
        if let Err(_sleeping) = self.state.compare_exchange(UNSET, SET, Release, Relaxed) {
            self.set_and_wake();
        }
    }

    #[cold]
    fn set_and_wake(&self) {
        // Only the waiter moves UNSET -> SLEEPING and nobody else writes: the state is
        // SLEEPING here. Relaxed: WAKING is not SET, so no waiter acts on it.
        self.state.store(WAKING, Relaxed);
        futex::wake_all(&self.state);
        // Release: as in `set`; after this store the waiter may free the latch.
        self.state.store(SET, Release);
    }

    /// Blocks until the latch is set.
    pub(crate) fn wait(&self) {
        loop {
            // Acquire: pairs with the Release of `set`.
            match self.state.load(Acquire) {
                SET => return,
                UNSET => {
                    // Relaxed: announces a sleeper; the result is read after a later Acquire.
                    let _ = self
                        .state
                        .compare_exchange(UNSET, SLEEPING, Relaxed, Relaxed);
                }
                SLEEPING => {
                    futex::wait(&self.state, SLEEPING, None);
                }
                _waking => crate::shim::yield_now(),
            }
        }
    }
}
