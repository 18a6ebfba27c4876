//! [`JoinHandle`] and the one-shot result cell under it.
//!
//! The cell holds one value, written once by the task's worker and taken once by the handle,
//! either by a blocking join (futex sleep on `state`) or by `poll` (a registered `Waker`).
//! `state` is a set of bits:
//!
//! | bit           | set by                        | meaning                                   |
//! |---------------|-------------------------------|-------------------------------------------|
//! | `COMPLETE`    | producer, once                | `value` is written; the consumer may take |
//! | `SLEEPING`    | a joiner, before it sleeps    | the producer must futex-wake `state`      |
//! | `REGISTERING` | the poller, around its write  | the poller owns the `waker` slot           |
//! | `WAKER_SET`   | the poller, after its write   | a waker is stored; the producer owns the slot after `COMPLETE` |
//!
//! ```text
//! complete: write value; prev = fetch_or(COMPLETE) (AcqRel)
//!           prev has SLEEPING                      -> futex wake_all(state)
//!           prev has WAKER_SET and not REGISTERING -> take the waker, wake it
//! join:     loop { COMPLETE? take.  spin (SpinWait) a while; then set SLEEPING (CAS),
//!                  futex wait(state, s|SLEEPING, deadline) }
//! poll:     COMPLETE? take.  clone the waker (user code, before the window below)
//!           CAS s -> s|REGISTERING (fails if COMPLETE came: take)
//!           swap the clone into the slot; CAS s|REGISTERING -> s|WAKER_SET (Release);
//!           drop the replaced waker (user code, after the window)
//!           that CAS fails only if COMPLETE came meanwhile: the producer saw REGISTERING and
//!           left the waker alone, so we drop it ourselves and take the value
//! ```
//!
//! User code in here (the `Waker`'s clone, drop and wake) never runs inside the `REGISTERING`
//! window, so an unwind cannot leave the state half-written; `complete` runs on a pool worker
//! and catches a panicking `wake`, returning its payload to the pool.
//!
//! The waker slot is never touched by two threads at once: the poller touches it only while it
//! holds `REGISTERING`, which it can take only before `COMPLETE`; the producer touches it only
//! if its `fetch_or` saw `WAKER_SET` without `REGISTERING`, after which no poller can register.
//! The cell lives in an `Arc` shared by the task and the handle, so a handle dropped before
//! completion (detach) or a producer finishing after the handle is gone needs no extra state:
//! the last owner drops the cell and, with it, an untaken value. A `join_timeout` that timed
//! out leaves `SLEEPING` set: a later `complete` pays one needless futex wake.
//!
//! **Orderings.** `complete`'s `fetch_or(COMPLETE)` is AcqRel. Its Release half publishes
//! `value` to the consumer, which takes it only after seeing `COMPLETE` with Acquire (a load,
//! or a failed CAS in `poll`); its Acquire half pairs with the Release CAS that ends a
//! registration (`REGISTERING` -> `WAKER_SET`), so the producer sees the waker stored there.
//! The CAS that takes `REGISTERING` is Acquire both ways: on success the poller owns the slot,
//! on failure it may see `COMPLETE` and take the value. `SLEEPING` is set with a Relaxed CAS:
//! the bit only asks the producer for a wake, and the joiner re-loads with Acquire.

use crate::futex;
use crate::shim::{AtomicU32, UnsafeCell};
use crate::spin::SpinWait;
use crate::stats::Primitive;
use std::sync::atomic::Ordering::{AcqRel, Acquire, Relaxed, Release};
use std::task::{Poll, Waker};
use std::time::Instant;

const COMPLETE: u32 = 1;
const SLEEPING: u32 = 2;
const REGISTERING: u32 = 4;
const WAKER_SET: u32 = 8;

/// A futex-backed one-shot cell with a waker slot (see the module docs). One producer calls
/// [`complete`](Self::complete) once; one consumer takes the value once, through
/// [`wait`](Self::wait) or [`poll`](Self::poll).
pub struct OneShot<T> {
    state: AtomicU32,
    value: UnsafeCell<Option<T>>,
    waker: UnsafeCell<Option<Waker>>,
}

