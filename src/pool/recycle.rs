//! [`TaskBlocks`]: recycled memory for the pool's fire-and-forget tasks
//! ([`ThreadPool::execute`](super::ThreadPool::execute)), so that a stream of small tasks does
//! not pay a `malloc` on the submitting thread and a cross-thread `free` on the worker for each
//! one. With glibc that pair was most of the cost of such a stream, and more than the pair
//! itself: crossbeam's injector allocates a 2 KiB block every 63 pushes, a request large
//! enough to make glibc consolidate its fast bins, so the freed task boxes were merged away
//! and every next `malloc` took the slow path (`docs/benchmarks.md`, ThreadPool, session 13).
//!
//! A task lives in a *block*, the cache line of a scope's [`JobSlab`](super::slab::JobSlab).
//! Unlike a slab's, these blocks belong to no one: each is a heap allocation of its own, so any
//! thread may keep one, fill one, or free one. Whoever runs the task moves the closure out of
//! its block onto its own stack, gives the block back, and only then runs the closure.
//!
//! - **Per thread** (`LOCAL`): a private list of free blocks. A thread that runs tasks keeps
//!   what it gives back, for the tasks it submits itself; past [`LOCAL_MAX`] it passes a chain
//!   of [`CHAIN`] blocks to the pool. A thread that submits takes from its list first.
//! - **Per pool** (`TaskBlocks`): a stack of the chains passed on. Any thread pushes a chain
//!   (one CAS for [`CHAIN`] blocks); a submitter whose list is empty takes the whole stack at
//!   once (`swap` with null), so a block is never popped while another thread reads its link:
//!   the ABA problem of a Treiber stack's pop does not arise. The stack keeps at most about
//!   [`POOL_MAX`] blocks (an approximate count: a chain pushed while a taker resets it goes
//!   uncounted until the next take); a chain beyond that is freed. The pool frees the stack
//!   when it is dropped, and a thread's list is freed when the thread exits.
//!
//! So the memory kept is bounded: [`POOL_MAX`] blocks per pool (64 KiB) plus, per thread,
//! [`LOCAL_MAX`] blocks and whatever it took from a pool's stack. A closure that does not fit in
//! a block (more than 56 bytes with its captures, or aligned to more than 16) is boxed as
//! before ([`TaskBlocks::job`] gives it back).
//!
//! **Orderings.** A chain push is Release and the taker's `swap` Acquire: whoever ran a task
//! read its closure out of the block before it gave the block back, so that read
//! happens-before the block's refill by the taker (and the pushed links are visible to it).
//! Pushes by different threads are CAS read-modify-writes, which continue the release sequence
//! of each earlier push, so one Acquire `swap` synchronizes with every push it takes. A block
//! kept in a thread's list moves between the thread's own accesses only. The count is Relaxed:
//! it only bounds the memory kept. The task's own travel through a deque publishes the filled
//! block to the thread that runs it (a push is Release, a steal Acquire).
//!
//! (Under loom there is no per-thread list: every give-back pushes a chain of one block, and a
//! taker pushes back what it took beyond one block, so the models exercise the stack.)

use super::job::{JobRef, Kind, Outcome};
use super::slab::{Access, Block, BlockHome, Body};
use crate::shim::{AtomicPtr, AtomicUsize};
use std::alloc::{self, Layout};
#[cfg(not(loom))]
use std::cell::Cell;
use std::ptr;
use std::sync::atomic::Ordering::{Acquire, Relaxed, Release};

/// Blocks a thread keeps before it passes a chain on to the pool (4 KiB).
#[cfg(not(loom))]
const LOCAL_MAX: usize = 64;
/// Blocks passed on at a time.
#[cfg(not(loom))]
const CHAIN: usize = 32;
/// Blocks a pool's stack keeps at most (about: see the module docs); 64 KiB.
#[cfg(not(loom))]
const POOL_MAX: usize = 1024;
// Under loom a chain is one block, and the stack holds two: the models reach the bound.
#[cfg(loom)]
const POOL_MAX: usize = 2;

/// A pool's stack of given-back blocks (see the module docs).
pub(crate) struct TaskBlocks {
    /// The stack: free blocks linked through `Body::next`.
    head: AtomicPtr<Block>,
    /// About how many blocks `head` holds.
    len: AtomicUsize,
}

impl TaskBlocks {
    /// An empty stack.
    pub(crate) fn new() -> Self {
        Self { head: AtomicPtr::new(ptr::null_mut()), len: AtomicUsize::new(0) }
    }

    /// `task` as a [`JobRef`] in a recycled block, or `Err(task)` if it does not fit (box it
    /// instead).
    ///
    /// # Safety
    /// The job is executed at most once, and `self` outlives that execution's start (a pool's
    /// `Shared` outlives every execution of its jobs). `task` may borrow data with any
    /// lifetime: the caller guarantees that it runs before those borrows end.
    #[inline]
    pub(crate) unsafe fn job<F>(&self, task: F, kind: Kind) -> Result<JobRef, F>
    where
        F: FnOnce() -> Outcome + Send,
    {
        if !Block::fits::<Self, F>() {
            return Err(task);
        }
        let block = self.take();
        // SAFETY: `take` gave us a free block that nobody else touches until the job runs; the
        // task fits (checked above), runs at most once, while `self` lives, and before its
        // borrows end (our contract).
        Ok(unsafe { Block::fill(block, self, task, kind) })
    }

