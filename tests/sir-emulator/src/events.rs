//! Native `aws.security-ir` events: every change (API call or human action) emits one, in order,
//! to the configured EventBridge endpoint and bus through one background task. A failed PutEvents
//! never fails the change that caused it; it is logged (`tracing::warn!`) and counted in
//! [`EventStats::failed`]. In process there is no task: the entries wait, in order, for the
//! caller to take them ([`EventSink::take_pending`]).

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use aws_sdk_eventbridge::config::{BehaviorVersion, Credentials, Region};
use aws_sdk_eventbridge::types::PutEventsRequestEntry;
use serde::{Deserialize, Serialize};
use serde_json::json;
use tokio::sync::mpsc;

use crate::types::{EventStats, NativeEvent};

/// `source` of every native event.
pub const EVENT_SOURCE: &str = "aws.security-ir";

#[derive(Debug, Default)]
struct Counters {
    emitted: AtomicU64,
    published: AtomicU64,
    failed: AtomicU64,
}

/// One native event as the PutEvents entry that carries it to EventBridge (the API's member
/// names in JSON).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct EventEntry {
    pub source: String,
    pub detail_type: String,
    /// The detail as the JSON text sent.
    pub detail: String,
    pub event_bus_name: String,
    /// The case ARN.
    pub resources: Vec<String>,
}

impl EventEntry {
    fn new(event: &NativeEvent, case_arn: &str, bus_name: &str) -> EventEntry {
        EventEntry {
            source: EVENT_SOURCE.to_owned(),
            detail_type: event.detail_type.clone(),
            detail: event.detail.to_string(),
            event_bus_name: bus_name.to_owned(),
            resources: vec![case_arn.to_owned()],
        }
    }

    fn to_sdk(&self) -> PutEventsRequestEntry {
        PutEventsRequestEntry::builder()
            .source(&self.source)
            .detail_type(&self.detail_type)
            .detail(&self.detail)
            .event_bus_name(&self.event_bus_name)
            .set_resources(Some(self.resources.clone()))
            .build()
    }
}

/// Where events go.
#[derive(Debug)]
pub(crate) struct EventSink {
    bus_name: String,
    sender: Option<mpsc::UnboundedSender<EventEntry>>,
    /// In process: entries not taken yet (`None` for a server).
    pending: Option<Mutex<Vec<EventEntry>>>,
    emitted: Mutex<Vec<NativeEvent>>,
    counters: Arc<Counters>,
}

impl EventSink {
    /// Starts the publishing task when `endpoint` is given; without one, events are only kept.
    pub fn start(endpoint: Option<&str>, bus_name: &str, region: &str) -> EventSink {
        let counters = Arc::new(Counters::default());
        let sender = endpoint.map(|endpoint| {
            let config = aws_sdk_eventbridge::Config::builder()
                .behavior_version(BehaviorVersion::latest())
                .region(Region::new(region.to_owned()))
                .endpoint_url(endpoint)
                .credentials_provider(Credentials::new(
                    "sir-emulator",
                    "sir-emulator",
                    None,
                    None,
                    "sir-emulator",
                ))
                .build();
            let client = aws_sdk_eventbridge::Client::from_conf(config);
            let (sender, receiver) = mpsc::unbounded_channel();
            tokio::spawn(publish_all(
                client,
                bus_name.to_owned(),
                receiver,
                Arc::clone(&counters),
            ));
            sender
        });
        EventSink {
            bus_name: bus_name.to_owned(),
            sender,
            pending: None,
            emitted: Mutex::new(Vec::new()),
            counters,
        }
    }

    /// No task: each event's entry waits for [`EventSink::take_pending`], counted published.
    pub fn in_process(bus_name: &str) -> EventSink {
        EventSink {
            bus_name: bus_name.to_owned(),
            sender: None,
            pending: Some(Mutex::new(Vec::new())),
            emitted: Mutex::new(Vec::new()),
            counters: Arc::new(Counters::default()),
        }
    }

    /// In process: the entries emitted since the last call, oldest first.
    pub fn take_pending(&self) -> Vec<EventEntry> {
        self.pending
            .as_ref()
            .map(|pending| {
                std::mem::take(&mut *pending.lock().unwrap_or_else(PoisonError::into_inner))
            })
            .unwrap_or_default()
    }

    /// Emits `detail_type` for a case; `by_key` is `createdBy` or `updatedBy`.
    pub fn emit(&self, detail_type: &str, case_id: &str, case_arn: &str, by_key: &str, by: &str) {
        let event = NativeEvent {
            detail_type: detail_type.to_owned(),
            detail: json!({ "caseId": case_id, by_key: by }),
        };
        self.counters.emitted.fetch_add(1, Ordering::SeqCst);
        self.emitted
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push(event.clone());
        let entry = EventEntry::new(&event, case_arn, &self.bus_name);
        if let Some(pending) = &self.pending {
            pending
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .push(entry);
            self.counters.published.fetch_add(1, Ordering::SeqCst);
        } else if let Some(sender) = &self.sender
            && sender.send(entry).is_err()
        {
            self.counters.failed.fetch_add(1, Ordering::SeqCst);
            tracing::warn!(
                detail_type,
                case_id,
                "event publisher has stopped; event dropped"
            );
        }
    }

    pub fn events(&self) -> Vec<NativeEvent> {
        self.emitted
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    pub fn stats(&self) -> EventStats {
        EventStats {
            emitted: self.counters.emitted.load(Ordering::SeqCst),
            published: self.counters.published.load(Ordering::SeqCst),
            failed: self.counters.failed.load(Ordering::SeqCst),
        }
    }

    /// Waits (up to `timeout`) until every emitted event was published or failed; true if so.
    pub async fn settled(&self, timeout: Duration) -> bool {
        let deadline = clock::Instant::now() + timeout;
        loop {
            let stats = self.stats();
            if self.sender.is_none() || stats.published + stats.failed >= stats.emitted {
                return true;
            }
            if clock::Instant::now() >= deadline {
                return false;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }
}

async fn publish_all(
    client: aws_sdk_eventbridge::Client,
    bus_name: String,
    mut receiver: mpsc::UnboundedReceiver<EventEntry>,
    counters: Arc<Counters>,
) {
    while let Some(entry) = receiver.recv().await {
        let detail_type = entry.detail_type.clone();
        match client.put_events().entries(entry.to_sdk()).send().await {
            Ok(output) if output.failed_entry_count() == 0 => {
                counters.published.fetch_add(1, Ordering::SeqCst);
            }
            Ok(output) => {
                counters.failed.fetch_add(1, Ordering::SeqCst);
                let reason = output
                    .entries()
                    .iter()
                    .filter_map(|entry| entry.error_message())
                    .collect::<Vec<_>>()
                    .join("; ");
                tracing::warn!(%detail_type, %bus_name, %reason, "EventBridge refused a native SIR event");
            }
            Err(error) => {
                counters.failed.fetch_add(1, Ordering::SeqCst);
                tracing::warn!(
                    %detail_type,
                    %bus_name,
                    error = %aws_sdk_eventbridge::error::DisplayErrorContext(&error),
                    "publishing a native SIR event failed"
                );
            }
        }
    }
}
