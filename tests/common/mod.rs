//! Helpers shared by the integration tests (each test file includes this with `mod common;`).
//!
//! - [`within`] turns a deadlock or a lost wake-up into a test failure instead of a hung run.
//! - [`spawn_watched`] and [`wait_until_asleep_on`] let a test know that another thread is
//!   really asleep in a futex wait on a given word (Linux shows a blocked thread's system call
//!   and its arguments in `/proc/self/task/<id>/syscall`), instead of guessing a sleep length.

// Each test crate uses a different subset.
#![allow(dead_code)]

use std::panic;
use std::sync::mpsc::{self, RecvTimeoutError};
use std::thread;
use std::time::{Duration, Instant};

/// How long a test body may run before we call it a deadlock. Generous: the machine is shared
/// with other builds, and a real deadlock never finishes anyway.
pub const DEADLOCK: Duration = Duration::from_secs(60);

/// Where the kernel's view of a thread cannot be read (not Linux, no /proc): how long to give
/// a thread to go to sleep after it said it is about to block.
pub const LET_IT_SLEEP: Duration = Duration::from_millis(50);

/// Runs `body` on its own thread and fails if it has not finished within [`DEADLOCK`]; a panic
/// in `body` is re-raised here with its own message.
pub fn within<F: FnOnce() + Send + 'static>(body: F) {
    let (done_tx, done_rx) = mpsc::channel::<()>();
    let runner = thread::spawn(move || {
        body();
        drop(done_tx);
    });
    match done_rx.recv_timeout(DEADLOCK) {
        // The sender is only ever dropped: when `body` returns or unwinds.
        Ok(()) | Err(RecvTimeoutError::Disconnected) => {
            if let Err(panic) = runner.join() {
                panic::resume_unwind(panic);
            }
        }
        Err(RecvTimeoutError::Timeout) => {
            panic!("the test body did not finish within {DEADLOCK:?}: deadlock or lost wake-up")
        }
    }
}

/// The kernel's id of the calling thread (Linux: the last part of `/proc/thread-self`).
pub fn current_thread_id() -> Option<u32> {
    let link = std::fs::read_link("/proc/thread-self").ok()?;
    link.file_name()?.to_str()?.parse().ok()
}

/// The number of the `futex` system call, on the architectures where we know it.
const FUTEX_SYSCALL: Option<u64> = if cfg!(target_arch = "x86_64") {
    Some(202)
} else if cfg!(any(target_arch = "aarch64", target_arch = "riscv64")) {
    Some(98)
} else {
    None
};

/// Returns once the thread `thread_id` sleeps in a futex wait on one of `words` (addresses of
/// futex words): the first argument of a blocked `futex` call is the word's address. Where
/// `/proc` cannot be read, sleeps [`LET_IT_SLEEP`] instead; if the thread has exited
/// meanwhile, returns (the caller's join reports what happened).
pub fn wait_until_asleep_on(thread_id: Option<u32>, words: &[u64]) {
    wait_until_in_futex(thread_id, |word, _| words.contains(&word));
}

/// Returns once the thread `thread_id` sleeps in a futex wait on `word` for a value that
/// `value` accepts (the value the thread expects the word to hold: the futex call's third
/// argument), e.g. a second sleep on a word whose value the first one could not have had;
/// as [`wait_until_asleep_on`].
pub fn wait_until_asleep_on_value(thread_id: Option<u32>, word: u64, value: impl Fn(u32) -> bool) {
    wait_until_in_futex(thread_id, |on, expected| on == word && value(expected));
}

/// Returns once the thread `thread_id` sleeps in a futex wait on any word (for threads whose
/// futex word the test cannot name, such as a pool's idle workers); as [`wait_until_asleep_on`].
pub fn wait_until_asleep(thread_id: Option<u32>) {
    wait_until_in_futex(thread_id, |_, _| true);
}

