//! Governance: the coop's rules, proposals and votes, and decisions that
//! apply themselves, recorded in a hash-chained decision log
//! ([`crate::chain`], chain [`proposals::DECISIONS`]).
//!
//! - [`tally`]: the pure vote-counting core (methods, quorum, threshold).
//! - [`rules`]: the coop's versioned governance rules and colleges.
//! - [`proposals`]: opening, voting, closing, applying; direct changes
//!   where the rules still allow them.
//! - [`terms`]: terms of service with a notice period and acceptances.
//! - [`grants`]: the one check and record every grant of a role goes
//!   through.

pub mod commons;
pub mod grants;
pub mod membership;
pub mod proposals;
pub mod rules;
pub mod tally;
pub mod terms;
