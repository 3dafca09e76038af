//! Web pages: pay.