    /// A free block, ours alone: from this thread's list, else the whole stack (the rest of it
    /// becomes this thread's list), else a new allocation.
    fn take(&self) -> *mut Block {
        #[cfg(not(loom))]
        if let Ok(Some(block)) = LOCAL.try_with(LocalBlocks::pop) {
            return block;
        }
        let block = self.take_all();
        if block.is_null() {
            return new_block();
        }
        // SAFETY: the stack we took is ours: its blocks are free and hold links.
        let rest = unsafe {
            (*block).access.touch();
            (*block).body.next
        };
        if !rest.is_null() {
            self.keep_taken(rest);
        }
        block
    }

    /// Removes the whole stack, or returns null if it is empty.
    fn take_all(&self) -> *mut Block {
        // A look first: a submitter whose list ran dry finds the stack empty whenever the
        // workers' lists have not overflowed, and the swap would take the line for nothing.
        if self.head.load(Relaxed).is_null() {
            return ptr::null_mut();
        }
        // Acquire: pairs with the Release of `push_chain`, so the runners' reads of the tasks
        // they moved out happen-before our refills, and the links are visible.
        let list = self.head.swap(ptr::null_mut(), Acquire);
        // Relaxed: the count only bounds the memory kept (module docs).
        self.len.store(0, Relaxed);
        list
    }

    /// Keeps `list`, the rest of a stack just taken, for this thread's next tasks.
    #[cfg(not(loom))]
    fn keep_taken(&self, list: *mut Block) {
        // Our list was empty (`take` found nothing in it) unless the thread is exiting.
        if LOCAL.try_with(|local| local.adopt(list)).is_err() {
            // SAFETY: the list is ours, free, and linked to its end.
            unsafe { free_list(list) };
        }
    }

    /// Under loom: pushes `list` back, one block at a time.
    #[cfg(loom)]
    fn keep_taken(&self, mut list: *mut Block) {
        while !list.is_null() {
            // SAFETY: the list is ours, free, and linked to its end.
            let next = unsafe {
                (*list).access.touch();
                (*list).body.next
            };
            // SAFETY: `list`'s first block is ours and free.
            unsafe { self.push_chain(list, list, 1) };
            list = next;
        }
    }

    /// Pushes the chain `first..=last` of `len` blocks, or frees it if the stack is full.
    ///
    /// # Safety
    /// The chain is ours alone, free, and linked from `first` to `last`.
    unsafe fn push_chain(&self, first: *mut Block, last: *mut Block, len: usize) {
        // Relaxed: the count only bounds the memory kept (module docs). Counted only if it
        // stays within the bound: a count taken back after a taker reset it would wrap.
        let room = |kept: usize| (kept + len <= POOL_MAX).then_some(kept + len);
        if self.len.fetch_update(Relaxed, Relaxed, room).is_err() {
            // SAFETY: the chain is ours; cut after `last` so that only it is freed.
            unsafe {
                (*last).access.touch();
                (*last).body.next = ptr::null_mut();
                free_list(first);
            }
            return;
        }
        let mut head = self.head.load(Relaxed);
        loop {
            // SAFETY: the chain is ours until the CAS below publishes it.
            unsafe {
                (*last).access.touch();
                (*last).body.next = head;
            }
            // Release: publishes our reads of the tasks, and the links, to the taker's Acquire
            // `swap` in `take_all`. (The seeded bug for the loom CI check makes it Relaxed.)
            let order = if cfg!(atomsync_seeded_bug) { Relaxed } else { Release };
            match self.head.compare_exchange_weak(head, first, order, Relaxed) {
                Ok(_) => return,
                Err(actual) => head = actual,
            }
        }
    }
}

impl BlockHome for TaskBlocks {
    /// To this thread's list, and a chain of it to the stack when the list is full.
    unsafe fn give_back(&self, block: *mut Block) {
        #[cfg(not(loom))]
        match LOCAL.try_with(|local| local.keep(block)) {
            Ok(None) => {}
            // SAFETY: `keep` detached this chain of `CHAIN` free blocks from our list.
            Ok(Some((first, last))) => unsafe { self.push_chain(first, last, CHAIN) },
            // The thread is exiting (its list is gone): straight to the stack.
            // SAFETY: the block is ours and free (our contract).
            Err(_) => unsafe { self.push_chain(block, block, 1) },
        }
        // SAFETY: the block is ours and free (our contract).
        #[cfg(loom)]
        unsafe {
            self.push_chain(block, block, 1)
        };
    }
}

