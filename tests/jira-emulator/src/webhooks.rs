//! Jira webhooks, as a site administrator registers them (Jira Cloud admin webhooks, Jira Data
//! Center 10+): after every committed change of an issue that a registered webhook's filter
//! matches, a `POST` of the event to its URL.
//!
//! As Jira sends them:
//! - the body: `timestamp` (epoch ms), `webhookEvent` (`jira:issue_created`,
//!   `jira:issue_updated`, `jira:issue_deleted`, `comment_created`, `comment_updated`),
//!   `issue_event_type_name`, `user` (who acted), `issue` (`id`, `key`, `self`, `fields`), and
//!   `comment` for comment events;
//! - headers `X-Atlassian-Webhook-Identifier` (unique per delivery, the same on its retries),
//!   `X-Atlassian-Webhook-Flow: Primary`, `X-Atlassian-Webhook-Retry: <n>` on a retry, and
//!   `X-Hub-Signature: sha256=<hex>` (HMAC-SHA256 of the raw body) when the webhook has a secret;
//! - a comment added or edited as two deliveries, `comment_created`/`comment_updated` and
//!   `jira:issue_updated`, as Jira sends both;
//! - each delivery on its own, concurrently with the others (no order between them);
//! - retried when the answer is 408, 409, 425, 429 or 5xx or no answer comes, after a growing
//!   delay ([`WebhookSettings`]), up to five retries; any other answer ends it.
//!
//! The triggers are Automation's (a change that moves the issue, a comment added or edited, a
//! deletion), so either intake sees the same changes.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use hmac::{Hmac, KeyInit, Mac};
use serde_json::{Value, json};
use sha2::Sha256;

use crate::lock;

/// One registered webhook.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WebhookRegistration {
    pub url: String,
    /// Signs every request (`X-Hub-Signature`); `None`: unsigned, as a webhook without one.
    pub secret: Option<String>,
    /// The JQL filter `project = <key>`; `None`: every project.
    pub project_key: Option<String>,
}

/// How deliveries are retried.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WebhookSettings {
    /// Delay before the first retry; each next one waits twice as long.
    pub first_retry_after: Duration,
    pub max_retries: u32,
    /// How long a request may take before it counts as unanswered.
    pub timeout: Duration,
}

impl Default for WebhookSettings {
    fn default() -> Self {
        WebhookSettings {
            first_retry_after: Duration::from_millis(200),
            max_retries: 5,
            timeout: Duration::from_secs(20),
        }
    }
}

/// One delivery and how it went.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WebhookDeliveryRecord {
    pub identifier: String,
    pub url: String,
    pub event: String,
    pub issue_key: String,
    /// The status of each try (0: no answer).
    pub attempts: Vec<u16>,
}

#[derive(Debug)]
struct WebhooksState {
    registrations: Mutex<Vec<WebhookRegistration>>,
    /// Jira's "Enabled" switch of the webhooks (all of them here); on by default.
    enabled: AtomicBool,
    settings: Mutex<WebhookSettings>,
    next_id: AtomicU64,
    queued: AtomicU64,
    finished: AtomicU64,
    deliveries: Mutex<Vec<WebhookDeliveryRecord>>,
    client: reqwest::Client,
}

/// Handle on the site's webhooks; clones share them.
#[derive(Debug, Clone)]
pub struct Webhooks {
    state: Arc<WebhooksState>,
}

/// What one change of an issue sends.
#[derive(Debug, Clone)]
pub(crate) struct WebhookEvent {
    pub(crate) name: &'static str,
    pub(crate) type_name: &'static str,
    pub(crate) project_key: String,
    pub(crate) issue_key: String,
    pub(crate) issue: Value,
    pub(crate) user: Value,
    pub(crate) comment: Option<Value>,
}

/// The statuses Jira retries a delivery after.
fn retried(status: u16) -> bool {
    matches!(status, 0 | 408 | 409 | 425 | 429) || (500..600).contains(&status)
}

/// `X-Hub-Signature` for `body` under `secret`.
pub fn sign(secret: &str, body: &[u8]) -> String {
    let mut mac = match Hmac::<Sha256>::new_from_slice(secret.as_bytes()) {
        Ok(mac) => mac,
        Err(_) => unreachable!("HMAC accepts keys of every length"),
    };
    mac.update(body);
    let digest = mac.finalize().into_bytes();
    let hex: String = digest.iter().map(|byte| format!("{byte:02x}")).collect();
    format!("sha256={hex}")
}

impl Webhooks {
    pub(crate) fn new() -> Webhooks {
        Webhooks {
            state: Arc::new(WebhooksState {
                registrations: Mutex::new(Vec::new()),
                enabled: AtomicBool::new(true),
                settings: Mutex::new(WebhookSettings::default()),
                next_id: AtomicU64::new(1),
                queued: AtomicU64::new(0),
                finished: AtomicU64::new(0),
                deliveries: Mutex::new(Vec::new()),
                client: reqwest::Client::new(),
            }),
        }
    }

    /// Registers a webhook, as an administrator does in Jira settings → System → WebHooks.
    pub fn register(&self, registration: WebhookRegistration) {
        lock(&self.state.registrations).push(registration);
    }

    /// Turns the webhooks off (nothing is sent, as with a webhook disabled in Jira's settings)
    /// or on again; they stay registered.
    pub fn set_enabled(&self, enabled: bool) {
        self.state.enabled.store(enabled, Ordering::SeqCst);
    }

