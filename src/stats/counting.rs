//! The counting half of the profile: each thread's block of counters, the registry that
//! sums them for `snapshot`, and the hooks that the `stat!` macro expands to (the module
//! docs of `stats` say how it counts and what it costs).

use super::{EVENTS, Event, PRIMITIVES, Primitive};
use crate::shim::AtomicU32;
use std::cell::Cell;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::{Mutex, MutexGuard, PoisonError};

pub(super) type Totals = [[u64; EVENTS]; PRIMITIVES];

/// One thread's counters. Only the owning thread writes them (a load and a store, no RMW);
/// `snapshot` reads them with relaxed loads. Padded so that no other thread's data shares
/// its cache lines.
#[repr(align(128))]
struct Block([[AtomicU64; EVENTS]; PRIMITIVES]);

impl Block {
    const fn new() -> Self {
        Self([const { [const { AtomicU64::new(0) }; EVENTS] }; PRIMITIVES])
    }

    /// Adds `n` to a counter of the calling thread's own block.
    #[inline]
    fn add_own(&self, primitive: Primitive, event: Event, n: u64) {
        let counter = &self.0[primitive as usize][event as usize];
        // Relaxed: a statistic; the owner is the only writer, so load + store loses nothing.
        counter.store(counter.load(Relaxed).wrapping_add(n), Relaxed);
    }

    /// Adds `n` to a counter of a block that several threads write (`ORPHANS`).
    fn add_shared(&self, primitive: Primitive, event: Event, n: u64) {
        // Relaxed: a statistic.
        self.0[primitive as usize][event as usize].fetch_add(n, Relaxed);
    }

    fn add_to(&self, totals: &mut Totals) {
        for (counters, totals) in self.0.iter().zip(totals) {
            for (counter, total) in counters.iter().zip(totals) {
                // Relaxed: see `snapshot` for what a racing read means.
                *total = total.wrapping_add(counter.load(Relaxed));
            }
        }
    }

    fn clear(&self) {
        self.0.iter().flatten().for_each(|counter| counter.store(0, Relaxed));
    }
}

/// Every block, and what exited threads counted.
pub(super) struct Registry {
    /// Blocks owned by live threads.
    live: Vec<&'static Block>,
    /// Blocks of exited threads, zeroed, for the next new thread.
    free: Vec<&'static Block>,
    /// The counts of the exited threads.
    retired: Totals,
    /// The totals at the last `reset`.
    pub(super) baseline: Totals,
}

impl Registry {
    pub(super) fn totals(&self) -> Totals {
        let mut totals = self.retired;
        self.live.iter().for_each(|block| block.add_to(&mut totals));
        ORPHANS.add_to(&mut totals);
        totals
    }
}

static REGISTRY: Mutex<Registry> = Mutex::new(Registry {
    live: Vec::new(),
    free: Vec::new(),
    retired: [[0; EVENTS]; PRIMITIVES],
    baseline: [[0; EVENTS]; PRIMITIVES],
});

/// Events of threads that are exiting (their thread-locals are being destroyed, so they have
/// no block of their own any more): counted with RMWs, rare.
static ORPHANS: Block = Block::new();

pub(super) fn registry() -> MutexGuard<'static, Registry> {
    // A panic cannot leave the registry half-changed (only pushes and additions), so a
    // poisoned lock is as good as a clean one.
    REGISTRY.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Hands the thread's block back when the thread exits (the destructor of `RETIRE`).
struct Retire;

impl Drop for Retire {
    fn drop(&mut self) {
        let Some(block) = LOCAL.with(|local| local.take()) else { return };
        let mut registry = registry();
        block.add_to(&mut registry.retired);
        block.clear();
        registry.live.retain(|live| !std::ptr::eq(*live, block));
        registry.free.push(block);
    }
}

thread_local! {
    /// This thread's block, once it counted something (a `const` thread-local without a
    /// destructor: reading it is one load, with no lazy-initialization check).
    static LOCAL: Cell<Option<&'static Block>> = const { Cell::new(None) };
    /// The address of the futex word this thread's last futex wait was woken on, until its
    /// operation ends (for `futile_wakeups`); 0 for none.
    static WOKEN_ON: Cell<usize> = const { Cell::new(0) };
    /// Touched once per thread to arm its destructor, which retires the block.
    static RETIRE: Retire = const { Retire };
}

/// Counts `n` events (the `stat!` macro's expansion).
#[inline]
pub(crate) fn record(primitive: Primitive, event: Event, n: u64) {
    if matches!(event, Event::Contended | Event::Job) {
        // A new operation begins (or a woken worker found work): a later wait is not a
        // futile wake-up of the last one.
        WOKEN_ON.set(0);
    }
    match LOCAL.get() {
        Some(block) => block.add_own(primitive, event, n),
        None => record_first(primitive, event, n),
    }
}

/// The thread's first event: give it a block. During the thread's exit (the destructor of
/// `RETIRE` has run or is running) it gets none, and the event goes to `ORPHANS`.
#[cold]
fn record_first(primitive: Primitive, event: Event, n: u64) {
    if RETIRE.try_with(|_| ()).is_err() {
        return ORPHANS.add_shared(primitive, event, n);
    }
    let block = {
        let mut registry = registry();
        let block = registry.free.pop().unwrap_or_else(|| Box::leak(Box::new(Block::new())));
        registry.live.push(block);
        block
    };
    LOCAL.set(Some(block));
    block.add_own(primitive, event, n);
}

/// The address of a futex word: its name for `futile_wakeups`.
fn address(word: &AtomicU32) -> usize {
    word as *const AtomicU32 as usize
}

/// A futex wait on `word` begins: counts it, and the futile wake-up it ends if the thread's
/// last wait was woken on the same word in the same operation.
pub(crate) fn waiting(primitive: Primitive, word: &AtomicU32) {
    record(primitive, Event::FutexWait, 1);
    record(primitive, Event::FutileWakeup, u64::from(WOKEN_ON.get() == address(word)));
}

/// A futex wake call returned `woke` (true where the platform cannot tell: `counted` false).
pub(crate) fn woke(primitive: Primitive, woke: bool, counted: bool) {
    record(primitive, Event::FutexWake, 1);
    record(primitive, Event::EmptyWake, u64::from(!woke && counted));
}

/// The futex wait on `word` returned: `woken` by a wake, or `returned` without sleeping.
pub(crate) fn waited(primitive: Primitive, word: &AtomicU32, woken: bool, returned: bool) {
    record(primitive, Event::FutileWait, u64::from(returned));
    WOKEN_ON.set(if woken { address(word) } else { 0 });
}
