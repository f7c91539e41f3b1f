//! Jira Automation: after every committed change of an issue, the message a "send to SNS" rule
//! would publish, `{"automationData":{"IssueId":"SEC-12"}}`, goes to the configured SNS topic.
//!
//! Messages leave in order from one background task, so a Jira request never waits for (or
//! fails because of) SNS; failures are logged and counted. In process there is no task: the
//! messages wait, in order, for the caller to take them ([`Automation::take_pending`]).
//!
//! Jira Data Center has no Amazon SNS action: there the rules are off at start and, turned on,
//! only record their messages (nothing is published, nothing waits for an in-process caller).

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use aws_config::{BehaviorVersion, Region};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

use crate::lock;

/// Where Automation messages go: an SNS topic on an SNS-compatible endpoint (moto).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SnsTarget {
    pub endpoint: String,
    pub topic_arn: String,
    pub region: String,
}

#[derive(Debug)]
struct AutomationState {
    enabled: AtomicBool,
    /// The rules' condition "Initiator is not <account>": changes this account makes stop at
    /// the condition, publish nothing and (as Atlassian meters runs that act) use no run.
    skip_initiator: Mutex<Option<String>>,
    /// Rule runs that stopped at that condition.
    stopped_at_condition: AtomicU64,
    /// The rules' message names the initiator (`"Initiator":"{{initiator.accountId}}"`, as the
    /// README's rules do); off: the older rules' key-only message.
    names_initiator: AtomicBool,
    /// To the publishing task; `None` in process.
    queue: Option<mpsc::UnboundedSender<String>>,
    /// Without a queue: whether messages wait for the caller (in process) or are only recorded
    /// (Data Center).
    hand_over: bool,
    /// In process: messages not taken yet.
    pending: Mutex<Vec<String>>,
    queued: AtomicU64,
    finished: AtomicU64,
    published: Mutex<Vec<String>>,
    failures: Mutex<Vec<String>>,
}

/// Handle on the emulator's Automation rules; clones share them.
#[derive(Debug, Clone)]
pub struct Automation {
    state: Arc<AutomationState>,
}

/// What kind of change a message is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum IssueEvent {
    Changed,
    Deleted,
}

impl Automation {
    /// Starts the publishing task; without a target, messages are only recorded.
    pub(crate) async fn start(target: Option<SnsTarget>) -> (Automation, JoinHandle<()>) {
        let (queue, receiver) = mpsc::unbounded_channel();
        let automation = Automation::with_queue(Some(queue));
        let sns = match target {
            Some(target) => Some((sns_client(&target).await, target.topic_arn)),
            None => None,
        };
        let task = tokio::spawn(publish_all(receiver, sns, Arc::clone(&automation.state)));
        (automation, task)
    }

    /// No task: messages are recorded as published and wait for [`Automation::take_pending`].
    pub(crate) fn in_process() -> Automation {
        Automation::with_queue(None)
    }

    /// Data Center's: off at start, and messages (once turned on) only recorded, never
    /// published nor handed over, as Data Center has no SNS action.
    pub(crate) fn data_center() -> Automation {
        Automation {
            state: Arc::new(AutomationState {
                enabled: AtomicBool::new(false),
                hand_over: false,
                ..Automation::state(None)
            }),
        }
    }

    fn with_queue(queue: Option<mpsc::UnboundedSender<String>>) -> Automation {
        Automation {
            state: Arc::new(Automation::state(queue)),
        }
    }

    fn state(queue: Option<mpsc::UnboundedSender<String>>) -> AutomationState {
        AutomationState {
            enabled: AtomicBool::new(true),
            skip_initiator: Mutex::new(None),
            stopped_at_condition: AtomicU64::new(0),
            names_initiator: AtomicBool::new(true),
            queue,
            hand_over: true,
            pending: Mutex::new(Vec::new()),
            queued: AtomicU64::new(0),
            finished: AtomicU64::new(0),
            published: Mutex::new(Vec::new()),
            failures: Mutex::new(Vec::new()),
        }
    }

    /// In process: the messages produced since the last call, oldest first.
    pub(crate) fn take_pending(&self) -> Vec<String> {
        std::mem::take(&mut *lock(&self.state.pending))
    }

    /// Turns the rules on or off (on at start; off in Data Center).
    pub fn set_enabled(&self, enabled: bool) {
        self.state.enabled.store(enabled, Ordering::SeqCst);
    }

    pub fn is_enabled(&self) -> bool {
        self.state.enabled.load(Ordering::SeqCst)
    }

    /// Gives every rule the condition "Initiator is not `account_id`" (the README asks for it
    /// with the integration user), or removes it (`None`, as at start).
    pub fn set_skip_initiator(&self, account_id: Option<String>) {
        *lock(&self.state.skip_initiator) = account_id;
    }

