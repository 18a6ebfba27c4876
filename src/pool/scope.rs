//! [`Scope`]: tasks that may borrow from the caller of [`ThreadPool::scope`].
//!
//! A scope counts its unfinished tasks in `pending`, starting at 1 for the scope's own closure;
//! the task that brings it to 0 sets the latch the caller waits on. The first panic of a task
//! is kept in `panic` and re-raised by `scope` once every task has finished.
//!
//! [`ThreadPool::scope`]: super::ThreadPool::scope

use super::Shared;
use super::job::{HeapJob, Kind, Latch, Outcome};
use crate::shim::{Arc, AtomicUsize};
use std::any::Any;
use std::marker::PhantomData;
use std::panic::{self, AssertUnwindSafe};
use std::ptr;
use std::sync::atomic::AtomicPtr;
use std::sync::atomic::Ordering::{AcqRel, Acquire, Relaxed};

/// A scope of tasks created by [`ThreadPool::scope`](super::ThreadPool::scope); its tasks may
/// borrow anything that outlives the scope (`'scope`), like [`std::thread::scope`]'s.
pub struct Scope<'scope, 'env: 'scope> {
    pub(super) shared: Arc<Shared>,
    /// Unfinished tasks, plus 1 while the scope's own closure runs.
    pending: AtomicUsize,
    latch: Latch,
    /// The first panic payload of a task (a leaked `Box<Box<dyn Any + Send>>`), or null.
    panic: AtomicPtr<Box<dyn Any + Send>>,
    // Invariance over both lifetimes, as in `std::thread::Scope`.
    scope: PhantomData<&'scope mut &'scope ()>,
    env: PhantomData<&'env mut &'env ()>,
}

impl<'scope, 'env> Scope<'scope, 'env> {
    pub(super) fn new(shared: Arc<Shared>) -> Self {
        Self {
            shared,
            pending: AtomicUsize::new(1),
            latch: Latch::new(),
            panic: AtomicPtr::new(ptr::null_mut()),
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
        // Relaxed: the count only has to reach 0 after this task is done, which the AcqRel
        // decrement in `task_done` orders.
        self.pending.fetch_add(1, Relaxed);
        let job = move || {
            let outcome = match panic::catch_unwind(AssertUnwindSafe(task)) {
                Ok(()) => Outcome::Completed,
                Err(payload) => {
                    self.keep_panic(payload);
                    Outcome::Panicked(None)
                }
            };
            self.task_done();
            outcome
        };
        // SAFETY: `scope` does not return (nor unwind) before `pending` reached 0, i.e. before
        // this job ran: every borrow of 'scope outlives its execution.
        let job = unsafe { HeapJob::boxed(job, Kind::ScopedTask) };
        self.shared.submit(job);
    }

    fn keep_panic(&self, payload: Box<dyn Any + Send>) {
        let boxed = Box::into_raw(Box::new(payload));
        // AcqRel: Release publishes the payload to the Acquire swap in `take_panic`.
        if let Err(_other) = self
            .panic
            .compare_exchange(ptr::null_mut(), boxed, AcqRel, Relaxed)
        {
            // SAFETY: `boxed` came from `Box::into_raw` above and was not published.
            drop(unsafe { Box::from_raw(boxed) });
        }
    }

    /// One task (or the scope's closure) finished. Must be the last access to `self`.
    pub(super) fn task_done(&self) {
        // AcqRel: the last decrement acquires every other task's release, and `Latch::set`
        // releases all of it to the waiter.
        if self.pending.fetch_sub(1, AcqRel) == 1 {
            self.latch.set();
        }
    }

    /// Waits until every task has finished (helping with pool work if on a worker).
    pub(super) fn wait(&self) {
        self.shared.wait_for_latch(&self.latch);
    }

    /// The first panic of a task, if any.
    pub(super) fn take_panic(&self) -> Option<Box<dyn Any + Send>> {
        // Acquire: pairs with the Release of `keep_panic`.
        let payload = self.panic.swap(ptr::null_mut(), Acquire);
        // SAFETY: non-null pointers here come from `Box::into_raw` in `keep_panic`, and the
        // swap gave this one to us alone.
        (!payload.is_null()).then(|| *unsafe { Box::from_raw(payload) })
    }
}

impl std::fmt::Debug for Scope<'_, '_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Scope")
            .field("pending", &self.pending.load(Relaxed))
            .finish()
    }
}
