//! Integration tests: the real gateway over real TLS in front of real upstreams.
#![expect(unreachable_pub, reason = "helpers are shared between test modules")]
#![expect(
    clippy::unwrap_used,
    reason = "test helpers fail the test on any unexpected error"
)]

mod accounts;
mod admin_cli;
mod assertion;
mod attack;
mod browser_ui;
mod canonical;
mod cdp;
mod cli;
mod framing;
mod policy;
mod reload;
mod routing;
mod signin;
mod streaming;
mod support;
mod tls;
mod upstream;
mod websocket;
