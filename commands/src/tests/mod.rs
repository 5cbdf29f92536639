//! Unit tests of the application's processes over fakes of every port
//! (`crate::testing`): each runs in milliseconds, with a manual clock.
#![allow(clippy::unwrap_used)]

mod admission;
mod compensations;
mod duties;
mod executions;
mod lifetimes;
mod lightning;
mod meter;
mod network;
mod processes;
mod reconcile;
mod shells;