    /// Whether the rules' message names the initiator (on at start; off: the key-only message of
    /// rules made before the README asked for `Initiator`).
    pub fn set_names_initiator(&self, names_initiator: bool) {
        self.state
            .names_initiator
            .store(names_initiator, Ordering::SeqCst);
    }

    /// Rule runs that stopped at the initiator condition (published nothing).
    pub fn stopped_at_condition(&self) -> u64 {
        self.state.stopped_at_condition.load(Ordering::SeqCst)
    }

    /// Publishes `raw_message` as it is, whether the rules are on or not: a stand-in for anyone
    /// who can publish to the topic, for the handler's security tests.
    pub fn publish_forged(&self, raw_message: &str) {
        self.enqueue(raw_message.to_owned());
    }

    /// Messages published so far (recorded only, when there is no SNS target), oldest first.
    pub fn published(&self) -> Vec<String> {
        lock(&self.state.published).clone()
    }

    /// How many messages could not be published.
    pub fn failure_count(&self) -> u64 {
        lock(&self.state.failures).len() as u64
    }

    /// Why each failed message failed, oldest first.
    pub fn failures(&self) -> Vec<String> {
        lock(&self.state.failures).clone()
    }

    /// Waits until every message queued so far has been published or has failed; `false` when
    /// `timeout` passed first.
    pub async fn wait_idle(&self, timeout: Duration) -> bool {
        let deadline = clock::Instant::now() + timeout;
        loop {
            let queued = self.state.queued.load(Ordering::SeqCst);
            if self.state.finished.load(Ordering::SeqCst) >= queued {
                return true;
            }
            if clock::Instant::now() >= deadline {
                return false;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }

    /// Called after `initiator` committed a change: queues the rule's message when the rules are
    /// on and their condition lets the initiator through.
    pub(crate) fn issue_event(&self, key: &str, event: IssueEvent, initiator: &str) {
        if !self.is_enabled() {
            return;
        }
        if lock(&self.state.skip_initiator).as_deref() == Some(initiator) {
            self.state
                .stopped_at_condition
                .fetch_add(1, Ordering::SeqCst);
            return;
        }
        let mut data = serde_json::json!({"IssueId": key});
        if event == IssueEvent::Deleted {
            data["Event"] = "issue_deleted".into();
        }
        if self.state.names_initiator.load(Ordering::SeqCst) {
            data["Initiator"] = initiator.into();
        }
        let message = serde_json::json!({ "automationData": data });
        self.enqueue(message.to_string());
    }

    fn enqueue(&self, message: String) {
        self.state.queued.fetch_add(1, Ordering::SeqCst);
        let Some(queue) = &self.state.queue else {
            lock(&self.state.published).push(message.clone());
            if self.state.hand_over {
                lock(&self.state.pending).push(message);
            }
            self.state.finished.fetch_add(1, Ordering::SeqCst);
            return;
        };
        if queue.send(message).is_err() {
            self.state.finished.fetch_add(1, Ordering::SeqCst);
            record_failure(&self.state, "the publishing task has stopped".into());
        }
    }
}

async fn sns_client(target: &SnsTarget) -> aws_sdk_sns::Client {
    let config = aws_config::defaults(BehaviorVersion::latest())
        .region(Region::new(target.region.clone()))
        .endpoint_url(&target.endpoint)
        .credentials_provider(aws_sdk_sns::config::Credentials::new(
            "testing",
            "testing",
            None,
            None,
            "jira-emulator",
        ))
        .load()
        .await;
    aws_sdk_sns::Client::new(&config)
}

async fn publish_all(
    mut receiver: mpsc::UnboundedReceiver<String>,
    sns: Option<(aws_sdk_sns::Client, String)>,
    state: Arc<AutomationState>,
) {
    while let Some(message) = receiver.recv().await {
        let outcome = match &sns {
            Some((client, topic_arn)) => client
                .publish()
                .topic_arn(topic_arn)
                .message(&message)
                .send()
                .await
                .map(drop)
                .map_err(|error| {
                    format!(
                        "publishing {message} to {topic_arn}: {}",
                        aws_sdk_sns::error::DisplayErrorContext(&error)
                    )
                }),
            None => Ok(()),
        };
        match outcome {
            Ok(()) => lock(&state.published).push(message),
            Err(reason) => record_failure(&state, reason),
        }
        state.finished.fetch_add(1, Ordering::SeqCst);
    }
}

fn record_failure(state: &AutomationState, reason: String) {
    tracing::warn!(%reason, "Jira Automation could not publish to SNS");
    lock(&state.failures).push(reason);
}
