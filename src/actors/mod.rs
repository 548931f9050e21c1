//! The actors: one registry, one reaper, a session per WebSocket, a container per session.

pub mod container;
pub mod reaper;
pub mod registry;
pub mod session;
