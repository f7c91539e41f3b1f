//! Publishing bus events to the integration bus.
//!
//! Entries are checked against EventBridge's size limit before anything is sent, sent in batches
//! of at most ten, and every batch's per-entry result is read: PutEvents answers 200 even when it
//! refused some entries, so an unchecked `FailedEntryCount` silently loses events.

use async_trait::async_trait;
use aws_sdk_eventbridge::Client;
use aws_sdk_eventbridge::types::PutEventsRequestEntry;

use crate::error::{Error, FailedEntry, Result};
use crate::events::{BusEvent, MAX_ENTRY_BYTES};

/// The most entries one PutEvents call takes.
pub const MAX_BATCH: usize = 10;

/// Puts events on the integration bus.
#[async_trait]
pub trait EventPublisher: Send + Sync {
    /// Publishes every event or returns an error naming each one that was not published.
    async fn publish(&self, events: &[BusEvent]) -> Result<()>;
}

/// [`EventPublisher`] on EventBridge.
#[derive(Debug, Clone)]
pub struct EventBridgePublisher {
    client: Client,
    bus_name: String,
}

impl EventBridgePublisher {
    pub fn new(client: Client, bus_name: impl Into<String>) -> Self {
        EventBridgePublisher {
            client,
            bus_name: bus_name.into(),
        }
    }

    pub fn bus_name(&self) -> &str {
        &self.bus_name
    }

    fn entry(&self, event: &BusEvent) -> Result<PutEventsRequestEntry> {
        let detail_type = event.detail_type();
        let detail = event.detail_json()?;
        let bytes = event.entry_size()?;
        if bytes > MAX_ENTRY_BYTES {
            return Err(Error::EventTooLarge {
                detail_type: detail_type.as_str(),
                subject: event.subject().to_owned(),
                bytes,
                limit: MAX_ENTRY_BYTES,
            });
        }
        Ok(PutEventsRequestEntry::builder()
            .event_bus_name(&self.bus_name)
            .source(detail_type.source())
            .detail_type(detail_type.as_str())
            .detail(detail)
            .build())
    }
}

#[async_trait]
impl EventPublisher for EventBridgePublisher {
    async fn publish(&self, events: &[BusEvent]) -> Result<()> {
        // Build (and size-check) every entry first, so an oversized event fails the call before
        // any of its neighbours is half-sent.
        let entries = events
            .iter()
            .map(|event| self.entry(event))
            .collect::<Result<Vec<_>>>()?;
        let mut failed = Vec::new();
        for (batch_events, batch) in events.chunks(MAX_BATCH).zip(entries.chunks(MAX_BATCH)) {
            let out = self
                .client
                .put_events()
                .set_entries(Some(batch.to_vec()))
                .send()
                .await
                .map_err(Error::eventbridge("PutEvents"))?;
            if out.failed_entry_count == 0 {
                continue;
            }
            // Results come in request order; an entry with an error code was not published.
            let results = out.entries();
            for (i, event) in batch_events.iter().enumerate() {
                let result = results.get(i);
                let refused =
                    result.is_none_or(|r| r.error_code().is_some() || r.event_id().is_none());
                if refused {
                    failed.push(FailedEntry {
                        detail_type: event.detail_type().as_str(),
                        subject: event.subject().to_owned(),
                        error_code: result.and_then(|r| r.error_code()).map(str::to_owned),
                        error_message: result.and_then(|r| r.error_message()).map(str::to_owned),
                    });
                }
            }
        }
        if failed.is_empty() {
            Ok(())
        } else {
            Err(Error::PublishFailed { failed })
        }
    }
}