impl Drop for TaskBlocks {
    fn drop(&mut self) {
        // Relaxed: `&mut self`, so whatever gave us the stack alone ordered every push before.
        let list = self.head.load(Relaxed);
        // SAFETY: nobody pushes or takes any more; the stack's blocks are free and linked to
        // its end.
        unsafe { free_list(list) };
    }
}

/// A new free block.
fn new_block() -> *mut Block {
    let layout = Layout::new::<Block>();
    // SAFETY: the layout has a non-zero size.
    let block = unsafe { alloc::alloc(layout) }.cast::<Block>();
    if block.is_null() {
        alloc::handle_alloc_error(layout);
    }
    // SAFETY: just allocated with `Block`'s layout; nobody else sees it yet.
    unsafe { block.write(Block { access: Access::new(), body: Body { next: ptr::null_mut() } }) };
    block
}

/// Frees every block of `list`.
///
/// # Safety
/// The list is ours alone, its blocks free (from `new_block`), linked to its end (null).
unsafe fn free_list(mut list: *mut Block) {
    while !list.is_null() {
        // SAFETY: the block is ours and free (our contract); it was allocated by `new_block`
        // with this layout and its `access` initialized there.
        unsafe {
            (*list).access.touch();
            let next = (*list).body.next;
            ptr::drop_in_place(ptr::addr_of_mut!((*list).access));
            alloc::dealloc(list.cast(), Layout::new::<Block>());
            list = next;
        }
    }
}

/// A thread's list of free blocks (see the module docs).
#[cfg(not(loom))]
struct LocalBlocks {
    /// Free blocks linked through `Body::next`.
    head: Cell<*mut Block>,
    /// How many of the list's first blocks are counted: those given back here, not those
    /// adopted from a pool's stack (uncounted, so that adopting needs no walk). The list holds
    /// at least this many.
    counted: Cell<usize>,
}

#[cfg(not(loom))]
thread_local! {
    static LOCAL: LocalBlocks = const {
        LocalBlocks { head: Cell::new(ptr::null_mut()), counted: Cell::new(0) }
    };
}

#[cfg(not(loom))]
impl LocalBlocks {
    /// The first free block, if any.
    fn pop(&self) -> Option<*mut Block> {
        let block = self.head.get();
        if block.is_null() {
            return None;
        }
        // SAFETY: the list's blocks are this thread's and free, linked to the list's end.
        self.head.set(unsafe { (*block).body.next });
        self.counted.set(self.counted.get().saturating_sub(1));
        Some(block)
    }

    /// Adopts `list` (the rest of a pool's stack) as the list, which is empty.
    fn adopt(&self, list: *mut Block) {
        debug_assert!(self.head.get().is_null());
        self.head.set(list);
        self.counted.set(0);
    }

    /// Keeps `block`; when the counted blocks exceed [`LOCAL_MAX`], detaches the first
    /// [`CHAIN`] of them and returns that chain's first and last block.
    fn keep(&self, block: *mut Block) -> Option<(*mut Block, *mut Block)> {
        // SAFETY: the block is this thread's and free (the contract of `give_back`).
        unsafe { (*block).body.next = self.head.get() };
        self.head.set(block);
        let counted = self.counted.get() + 1;
        if counted <= LOCAL_MAX {
            self.counted.set(counted);
            return None;
        }
        let mut last = block;
        for _ in 1..CHAIN {
            // SAFETY: the list's first `counted` (> CHAIN) blocks exist and are ours.
            last = unsafe { (*last).body.next };
        }
        // SAFETY: as above; the chain ends at `last`, which `push_chain` relinks.
        self.head.set(unsafe { (*last).body.next });
        self.counted.set(counted - CHAIN);
        Some((block, last))
    }
}

#[cfg(not(loom))]
impl Drop for LocalBlocks {
    fn drop(&mut self) {
        // SAFETY: the thread is exiting: the list is ours alone, free, linked to its end.
        unsafe { free_list(self.head.get()) };
    }
}

/// Loom-only: a pool's stack of task blocks for `loom-tests/tests/pool.rs`. Not part of the
/// API.
#[cfg(loom)]
#[derive(Default)]
pub struct LoomTaskBlocks(TaskBlocks);

#[cfg(loom)]
impl Default for TaskBlocks {
    fn default() -> Self {
        Self::new()
    }
}

#[cfg(loom)]
impl LoomTaskBlocks {
    /// Fills `task` into a block (taken from the stack, or new).
    ///
    /// # Safety
    /// As [`TaskBlocks::job`]: each job runs once, before the stack is dropped.
    pub unsafe fn job(&self, task: impl FnOnce() + Send) -> super::slab::LoomJob {
        let task = move || {
            task();
            Outcome::Completed
        };
        // SAFETY: forwarded from the caller.
        match unsafe { self.0.job(task, Kind::Part) } {
            Ok(job) => super::slab::LoomJob::new(job),
            Err(_) => panic!("LoomTaskBlocks: a model's task must fit in a block"),
        }
    }
}

#[cfg(all(test, not(loom)))]
mod tests;
