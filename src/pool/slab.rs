//! [`JobSlab`]: recycled memory for the jobs of one scope, so that a scope of many small tasks
//! does not pay a `malloc` on the spawning thread and a cross-thread `free` on the worker for
//! each one (measured: 42 % of the CPU time of a scope of 100 000 tiny tasks went to the
//! allocator, whose arena lock the spawner and the workers contend on; rayon pays the same).
//!
//! A slab hands out *blocks* of one cache line. Only its *owner*, the thread that opened the
//! scope, fills them ([`JobSlab::job`], an `unsafe fn` whose callers check the thread). A block
//! travels as a [`JobRef`] like any job; whoever runs the job moves the closure out of the block
//! onto its own stack, gives the block back, and only then runs the closure. The closure of a
//! scoped task ends with the task's `pending` decrement, so every block is back before the
//! scope can finish, and the slab (a field of the scope) outlives every use of its blocks.
//!
//! - **Owner only:** a private free list (`free`) and the chunks allocated so far (`chunks`,
//!   freed with the slab). Chunks start at [`FIRST_CHUNK`] blocks and double up to
//!   [`MAX_CHUNK`], so a scope of one task costs one small allocation and a scope of
//!   100 000 a few dozen.
//! - **Shared:** `returned`, a stack of given-back blocks, on one line with the scope's
//!   `pending` count (`unfinished`), which the runner decrements right after. Any thread
//!   pushes (a CAS loop); only the owner takes, and it takes the whole stack at once (`swap`
//!   with null), so a block is never popped while another thread reads its `next` link: the
//!   ABA problem of a Treiber stack's pop does not arise.
//!
//! A job closure that does not fit in a block (more than 56 bytes with its captures, or aligned
//! to more than 16) is boxed as before ([`JobSlab::job`] gives it back).
//!
//! **Orderings.** A push to `returned` is Release and the owner's `swap` Acquire: whoever ran a
//! job read the closure out of its block before it gave the block back, so that read
//! happens-before the owner's refill (and the pushed `next` links are visible to the owner).
//! Pushes by different threads are CAS read-modify-writes, which continue the release sequence
//! of each earlier push, so one Acquire `swap` synchronizes with every push it takes. The
//! `JobRef`'s own travel through a deque publishes the filled block to the thread that runs it
//! (a deque push is Release, a steal Acquire).

use super::job::{JobRef, Kind, Outcome};
use crate::shim::{AtomicPtr, AtomicUsize};
use crossbeam_utils::CachePadded;
use std::alloc::{self, Layout};
use std::cell::{Cell, UnsafeCell};
use std::mem::{self, MaybeUninit};
use std::ptr;
use std::sync::atomic::Ordering::{Acquire, Relaxed, Release};

/// Blocks in the first chunk a slab allocates.
#[cfg(not(loom))]
const FIRST_CHUNK: usize = 4;
/// Blocks in the largest chunk (64 KiB of 64-byte blocks).
#[cfg(not(loom))]
const MAX_CHUNK: usize = 1024;
// Under loom, one block and then two: the models reach a refill within a few jobs.
#[cfg(loom)]
const FIRST_CHUNK: usize = 1;
#[cfg(loom)]
const MAX_CHUNK: usize = 2;

/// One cache line: a free block's link, or a filled block's [`Filled`] job. A line each, so a
/// worker running one job does not share its line with the owner filling the next block.
#[repr(C, align(64))]
pub(super) struct Block {
    /// Tracks who touches the block, for loom's race detection (zero-sized otherwise).
    pub(super) access: Access,
    /// The link while free, else the job's bytes.
    pub(super) body: Body,
}

#[repr(C, align(16))]
pub(super) union Body {
    pub(super) next: *mut Block,
    job: [MaybeUninit<u8>; 64],
}

/// What a filled block holds: the home to give the block back to, and the job.
struct Filled<H, F> {
    home: *const H,
    job: F,
}

