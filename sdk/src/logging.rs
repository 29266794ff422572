//! Log lines for the plugin's developer and the community admin (WIT `logging`). Always
//! available, no capability needed; the host caps how many bytes one invocation may log.
//!
//! Usually used through the macros [`trace!`](crate::trace), [`debug!`](crate::debug),
//! [`info!`](crate::info), [`warn!`](crate::warn) and [`error!`](crate::error), which take
//! `format!`-style arguments:
//!
//! ```
//! let name = "Ada";
//! plaza_sdk::info!("greeted {name}");
//! plaza_sdk::warn!("could not greet {}: {}", name, "messages:send not granted");
//! ```

pub use crate::bindings::plaza::plugin::logging::Level;

/// Records one log line at `level`.
pub fn log(level: Level, message: &str) {
    crate::sys::logging::log(level, message)
}

/// Logs a formatted line at [`Level::Trace`]: `plaza_sdk::trace!("x = {x}")`.
#[macro_export]
macro_rules! trace {
    ($($arg:tt)+) => {
        $crate::logging::log($crate::logging::Level::Trace, &::std::format!($($arg)+))
    };
}

/// Logs a formatted line at [`Level::Debug`]: `plaza_sdk::debug!("x = {x}")`.
#[macro_export]
macro_rules! debug {
    ($($arg:tt)+) => {
        $crate::logging::log($crate::logging::Level::Debug, &::std::format!($($arg)+))
    };
}

/// Logs a formatted line at [`Level::Info`]: `plaza_sdk::info!("x = {x}")`.
#[macro_export]
macro_rules! info {
    ($($arg:tt)+) => {
        $crate::logging::log($crate::logging::Level::Info, &::std::format!($($arg)+))
    };
}

/// Logs a formatted line at [`Level::Warn`]: `plaza_sdk::warn!("x = {x}")`.
#[macro_export]
macro_rules! warn {
    ($($arg:tt)+) => {
        $crate::logging::log($crate::logging::Level::Warn, &::std::format!($($arg)+))
    };
}

/// Logs a formatted line at [`Level::Error`]: `plaza_sdk::error!("x = {x}")`.
#[macro_export]
macro_rules! error {
    ($($arg:tt)+) => {
        $crate::logging::log($crate::logging::Level::Error, &::std::format!($($arg)+))
    };
}
