//! Ids of sandboxes, executions and accounts: UUIDs the server makes
//! (lowercase, hyphenated), parsed once where a caller hands one in, so a
//! malformed id is refused at the edge and never reaches a use case.

use std::fmt;

/// An id that is not a server-made UUID.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{kind} ids are UUIDs such as 0b6f1c2e-7c1a-4e8e-9d2f-3a4b5c6d7e8f")]
pub struct MalformedId {
    pub kind: &'static str,
}

/// Whether `text` is a lowercase hyphenated UUID (8-4-4-4-12 hex digits).
fn is_uuid(text: &str) -> bool {
    text.len() == 36
        && text.char_indices().all(|(i, c)| match i {
            8 | 13 | 18 | 23 => c == '-',
            _ => c.is_ascii_digit() || ('a'..='f').contains(&c),
        })
}

macro_rules! uuid_id {
    ($(#[$doc:meta])* $name:ident, $kind:literal) => {
        $(#[$doc])*
        #[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub struct $name(String);

        impl $name {
            /// The id `text` names, if it is one.
            pub fn parse(text: &str) -> Result<$name, MalformedId> {
                if is_uuid(text) {
                    Ok($name(text.to_string()))
                } else {
                    Err(MalformedId { kind: $kind })
                }
            }

            /// An id the server made and recorded itself (read back from
            /// its views or events): not a caller's text, so not parsed
            /// again. What a caller sends goes through `parse`.
            pub fn recorded(id: impl Into<String>) -> $name {
                $name(id.into())
            }

            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl std::ops::Deref for $name {
            type Target = str;

            fn deref(&self) -> &str {
                &self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }
    };
}

uuid_id!(
    /// A sandbox's id (its event stream's).
    SandboxId,
    "sandbox"
);
uuid_id!(
    /// An execution's id.
    ExecutionId,
    "execution"
);
uuid_id!(
    /// An account's id (its event stream's).
    AccountId,
    "account"
);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_server_made_uuids_parse() {
        let id = "0b6f1c2e-7c1a-4e8e-9d2f-3a4b5c6d7e8f";
        assert_eq!(SandboxId::parse(id).map(|s| s.to_string()), Ok(id.into()));
        for bad in [
            "",
            "nope",
            "0B6F1C2E-7C1A-4E8E-9D2F-3A4B5C6D7E8F",
            "0b6f1c2e7c1a4e8e9d2f3a4b5c6d7e8f",
            "0b6f1c2e-7c1a-4e8e-9d2f-3a4b5c6d7e8f0",
            "0b6f1c2e-7c1a-4e8e-9d2f-3a4b5c6d7e8g",
            "../../etc/passwd-aaaa-aaaa-aaaaaaaaaaaa",
            "0b6f1c2e-7c1a-4e8e-9d2f-3a4b5c6d7é",
        ] {
            assert_eq!(
                ExecutionId::parse(bad),
                Err(MalformedId { kind: "execution" }),
                "{bad:?}"
            );
        }
    }
}
