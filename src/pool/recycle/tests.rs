use super::*;
use crate::pool::ThreadPool;
use std::sync::Arc;
use std::sync::atomic::AtomicUsize as StdAtomicUsize;

/// Runs a job filled into `blocks` on this thread.
fn run(job: JobRef) {
    // SAFETY: each job is run once, while its `TaskBlocks` is alive.
    drop(unsafe { job.execute() });
}

fn counting(ran: &Arc<StdAtomicUsize>) -> impl FnOnce() -> Outcome + Send + use<> {
    let ran = Arc::clone(ran);
    move || {
        ran.fetch_add(1, Relaxed);
        Outcome::Completed
    }
}

/// `n` counting jobs filled into `blocks`; the caller runs each once while `blocks` lives.
fn fill(blocks: &TaskBlocks, ran: &Arc<StdAtomicUsize>, n: usize) -> Vec<JobRef> {
    // SAFETY: the caller runs each job once, while `blocks` lives (every test below does).
    (0..n).map(|_| unsafe { blocks.job(counting(ran), Kind::Task) }.ok().unwrap()).collect()
}

#[test]
fn a_block_given_back_is_the_next_one_filled_on_the_same_thread() {
    let blocks = TaskBlocks::new();
    let ran = Arc::new(StdAtomicUsize::new(0));
    // SAFETY: run once below, while `blocks` lives.
    let first = unsafe { blocks.job(counting(&ran), Kind::Task) }.ok().unwrap();
    let address = first.id();
    run(first);
    // SAFETY: as above.
    let second = unsafe { blocks.job(counting(&ran), Kind::Task) }.ok().unwrap();
    assert_eq!(second.id(), address, "the given-back block was not reused");
    run(second);
    assert_eq!(ran.load(Relaxed), 2);
}