// SAFETY: the value moves from the producer's thread to the consumer's (so `T: Send`), and the
// state protocol keeps accesses to `value` and `waker` from overlapping (module docs).
unsafe impl<T: Send> Send for OneShot<T> {}
// SAFETY: as above: shared access only goes through the state protocol.
unsafe impl<T: Send> Sync for OneShot<T> {}

impl<T> Default for OneShot<T> {
    fn default() -> Self {
        Self::new()
    }
}

impl<T> OneShot<T> {
    /// An empty cell.
    pub fn new() -> Self {
        Self {
            state: AtomicU32::new(0),
            value: UnsafeCell::new(None),
            waker: UnsafeCell::new(None),
        }
    }

    /// Whether the value has been written.
    pub fn is_complete(&self) -> bool {
        self.state.load(Acquire) & COMPLETE != 0
    }

    /// Writes the value and wakes the consumer. Producer only, at most once. A panic of the
    /// consumer's `Waker` (user code) is caught and its payload returned: it must not unwind
    /// into the producer (a pool worker).
    pub fn complete(&self, value: T) -> Option<Box<dyn std::any::Any + Send>> {
        // SAFETY: only the producer writes `value`, once, before COMPLETE; the consumer reads
        // it only after seeing COMPLETE (Acquire), so the accesses never overlap.
        self.value.with_mut(|slot| unsafe { *slot = Some(value) });
        let previous = self.state.fetch_or(COMPLETE, AcqRel);
        if previous & SLEEPING != 0 {
            futex::wake_all(&self.state, Primitive::ThreadPool);
        }
        if previous & (WAKER_SET | REGISTERING) == WAKER_SET {
            // SAFETY: WAKER_SET without REGISTERING, and COMPLETE is now set, so no poller can
            // start registering (it needs COMPLETE clear): we own the waker slot.
            let waker = self.waker.with_mut(|slot| unsafe { (*slot).take() });
            if let Some(waker) = waker {
                // `wake` (and the waker's drop inside it) is user code.
                let woken =
                    std::panic::catch_unwind(std::panic::AssertUnwindSafe(move || waker.wake()));
                return woken.err();
            }
        }
        None
    }

    /// Takes the value. Consumer only, after seeing COMPLETE with Acquire.
    fn take(&self) -> T {
        // SAFETY: COMPLETE was seen with Acquire, so the producer's write happened before and
        // it never touches `value` again; there is one consumer.
        self.value
            .with_mut(|slot| unsafe { (*slot).take() })
            .expect("JoinHandle: the result was already taken (polled after completion?)")
    }

    /// Blocks until the value is there and takes it; `None` if `deadline` passed first.
    /// Consumer only.
    pub fn wait(&self, deadline: Option<Instant>) -> Option<T> {
        let mut spin = SpinWait::new(Primitive::ThreadPool);
        loop {
            let state = self.state.load(Acquire);
            if state & COMPLETE != 0 {
                return Some(self.take());
            }
            if spin.spin() {
                continue;
            }
            if state & SLEEPING == 0
                && self.state.compare_exchange(state, state | SLEEPING, Relaxed, Relaxed).is_err()
            {
                continue;
            }
            if futex::wait(&self.state, state | SLEEPING, deadline, Primitive::ThreadPool)
                == futex::Wait::TimedOut
            {
                return if self.state.load(Acquire) & COMPLETE != 0 {
                    Some(self.take())
                } else {
                    None
                };
            }
        }
    }

