//! Jira webhooks as a second intake (Jira Cloud admin webhooks, Jira Data Center 10+): the same
//! "something happened to issue KEY" an Automation message says, without Automation's metered
//! rule runs and without SNS.
//!
//! jira-notifications-handler answers a Lambda function URL (payload format 2.0; `AuthType
//! NONE`, since Jira cannot sign with SigV4). Every request is untrusted until it passes, in this
//! order, with its own HTTP status and a log line naming its class ([`WebhookRejection::kind`]):
//! 1. the intake is on (a secret is configured: `jiraWebhookSecret`, an SSM SecureString that
//!    deploy.sh generates), else 503 (a container started before deploy.sh wrote the secret:
//!    Jira retries, and a new container reads it);
//! 2. `POST`, else 405; a body of at most [`MAX_WEBHOOK_BYTES`], else 413;
//! 3. `X-Hub-Signature: sha256=<hex>` is the HMAC-SHA256 of the raw body under the secret,
//!    compared in constant time; missing, malformed or wrong: 401;
//! 4. the body is JSON (400) of a webhook about an issue (`issue.key`; another event is 202,
//!    nothing to do) whose key is well formed (400) and of the configured project (403: the
//!    webhook's JQL filter is wider than the project).
//!
//! What it says is only which issue to re-read (and the hint that it was deleted, and who acted):
//! the issue is read from Jira as for an Automation message, never taken from the body.
//! Deliveries are told apart by `X-Atlassian-Webhook-Identifier` (the same on every retry of
//! one delivery): one handled already is answered 200 and not handled again (two tries at once
//! both handle it, which is harmless: handling is an idempotent, coalesced re-read). A delivery
//! that finds every re-read slot of the issue taken does not wait (Jira times a request out after
//! about 20 s) but is answered 429 with `Retry-After`. A delivery that could not be handled is
//! an `Err` (the function URL answers 502, and the function's error alarm sees it). Jira retries
//! 408, 409, 425, 429 and 5xx for up to about 30 minutes; the Jira sweep finds any change whose
//! every retry failed.
//!
//! Coalescing needs when the delivery was published: its `timestamp` is Jira's clock (a Data
//! Center server's may be off), so it counts as that plus a margin, and never later than its
//! receipt.

use std::collections::BTreeMap;

use crate::message::{
    KeyProblem, Notification, check_issue_key, is_account_id, is_user_name, shown,
};
use base64::Engine as _;
use hmac::{Hmac, KeyInit, Mac};
use secrecy::{ExposeSecret, SecretString};
use serde::Serialize;
use serde_json::Value;
use sha2::Sha256;

/// The largest body accepted, in bytes. A webhook carries the whole issue (its fields, a
/// comment), tens of kilobytes at most; far beyond that it is not Jira's.
pub const MAX_WEBHOOK_BYTES: usize = 512 * 1024;

/// The signature header (lower case, as the function URL passes header names).
pub const SIGNATURE_HEADER: &str = "x-hub-signature";
/// The delivery's identifier, unchanged over Jira's retries.
pub const IDENTIFIER_HEADER: &str = "x-atlassian-webhook-identifier";

/// A webhook request as the function URL hands it over: method, headers (names in lower case)
/// and the raw body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WebhookRequest {
    pub method: String,
    pub headers: BTreeMap<String, String>,
    pub body: Vec<u8>,
}

impl WebhookRequest {
    /// Whether `event` is a function URL request (payload format 2.0).
    pub fn is_function_url_event(event: &Value) -> bool {
        event
            .get("requestContext")
            .and_then(|context| context.get("http"))
            .is_some()
    }

    /// The request in a function URL event; an oversized or undecodable body is a rejection.
    pub fn from_function_url_event(event: &Value) -> Result<WebhookRequest, WebhookRejection> {
        let method = event
            .pointer("/requestContext/http/method")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_ascii_uppercase();
        let headers = event
            .get("headers")
            .and_then(Value::as_object)
            .map(|headers| {
                headers
                    .iter()
                    .filter_map(|(name, value)| {
                        Some((name.to_ascii_lowercase(), value.as_str()?.to_owned()))
                    })
                    .collect()
            })
            .unwrap_or_default();
        let text = event
            .get("body")
            .and_then(Value::as_str)
            .unwrap_or_default();
        let encoded = event
            .get("isBase64Encoded")
            .and_then(Value::as_bool)
            .unwrap_or(false);
        // Checked before decoding: base64 is a third longer than what it holds.
        let most = if encoded {
            MAX_WEBHOOK_BYTES.div_ceil(3) * 4
        } else {
            MAX_WEBHOOK_BYTES
        };
        if text.len() > most {
            return Err(WebhookRejection::Oversized { bytes: text.len() });
        }
        let body = if encoded {
            base64::engine::general_purpose::STANDARD
                .decode(text)
                .map_err(|e| WebhookRejection::NotJson {
                    reason: format!("the body is not base64: {e}"),
                })?
        } else {
            text.as_bytes().to_vec()
        };
        Ok(WebhookRequest {
            method,
            headers,
            body,
        })
    }

    fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).map(String::as_str)
    }
}

/// A request that passed every check: the notification it carries, and what Jira says about
/// the delivery.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WebhookDelivery {
    pub notification: Notification,
    /// `X-Atlassian-Webhook-Identifier`, when Jira sent one.
    pub identifier: Option<String>,
    /// The body's `timestamp`: when the change happened (epoch milliseconds).
    pub event_ms: Option<u64>,
}

/// Why a webhook request was turned away. Each is permanent for that request: it is answered
/// with [`WebhookRejection::status`] and logged, and nothing is read or published for it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WebhookRejection {
    #[error("the webhook intake is off: no webhook secret is configured")]
    IntakeOff,
    #[error("method {method} is not POST")]
    Method { method: String },
    #[error("body of {bytes} bytes is larger than the {MAX_WEBHOOK_BYTES} bytes accepted")]
    Oversized { bytes: usize },
    #[error("no {SIGNATURE_HEADER} header: the request is not signed")]
    Unsigned,
    #[error("the {SIGNATURE_HEADER} header does not match the body under the webhook secret")]
    BadSignature,
    #[error("body is not JSON: {reason}")]
    NotJson { reason: String },
    #[error("webhook event {event} is not about an issue")]
    NotAnIssueEvent { event: String },
    #[error("issue key {shown} is not an issue key")]
    IllFormedKey { shown: String },
    #[error("issue key {shown} is not an issue of project {project_key}")]
    OtherProject { shown: String, project_key: String },
}

impl WebhookRejection {
    /// A short name for the rejection class (log field, response body).
    pub fn kind(&self) -> &'static str {
        match self {
            WebhookRejection::IntakeOff => "intake-off",
            WebhookRejection::Method { .. } => "method",
            WebhookRejection::Oversized { .. } => "oversized",
            WebhookRejection::Unsigned => "unsigned",
            WebhookRejection::BadSignature => "bad-signature",
            WebhookRejection::NotJson { .. } => "not-json",
            WebhookRejection::NotAnIssueEvent { .. } => "not-an-issue-event",
            WebhookRejection::IllFormedKey { .. } => "ill-formed-key",
            WebhookRejection::OtherProject { .. } => "other-project",
        }
    }

    /// The HTTP status it is answered with. Only the intake being off (503) is one Jira retries.
    pub fn status(&self) -> u16 {
        match self {
            // A container started before the secret was written: Jira retries, a new one reads it.
            WebhookRejection::IntakeOff => 503,
            WebhookRejection::Method { .. } => 405,
            WebhookRejection::Oversized { .. } => 413,
            WebhookRejection::Unsigned | WebhookRejection::BadSignature => 401,
            WebhookRejection::NotJson { .. } | WebhookRejection::IllFormedKey { .. } => 400,
            // Nothing to do, and nothing wrong with the delivery.
            WebhookRejection::NotAnIssueEvent { .. } => 202,
            WebhookRejection::OtherProject { .. } => 403,
        }
    }
}

/// The `X-Hub-Signature` value Jira sends for `body` under `secret`: `sha256=<hex>`.
pub fn signature_of(secret: &SecretString, body: &[u8]) -> String {
    let mut mac = hmac_under(secret);
    mac.update(body);
    format!("sha256={}", hex::encode(mac.finalize().into_bytes()))
}

fn hmac_under(secret: &SecretString) -> Hmac<Sha256> {
    // HMAC takes a key of any length (a long one is hashed first): this cannot fail.
    match Hmac::<Sha256>::new_from_slice(secret.expose_secret().as_bytes()) {
        Ok(mac) => mac,
        Err(_) => unreachable!("HMAC accepts keys of every length"),
    }
}

