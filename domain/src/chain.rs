//! Tamper evidence: every commit to a stream carries, in its metadata, the
//! hash of the previous commit (`chain_prev`) and a hash over itself chained
//! to it (`chain_hash`). Editing, deleting or reordering stored events breaks
//! the chain. Payloads are hashed in canonical JSON (keys sorted).

use sha2::{Digest, Sha256};

pub const PREV_KEY: &str = "chain_prev";
pub const HASH_KEY: &str = "chain_hash";
/// The `chain_prev` of a stream's first commit.
pub const GENESIS: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// One event as hashed: its sequence, type, version and payload.
pub struct ChainedEvent<'a> {
    pub sequence: usize,
    pub event_type: &'a str,
    pub event_version: &'a str,
    pub payload: &'a serde_json::Value,
}

/// The hash of a commit of `events` to stream (`aggregate_type`, `aggregate_id`) after `prev`.
pub fn commit_hash(
    prev: &str,
    aggregate_type: &str,
    aggregate_id: &str,
    events: &[ChainedEvent<'_>],
) -> String {
    let mut hasher = Sha256::new();
    for part in [prev, aggregate_type, aggregate_id] {
        hasher.update(part.len().to_be_bytes());
        hasher.update(part.as_bytes());
    }
    for event in events {
        // serde_json's Map keeps keys sorted: this is the canonical form.
        let payload = event.payload.to_string();
        hasher.update(event.sequence.to_be_bytes());
        for part in [event.event_type, event.event_version, payload.as_str()] {
            hasher.update(part.len().to_be_bytes());
            hasher.update(part.as_bytes());
        }
    }
    hex::encode(hasher.finalize())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn hash(payload: serde_json::Value, sequence: usize) -> String {
        commit_hash(
            GENESIS,
            "Sandbox",
            "s",
            &[ChainedEvent {
                sequence,
                event_type: "E",
                event_version: "1.0",
                payload: &payload,
            }],
        )
    }

    #[test]
    fn any_change_changes_the_hash() {
        let base = hash(json!({"a": 1, "b": 2}), 1);
        assert_eq!(
            base,
            hash(json!({"b": 2, "a": 1}), 1),
            "key order does not matter"
        );
        assert_ne!(base, hash(json!({"a": 1, "b": 3}), 1));
        assert_ne!(base, hash(json!({"a": 1, "b": 2}), 2));
        assert_ne!(base, commit_hash("x", "Sandbox", "s", &[]));
    }
}
