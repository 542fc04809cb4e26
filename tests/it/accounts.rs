//! Integration tests: the store, directory, password login, throttle and sessions over a
//! real SQLite file in a temporary directory, with a manual clock instead of sleeps.

mod cache;
mod handoff;
mod identity;
mod login;
mod secrets;
mod sessions;
mod support;
mod throttle;
