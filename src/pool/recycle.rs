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
//! - **Per thread** (`LOCAL`): a private list of free blocks, at most [`LOCAL_MAX`]. A thread
//!   that runs tasks keeps what it gives back, for the tasks it submits itself; past
//!   [`LOCAL_MAX`] it passes a chain of [`CHAIN`] blocks to the pool. A thread that submits
//!   takes from its list first.
//! - **Per pool** (`TaskBlocks`): a stack of the chains passed on, each chain's first block
//!   holding the link to the next chain and its own length. Any thread pushes a chain (one CAS
//!   for [`CHAIN`] blocks). A submitter whose list is empty takes one chain: it removes the
//!   whole stack (`swap` with null), keeps the first chain as its list and pushes the others
//!   back in one CAS. No block is ever popped while another thread may read its links, so the
//!   ABA problem of a Treiber stack's pop does not arise, and a thread never holds more than a
//!   list's worth of blocks. The stack counts its blocks (a chain is counted by its push and
//!   uncounted by the take that keeps it) and keeps at most [`POOL_MAX`]: a chain beyond that
//!   is freed. The pool frees the stack when it is dropped, and a thread's list is freed when
//!   the thread exits.
//!
//! So the memory kept is bounded: [`POOL_MAX`] blocks per pool (64 KiB) and [`LOCAL_MAX`] per
//! thread (4 KiB). A closure that does not fit in a block (more than 56 bytes with its
//! captures, or aligned to more than 16) is boxed as before ([`TaskBlocks::job`] gives it
//! back).
//!
//! **Orderings.** A push (of a chain, or of the chains a taker did not keep) is Release and
//! the take's `swap` Acquire: whoever ran a task read its closure out of the block before it
//! gave the block back, so that read happens-before the block's refill by a taker (and the
//! links and lengths written before the push are visible to it). Pushes by different threads
//! are CAS read-modify-writes, which continue the release sequence of each earlier push, so one
//! Acquire `swap` synchronizes with every push it takes. A block kept in a thread's list moves
//! between the thread's own accesses only. The count is Relaxed: it only bounds the memory
//! kept, and a chain is uncounted only by a take that came after its push (through the
//! Release/Acquire pair), so the count cannot wrap below zero.
//!
//! (Under loom there is no per-thread list: every give-back pushes a chain of one block, so
//! the models exercise the stack.)

use super::job::{JobRef, Kind, Outcome};
use super::slab::{Access, Block, BlockHome, Body};
use crate::shim::{AtomicPtr, AtomicUsize};
use std::alloc::{self, Layout};
#[cfg(not(loom))]
use std::cell::Cell;
use std::mem;
use std::ptr;
use std::sync::atomic::Ordering::{Acquire, Relaxed, Release};

/// Blocks a thread keeps before it passes a chain on to the pool (4 KiB).
#[cfg(not(loom))]
const LOCAL_MAX: usize = 64;
/// Blocks passed on at a time.
#[cfg(not(loom))]
const CHAIN: usize = 32;
/// Blocks a pool's stack keeps at most (64 KiB).
#[cfg(not(loom))]
const POOL_MAX: usize = 1024;
// Under loom a chain is one block, and the stack holds two: the models reach the bound.
#[cfg(loom)]
const POOL_MAX: usize = 2;

/// A pool's stack of given-back blocks (see the module docs).
pub(crate) struct TaskBlocks {
    /// The stack: chains of free blocks, each linked through `Body::next`, the chains through
    /// their first block's `ChainHead::next_chain`.
    head: AtomicPtr<Block>,
    /// How many blocks the stack holds, counting those of chains a taker is pushing back.
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

    /// A free block, ours alone: from this thread's list, else from a chain of the stack (the
    /// rest of the chain becomes this thread's list), else a new allocation.
    fn take(&self) -> *mut Block {
        #[cfg(not(loom))]
        if let Ok(Some(block)) = LOCAL.try_with(LocalBlocks::pop) {
            return block;
        }
        let chain = self.take_chain();
        if chain.is_null() {
            return new_block();
        }
        // SAFETY: the chain is ours: its blocks are free, linked to its end, its first block
        // holds its length.
        let (rest, len) = unsafe {
            let head = &*chain_head(chain);
            (head.next, head.len)
        };
        if !rest.is_null() {
            keep_rest(rest, len - 1);
        }
        chain
    }

    /// Removes the first chain of the stack (null if the stack is empty): takes the whole
    /// stack and pushes back the chains after the first.
    fn take_chain(&self) -> *mut Block {
        // A look first: a submitter whose list ran dry finds the stack empty whenever the
        // workers' lists have not overflowed, and the swap would take the line for nothing.
        if self.head.load(Relaxed).is_null() {
            return ptr::null_mut();
        }
        // Acquire: pairs with the Release of `push`, so the runners' reads of the tasks they
        // moved out happen-before our refills, and the links and lengths are visible.
        let chain = self.head.swap(ptr::null_mut(), Acquire);
        if chain.is_null() {
            return chain;
        }
        // SAFETY: the stack we took is ours; every chain's first block holds its length and
        // the link to the next chain.
        let (others, len) = unsafe {
            (*chain).access.touch();
            let head = &*chain_head(chain);
            (head.next_chain, head.len)
        };
        if !others.is_null() {
            let mut last = others;
            // SAFETY: as above; at most `POOL_MAX` chains.
            unsafe {
                (*last).access.touch();
                while !(*chain_head(last)).next_chain.is_null() {
                    last = (*chain_head(last)).next_chain;
                    (*last).access.touch();
                }
                self.push(others, last);
            }
        }
        // Relaxed: the count only bounds the memory kept (module docs). Our chain was counted
        // by the `push_chain` that first put it on the stack, which happens-before this (its
        // push, any taker's push back, our swap: Release, Acquire).
        self.len.fetch_sub(len, Relaxed);
        chain
    }

