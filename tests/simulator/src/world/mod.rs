//! The whole integration in one thread on virtual time: the four handlers (their library code,
//! wired as `integration_tests::pipeline` wires them, each with its own SIR identity), both
//! emulators in process, one [`InMemoryMappingStore`] as the table, and AWS's delivery as
//! [`crate::delivery`] models it. A seeded workload of responders acts on both sides while the
//! sync runs; [`SimWorld::observe`] hands the end state to [`crate::invariants`].
//!
//! The handlers' bus publisher and the poller's schedule control are test adapters that put
//! what the handlers send in an outbox; [`SimWorld`] moves it, the SIR emulator's native events
//! and the Jira emulator's Automation messages into the delivery model every
//! [`PUMP_INTERVAL`] of virtual time (about EventBridge's and SNS's own latency).
//!
//! Under a [`FaultPlan`] the seed also picks action steps at which a fault is injected: a burst
//! of Jira 429s (with `Retry-After`) or 5xx answers, SIR throttling, a Jira or SIR write applied
//! and its answer lost, or the next Jira Automation message dropped, doubled or delayed in the
//! pump; a Jira or SIR write applied and never answered (its invocation stopped there until the
//! delivery model's timeout drops it); Jira or SIR down for longer than the retry window; and
//! store calls delayed so that invocations race. [`SimWorld::faults_injected`] counts them.
//!
//! The handlers reach the table through [`store::SimStore`], which adds those delays and, under
//! a [`Breakage`], drops what the breakage drops; the world reads the table directly.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use async_trait::async_trait;
use aws_lambda_events::eventbridge::EventBridgeEvent;
use aws_sdk_securityir::config::retry::{RetryPartition, TokenBucket};
use integration_tests::clients::sir_client_in_process;
use integration_tests::in_process::InProcessNet;
use jira_client::JiraClientHandler;
use jira_emulator::{JiraEmulator, JiraEmulatorConfig, User};
use jira_notifications_handler::NotificationHandler;
use poller::{Poller, PollerSettings, ScheduleControl, ScheduleRate};
use secrecy::SecretString;
use serde_json::{Value, json};
use shared::config::JiraSettings;
use shared::events::{BusEvent, MAX_ENTRY_BYTES};
use shared::jira::{JiraClient, RetryPolicy};
use shared::publisher::EventPublisher;
use shared::sir::SdkSirClient;
use shared::store::InMemoryMappingStore;
use sir_client::SirClientHandler;
use sir_emulator::{SirEmulator, SirEmulatorConfig};

use crate::delivery::{
    AUTOMATION_TOPIC, Activity, CONTRACT, DEFAULT_BUS, Delivery, DeliveryConfig, DeliveryError,
    DeliveryHandle, JIRA_CLIENT, JIRA_NOTIFICATIONS_HANDLER, POLLER, RESERVED_CONCURRENCY_DEFAULT,
    SIR_CLIENT, Stack, StepKind, Trace,
};
use crate::invariants;

mod breakage;
mod faults;
mod observe;
pub mod store;
mod workload;

pub use faults::{FaultKind, FaultPlan, OUTAGE_MAX, OUTAGE_MIN};
use store::SimStore;

/// The Jira project of the simulated world.
pub const PROJECT_KEY: &str = "SEC";
/// How often what the world sent is handed to the delivery model.
pub const PUMP_INTERVAL: Duration = Duration::from_millis(250);
/// The poller's schedule rule in [`Stack::from_contract`].
const POLLER_SCHEDULE_RULE: &str = "PollerScheduleRule";
/// The SIR access key a responder signs with.
const RESPONDER: &str = "responder";
/// How long the world must stay idle, schedules firing, to count as quiet.
const QUIET: Duration = Duration::from_secs(6 * 60);
/// The most virtual time one settling may take before the world is declared busy.
const SETTLE_LIMIT: Duration = Duration::from_secs(6 * 3600);
/// Jira Cloud's search index lag under [`SimOptions::hostile`].
pub const HOSTILE_SEARCH_LAG: Duration = Duration::from_secs(5);
/// Where the simulated wall clock starts (2026-11-18T…Z): fixed, so a seed replays.
const ORIGIN_UNIX_SECONDS: u64 = 1_795_000_000;

