//! sandterm: one disposable, locked-down Docker container with a real TTY per WebSocket.
//!
//! The binary (`main.rs`) wires these modules together; the bench and probe tools reuse the
//! protocol types.

pub mod actors;
pub mod api;
pub mod client;
pub mod config;
pub mod docker;
pub mod http;
pub mod metrics;
pub mod policy;
pub mod protocol;
pub mod proxy;
pub mod sandbox;
pub mod server;
pub mod web;
pub mod ws;
