//! AWS's delivery to the four Lambdas as a deterministic, seeded model of what the stack
//! (cdk/lib/stack.ts, cdk/contract.json) configures:
//!
//! - EventBridge: an event put on a bus is matched against every rule of that bus and becomes one
//!   asynchronous invocation of the rule's target per matching rule, in the envelope Lambda hands
//!   the handler. Only the pattern subset the contract uses is implemented (exact-value arrays on
//!   top-level and nested keys); anything else is refused when the rule is added.
//! - Lambda asynchronous invocation: one internal queue; at most `reserved_concurrency` runs of a
//!   function at once (the others wait, throttled, until `max_event_age`); an error or a timeout
//!   is retried `retry_attempts` times (about 1 min, then 2 min, seeded jitter), then the payload
//!   and its errors go to the function's DLQ. A run is cut at its timeout by dropping its future,
//!   which is what a timeout is for the code: it stops at the await it was parked on.
//! - At least once and unordered: with a seeded probability an invocation is delivered twice, and
//!   the seed picks the order among the invocations ready at the same instant.
//! - SNS → function with the same asynchronous semantics; rate schedules fire on virtual time.
//!
//! Runs that overlap are separate tasks on the current-thread runtime (`spawn_local` inside the
//! model's own `LocalSet`), so their awaits interleave. Determinism comes from tokio's paused
//! clock, the single thread and the seeded choices: no wall time, no hash order.
//! Every step lands in a [`Trace`] with its virtual time, for a failing run to print.

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::rc::Rc;
use std::time::Duration;

use clock::Instant;
use serde_json::{Value, json};
use tokio::sync::Notify;
use tokio::task::LocalSet;

/// The contract the CDK stack is built from.
pub const CONTRACT: &str = include_str!("../../../cdk/contract.json");
/// The account's default bus, where SIR's native events arrive.
pub const DEFAULT_BUS: &str = "default";
/// The Jira Automation topic the notifications handler is subscribed to.
pub const AUTOMATION_TOPIC: &str = "jira-automation";
pub const ACCOUNT: &str = "123456789012";
pub const REGION: &str = "us-east-1";

/// The functions, by their key in contract.json.
pub const POLLER: &str = "poller";
pub const JIRA_CLIENT: &str = "jiraClient";
pub const JIRA_NOTIFICATIONS_HANDLER: &str = "jiraNotificationsHandler";
pub const SIR_CLIENT: &str = "sirClient";

/// Lambda's asynchronous retries as the stack sets them (`retryAttempts: 2`).
pub const ASYNC_RETRY_ATTEMPTS: u32 = 2;
/// The stack's `maxEventAge` (functions and EventBridge targets alike).
pub const MAX_EVENT_AGE: Duration = Duration::from_secs(6 * 3600);
/// The EventBridge targets' `retryAttempts`. They retry only a failed Invoke call, which the
/// asynchronous queue of this model always accepts, so they never come into play here.
pub const EVENTBRIDGE_TARGET_RETRY_ATTEMPTS: u32 = 8;
/// deploy.sh's default `--reserved-concurrency` (cdk/lib/stack.ts).
pub const RESERVED_CONCURRENCY_DEFAULT: usize = 5;
/// cdk/lib/stack.ts `NOTIFICATIONS_RESERVED_CONCURRENCY`.
pub const NOTIFICATIONS_RESERVED_CONCURRENCY: usize = 2;
/// Lambda's delays before the first and the second asynchronous retry ("about 1 min, then 2").
const RETRY_DELAYS: [Duration; 2] = [Duration::from_secs(60), Duration::from_secs(120)];

/// What the model refuses.
#[derive(Debug, thiserror::Error)]
pub enum DeliveryError {
    #[error("rule {rule}: {source}")]
    Pattern {
        rule: String,
        #[source]
        source: PatternError,
    },
    #[error("rule {rule} targets {function}, which the stack does not have")]
    UnknownTarget { rule: String, function: String },
    #[error("no function {0} in the stack")]
    UnknownFunction(String),
    #[error("function {0} was invoked but has no handler")]
    NoHandler(String),
    #[error("cdk/contract.json is not JSON")]
    ContractJson(#[from] serde_json::Error),
    #[error("cdk/contract.json: {0} is missing or has the wrong type")]
    ContractField(String),
    #[error("the world was still busy after {0:?} of virtual time")]
    NotQuiet(Duration),
}

/// An event pattern outside the subset the simulator implements.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "unsupported event pattern at `{path}`: {why} (the simulator implements exact-value arrays on top-level and nested keys only)"
)]
pub struct PatternError {
    pub path: String,
    pub why: String,
}