#[test]
fn a_task_too_large_or_too_aligned_for_a_block_is_given_back() {
    let blocks = TaskBlocks::new();
    let big = [7_u8; 57];
    // SAFETY: never run.
    let job = unsafe { blocks.job(move || Outcome::Completed.also(big), Kind::Task) };
    assert!(job.is_err(), "57 bytes of captures and the stack's pointer fit in 64");
    #[repr(align(32))]
    struct Aligned(#[allow(dead_code)] u8);
    let aligned = Aligned(1);
    // SAFETY: never run.
    let job = unsafe {
        blocks.job(
            move || {
                let _keep = &aligned;
                Outcome::Completed
            },
            Kind::Task,
        )
    };
    assert!(job.is_err(), "a block's body is aligned to 16 only");
    // 48 bytes of captures fit beside the stack's pointer.
    let fits = [7_u8; 48];
    // SAFETY: run once, while `blocks` lives.
    let job = unsafe { blocks.job(move || Outcome::Completed.also(fits), Kind::Task) };
    run(job.ok().expect("48 bytes of captures fit"));
}

trait Also {
    fn also<T>(self, value: T) -> Self;
}

impl Also for Outcome {
    fn also<T>(self, value: T) -> Self {
        drop(value);
        self
    }
}

/// A thread that runs many tasks keeps `LOCAL_MAX` blocks at most and passes the rest on in
/// chains; the stack keeps `POOL_MAX` at most and frees what comes beyond.
#[test]
fn the_memory_kept_is_bounded() {
    let blocks = TaskBlocks::new();
    let ran = Arc::new(StdAtomicUsize::new(0));
    let total = 3 * POOL_MAX;
    // Fill them all first (each a new block: nothing is given back yet), then run them all
    // on another thread, whose list overflows into the stack.
    let jobs = fill(&blocks, &ran, total);
    std::thread::scope(|scope| {
        scope.spawn(|| jobs.into_iter().for_each(run));
    });
    assert_eq!(ran.load(Relaxed), total);
    let kept = stack_len(&blocks);
    assert!(kept <= POOL_MAX, "the stack keeps {kept} blocks");
    assert!(kept >= POOL_MAX - CHAIN, "the stack keeps only {kept} blocks of {total}");
    assert_eq!(blocks.len.load(Relaxed), kept, "the count is exact without races");
}

/// The blocks of a free list, in order (no other thread may touch it).
fn list(mut block: *mut Block) -> Vec<*mut Block> {
    let mut blocks = Vec::new();
    while !block.is_null() {
        blocks.push(block);
        // SAFETY: the list's blocks are free and linked to its end; nobody else touches them.
        block = unsafe { (*block).body.next };
    }
    blocks
}

/// The stack's chains, each as its blocks (no other thread may touch the stack).
fn chains(blocks: &TaskBlocks) -> Vec<Vec<*mut Block>> {
    let mut chains = Vec::new();
    let mut chain = blocks.head.load(Relaxed);
    while !chain.is_null() {
        let links = list(chain);
        // SAFETY: a chain's first block holds its length and the link to the next chain.
        let head = unsafe { &*chain_head(chain) };
        assert_eq!(head.len, links.len(), "a chain's length is its count of blocks");
        chains.push(links);
        chain = head.next_chain;
    }
    chains
}

/// How many blocks the stack holds.
fn stack_len(blocks: &TaskBlocks) -> usize {
    chains(blocks).iter().map(Vec::len).sum()
}

/// The blocks the stack holds.
fn stack_addresses(blocks: &TaskBlocks) -> std::collections::HashSet<*mut Block> {
    chains(blocks).into_iter().flatten().collect()
}

/// How many blocks this thread's list holds, checked against its count.
fn local_len() -> usize {
    let (len, counted) = LOCAL.with(|local| (list(local.head.get()).len(), local.counted.get()));
    assert_eq!(len, counted, "the list's count is off");
    len
}

/// A thread that runs tasks keeps at most `LOCAL_MAX` blocks, passing chains of `CHAIN` to
/// the stack beyond that, and nothing is lost on the way.
#[test]
fn a_threads_list_keeps_at_most_local_max_blocks() {
    // A new thread: its list starts empty, so every fill below allocates.
    std::thread::spawn(|| {
        let blocks = TaskBlocks::new();
        let ran = Arc::new(StdAtomicUsize::new(0));
        let total = 4 * LOCAL_MAX;
        let jobs = fill(&blocks, &ran, total);
        for job in jobs {
            run(job);
            assert!(local_len() <= LOCAL_MAX, "the list holds {} blocks", local_len());
        }
        assert!(local_len() > LOCAL_MAX - CHAIN, "the list holds only {}", local_len());
        assert_eq!(stack_len(&blocks) + local_len(), total, "blocks lost");
        assert_eq!(stack_len(&blocks) % CHAIN, 0, "passed on in whole chains");
        // Fills take from the list (its count follows), runs give back to it.
        let kept = local_len();
        let again = fill(&blocks, &ran, kept - 1);
        assert_eq!(local_len(), 1);
        again.into_iter().for_each(run);
        assert_eq!(local_len(), kept);
    })
    .join()
    .unwrap();
}

/// A submitter whose list is empty takes a chain of the stack at a time, and the blocks
/// circulate: a refill allocates nothing new while the stack has blocks.
#[test]
fn a_submitter_takes_chains_from_the_stack_and_reuses_their_blocks() {
    let blocks = TaskBlocks::new();
    let ran = Arc::new(StdAtomicUsize::new(0));
    let run_elsewhere = |jobs: Vec<JobRef>| {
        std::thread::scope(|scope| {
            scope.spawn(|| jobs.into_iter().for_each(run));
        })
    };
    run_elsewhere(fill(&blocks, &ran, 4 * LOCAL_MAX));
    // That thread's list held LOCAL_MAX and passed the rest on; it exited and freed its list.
    let stacked = stack_addresses(&blocks);
    let kept = stacked.len();
    assert!(kept >= 2 * LOCAL_MAX, "only {kept} blocks passed on");
    let again = fill(&blocks, &ran, kept);
    assert!(
        again.iter().all(|job| stacked.contains(&job.id().cast_mut().cast())),
        "a refill allocated a new block while the stack had free ones"
    );
    assert_eq!(stack_len(&blocks), 0, "the submitter took every chain");
    assert_eq!(blocks.len.load(Relaxed), 0, "the count follows the takes");
    run_elsewhere(again);
    assert_eq!(ran.load(Relaxed), 4 * LOCAL_MAX + kept);
}

/// Through the pool: many small tasks, some of them panicking, all run exactly once, and the
/// pool still works afterwards.
#[test]
fn execute_runs_every_recycled_task_once_even_when_tasks_panic() {
    let pool = ThreadPool::builder().num_threads(2).panic_handler(|_| {}).build().unwrap();
    let ran = Arc::new(StdAtomicUsize::new(0));
    for round in 0..3 {
        for i in 0..10_000_usize {
            let ran = Arc::clone(&ran);
            pool.execute(move || {
                ran.fetch_add(1, Relaxed);
                if i % 1_000 == 0 {
                    panic!("task {i} panics");
                }
            });
        }
        pool.wait_idle();
        assert_eq!(ran.load(Relaxed), (round + 1) * 10_000);
    }
    assert_eq!(pool.stats().panicked, 30);
}

/// A thread whose list is empty takes one chain from the stack (its list then holds the rest
/// of that chain) and leaves the other chains there, counted.
#[test]
fn a_take_keeps_one_chain_and_leaves_the_others() {
    std::thread::spawn(|| {
        let blocks = TaskBlocks::new();
        let ran = Arc::new(StdAtomicUsize::new(0));
        // Another thread runs them: its list passes chains on, and it exits.
        let jobs = fill(&blocks, &ran, LOCAL_MAX + 3 * CHAIN);
        std::thread::scope(|scope| {
            scope.spawn(|| jobs.into_iter().for_each(run));
        });
        let before = chains(&blocks);
        assert!(before.len() >= 2, "{} chains passed on", before.len());
        assert!(before.iter().all(|chain| chain.len() == CHAIN));
        assert_eq!(blocks.len.load(Relaxed), before.len() * CHAIN);
        let one = fill(&blocks, &ran, 1);
        assert_eq!(one[0].id().cast_mut().cast(), before[0][0], "the first chain's head");
        assert_eq!(local_len(), CHAIN - 1, "the rest of the chain is this thread's list");
        let after = chains(&blocks);
        assert_eq!(after.len(), before.len() - 1, "exactly one chain taken");
        assert_eq!(blocks.len.load(Relaxed), after.len() * CHAIN, "the count follows");
        one.into_iter().for_each(run);
    })
    .join()
    .unwrap();
}
