//! The emulator's REST, admin and Automation behaviour, checked over HTTP against a started
//! emulator the way the integration will call it: what Jira Cloud refuses is refused, what it
//! accepts is accepted.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod admin;
mod attachments;
mod auth;
mod automation;
mod comments;
mod custom_fields;
mod data_center;
mod faults;
mod issues;
mod search;
mod support;
mod users_and_watchers;
mod v2;
mod workflow;