    /// Pushes the chain `first..=last` of `len` blocks, or frees it if the stack is full.
    ///
    /// # Safety
    /// The chain is ours alone, free, and linked from `first` to `last`.
    unsafe fn push_chain(&self, first: *mut Block, last: *mut Block, len: usize) {
        // SAFETY: the chain is ours (our contract); it ends at `last`.
        unsafe {
            (*last).access.touch();
            (*last).body.next = ptr::null_mut();
        }
        // Relaxed: the count only bounds the memory kept (module docs). Counted only if it
        // stays within the bound.
        let room = |kept: usize| (kept + len <= POOL_MAX).then_some(kept + len);
        if self.len.fetch_update(Relaxed, Relaxed, room).is_err() {
            // SAFETY: the chain is ours, free, and linked to its end.
            unsafe { free_list(first) };
            return;
        }
        // SAFETY: the chain is ours; its first block now heads a chain of `len`.
        unsafe {
            (*first).access.touch();
            (*chain_head(first)).len = len;
        }
        // SAFETY: a single chain, ours, its length written.
        unsafe { self.push(first, first) };
    }

    /// Pushes the chains from `first` to `last` (linked through their `next_chain`), already
    /// counted.
    ///
    /// # Safety
    /// The chains are ours alone and free, each first block holding its chain's length.
    unsafe fn push(&self, first: *mut Block, last: *mut Block) {
        let mut head = self.head.load(Relaxed);
        loop {
            // SAFETY: the chains are ours until the CAS below publishes them.
            unsafe {
                (*last).access.touch();
                (*chain_head(last)).next_chain = head;
            }
            // Release: publishes our reads of the tasks, the links and the lengths to the
            // taker's Acquire `swap` in `take_chain`. (The seeded bug for the loom CI check
            // makes it Relaxed.)
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
        let mut chain = self.head.load(Relaxed);
        while !chain.is_null() {
            // SAFETY: nobody pushes or takes any more: the stack's chains are ours, free, each
            // linked to its end and to the next chain.
            unsafe {
                (*chain).access.touch();
                let next_chain = (*chain_head(chain)).next_chain;
                free_list(chain);
                chain = next_chain;
            }
        }
    }
}

/// The words of a free block that heads a chain in a pool's stack: its link within the
/// chain (the same word as `Body::next`), the next chain, and the chain's length.
#[repr(C)]
struct ChainHead {
    next: *mut Block,
    next_chain: *mut Block,
    len: usize,
}

/// The chain words of a free block.
///
/// # Safety
/// `block` is a live block; the words may be read only as written (by a push).
unsafe fn chain_head(block: *mut Block) -> *mut ChainHead {
    const { assert!(mem::size_of::<ChainHead>() <= mem::size_of::<Body>()) };
    // SAFETY: the body is 64 bytes aligned to 16, room for the three words (checked above).
    unsafe { ptr::addr_of_mut!((*block).body).cast::<ChainHead>() }
}

/// Keeps `list` (`len` free blocks, the rest of a chain just taken) as this thread's list,
/// which is empty.
#[cfg(not(loom))]
fn keep_rest(list: *mut Block, len: usize) {
    if LOCAL.try_with(|local| local.adopt(list, len)).is_err() {
        // The thread is exiting (its list is gone).
        // SAFETY: the list is ours, free, and linked to its end.
        unsafe { free_list(list) };
    }
}

/// Under loom every chain is one block: nothing is left to keep.
#[cfg(loom)]
fn keep_rest(_list: *mut Block, _len: usize) {
    unreachable!("a chain of more than one block under loom");
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
    /// How many blocks the list holds.
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
        self.counted.set(self.counted.get() - 1);
        Some(block)
    }

    /// Adopts `list` of `len` blocks (the rest of a chain) as the list, which is empty.
    fn adopt(&self, list: *mut Block, len: usize) {
        debug_assert!(self.head.get().is_null() && len < CHAIN);
        self.head.set(list);
        self.counted.set(len);
    }

    /// Keeps `block`; when the list then holds more than [`LOCAL_MAX`], detaches its first
    /// [`CHAIN`] blocks and returns that chain's first and last block.
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
            // SAFETY: the list holds `counted` (> CHAIN) blocks, all ours.
            last = unsafe { (*last).body.next };
        }
        // SAFETY: as above; the chain ends at `last`, which `push_chain` cuts.
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
