//! The contract between the four Lambdas of the SIR ⇄ Jira integration, and its AWS adapters,
//! written once: bus events ([`events`]), normalized snapshots and fingerprints ([`snapshot`]),
//! the mapping table ([`store`]), the event publisher ([`publisher`]), configuration
//! ([`config`]), the SIR status graph and status mapping ([`status`]) and the error type
//! ([`error`]); and the two remote APIs: SIR ([`sir`]) and Jira ([`jira`], bodies via [`adf`]).

pub mod adf;
pub mod config;
pub mod error;
pub mod events;
pub mod issue_notes;
pub mod jira;
pub mod publisher;
pub mod render;
pub mod sir;
pub mod snapshot;
pub mod status;
pub mod store;

pub use error::{Error, Result};
