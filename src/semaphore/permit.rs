//! One permit type for both ways of holding a [`Semaphore`], as tokio names them:
//! [`SemaphorePermit`] borrows the semaphore, [`OwnedSemaphorePermit`] holds an `Arc` of it.
//! Everything but `merge`, `semaphore` and the `Debug` name (which differ) is written once.

use super::raw::MAX;
use super::{AcquireError, Semaphore, TryAcquireError};
use std::fmt;
use std::ops::Deref;
use std::sync::Arc;
use std::time::Instant;

/// Permits acquired from a [`Semaphore`]; released on drop.
///
/// ```
/// let semaphore = atomsync::Semaphore::new(4);
/// let mut permit = semaphore.acquire_many(3).unwrap();
/// let one = permit.split(1).unwrap();
/// assert_eq!((permit.num_permits(), one.num_permits()), (2, 1));
/// permit.merge(one);
/// permit.forget();
/// assert_eq!(semaphore.available_permits(), 1);
/// ```
pub type SemaphorePermit<'a> = Permit<&'a Semaphore>;

/// Permits acquired through an `Arc<Semaphore>` ([`Semaphore::acquire_owned`] and friends):
/// `'static` and `Send`, released on drop.
///
/// ```
/// use std::sync::Arc;
/// let semaphore = Arc::new(atomsync::Semaphore::new(2));
/// let mut permit = Arc::clone(&semaphore).acquire_many_owned(2).unwrap();
/// let half = permit.split(1).unwrap();
/// std::thread::spawn(move || drop(half)).join().unwrap();
/// assert_eq!(semaphore.available_permits(), 1);
/// ```
pub type OwnedSemaphorePermit = Permit<Arc<Semaphore>>;

/// Permits of a [`Semaphore`] reached through `S`: the one type behind [`SemaphorePermit`]
/// (`S = &Semaphore`) and [`OwnedSemaphorePermit`] (`S = Arc<Semaphore>`), tokio's two names,
/// which are how to name it. Released on drop. Public so that the aliases' pages list its
/// methods; no other `S` can be acquired.
#[must_use = "dropping a permit releases it at once"]
pub struct Permit<S: Deref<Target = Semaphore>> {
    semaphore: S,
    permits: u32,
}

impl<S: Deref<Target = Semaphore>> Permit<S> {
    /// Blocks for `n` permits of `semaphore` until `deadline` (`None`: forever).
    #[inline]
    pub(super) fn acquire(
        semaphore: S,
        n: u32,
        deadline: Option<Instant>,
    ) -> Result<Self, AcquireError> {
        let permits = semaphore.acquire_raw(n, deadline)?;
        Ok(Self { semaphore, permits })
    }

    /// Takes `n` permits of `semaphore` if that is possible now.
    #[inline]
    pub(super) fn try_acquire(semaphore: S, n: u32) -> Result<Self, TryAcquireError> {
        let permits = semaphore.try_acquire_raw(n)?;
        Ok(Self { semaphore, permits })
    }

    /// How many permits this holds.
    ///
    /// ```
    /// let semaphore = atomsync::Semaphore::new(2);
    /// assert_eq!(semaphore.acquire_many(2).unwrap().num_permits(), 2);
    ///
    /// let semaphore = std::sync::Arc::new(atomsync::Semaphore::new(1));
    /// assert_eq!(semaphore.acquire_owned().unwrap().num_permits(), 1);
    /// ```
    pub fn num_permits(&self) -> usize {
        self.permits as usize
    }

    /// Drops the permit without releasing its permits: the semaphore has that many fewer
    /// (and room for that many more under [`Semaphore::MAX_PERMITS`]).
    ///
    /// ```
    /// let semaphore = atomsync::Semaphore::new(2);
    /// semaphore.acquire().unwrap().forget();
    /// assert_eq!(semaphore.available_permits(), 1);
    ///
    /// use std::sync::Arc;
    /// let semaphore = Arc::new(atomsync::Semaphore::new(1));
    /// Arc::clone(&semaphore).acquire_owned().unwrap().forget();
    /// assert_eq!(semaphore.available_permits(), 0);
    /// ```
    pub fn forget(mut self) {
        if self.permits > 0 {
            self.semaphore.forget_total(self.permits);
            self.permits = 0;
        }
    }

