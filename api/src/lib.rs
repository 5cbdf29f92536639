//! The composition root (`server`) and the transports side by side: the
//! REST API (wire-compatible with the Sockt clients), the MCP server,
//! GraphQL, the dashboard and operability endpoints (`ops`); what they
//! share lives in `presentation` and `state`, which none of them owns.

pub mod config;
pub mod error;
pub mod graphql;
pub mod mcp;
pub mod metrics;
mod middleware;
mod ops;
pub mod presentation;
pub mod rate_limit;
pub mod readiness;
pub mod rest;
pub mod server;
pub mod state;
pub mod stores;

pub use server::{bootstrap, router, serve, AppState, Running};
