//! The bounded spin-before-sleep policy shared by every primitive.
//!
//! A contender that finds a lock held by a *running* thread spins a little before it sleeps:
//! the owner is likely to release within a few hundred nanoseconds, and a futex sleep plus wake
//! costs microseconds. Spinning only helps while the owner runs, so callers spin only while
//! nobody sleeps on the word (a sleeper means the lock has been held "long").
//!
//! The schedule: `PAUSE_ROUNDS` rounds of exponentially more `spin_loop` hints (2, 4, 8, ...),
//! then `YIELD_ROUNDS` rounds of `yield_now`, which under oversubscription lets a preempted
//! owner run instead of burning its time slice. These numbers were tuned with
//! `benches/mutex.rs` and `examples/compare.rs`; `docs/benchmarks.md` records what was tried.

use crate::shim;

/// Rounds of busy-waiting with `spin_loop` hints.
#[cfg(not(loom))]
const PAUSE_ROUNDS: u32 = 3;
/// Rounds of `yield_now` after the busy-waiting rounds.
#[cfg(not(loom))]
const YIELD_ROUNDS: u32 = 7;

// Under loom every round is a yield the model must explore: keep one.
#[cfg(loom)]
const PAUSE_ROUNDS: u32 = 1;
#[cfg(loom)]
const YIELD_ROUNDS: u32 = 0;

/// One contender's progress through the spin schedule.
#[derive(Debug, Default)]
pub(crate) struct SpinWait {
    round: u32,
}

impl SpinWait {
    pub(crate) const fn new() -> Self {
        Self { round: 0 }
    }

    /// Spins once; false when the schedule is exhausted and the caller should sleep.
    #[inline]
    pub(crate) fn spin(&mut self) -> bool {
        if self.round >= PAUSE_ROUNDS + YIELD_ROUNDS {
            return false;
        }
        self.round += 1;
        if self.round <= PAUSE_ROUNDS {
            // Under loom one hint is one yield point; more would only grow the state space.
            let pauses = if cfg!(loom) { 1 } else { 1u32 << self.round };
            for _ in 0..pauses {
                shim::spin_loop();
            }
        } else {
            shim::yield_now();
        }
        true
    }

    /// Starts the schedule again (after a wake-up).
    #[inline]
    pub(crate) fn reset(&mut self) {
        self.round = 0;
    }
}