/// What the simulated world refuses or finds.
#[derive(Debug, thiserror::Error)]
pub enum SimError {
    #[error("delivery model")]
    Delivery(#[from] DeliveryError),
    #[error("SIR emulator")]
    Sir(#[from] sir_emulator::Error),
    #[error("Jira emulator")]
    Jira(#[from] jira_emulator::Error),
    #[error("Jira client")]
    JiraClient(#[source] shared::Error),
    #[error("mapping store")]
    Store(#[source] shared::Error),
}

/// What can be varied per run.
#[derive(Debug, Clone)]
pub struct SimOptions {
    /// The delivery model's seeded choices (its seed is also the workload's and the emulators').
    pub delivery: DeliveryConfig,
    /// deploy.sh's `--reserved-concurrency`.
    pub reserved_concurrency: usize,
    /// How long Jira's search index lags its writes.
    pub search_lag: Duration,
    /// The faults the seed injects, if any.
    pub faults: Option<FaultPlan>,
    /// A handler broken on purpose, to show the invariants catch it (never in a normal run).
    pub breakage: Option<Breakage>,
}

/// A deliberate break of the integration, made in the world's wiring (the product is unchanged):
/// a run under one must find a violation that a run without it does not.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Breakage {
    /// The comment id map is never written: the table drops every comment item-link write.
    CommentIdMapDropped,
    /// The SIR-side echo check removed: the poller and jira-client are not told which SIR
    /// principals are the integration's (`integration_principals` empty), so a comment
    /// sir-client wrote on a case, met before its id map is written, reads as a responder's.
    SirEchoCheckRemoved,
    /// The Jira-side echo check removed: jira-notifications-handler does not know the
    /// integration's Jira account ([`breakage::SelfUnaware`]), so a comment jira-client wrote on
    /// an issue, met before its id map is written, reads as a person's.
    JiraEchoCheckRemoved,
}

impl SimOptions {
    /// Delivery without duplicates, delays or jitter.
    pub fn exact(seed: u64) -> Self {
        Self {
            delivery: DeliveryConfig::exact(seed),
            reserved_concurrency: RESERVED_CONCURRENCY_DEFAULT,
            search_lag: Duration::ZERO,
            faults: None,
            breakage: None,
        }
    }

    /// AWS-like delivery (duplicates, queueing delays that reorder, retry jitter) and Jira's
    /// search lagging its writes by [`HOSTILE_SEARCH_LAG`].
    pub fn hostile(seed: u64) -> Self {
        Self {
            delivery: DeliveryConfig::new(seed),
            reserved_concurrency: RESERVED_CONCURRENCY_DEFAULT,
            search_lag: HOSTILE_SEARCH_LAG,
            faults: None,
            breakage: None,
        }
    }

    /// [`SimOptions::hostile`] with the default [`FaultPlan`].
    pub fn faulty(seed: u64) -> Self {
        Self {
            faults: Some(FaultPlan::default()),
            ..Self::hostile(seed)
        }
    }
}

/// What the handlers sent, waiting for the next pump.
#[derive(Debug, Default)]
struct Outbox {
    /// (bus, source, detail-type, detail JSON text)
    events: Mutex<Vec<(String, String, String, String)>>,
    rates: Mutex<Vec<Duration>>,
}

fn take<T>(list: &Mutex<Vec<T>>) -> Vec<T> {
    match list.lock() {
        Ok(mut list) => std::mem::take(&mut *list),
        Err(poisoned) => std::mem::take(&mut *poisoned.into_inner()),
    }
}

fn push<T>(list: &Mutex<Vec<T>>, item: T) {
    match list.lock() {
        Ok(mut list) => list.push(item),
        Err(poisoned) => poisoned.into_inner().push(item),
    }
}

/// [`EventPublisher`] into the outbox, refusing what PutEvents refuses (an entry over the size
/// limit), as `EventBridgePublisher` checks before sending.
#[derive(Debug)]
struct OutboxPublisher {
    outbox: Arc<Outbox>,
    bus: String,
}

#[async_trait]
impl EventPublisher for OutboxPublisher {
    async fn publish(&self, events: &[BusEvent]) -> shared::Result<()> {
        for event in events {
            let detail_type = event.detail_type();
            let bytes = event.entry_size()?;
            if bytes > MAX_ENTRY_BYTES {
                return Err(shared::Error::EventTooLarge {
                    detail_type: detail_type.as_str(),
                    subject: event.subject().to_owned(),
                    bytes,
                    limit: MAX_ENTRY_BYTES,
                });
            }
            push(
                &self.outbox.events,
                (
                    self.bus.clone(),
                    detail_type.source().to_owned(),
                    detail_type.as_str().to_owned(),
                    event.detail_json()?,
                ),
            );
        }
        Ok(())
    }
}

/// [`ScheduleControl`] as PutRule on the model's poller schedule (through the outbox).
#[derive(Debug)]
struct OutboxSchedule {
    outbox: Arc<Outbox>,
    rate: Mutex<ScheduleRate>,
}

#[async_trait]
impl ScheduleControl for OutboxSchedule {
    async fn set_rate(&self, rate: ScheduleRate) -> shared::Result<bool> {
        let mut current = match self.rate.lock() {
            Ok(current) => current,
            Err(poisoned) => poisoned.into_inner(),
        };
        if *current == rate {
            return Ok(false);
        }
        *current = rate;
        let every = match rate {
            ScheduleRate::EveryMinute => Duration::from_secs(60),
            ScheduleRate::EveryFiveMinutes => Duration::from_secs(300),
        };
        push(&self.outbox.rates, every);
        Ok(true)
    }
}

/// The four handlers, shared by the delivery model's runs.
struct Handlers {
    poller: Poller,
    jira_client: JiraClientHandler,
    notifications: NotificationHandler,
    sir_client: SirClientHandler,
}

/// One responder action of the workload, as the trace of a failing run shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Action {
    pub at: Duration,
    pub what: String,
}

/// The integration and its world on virtual time (build it inside a current-thread runtime
/// with paused time).
pub struct SimWorld {
    seed: u64,
    rng: fastrand::Rng,
    delivery: Delivery,
    handle: DeliveryHandle,
    outbox: Arc<Outbox>,
    pub sir: SirEmulator,
    pub jira: JiraEmulator,
    pub store: Arc<InMemoryMappingStore>,
    /// The table as the handlers reach it.
    sim_store: Arc<SimStore>,
    responder_jira: String,
    responder_principal: String,
    closed_cases: BTreeSet<String>,
    /// Workload comment token → the Jira comment id it was posted as.
    jira_comments: BTreeMap<String, String>,
    /// What the workload did that the end state is judged against.
    ledger: workload::Ledger,
    actions: Vec<Action>,
    fault_plan: Option<FaultPlan>,
    /// Its own generator, so that a plan leaves the workload and delivery of its seed as they are.
    fault_rng: fastrand::Rng,
    /// Crashes and outages draw from their own, so they leave `fault_rng`'s draws as they were.
    severe_rng: fastrand::Rng,
    faults_injected: BTreeMap<FaultKind, usize>,
    /// The fault waiting for the next Automation message.
    automation_fault: Option<FaultKind>,
    /// Automation messages held back, with when they are let through.
    delayed_messages: Vec<(clock::Instant, String)>,
    started: clock::Instant,
    _clock: clock::SimulatedClock,
}

impl std::fmt::Debug for SimWorld {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SimWorld")
            .field("seed", &self.seed)
            .finish_non_exhaustive()
    }
}

/// Jira retries as the Lambdas' policy shape, kept short.
fn retry_policy() -> RetryPolicy {
    RetryPolicy {
        max_retries: 3,
        min_delay: Duration::from_millis(200),
        max_delay: Duration::from_secs(2),
        max_retry_after: Duration::from_secs(10),
    }
}

fn integration_bus() -> String {
    serde_json::from_str::<Value>(CONTRACT)
        .ok()
        .and_then(|c| c.pointer("/eventBus/name")?.as_str().map(str::to_owned))
        .unwrap_or_else(|| shared::events::DEFAULT_EVENT_BUS_NAME.to_owned())
}

impl SimWorld {
    /// The world of `options`: the stack from the contract, the handlers wired to the in-process
    /// emulators and the in-memory table, the wall clock from a fixed origin.
    pub fn new(options: SimOptions) -> Result<Self, SimError> {
        let seed = options.delivery.seed;
        let clock =
            clock::simulate_from(SystemTime::UNIX_EPOCH + Duration::from_secs(ORIGIN_UNIX_SECONDS));
        // The emulators draw ids from the thread's generator: seeded, they replay.
        fastrand::seed(seed);
        let stack = Stack::from_contract(options.reserved_concurrency)?;
        let delivery = Delivery::new(options.delivery, &stack)?;
        let handle = delivery.handle();

        let sir = SirEmulator::in_process(SirEmulatorConfig::default())?;
        let jira = JiraEmulator::in_process(JiraEmulatorConfig {
            project_key: PROJECT_KEY.into(),
            search_lag: options.search_lag,
            ..JiraEmulatorConfig::default()
        })?;
        let responder_jira = jira
            .add_user(User::new("Ann Analyst", "ann@example.com"))
            .account_id;
        let net = InProcessNet::new(&jira, Some(&sir));
        let store = Arc::new(InMemoryMappingStore::new());
        let sim_store = Arc::new(SimStore::new(
            Arc::clone(&store),
            options.faults.map_or(0.0, |plan| plan.store_race_share),
            seed ^ 0x5707_E0FA,
            options.breakage,
        ));
        let outbox = Arc::new(Outbox::default());
        let publisher = || {
            Arc::new(OutboxPublisher {
                outbox: Arc::clone(&outbox),
                bus: integration_bus(),
            })
        };
        let settings = JiraSettings {
            email: "integration@example.com".into(),
            url: jira.base_url(),
            project_key: PROJECT_KEY.into(),
            token: SecretString::from("integration-token".to_owned()),
            flavor: shared::config::JiraFlavor::Cloud,
            token_expires_on: None,
            token_version: None,
            api_url: None,
        };
        let jira_api = || -> Result<Arc<JiraClient>, SimError> {
            Ok(Arc::new(
                JiraClient::with_transport(&settings, Arc::new(net.clone()))
                    .map_err(SimError::JiraClient)?
                    .with_retry_policy(retry_policy()),
            ))
        };
        // Each function signs with its own key: sir-client's writes are "the integration's".
        // And each has its own retry token bucket, as each Lambda's process has: the SDK's
        // default one is the process's, shared by every world (and seed) the process runs, so a
        // seed would retry differently after another and not replay alone.
        let sir_api = |function: &str| {
            let sdk = sir_client_in_process(&net, &sir.endpoint(), function);
            let config = sdk
                .config()
                .to_builder()
                .retry_partition(
                    RetryPartition::custom(function.to_owned())
                        .token_bucket(TokenBucket::default())
                        .build(),
                )
                .build();
            Arc::new(SdkSirClient::with_transport(
                aws_sdk_securityir::Client::from_conf(config),
                Arc::new(net.clone()),
            ))
        };
        let ours = match options.breakage {
            Some(Breakage::SirEchoCheckRemoved) => Vec::new(),
            _ => vec![sir.principal(SIR_CLIENT), sir.principal(JIRA_CLIENT)],
        };
        let poller = Poller {
            sir: sir_api(POLLER),
            store: sim_store.clone(),
            publisher: publisher(),
            schedule: Arc::new(OutboxSchedule {
                outbox: Arc::clone(&outbox),
                rate: Mutex::new(ScheduleRate::EveryMinute),
            }),
            settings: PollerSettings {
                integration_principals: ours.clone(),
                ..PollerSettings::default()
            },
        };
        let mut jira_client_settings =
            jira_client::JiraClientSettings::new(PROJECT_KEY, jira.base_url(), "us-east-1");
        jira_client_settings.integration_principals = ours;
        let jira_client = JiraClientHandler::new(
            jira_api()?,
            sir_api(JIRA_CLIENT),
            sim_store.clone(),
            jira_client_settings,
        );
        let notifications_jira: Arc<dyn shared::jira::JiraApi> = match options.breakage {
            Some(Breakage::JiraEchoCheckRemoved) => Arc::new(breakage::SelfUnaware(jira_api()?)),
            _ => jira_api()?,
        };
        let notifications = NotificationHandler::new(
            notifications_jira,
            sim_store.clone(),
            publisher(),
            jira_notifications_handler::NotificationsSettings::new(PROJECT_KEY),
        );
        let sir_client = SirClientHandler::new(
            sir_api(SIR_CLIENT),
            jira_api()?,
            sim_store.clone(),
            sir_client::SirClientSettings::new(PROJECT_KEY, jira.base_url(), "us-east-1"),
        );
        let handlers = Arc::new(Handlers {
            poller,
            jira_client,
            notifications,
            sir_client,
        });
        let chain = |e: &dyn std::error::Error| shared::error::error_chain(e);
        let h = Arc::clone(&handlers);
        delivery.handle_with(POLLER, move |event| {
            let h = Arc::clone(&h);
            async move {
                h.poller
                    .handle(&event)
                    .await
                    .map(|report| json!(format!("{report:?}")))
                    .map_err(|e| chain(&e))
            }
        })?;
        let h = Arc::clone(&handlers);
        delivery.handle_with(JIRA_CLIENT, move |event| {
            let h = Arc::clone(&h);
            async move {
                let event: EventBridgeEvent<Value> =
                    serde_json::from_value(event).map_err(|e| e.to_string())?;
                let applied = h.jira_client.handle(event).await.map_err(|e| chain(&e))?;
                serde_json::to_value(applied).map_err(|e| e.to_string())
            }
        })?;
        let h = Arc::clone(&handlers);
        delivery.handle_with(JIRA_NOTIFICATIONS_HANDLER, move |event| {
            let h = Arc::clone(&h);
            async move {
                let report = h
                    .notifications
                    .handle_invocation(event)
                    .await
                    .map_err(|e| chain(&e))?;
                serde_json::to_value(report).map_err(|e| e.to_string())
            }
        })?;
        let h = Arc::clone(&handlers);
        delivery.handle_with(SIR_CLIENT, move |event| {
            let h = Arc::clone(&h);
            async move {
                let event: EventBridgeEvent<Value> =
                    serde_json::from_value(event).map_err(|e| e.to_string())?;
                let applied = h.sir_client.handle(event).await.map_err(|e| chain(&e))?;
                serde_json::to_value(applied).map_err(|e| e.to_string())
            }
        })?;

        let responder_principal = sir.principal(RESPONDER);
        let ledger = workload::Ledger::with_watchers(&jira);
        Ok(Self {
            seed,
            rng: fastrand::Rng::with_seed(seed),
            delivery,
            handle,
            outbox,
            sir,
            jira,
            store,
            sim_store,
            responder_jira,
            responder_principal,
            closed_cases: BTreeSet::new(),
            jira_comments: BTreeMap::new(),
            ledger,
            actions: Vec::new(),
            fault_plan: options.faults,
            fault_rng: fastrand::Rng::with_seed(seed ^ 0xFA17_FA17),
            severe_rng: fastrand::Rng::with_seed(seed ^ 0x5E7E_FA17),
            faults_injected: BTreeMap::new(),
            automation_fault: None,
            delayed_messages: Vec::new(),
            started: clock::Instant::now(),
            _clock: clock,
        })
    }

    pub fn seed(&self) -> u64 {
        self.seed
    }

    /// Hands what the world sent since the last pump to the delivery model; how many items.
    fn pump(&mut self) -> usize {
        let mut moved = 0;
        for entry in self.sir.take_events() {
            let detail = serde_json::from_str(&entry.detail).unwrap_or(Value::String(entry.detail));
            self.handle
                .put_event(DEFAULT_BUS, &entry.source, &entry.detail_type, detail);
            moved += 1;
        }
        let now = clock::Instant::now();
        let (due, held): (Vec<_>, Vec<_>) = std::mem::take(&mut self.delayed_messages)
            .into_iter()
            .partition(|(at, _)| *at <= now);
        self.delayed_messages = held;
        for (_, message) in due {
            self.handle.publish_sns(AUTOMATION_TOPIC, &message);
            moved += 1;
        }
        for message in self.jira.take_automation_messages() {
            moved += 1;
            match self.automation_fault.take() {
                Some(kind @ FaultKind::AutomationDropped) => self.count_fault(kind, ""),
                Some(kind @ FaultKind::AutomationDoubled) => {
                    self.count_fault(kind, "");
                    self.handle.publish_sns(AUTOMATION_TOPIC, &message);
                    self.handle.publish_sns(AUTOMATION_TOPIC, &message);
                }
                Some(kind @ FaultKind::AutomationDelayed) => {
                    self.count_fault(kind, "");
                    let late = Duration::from_secs(self.fault_rng.u64(10..=300));
                    self.delayed_messages.push((now + late, message));
                }
                other => {
                    self.automation_fault = other;
                    self.handle.publish_sns(AUTOMATION_TOPIC, &message);
                }
            }
        }
        for (bus, source, detail_type, detail) in take(&self.outbox.events) {
            let detail = serde_json::from_str(&detail).unwrap_or(Value::String(detail));
            self.handle.put_event(&bus, &source, &detail_type, detail);
            moved += 1;
        }
        for every in take(&self.outbox.rates) {
            self.handle.set_schedule_rate(POLLER_SCHEDULE_RULE, every);
            moved += 1;
        }
        self.count_store_races();
        moved
    }

    /// Lets `span` of virtual time pass with everything delivered as it goes.
    ///
    /// While no handler runs nothing reaches the pump, so the world skips ahead to the model's
    /// next due instant (or a held Automation message's) instead of pumping every
    /// [`PUMP_INTERVAL`]: the same history, far fewer steps.
    pub async fn advance(&mut self, span: Duration) -> Result<(), SimError> {
        let end = clock::Instant::now() + span;
        loop {
            let moved = self.pump();
            let now = clock::Instant::now();
            if now >= end {
                return Ok(());
            }
            let step = match self.handle.activity() {
                Activity::IdleUntil(next) if moved == 0 => {
                    let held = self.delayed_messages.iter().map(|(at, _)| *at).min();
                    let until = [next, held].into_iter().flatten().min().unwrap_or(end);
                    until.saturating_duration_since(now).max(PUMP_INTERVAL)
                }
                _ => PUMP_INTERVAL,
            };
            self.delivery.run_for(step.min(end - now)).await?;
        }
    }

    /// Delivers until nothing is queued, running or waiting to be pumped.
    async fn settle(&mut self) -> Result<(), SimError> {
        let end = clock::Instant::now() + SETTLE_LIMIT;
        loop {
            let moved = self.pump();
            let now = clock::Instant::now();
            if now >= end {
                return Err(DeliveryError::NotQuiet(SETTLE_LIMIT).into());
            }
            self.delivery.run_until_idle(end - now).await?;
            if moved == 0 && self.pump() == 0 {
                return Ok(());
            }
        }
    }

    /// Settles, lets [`QUIET`] pass with the schedules firing, and settles again until a quiet
    /// span moves nothing; then one reconcile-and-audit request to the poller, quiet again, and
    /// one audit interval of the Jira sweep's (its next round of every open issue: what a Jira
    /// change no message announced — a watcher added — waits for), quiet again.
    pub async fn run_until_quiet(&mut self) -> Result<(), SimError> {
        self.quiet().await?;
        self.handle.invoke_async(
            POLLER,
            json!({"reconcile": {"dryRun": false, "audit": true}}),
        )?;
        self.quiet().await?;
        let interval = jira_notifications_handler::Sweeping::default().audit_interval;
        self.advance(interval).await?;
        self.quiet().await
    }

    async fn quiet(&mut self) -> Result<(), SimError> {
        for _ in 0..20 {
            self.settle().await?;
            let before = self.handle.trace_len();
            let writes_before = self.integration_writes();
            self.advance(QUIET).await?;
            self.settle().await?;
            // Schedules firing (throttled or delivered twice) and finding nothing is quiet, and
            // so is the poller's audit of a pair in sync (it publishes, and nothing is written:
            // with many open pairs it never stops); anything else published, failed or retried,
            // or any remote write, is not.
            let changed = self
                .handle
                .trace_since(before)
                .iter()
                .any(|step| match &step.kind {
                    StepKind::Published { about, .. } => !about.ends_with("(audit)"),
                    kind => matches!(
                        kind,
                        StepKind::SnsPublished { .. }
                            | StepKind::Error { .. }
                            | StepKind::TimedOut { .. }
                            | StepKind::Retried { .. }
                            | StepKind::DeadLettered { .. }
                    ),
                });
            if !changed && self.integration_writes() == writes_before {
                return Ok(());
            }
        }
        Err(DeliveryError::NotQuiet(QUIET * 20).into())
    }

    /// How many responder actions the workload took (the log also holds the faults).
    pub fn responder_actions(&self) -> usize {
        self.actions
            .iter()
            .filter(|action| !action.what.starts_with("fault:"))
            .count()
    }

    /// The remote writes the integration made so far, both sides (attempts, as the wire sees
    /// them: a retried write counts each time).
    pub fn integration_writes(&self) -> usize {
        let sir = self
            .sir
            .requests()
            .iter()
            .filter(|r| {
                r.access_key_id
                    .as_deref()
                    .is_some_and(|key| key != RESPONDER)
            })
            .filter(|r| {
                !["Get", "List", "BatchGet", "Unknown"]
                    .iter()
                    .any(|read| r.operation.starts_with(read))
            })
            .count();
        let jira = self
            .jira
            .requests()
            .iter()
            .filter(|r| r.account_id.as_deref() != Some(self.responder_jira.as_str()))
            .filter(|r| !matches!(r.method.as_str(), "GET" | "HEAD"))
            .filter(|r| !(r.path.ends_with("/search") || r.path.contains("/search/")))
            .count();
        sir + jira
    }

    fn log(&mut self, what: String) {
        let at = clock::Instant::now().saturating_duration_since(self.started);
        self.actions.push(Action { at, what });
    }

    /// The delivery model's trace so far.
    pub fn trace(&self) -> Trace {
        self.handle.trace()
    }

    /// The responder actions so far, with their virtual times.
    pub fn actions(&self) -> &[Action] {
        &self.actions
    }

    /// A failing run's report: the seed, the workload, the trace's last `tail` steps and the
    /// violations.
    pub fn report(&self, violations: &[invariants::Violation], tail: usize) -> String {
        let trace = self.trace();
        let skip = trace.0.len().saturating_sub(tail);
        let mut out = format!(
            "seed {} (SIM_SEED={} replays it)\nactions:\n",
            self.seed, self.seed
        );
        for action in &self.actions {
            out.push_str(&format!(
                "{:>10.3}s {}\n",
                action.at.as_secs_f64(),
                action.what
            ));
        }
        out.push_str(&format!(
            "trace (last {} of {} steps):\n",
            trace.0.len() - skip,
            trace.0.len()
        ));
        for step in &trace.0[skip..] {
            out.push_str(&format!("{step}\n"));
        }
        out.push_str(&format!("faults injected: {:?}\n", self.faults_injected));
        out.push_str("violations:\n");
        for violation in violations {
            out.push_str(&format!("  {violation}\n"));
        }
        out
    }
}
