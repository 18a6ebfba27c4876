//! The condvar workloads: a ping-pong between two threads through one mutex and one condvar,
//! and `notify_all` to [`WAITERS`] threads until all have re-acquired the mutex (descriptions
//! in `benches/condvar.rs`), over each implementation's own API.

use std::sync::atomic::AtomicU64;
use std::sync::atomic::Ordering::{Acquire, Release};
use std::sync::{Arc, Barrier};
use std::thread;
use std::time::{Duration, Instant};

/// What the mutex protects in both benchmarks.
#[derive(Default)]
pub struct State {
    /// Ping-pong: even = the main thread's turn, odd = the partner's.
    pub turn: u64,
    /// notify_all: the round the waiters may leave their wait for.
    pub generation: u64,
    /// notify_all: waiters that are (about to be) inside `wait` for the next round.
    pub waiting: usize,
    /// notify_all: waiters that have re-acquired the mutex in this round.
    pub reacquired: usize,
    /// notify_all: when the last waiter re-acquired the mutex in this round.
    pub last_reacquired: Option<Instant>,
}

/// A mutex around [`State`] plus one condvar, in each implementation's own API.
pub trait CondvarPair: Send + Sync + 'static {
    const NAME: &'static str;
    fn new() -> Self;
    /// Locks, runs `f`, unlocks.
    fn with<R>(&self, f: impl FnOnce(&mut State) -> R) -> R;
    /// Locks, runs `before`, waits while `condition` holds, runs `after`, unlocks.
    fn wait_while<R>(
        &self,
        before: impl FnOnce(&mut State),
        condition: impl FnMut(&mut State) -> bool,
        after: impl FnOnce(&mut State) -> R,
    ) -> R;
    fn notify_one(&self);
    fn notify_all(&self);
}

/// A [`CondvarPair`] for `$mutex` and `$condvar`: `|$m| $lock` locks the mutex `$m`, and
/// `|$c, $g, $cond| $wait` waits on the condvar `$c` with the guard `$g` while `$cond` holds,
/// returning the guard.
macro_rules! condvar_pair {
    ($pair:ident, $mutex:ty, $condvar:ty, $name:literal, |$m:ident| $lock:expr,
     |$c:ident, $g:ident, $cond:ident| $wait:expr) => {
        pub struct $pair($mutex, $condvar);

        impl CondvarPair for $pair {
            const NAME: &'static str = $name;
            fn new() -> Self {
                $pair(<$mutex>::new(State::default()), <$condvar>::new())
            }
            fn with<R>(&self, f: impl FnOnce(&mut State) -> R) -> R {
                let $m = &self.0;
                f(&mut $lock)
            }
            fn wait_while<R>(
                &self,
                before: impl FnOnce(&mut State),
                condition: impl FnMut(&mut State) -> bool,
                after: impl FnOnce(&mut State) -> R,
            ) -> R {
                let $m = &self.0;
                let mut guard = $lock;
                before(&mut guard);
                let ($c, $g, $cond) = (&self.1, guard, condition);
                let mut guard = $wait;
                after(&mut guard)
            }
            fn notify_one(&self) {
                self.1.notify_one();
            }
            fn notify_all(&self) {
                self.1.notify_all();
            }
        }
    };
}

/// atomsync's and parking_lot's pairs have the same API (parking_lot's guards, no poisoning).
macro_rules! pair_without_poisoning {
    ($pair:ident, $mutex:ty, $condvar:ty, $name:literal) => {
        condvar_pair!(
            $pair,
            $mutex,
            $condvar,
            $name,
            |mutex| mutex.lock(),
            |condvar, guard, condition| {
                let mut guard = guard;
                condvar.wait_while(&mut guard, condition);
                guard
            }
        );
    };
}

