//! Upcasting: stored events are never rewritten, so when an event's payload
//! changes shape its version is bumped (see each event's `event_version`) and
//! an upcaster registered here turns the stored JSON of the older version
//! into today's before it is deserialized. The store and every replay load
//! through this list; `fixtures/events-1.0.json` holds stored JSON of every
//! variant as first written, and the tests load it through the list.

use cqrs_es::persist::{EventUpcaster, SemanticVersionEventUpcaster, SerializedEvent};
use serde_json::Value;

/// Every upcaster, oldest first.
pub fn upcasters() -> Vec<Box<dyn EventUpcaster>> {
    vec![
        Box::new(SemanticVersionEventUpcaster::new(
            "SandboxCreated",
            "1.1",
            Box::new(sandbox_created_open_network),
        )),
        Box::new(SemanticVersionEventUpcaster::new(
            "ExecStarted",
            "1.1",
            Box::new(exec_started_names_its_runner),
        )),
        Box::new(SemanticVersionEventUpcaster::new(
            "CreditsAllocated",
            "1.1",
            Box::new(|payload| names_no_transfer(payload, "CreditsAllocated", None)),
        )),
        Box::new(SemanticVersionEventUpcaster::new(
            "CreditsReturned",
            "1.1",
            Box::new(|payload| names_no_transfer(payload, "CreditsReturned", None)),
        )),
        Box::new(SemanticVersionEventUpcaster::new(
            "BalanceExtended",
            "1.1",
            Box::new(|payload| names_no_transfer(payload, "BalanceExtended", Some("source"))),
        )),
        Box::new(SemanticVersionEventUpcaster::new(
            "WithdrawOffered",
            "1.1",
            Box::new(withdraw_link_has_no_nonce),
        )),
        Box::new(SemanticVersionEventUpcaster::new(
            "RefundIssued",
            "1.1",
            Box::new(|payload| names_no_transfer(payload, "RefundIssued", Some("destination"))),
        )),
    ]
}

/// SandboxCreated 1.0 → 1.1: sandboxes had no network policy of their
/// own (they had what the open default gives) and ran under the engine's
/// default runtime.
fn sandbox_created_open_network(mut payload: Value) -> Value {
    if let Some(fields) = payload
        .get_mut("SandboxCreated")
        .and_then(Value::as_object_mut)
    {
        fields
            .entry("network")
            .or_insert_with(|| serde_json::json!({"internet": true, "allow": [], "deny": []}));
        fields.entry("runtime").or_insert(Value::Null);
        fields.entry("env").or_insert(Value::Null);
        fields
            .entry("lifetime")
            .or_insert_with(|| serde_json::json!({"timeout_secs": null, "idle_pause_secs": null}));
    }
    payload
}

/// WithdrawOffered 1.0 → 1.1: its link's secret was random, not derived.
fn withdraw_link_has_no_nonce(mut payload: Value) -> Value {
    if let Some(fields) = payload
        .get_mut("WithdrawOffered")
        .and_then(Value::as_object_mut)
    {
        fields.entry("nonce").or_insert(Value::Null);
    }
    payload
}

/// Credit movements 1.0 → 1.1: they had no transfer id (`crate::transfers`
/// keys them by their sandbox). `inner` is the field holding the account
/// side, for sandbox events; only its `account` kind gains the id.
fn names_no_transfer(mut payload: Value, event: &str, inner: Option<&str>) -> Value {
    let Some(fields) = payload.get_mut(event).and_then(Value::as_object_mut) else {
        return payload;
    };
    let target = match inner {
        None => Some(fields),
        Some(name) => fields
            .get_mut(name)
            .and_then(Value::as_object_mut)
            .filter(|side| side.get("kind").and_then(Value::as_str) == Some("account")),
    };
    if let Some(target) = target {
        target.entry("transfer_id").or_insert(Value::Null);
    }
    payload
}

/// ExecStarted 1.0 → 1.1: the process that ran it was not recorded.
fn exec_started_names_its_runner(mut payload: Value) -> Value {
    if let Some(fields) = payload
        .get_mut("ExecStarted")
        .and_then(Value::as_object_mut)
    {
        fields.entry("runner").or_insert(Value::Null);
    }
    payload
}

/// `event` as today's code reads it, after every upcaster that applies.
/// The upcasters, made once.
static UPCASTERS: std::sync::LazyLock<Vec<Box<dyn EventUpcaster>>> =
    std::sync::LazyLock::new(upcasters);

