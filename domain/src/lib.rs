//! The Sockt domain: sandbox and account aggregates, their commands, events and
//! errors, money and tier values, the metering arithmetic, and the ports that
//! adapters implement. No I/O lives here.

pub mod account;
pub mod chain;
pub mod env;
pub mod execution;
pub mod ids;
pub mod lifetime;
pub mod lightning;
pub mod metering;
pub mod money;
pub mod network;
pub mod ports;
pub mod sandbox;
pub mod tier;
pub mod transfers;
pub mod upcasting;

pub use money::Msats;
pub use tier::{Tier, TierName};