/// A compiled EventBridge event pattern: every key must match, a key maps to exact values (the
/// event's field, or one element of it when it is an array, equals one of them) or to a nested
/// pattern over the event's object at that key.
#[derive(Debug, Clone, PartialEq)]
pub struct Pattern {
    fields: BTreeMap<String, FieldPattern>,
}

#[derive(Debug, Clone, PartialEq)]
enum FieldPattern {
    AnyOf(Vec<Value>),
    Nested(Pattern),
}

impl Pattern {
    pub fn compile(pattern: &Value) -> Result<Self, PatternError> {
        Self::compile_at(pattern, "")
    }

    fn compile_at(pattern: &Value, path: &str) -> Result<Self, PatternError> {
        let refuse = |at: &str, why: &str| PatternError {
            path: if at.is_empty() {
                "(root)".into()
            } else {
                at.to_string()
            },
            why: why.to_string(),
        };
        let Value::Object(map) = pattern else {
            return Err(refuse(path, "a pattern is a JSON object"));
        };
        if map.is_empty() {
            return Err(refuse(path, "an empty pattern (EventBridge refuses it)"));
        }
        let mut fields = BTreeMap::new();
        for (key, value) in map {
            let at = if path.is_empty() {
                key.clone()
            } else {
                format!("{path}.{key}")
            };
            let field = match value {
                Value::Array(items) if items.is_empty() => {
                    return Err(refuse(&at, "an empty value list matches nothing"));
                }
                Value::Array(items) => {
                    if items.iter().any(|item| item.is_object() || item.is_array()) {
                        return Err(refuse(
                            &at,
                            "content filters (prefix, anything-but, numeric, exists, …) are not modelled",
                        ));
                    }
                    FieldPattern::AnyOf(items.clone())
                }
                Value::Object(_) => FieldPattern::Nested(Self::compile_at(value, &at)?),
                _ => {
                    return Err(refuse(
                        &at,
                        "a value must be an array of exact values or an object",
                    ));
                }
            };
            fields.insert(key.clone(), field);
        }
        Ok(Self { fields })
    }

    /// Whether `event` (the whole envelope: source, detail-type, detail, …) matches.
    pub fn matches(&self, event: &Value) -> bool {
        self.fields.iter().all(|(key, field)| {
            let Some(value) = event.get(key) else {
                return false;
            };
            match field {
                FieldPattern::AnyOf(allowed) => match value {
                    Value::Array(items) => items.iter().any(|item| allowed.contains(item)),
                    single => allowed.contains(single),
                },
                FieldPattern::Nested(pattern) => value.is_object() && pattern.matches(value),
            }
        })
    }
}

/// A function's delivery settings, as the stack gives them.
#[derive(Debug, Clone, PartialEq)]
pub struct FunctionSettings {
    pub name: String,
    pub timeout: Duration,
    /// `None`: no reservation (the account's pool, unbounded here).
    pub reserved_concurrency: Option<usize>,
    pub retry_attempts: u32,
    pub max_event_age: Duration,
}

impl FunctionSettings {
    /// A function with the stack's asynchronous settings and no reserved concurrency.
    pub fn new(name: &str, timeout: Duration) -> Self {
        Self {
            name: name.to_string(),
            timeout,
            reserved_concurrency: None,
            retry_attempts: ASYNC_RETRY_ATTEMPTS,
            max_event_age: MAX_EVENT_AGE,
        }
    }

    pub fn reserved(mut self, concurrency: usize) -> Self {
        self.reserved_concurrency = Some(concurrency);
        self
    }
}

/// The delivery side of a stack: functions, rules, schedules, SNS subscriptions.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Stack {
    pub functions: Vec<FunctionSettings>,
    /// (rule name, bus, pattern, target function)
    pub rules: Vec<(String, String, Value, String)>,
    /// (rule name, rate, target function)
    pub schedules: Vec<(String, Duration, String)>,
    /// (topic, target function)
    pub subscriptions: Vec<(String, String)>,
}

impl Stack {
    pub fn function(mut self, settings: FunctionSettings) -> Self {
        self.functions.push(settings);
        self
    }

    pub fn rule(mut self, name: &str, bus: &str, pattern: Value, target: &str) -> Self {
        self.rules
            .push((name.into(), bus.into(), pattern, target.into()));
        self
    }

    pub fn schedule(mut self, name: &str, every: Duration, target: &str) -> Self {
        self.schedules.push((name.into(), every, target.into()));
        self
    }

    pub fn subscription(mut self, topic: &str, target: &str) -> Self {
        self.subscriptions.push((topic.into(), target.into()));
        self
    }

