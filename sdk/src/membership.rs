//! Read-only view of the coop's members, with ids as this plugin sees them.

pub use crate::wit::coop::host::membership::{Member, MemberStatus, get, in_college, list};
