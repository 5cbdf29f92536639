//! Environment variables a client gives a command: checked names (no
//! `SOCKT_` ones: those are Sockt's), bounded size, no NUL bytes. Values may
//! be secrets, so `Debug` shows the names only and nothing here is ever
//! recorded in an event.

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// A sandbox's environment as its events keep it: the names in clear (the
/// status shows them), the values sealed with a key of the store's own
/// (`commands::sealed_env`), never readable from the event log alone.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SealedEnv {
    pub names: Vec<String>,
    /// Hex of the 12-byte nonce.
    pub nonce: String,
    /// Hex of the sealed JSON of the variables, with its tag.
    pub sealed: String,
}

/// Most variables in one set.
pub const MAX_VARS: usize = 100;
/// Most bytes of names and values together.
pub const MAX_BYTES: usize = 32 << 10;

#[derive(Clone, Default, PartialEq, Eq)]
pub struct EnvVars(BTreeMap<String, String>);

impl std::fmt::Debug for EnvVars {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_set().entries(self.0.keys()).finish()
    }
}

impl EnvVars {
    pub fn new(vars: BTreeMap<String, String>) -> Result<EnvVars, String> {
        if vars.len() > MAX_VARS {
            return Err(format!("env: at most {MAX_VARS} variables"));
        }
        let size: usize = vars.iter().map(|(k, v)| k.len() + v.len()).sum();
        if size > MAX_BYTES {
            return Err(format!(
                "env: at most {MAX_BYTES} bytes of names and values"
            ));
        }
        for (name, value) in &vars {
            let mut chars = name.chars();
            let well_formed = chars
                .next()
                .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
                && chars.all(|c| c.is_ascii_alphanumeric() || c == '_');
            if !well_formed {
                return Err(format!(
                    "env: {name:?} is not a variable name ([A-Za-z_][A-Za-z0-9_]*)"
                ));
            }
            if name.to_ascii_uppercase().starts_with("SOCKT_") {
                return Err(format!(
                    "env: {name} is reserved (SOCKT_ variables are Sockt's)"
                ));
            }
            if value.contains('\0') {
                return Err(format!("env: the value of {name} holds a NUL byte"));
            }
        }
        Ok(EnvVars(vars))
    }

    /// `NAME=value` entries.
    pub fn entries(&self) -> impl Iterator<Item = String> + '_ {
        self.0.iter().map(|(k, v)| format!("{k}={v}"))
    }

    /// Each variable as a (name, value) pair.
    pub fn pairs(&self) -> impl Iterator<Item = (String, String)> + '_ {
        self.0.iter().map(|(k, v)| (k.clone(), v.clone()))
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    pub fn names(&self) -> Vec<String> {
        self.0.keys().cloned().collect()
    }

    /// The variables as JSON (to be sealed).
    pub fn to_json(&self) -> String {
        serde_json::to_string(&self.0).unwrap_or_else(|_| "{}".to_string())
    }

    /// Variables from their JSON, checked again.
    pub fn from_json(json: &str) -> Result<EnvVars, String> {
        let vars: BTreeMap<String, String> =
            serde_json::from_str(json).map_err(|e| format!("env: {e}"))?;
        EnvVars::new(vars)
    }

    /// These variables, then `later` ones (which win).
    pub fn merged_with(&self, later: &EnvVars) -> EnvVars {
        let mut all = self.0.clone();
        all.extend(later.0.clone());
        EnvVars(all)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vars(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn names_are_checked_and_values_never_shown() {
        let ok = EnvVars::new(vars(&[("API_TOKEN", "s3cret"), ("_x1", "")])).unwrap();
        assert_eq!(
            ok.entries().collect::<Vec<_>>(),
            vec!["API_TOKEN=s3cret", "_x1="]
        );
        assert!(!format!("{ok:?}").contains("s3cret"));
        for bad in [
            ("1X", "v"),
            ("A-B", "v"),
            ("", "v"),
            ("SOCKT_EXEC_ID", "v"),
            ("sockt_x", "v"),
            ("A", "a\0b"),
        ] {
            assert!(EnvVars::new(vars(&[bad])).is_err(), "{bad:?}");
        }
        let big = "x".repeat(MAX_BYTES);
        assert!(EnvVars::new(vars(&[("A", &big)])).is_err());
    }
}
