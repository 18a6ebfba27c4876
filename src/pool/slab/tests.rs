//! The slab alone: blocks come back and are reused, chunks grow as documented, closures that do
//! not fit are returned, and a job's captures are dropped exactly once, when it runs.

use super::*;
use std::collections::HashSet;
use std::panic::{self, AssertUnwindSafe};
use std::sync::atomic::AtomicUsize;

/// The lengths of the chunks allocated so far.
fn chunk_lens(slab: &JobSlab) -> Vec<usize> {
    // SAFETY: the test thread is the owner, and no reference into `chunks` is live.
    unsafe { &*slab.chunks.get() }.iter().map(|&(_, len)| len).collect()
}

/// A job that counts its run.
fn counting(runs: &AtomicUsize) -> impl FnOnce() -> Outcome + Send + '_ {
    move || {
        runs.fetch_add(1, Relaxed);
        Outcome::Completed
    }
}

/// Fills a job that must fit.
fn fill<F: FnOnce() -> Outcome + Send>(slab: &JobSlab, job: F) -> JobRef {
    // SAFETY: the test thread is the owner; every test executes each job before the slab goes.
    match unsafe { slab.job(job, Kind::ScopedTask) } {
        Ok(job) => job,
        Err(_) => panic!("the job should fit in a block"),
    }
}

fn run(job: JobRef) -> Outcome {
    // SAFETY: each job is executed once, while its slab lives.
    unsafe { job.execute() }
}

#[test]
fn blocks_are_reused_once_their_jobs_ran() {
    let slab = JobSlab::new(0);
    let runs = AtomicUsize::new(0);
    let mut seen = HashSet::new();
    for _ in 0..10 {
        let jobs: Vec<JobRef> = (0..FIRST_CHUNK).map(|_| fill(&slab, counting(&runs))).collect();
        seen.extend(jobs.iter().map(|job| job.id() as usize));
        jobs.into_iter().for_each(|job| drop(run(job)));
    }
    assert_eq!(runs.load(Relaxed), 10 * FIRST_CHUNK);
    assert_eq!(chunk_lens(&slab), [FIRST_CHUNK], "no chunk beyond the first");
    assert_eq!(seen.len(), FIRST_CHUNK, "the same blocks every round");
    assert!(seen.iter().all(|&address| address % 64 == 0), "one cache line each");
}

#[test]
fn chunks_double_up_to_the_largest() {
    let slab = JobSlab::new(0);
    let runs = AtomicUsize::new(0);
    let mut lens = vec![FIRST_CHUNK];
    while *lens.last().unwrap() < MAX_CHUNK {
        lens.push(lens.last().unwrap() * 2);
    }
    lens.push(MAX_CHUNK);
    let total: usize = lens.iter().sum();
    let jobs: Vec<JobRef> = (0..total).map(|_| fill(&slab, counting(&runs))).collect();
    assert_eq!(chunk_lens(&slab), lens);
    let distinct: HashSet<usize> = jobs.iter().map(|job| job.id() as usize).collect();
    assert_eq!(distinct.len(), total, "every job has a block of its own");
    jobs.into_iter().for_each(|job| drop(run(job)));
    assert_eq!(runs.load(Relaxed), total);
    // All back: as many again need no new chunk.
    let jobs: Vec<JobRef> = (0..total).map(|_| fill(&slab, counting(&runs))).collect();
    assert_eq!(chunk_lens(&slab), lens);
    jobs.into_iter().for_each(|job| drop(run(job)));
    assert_eq!(runs.load(Relaxed), 2 * total);
}

#[test]
fn jobs_run_on_other_threads_give_their_blocks_back() {
    let slab = JobSlab::new(0);
    let runs = AtomicUsize::new(0);
    for round in 1..=20 {
        let jobs: Vec<JobRef> = (0..100).map(|_| fill(&slab, counting(&runs))).collect();
        let (even, odd): (Vec<_>, Vec<_>) =
            jobs.into_iter().enumerate().partition(|(i, _)| i % 2 == 0);
        std::thread::scope(|s| {
            for half in [even, odd] {
                s.spawn(move || half.into_iter().for_each(|(_, job)| drop(run(job))));
            }
        });
        assert_eq!(runs.load(Relaxed), 100 * round);
        // 4 + 8 + 16 + 32 + 64 blocks hold 100 jobs; later rounds reuse them.
        assert_eq!(chunk_lens(&slab), [4, 8, 16, 32, 64], "round {round}");
    }
}

