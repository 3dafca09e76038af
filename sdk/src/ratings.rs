//! Record a rating of a worker for a job, by the call's caller. The host
//! keeps ratings for the worker, who sees and may contest each; a plugin
//! only reads a summary. See `wit/host/ratings.wit`.

pub use crate::wit::coop::host::ratings::{RatingSummary, rate, summary};

/// Lowest score.
pub const MIN_SCORE: u8 = 1;
/// Highest score.
pub const MAX_SCORE: u8 = 5;
