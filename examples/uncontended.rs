//! Uncontended round trips, one loop per primitive, for counting instructions with callgrind:
//! the check that the `stats` feature costs nothing when it is off, and what it costs when on
//! (`docs/benchmarks.md`, "Contention profile").
//!
//! ```text
//! cargo build --release --example uncontended            # and again with --features stats
//! valgrind --tool=callgrind --callgrind-out-file=/dev/null --toggle-collect='*mutex_loop' \
//!     target/release/examples/uncontended
//! ```
//!
//! `--toggle-collect` counts only inside the named loop; the `==… Collected :` line is its
//! instruction count. Subtract `*cell_loop`'s (the same loop over a `Cell`) and divide by
//! [`ROUNDS`] for the instructions per round trip. Each loop is `#[inline(never)]` so that
//! callgrind can name it.

use std::cell::Cell;
use std::hint::black_box;

/// Round trips per loop.
const ROUNDS: u64 = 1_000_000;

/// The reference: the same loop body without a lock.
#[inline(never)]
fn cell_loop(cell: &Cell<u64>) {
    for _ in 0..ROUNDS {
        cell.set(black_box(cell.get()) + 1);
    }
}

/// `lock`; increment; unlock.
#[inline(never)]
fn mutex_loop(mutex: &atomsync::Mutex<u64>) {
    for _ in 0..ROUNDS {
        *black_box(mutex).lock() += 1;
    }
}

/// `read`; load; unlock.
#[inline(never)]
fn rwlock_read_loop(lock: &atomsync::RwLock<u64>) {
    for _ in 0..ROUNDS {
        black_box(*black_box(lock).read());
    }
}

/// `write`; increment; unlock.
#[inline(never)]
fn rwlock_write_loop(lock: &atomsync::RwLock<u64>) {
    for _ in 0..ROUNDS {
        *black_box(lock).write() += 1;
    }
}

/// `acquire`; drop the permit.
#[inline(never)]
fn semaphore_loop(semaphore: &atomsync::Semaphore) {
    for _ in 0..ROUNDS {
        drop(black_box(black_box(semaphore).acquire()));
    }
}

fn main() {
    let cell = Cell::new(0);
    let mutex = atomsync::Mutex::new(0);
    let rwlock = atomsync::RwLock::new(0);
    let semaphore = atomsync::Semaphore::new(1);
    cell_loop(&cell);
    mutex_loop(&mutex);
    rwlock_read_loop(&rwlock);
    rwlock_write_loop(&rwlock);
    semaphore_loop(&semaphore);
    assert_eq!((cell.get(), *mutex.lock(), *rwlock.read()), (ROUNDS, ROUNDS, ROUNDS));
    println!("{ROUNDS} round trips each: cell, mutex, rwlock read, rwlock write, semaphore");
}
