//! Web pages: transparency (being written).
