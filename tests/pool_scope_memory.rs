//! A scope frees the memory of its tasks' jobs (`src/pool/slab.rs`): after many scopes, the
//! bytes the process holds are back where they were. A counting global allocator, so this is
//! a test binary of its own.

mod common;

use atomsync::ThreadPool;
use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::AtomicIsize;
use std::sync::atomic::Ordering::SeqCst;

/// The system allocator, counting the bytes held.
struct Counting;

static HELD: AtomicIsize = AtomicIsize::new(0);

// SAFETY: forwards to `System`, which upholds `GlobalAlloc`'s contract; the counter changes
// nothing about the memory returned.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        HELD.fetch_add(layout.size() as isize, SeqCst);
        // SAFETY: forwarded from the caller.
        unsafe { System.alloc(layout) }
    }

    unsafe fn dealloc(&self, pointer: *mut u8, layout: Layout) {
        HELD.fetch_sub(layout.size() as isize, SeqCst);
        // SAFETY: forwarded from the caller.
        unsafe { System.dealloc(pointer, layout) }
    }
}

#[global_allocator]
static ALLOCATOR: Counting = Counting;

#[test]
fn scopes_give_back_the_memory_of_their_jobs() {
    common::within(|| {
        let pool = ThreadPool::new(2);
        let mut out = vec![0usize; 5_000];
        let mut scopes = |count: usize| {
            for _ in 0..count {
                pool.install(|| {}); // the same warm-up for the pool's own structures
                for installed in [false, true] {
                    let body = |out: &mut Vec<usize>| {
                        pool.scope(|s| {
                            for (i, slot) in out.iter_mut().enumerate() {
                                s.spawn(move || *slot = i);
                            }
                        })
                    };
                    if installed { pool.install(|| body(&mut out)) } else { body(&mut out) }
                }
            }
        };
        scopes(20); // warm up: the deques' buffers, crossbeam-epoch's per-thread state
        let before = HELD.load(SeqCst);
        scopes(200);
        let grown = HELD.load(SeqCst) - before;
        // Measured: within 0.1 MiB either way; with the slab's chunks never freed, 56 MiB
        // more. The bound leaves room for frees that crossbeam-epoch defers (each scope's
        // queue retires its outgrown buffers, about 0.2 MiB, freed once every thread has
        // moved on), on a loaded machine.
        assert!(grown < 16 << 20, "{grown} bytes more held after 400 scopes");
        assert!(out.iter().enumerate().all(|(i, &x)| x == i));
    });
}