    /// The stack cdk/lib/stack.ts builds from cdk/contract.json, with deploy.sh's
    /// `--reserved-concurrency` (0 reserves none; the default is [`RESERVED_CONCURRENCY_DEFAULT`]).
    pub fn from_contract(reserved: usize) -> Result<Self, DeliveryError> {
        let contract: Value = serde_json::from_str(CONTRACT)?;
        let field = |pointer: &str| {
            contract
                .pointer(pointer)
                .ok_or_else(|| DeliveryError::ContractField(pointer.to_string()))
        };
        let seconds = |pointer: &str| {
            field(pointer)?
                .as_u64()
                .ok_or_else(|| DeliveryError::ContractField(pointer.to_string()))
        };
        let bus = field("/eventBus/name")?
            .as_str()
            .ok_or_else(|| DeliveryError::ContractField("/eventBus/name".into()))?
            .to_string();
        let mut stack = Self::default();
        for key in [POLLER, JIRA_CLIENT, JIRA_NOTIFICATIONS_HANDLER, SIR_CLIENT] {
            let timeout =
                Duration::from_secs(seconds(&format!("/functions/{key}/timeoutSeconds"))?);
            let mut settings = FunctionSettings::new(key, timeout);
            settings.reserved_concurrency = match key {
                _ if reserved == 0 => None,
                JIRA_CLIENT | SIR_CLIENT => Some(reserved),
                JIRA_NOTIFICATIONS_HANDLER => {
                    Some(reserved.min(NOTIFICATIONS_RESERVED_CONCURRENCY))
                }
                _ => None,
            };
            stack = stack.function(settings);
        }
        for (rule, rule_bus, target) in [
            ("JiraClientRule", bus.as_str(), JIRA_CLIENT),
            ("SirClientRule", bus.as_str(), SIR_CLIENT),
            ("NativeSirEventsRule", DEFAULT_BUS, POLLER),
        ] {
            let key = match target {
                JIRA_CLIENT => "jiraClient",
                SIR_CLIENT => "sirClient",
                _ => "nativeSir",
            };
            let pattern = field(&format!("/rules/{key}"))?.clone();
            stack = stack.rule(rule, rule_bus, pattern, target);
        }
        stack = stack.schedule("PollerScheduleRule", Duration::from_secs(60), POLLER);
        let sweep = seconds("/functions/jiraNotificationsHandler/sweepMinutes")?;
        if sweep > 0 {
            stack = stack.schedule(
                "JiraSweepScheduleRule",
                Duration::from_secs(60 * sweep),
                JIRA_NOTIFICATIONS_HANDLER,
            );
        }
        Ok(stack.subscription(AUTOMATION_TOPIC, JIRA_NOTIFICATIONS_HANDLER))
    }
}

/// The seeded choices of the model.
#[derive(Debug, Clone, PartialEq)]
pub struct DeliveryConfig {
    pub seed: u64,
    /// Probability that an asynchronous invocation is delivered twice.
    pub duplicate_probability: f64,
    /// An invocation becomes ready between 0 and this after it is queued (reorders close events).
    pub max_delivery_delay: Duration,
    /// Added to each retry delay, between 0 and this.
    pub retry_jitter: Duration,
}

impl DeliveryConfig {
    /// AWS-like defaults: 2 % duplicates, up to 2 s of queueing, up to 10 s of retry jitter.
    pub fn new(seed: u64) -> Self {
        Self {
            seed,
            duplicate_probability: 0.02,
            max_delivery_delay: Duration::from_secs(2),
            retry_jitter: Duration::from_secs(10),
        }
    }

    /// No duplicates, no queueing delay, no jitter: for tests of one mechanism at a time.
    pub fn exact(seed: u64) -> Self {
        Self {
            seed,
            duplicate_probability: 0.0,
            max_delivery_delay: Duration::ZERO,
            retry_jitter: Duration::ZERO,
        }
    }
}

/// A bus event's subject for the trace: its case id or issue key, and its changed fields.
fn about(detail: &Value) -> String {
    let subject = [
        &detail["case"]["caseId"],
        &detail["issue"]["issueKey"],
        &detail["caseId"],
        &detail["issueKey"],
    ]
    .into_iter()
    .find_map(Value::as_str)
    .unwrap_or_default();
    let mut named: Vec<String> = detail["changedFields"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .map(str::to_owned)
        .collect();
    for delta in ["comments", "attachments"] {
        if let Some(ids) = detail.get(delta) {
            named.push(format!("{delta}{ids}"));
        }
    }
    if detail["audit"] == Value::Bool(true) {
        named.push("(audit)".to_owned());
    }
    format!("{subject} {}", named.join(","))
        .trim_end()
        .to_owned()
}

/// One step of a run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StepKind {
    /// An event put on a bus, and the rules it matched.
    Published {
        bus: String,
        detail_type: String,
        rules: Vec<String>,
        /// What it is about: the case or issue, and the fields named as changed.
        about: String,
    },
    /// A message published to an SNS topic.
    SnsPublished {
        topic: String,
    },
    /// A schedule rule fired.
    Scheduled {
        rule: String,
    },
    /// An asynchronous invocation accepted into the function's queue.
    Queued,
    /// At-least-once: this invocation is a second delivery of `of`.
    Duplicated {
        of: u64,
    },
    /// Ready, but the function's reserved concurrency is used up.
    Throttled,
    /// A run starts (`attempt` 0 is the first delivery).
    Invoked {
        attempt: u32,
    },
    Ok,
    Error {
        message: String,
    },
    TimedOut {
        after: Duration,
    },
    /// Retry number `attempt` is due after `after`.
    Retried {
        attempt: u32,
        after: Duration,
    },
    DeadLettered {
        reason: String,
    },
}

