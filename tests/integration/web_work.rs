//! Web pages: work (being written).
