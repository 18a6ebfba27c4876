#!/usr/bin/env bash
# The loom model checks of atomsync (see docs/loom.md), as CI runs them: `bash loom-tests/run.sh`
# from the repository root (any working directory works).
#
# 1. Every loom model, normal build: must pass.
# 2. The seeded-bug build (`--cfg atomsync_seeded_bug` drops the futex wake in the mutex
#    unlock and the mutex's claim of a hand-off found at a timeout, in `notify_one`, the
#    readers' wake in the rwlock's write unlock and the pass-on wake of a timed-out rwlock
#    writer, every wake of the semaphore's release, the queue wake of a semaphore head that
#    timed out, and the wake of a job push in the pool's sleep protocol; and it makes the
#    give-back of a scope's job block Relaxed): one model each of the mutex, condvar, rwlock,
#    semaphore and pool files is run separately, and each must FAIL with loom's deadlock
#    report (the job block's model: with loom's report of a race on the block). A loom
#    failure panics and then aborts the test process, so the failure is checked in the output
#    (the message of that very test), not only through the exit code; a compile error or a
#    filter that matches no test is not accepted as the expected failure.
#
# LOOM_MAX_PREEMPTIONS (default 2) bounds the preemptions loom explores; 3 is the local check
# before changing a state machine (about 1.5 minutes in all on a 2-core machine).
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TERM_COLOR="${CARGO_TERM_COLOR:-never}"
export LOOM_MAX_PREEMPTIONS="${LOOM_MAX_PREEMPTIONS:-2}"

echo "=== loom models (LOOM_MAX_PREEMPTIONS=$LOOM_MAX_PREEMPTIONS)"
# --nocapture shows each model's execution count and run time. `-C debug-assertions`: the
# protocols' debug_assert!s (and overflow checks) hold in every execution loom explores, not
# only in the ones the debug test runs happen to hit (a mutant that corrupts the mutex word
# on a rare timeout path is caught only by them).
RUSTFLAGS="--cfg loom -C debug-assertions" CARGO_TARGET_DIR=target/loom \
    cargo test -p atomsync-loom-tests --release -- --nocapture

echo
echo "=== seeded bug (--cfg atomsync_seeded_bug): loom must reject it"
bug_rustflags="--cfg loom --cfg atomsync_seeded_bug"
# Build first and on its own: a compile error must fail this script, not pass for a rejection.
RUSTFLAGS="$bug_rustflags" CARGO_TARGET_DIR=target/loom-bug \
    cargo test -p atomsync-loom-tests --release --no-run

# expect_rejected FILE TEST [MESSAGE]: runs one model of tests/FILE.rs on the seeded-bug build
# and succeeds only if that model failed with loom's MESSAGE (default: its deadlock report).
expect_rejected() {
    local file=$1 test=$2 message=${3:-deadlock; threads = } log status
    log=$(mktemp)
    status=0
    RUSTFLAGS="$bug_rustflags" CARGO_TARGET_DIR=target/loom-bug \
        cargo test -p atomsync-loom-tests --release --test "$file" -- --exact "$test" \
        >"$log" 2>&1 || status=$?
    if [[ $status -ne 0 ]] \
        && grep -q '^running 1 test$' "$log" \
        && grep -q "^thread '$test' .*panicked at" "$log" \
        && grep -qF "$message" "$log"; then
        grep -m1 -F "$message" "$log"
        echo "seeded bug rejected by loom: tests/$file.rs ($test failed: $message)"
        rm -f "$log"
        return 0
    fi
    echo "--- output of the seeded-bug run of tests/$file.rs ($test), exit status $status:"
    tail -n 60 "$log"
    rm -f "$log"
    if ! grep -q '^running 1 test$' "$log"; then
        echo "ERROR: the filter '$test' did not select exactly one test of tests/$file.rs"
    elif [[ $status -eq 0 ]]; then
        echo "ERROR: seeded bug NOT rejected: tests/$file.rs ($test) passed on the seeded-bug build"
    else
        echo "ERROR: tests/$file.rs ($test) failed on the seeded-bug build, but not with: $message"
    fi
    return 1
}

expect_rejected mutex contended_path_sleeps_and_is_woken
expect_rejected mutex timed_out_waiter_claims_a_hand_off_where_wake_one_cannot_count
expect_rejected condvar notify_one_wakes_sleeping_waiter
expect_rejected rwlock write_unlock_wakes_sleeping_reader
expect_rejected rwlock timed_out_writer_passes_the_wake_on
expect_rejected pool push_wakes_sleeping_worker
expect_rejected pool latch_set_wakes_worker_asleep_in_pool
expect_rejected pool a_block_is_refilled_only_after_its_job_was_read \
    'Causality violation: Concurrent write accesses to `UnsafeCell`.'
expect_rejected semaphore two_acquirers_sleep_and_a_release_wakes_them
expect_rejected semaphore timed_out_head_passes_on_its_place
echo
echo "=== loom: all models pass; the seeded bug is rejected in every file"
