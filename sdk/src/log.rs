//! Structured logging into the host's logs, tagged by the host with coop,
//! plugin and call.
//!
//! The macros [`trace!`](crate::trace), [`debug!`](crate::debug),
//! [`info!`](crate::info), [`warn!`](crate::warn) and
//! [`error!`](crate::error) take `format!` arguments.

pub use crate::wit::coop::host::log::{Level, log};

/// Log `message` at trace level.
pub fn trace(message: &str) {
    log(Level::Trace, message);
}

/// Log `message` at debug level.
pub fn debug(message: &str) {
    log(Level::Debug, message);
}

/// Log `message` at info level.
pub fn info(message: &str) {
    log(Level::Info, message);
}

/// Log `message` at warn level.
pub fn warn(message: &str) {
    log(Level::Warn, message);
}

/// Log `message` at error level.
pub fn error(message: &str) {
    log(Level::Error, message);
}

/// Log a `format!` message at trace level.
#[macro_export]
macro_rules! trace {
    ($($arg:tt)*) => { $crate::log::trace(&::std::format!($($arg)*)) };
}

/// Log a `format!` message at debug level.
#[macro_export]
macro_rules! debug {
    ($($arg:tt)*) => { $crate::log::debug(&::std::format!($($arg)*)) };
}

/// Log a `format!` message at info level.
#[macro_export]
macro_rules! info {
    ($($arg:tt)*) => { $crate::log::info(&::std::format!($($arg)*)) };
}

/// Log a `format!` message at warn level.
#[macro_export]
macro_rules! warn {
    ($($arg:tt)*) => { $crate::log::warn(&::std::format!($($arg)*)) };
}

/// Log a `format!` message at error level.
#[macro_export]
macro_rules! error {
    ($($arg:tt)*) => { $crate::log::error(&::std::format!($($arg)*)) };
}
