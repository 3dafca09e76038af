//! Governance (being written).

pub mod tally;
