//! The contract between the four Lambdas of the SIR ⇄ Jira integration, and its AWS adapters,
//! written once: bus events ([`events`]), normalized snapshots and fingerprints ([`snapshot`]),
//! text normalization and each service's length limits ([`text`]), the mapping table
//! ([`store`]), the event publisher ([`publisher`]) and the pending-delivery ledger around it
//! ([`delivery`]), configuration ([`config`]), the SIR status
//! graph and status mapping ([`status`]) and the error type ([`error`]); the two remote APIs: SIR
//! ([`sir`]) and Jira ([`jira`], bodies via [`adf`]); and what the integration writes on an issue
//! besides the case's fields: the description's details block ([`issue_description`]) and the
//! notes of what it already said there ([`issue_notes`]), and the identity each of its Jira
//! comments carries so a retry finds it ([`comment_marker`]). Time is read only through
//! [`clock`] (the clock crate, re-exported), which a simulation can put on virtual time. Plain
//! HTTP (Jira, presigned transfers) goes through [`http_transport`], so the local world can
//! answer it in process; attachments move between the two as streams ([`attachment_body`]).

pub use clock;

pub mod adf;
pub mod attachment_body;
pub mod comment_marker;
pub mod config;
pub mod delivery;
pub mod error;
pub mod events;
pub mod field_mapping;
pub mod http_transport;
pub mod issue_description;
pub mod issue_notes;
pub mod jira;
pub mod live_mapping;
pub mod metrics;
pub mod publisher;
pub mod sir;
pub mod snapshot;
pub mod status;
pub mod store;
pub mod sync_status;
pub mod text;
pub mod wiki;

pub use error::{Error, Result};