/// Where a block goes back once its job has been moved out: a scope's [`JobSlab`], or a
/// pool's `TaskBlocks` (`recycle.rs`).
pub(super) trait BlockHome: Sized {
    /// Takes back a block whose job was moved out.
    ///
    /// # Safety
    /// `block` is a free block that belongs here, and the calling thread is the only one that
    /// touches it.
    unsafe fn give_back(&self, block: *mut Block);
}

impl Block {
    /// Whether a job closure of type `F` fits in a block beside a pointer to its home `H`.
    pub(super) const fn fits<H, F>() -> bool {
        mem::size_of::<Filled<H, F>>() <= mem::size_of::<Body>()
            && mem::align_of::<Filled<H, F>>() <= mem::align_of::<Body>()
    }

    /// Writes `job` into `block` and returns the block as a [`JobRef`] whose execution moves
    /// the job out, gives the block back to `home`, and then runs the job.
    ///
    /// # Safety
    /// - `block` is free and ours alone until the job runs, and `Block::fits::<H, F>()`.
    /// - The job is executed exactly once (or never), and `home` outlives the start of that
    ///   execution.
    /// - `job` may borrow data with any lifetime: the caller guarantees that it runs before
    ///   those borrows end.
    pub(super) unsafe fn fill<H, F>(block: *mut Block, home: &H, job: F, kind: Kind) -> JobRef
    where
        H: BlockHome,
        F: FnOnce() -> Outcome + Send,
    {
        debug_assert!(Self::fits::<H, F>());
        // SAFETY: the block is free and ours (our contract), and `Filled<H, F>` fits in its
        // body, whose alignment covers `Filled<H, F>`'s.
        unsafe {
            (*block).access.touch();
            let body = ptr::addr_of_mut!((*block).body).cast::<Filled<H, F>>();
            body.write(Filled { home, job });
        }
        // SAFETY: `execute::<H, F>` is sound to call once on this block from any thread until
        // the job ran: the block holds a `Filled<H, F>`, `F: Send`, and `home` outlives the
        // call's use of it (our contract).
        unsafe { JobRef::from_parts(block as *const (), execute::<H, F>, kind) }
    }
}

/// Recycled blocks for the jobs of one scope (see the module docs).
pub(crate) struct JobSlab {
    /// Owner only: blocks ready to fill, linked through `Body::next`.
    free: Cell<*mut Block>,
    /// Owner only: every chunk allocated (pointer and length in blocks), freed on drop.
    chunks: UnsafeCell<Vec<(*mut Block, usize)>>,
    /// What the runners write, on a line of its own (the owner writes `free` at every job).
    runners: CachePadded<RunnersLine>,
}

/// The two words a job's runner writes: the given-back stack, and its user's counter.
#[repr(C)]
struct RunnersLine {
    /// Blocks given back by whoever ran their job; only the owner takes them.
    returned: AtomicPtr<Block>,
    /// The slab's user's count of unfinished jobs (a scope's `pending`), which a runner
    /// decrements right after it gives its block back: on this line, the two writes take the
    /// line once (measured: a scope of 100 000 tiny tasks ran in 19.5–21.5 ms against
    /// 24.3–26.3 with the counter elsewhere).
    unfinished: AtomicUsize,
}

// SAFETY: `free` and `chunks` are touched only by the owner thread (`job`'s contract; `drop`
// has `&mut self`); other threads reach the slab only through `give_back`, which touches the
// atomic `returned` and a block that the calling thread owns at that moment.
unsafe impl Sync for JobSlab {}
// SAFETY: as for `Sync`; the raw pointers are to memory the slab owns.
unsafe impl Send for JobSlab {}

impl JobSlab {
    /// An empty slab (it allocates at its first job) whose [`unfinished`](Self::unfinished)
    /// counter starts at `unfinished`.
    pub(crate) fn new(unfinished: usize) -> Self {
        Self {
            free: Cell::new(ptr::null_mut()),
            chunks: UnsafeCell::new(Vec::new()),
            runners: CachePadded::new(RunnersLine {
                returned: AtomicPtr::new(ptr::null_mut()),
                unfinished: AtomicUsize::new(unfinished),
            }),
        }
    }

