//! Work shifts as the host records them: read-only for plugins.

pub use crate::wit::coop::host::shifts::{OpenShift, current};

use crate::Error;

/// Whether `member` is on shift now.
pub fn is_on_shift(member: &str) -> Result<bool, Error> {
    Ok(current(member)?.is_some())
}