    /// Takes the value if it is there; otherwise stores `waker` to be woken by `complete`.
    /// Consumer only.
    pub fn poll(&self, waker: &Waker) -> Poll<T> {
        let mut state = self.state.load(Acquire);
        if state & COMPLETE != 0 {
            return Poll::Ready(self.take());
        }
        // The clone is user code: made outside the REGISTERING window (see below).
        let new_waker = waker.clone();
        loop {
            if state & COMPLETE != 0 {
                return Poll::Ready(self.take());
            }
            match self.state.compare_exchange_weak(state, state | REGISTERING, Acquire, Acquire) {
                Ok(_) => break,
                Err(current) => state = current,
            }
        }
        // SAFETY: we hold REGISTERING, so the producer leaves the slot alone (module docs),
        // and there is one consumer. Nothing in here calls user code (the clone was made
        // before we took REGISTERING; the old waker is dropped after we release it), so no
        // unwind can leave REGISTERING set.
        let replaced = self.waker.with_mut(|slot| unsafe { (*slot).replace(new_waker) });
        let registered = (state & !REGISTERING) | WAKER_SET;
        // On failure the only possible change is COMPLETE.
        match self.state.compare_exchange(state | REGISTERING, registered, Release, Acquire) {
            Ok(_) => {
                drop(replaced);
                Poll::Pending
            }
            Err(_completed) => {
                // SAFETY: `complete` saw REGISTERING and did not touch the slot; still ours.
                let stale = self.waker.with_mut(|slot| unsafe { (*slot).take() });
                drop((replaced, stale));
                Poll::Ready(self.take())
            }
        }
    }
}

/// The owner of a task spawned with [`ThreadPool::spawn`](super::ThreadPool::spawn): join it
/// (blocking, optionally with a timeout) or `.await` it.
///
/// The result is `Err` with the panic payload if the task panicked (as with
/// [`std::thread::JoinHandle::join`]). Dropping the handle detaches the task: it still runs,
/// and its result is dropped.
///
/// ```
/// let pool = atomsync::ThreadPool::new(2);
/// let handle = pool.spawn(|| 6 * 7);
/// assert_eq!(handle.join().unwrap(), 42);
///
/// let failing = pool.spawn(|| -> u32 { panic!("boom") });
/// assert!(failing.join().is_err());
///
/// // A handle is also a future.
/// let value = pollster::block_on(pool.spawn(|| "async"));
/// assert_eq!(value.unwrap(), "async");
/// ```
#[cfg(not(loom))]
pub struct JoinHandle<T> {
    /// The spawn job itself (one allocation for the task and its result cell).
    job: crate::shim::Arc<dyn ResultCell<T>>,
}

/// The part of a [`SpawnJob`] its handle uses, without the task's type.
#[cfg(not(loom))]
trait ResultCell<T>: Send + Sync {
    fn cell(&self) -> &OneShot<std::thread::Result<T>>;
}

/// A spawned task and its result cell in one `Arc`: the deque holds one reference (taken over
/// by the executing worker), the handle the other.
#[cfg(not(loom))]
struct SpawnJob<F, T> {
    cell: OneShot<std::thread::Result<T>>,
    /// Taken by the one execution of the job; nobody else touches it.
    task: std::cell::UnsafeCell<Option<F>>,
}

// SAFETY: `task` is accessed only by the one thread that executes the job (`execute` below),
// once; `cell` is `Sync` for `T: Send`. `F: Send` because it moves to the worker.
#[cfg(not(loom))]
unsafe impl<F: Send, T: Send> Sync for SpawnJob<F, T> {}

#[cfg(not(loom))]
impl<F, T> ResultCell<T> for SpawnJob<F, T>
where
    F: FnOnce() -> T + Send,
    T: Send,
{
    fn cell(&self) -> &OneShot<std::thread::Result<T>> {
        &self.cell
    }
}

