//! Web pages: delivery (being written).
