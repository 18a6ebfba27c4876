use atomsync::{Condvar, Mutex};
use std::sync::Arc;
use std::thread;

#[test]
fn sixteen_threads_count_exactly() {
    let m = Arc::new(Mutex::new(0u64));
    let hs: Vec<_> = (0..16).map(|_| { let m = m.clone(); thread::spawn(move || for _ in 0..100_000 { *m.lock() += 1; }) }).collect();
    for h in hs { h.join().unwrap(); }
    assert_eq!(*m.lock(), 1_600_000);
}

#[test]
fn notify_all_wakes_32() {
    let p = Arc::new((Mutex::new((false, 0u32)), Condvar::new()));
    let hs: Vec<_> = (0..32).map(|_| { let p = p.clone(); thread::spawn(move || {
        let mut g = p.0.lock();
        g.1 += 1;
        p.1.wait_while(&mut g, |s| !s.0);
    })}).collect();
    loop { if p.0.lock().1 == 32 { break } thread::yield_now(); }
    p.0.lock().0 = true;
    p.1.notify_all();
    for h in hs { h.join().unwrap(); }
}

#[test]
fn fair_and_timed_mix() {
    let m = Arc::new(Mutex::new(0u64));
    let hs: Vec<_> = (0..8).map(|i| { let m = m.clone(); thread::spawn(move || for j in 0..20_000 {
        if i % 2 == 0 { let mut g = m.lock(); *g += 1; if j % 3 == 0 { atomsync::MutexGuard::unlock_fair(g); } }
        else { loop { if let Some(mut g) = m.try_lock_for(std::time::Duration::from_micros(50)) { *g += 1; break; } } }
    }) }).collect();
    for h in hs { h.join().unwrap(); }
    assert_eq!(*m.lock(), 160_000);
}
