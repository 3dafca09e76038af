//! Web pages: data (being written).