/// A step with its virtual time since the model was created.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Step {
    pub at: Duration,
    pub function: Option<String>,
    pub invocation: Option<u64>,
    pub kind: StepKind,
}

impl fmt::Display for Step {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:>10.3}s", self.at.as_secs_f64())?;
        if let Some(function) = &self.function {
            write!(f, " {function}")?;
        }
        if let Some(id) = self.invocation {
            write!(f, " #{id}")?;
        }
        write!(f, " {:?}", self.kind)
    }
}

/// The whole run, one step per line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Trace(pub Vec<Step>);

impl fmt::Display for Trace {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for step in &self.0 {
            writeln!(f, "{step}")?;
        }
        Ok(())
    }
}

/// An invocation that ran out of retries or age, as the function's DLQ holds it.
#[derive(Debug, Clone, PartialEq)]
pub struct DeadLetter {
    pub function: String,
    pub invocation: u64,
    pub payload: Value,
    pub errors: Vec<String>,
    pub reason: String,
    pub at: Duration,
}

type HandlerFuture = Pin<Box<dyn Future<Output = Result<Value, String>>>>;
type Handler = Rc<dyn Fn(Value) -> HandlerFuture>;

struct Function {
    settings: FunctionSettings,
    handler: Option<Handler>,
    running: usize,
    peak_running: usize,
}

#[derive(Debug, Clone)]
struct Invocation {
    id: u64,
    function: String,
    payload: Value,
    queued_at: Instant,
    ready_at: Instant,
    attempt: u32,
    errors: Vec<String>,
    throttled: bool,
}

#[derive(Debug)]
enum Outcome {
    Ok,
    Err(String),
    TimedOut(Duration),
}

struct Rule {
    name: String,
    bus: String,
    pattern: Pattern,
    target: String,
}

struct Schedule {
    rule: String,
    every: Duration,
    target: String,
    next_at: Instant,
}

struct State {
    rng: fastrand::Rng,
    config: DeliveryConfig,
    started: Instant,
    next_id: u64,
    functions: BTreeMap<String, Function>,
    rules: Vec<Rule>,
    schedules: Vec<Schedule>,
    subscriptions: Vec<(String, String)>,
    queue: Vec<Invocation>,
    running: BTreeMap<u64, Invocation>,
    completions: Vec<(u64, Outcome)>,
    trace: Vec<Step>,
    dead_letters: Vec<DeadLetter>,
}

/// What the drive loop stops at.
#[derive(Debug, Clone, Copy)]
enum Stop {
    At(Instant),
    Idle { limit: Instant },
}

/// What the model is doing now, see [`DeliveryHandle::activity`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Activity {
    /// A run is in progress or finishing, or an invocation is ready to start.
    Busy,
    /// Nothing happens before this instant (the next retry, delayed delivery, schedule or
    /// maximum age; `None` when none is due) unless something is published.
    IdleUntil(Option<Instant>),
}

/// The model: owns the runs' `LocalSet`; [`DeliveryHandle`]s publish into it.
pub struct Delivery {
    handle: DeliveryHandle,
    local: LocalSet,
}

impl fmt::Debug for Delivery {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Delivery").finish_non_exhaustive()
    }
}

/// A cheap handle to publish events and read the record, for handlers and the world to hold.
#[derive(Clone)]
pub struct DeliveryHandle {
    state: Rc<RefCell<State>>,
    wake: Rc<Notify>,
}

impl fmt::Debug for DeliveryHandle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DeliveryHandle").finish_non_exhaustive()
    }
}

