//! What the subcommands read from their flags: items and keys in DynamoDB JSON, and a write's
//! condition and expression attributes.

use std::collections::HashMap;

use dyno::aws::json::{self, Item};

use crate::failure::{Failure, usage};

/// Conditions and expression attributes of a write.
#[derive(clap::Args)]
pub struct Expressions {
    /// Only if this condition holds (a DynamoDB condition expression).
    #[arg(long)]
    pub condition: Option<String>,
    /// Expression attribute names, as JSON: '{"#n":"Name"}'.
    #[arg(long)]
    pub names: Option<String>,
    /// Expression attribute values, in DynamoDB JSON: '{":v":{"N":"1"}}'.
    #[arg(long)]
    pub values: Option<String>,
}

/// A DynamoDB JSON object given with `flag`.
pub fn parse_item(text: &str, flag: &str) -> Result<Item, Failure> {
    json::parse_item(text).map_err(|e| {
        usage(format!(
            "{flag} is not a DynamoDB JSON object: {e}; e.g. '{{\"Id\":{{\"S\":\"a\"}}}}'"
        ))
    })
}

/// `--names`: a JSON object of strings.
pub fn parse_names(text: &Option<String>) -> Result<Option<HashMap<String, String>>, Failure> {
    let Some(text) = text else {
        return Ok(None);
    };
    let value = json::parse_strict(text)
        .map_err(|e| usage(format!("--names is not a JSON object of strings: {e}")))?;
    serde_json::from_value(value)
        .map(Some)
        .map_err(|_| usage("--names must be a JSON object of strings, e.g. '{\"#n\":\"Name\"}'"))
}

/// `--values`: a DynamoDB JSON object.
pub fn parse_values(text: &Option<String>) -> Result<Option<Item>, Failure> {
    text.as_deref()
        .map(|t| parse_item(t, "--values"))
        .transpose()
}