#[test]
fn a_closure_too_large_or_too_aligned_is_given_back_unrun() {
    // A static, so that the closures capture nothing but their data.
    static SUM: AtomicUsize = AtomicUsize::new(0);
    fn add(bytes: &[u8]) -> Outcome {
        SUM.fetch_add(bytes.iter().map(|&b| usize::from(b)).sum(), Relaxed);
        Outcome::Completed
    }
    #[repr(align(32))]
    struct Aligned(u8);
    let slab = JobSlab::new(0);
    // A block's body is 64 bytes, 8 of them the slab's address: a closure of 56 bytes fits.
    let (largest, too_large) = ([1u8; 56], [1u8; 57]);
    let (aligned, wide) = (Aligned(3), 5u128);
    // SAFETY: the test thread is the owner; the jobs that fit run below, before the slab goes.
    let (fits, large, over_aligned, aligned_16) = unsafe {
        (
            slab.job(move || add(&largest), Kind::ScopedTask),
            slab.job(move || add(&too_large), Kind::ScopedTask),
            slab.job(
                move || {
                    let aligned = aligned; // the whole value, not just its field
                    add(&[aligned.0])
                },
                Kind::ScopedTask,
            ),
            slab.job(move || add(&wide.to_le_bytes()), Kind::ScopedTask),
        )
    };
    let (Ok(fits), Err(large), Err(over_aligned), Ok(aligned_16)) =
        (fits, large, over_aligned, aligned_16)
    else {
        panic!("56 bytes and an alignment of 16 fit; 57 bytes and an alignment of 32 do not");
    };
    for outcome in [run(fits), large(), over_aligned(), run(aligned_16)] {
        assert!(matches!(outcome, Outcome::Completed));
    }
    assert_eq!(SUM.load(Relaxed), 56 + 57 + 3 + 5, "every closure ran once, intact");
    assert_eq!(chunk_lens(&slab), [FIRST_CHUNK]);
}

#[test]
fn a_panicking_job_has_given_its_block_back() {
    let slab = JobSlab::new(0);
    let runs = AtomicUsize::new(0);
    let job = fill(&slab, || panic!("a job that unwinds"));
    let block = job.id();
    assert!(panic::catch_unwind(AssertUnwindSafe(|| run(job))).is_err());
    // The block came back before the closure ran: the next jobs get it again (the private list
    // holds the other three first).
    let jobs: Vec<JobRef> = (0..FIRST_CHUNK).map(|_| fill(&slab, counting(&runs))).collect();
    assert!(jobs.iter().any(|job| job.id() == block));
    jobs.into_iter().for_each(|job| drop(run(job)));
    assert_eq!(chunk_lens(&slab), [FIRST_CHUNK]);
}

#[test]
fn captures_are_dropped_once_when_the_job_runs() {
    struct Counted<'a>(&'a AtomicUsize);
    impl Drop for Counted<'_> {
        fn drop(&mut self) {
            self.0.fetch_add(1, Relaxed);
        }
    }
    let drops = AtomicUsize::new(0);
    let slab = JobSlab::new(0);
    let jobs: Vec<JobRef> = (0..10)
        .map(|_| {
            let counted = Counted(&drops);
            fill(&slab, move || {
                let _moved = counted;
                Outcome::Completed
            })
        })
        .collect();
    assert_eq!(drops.load(Relaxed), 0, "filling moves the captures in, dropping nothing");
    jobs.into_iter().for_each(|job| drop(run(job)));
    assert_eq!(drops.load(Relaxed), 10);
    drop(slab);
    assert_eq!(drops.load(Relaxed), 10, "the slab's drop drops no job");
}