    /// The user's count of unfinished jobs, kept on the line that the runners write (see
    /// [`RunnersLine`]); the slab itself does not use it.
    #[inline]
    #[cfg_attr(loom, allow(dead_code))] // the scope, its one user, is not built under loom
    pub(crate) fn unfinished(&self) -> &AtomicUsize {
        &self.runners.unfinished
    }

    /// `job` as a [`JobRef`] in a block of this slab, or `Err(job)` if it does not fit (box it
    /// instead).
    ///
    /// # Safety
    /// - Called only on the slab's owner thread (the same thread every time).
    /// - The job is executed exactly once, and the slab is not dropped before that execution
    ///   began; the execution gives the block back before it runs `job`. (A scope waits for
    ///   every task, and its tasks' `job` closures end with the task's `pending` decrement.)
    /// - `job` may borrow data with any lifetime: the caller guarantees that it runs before
    ///   those borrows end.
    #[inline]
    pub(crate) unsafe fn job<F>(&self, job: F, kind: Kind) -> Result<JobRef, F>
    where
        F: FnOnce() -> Outcome + Send,
    {
        if !Block::fits::<Self, F>() {
            return Err(job);
        }
        // SAFETY: we are the owner (our contract).
        let block = unsafe { self.take() };
        // SAFETY: `take` gave us a free block that nobody else touches until the job runs; the
        // job fits (checked above), runs once, before the slab is dropped, and before its
        // borrows end (our contract).
        Ok(unsafe { Block::fill(block, self, job, kind) })
    }

    /// A free block: from the private list, else all the given-back ones, else a new chunk.
    ///
    /// # Safety
    /// On the owner thread only.
    unsafe fn take(&self) -> *mut Block {
        let mut block = self.free.get();
        if block.is_null() {
            // Acquire: pairs with the Release of `give_back`, so the runner's read of the job
            // it moved out happens-before our refill, and the `next` links are visible.
            block = self.runners.returned.swap(ptr::null_mut(), Acquire);
            if block.is_null() {
                // SAFETY: owner only (our contract).
                block = unsafe { self.grow() };
            }
        }
        // SAFETY: `block` is free and ours: its body holds a link (the list or the stack we
        // took, or `grow`'s).
        unsafe {
            (*block).access.touch();
            self.free.set((*block).body.next);
        }
        block
    }

    /// Allocates a chunk, links its blocks as the free list, and returns the list.
    ///
    /// # Safety
    /// On the owner thread only.
    #[cold]
    unsafe fn grow(&self) -> *mut Block {
        // SAFETY: owner only: nobody else touches `chunks`, and no reference to it is live.
        let chunks = unsafe { &mut *self.chunks.get() };
        let len = chunks.last().map_or(FIRST_CHUNK, |&(_, len)| (len * 2).min(MAX_CHUNK));
        let layout = Layout::array::<Block>(len).expect("JobSlab: chunk layout");
        // Reserve first, so that a failure to grow the list leaves no chunk unrecorded.
        chunks.reserve(1);
        // SAFETY: the layout has a non-zero size.
        let chunk = unsafe { alloc::alloc(layout) }.cast::<Block>();
        if chunk.is_null() {
            alloc::handle_alloc_error(layout);
        }
        chunks.push((chunk, len));
        for i in 0..len {
            let next = if i + 1 < len { chunk.wrapping_add(i + 1) } else { ptr::null_mut() };
            // SAFETY: `i < len`: inside the chunk just allocated, which nobody else sees yet.
            unsafe {
                chunk.add(i).write(Block { access: Access::new(), body: Body { next } });
            }
        }
        chunk
    }
}

impl BlockHome for JobSlab {
    /// Pushes the block onto the given-back stack, which only the owner takes (whole).
    unsafe fn give_back(&self, block: *mut Block) {
        let mut head = self.runners.returned.load(Relaxed);
        loop {
            // SAFETY: the block is ours until the CAS below publishes it.
            unsafe {
                (*block).access.touch();
                (*block).body.next = head;
            }
            // Release: publishes our read of the job, and the link, to the owner's Acquire
            // `swap` in `take`. (The seeded bug for the loom CI check makes it Relaxed.)
            let order = if cfg!(atomsync_seeded_bug) { Relaxed } else { Release };
            match self.runners.returned.compare_exchange_weak(head, block, order, Relaxed) {
                Ok(_) => return,
                Err(actual) => head = actual,
            }
        }
    }
}

