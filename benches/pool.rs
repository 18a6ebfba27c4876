//! Placeholder: the ThreadPool benchmarks land with its issue.
fn main() {}