/// Checks `request` (see the module docs) against `secret` and the project `project_key`.
pub fn verify_webhook(
    request: &WebhookRequest,
    secret: &SecretString,
    project_key: &str,
) -> Result<WebhookDelivery, WebhookRejection> {
    if request.method != "POST" {
        return Err(WebhookRejection::Method {
            method: shown(&request.method),
        });
    }
    if request.body.len() > MAX_WEBHOOK_BYTES {
        return Err(WebhookRejection::Oversized {
            bytes: request.body.len(),
        });
    }
    let signature = request
        .header(SIGNATURE_HEADER)
        .ok_or(WebhookRejection::Unsigned)?;
    let tag = signature
        .trim()
        .strip_prefix("sha256=")
        .and_then(|hex_digest| hex::decode(hex_digest).ok())
        .ok_or(WebhookRejection::BadSignature)?;
    let mut mac = hmac_under(secret);
    mac.update(&request.body);
    // Constant time: how much of a forged tag matched is not told by the time taken.
    mac.verify_slice(&tag)
        .map_err(|_| WebhookRejection::BadSignature)?;

    let value: Value =
        serde_json::from_slice(&request.body).map_err(|e| WebhookRejection::NotJson {
            reason: e.to_string(),
        })?;
    let event = value
        .get("webhookEvent")
        .and_then(Value::as_str)
        .unwrap_or_default();
    let Some(key) = value.pointer("/issue/key").and_then(Value::as_str) else {
        return Err(WebhookRejection::NotAnIssueEvent {
            event: shown(event),
        });
    };
    match check_issue_key(key, project_key) {
        Ok(()) => {}
        Err(KeyProblem::IllFormed) => {
            return Err(WebhookRejection::IllFormedKey { shown: shown(key) });
        }
        Err(KeyProblem::OtherProject) => {
            return Err(WebhookRejection::OtherProject {
                shown: shown(key),
                project_key: project_key.to_owned(),
            });
        }
    }
    // Cloud names the user by accountId, Data Center by user name.
    let initiator = value
        .pointer("/user/accountId")
        .and_then(Value::as_str)
        .filter(|id| is_account_id(id))
        .or_else(|| {
            value
                .pointer("/user/name")
                .and_then(Value::as_str)
                .filter(|name| is_user_name(name))
        })
        .map(str::to_owned);
    Ok(WebhookDelivery {
        notification: Notification {
            issue_key: key.to_owned(),
            deleted_hint: event == "jira:issue_deleted",
            initiator,
        },
        identifier: request
            .header(IDENTIFIER_HEADER)
            .map(str::trim)
            .filter(|id| !id.is_empty() && id.len() <= 128)
            .map(str::to_owned),
        event_ms: value.get("timestamp").and_then(Value::as_u64),
    })
}

/// The function URL's answer: its status, and a JSON body saying what was done.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct WebhookResponse {
    pub status_code: u16,
    pub headers: BTreeMap<String, String>,
    pub body: String,
}