impl Delivery {
    /// The model of `stack`; schedules first fire one period from now.
    pub fn new(config: DeliveryConfig, stack: &Stack) -> Result<Self, DeliveryError> {
        let now = Instant::now();
        let functions: BTreeMap<String, Function> = stack
            .functions
            .iter()
            .map(|settings| {
                let function = Function {
                    settings: settings.clone(),
                    handler: None,
                    running: 0,
                    peak_running: 0,
                };
                (settings.name.clone(), function)
            })
            .collect();
        let known = |rule: &str, function: &str| {
            if functions.contains_key(function) {
                Ok(())
            } else {
                Err(DeliveryError::UnknownTarget {
                    rule: rule.to_string(),
                    function: function.to_string(),
                })
            }
        };
        let mut rules = Vec::new();
        for (name, bus, pattern, target) in &stack.rules {
            known(name, target)?;
            let pattern = Pattern::compile(pattern).map_err(|source| DeliveryError::Pattern {
                rule: name.clone(),
                source,
            })?;
            rules.push(Rule {
                name: name.clone(),
                bus: bus.clone(),
                pattern,
                target: target.clone(),
            });
        }
        let mut schedules = Vec::new();
        for (rule, every, target) in &stack.schedules {
            known(rule, target)?;
            schedules.push(Schedule {
                rule: rule.clone(),
                every: *every,
                target: target.clone(),
                next_at: now + *every,
            });
        }
        for (topic, target) in &stack.subscriptions {
            known(topic, target)?;
        }
        let state = State {
            rng: fastrand::Rng::with_seed(config.seed),
            config,
            started: now,
            next_id: 0,
            functions,
            rules,
            schedules,
            subscriptions: stack.subscriptions.clone(),
            queue: Vec::new(),
            running: BTreeMap::new(),
            completions: Vec::new(),
            trace: Vec::new(),
            dead_letters: Vec::new(),
        };
        Ok(Self {
            handle: DeliveryHandle {
                state: Rc::new(RefCell::new(state)),
                wake: Rc::new(Notify::new()),
            },
            local: LocalSet::new(),
        })
    }

    /// Runs `handler` for every invocation of `function` (replacing any earlier one).
    pub fn handle_with<F, Fut>(&self, function: &str, handler: F) -> Result<(), DeliveryError>
    where
        F: Fn(Value) -> Fut + 'static,
        Fut: Future<Output = Result<Value, String>> + 'static,
    {
        let handler: Handler = Rc::new(move |payload| Box::pin(handler(payload)) as HandlerFuture);
        let mut state = self.handle.state.borrow_mut();
        let entry = state
            .functions
            .get_mut(function)
            .ok_or_else(|| DeliveryError::UnknownFunction(function.to_string()))?;
        entry.handler = Some(handler);
        Ok(())
    }

    pub fn handle(&self) -> DeliveryHandle {
        self.handle.clone()
    }

    /// Delivers until `within` of virtual time has passed.
    pub async fn run_for(&self, within: Duration) -> Result<(), DeliveryError> {
        let stop = Stop::At(Instant::now() + within);
        self.local.run_until(self.drive(stop)).await
    }

    /// Delivers until nothing is queued or running (schedules fire meanwhile when due); an error
    /// if that takes longer than `limit` of virtual time.
    pub async fn run_until_idle(&self, limit: Duration) -> Result<(), DeliveryError> {
        let stop = Stop::Idle {
            limit: Instant::now() + limit,
        };
        self.local.run_until(self.drive(stop)).await
    }

    async fn drive(&self, stop: Stop) -> Result<(), DeliveryError> {
        let started = Instant::now();
        loop {
            let now = Instant::now();
            let starts = {
                let mut state = self.handle.state.borrow_mut();
                state.settle(now);
                state.fire_schedules(now);
                state.expire(now);
                state.start_ready(now)?
            };
            for (invocation, handler, timeout) in starts {
                self.spawn(invocation, &handler, timeout);
            }
            let wake_at = {
                let state = self.handle.state.borrow();
                let busy = !state.queue.is_empty()
                    || !state.running.is_empty()
                    || !state.completions.is_empty();
                match stop {
                    Stop::At(deadline) if now >= deadline => return Ok(()),
                    Stop::Idle { .. } if !busy => return Ok(()),
                    Stop::Idle { limit } if now >= limit => {
                        return Err(DeliveryError::NotQuiet(now - started));
                    }
                    _ => {}
                }
                let end = match stop {
                    Stop::At(deadline) => deadline,
                    Stop::Idle { limit } => limit,
                };
                state.next_wake(now).map_or(end, |at| at.min(end))
            };
            if !self.handle.state.borrow().completions.is_empty() {
                continue;
            }
            tokio::select! {
                () = self.handle.wake.notified() => {}
                () = tokio::time::sleep_until(wake_at) => {}
            }
        }
    }