impl Drop for JobSlab {
    fn drop(&mut self) {
        for &(chunk, len) in self.chunks.get_mut().iter() {
            // SAFETY: every block is free by now (the contract of `job`: each execution gave
            // its block back before the slab could be dropped); `chunk` was allocated in
            // `grow` with this layout and its blocks were initialized there.
            unsafe {
                for i in 0..len {
                    ptr::drop_in_place(ptr::addr_of_mut!((*chunk.add(i)).access));
                }
                alloc::dealloc(chunk.cast(), Layout::array::<Block>(len).expect("same as grow"));
            }
        }
    }
}

/// Runs the job in a block filled by [`Block::fill`].
///
/// # Safety
/// `pointer` is such a block, executed once (the contract of `JobRef::from_parts`).
unsafe fn execute<H: BlockHome, F: FnOnce() -> Outcome>(pointer: *const ()) -> Outcome {
    let block = pointer as *mut Block;
    // SAFETY: the block holds a `Filled<H, F>` that only we (its one execution) touch; moving
    // it out leaves the block free.
    let Filled { home, job } = unsafe {
        (*block).access.touch();
        ptr::addr_of!((*block).body).cast::<Filled<H, F>>().read()
    };
    // SAFETY: the home outlives this execution's start (the contract of `Block::fill`), and
    // the block is ours and free. After this we touch neither; the job, moved out onto our
    // stack, may panic without leaving anything behind.
    unsafe { (*home).give_back(block) };
    job()
}

/// Under loom, a cell whose every access is a write, so that loom reports two accesses to one
/// block that no happens-before orders (a missing Release or Acquire); nothing otherwise.
#[cfg(loom)]
pub(super) struct Access(loom::cell::UnsafeCell<()>);

#[cfg(loom)]
impl Access {
    pub(super) fn new() -> Self {
        Self(loom::cell::UnsafeCell::new(()))
    }

    pub(super) fn touch(&self) {
        self.0.with_mut(|_| ());
    }
}

#[cfg(not(loom))]
pub(super) struct Access;

#[cfg(not(loom))]
impl Access {
    #[inline]
    pub(super) fn new() -> Self {
        Self
    }

    #[inline]
    pub(super) fn touch(&self) {}
}

/// Loom-only: a slab for `loom-tests/tests/pool.rs`, with the owner-only contract of
/// [`JobSlab::job`] left to the model. Not part of the API.
#[cfg(loom)]
pub struct LoomSlab(JobSlab);

/// Loom-only: a job filled into a [`LoomSlab`]; run it exactly once with [`LoomJob::run`].
#[cfg(loom)]
pub struct LoomJob(JobRef);

#[cfg(loom)]
impl LoomSlab {
    /// Fills `job` into a block.
    ///
    /// # Safety
    /// As [`JobSlab::job`]: one thread fills, each job runs once, before the slab is dropped.
    pub unsafe fn job(&self, job: impl FnOnce() + Send) -> LoomJob {
        let job = move || {
            job();
            Outcome::Completed
        };
        // SAFETY: forwarded from the caller.
        match unsafe { self.0.job(job, Kind::Part) } {
            Ok(job) => LoomJob(job),
            Err(_) => panic!("LoomSlab: a model's job must fit in a block"),
        }
    }
}

#[cfg(loom)]
impl LoomJob {
    /// A job for a model (`recycle.rs` fills them too).
    pub(super) fn new(job: JobRef) -> Self {
        Self(job)
    }

    /// Runs the job (moves it out, gives its block back, runs it).
    pub fn run(self) {
        // SAFETY: a `LoomJob` is consumed by its one run; its slab outlives it (the contract
        // of `LoomSlab::job`).
        drop(unsafe { self.0.execute() });
    }
}

#[cfg(loom)]
impl Default for LoomSlab {
    fn default() -> Self {
        Self(JobSlab::new(0))
    }
}

#[cfg(test)]
mod tests;