/// Is the thread `thread_id` asleep in a futex wait on one of `lock`'s two words right now?
/// `None` where the kernel's view cannot be read (not Linux, no /proc) or the thread has
/// exited.
pub fn asleep_on_rwlock_now<T: ?Sized>(
    thread_id: Option<u32>,
    lock: &atomsync::RwLock<T>,
) -> Option<bool> {
    let words = rwlock_words(lock);
    in_futex_now(thread_id, |word, _| words.contains(&word)).map(|(asleep, _)| asleep)
}

/// The addresses of `lock`'s two futex words (the state word, the writers' word).
fn rwlock_words<T: ?Sized>(lock: &atomsync::RwLock<T>) -> [u64; 2] {
    // SAFETY: we only take the address of the raw lock; we never lock or unlock through it.
    let start = unsafe { lock.raw() } as *const atomsync::RawRwLock as u64;
    [start, start + 4]
}

/// Is the thread `thread_id` in a futex call that `on_word` accepts (given the word's address
/// and the value the call expects there) right now? With the answer, the thread's
/// `/proc/<task>/syscall` line. `None` where the kernel's view cannot be read (not Linux, an
/// unknown architecture, no /proc) or the thread has exited.
fn in_futex_now(
    thread_id: Option<u32>,
    on_word: impl Fn(u64, u32) -> bool,
) -> Option<(bool, String)> {
    let (Some(thread_id), Some(futex)) = (thread_id, FUTEX_SYSCALL) else {
        return None;
    };
    let syscall = std::fs::read_to_string(format!("/proc/self/task/{thread_id}/syscall")).ok()?;
    // The line is the system call's number and then its arguments, in hex: for a futex wait
    // the word's address, the operation and the value expected in the word.
    let mut fields = syscall.split_whitespace();
    let number = fields.next().and_then(|field| field.parse::<u64>().ok());
    let mut argument = || {
        fields.next().and_then(|field| u64::from_str_radix(field.trim_start_matches("0x"), 16).ok())
    };
    let (word, _operation, value) = (argument(), argument(), argument());
    let accepted = match (word, value) {
        (Some(word), Some(value)) => on_word(word, value as u32),
        _ => false,
    };
    Some((number == Some(futex) && accepted, syscall))
}

fn wait_until_in_futex(thread_id: Option<u32>, on_word: impl Fn(u64, u32) -> bool) {
    let give_up = Instant::now() + DEADLOCK;
    loop {
        match in_futex_now(thread_id, &on_word) {
            // Exited, or the kernel's view cannot be read here.
            None => return thread::sleep(LET_IT_SLEEP),
            Some((true, _)) => return,
            Some((false, syscall)) => assert!(
                Instant::now() < give_up,
                "thread {thread_id:?} never went to sleep in a futex wait (last seen: {syscall:?})"
            ),
        }
        // The poll's interval while waiting for the thread's real state, not a wait for it.
        thread::sleep(Duration::from_micros(200));
    }
}

/// Spawns `body` on a new thread and returns its handle and kernel thread id, once known.
pub fn spawn_watched<R: Send + 'static>(
    body: impl FnOnce() -> R + Send + 'static,
) -> (thread::JoinHandle<R>, Option<u32>) {
    let (id_tx, id_rx) = mpsc::channel();
    let handle = thread::spawn(move || {
        id_tx.send(current_thread_id()).unwrap();
        body()
    });
    (handle, id_rx.recv().unwrap())
}

/// Returns once thread `thread_id` sleeps in a futex wait on one of `lock`'s two words (the
/// state word or the writers' word); see [`wait_until_asleep_on`].
pub fn wait_until_asleep_on_rwlock<T: ?Sized>(thread_id: Option<u32>, lock: &atomsync::RwLock<T>) {
    wait_until_asleep_on(thread_id, &rwlock_words(lock));
}

/// Spawns `body` (which blocks on `lock`) and returns its handle once it sleeps there.
pub fn spawn_sleeping_on_rwlock<T: Send + Sync + 'static, R: Send + 'static>(
    lock: &std::sync::Arc<atomsync::RwLock<T>>,
    body: impl FnOnce(&atomsync::RwLock<T>) -> R + Send + 'static,
) -> thread::JoinHandle<R> {
    let (handle, thread_id) = {
        let lock = std::sync::Arc::clone(lock);
        spawn_watched(move || body(&lock))
    };
    wait_until_asleep_on_rwlock(thread_id, lock);
    handle
}

