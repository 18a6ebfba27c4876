//! Loom model checks for `atomsync` live in `tests/` (one file per primitive); this library
//! holds only the helpers they share.
//!
//! Run them with `bash loom-tests/run.sh`, or by hand with
//! `RUSTFLAGS="--cfg loom" CARGO_TARGET_DIR=target/loom LOOM_MAX_PREEMPTIONS=2 cargo test -p atomsync-loom-tests --release`
//! (see `docs/loom.md`).

/// Runs `f` under [`loom::model`] (which reads `LOOM_MAX_PREEMPTIONS`, `LOOM_LOG`,
/// `LOOM_LOCATION`, ... from the environment) and prints how many executions were explored
/// and how long that took (visible with `cargo test -- --nocapture`).
#[cfg(loom)]
pub fn model<F>(name: &str, f: F)
where
    F: Fn() + Sync + Send + 'static,
{
    run_model(name, loom::model::Builder::new(), f);
}

/// As [`model`], but with at least `min_preemptions` preemptions explored whatever
/// `LOOM_MAX_PREEMPTIONS` says: for a small model whose interleaving needs one more
/// preemption than CI's bound (its doc says which).
#[cfg(loom)]
pub fn model_with_preemptions<F>(name: &str, min_preemptions: usize, f: F)
where
    F: Fn() + Sync + Send + 'static,
{
    model_with_bound(name, |bound| bound.map_or(min_preemptions, |b| b.max(min_preemptions)), f);
}

/// As [`model`], but with at most `max_preemptions` preemptions explored whatever
/// `LOOM_MAX_PREEMPTIONS` says: for a model with four threads whose state space at CI's bound
/// would take far longer than the CI budget (its doc gives the figures).
#[cfg(loom)]
pub fn model_with_max_preemptions<F>(name: &str, max_preemptions: usize, f: F)
where
    F: Fn() + Sync + Send + 'static,
{
    model_with_bound(name, |bound| bound.map_or(max_preemptions, |b| b.min(max_preemptions)), f);
}

/// As [`model`], with the preemption bound `bound` makes of the one `LOOM_MAX_PREEMPTIONS` set
/// (`None` if unset).
#[cfg(loom)]
fn model_with_bound<F>(name: &str, bound: impl FnOnce(Option<usize>) -> usize, f: F)
where
    F: Fn() + Sync + Send + 'static,
{
    let mut builder = loom::model::Builder::new();
    builder.preemption_bound = Some(bound(builder.preemption_bound));
    run_model(name, builder, f);
}

#[cfg(loom)]
fn run_model<F>(name: &str, builder: loom::model::Builder, f: F)
where
    F: Fn() + Sync + Send + 'static,
{
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};

    // A plain std counter, outside the model: loom does not see it, and it does not change
    // what any execution does.
    let executions = Arc::new(AtomicUsize::new(0));
    let counted = Arc::clone(&executions);
    let start = std::time::Instant::now();
    let bound = builder.preemption_bound;
    builder.check(move || {
        counted.fetch_add(1, Ordering::Relaxed);
        f();
    });
    println!(
        "loom model {name}: {} executions in {:.2} s (preemption bound {})",
        executions.load(Ordering::Relaxed),
        start.elapsed().as_secs_f64(),
        bound.map_or_else(|| "none".into(), |bound| bound.to_string()),
    );
}

/// Yields until `n` threads are asleep in atomsync's futex model (on any word). A model uses
/// it to put a thread to sleep on purpose before it acts, so that the contended path is taken
/// in every execution rather than in some.
#[cfg(loom)]
pub fn wait_until_asleep(n: usize) {
    while atomsync::futex_model_stats().sleeping < n {
        loom::thread::yield_now();
    }
}

/// Yields until `sleeps` sleeps have begun in atomsync's futex model in this execution and
/// `asleep` threads sleep now: for a model that waits until a thread that was woken (or timed
/// out) has gone to sleep *again*.
#[cfg(loom)]
pub fn wait_until_sleeps(sleeps: usize, asleep: usize) {
    loop {
        let stats = atomsync::futex_model_stats();
        if stats.sleeps >= sleeps && stats.sleeping >= asleep {
            return;
        }
        loom::thread::yield_now();
    }
}