    /// Removes every webhook.
    pub fn unregister_all(&self) {
        lock(&self.state.registrations).clear();
    }

    pub fn set_settings(&self, settings: WebhookSettings) {
        *lock(&self.state.settings) = settings;
    }

    /// Every delivery so far, with its tries.
    pub fn deliveries(&self) -> Vec<WebhookDeliveryRecord> {
        lock(&self.state.deliveries).clone()
    }

    /// Waits until every delivery (retries included) ended, at most `timeout`; whether they did.
    pub async fn wait_idle(&self, timeout: Duration) -> bool {
        let deadline = clock::Instant::now() + timeout;
        loop {
            if self.state.finished.load(Ordering::SeqCst)
                >= self.state.queued.load(Ordering::SeqCst)
            {
                return true;
            }
            if clock::Instant::now() >= deadline {
                return false;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }

    /// Whether any webhook is registered (otherwise a change costs nothing here).
    pub(crate) fn any(&self) -> bool {
        self.state.enabled.load(Ordering::SeqCst) && !lock(&self.state.registrations).is_empty()
    }

    /// Sends `event` to every webhook whose filter matches, each delivery on its own task.
    pub(crate) fn send(&self, event: &WebhookEvent, at_ms: u64) {
        if !self.state.enabled.load(Ordering::SeqCst) {
            return;
        }
        let registrations: Vec<WebhookRegistration> = lock(&self.state.registrations)
            .iter()
            .filter(|r| {
                r.project_key
                    .as_deref()
                    .is_none_or(|key| key.eq_ignore_ascii_case(&event.project_key))
            })
            .cloned()
            .collect();
        if registrations.is_empty() {
            return;
        }
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            tracing::warn!("no runtime to send webhooks from; none sent");
            return;
        };
        let mut body = json!({
            "timestamp": at_ms,
            "webhookEvent": event.name,
            "issue_event_type_name": event.type_name,
            "user": event.user,
            "issue": event.issue,
        });
        if let (Some(comment), Some(object)) = (&event.comment, body.as_object_mut()) {
            object.insert("comment".into(), comment.clone());
        }
        let body = body.to_string();
        for registration in registrations {
            let number = self.state.next_id.fetch_add(1, Ordering::SeqCst);
            let identifier = format!("00000000-0000-4000-8000-{number:012}");
            self.state.queued.fetch_add(1, Ordering::SeqCst);
            lock(&self.state.deliveries).push(WebhookDeliveryRecord {
                identifier: identifier.clone(),
                url: registration.url.clone(),
                event: event.name.to_owned(),
                issue_key: event.issue_key.clone(),
                attempts: Vec::new(),
            });
            let state = Arc::clone(&self.state);
            let body = body.clone();
            runtime.spawn(async move {
                deliver(&state, &registration, &identifier, body).await;
                state.finished.fetch_add(1, Ordering::SeqCst);
            });
        }
    }
}

/// One delivery, with its retries.
async fn deliver(
    state: &WebhooksState,
    registration: &WebhookRegistration,
    identifier: &str,
    body: String,
) {
    let settings = *lock(&state.settings);
    let mut delay = settings.first_retry_after;
    for attempt in 0..=settings.max_retries {
        let mut request = state
            .client
            .post(&registration.url)
            .timeout(settings.timeout)
            .header("content-type", "application/json; charset=utf-8")
            .header("x-atlassian-webhook-identifier", identifier)
            .header("x-atlassian-webhook-flow", "Primary")
            .body(body.clone());
        if attempt > 0 {
            request = request.header("x-atlassian-webhook-retry", attempt.to_string());
        }
        if let Some(secret) = &registration.secret {
            request = request.header("x-hub-signature", sign(secret, body.as_bytes()));
        }
        let (status, retry_after) = match request.send().await {
            Ok(response) => (
                response.status().as_u16(),
                response
                    .headers()
                    .get("retry-after")
                    .and_then(|v| v.to_str().ok())
                    .and_then(|v| v.trim().parse::<u64>().ok())
                    .map(Duration::from_secs),
            ),
            Err(_) => (0, None),
        };
        if let Some(record) = lock(&state.deliveries)
            .iter_mut()
            .find(|d| d.identifier == identifier)
        {
            record.attempts.push(status);
        }
        if !retried(status) {
            return;
        }
        if attempt < settings.max_retries {
            // Jira spreads its retries over about 30 minutes, so a retry never comes before the
            // few seconds a `Retry-After` asks for; this schedule is compressed, but not below it.
            tokio::time::sleep(delay.max(retry_after.unwrap_or_default())).await;
            delay = delay.saturating_mul(2);
        }
    }
    tracing::warn!(
        identifier,
        url = registration.url,
        "webhook delivery failed on every try"
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_signature_is_hmac_sha256_of_the_body_in_hex() {
        // GitHub's documented example of the same header scheme.
        assert_eq!(
            sign("It's a Secret to Everybody", b"Hello, World!"),
            "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17"
        );
    }

    #[test]
    fn jira_retries_timeouts_conflicts_throttling_and_server_errors_only() {
        for status in [0, 408, 409, 425, 429, 500, 502, 503] {
            assert!(retried(status), "{status}");
        }
        for status in [200, 202, 204, 400, 401, 403, 404, 413] {
            assert!(!retried(status), "{status}");
        }
    }
}