    fn spawn(&self, invocation: Invocation, handler: &Handler, timeout: Duration) {
        let state = Rc::clone(&self.handle.state);
        let wake = Rc::clone(&self.handle.wake);
        let id = invocation.id;
        let run = handler(invocation.payload);
        tokio::task::spawn_local(async move {
            // The run is a task of its own so that a panic comes back as an error (the Lambda
            // runtime reports it as one) and aborting it at the timeout drops its future.
            let mut task = tokio::task::spawn_local(run);
            let outcome = match tokio::time::timeout(timeout, &mut task).await {
                Ok(Ok(Ok(_))) => Outcome::Ok,
                Ok(Ok(Err(message))) => Outcome::Err(message),
                Ok(Err(failed)) => Outcome::Err(format!("the handler panicked: {failed}")),
                Err(_) => {
                    task.abort();
                    Outcome::TimedOut(timeout)
                }
            };
            state.borrow_mut().completions.push((id, outcome));
            wake.notify_one();
        });
    }
}

impl DeliveryHandle {
    /// PutEvents of one entry on `bus`: one asynchronous invocation per matching rule, in the
    /// envelope Lambda delivers. Returns the event id.
    pub fn put_event(&self, bus: &str, source: &str, detail_type: &str, detail: Value) -> String {
        let mut state = self.state.borrow_mut();
        let id = state.event_id();
        let mut envelope = json!({
            "version": "0",
            "id": id,
            "detail-type": detail_type,
            "source": source,
            "account": ACCOUNT,
            "time": event_time(),
            "region": REGION,
            "resources": [],
        });
        envelope["detail"] = detail;
        let matched: Vec<(String, String)> = state
            .rules
            .iter()
            .filter(|rule| rule.bus == bus && rule.pattern.matches(&envelope))
            .map(|rule| (rule.name.clone(), rule.target.clone()))
            .collect();
        state.record(
            None,
            None,
            StepKind::Published {
                bus: bus.to_string(),
                detail_type: detail_type.to_string(),
                rules: matched.iter().map(|(rule, _)| rule.clone()).collect(),
                about: about(&envelope["detail"]),
            },
        );
        for (_, target) in matched {
            state.enqueue(&target, envelope.clone());
        }
        drop(state);
        self.wake.notify_one();
        id
    }

    /// Publishes `message` to `topic`: one asynchronous invocation per subscribed function, in
    /// the SNS event shape Lambda delivers. Returns the message id.
    pub fn publish_sns(&self, topic: &str, message: &str) -> String {
        let mut state = self.state.borrow_mut();
        let id = state.event_id();
        let topic_arn = format!("arn:aws:sns:{REGION}:{ACCOUNT}:{topic}");
        let event = json!({"Records": [{
            "EventSource": "aws:sns",
            "EventVersion": "1.0",
            "EventSubscriptionArn": format!("{topic_arn}:subscription"),
            "Sns": {
                "Type": "Notification",
                "MessageId": id,
                "TopicArn": topic_arn,
                "Subject": null,
                "Message": message,
                "Timestamp": event_time(),
                "SignatureVersion": "1",
                "Signature": "c2lnbmF0dXJl",
                "SigningCertUrl": "https://sns.example/cert.pem",
                "UnsubscribeUrl": "https://sns.example/unsubscribe",
                "MessageAttributes": {},
            }
        }]});
        state.record(
            None,
            None,
            StepKind::SnsPublished {
                topic: topic.to_string(),
            },
        );
        let targets: Vec<String> = state
            .subscriptions
            .iter()
            .filter(|(subscribed, _)| subscribed == topic)
            .map(|(_, target)| target.clone())
            .collect();
        for target in targets {
            state.enqueue(&target, event.clone());
        }
        drop(state);
        self.wake.notify_one();
        id
    }

    /// An asynchronous Invoke of `function` with `payload` (`InvocationType: Event`).
    pub fn invoke_async(&self, function: &str, payload: Value) -> Result<u64, DeliveryError> {
        let mut state = self.state.borrow_mut();
        if !state.functions.contains_key(function) {
            return Err(DeliveryError::UnknownFunction(function.to_string()));
        }
        let id = state.enqueue(function, payload);
        drop(state);
        self.wake.notify_one();
        Ok(id)
    }

    /// PutRule with a new rate (the poller switches its own schedule); the next fire is one new
    /// period from now.
    pub fn set_schedule_rate(&self, rule: &str, every: Duration) -> bool {
        let mut state = self.state.borrow_mut();
        let now = Instant::now();
        let Some(schedule) = state.schedules.iter_mut().find(|s| s.rule == rule) else {
            return false;
        };
        schedule.every = every;
        schedule.next_at = now + every;
        drop(state);
        self.wake.notify_one();
        true
    }

    pub fn trace(&self) -> Trace {
        Trace(self.state.borrow().trace.clone())
    }

    /// How many steps the trace holds (without copying it).
    pub fn trace_len(&self) -> usize {
        self.state.borrow().trace.len()
    }

