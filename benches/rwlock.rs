//! Placeholder: the rwlock benchmarks land with its issue.
fn main() {}
