//! Test support: a started emulator with a reqwest client authenticated as the integration
//! user, ADF helpers, and moto (SNS → SQS) for the Automation tests.

#![allow(
    clippy::disallowed_methods,
    reason = "waits in real time for SNS over a socket"
)]

use std::time::{Duration, Instant};

use jira_emulator::{JiraEmulator, JiraEmulatorConfig, SnsTarget};
use reqwest::{Method, RequestBuilder, Response};
use serde_json::{Value, json};

pub const EMAIL: &str = "integration@example.com";
pub const TOKEN: &str = "integration-token";

/// A running emulator and a client that speaks to it as the integration user.
pub struct Jira {
    pub emulator: JiraEmulator,
    pub http: reqwest::Client,
}

impl Jira {
    pub async fn start() -> Jira {
        Jira::start_with(JiraEmulatorConfig::default()).await
    }

    pub async fn start_with(config: JiraEmulatorConfig) -> Jira {
        let emulator = JiraEmulator::start(config).await.expect("emulator starts");
        Jira {
            emulator,
            http: reqwest::Client::new(),
        }
    }

    /// `<base>/rest/api/3<path>`.
    pub fn v3(&self, path: &str) -> String {
        format!("{}/rest/api/3{path}", self.emulator.base_url())
    }

    /// `<base>/rest/api/2<path>`.
    pub fn v2(&self, path: &str) -> String {
        format!("{}/rest/api/2{path}", self.emulator.base_url())
    }

    /// A request to a full URL as the integration user.
    pub fn request(&self, method: Method, url: &str) -> RequestBuilder {
        self.http
            .request(method, url)
            .basic_auth(EMAIL, Some(TOKEN))
    }

    pub fn get(&self, path: &str) -> RequestBuilder {
        self.request(Method::GET, &self.v3(path))
    }

    pub fn post(&self, path: &str, body: &Value) -> RequestBuilder {
        self.request(Method::POST, &self.v3(path)).json(body)
    }

    pub fn put(&self, path: &str, body: &Value) -> RequestBuilder {
        self.request(Method::PUT, &self.v3(path)).json(body)
    }

    pub fn delete(&self, path: &str) -> RequestBuilder {
        self.request(Method::DELETE, &self.v3(path))
    }

    /// Creates a Task over REST v3 and returns its key.
    pub async fn create(&self, summary: &str, labels: &[&str]) -> String {
        let response = self
            .post(
                "/issue",
                &json!({"fields": {
                    "project": {"key": "SEC"},
                    "issuetype": {"name": "Task"},
                    "summary": summary,
                    "description": adf("Created by the integration."),
                    "labels": labels,
                }}),
            )
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 201);
        json_of(response).await["key"].as_str().unwrap().to_owned()
    }

    /// A `/_emulator` admin URL.
    pub fn admin(&self, path: &str) -> String {
        format!("{}/_emulator{path}", self.emulator.base_url())
    }
}

/// A one-paragraph ADF document.
pub fn adf(text: &str) -> Value {
    json!({"type": "doc", "version": 1, "content": [
        {"type": "paragraph", "content": [{"type": "text", "text": text}]}
    ]})
}

pub async fn json_of(response: Response) -> Value {
    response.json().await.unwrap()
}

/// The process-wide moto server (see the `moto-harness` crate).
pub fn moto_endpoint() -> String {
    moto_harness::MotoServer::shared()
        .expect("moto starts (run tests/bootstrap.sh first)")
        .endpoint()
        .to_owned()
}

/// An SNS topic in moto with an SQS queue subscribed (raw delivery), as the product's stack
/// wires Automation to its handler.
pub struct TopicQueue {
    pub target: SnsTarget,
    pub sqs: aws_sdk_sqs::Client,
    pub queue_url: String,
}

pub async fn topic_with_queue() -> TopicQueue {
    let endpoint = moto_endpoint();
    let config = aws_config::defaults(aws_config::BehaviorVersion::latest())
        .region(aws_config::Region::new("us-east-1"))
        .endpoint_url(&endpoint)
        .credentials_provider(aws_sdk_sqs::config::Credentials::new(
            "testing", "testing", None, None, "tests",
        ))
        .load()
        .await;
    let sns = aws_sdk_sns::Client::new(&config);
    let sqs = aws_sdk_sqs::Client::new(&config);
    let id = fastrand::u64(..);
    let topic_arn = sns
        .create_topic()
        .name(format!("jira-automation-{id:x}"))
        .send()
        .await
        .unwrap()
        .topic_arn
        .unwrap();
    let queue_url = sqs
        .create_queue()
        .queue_name(format!("jira-notifications-{id:x}"))
        .send()
        .await
        .unwrap()
        .queue_url
        .unwrap();
    let queue_arn = sqs
        .get_queue_attributes()
        .queue_url(&queue_url)
        .attribute_names(aws_sdk_sqs::types::QueueAttributeName::QueueArn)
        .send()
        .await
        .unwrap()
        .attributes
        .unwrap()
        .remove(&aws_sdk_sqs::types::QueueAttributeName::QueueArn)
        .unwrap();
    sns.subscribe()
        .topic_arn(&topic_arn)
        .protocol("sqs")
        .endpoint(queue_arn)
        .attributes("RawMessageDelivery", "true")
        .send()
        .await
        .unwrap();
    TopicQueue {
        target: SnsTarget {
            endpoint,
            topic_arn,
            region: "us-east-1".into(),
        },
        sqs,
        queue_url,
    }
}

impl TopicQueue {
    /// Receives messages until `count` arrived or `within` passed.
    pub async fn receive(&self, count: usize, within: Duration) -> Vec<String> {
        let deadline = Instant::now() + within;
        let mut bodies = Vec::new();
        while bodies.len() < count && Instant::now() < deadline {
            let output = self
                .sqs
                .receive_message()
                .queue_url(&self.queue_url)
                .max_number_of_messages(10)
                .wait_time_seconds(1)
                .send()
                .await
                .unwrap();
            for message in output.messages.unwrap_or_default() {
                bodies.extend(message.body);
                if let Some(handle) = message.receipt_handle {
                    self.sqs
                        .delete_message()
                        .queue_url(&self.queue_url)
                        .receipt_handle(handle)
                        .send()
                        .await
                        .unwrap();
                }
            }
        }
        bodies
    }
}
