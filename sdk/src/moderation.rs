//! Flag a member for the coop's admins. A plugin is an automated system:
//! it can flag, never suspend or remove anyone. A person decides, with a
//! written reason the member can appeal. See `wit/host/moderation.wit`.
//!
//! A flag raised in a call that fails is never raised.

pub use crate::wit::coop::host::moderation::flag;
