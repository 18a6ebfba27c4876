//! How the raw types implement lock_api's raw traits: 0.5's (`mutex/lock_api_impls.rs`,
//! `rwlock/lock_api_impls.rs`) and 0.4's (`lock_api_04/`). Every trait method is a call into
//! the raw type's guard-free inherent method of the same name (the fair unlocks and the `_for`
//! forms call another one), so `forward_to_inherent!` writes them from the traits' own method
//! declarations, and each impl reads as what the trait declares plus its safety argument.

use crate::futex;
use std::time::{Duration, Instant};

/// A lock_api time limit as the deadline that the raw types' `_until` methods take.
pub(crate) trait Deadline {
    fn deadline(self) -> Option<Instant>;
}

impl Deadline for Instant {
    fn deadline(self) -> Option<Instant> {
        Some(self)
    }
}

impl Deadline for Duration {
    /// From now; a timeout too long to represent (`Duration::MAX`) is no deadline: it waits
    /// forever.
    fn deadline(self) -> Option<Instant> {
        futex::deadline_after(self)
    }
}

/// Writes lock_api raw-trait impls whose methods are given as the trait declares them: each
/// calls the inherent method of the same name, or the one named after `=>`, and passes a time
/// limit on as its [`Deadline`]. Associated constants and types are written out as usual:
///
/// ```text
/// forward_to_inherent! {
///     // SAFETY: ...
///     unsafe impl lock_api::RawMutexTimed for RawMutex {
///         type Duration = Duration;
///         type Instant = Instant;
///
///         fn try_lock_for(&self, timeout: Duration) -> Option<Self::Guard> => try_lock_until;
///         fn try_lock_until(&self, deadline: Instant) -> Option<Self::Guard>;
///     }
/// }
/// ```
///
/// lock_api 0.5's guards are `GuardSend` markers, which carry nothing: an acquisition makes
/// one once the inherent method holds the lock, a release or conversion drops the one it is
/// given, and a try-upgrade that fails hands it back. Every other method (lock_api 0.4's, and
/// 0.5's queries) returns what the inherent method returns.
macro_rules! forward_to_inherent {
    () => {};
    (unsafe impl $($trait:ident)::+ for $raw:ident { $($items:tt)* } $($rest:tt)*) => {
        unsafe impl $($trait)::+ for $raw {
            $crate::lock_api_glue::forward_to_inherent!(@items $($items)*);
        }
        $crate::lock_api_glue::forward_to_inherent!($($rest)*);
    };
    (@items) => {};
    (@items const $name:ident: $ty:ty = $value:expr; $($rest:tt)*) => {
        const $name: $ty = $value;
        $crate::lock_api_glue::forward_to_inherent!(@items $($rest)*);
    };
    (@items type $name:ident = $ty:ty; $($rest:tt)*) => {
        type $name = $ty;
        $crate::lock_api_glue::forward_to_inherent!(@items $($rest)*);
    };
    // 0.5: a blocking acquisition.
    (@items fn $name:ident(&self) -> Self::$guard:ident; $($rest:tt)*) => {
        #[inline]
        fn $name(&self) -> Self::$guard {
            self.$name();
            ::lock_api::GuardSend::new()
        }
        $crate::lock_api_glue::forward_to_inherent!(@items $($rest)*);
    };
    // 0.5: an attempt, untimed or timed.
    (
        @items fn $name:ident(&self $(, $arg:ident: $limit:ty)?) -> Option<Self::$guard:ident>
            $(=> $target:ident)?;
        $($rest:tt)*
    ) => {
        #[inline]
        fn $name(&self $(, $arg: $limit)?) -> Option<Self::$guard> {
            $crate::lock_api_glue::inherent_call!(self.$name $(=> $target)? ($($arg)?))
                .then(::lock_api::GuardSend::new)
        }
        $crate::lock_api_glue::forward_to_inherent!(@items $($rest)*);
    };
    // 0.5: a release.
    (
        @items unsafe fn $name:ident(&self, _guard: Self::$guard:ident) $(=> $target:ident)?;
        $($rest:tt)*
    ) => {
        #[inline]
        unsafe fn $name(&self, _guard: Self::$guard) {
            // SAFETY: the trait method requires the caller to hold the lock it releases,
            // which is what the inherent method requires.
            unsafe { $crate::lock_api_glue::inherent_call!(self.$name $(=> $target)? ()) }
        }
        $crate::lock_api_glue::forward_to_inherent!(@items $($rest)*);
    };
    // 0.5: a conversion (a downgrade, the upgrade).
    (
        @items unsafe fn $name:ident(&self, _guard: Self::$from:ident) -> Self::$to:ident;
        $($rest:tt)*
    ) => {
        #[inline]
        unsafe fn $name(&self, _guard: Self::$from) -> Self::$to {
            // SAFETY: the trait method requires the caller to hold the lock it converts,
            // which is what the inherent method requires.
            unsafe { self.$name() };
            ::lock_api::GuardSend::new()
        }
        $crate::lock_api_glue::forward_to_inherent!(@items $($rest)*);
    };
    // 0.5: a try-upgrade, untimed or timed.
    (
        @items unsafe fn $name:ident(&self, guard: Self::$from:ident $(, $arg:ident: $limit:ty)?)
            -> Result<Self::$to:ident, Self::$back:ident> $(=> $target:ident)?;
        $($rest:tt)*
    ) => {
        #[inline]
        unsafe fn $name(
            &self,
            guard: Self::$from
            $(, $arg: $limit)?
        ) -> Result<Self::$to, Self::$back> {
            // SAFETY: the trait method requires the caller to hold the upgradable lock, which
            // is what the inherent method requires (it still holds it if the upgrade fails).
            let upgraded = unsafe {
                $crate::lock_api_glue::inherent_call!(self.$name $(=> $target)? ($($arg)?))
            };
            if upgraded { Ok(::lock_api::GuardSend::new()) } else { Err(guard) }
        }
        $crate::lock_api_glue::forward_to_inherent!(@items $($rest)*);
    };
    // Any other method: the inherent method's result.
    (
        @items fn $name:ident(&self $(, $arg:ident: $limit:ty)?) $(-> $ret:ty)?
            $(=> $target:ident)?;
        $($rest:tt)*
    ) => {
        #[inline]
        fn $name(&self $(, $arg: $limit)?) $(-> $ret)? {
            $crate::lock_api_glue::inherent_call!(self.$name $(=> $target)? ($($arg)?))
        }
        $crate::lock_api_glue::forward_to_inherent!(@items $($rest)*);
    };
    (
        @items unsafe fn $name:ident(&self $(, $arg:ident: $limit:ty)?) $(-> $ret:ty)?
            $(=> $target:ident)?;
        $($rest:tt)*
    ) => {
        #[inline]
        unsafe fn $name(&self $(, $arg: $limit)?) $(-> $ret)? {
            // SAFETY: the trait method requires the caller to hold the lock it releases,
            // converts or upgrades, which is what the inherent method requires.
            unsafe {
                $crate::lock_api_glue::inherent_call!(self.$name $(=> $target)? ($($arg)?))
            }
        }
        $crate::lock_api_glue::forward_to_inherent!(@items $($rest)*);
    };
}
pub(crate) use forward_to_inherent;

/// `$self.$name(..)`, or `$self.$target(..)` after a `=> $target`, with the time limit, if
/// any, as its [`Deadline`].
macro_rules! inherent_call {
    ($self:ident.$name:ident => $target:ident($($limit:ident)?)) => {
        $self.$target($($crate::lock_api_glue::Deadline::deadline($limit))?)
    };
    ($self:ident.$name:ident($($limit:ident)?)) => {
        $crate::lock_api_glue::inherent_call!($self.$name => $name($($limit)?))
    };
}
pub(crate) use inherent_call;
