//! This plugin's configuration values for the calling coop, as typed
//! values.
//!
//! Parameters are declared in the plugin's `plugin.toml` with a type and a
//! default; the host sends them as JSON text.

use serde::de::DeserializeOwned;

use crate::Error;
use crate::wit::coop::host::config as raw;

/// The value of parameter `name` (the manifest default when the coop did
/// not set it), or `None` if the manifest does not declare it.
///
/// Fails with `internal` when the value does not fit `T`: the manifest and
/// the code disagree, which is the plugin's bug, not the caller's.
pub fn get<T: DeserializeOwned>(name: &str) -> Result<Option<T>, Error> {
    raw::get(name)?.map(|json| parse(name, &json)).transpose()
}

/// The value of parameter `name`, or `default` if the manifest does not
/// declare it.
pub fn get_or<T: DeserializeOwned>(name: &str, default: T) -> Result<T, Error> {
    Ok(get(name)?.unwrap_or(default))
}

/// Every declared parameter with its current value as JSON text, sorted by
/// name.
pub fn get_all() -> Result<Vec<(String, String)>, Error> {
    raw::get_all()
}

fn parse<T: DeserializeOwned>(name: &str, json: &str) -> Result<T, Error> {
    serde_json::from_str(json).map_err(|e| {
        Error::internal(format!(
            "config parameter {name} has value {json} that this plugin cannot read ({e}): \
             check its type in plugin.toml"
        ))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_json_text_into_the_asked_type() {
        assert_eq!(parse::<u32>("cap", "3").unwrap(), 3);
        assert_eq!(parse::<String>("mode", "\"bike\"").unwrap(), "bike");
        assert_eq!(
            parse::<u32>("cap", "\"three\"").unwrap_err().kind(),
            "internal"
        );
    }
}