    /// Moves `n` of this permit's permits into a new permit; `None` (and no change) if it
    /// holds fewer than `n`.
    ///
    /// ```
    /// let semaphore = atomsync::Semaphore::new(2);
    /// let mut permit = semaphore.acquire_many(2).unwrap();
    /// assert!(permit.split(3).is_none());
    /// let other = permit.split(2).unwrap();
    /// assert_eq!((permit.num_permits(), other.num_permits()), (0, 2));
    ///
    /// use std::sync::Arc;
    /// let semaphore = Arc::new(atomsync::Semaphore::new(2));
    /// let mut permit = semaphore.acquire_many_owned(2).unwrap();
    /// assert_eq!(permit.split(1).unwrap().num_permits(), 1);
    /// ```
    pub fn split(&mut self, n: usize) -> Option<Self>
    where
        S: Clone,
    {
        let n = u32::try_from(n).ok().filter(|&n| n <= self.permits)?;
        self.permits -= n;
        Some(Self { semaphore: self.semaphore.clone(), permits: n })
    }

    /// The body of both `merge`s: moves `other`'s permits into this one.
    fn merge_from<T: Deref<Target = Semaphore>>(&mut self, mut other: Permit<T>) {
        assert!(
            std::ptr::eq(&*self.semaphore, &*other.semaphore),
            "merging permits from different semaphores"
        );
        // Permits of one semaphore that exist at once: at most MAX_PERMITS (`mod.rs`, Limits),
        // so the sum fits.
        self.permits = self
            .permits
            .checked_add(other.permits)
            .filter(|&sum| sum <= MAX)
            .expect("permits of one semaphore exceed MAX_PERMITS");
        other.permits = 0;
    }

    /// The body of both `Debug` impls, under each alias's name.
    fn debug_as(&self, name: &str, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct(name).field("permits", &self.permits).finish()
    }
}

impl<'a> Permit<&'a Semaphore> {
    /// Moves `other`'s permits into this one.
    ///
    /// # Panics
    /// If `other` comes from another semaphore.
    ///
    /// ```
    /// let semaphore = atomsync::Semaphore::new(2);
    /// let mut permit = semaphore.acquire().unwrap();
    /// permit.merge(semaphore.acquire().unwrap());
    /// assert_eq!(permit.num_permits(), 2);
    /// ```
    pub fn merge(&mut self, other: SemaphorePermit<'_>) {
        self.merge_from(other);
    }

    /// The semaphore the permits belong to.
    ///
    /// ```
    /// let semaphore = atomsync::Semaphore::new(1);
    /// let permit = semaphore.acquire().unwrap();
    /// assert!(std::ptr::eq(permit.semaphore(), &semaphore));
    /// ```
    pub fn semaphore(&self) -> &'a Semaphore {
        self.semaphore
    }
}

impl Permit<Arc<Semaphore>> {
    /// Moves `other`'s permits into this one.
    ///
    /// # Panics
    /// If `other` comes from another semaphore.
    ///
    /// ```
    /// use std::sync::Arc;
    /// let semaphore = Arc::new(atomsync::Semaphore::new(2));
    /// let mut permit = Arc::clone(&semaphore).acquire_owned().unwrap();
    /// permit.merge(semaphore.acquire_owned().unwrap());
    /// assert_eq!(permit.num_permits(), 2);
    /// ```
    pub fn merge(&mut self, other: OwnedSemaphorePermit) {
        self.merge_from(other);
    }

    /// The semaphore the permits belong to.
    ///
    /// ```
    /// use std::sync::Arc;
    /// let semaphore = Arc::new(atomsync::Semaphore::new(1));
    /// let permit = Arc::clone(&semaphore).acquire_owned().unwrap();
    /// assert!(Arc::ptr_eq(permit.semaphore(), &semaphore));
    /// ```
    pub fn semaphore(&self) -> &Arc<Semaphore> {
        &self.semaphore
    }
}

impl fmt::Debug for SemaphorePermit<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.debug_as("SemaphorePermit", f)
    }
}

impl fmt::Debug for OwnedSemaphorePermit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.debug_as("OwnedSemaphorePermit", f)
    }
}

impl<S: Deref<Target = Semaphore>> Drop for Permit<S> {
    #[inline]
    fn drop(&mut self) {
        if self.permits > 0 {
            self.semaphore.release(self.permits);
        }
    }
}