/// Whether a stored event of this type and version needs upcasting before
/// it loads (otherwise it deserialises as it is).
pub fn needs_upcast(event_type: &str, event_version: &str) -> bool {
    UPCASTERS
        .iter()
        .any(|upcaster| upcaster.can_upcast(event_type, event_version))
}

pub fn upcast(event: SerializedEvent) -> SerializedEvent {
    UPCASTERS.iter().fold(event, |event, upcaster| {
        if upcaster.can_upcast(&event.event_type, &event.event_version) {
            upcaster.upcast(event)
        } else {
            event
        }
    })
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::upcast;
    use crate::account::AccountEvent;
    use crate::sandbox::SandboxEvent;
    use cqrs_es::persist::SerializedEvent;
    use cqrs_es::DomainEvent;
    use serde::de::DeserializeOwned;
    use serde::Serialize;
    use serde_json::Value;
    use std::collections::BTreeSet;

    const FIXTURES: &str = include_str!("../fixtures/events-1.0.json");

    fn fixtures() -> Vec<SerializedEvent> {
        let rows: Vec<Value> = serde_json::from_str(FIXTURES).unwrap();
        rows.into_iter()
            .enumerate()
            .map(|(i, row)| {
                SerializedEvent::new(
                    format!("fixture-{i}"),
                    i + 1,
                    row["aggregate_type"].as_str().unwrap().to_string(),
                    row["event_type"].as_str().unwrap().to_string(),
                    row["event_version"].as_str().unwrap().to_string(),
                    row["payload"].clone(),
                    Value::Object(Default::default()),
                )
            })
            .collect()
    }

    /// Every stored payload of `aggregate_type` loads through the upcasters,
    /// keeps its type, and serializes back to the upcast JSON (nothing lost).
    fn loads_every_variant<E>(aggregate_type: &str, variants: usize)
    where
        E: DomainEvent + DeserializeOwned + Serialize,
    {
        let mut seen = BTreeSet::new();
        for stored in fixtures()
            .into_iter()
            .filter(|e| e.aggregate_type == aggregate_type)
        {
            let event = upcast(stored);
            let loaded: E = serde_json::from_value(event.payload.clone())
                .unwrap_or_else(|e| panic!("stored {} no longer loads: {e}", event.event_type));
            assert_eq!(loaded.event_type(), event.event_type);
            assert_eq!(serde_json::to_value(&loaded).unwrap(), event.payload);
            seen.insert(event.event_type);
        }
        assert_eq!(
            seen.len(),
            variants,
            "every {aggregate_type} event variant needs a stored fixture: {seen:?}"
        );
    }

    #[test]
    fn every_stored_sandbox_event_loads() {
        loads_every_variant::<SandboxEvent>("Sandbox", 25);
    }

    #[test]
    fn exec_started_1_0_gains_an_unknown_runner() {
        let stored = fixtures()
            .into_iter()
            .find(|e| e.event_type == "ExecStarted")
            .unwrap();
        assert_eq!(stored.event_version, "1.0");
        let event = upcast(stored);
        assert!(
            event.event_version.starts_with("1.1"),
            "{}",
            event.event_version
        );
        assert_eq!(event.payload["ExecStarted"]["runner"], Value::Null);
    }

    #[test]
    fn sandbox_created_1_0_gains_the_open_network_policy() {
        let stored = fixtures()
            .into_iter()
            .find(|e| e.event_type == "SandboxCreated")
            .unwrap();
        let event = upcast(stored);
        let loaded: SandboxEvent = serde_json::from_value(event.payload).unwrap();
        let SandboxEvent::SandboxCreated { network, .. } = loaded else {
            panic!("not a SandboxCreated")
        };
        assert_eq!(network, crate::network::NetworkPolicy::default());
    }

    #[test]
    fn every_stored_account_event_loads() {
        loads_every_variant::<AccountEvent>("Account", 5);
    }

    #[test]
    fn credit_movements_1_0_name_no_transfer() {
        for (event_type, pointer) in [
            ("CreditsAllocated", "/CreditsAllocated/transfer_id"),
            ("CreditsReturned", "/CreditsReturned/transfer_id"),
            ("BalanceExtended", "/BalanceExtended/source/transfer_id"),
        ] {
            let stored = fixtures()
                .into_iter()
                .find(|e| e.event_type == event_type && !e.payload.to_string().contains("payment"))
                .unwrap();
            assert_eq!(stored.event_version, "1.0");
            let event = upcast(stored);
            assert!(event.event_version.starts_with("1.1"), "{event_type}");
            assert_eq!(
                event.payload.pointer(pointer),
                Some(&Value::Null),
                "{event_type}"
            );
        }
    }
}
