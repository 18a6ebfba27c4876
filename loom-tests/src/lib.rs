//! Loom model checks for `atomsync` live in `tests/`; this library is empty.
//!
//! Run them with `RUSTFLAGS="--cfg loom" cargo test -p atomsync-loom-tests --release`
//! (see `docs/loom.md`).