    /// The trace's steps from `from` on.
    pub fn trace_since(&self, from: usize) -> Vec<Step> {
        self.state
            .borrow()
            .trace
            .get(from..)
            .map(<[Step]>::to_vec)
            .unwrap_or_default()
    }

    /// Whether anything runs, finishes or is ready now, and if not, until when the model does
    /// nothing unless something is published to it.
    pub fn activity(&self) -> Activity {
        let state = self.state.borrow();
        let now = Instant::now();
        if !state.running.is_empty()
            || !state.completions.is_empty()
            || state.queue.iter().any(|i| i.ready_at <= now)
        {
            return Activity::Busy;
        }
        Activity::IdleUntil(state.next_wake(now))
    }

    pub fn dead_letters(&self) -> Vec<DeadLetter> {
        self.state.borrow().dead_letters.clone()
    }

    /// The most runs of `function` that were in progress at once.
    pub fn peak_running(&self, function: &str) -> usize {
        self.state
            .borrow()
            .functions
            .get(function)
            .map_or(0, |f| f.peak_running)
    }
}

/// The envelope's `time`: the simulated wall clock, to the second as EventBridge writes it.
fn event_time() -> String {
    let now = time::OffsetDateTime::from(clock::now_system());
    let now = now.replace_nanosecond(0).unwrap_or(now);
    now.format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_default()
}

impl State {
    fn record(&mut self, function: Option<&str>, invocation: Option<u64>, kind: StepKind) {
        let at = Instant::now().saturating_duration_since(self.started);
        self.trace.push(Step {
            at,
            function: function.map(str::to_string),
            invocation,
            kind,
        });
    }

    /// A UUID-shaped id drawn from the seed.
    fn event_id(&mut self) -> String {
        let hex = format!("{:032x}", self.rng.u128(..));
        format!(
            "{}-{}-{}-{}-{}",
            &hex[..8],
            &hex[8..12],
            &hex[12..16],
            &hex[16..20],
            &hex[20..]
        )
    }

    fn delivery_delay(&mut self) -> Duration {
        let max = u64::try_from(self.config.max_delivery_delay.as_millis()).unwrap_or(u64::MAX);
        Duration::from_millis(self.rng.u64(0..=max))
    }

    /// Queues an invocation, and at the configured rate a second delivery of it.
    fn enqueue(&mut self, function: &str, payload: Value) -> u64 {
        let id = self.push(function, payload.clone());
        self.record(Some(function), Some(id), StepKind::Queued);
        if self.rng.f64() < self.config.duplicate_probability {
            let copy = self.push(function, payload);
            self.record(Some(function), Some(copy), StepKind::Duplicated { of: id });
        }
        id
    }

    fn push(&mut self, function: &str, payload: Value) -> u64 {
        let now = Instant::now();
        self.next_id += 1;
        let id = self.next_id;
        let ready_at = now + self.delivery_delay();
        self.queue.push(Invocation {
            id,
            function: function.to_string(),
            payload,
            queued_at: now,
            ready_at,
            attempt: 0,
            errors: Vec::new(),
            throttled: false,
        });
        id
    }

    /// Applies the outcomes of the runs that finished: ok, or retry, or DLQ.
    fn settle(&mut self, now: Instant) {
        for (id, outcome) in std::mem::take(&mut self.completions) {
            let Some(mut invocation) = self.running.remove(&id) else {
                continue;
            };
            let function = invocation.function.clone();
            let Some(entry) = self.functions.get_mut(&function) else {
                continue;
            };
            entry.running = entry.running.saturating_sub(1);
            let retry_attempts = entry.settings.retry_attempts;
            let max_age = entry.settings.max_event_age;
            let error = match outcome {
                Outcome::Ok => {
                    self.record(Some(&function), Some(id), StepKind::Ok);
                    continue;
                }
                Outcome::Err(message) => {
                    self.record(
                        Some(&function),
                        Some(id),
                        StepKind::Error {
                            message: message.clone(),
                        },
                    );
                    message
                }
                Outcome::TimedOut(after) => {
                    self.record(Some(&function), Some(id), StepKind::TimedOut { after });
                    format!("Task timed out after {:.2} seconds", after.as_secs_f64())
                }
            };
            invocation.errors.push(error);
            if invocation.attempt >= retry_attempts {
                self.dead_letter(invocation, "retry attempts exhausted");
                continue;
            }
            invocation.attempt += 1;
            let index = usize::try_from(invocation.attempt - 1).unwrap_or(usize::MAX);
            let base = RETRY_DELAYS
                .get(index)
                .copied()
                .unwrap_or(RETRY_DELAYS[RETRY_DELAYS.len() - 1]);
            let jitter_max =
                u64::try_from(self.config.retry_jitter.as_millis()).unwrap_or(u64::MAX);
            let after = base + Duration::from_millis(self.rng.u64(0..=jitter_max));
            if (now + after).saturating_duration_since(invocation.queued_at) > max_age {
                self.dead_letter(invocation, "maximum event age exceeded");
                continue;
            }
            self.record(
                Some(&function),
                Some(id),
                StepKind::Retried {
                    attempt: invocation.attempt,
                    after,
                },
            );
            invocation.ready_at = now + after;
            invocation.throttled = false;
            self.queue.push(invocation);
        }
    }

