//! Web pages: mydata.
