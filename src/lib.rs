//! # atomsync
//!
//! Synchronization primitives built directly from atomics and the OS futex: one 32-bit word
//! holds a primitive's whole state, the uncontended path is a single atomic read-modify-write,
//! and the contended path sleeps on that word with the futex. No global table of wait queues,
//! no allocation on any lock path. Every primitive is model-checked with
//! [loom](https://docs.rs/loom) (see `docs/loom.md`) and benchmarked against `std::sync` and
//! `parking_lot` (see `docs/benchmarks.md`).
//!
//! | primitive   | size    | notes                                                          |
//! |-------------|---------|----------------------------------------------------------------|
//! | [`Mutex`]   | 4 bytes | barging with eventual fairness, `unlock_fair`, timed locks     |
//! | [`Condvar`] | 8 bytes | `notify_all` requeues waiters onto the mutex (no thundering herd) |
//! | [`RwLock`]  | 8 bytes | phase-fair (no writer or reader starvation), upgradable, timed  |
//! | [`Semaphore`] | 20 bytes | lock-free fast path, `acquire_many` never starves, timeouts, `close` |
//! | [`ThreadPool`] | — | work stealing, idle workers sleep on a futex; `spawn` handles that `join`/`.await`, `scope`, `join`, `install`, `wait_idle` |
//!
//! The typed wrappers are [`lock_api`]'s, so the API is parking_lot's: `lock()` returns the
//! guard directly and there is **no poisoning** (a panic while a guard is held unlocks the lock
//! during unwinding). Guards can be mapped, locked through an `Arc`, and used by code generic
//! over `lock_api`.
//!
//! ```
//! use atomsync::{Condvar, Mutex};
//! use std::sync::Arc;
//! use std::thread;
//!
//! let queue = Arc::new((Mutex::new(Vec::new()), Condvar::new()));
//! let producer = {
//!     let queue = Arc::clone(&queue);
//!     thread::spawn(move || {
//!         for item in 0..10 {
//!             queue.0.lock().push(item);
//!             queue.1.notify_one();
//!         }
//!     })
//! };
//! let mut received = 0;
//! while received < 10 {
//!     let mut items = queue.0.lock();
//!     queue.1.wait_while(&mut items, |items| items.is_empty());
//!     received += items.drain(..).count();
//! }
//! producer.join().unwrap();
//! ```
//!
//! ## Cargo features
//!
//! | feature       | default | what it adds                                                              |
//! |---------------|---------|---------------------------------------------------------------------------|
//! | `lock_api_04` | off     | [lock_api 0.4](https://docs.rs/lock_api/0.4)'s raw traits on [`RawMutex`] and [`RawRwLock`], with aliases and a `Condvar` in `atomsync::lock_api_04`, for code on parking_lot 0.12, tokio 1.x or dashmap |
//! | `stats`       | off     | a contention profile: per primitive, fast-path acquisitions, spins, yields, futex waits and wakes (and the futile ones), hand-offs and timeouts, read with `atomsync::stats::snapshot()`; without the feature the hooks compile to nothing |
//!
//! Platforms: Linux uses the `futex` syscall directly (timed waits, requeue). Elsewhere untimed
//! waits go through `atomic-wait`, timed waits poll (see the `futex` module notes), and
//! `notify_all` wakes every waiter. Only Linux is tested.

#![warn(missing_docs)]
#![deny(unsafe_op_in_unsafe_fn)]

// First: the `stat!` macro defined there is used by the modules below.
#[cfg(feature = "stats")]
#[macro_use]
pub mod stats;
#[cfg(not(feature = "stats"))]
#[macro_use]
mod stats;

mod condvar;
mod futex;
#[doc = include_str!("../docs/guide.md")]
pub mod guide {}
#[cfg(all(feature = "lock_api_04", not(loom)))]
pub mod lock_api_04;
#[cfg(not(loom))]
mod lock_api_glue;
mod mutex;
pub mod pool;
mod rwlock;
mod semaphore;
mod shim;
mod spin;

pub use condvar::RawCondvar;
#[cfg(not(loom))]
pub use condvar::{Condvar, WaitTimeoutResult};
/// Loom-only test hook for `loom-tests/` (see `futex::futex_model_stats`); not part of the API.
#[cfg(loom)]
#[doc(hidden)]
pub use futex::{
    FutexModelStats, futex_model_expire_deadlines, futex_model_stats,
    futex_model_wake_one_cannot_count,
};
pub use mutex::RawMutex;
#[cfg(not(loom))]
pub use mutex::{ArcMutexGuard, MappedMutexGuard, Mutex, MutexGuard, const_mutex};
#[cfg(not(loom))]
pub use pool::ThreadPool;
pub use rwlock::RawRwLock;
#[cfg(not(loom))]
pub use rwlock::{
    ArcRwLockReadGuard, ArcRwLockUpgradableReadGuard, ArcRwLockWriteGuard, MappedRwLockReadGuard,
    MappedRwLockWriteGuard, RwLock, RwLockReadGuard, RwLockUpgradableReadGuard, RwLockWriteGuard,
    const_rwlock,
};
pub use semaphore::{
    AcquireError, OwnedSemaphorePermit, Permit, Semaphore, SemaphorePermit, TryAcquireError,
};

/// Re-export of the `lock_api` version our wrappers are built on, for generic code.
#[cfg(not(loom))]
pub use lock_api;