/// Spawns one task per worker of `pool`, which must all be running at once (a barrier), and
/// returns how many distinct threads ran them: `pool.num_threads()` as long as every worker is
/// alive (a dead worker makes the barrier, and so the test, hang: run it under [`within`]).
/// The tasks count as `pool.num_threads()` completed tasks in `pool.stats()`.
pub fn distinct_workers_at_once(pool: &atomsync::ThreadPool) -> usize {
    let workers = pool.num_threads();
    let barrier = std::sync::Arc::new(std::sync::Barrier::new(workers));
    let handles: Vec<_> = (0..workers)
        .map(|_| {
            let barrier = std::sync::Arc::clone(&barrier);
            pool.spawn(move || {
                barrier.wait();
                thread::current().id()
            })
        })
        .collect();
    let ids: std::collections::HashSet<_> =
        handles.into_iter().map(|handle| handle.join().unwrap()).collect();
    ids.len()
}

/// Blocks every worker of `pool` on a channel; returns the sender that releases them (send
/// nothing: dropping it releases them too), once all of them are running the blocking task.
pub fn block_every_worker(pool: &atomsync::ThreadPool) -> mpsc::Sender<()> {
    let workers = pool.num_threads();
    let started = std::sync::Arc::new(std::sync::Barrier::new(workers + 1));
    let (release, gate) = mpsc::channel::<()>();
    let gate = std::sync::Arc::new(std::sync::Mutex::new(gate));
    for _ in 0..workers {
        let (started, gate) = (std::sync::Arc::clone(&started), std::sync::Arc::clone(&gate));
        pool.execute(move || {
            started.wait();
            let _ = gate.lock().unwrap_or_else(std::sync::PoisonError::into_inner).recv();
        });
    }
    started.wait();
    release
}

/// A pool of `workers` whose panic handler counts the payloads it gets (and drops them: a
/// payload whose `Drop` panics then panics inside the handler, which the pool contains too).
pub fn counting_pool(
    workers: usize,
) -> (atomsync::ThreadPool, std::sync::Arc<std::sync::atomic::AtomicUsize>) {
    use std::sync::atomic::{AtomicUsize, Ordering::SeqCst};
    let reported = std::sync::Arc::new(AtomicUsize::new(0));
    let seen = std::sync::Arc::clone(&reported);
    let pool = atomsync::ThreadPool::builder()
        .num_threads(workers)
        .panic_handler(move |payload| {
            seen.fetch_add(1, SeqCst);
            drop(payload);
        })
        .build()
        .unwrap();
    (pool, reported)
}

/// Returns once the thread `thread_id` sleeps in a futex wait on `mutex`'s word (see
/// [`wait_until_asleep_on`]): how the mutex tests know that a thread is really asleep
/// in `lock()`, not still on its way or spinning.
pub fn wait_until_asleep_on_mutex<T: ?Sized>(thread_id: Option<u32>, mutex: &atomsync::Mutex<T>) {
    // SAFETY: we only take the address of the raw mutex; we never lock or unlock through it.
    let word = unsafe { mutex.raw() } as *const atomsync::RawMutex as u64;
    wait_until_asleep_on(thread_id, &[word]);
}

/// Spawns a thread that blocks in `mutex.lock()` and pushes `label` once it has the lock;
/// returns once that thread is asleep in `lock()` (see [`wait_until_asleep_on_mutex`]).
pub fn spawn_sleeping_locker(
    mutex: &std::sync::Arc<atomsync::Mutex<Vec<&'static str>>>,
    label: &'static str,
) -> thread::JoinHandle<()> {
    let (handle, thread_id) = {
        let mutex = std::sync::Arc::clone(mutex);
        spawn_watched(move || mutex.lock().push(label))
    };
    wait_until_asleep_on_mutex(thread_id, mutex);
    handle
}
