//! Instrumentation (feature `tracing`): the macros the core reports through. Without the
//! feature they expand to nothing, so the core pays nothing for them.

/// An info event (role and term changes, transfers, membership, snapshots).
macro_rules! info {
    ($($arg:tt)*) => {
        #[cfg(feature = "tracing")]
        {
            tracing::info!($($arg)*);
        }
    };
}

/// A debug event (every message handled).
macro_rules! debug {
    ($($arg:tt)*) => {
        #[cfg(feature = "tracing")]
        {
            tracing::debug!($($arg)*);
        }
    };
}

pub(crate) use {debug, info};
