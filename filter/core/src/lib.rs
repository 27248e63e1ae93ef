//! The decisions of the Trino router, with no Envoy in sight: the config model,
//! rule matching, the Trino protocol, SQL inspection, stickiness tokens and cluster choice.
//!
//! `route::decide` is the entry point: given the config, a request and what is known about
//! the clusters, it says where the request goes. The wasm filter and the CLI both call it.

pub mod auth_flow;
pub mod choose;
pub mod config;
pub mod cookie;
pub mod error;
pub mod explain;
pub mod handle;
pub mod host;
pub mod ids;
pub mod inspect;
pub mod lookup;
pub mod observed;
pub mod pin;
pub mod protocol;
pub mod rate_limit;
pub mod request;
pub mod rewrite;
pub mod route;
pub mod rules;
pub mod sql;
pub mod ticket;
pub mod transaction;