pair_without_poisoning!(AtomsyncPair, atomsync::Mutex<State>, atomsync::Condvar, "atomsync");
pair_without_poisoning!(
    ParkingLotPair,
    parking_lot::Mutex<State>,
    parking_lot::Condvar,
    "parking_lot"
);
condvar_pair!(
    StdPair,
    std::sync::Mutex<State>,
    std::sync::Condvar,
    "std",
    |mutex| mutex.lock().expect("poisoned"),
    |condvar, guard, condition| condvar.wait_while(guard, condition).expect("poisoned")
);

/// `round_trips` round trips between this thread and a partner; returns their total time.
pub fn ping_pong<P: CondvarPair>(round_trips: u64) -> Duration {
    let pair = Arc::new(P::new());
    let barrier = Arc::new(Barrier::new(2));
    let partner = {
        let (pair, barrier) = (Arc::clone(&pair), Arc::clone(&barrier));
        thread::spawn(move || {
            barrier.wait();
            for _ in 0..round_trips {
                pair.wait_while(|_| {}, |state| state.turn % 2 == 0, |state| state.turn += 1);
                pair.notify_one();
            }
        })
    };
    barrier.wait();
    let start = Instant::now();
    for _ in 0..round_trips {
        pair.wait_while(|_| {}, |state| state.turn % 2 == 1, |state| state.turn += 1);
        pair.notify_one();
    }
    // Wait for the partner's last turn.
    pair.wait_while(|_| {}, |state| state.turn < 2 * round_trips, |_| {});
    let elapsed = start.elapsed();
    partner.join().expect("partner panicked");
    elapsed
}

/// Waiters in the `notify_all` workload.
pub const WAITERS: usize = 32;

/// Round numbers the waiters report to the main thread outside the mutex, so that the main
/// thread sleeps (parked) instead of competing for the mutex while it waits for them.
#[derive(Default)]
struct Progress {
    /// The last round for which all waiters have counted themselves into `wait`.
    all_waiting: AtomicU64,
    /// The last round in which all waiters have re-acquired the mutex.
    all_reacquired: AtomicU64,
}

/// Parks until `counter` reaches `round`.
fn park_until(counter: &AtomicU64, round: u64) {
    // Acquire: pairs with the waiter's Release store, for the state it saw.
    while counter.load(Acquire) < round {
        thread::park();
    }
}

/// `rounds` rounds of `notify_all` to [`WAITERS`] waiters; returns the total time from
/// `notify_all` until the last waiter re-acquired the mutex.
pub fn notify_all_rounds<P: CondvarPair>(rounds: u64) -> Duration {
    let pair = Arc::new(P::new());
    let progress = Arc::new(Progress::default());
    let main = thread::current();
    let waiters: Vec<_> = (0..WAITERS)
        .map(|_| {
            let (pair, progress, main) = (Arc::clone(&pair), Arc::clone(&progress), main.clone());
            thread::spawn(move || {
                for round in 1..=rounds {
                    pair.wait_while(
                        |state| {
                            state.waiting += 1;
                            if state.waiting == WAITERS {
                                // We release the mutex only inside `wait`, so the main thread
                                // cannot bump the generation before all of us wait.
                                progress.all_waiting.store(round, Release);
                                main.unpark();
                            }
                        },
                        |state| state.generation < round,
                        |state| {
                            state.reacquired += 1;
                            if state.reacquired == WAITERS {
                                state.last_reacquired = Some(Instant::now());
                                progress.all_reacquired.store(round, Release);
                                main.unpark();
                            }
                        },
                    );
                }
            })
        })
        .collect();
    let mut total = Duration::ZERO;
    for round in 1..=rounds {
        park_until(&progress.all_waiting, round);
        let start = pair.with(|state| {
            state.waiting = 0;
            state.reacquired = 0;
            state.last_reacquired = None;
            state.generation = round;
            let start = Instant::now();
            pair.notify_all();
            start
        });
        park_until(&progress.all_reacquired, round);
        let last = pair.with(|state| state.last_reacquired).expect("set by the last waiter");
        total += last - start;
    }
    for waiter in waiters {
        waiter.join().expect("waiter panicked");
    }
    total
}
