//! The composition root and the transports: configuration, the REST API
//! (wire-compatible with the Sockt clients), the MCP server, operability
//! endpoints, and the `sockt` command line.

pub mod config;
pub mod error;
pub mod graphql;
pub mod mcp;
pub mod metrics;
pub mod rate_limit;
pub mod rest;
pub mod server;
pub mod stores;

pub use server::{bootstrap, router, serve, AppState, Running};
