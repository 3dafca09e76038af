//! Emit events to the coop's members and subscribers.

pub use crate::wit::coop::host::events::emit;

use serde::Serialize;

use crate::Error;

/// Emit `payload`, serialised as JSON, on `topic`; with `to`, as a
/// notification for that member.
pub fn emit_json<T: Serialize + ?Sized>(
    topic: &str,
    payload: &T,
    to: Option<&str>,
) -> Result<(), Error> {
    let json = serde_json::to_string(payload).map_err(|e| {
        Error::internal(format!("failed to serialise the payload for {topic}: {e}"))
    })?;
    emit(topic, &json, to)
}
