//! Portcullis: an access gateway in one binary.
//!
//! It terminates TLS in front of internal web applications, puts each request in one
//! canonical form, routes it by host and path to an app, and forwards it over a keep-alive
//! upstream pool with the gateway's own forwarding headers and, for signed-in people, identity headers
//! and a signed identity assertion. See ARCHITECTURE.md for how the
//! modules fit together and which invariants each one keeps.

pub mod assertion;
pub mod authn;
pub mod cli;
pub mod config;
pub mod demo;
pub mod dev;
pub mod gateway;
pub mod identity;
pub mod policy;
pub mod policy_tools;
pub mod portal;
pub mod proxy;
pub mod services;
pub mod session;
pub mod store;
pub mod tls;

pub use config::Config;
pub use gateway::{Gateway, GatewayError};