    fn dead_letter(&mut self, invocation: Invocation, reason: &str) {
        self.record(
            Some(&invocation.function),
            Some(invocation.id),
            StepKind::DeadLettered {
                reason: reason.to_string(),
            },
        );
        let at = Instant::now().saturating_duration_since(self.started);
        self.dead_letters.push(DeadLetter {
            function: invocation.function,
            invocation: invocation.id,
            payload: invocation.payload,
            errors: invocation.errors,
            reason: reason.to_string(),
            at,
        });
    }

    fn fire_schedules(&mut self, now: Instant) {
        let mut due = Vec::new();
        for schedule in &mut self.schedules {
            while schedule.next_at <= now {
                due.push((schedule.rule.clone(), schedule.target.clone()));
                schedule.next_at += schedule.every;
            }
        }
        for (rule, target) in due {
            self.record(None, None, StepKind::Scheduled { rule: rule.clone() });
            let event = json!({
                "version": "0",
                "id": self.event_id(),
                "detail-type": "Scheduled Event",
                "source": "aws.events",
                "account": ACCOUNT,
                "time": event_time(),
                "region": REGION,
                "resources": [format!("arn:aws:events:{REGION}:{ACCOUNT}:rule/{rule}")],
                "detail": {},
            });
            self.enqueue(&target, event);
        }
    }

    /// Queued invocations older than their function's maximum event age go to its DLQ.
    fn expire(&mut self, now: Instant) {
        let (expired, kept): (Vec<Invocation>, Vec<Invocation>) =
            std::mem::take(&mut self.queue).into_iter().partition(|i| {
                self.functions.get(&i.function).is_some_and(|f| {
                    now.saturating_duration_since(i.queued_at) > f.settings.max_event_age
                })
            });
        self.queue = kept;
        for invocation in expired {
            self.dead_letter(invocation, "maximum event age exceeded");
        }
    }

    /// Starts the ready invocations in a seeded order, as far as each function's reserved
    /// concurrency allows; the others are throttled and wait.
    fn start_ready(
        &mut self,
        now: Instant,
    ) -> Result<Vec<(Invocation, Handler, Duration)>, DeliveryError> {
        let mut ready: Vec<u64> = self
            .queue
            .iter()
            .filter(|i| i.ready_at <= now)
            .map(|i| i.id)
            .collect();
        self.rng.shuffle(&mut ready);
        let mut starts = Vec::new();
        for id in ready {
            let Some(position) = self.queue.iter().position(|i| i.id == id) else {
                continue;
            };
            let function = self.queue[position].function.clone();
            let entry = self
                .functions
                .get_mut(&function)
                .ok_or_else(|| DeliveryError::UnknownFunction(function.clone()))?;
            let limit = entry.settings.reserved_concurrency.unwrap_or(usize::MAX);
            if entry.running >= limit {
                if !self.queue[position].throttled {
                    self.queue[position].throttled = true;
                    self.record(Some(&function), Some(id), StepKind::Throttled);
                }
                continue;
            }
            let handler = entry
                .handler
                .clone()
                .ok_or_else(|| DeliveryError::NoHandler(function.clone()))?;
            entry.running += 1;
            entry.peak_running = entry.peak_running.max(entry.running);
            let timeout = entry.settings.timeout;
            let invocation = self.queue.remove(position);
            self.record(
                Some(&function),
                Some(id),
                StepKind::Invoked {
                    attempt: invocation.attempt,
                },
            );
            self.running.insert(id, invocation.clone());
            starts.push((invocation, handler, timeout));
        }
        Ok(starts)
    }

    /// The next instant something is due without a run finishing: an invocation becoming ready,
    /// a schedule, a queued invocation's maximum age.
    fn next_wake(&self, now: Instant) -> Option<Instant> {
        let ready = self
            .queue
            .iter()
            .filter(|i| i.ready_at > now)
            .map(|i| i.ready_at);
        let schedules = self.schedules.iter().map(|s| s.next_at);
        let ages = self.queue.iter().filter_map(|i| {
            self.functions
                .get(&i.function)
                .map(|f| i.queued_at + f.settings.max_event_age + Duration::from_millis(1))
        });
        ready.chain(schedules).chain(ages).min()
    }
}