impl WebhookResponse {
    /// `status` with `{"outcome"|"rejected": what}` as its body.
    pub fn new(status: u16, field: &str, what: &str) -> WebhookResponse {
        WebhookResponse {
            status_code: status,
            headers: [("content-type".to_owned(), "application/json".to_owned())].into(),
            body: serde_json::json!({ field: what }).to_string(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn secret() -> SecretString {
        SecretString::from("It's a Secret to Everybody")
    }

    fn signed(body: &str) -> WebhookRequest {
        WebhookRequest {
            method: "POST".into(),
            headers: [
                (
                    SIGNATURE_HEADER.to_owned(),
                    signature_of(&secret(), body.as_bytes()),
                ),
                (IDENTIFIER_HEADER.to_owned(), "d1".to_owned()),
            ]
            .into(),
            body: body.as_bytes().to_vec(),
        }
    }

    const UPDATED: &str = r#"{"timestamp":1764806400000,"webhookEvent":"jira:issue_updated","user":{"accountId":"557058:abc"},"issue":{"id":"10001","key":"SEC-4","fields":{}}}"#;

    #[test]
    fn the_signature_is_github_style_hmac_sha256_of_the_raw_body() {
        // GitHub's documented example (same header scheme): secret "It's a Secret to
        // Everybody", body "Hello, World!".
        assert_eq!(
            signature_of(&secret(), b"Hello, World!"),
            "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17"
        );
    }

    #[test]
    fn a_signed_issue_event_names_the_issue_the_initiator_and_the_delivery() {
        let delivery = verify_webhook(&signed(UPDATED), &secret(), "SEC").unwrap();
        assert_eq!(delivery.notification.issue_key, "SEC-4");
        assert!(!delivery.notification.deleted_hint);
        assert_eq!(
            delivery.notification.initiator.as_deref(),
            Some("557058:abc")
        );
        assert_eq!(delivery.identifier.as_deref(), Some("d1"));
        assert_eq!(delivery.event_ms, Some(1_764_806_400_000));
        let deleted = UPDATED.replace("jira:issue_updated", "jira:issue_deleted");
        assert!(
            verify_webhook(&signed(&deleted), &secret(), "SEC")
                .unwrap()
                .notification
                .deleted_hint
        );
    }

    #[test]
    fn a_data_center_delivery_names_its_initiator_by_user_name() {
        let body = UPDATED.replace(
            r#""user":{"accountId":"557058:abc"}"#,
            r#""user":{"name":"sir.integration@corp","key":"JIRAUSER10100"}"#,
        );
        let delivery = verify_webhook(&signed(&body), &secret(), "SEC").unwrap();
        assert_eq!(
            delivery.notification.initiator.as_deref(),
            Some("sir.integration@corp")
        );
        let control = body.replace("sir.integration@corp", "bad\\u0007name");
        let delivery = verify_webhook(&signed(&control), &secret(), "SEC").unwrap();
        assert_eq!(delivery.notification.initiator, None);
    }

    #[test]
    fn unsigned_forged_and_tampered_requests_are_refused_with_401() {
        let mut unsigned = signed(UPDATED);
        unsigned.headers.remove(SIGNATURE_HEADER);
        let refused = |request: &WebhookRequest| verify_webhook(request, &secret(), "SEC");
        assert_eq!(refused(&unsigned), Err(WebhookRejection::Unsigned));
        let mut forged = signed(UPDATED);
        forged.headers.insert(
            SIGNATURE_HEADER.into(),
            signature_of(&SecretString::from("guessed"), UPDATED.as_bytes()),
        );
        assert_eq!(refused(&forged), Err(WebhookRejection::BadSignature));
        let mut tampered = signed(UPDATED);
        tampered.body = UPDATED.replace("SEC-4", "SEC-5").into_bytes();
        assert_eq!(refused(&tampered), Err(WebhookRejection::BadSignature));
        let mut garbled = signed(UPDATED);
        garbled
            .headers
            .insert(SIGNATURE_HEADER.into(), "sha1=abc".into());
        assert_eq!(refused(&garbled), Err(WebhookRejection::BadSignature));
        for rejection in [WebhookRejection::Unsigned, WebhookRejection::BadSignature] {
            assert_eq!(rejection.status(), 401);
        }
    }

    #[test]
    fn signed_bodies_that_say_nothing_usable_are_refused_by_class() {
        let class = |body: &str| {
            verify_webhook(&signed(body), &secret(), "SEC")
                .map(|_| ())
                .map_err(|r| (r.kind(), r.status()))
        };
        assert_eq!(class("{not json"), Err(("not-json", 400)));
        assert_eq!(
            class(r#"{"webhookEvent":"project_created","project":{"key":"SEC"}}"#),
            Err(("not-an-issue-event", 202))
        );
        assert_eq!(
            class(&UPDATED.replace("SEC-4", "SEC-4; DROP")),
            Err(("ill-formed-key", 400))
        );
        assert_eq!(
            class(&UPDATED.replace("SEC-4", "OPS-4")),
            Err(("other-project", 403))
        );
    }

    #[test]
    fn a_body_over_the_limit_is_refused_before_its_signature_is_computed() {
        let big = "x".repeat(MAX_WEBHOOK_BYTES + 1);
        let mut request = signed(&big);
        request.headers.remove(SIGNATURE_HEADER);
        assert!(matches!(
            verify_webhook(&request, &secret(), "SEC"),
            Err(WebhookRejection::Oversized { .. })
        ));
        let event = serde_json::json!({
            "requestContext": {"http": {"method": "POST"}},
            "headers": {},
            "body": "x".repeat(MAX_WEBHOOK_BYTES + 1),
            "isBase64Encoded": false,
        });
        assert!(WebhookRequest::is_function_url_event(&event));
        assert_eq!(
            WebhookRequest::from_function_url_event(&event).map_err(|r| r.status()),
            Err(413)
        );
    }

    #[test]
    fn a_function_url_event_gives_the_raw_body_and_lower_case_headers() {
        let event = serde_json::json!({
            "version": "2.0",
            "requestContext": {"http": {"method": "post"}},
            "headers": {"X-Hub-Signature": "sha256=00", "content-type": "application/json"},
            "body": base64::engine::general_purpose::STANDARD.encode(UPDATED),
            "isBase64Encoded": true,
        });
        let request = WebhookRequest::from_function_url_event(&event).unwrap();
        assert_eq!(request.method, "POST");
        assert_eq!(request.header(SIGNATURE_HEADER), Some("sha256=00"));
        assert_eq!(request.body, UPDATED.as_bytes());
        assert!(!WebhookRequest::is_function_url_event(
            &serde_json::json!({"Records": []})
        ));
    }
}
