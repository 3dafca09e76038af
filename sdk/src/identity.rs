//! Who is calling, as far as a plugin may know.

pub use crate::wit::coop::host::identity::{CallerInfo, CallerKind, caller, coop};

use crate::{Error, MemberId};

impl CallerInfo {
    /// Whether the caller has `role` in this coop.
    pub fn has_role(&self, role: &str) -> bool {
        self.roles.iter().any(|r| r == role)
    }
}

/// The caller's member id as this plugin sees it; `None` for anonymous and
/// host calls.
pub fn member_id() -> Option<MemberId> {
    caller().member
}

/// The caller's member id, or `access-denied` with `message` when the call
/// has none (anonymous or host calls).
pub fn require_member(message: &str) -> Result<MemberId, Error> {
    member_id().ok_or_else(|| Error::access_denied(message))
}

/// Whether the caller has `role` in this coop.
pub fn has_role(role: &str) -> bool {
    caller().has_role(role)
}