#[cfg(not(loom))]
impl<T: Send + 'static> JoinHandle<T> {
    /// Creates the job for `task` and the handle to its result.
    pub(super) fn new<F>(task: F) -> (super::job::JobRef, Self)
    where
        F: FnOnce() -> T + Send + 'static,
    {
        use super::job::{JobRef, Kind, Outcome};
        use std::panic::{self, AssertUnwindSafe};

        unsafe fn execute<F, T>(pointer: *const ()) -> Outcome
        where
            F: FnOnce() -> T + Send,
            T: Send,
        {
            // SAFETY: `pointer` came from `Arc::into_raw` below; that reference is ours now.
            let job = unsafe { crate::shim::Arc::from_raw(pointer as *const SpawnJob<F, T>) };
            // SAFETY: the job is executed once, and only here is `task` touched.
            let task = unsafe { (*job.task.get()).take() }.expect("spawn job run twice");
            let result = panic::catch_unwind(AssertUnwindSafe(task));
            let task_panicked = result.is_err();
            let mut payloads = Vec::new();
            // The consumer's `Waker::wake` is user code (caught inside `complete`).
            payloads.extend(job.cell.complete(result));
            // If the handle is gone, this is the last reference: it drops the result (or the
            // panic payload, or a stored waker), all user code. Caught, and counted as a panic
            // of the task.
            if let Err(payload) = panic::catch_unwind(AssertUnwindSafe(move || drop(job))) {
                payloads.push(payload);
            }
            if task_panicked {
                Outcome::Panicked(payloads)
            } else {
                Outcome::completed_unless(payloads)
            }
        }

        let job = crate::shim::Arc::new(SpawnJob {
            cell: OneShot::new(),
            task: std::cell::UnsafeCell::new(Some(task)),
        });
        let pointer = crate::shim::Arc::into_raw(crate::shim::Arc::clone(&job)) as *const ();
        // SAFETY: `execute::<F, T>` takes over the reference leaked by `into_raw`, once; the
        // job is `Send` (`F`, `T: Send`) and `'static`.
        let job_ref = unsafe { JobRef::from_parts(pointer, execute::<F, T>, Kind::Task) };
        (job_ref, Self { job })
    }
}

#[cfg(not(loom))]
impl<T> JoinHandle<T> {
    /// Blocks until the task has finished and returns its value, or the payload of its panic.
    ///
    /// Called from a task (on a worker of any atomsync pool), the worker keeps running pool
    /// work while it waits, and sleeps in the pool's idle protocol when there is none (a new
    /// task or the end of this one wakes it): joining a task of the same pool from inside a
    /// task does not deadlock, even on a one-thread pool, as long as the joined task itself
    /// can finish.
    ///
    /// ```
    /// use std::sync::Arc;
    /// let pool = Arc::new(atomsync::ThreadPool::new(1));
    /// let inner_pool = Arc::clone(&pool);
    /// let outer = pool.spawn(move || inner_pool.spawn(|| 20).join().unwrap() + 1);
    /// assert_eq!(outer.join().unwrap(), 21);
    /// ```
    pub fn join(self) -> std::thread::Result<T> {
        if let Some(value) = super::worker::WorkerThread::with_current(|worker| {
            worker.wait_for_cell(self.job.cell())
        }) {
            return value;
        }
        self.job.cell().wait(None).expect("an untimed wait cannot time out")
    }

    /// Like [`join`](Self::join), but gives up after `timeout`: then `Err(self)` hands the
    /// handle back, so the caller can join again later or drop it (detach). Unlike `join`, a
    /// worker calling it only waits (it runs no other work meanwhile), so that the timeout
    /// is kept.
    ///
    /// ```
    /// use std::time::Duration;
    /// let pool = atomsync::ThreadPool::new(1);
    /// let (release, wait) = std::sync::mpsc::channel::<()>();
    /// let handle = pool.spawn(move || wait.recv().unwrap());
    /// let handle = handle.join_timeout(Duration::from_millis(10)).unwrap_err();
    /// release.send(()).unwrap();
    /// assert!(handle.join_timeout(Duration::from_secs(60)).unwrap().is_ok());
    /// ```
    pub fn join_timeout(
        self,
        timeout: std::time::Duration,
    ) -> Result<std::thread::Result<T>, Self> {
        let deadline = futex::deadline_after(timeout);
        match self.job.cell().wait(deadline) {
            Some(result) => Ok(result),
            None => {
                stat!(ThreadPool, Timeout);
                Err(self)
            }
        }
    }

    /// Whether the task has finished (its result is ready; `join` will not block).
    pub fn is_finished(&self) -> bool {
        self.job.cell().is_complete()
    }
}

#[cfg(not(loom))]
impl<T> std::future::Future for JoinHandle<T> {
    type Output = std::thread::Result<T>;

    /// Ready once the task has finished. Polling again after `Ready` panics.
    fn poll(self: std::pin::Pin<&mut Self>, cx: &mut std::task::Context<'_>) -> Poll<Self::Output> {
        self.job.cell().poll(cx.waker())
    }
}

#[cfg(not(loom))]
impl<T> std::fmt::Debug for JoinHandle<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("JoinHandle").field("finished", &self.is_finished()).finish()
    }
}
