//! Web pages: governance (being written).
