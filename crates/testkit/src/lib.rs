//! Test helpers: a real server per test ([`spawn`]) and cassette replay ([`replay`]).

pub mod replay;
pub mod spawn;

pub use spawn::{Backend, TestServer, backends, spawn, spawn_on};
