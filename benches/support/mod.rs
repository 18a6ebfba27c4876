//! The one measurement harness behind every bench (`benches/*.rs`) and the quick comparison
//! (`examples/compare.rs`): threads released together, a stop flag or a shared operation
//! total, per-thread counts, medians of interleaved runs, the tables, and the workloads they
//! measure, so that a bench and the example measure the same code.
//!
//! How it is included: a bench is its own crate whose root sits in `benches/`, so `mod
//! support;` finds this directory; the example's root sits in `examples/`, so it names the
//! file with `#[path = "../benches/support/mod.rs"] mod support;` (a file reached through
//! `#[path]` and named `mod.rs` resolves its own `mod` items in its directory, here). No
//! shared crate: a dev-only crate depending on atomsync would link a second copy of atomsync
//! into the benches and make its types differ from the ones they name. The directory has no
//! `main.rs`, so cargo does not take it for a bench target of its own.
//!
//! Each target uses only part of this module, hence `#[allow(dead_code)]` where it is
//! included. The items are `pub` because they are this module's interface, not because a
//! target reaches into another target's file.

pub mod condvar;
pub mod groups;
pub mod harness;
pub mod latency;
pub mod machine;
pub mod mutex;
pub mod pool;
pub mod rwlock;
pub mod semaphore;
pub mod table;
