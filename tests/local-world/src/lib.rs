//! `./deploy.sh --local`: the whole integration on one machine, on loopback only, with no AWS
//! account and, by default, no Jira site.
//!
//! It starts moto (from the project's `.venv`), the SIR emulator and (unless a real Jira site is
//! given) the Jira emulator; creates in moto the resources the CDK stack defines, named and
//! shaped from the same description the stack reads (`cdk/contract.json`, checked against the
//! Rust constants by `tests/tests/infra_contract.rs`): the mapping table, the integration bus, the
//! three rules (each delivering to an SQS queue standing in for its Lambda target), the poller's
//! schedule rule, the Jira Automation SNS topic (a queue subscribed) and the SSM parameters,
//! the token as a SecureString. The four handlers are built by their own configuration loaders
//! from the environment names of the contract and SSM, exactly as each `main.rs` builds them,
//! and fed from their queues as Lambda would be, plus the poller's schedule.
//!
//! Every sync action prints one line; `--demo` runs a scripted walk-through and says whether each
//! step was seen on the other side in time. A running local world also serves the on-demand
//! reconcile (`./deploy.sh --local --reconcile [--dry-run] [--audit]`, [`request_reconcile`]) through
//! request/response files in [`control_dir`].
//!
//! The local world's runner, built on the test harness (`integration-tests`): this crate's
//! binaries are `sir-jira-local` (the above) and the two emulators on their own, `sir-emulator`
//! and `jira-emulator` ([`announce`], [`until_stopped`]).

#![allow(
    clippy::disallowed_methods,
    reason = "the local world runs on real time: its schedule and waits are the real ones"
)]

use std::collections::HashMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use aws_lambda_events::eventbridge::EventBridgeEvent;
use aws_sdk_eventbridge::types::RuleState;
use jira_client::{JiraClientConfig, JiraClientHandler};
use jira_emulator::{JiraEmulator, JiraEmulatorConfig, SnsTarget, User};
use jira_notifications_handler::{NotificationHandler, NotificationsConfig};
use poller::{EventBridgeSchedule, Poller, PollerConfig};
use secrecy::{ExposeSecret, SecretString};
use serde_json::{Value, json};
use shared::config::{DataCenterAuth, JiraFlavor};
use shared::jira::{JiraApi, JiraClient};
use shared::publisher::EventBridgePublisher;
use shared::sir::SdkSirClient;
use shared::store::DynamoMappingStore;
use sir_client::{SirClientConfig, SirClientHandler};
use sir_emulator::{SirEmulator, SirEmulatorConfig};
use tokio::sync::watch;

use integration_tests::clients::sir_client;
use integration_tests::function_url::FunctionUrl;
use integration_tests::iam::Function;
use integration_tests::metrics_log::MetricsLog;
pub use integration_tests::pipeline::Intake;
use integration_tests::pipeline::{parse, sns_event};
use integration_tests::world::{REGION, RuleQueue};
use integration_tests::{HarnessError, World};

/// The description of names and patterns the CDK stack reads (one source for both).
pub const CONTRACT: &str = include_str!("../../../cdk/contract.json");
/// The mapping table's name in local mode (CloudFormation names it in AWS).
pub const LOCAL_TABLE_NAME: &str = "sir-jira-mapping";
/// The stack local mode stands for (`defaultStackName` of `cdk/contract.json`, checked at start).
pub const LOCAL_STACK_NAME: &str = "SecurityIncidentResponseJira";
/// The poller's schedule rule in local mode (on the default bus, named as the stack names it).
pub const LOCAL_SCHEDULE_RULE: &str = "SecurityIncidentResponseJira-poller-schedule";
/// How long each demo step may take before the demo fails.
pub const DEMO_STEP_TIMEOUT: Duration = Duration::from_secs(60);

/// Environment variable (optional): the control directory instead of the default one (tests
/// give each local world its own).
pub const ENV_CONTROL_DIR: &str = "SIR_JIRA_LOCAL_CONTROL_DIR";

/// Where a running `sir-jira-local` takes on-demand requests from a second invocation on the
/// same machine (`sir-jira-local --reconcile`): `$SIR_JIRA_LOCAL_CONTROL_DIR`, else a directory
/// in the system's temp dir.
pub fn control_dir() -> PathBuf {
    std::env::var_os(ENV_CONTROL_DIR)
        .filter(|dir| !dir.is_empty())
        .map_or_else(
            || std::env::temp_dir().join("sir-jira-local"),
            PathBuf::from,
        )
}

const RECONCILE_REQUEST: &str = "reconcile-request.json";
const RECONCILE_RESPONSE: &str = "reconcile-response.json";
/// How long `--reconcile` waits for the running local world's answer.
pub const RECONCILE_TIMEOUT: Duration = Duration::from_secs(60);

/// Writes `contents` to `path` whole or not at all (a reader never sees half a file).
fn write_whole(path: &Path, contents: &str) -> std::io::Result<()> {
    let partial = path.with_extension("partial");
    std::fs::write(&partial, contents)?;
    std::fs::rename(&partial, path)
}

/// Asks the running local world for an on-demand reconcile and waits for its report: every
/// pending delivery, and (unless `dry_run`) each published again; with `audit`, every open
/// linked pair audited too (listed only, in a dry run).
pub async fn request_reconcile(
    dry_run: bool,
    audit: bool,
) -> Result<poller::ReconcileReport, String> {
    let report = ask_running_world(
        RECONCILE_REQUEST,
        RECONCILE_RESPONSE,
        &json!({"dryRun": dry_run, "audit": audit}),
    )
    .await
    .map_err(|e| format!("the reconcile failed: {e}"))?;
    serde_json::from_value(report).map_err(|e| format!("unreadable report: {e}"))
}

const REPLAY_REQUEST: &str = "replay-request.json";
const REPLAY_RESPONSE: &str = "replay-response.json";

/// Asks the running local world to replay its dead-letter queues (`function`'s only, when
/// given): each event described, invoked again (not with `dry_run`) and deleted once its
/// function succeeded. One line per event, then a summary, as `./deploy.sh --replay-dlq` prints
/// them; `Err` also when an event failed again (its lines are in the error).
pub async fn request_replay(function: Option<&str>, dry_run: bool) -> Result<Vec<String>, String> {
    let report = ask_running_world(
        REPLAY_REQUEST,
        REPLAY_RESPONSE,
        &json!({"function": function, "dryRun": dry_run}),
    )
    .await
    .map_err(|e| format!("the replay failed: {e}"))?;
    let lines: Vec<String> = report["lines"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .map(str::to_owned)
        .collect();
    if report["failed"].as_u64().unwrap_or(0) > 0 {
        return Err(lines.join("\n"));
    }
    Ok(lines)
}

/// What a dead-lettered message is (`what` in deploy.sh's `DLQ_JS`): an EventBridge event, the
/// SNS event Lambda got, or SNS's own envelope.
fn dead_letter_what(body: &str) -> String {
    let Ok(event) = serde_json::from_str::<Value>(body) else {
        return "a message that is not JSON".into();
    };
    let records = if event["Type"] == "Notification" {
        Some(vec![json!({"Sns": {"Message": event["Message"]}})])
    } else {
        event["Records"].as_array().cloned()
    };
    if let Some(records) = records {
        let keys: Vec<String> = records
            .iter()
            .filter_map(|r| r["Sns"]["Message"].as_str())
            .filter_map(|m| serde_json::from_str::<Value>(m).ok())
            .filter_map(|m| {
                m["automationData"]["IssueId"]
                    .as_str()
                    .or(m["issueKey"].as_str())
                    .map(str::to_owned)
            })
            .collect();
        return if keys.is_empty() {
            "Jira notification".into()
        } else {
            format!("Jira notification for {}", keys.join(", "))
        };
    }
    let Some(detail_type) = event["detail-type"].as_str() else {
        return "an event of unknown shape".into();
    };
    let detail = &event["detail"];
    let case_id = detail["case"]["caseId"]
        .as_str()
        .or(detail["caseId"].as_str());
    let key = detail["issue"]["issueKey"]
        .as_str()
        .or(detail["issueKey"].as_str());
    match (case_id, key) {
        (Some(case_id), Some(key)) => format!("{detail_type} of case {case_id}, issue {key}"),
        (Some(case_id), None) => format!("{detail_type} of case {case_id}"),
        (None, Some(key)) => format!("{detail_type} of issue {key}"),
        (None, None) => detail_type.to_owned(),
    }
}

const STATUS_REQUEST: &str = "status-request.json";
const STATUS_RESPONSE: &str = "status-response.json";

/// Asks the running local world for its status facts, the document `./deploy.sh --status`
/// prints (see `print_status` in deploy.sh): each function's last successful run and errors in
/// the last hour, the rules, the dead-letter queues, and Jira's answer to the credentials and
/// to the pairs labelled with a sync problem.
pub async fn request_status() -> Result<Value, String> {
    ask_running_world(STATUS_REQUEST, STATUS_RESPONSE, &json!({}))
        .await
        .map_err(|e| format!("the status failed: {e}"))
}

/// Leaves `body` as the request file `request` in [`control_dir`] and waits for the running
/// world's answer in `response`: its `report`, or its `error`.
async fn ask_running_world(request: &str, response: &str, body: &Value) -> Result<Value, String> {
    let dir = control_dir();
    let io = |what: &str, e: std::io::Error| format!("{what} in {}: {e}", dir.display());
    std::fs::create_dir_all(&dir).map_err(|e| io("cannot create the control directory", e))?;
    let response = dir.join(response);
    // A stale answer from an earlier request must not be taken for this one's.
    let _ = std::fs::remove_file(&response);
    write_whole(&dir.join(request), &body.to_string())
        .map_err(|e| io("cannot write the request", e))?;
    let deadline = Instant::now() + RECONCILE_TIMEOUT;
    loop {
        if let Ok(text) = std::fs::read_to_string(&response) {
            let _ = std::fs::remove_file(&response);
            let answer: Value =
                serde_json::from_str(&text).map_err(|e| format!("unreadable answer: {e}"))?;
            if let Some(error) = answer.get("error").and_then(Value::as_str) {
                return Err(error.to_owned());
            }
            return Ok(answer.get("report").cloned().unwrap_or_default());
        }
        if Instant::now() >= deadline {
            let _ = std::fs::remove_file(dir.join(request));
            return Err(format!(
                "no running local world answered within {} s: start it with ./deploy.sh --local",
                RECONCILE_TIMEOUT.as_secs()
            ));
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// A real Jira site to use instead of the emulator (SIR stays emulated).
#[derive(Debug, Clone)]
pub struct RealJira {
    pub url: String,
    pub email: String,
    pub token: SecretString,
    pub project_key: String,
    /// When the token expires, as `deploy.sh --token-expires` stores it beside the token
    /// (`YYYY-MM-DD` or `never`); `None`: not known.
    pub token_expires_on: Option<String>,
    /// Atlassian's API gateway for the site, for an API token with scopes (deploy.sh finds it
    /// and stores it beside the token); `None`: the site itself.
    pub api_url: Option<String>,
}

/// What `--local` was asked to do.
#[derive(Debug, Clone, Default)]
pub struct LocalOptions {
    /// Run the scripted walk-through and exit.
    pub demo: bool,
    pub real_jira: Option<RealJira>,
    /// 0 picks a free port.
    pub sir_port: u16,
    pub jira_port: u16,
    /// How Jira's changes reach jira-notifications-handler (deploy.sh `--intake`).
    pub intake: Intake,
    /// Which Jira the site is (deploy.sh `--jira-flavor`): the emulator runs as that Jira, and
    /// the functions are configured for it as the stack configures them.
    pub jira_flavor: JiraFlavor,
}

/// Prints the one line a standalone emulator owes its caller: where it listens.
pub fn announce(endpoint: &str) {
    let mut out = std::io::stdout().lock();
    // Nothing useful can be done if stdout is gone; the server keeps serving.
    if writeln!(out, "listening on {endpoint}")
        .and_then(|()| out.flush())
        .is_err()
    {
        tracing::warn!("could not print the listening line");
    }
}

/// Waits for Ctrl-C or SIGTERM.
pub async fn until_stopped() -> std::io::Result<()> {
    let mut terminate = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
    tokio::select! {
        result = tokio::signal::ctrl_c() => result,
        _ = terminate.recv() => Ok(()),
    }
}

/// Lines for a person: what happens, in plain words.
#[derive(Debug, Clone, Copy)]
struct Console;

impl Console {
    fn line(self, text: &str) {
        let mut out = std::io::stdout().lock();
        // Nothing useful can be done if stdout is gone; the integration keeps running.
        let _ = writeln!(out, "{text}").and_then(|()| out.flush());
    }
}

/// One Lambda's queue (its event source in the stack).
#[derive(Debug, Clone)]
struct Source {
    lambda: &'static str,
    queue_url: String,
    /// The function's dead-letter queue: an event that failed [`LAMBDA_ASYNC_ATTEMPTS`] times
    /// lands there, as Lambda sends it (see [`LocalStack::dead_letter`]).
    dead_letter_url: String,
}

/// How often Lambda runs an asynchronous event before its dead-letter queue: once and two
/// retries.
pub const LAMBDA_ASYNC_ATTEMPTS: u32 = 3;

/// The running integration.
struct LocalStack {
    world: World,
    sir: SirEmulator,
    jira: Option<JiraEmulator>,
    jira_api: Arc<JiraClient>,
    /// The Jira site's URL, as deployed (`jiraUrl`).
    jira_url: String,
    project_key: String,
    topic_arn: String,
    sources: [Source; 4],
    poller: Poller,
    jira_client: JiraClientHandler,
    /// Shared with the function URL (the webhook intake).
    notifications: Arc<NotificationHandler>,
    /// jira-notifications-handler's function URL, with `--intake webhook|both`.
    function_url: Option<FunctionUrl>,
    sir_client: SirClientHandler,
    /// The Jira sweep's interval (its schedule rule's rate in the stack); `None`: no sweep.
    sweep_every: Option<Duration>,
    console: Console,
    /// Each invocation's metrics lines, printed as each Lambda writes them to its log.
    metrics: Arc<MetricsLog>,
    /// Lambda's wait before it tries a failed asynchronous event again (the n-th retry waits n
    /// times this): a minute, or [`ENV_RETRY_DELAY_SECONDS`].
    retry_delay: Duration,
    /// How long a minute of the poller's schedule rule lasts here: a minute, or
    /// [`ENV_SCHEDULE_MINUTE_SECONDS`].
    schedule_minute: Duration,
}

/// Environment variable (optional): seconds the local world waits before it runs a failed
/// event again (the n-th retry waits n times this; default 60, as Lambda). Tests shorten it.
pub const ENV_RETRY_DELAY_SECONDS: &str = "SIR_JIRA_LOCAL_RETRY_DELAY_SECONDS";

/// Environment variable (optional): seconds a minute of the poller's schedule rule lasts here
/// (`rate(1 minute)` fires every this many seconds; default 60). Tests shorten it.
pub const ENV_SCHEDULE_MINUTE_SECONDS: &str = "SIR_JIRA_LOCAL_SCHEDULE_MINUTE_SECONDS";

/// Seconds from the environment variable `name`, or `default`.
fn seconds_from_env(name: &str, default: u64) -> Duration {
    Duration::from_secs(
        std::env::var(name)
            .ok()
            .and_then(|s| s.trim().parse().ok())
            .unwrap_or(default),
    )
}

fn contract_value(contract: &Value, pointer: &str) -> Result<String, HarnessError> {
    contract
        .pointer(pointer)
        .and_then(Value::as_str)
        .map(str::to_owned)
        .ok_or_else(|| HarnessError::Setup(format!("cdk/contract.json has no string at {pointer}")))
}

fn setup<E: std::fmt::Display>(what: &'static str) -> impl FnOnce(E) -> HarnessError {
    move |e| HarnessError::Setup(format!("{what}: {e}"))
}

impl LocalStack {
    async fn start(options: &LocalOptions) -> Result<LocalStack, HarnessError> {
        let contract: Value = serde_json::from_str(CONTRACT).map_err(setup("cdk/contract.json"))?;
        let bus = contract_value(&contract, "/eventBus/name")?;
        let prefix = contract_value(&contract, "/parameters/defaultPrefix")?;
        // The default stack keeps the contract's bus and prefix (see stackNames in contract.ts).
        let default_stack = contract_value(&contract, "/defaultStackName")?;
        if default_stack != LOCAL_STACK_NAME {
            return Err(HarnessError::Setup(format!(
                "cdk/contract.json names the default stack {default_stack}, local mode stands for {LOCAL_STACK_NAME}"
            )));
        }
        let world =
            World::named("local", LOCAL_TABLE_NAME, &bus, &prefix, LOCAL_STACK_NAME).await?;
        let pattern = |name: &str| -> Result<Value, HarnessError> {
            contract
                .pointer(&format!("/rules/{name}"))
                .cloned()
                .ok_or_else(|| HarnessError::Setup(format!("cdk/contract.json has no rule {name}")))
        };
        let to_jira = world
            .rule_queue("jira-client", &pattern("jiraClient")?)
            .await?;
        let to_sir = world
            .rule_queue("sir-client", &pattern("sirClient")?)
            .await?;
        let native: RuleQueue = world
            .rule_queue_on("default", "poller-native", &pattern("nativeSir")?)
            .await?;
        world
            .eventbridge
            .put_rule()
            .name(LOCAL_SCHEDULE_RULE)
            .schedule_expression("rate(1 minute)")
            .state(RuleState::Enabled)
            .send()
            .await
            .map_err(HarnessError::aws("PutRule"))?;
        let (topic_arn, notifications_queue) = world.automation_topic().await?;

        let sir = SirEmulator::start(SirEmulatorConfig {
            port: options.sir_port,
            events_endpoint: Some(world.endpoint.clone()),
            // Each Lambda's role, as the synthesized template grants it, decides what it may call.
            authorizer: Some(world.iam.authorize_url()),
            event_bus_name: "default".into(),
            ..SirEmulatorConfig::default()
        })
        .await
        .map_err(setup("SIR emulator"))?;
        // The Jira site and how to sign in: the given one, or the emulator's.
        let (jira, site) = match &options.real_jira {
            Some(site) => (None, site.clone()),
            None => {
                let config = JiraEmulatorConfig {
                    port: options.jira_port,
                    deployment: match options.jira_flavor {
                        JiraFlavor::Cloud => jira_emulator::Deployment::Cloud,
                        JiraFlavor::DataCenter(_) => jira_emulator::Deployment::DataCenter,
                    },
                    sns: Some(SnsTarget {
                        endpoint: world.endpoint.clone(),
                        topic_arn: topic_arn.clone(),
                        region: REGION.into(),
                    }),
                    custom_fields: vec![jira_emulator::CustomField::new(
                        DEMO_MAPPED_FIELD_ID,
                        DEMO_MAPPED_FIELD_NAME,
                        jira_emulator::CustomFieldKind::Labels,
                    )],
                    ..JiraEmulatorConfig::default()
                };
                let (email, token, project_key) = (
                    config.email.clone(),
                    SecretString::from(config.token.clone()),
                    config.project_key.clone(),
                );
                let emulator = JiraEmulator::start(config)
                    .await
                    .map_err(setup("Jira emulator"))?;
                let site = RealJira {
                    url: emulator.base_url(),
                    email,
                    token,
                    project_key,
                    token_expires_on: None,
                    api_url: None,
                };
                (Some(emulator), site)
            }
        };
        if matches!(options.jira_flavor, JiraFlavor::DataCenter(_))
            && options.intake != Intake::Webhook
        {
            return Err(HarnessError::Setup(
                "Jira Data Center reaches the integration by webhook only (it has no Amazon SNS action): use --intake webhook".into(),
            ));
        }
        if options.intake != Intake::Automation && jira.is_none() {
            return Err(HarnessError::Setup(
                "--intake webhook|both runs locally against the Jira emulator only: a Jira site cannot call this machine".into(),
            ));
        }
        // The parameters deploy.sh and the stack write: three Strings and the SecureString token.
        world
            .put_jira_parameters(
                &site.email,
                &site.url,
                &site.project_key,
                site.token.expose_secret(),
            )
            .await?;
        if let Some(expires_on) = &site.token_expires_on {
            world.put_token_expiry(expires_on).await?;
        }
        if let Some(api_url) = &site.api_url {
            world.put_jira_api_url(api_url).await?;
        }
        // The emulated site maps the case's impacted accounts to its "AWS accounts" field (by
        // name, resolved through `GET /field` as on a real site); a real site maps nothing.
        let mapping = if jira.is_some() {
            format!(
                r#"{{"fields": {{"sirToJira": {{"impactedAccounts": "{DEMO_MAPPED_FIELD_NAME}"}}}}}}"#
            )
        } else {
            "{}".to_owned()
        };
        world
            .put_parameter(
                &world.parameters.status_mapping(),
                &mapping,
                aws_sdk_ssm::types::ParameterType::String,
            )
            .await?;

        // Each Lambda's environment, by the contract's names, as the stack sets it.
        let mut env: HashMap<String, String> = HashMap::new();
        let mut set = |pointer: &str, value: &str| -> Result<(), HarnessError> {
            env.insert(contract_value(&contract, pointer)?, value.to_owned());
            Ok(())
        };
        set("/sharedEnv/tableName", &world.table_name)?;
        set("/sharedEnv/eventBusName", &world.bus_name)?;
        set("/sharedEnv/parameterPrefix", &prefix)?;
        set(
            "/functions/poller/env/scheduleRuleName",
            LOCAL_SCHEDULE_RULE,
        )?;
        set(
            "/functions/poller/env/integrationPrincipals",
            &[Function::SirClient, Function::JiraClient]
                .map(|function| sir.principal(&world.access_key(function)))
                .join(","),
        )?;
        set("/functions/jiraClient/env/issueType", "Task")?;
        env.insert(
            shared::config::ENV_JIRA_FLAVOR.into(),
            options.jira_flavor.name().into(),
        );
        if options.jira_flavor == JiraFlavor::DataCenter(DataCenterAuth::Basic) {
            env.insert(shared::config::ENV_JIRA_AUTH.into(), "basic".into());
        }
        env.insert("AWS_REGION".into(), REGION.into());
        let lookup = |name: &str| env.get(name).cloned();

        // Every Lambda signs with its own access key, refused by moto and the SIR emulator what
        // its role (from the synthesized template) does not allow.
        let poller_sdk = world.function_sdk(Function::Poller).await?;
        let jira_client_sdk = world.function_sdk(Function::JiraClient).await?;
        let notifications_sdk = world
            .function_sdk(Function::JiraNotificationsHandler)
            .await?;
        let sir_client_sdk = world.function_sdk(Function::SirClient).await?;
        let sir_api = |function| {
            Arc::new(SdkSirClient::new(sir_client(
                &sir.endpoint(),
                &world.access_key(function),
            )))
        };
        let store = |sdk: &aws_config::SdkConfig| {
            Arc::new(DynamoMappingStore::new(
                aws_sdk_dynamodb::Client::new(sdk),
                &world.table_name,
            ))
        };
        let publisher = |sdk: &aws_config::SdkConfig| {
            Arc::new(EventBridgePublisher::new(
                aws_sdk_eventbridge::Client::new(sdk),
                &world.bus_name,
            ))
        };

        let poller_config =
            PollerConfig::from_lookup(lookup).map_err(setup("poller configuration"))?;
        let poller = Poller {
            sir: sir_api(Function::Poller),
            store: store(&poller_sdk),
            publisher: publisher(&poller_sdk),
            schedule: Arc::new(EventBridgeSchedule::new(
                aws_sdk_eventbridge::Client::new(&poller_sdk),
                &poller_config.schedule_rule_name,
            )),
            settings: poller_config.settings,
        };
        let jira_client_config =
            JiraClientConfig::load(lookup, &aws_sdk_ssm::Client::new(&jira_client_sdk))
                .await
                .map_err(setup("jira-client configuration"))?;
        let jira_client = JiraClientHandler::new(
            Arc::new(
                JiraClient::new(&jira_client_config.jira)
                    .map_err(setup("Jira client"))?
                    .with_settings_source(
                        Arc::new(shared::config::SsmJiraSettings::new(
                            aws_sdk_ssm::Client::new(&jira_client_sdk),
                            world.parameters.clone(),
                            jira_client_config.jira.flavor,
                        )),
                        jira_client_config.shared.config_ttl,
                    ),
            ),
            sir_api(Function::JiraClient),
            store(&jira_client_sdk),
            jira_client_config.handler,
        )
        .with_live_mappings(shared::live_mapping::MappingSource::new(
            aws_sdk_ssm::Client::new(&jira_client_sdk),
            world.parameters.clone(),
            jira_client_config.shared.config_ttl,
        ));
        let sweep_minutes = contract
            .pointer("/functions/jiraNotificationsHandler/sweepMinutes")
            .and_then(Value::as_u64)
            .ok_or_else(|| {
                HarnessError::Setup(
                    "cdk/contract.json has no jiraNotificationsHandler sweepMinutes".into(),
                )
            })?;
        let sweep_every = (sweep_minutes > 0).then(|| Duration::from_secs(sweep_minutes * 60));
        if options.intake != Intake::Automation {
            // As deploy.sh generates it: random, a SecureString, read at the handler's cold start.
            world
                .put_parameter(
                    &world.parameters.jira_webhook_secret(),
                    &uuid::Uuid::new_v4().simple().to_string(),
                    aws_sdk_ssm::types::ParameterType::SecureString,
                )
                .await?;
        }
        let notifications_config =
            NotificationsConfig::load(lookup, &aws_sdk_ssm::Client::new(&notifications_sdk))
                .await
                .map_err(setup("jira-notifications-handler configuration"))?;
        let jira_api = Arc::new(
            JiraClient::new(&notifications_config.jira)
                .map_err(setup("Jira client"))?
                .with_settings_source(
                    Arc::new(shared::config::SsmJiraSettings::new(
                        aws_sdk_ssm::Client::new(&notifications_sdk),
                        world.parameters.clone(),
                        notifications_config.jira.flavor,
                    )),
                    notifications_config.shared.config_ttl,
                ),
        );
        let notifications = NotificationHandler::new(
            jira_api.clone(),
            store(&notifications_sdk),
            publisher(&notifications_sdk),
            notifications_config.handler,
        );
        let webhook_secret = notifications_config.webhook_secret;
        let notifications = Arc::new(match webhook_secret.clone() {
            Some(secret) => notifications.with_webhook_secret(secret),
            None => notifications,
        });
        let metrics = Arc::new(MetricsLog::printing());
        let function_url = match (&jira, webhook_secret) {
            (Some(emulator), Some(secret)) => {
                let endpoint =
                    FunctionUrl::start(Arc::clone(&notifications), Arc::clone(&metrics)).await?;
                // As deploy.sh registers it: the project's issues, signed with the secret.
                emulator
                    .webhooks()
                    .register(jira_emulator::WebhookRegistration {
                        url: endpoint.url.clone(),
                        secret: Some(secret.expose_secret().to_owned()),
                        project_key: Some(site.project_key.clone()),
                    });
                if options.intake == Intake::Webhook {
                    emulator.automation().set_enabled(false);
                }
                Some(endpoint)
            }
            _ => None,
        };
        let sir_client_config =
            SirClientConfig::load(lookup, &aws_sdk_ssm::Client::new(&sir_client_sdk))
                .await
                .map_err(setup("sir-client configuration"))?;
        let sir_client = SirClientHandler::new(
            sir_api(Function::SirClient),
            Arc::new(
                JiraClient::new(&sir_client_config.jira)
                    .map_err(setup("Jira client"))?
                    .with_settings_source(
                        Arc::new(shared::config::SsmJiraSettings::new(
                            aws_sdk_ssm::Client::new(&sir_client_sdk),
                            world.parameters.clone(),
                            sir_client_config.jira.flavor,
                        )),
                        sir_client_config.shared.config_ttl,
                    ),
            ),
            store(&sir_client_sdk),
            sir_client_config.handler,
        )
        .with_live_mappings(shared::live_mapping::MappingSource::new(
            aws_sdk_ssm::Client::new(&sir_client_sdk),
            world.parameters.clone(),
            sir_client_config.shared.config_ttl,
        ));
        let dead_letter_queue = |lambda: &'static str| {
            let sqs = world.sqs.clone();
            async move {
                sqs.create_queue()
                    .queue_name(format!("{LOCAL_STACK_NAME}-{lambda}-dlq"))
                    .send()
                    .await
                    .map_err(HarnessError::aws("CreateQueue"))?
                    .queue_url
                    .ok_or_else(|| HarnessError::Setup("CreateQueue returned no URL".into()))
            }
        };
        let sources = [
            Source {
                lambda: "poller",
                queue_url: native.queue_url,
                dead_letter_url: dead_letter_queue("poller").await?,
            },
            Source {
                lambda: "jira-client",
                queue_url: to_jira.queue_url,
                dead_letter_url: dead_letter_queue("jira-client").await?,
            },
            Source {
                lambda: "jira-notifications-handler",
                queue_url: notifications_queue,
                dead_letter_url: dead_letter_queue("jira-notifications-handler").await?,
            },
            Source {
                lambda: "sir-client",
                queue_url: to_sir.queue_url,
                dead_letter_url: dead_letter_queue("sir-client").await?,
            },
        ];
        Ok(LocalStack {
            world,
            sir,
            jira,
            jira_api,
            jira_url: site.url.clone(),
            project_key: site.project_key,
            topic_arn,
            sources,
            poller,
            jira_client,
            notifications,
            function_url,
            sir_client,
            sweep_every,
            console: Console,
            metrics,
            retry_delay: seconds_from_env(ENV_RETRY_DELAY_SECONDS, 60),
            schedule_minute: seconds_from_env(ENV_SCHEDULE_MINUTE_SECONDS, 60),
        })
    }

    /// Delivers what is on every queue once; returns how many messages moved.
    async fn pump_once(&self) -> Result<usize, HarnessError> {
        let mut moved = 0;
        for source in &self.sources {
            let received = self
                .world
                .sqs
                .receive_message()
                .queue_url(&source.queue_url)
                .max_number_of_messages(10)
                .message_system_attribute_names(
                    aws_sdk_sqs::types::MessageSystemAttributeName::ApproximateReceiveCount,
                )
                // No long poll: moto serves one request at a time.
                .wait_time_seconds(0)
                .send()
                .await
                .map_err(HarnessError::aws("ReceiveMessage"))?;
            for message in received.messages() {
                moved += 1;
                let body = message.body().unwrap_or_default().to_owned();
                let handle = message.receipt_handle().unwrap_or_default();
                let attempt: u32 = message
                    .attributes()
                    .and_then(|a| {
                        a.get(&aws_sdk_sqs::types::MessageSystemAttributeName::ApproximateReceiveCount)
                    })
                    .and_then(|n| n.parse().ok())
                    .unwrap_or(1);
                match self.handle(source.lambda, body.clone()).await {
                    Ok(response) => {
                        self.delete(&source.queue_url, handle).await?;
                        self.describe(source.lambda, &response);
                    }
                    // Its last attempt: into the dead-letter queue first, then off the queue, so
                    // a failure in between runs it once more rather than losing it.
                    Err(error) if attempt >= LAMBDA_ASYNC_ATTEMPTS => {
                        self.dead_letter(source, &body, &error).await?;
                        self.delete(&source.queue_url, handle).await?;
                        self.console.line(&format!(
                            "  ! {} failed an event {LAMBDA_ASYNC_ATTEMPTS} times: it is in its dead-letter queue (./deploy.sh --local --status): {error}",
                            source.lambda
                        ));
                    }
                    // Lambda tries an asynchronous event again after about a minute, then two.
                    Err(error) => {
                        let wait = self
                            .retry_delay
                            .as_secs()
                            .saturating_mul(u64::from(attempt));
                        self.world
                            .sqs
                            .change_message_visibility()
                            .queue_url(&source.queue_url)
                            .receipt_handle(handle)
                            .visibility_timeout(i32::try_from(wait).unwrap_or(i32::MAX).min(43_200))
                            .send()
                            .await
                            .map_err(HarnessError::aws("ChangeMessageVisibility"))?;
                        self.console.line(&format!(
                            "  ! {} could not finish an event and will get it again in {wait} s: {error}",
                            source.lambda
                        ));
                    }
                }
            }
        }
        Ok(moved)
    }

    async fn delete(&self, queue_url: &str, handle: &str) -> Result<(), HarnessError> {
        self.world
            .sqs
            .delete_message()
            .queue_url(queue_url)
            .receipt_handle(handle)
            .send()
            .await
            .map_err(HarnessError::aws("DeleteMessage"))?;
        Ok(())
    }

    /// Sends an event that failed every attempt to the function's dead-letter queue as Lambda
    /// does for an asynchronous invocation: the payload the function was invoked with (for
    /// jira-notifications-handler the SNS event, not the queue's SNS envelope) and the
    /// attributes `RequestID`, `ErrorCode` and `ErrorMessage`.
    async fn dead_letter(
        &self,
        source: &Source,
        body: &str,
        error: &str,
    ) -> Result<(), HarnessError> {
        let payload = if source.lambda == "jira-notifications-handler" {
            parse(body)
                .and_then(|envelope| sns_event(&envelope))
                .and_then(|event| serde_json::to_string(&event).map_err(|e| e.to_string()))
                .unwrap_or_else(|_| body.to_owned())
        } else {
            body.to_owned()
        };
        let attribute = |kind: &str, value: &str| {
            aws_sdk_sqs::types::MessageAttributeValue::builder()
                .data_type(kind)
                .string_value(value)
                .build()
                .map_err(HarnessError::build)
        };
        // SQS takes at most 256 KB of attributes and body; an error chain is far shorter, but
        // clip it as Lambda does rather than lose the message.
        let message: String = error.chars().take(1_000).collect();
        self.world
            .sqs
            .send_message()
            .queue_url(&source.dead_letter_url)
            .message_body(payload)
            .message_attributes(
                "RequestID",
                attribute("String", &uuid::Uuid::new_v4().to_string())?,
            )
            .message_attributes("ErrorCode", attribute("Number", "200")?)
            .message_attributes("ErrorMessage", attribute("String", &message)?)
            .send()
            .await
            .map_err(HarnessError::aws("SendMessage"))?;
        Ok(())
    }

    /// Runs one Lambda's handler on one queue message; `Ok` is its response.
    async fn handle(&self, lambda: &'static str, body: String) -> Result<Value, String> {
        {
            let chain = |e: &dyn std::error::Error| shared::error::error_chain(e);
            let envelope = parse(&body)?;
            match lambda {
                "poller" => {
                    let outcome = self
                        .metrics
                        .invoke(lambda, self.poller.handle(&envelope))
                        .await;
                    let report = outcome.map_err(|e| chain(&e))?;
                    Ok(json!({"published": report.published}))
                }
                "jira-client" => {
                    let event: EventBridgeEvent<Value> =
                        serde_json::from_value(envelope).map_err(|e| e.to_string())?;
                    let outcome = self
                        .metrics
                        .invoke(lambda, self.jira_client.handle(event))
                        .await;
                    let applied = outcome.map_err(|e| chain(&e))?;
                    serde_json::to_value(applied).map_err(|e| e.to_string())
                }
                "jira-notifications-handler" => {
                    let outcome = self
                        .metrics
                        .invoke(lambda, self.notifications.handle(sns_event(&envelope)?))
                        .await;
                    let report = outcome.map_err(|e| chain(&e))?;
                    serde_json::to_value(report).map_err(|e| e.to_string())
                }
                _ => {
                    let event: EventBridgeEvent<Value> =
                        serde_json::from_value(envelope).map_err(|e| e.to_string())?;
                    let outcome = self
                        .metrics
                        .invoke(lambda, self.sir_client.handle(event))
                        .await;
                    let applied = outcome.map_err(|e| chain(&e))?;
                    serde_json::to_value(applied).map_err(|e| e.to_string())
                }
            }
        }
    }

    /// One line per sync action a handler reported.
    fn describe(&self, lambda: &str, response: &Value) {
        for line in describe(lambda, response) {
            self.console.line(&format!("  {line}"));
        }
    }

    /// Fires the poller's schedule when its rule's rate says so (the poller moves the rule
    /// between one and five minutes itself). EventBridge invokes the poller asynchronously, so
    /// the tick goes onto the poller's queue like its other events: a pass that fails is tried
    /// again after Lambda's waits and then dead-lettered, never just run again at the next tick.
    async fn schedule_due(&self, last_tick: &mut Instant) -> Result<(), HarnessError> {
        let rule = self
            .world
            .eventbridge
            .describe_rule()
            .name(LOCAL_SCHEDULE_RULE)
            .send()
            .await
            .map_err(HarnessError::aws("DescribeRule"))?;
        let every = match rule.schedule_expression() {
            Some("rate(5 minutes)") => self.schedule_minute * 5,
            _ => self.schedule_minute,
        };
        let enabled = rule.state() != Some(&RuleState::Disabled);
        if enabled && last_tick.elapsed() >= every {
            *last_tick = Instant::now();
            let mut tick = integration_tests::clients::schedule_tick();
            tick["id"] = json!(uuid::Uuid::new_v4().to_string());
            let poller = self
                .sources
                .iter()
                .find(|source| source.lambda == "poller")
                .ok_or_else(|| HarnessError::Setup("no poller queue".into()))?;
            self.world
                .sqs
                .send_message()
                .queue_url(&poller.queue_url)
                .message_body(tick.to_string())
                .send()
                .await
                .map_err(HarnessError::aws("SendMessage"))?;
        }
        Ok(())
    }

    /// Runs the Jira sweep when its interval (the stack's default, `sweepMinutes` in the
    /// contract) has passed, as its schedule rule would: the Jira → SIR half keeps working
    /// whether Automation messages arrive or not.
    async fn sweep_due(&self, last_sweep: &mut Instant) {
        if self
            .sweep_every
            .is_none_or(|every| last_sweep.elapsed() < every)
        {
            return;
        }
        *last_sweep = Instant::now();
        let outcome = self
            .metrics
            .invoke("jira-notifications-handler", self.notifications.sweep())
            .await;
        match outcome {
            Ok(report) => self.describe(
                "jira-notifications-handler",
                &json!({ "records": report.issues }),
            ),
            Err(error) => self.console.line(&format!(
                "  ! the Jira sweep failed and runs again next time: {}",
                shared::error::error_chain(&error)
            )),
        }
    }

    /// Without the emulator there is no Automation: issues of the project updated lately are
    /// announced to the topic as the Automation rules would (each at most every 15 s).
    async fn automation_stand_in(
        &self,
        announced: &mut HashMap<String, Instant>,
    ) -> Result<(), HarnessError> {
        let keys = match self
            .jira_api
            .recently_updated_keys(&self.project_key, 2)
            .await
        {
            Ok(keys) => keys,
            Err(error) => {
                self.console.line(&format!(
                    "  ! the Automation stand-in could not search Jira: {}",
                    shared::error::error_chain(&error)
                ));
                return Ok(());
            }
        };
        let sns = aws_sdk_sns::Client::new(&self.world.sdk);
        for key in keys {
            if announced
                .get(&key)
                .is_some_and(|at| at.elapsed() < Duration::from_secs(15))
            {
                continue;
            }
            sns.publish()
                .topic_arn(&self.topic_arn)
                .message(json!({"automationData": {"IssueId": key}}).to_string())
                .send()
                .await
                .map_err(HarnessError::aws("Publish"))?;
            announced.insert(key, Instant::now());
        }
        Ok(())
    }

    /// Answers a reconcile request another invocation left in [`control_dir`], if there is one.
    async fn serve_reconcile(&self) {
        let dir = control_dir();
        let request = dir.join(RECONCILE_REQUEST);
        let Ok(text) = std::fs::read_to_string(&request) else {
            return;
        };
        let _ = std::fs::remove_file(&request);
        // Anything but an explicit `false` is a dry run: a garbled request changes nothing.
        let request = serde_json::from_str::<Value>(&text).ok();
        let flag = |name: &str| {
            request
                .as_ref()
                .and_then(|v| v.get(name).and_then(Value::as_bool))
        };
        let dry_run = flag("dryRun").unwrap_or(true);
        let audit = flag("audit").unwrap_or(false);
        let answer = match self
            .poller
            .handle(&json!({"reconcile": {"dryRun": dry_run, "audit": audit}}))
            .await
        {
            Ok(report) => {
                self.console.line(&format!(
                    "  reconcile{}{} requested: {} pending pair(s)",
                    if dry_run { " --dry-run" } else { "" },
                    if audit { " --audit" } else { "" },
                    report.reconcile.as_ref().map_or(0, |r| r.pending.len())
                ));
                json!({"report": report.reconcile})
            }
            Err(error) => json!({"error": shared::error::error_chain(&error)}),
        };
        if let Err(error) = write_whole(&dir.join(RECONCILE_RESPONSE), &answer.to_string()) {
            self.console.line(&format!(
                "  ! could not answer the reconcile request: {error}"
            ));
        }
    }

    /// Answers a replay request another invocation left in [`control_dir`], if there is one.
    async fn serve_replay(&self) {
        let dir = control_dir();
        let Ok(text) = std::fs::read_to_string(dir.join(REPLAY_REQUEST)) else {
            return;
        };
        let _ = std::fs::remove_file(dir.join(REPLAY_REQUEST));
        let request = serde_json::from_str::<Value>(&text).unwrap_or_default();
        // Anything but an explicit `false` is a dry run: a garbled request changes nothing.
        let dry_run = request["dryRun"].as_bool().unwrap_or(true);
        let function = request["function"].as_str();
        let answer = match self.replay_dead_letters(function, dry_run).await {
            Ok(report) => json!({ "report": report }),
            Err(error) => json!({"error": shared::error::error_chain(&error)}),
        };
        if let Err(error) = write_whole(&dir.join(REPLAY_RESPONSE), &answer.to_string()) {
            self.console
                .line(&format!("  ! could not answer the replay request: {error}"));
        }
    }

    /// `./deploy.sh --replay-dlq` here: each dead-lettered event of `function` (or of every
    /// function) described and, unless `dry_run`, run again by its function and deleted only
    /// once that succeeded; what stays is visible again at once.
    async fn replay_dead_letters(
        &self,
        function: Option<&str>,
        dry_run: bool,
    ) -> Result<Value, HarnessError> {
        let (mut lines, mut replayed, mut failed, mut listed) = (Vec::new(), 0, 0, 0);
        for source in &self.sources {
            if function.is_some_and(|f| f != source.lambda) {
                continue;
            }
            lines.push(format!("==> {}: its dead-letter queue", source.lambda));
            let mut kept = Vec::new();
            loop {
                let received = self
                    .world
                    .sqs
                    .receive_message()
                    .queue_url(&source.dead_letter_url)
                    .max_number_of_messages(1)
                    .visibility_timeout(300)
                    .message_attribute_names("All")
                    .send()
                    .await
                    .map_err(HarnessError::aws("ReceiveMessage"))?;
                let Some(message) = received.messages().first() else {
                    break;
                };
                let body = message.body().unwrap_or_default().to_owned();
                let handle = message.receipt_handle().unwrap_or_default().to_owned();
                let error = message
                    .message_attributes()
                    .and_then(|a| a.get("ErrorMessage").or_else(|| a.get("ERROR_MESSAGE")))
                    .and_then(|v| v.string_value())
                    .unwrap_or("no error given")
                    .to_owned();
                lines.push(format!(
                    "    {}; it failed with: {error}",
                    dead_letter_what(&body)
                ));
                if dry_run {
                    listed += 1;
                    kept.push(handle);
                    continue;
                }
                match self.replay(source.lambda, &body).await {
                    Ok(_) => {
                        self.world
                            .sqs
                            .delete_message()
                            .queue_url(&source.dead_letter_url)
                            .receipt_handle(&handle)
                            .send()
                            .await
                            .map_err(HarnessError::aws("DeleteMessage"))?;
                        replayed += 1;
                        lines.push(format!(
                            "        replayed: {} ran it and succeeded; the message is deleted",
                            source.lambda
                        ));
                    }
                    Err(error) => {
                        failed += 1;
                        kept.push(handle);
                        lines.push(format!(
                            "        failed again: {error}; the message stays in the queue"
                        ));
                    }
                }
            }
            for handle in kept {
                self.world
                    .sqs
                    .change_message_visibility()
                    .queue_url(&source.dead_letter_url)
                    .receipt_handle(handle)
                    .visibility_timeout(0)
                    .send()
                    .await
                    .map_err(HarnessError::aws("ChangeMessageVisibility"))?;
            }
        }
        lines.push(if dry_run {
            format!("==> {listed} dead-lettered event(s); dry run: nothing was invoked or deleted")
        } else {
            format!("==> {replayed} replayed, {failed} failed again (kept in the queue)")
        });
        for line in &lines {
            self.console.line(&format!("  replay-dlq {line}"));
        }
        Ok(json!({"lines": lines, "failed": failed}))
    }

    /// Runs `lambda` on a dead-lettered message's body as Lambda would be invoked with it: the
    /// payload itself, or for jira-notifications-handler the SNS event (SNS's own envelope, from
    /// the subscription's redrive, becomes the event's one record).
    async fn replay(&self, lambda: &'static str, body: &str) -> Result<Value, String> {
        if lambda != "jira-notifications-handler" {
            return self.handle(lambda, body.to_owned()).await;
        }
        let payload = parse(body)?;
        let event = if payload["Type"] == "Notification" {
            sns_event(&payload)?
        } else {
            serde_json::from_value(payload).map_err(|e| e.to_string())?
        };
        let outcome = self
            .metrics
            .invoke(lambda, self.notifications.handle(event))
            .await;
        let report = outcome.map_err(|e| shared::error::error_chain(&e))?;
        serde_json::to_value(report).map_err(|e| e.to_string())
    }

    /// Answers a status request another invocation left in [`control_dir`], if there is one.
    async fn serve_status(&self) {
        let dir = control_dir();
        let request = dir.join(STATUS_REQUEST);
        if std::fs::remove_file(&request).is_err() {
            return;
        }
        let answer = match self.status_facts().await {
            Ok(facts) => {
                self.console.line("  status requested");
                json!({ "report": facts })
            }
            Err(error) => json!({"error": shared::error::error_chain(&error)}),
        };
        if let Err(error) = write_whole(&dir.join(STATUS_RESPONSE), &answer.to_string()) {
            self.console
                .line(&format!("  ! could not answer the status request: {error}"));
        }
    }

    /// The status facts (see [`request_status`]), read from moto, the metrics lines and Jira as
    /// deploy.sh reads them from AWS and the site.
    async fn status_facts(&self) -> Result<Value, HarnessError> {
        let now_ms = shared::clock::now_epoch_millis();
        let mut functions = Vec::new();
        for source in &self.sources {
            let depth = self
                .world
                .sqs
                .get_queue_attributes()
                .queue_url(&source.dead_letter_url)
                .attribute_names(
                    aws_sdk_sqs::types::QueueAttributeName::ApproximateNumberOfMessages,
                )
                .send()
                .await
                .map_err(HarnessError::aws("GetQueueAttributes"))?
                .attributes()
                .and_then(|a| {
                    a.get(&aws_sdk_sqs::types::QueueAttributeName::ApproximateNumberOfMessages)
                })
                .and_then(|n| n.parse::<u64>().ok())
                .unwrap_or(0);
            let mut dead_letters =
                json!({"messages": depth, "oldestAgeSeconds": null, "sample": null});
            if depth > 0 {
                // Peeked, not taken: visibility 0 leaves it for the replay.
                let peeked = self
                    .world
                    .sqs
                    .receive_message()
                    .queue_url(&source.dead_letter_url)
                    .max_number_of_messages(1)
                    .visibility_timeout(0)
                    .message_system_attribute_names(
                        aws_sdk_sqs::types::MessageSystemAttributeName::All,
                    )
                    .message_attribute_names("All")
                    .send()
                    .await
                    .map_err(HarnessError::aws("ReceiveMessage"))?;
                if let Some(message) = peeked.messages().first() {
                    let attributes: serde_json::Map<String, Value> = message
                        .message_attributes()
                        .into_iter()
                        .flatten()
                        .map(|(k, v)| (k.clone(), json!(v.string_value())))
                        .collect();
                    let sent_ms = message
                        .attributes()
                        .and_then(|a| {
                            a.get(&aws_sdk_sqs::types::MessageSystemAttributeName::SentTimestamp)
                        })
                        .and_then(|t| t.parse::<u64>().ok());
                    dead_letters["oldestAgeSeconds"] =
                        json!(sent_ms.map(|sent| now_ms.saturating_sub(sent) / 1_000));
                    dead_letters["sample"] =
                        json!({"body": message.body(), "attributes": attributes});
                }
            }
            functions.push(json!({
                "crate": source.lambda,
                "name": source.lambda,
                "lastSuccessfulRun": self
                    .metrics
                    .last_success_ms(source.lambda)
                    .map_err(HarnessError::Setup)?
                    .map(|ms| ms / 1_000),
                "errorsLastHour": self.metrics.errors_since(source.lambda, now_ms.saturating_sub(3_600_000)),
                "deadLetters": dead_letters,
            }));
        }
        let mut rules = Vec::new();
        for bus in ["default", self.world.bus_name.as_str()] {
            let listed = self
                .world
                .eventbridge
                .list_rules()
                .event_bus_name(bus)
                .send()
                .await
                .map_err(HarnessError::aws("ListRules"))?;
            for rule in listed.rules() {
                rules.push(json!({
                    "name": rule.name(),
                    "state": rule.state().map(|s| s.as_str().to_owned()),
                    "schedule": rule.schedule_expression(),
                }));
            }
        }
        let url = self.jira_url.clone();
        // The token's expiry date, as deploy.sh stores it beside the token (absent: not known).
        let token_expires_on = match self
            .world
            .ssm
            .get_parameter()
            .name(self.world.parameters.jira_token_expires_on())
            .send()
            .await
        {
            Ok(out) => out.parameter().and_then(|p| p.value()).map(str::to_owned),
            Err(error)
                if error
                    .as_service_error()
                    .is_some_and(|e| e.is_parameter_not_found()) =>
            {
                None
            }
            Err(error) => return Err(HarnessError::aws("GetParameter")(error)),
        }
        // The emulator's token does not expire.
        .or_else(|| self.jira.is_some().then(|| "never".to_owned()));
        let (credentials, problems) = match self.jira_api.myself().await {
            Ok(user) => {
                let problems = match self
                    .jira_api
                    .search_keys_by_label(&self.project_key, shared::sync_status::PROBLEM_LABEL)
                    .await
                {
                    Ok(keys) => json!({"status": 200, "keys": keys, "more": false}),
                    Err(error) => {
                        json!({"status": error_status(&error), "keys": [], "error": shared::error::error_chain(&error)})
                    }
                };
                (
                    json!({"status": 200, "user": user.email.or(user.display_name)}),
                    problems,
                )
            }
            Err(error) => (
                json!({"status": error_status(&error), "error": shared::error::error_chain(&error)}),
                json!({"status": 0, "keys": [], "error": "not asked"}),
            ),
        };
        Ok(json!({
            "target": "the local world",
            "now": now_ms / 1_000,
            "functions": functions,
            "rules": rules,
            "jira": {"url": url, "credentials": credentials, "problems": problems, "tokenExpiresOn": token_expires_on},
        }))
    }

    /// Delivers, ticks and polls until `stop` turns true.
    async fn run(&self, mut stop: watch::Receiver<bool>) -> Result<(), HarnessError> {
        let dir = control_dir();
        if std::fs::create_dir_all(&dir).is_ok() {
            // Requests left from before this world started are nobody's to answer.
            let _ = std::fs::remove_file(dir.join(RECONCILE_REQUEST));
            let _ = std::fs::remove_file(dir.join(STATUS_REQUEST));
            let _ = std::fs::remove_file(dir.join(REPLAY_REQUEST));
        }
        let mut last_tick = Instant::now();
        let mut last_sweep = Instant::now();
        let mut last_automation = Instant::now() - Duration::from_secs(60);
        let mut announced = HashMap::new();
        while !*stop.borrow() {
            // A queue that cannot be read this round is read again the next: the world goes on.
            let pumped = match self.pump_once().await {
                Ok(moved) => moved,
                Err(error) => {
                    self.console.line(&format!(
                        "  ! a queue could not be read or written this round: {}",
                        shared::error::error_chain(&error)
                    ));
                    0
                }
            };
            let moved = pumped + self.webhooks_answered();
            self.schedule_due(&mut last_tick).await?;
            self.sweep_due(&mut last_sweep).await;
            self.serve_reconcile().await;
            self.serve_status().await;
            self.serve_replay().await;
            if self.jira.is_none() && last_automation.elapsed() >= Duration::from_secs(5) {
                last_automation = Instant::now();
                self.automation_stand_in(&mut announced).await?;
            }
            if moved == 0 {
                tokio::select! {
                    _ = tokio::time::sleep(Duration::from_millis(200)) => {}
                    _ = stop.changed() => {}
                }
            }
        }
        Ok(())
    }

    /// What the function URL answered since the last look: each sync action, each failure (Jira
    /// retries those). Returns how many requests it answered.
    fn webhooks_answered(&self) -> usize {
        let Some(endpoint) = &self.function_url else {
            return 0;
        };
        let answered = endpoint.take_log();
        for response in &answered.responses {
            let outcome = response["body"]["outcome"].as_str().unwrap_or_default();
            if !matches!(
                outcome,
                "" | "OwnChange" | "Unchanged" | "Coalesced" | "Duplicate"
            ) {
                self.console.line(&format!(
                    "  jira-notifications-handler (webhook): {outcome}"
                ));
            }
        }
        for error in &answered.errors {
            self.console.line(&format!(
                "  ! a Jira webhook failed (answered 502; Jira retries it): {error}"
            ));
        }
        answered.handled + answered.errors.len()
    }

    fn print_welcome(&self, responder: Option<&User>) {
        let c = self.console;
        let sir = self.sir.endpoint();
        c.line("AWS Security Incident Response ⇄ Jira, running locally (loopback only, no AWS account)");
        c.line("");
        c.line(&format!(
            "  moto (DynamoDB, EventBridge, SNS, SQS, SSM)  {}",
            self.world.endpoint
        ));
        c.line(&format!(
            "    table {}, bus {}, SSM {}/…, topic {}",
            self.world.table_name,
            self.world.bus_name,
            self.world.parameters.prefix(),
            self.topic_arn
        ));
        c.line(&format!(
            "  SIR emulator                                 {sir}"
        ));
        if let Some(endpoint) = &self.function_url {
            c.line(&format!(
                "  Jira webhooks, signed (function URL)         {}",
                endpoint.url
            ));
        }
        match &self.jira {
            Some(jira) => c.line(&format!(
                "  Jira emulator{} (project {})   {}",
                match jira.deployment() {
                    jira_emulator::Deployment::Cloud => " as Jira Cloud      ",
                    jira_emulator::Deployment::DataCenter => " as Jira Data Center",
                },
                self.project_key,
                jira.base_url()
            )),
            None => c.line(&format!(
                "  Jira: your site (project {}); Automation is simulated here by polling issues \
                 updated in the last 2 minutes every 5 s (a local stand-in, not Jira Automation)",
                self.project_key
            )),
        }
        c.line("");
        c.line("Act as a responder in SIR (the emulator's admin API):");
        c.line(&format!(
            "  curl -s -X POST {sir}/_emulator/cases -H 'content-type: application/json' -d '{{\"title\":\"Suspicious login\",\"description\":\"Console login from a new country\"}}'"
        ));
        c.line(&format!(
            "  curl -s -X POST {sir}/_emulator/cases/CASE_ID/comments -H 'content-type: application/json' -d '{{\"body\":\"Containment started\"}}'"
        ));
        c.line(&format!(
            "  curl -s -X POST {sir}/_emulator/cases/CASE_ID/status -H 'content-type: application/json' -d '{{\"caseStatus\":\"Detection and Analysis\"}}'"
        ));
        c.line(&format!(
            "  curl -s -X POST {sir}/_emulator/cases/CASE_ID/close -H 'content-type: application/json' -d '{{}}'"
        ));
        if let (Some(jira), Some(user)) = (&self.jira, responder) {
            let base = jira.base_url();
            let who = &user.account_id;
            c.line(&format!(
                "Act as a responder in Jira ({}, accountId {who}):",
                user.display_name
            ));
            c.line(&format!(
                "  curl -s -X POST {base}/_emulator/issues -H 'content-type: application/json' -d '{{\"as\":\"{who}\",\"summary\":\"Phishing wave\",\"description\":\"Reported by several users\"}}'"
            ));
            c.line(&format!(
                "  curl -s -X POST {base}/_emulator/issues/SEC-1/comments -H 'content-type: application/json' -d '{{\"as\":\"{who}\",\"body\":\"Blocked the sender\"}}'"
            ));
            c.line(&format!(
                "  curl -s -X POST {base}/_emulator/issues/SEC-1/transition -H 'content-type: application/json' -d '{{\"as\":\"{who}\",\"status\":\"In Progress\"}}'"
            ));
            c.line(&format!(
                "  (see everything: curl -s {base}/_emulator/issues, curl -s {sir}/_emulator/cases)"
            ));
        } else {
            c.line("Act as a responder in Jira: use your Jira site as usual (project above).");
        }
        c.line("");
        c.line("Each sync action prints a line below. Ctrl-C stops everything this started.");
    }
}

/// The lines a handler's response is worth to a person (nothing when nothing changed).
pub fn describe(lambda: &str, response: &Value) -> Vec<String> {
    let text = |v: &Value, k: &str| v.get(k).and_then(Value::as_str).unwrap_or("?").to_owned();
    let count = |v: &Value, k: &str| v.get(k).and_then(Value::as_u64).unwrap_or(0);
    let mut lines = Vec::new();
    match lambda {
        "poller" => {
            for item in response
                .get("published")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
            {
                if let Some([kind, case]) = item.as_array().map(Vec::as_slice) {
                    lines.push(format!(
                        "case {} changed in SIR → {} published",
                        case.as_str().unwrap_or("?"),
                        kind.as_str().unwrap_or("?")
                    ));
                }
            }
        }
        "jira-client" => {
            let (case, key) = (text(response, "caseId"), text(response, "issueKey"));
            match text(response, "outcome").as_str() {
                "Created" => lines.push(format!("case {case} → {key} created")),
                "Adopted" | "LinkedToOrigin" => lines.push(format!("case {case} → {key} linked")),
                "Deleted" => lines.push(format!("case {case} deleted → noted on {key}")),
                _ => {}
            }
            let parts = changed_parts(response, "transitions", true);
            if !parts.is_empty() {
                lines.push(format!("case {case} {} → {key}", parts.join(", ")));
            }
        }
        "jira-notifications-handler" => {
            for record in response
                .get("records")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
            {
                if let Some(kind) = record.get("rejected").and_then(Value::as_str) {
                    lines.push(format!(
                        "rejected a Jira Automation message ({kind}); nothing done"
                    ));
                }
                let key = text(record, "issueKey");
                match record.get("outcome").and_then(Value::as_str) {
                    Some("Created") => {
                        lines.push(format!("{key} new in Jira → IssueCreated published"))
                    }
                    Some("Updated") => {
                        lines.push(format!("{key} changed in Jira → IssueUpdated published"))
                    }
                    Some("Deleted") => {
                        lines.push(format!("{key} deleted in Jira → IssueDeleted published"))
                    }
                    _ => {}
                }
            }
        }
        _ => {
            let (case, key) = (text(response, "caseId"), text(response, "issueKey"));
            match text(response, "outcome").as_str() {
                "Created" => lines.push(format!("{key} → case {case} created")),
                "Deleted" => lines.push(format!("{key} deleted → noted on case {case}")),
                "CaseClosed" if count(response, "notes") > 0 => lines.push(format!(
                    "{key} changed, but case {case} is closed: told on {key}"
                )),
                _ => {}
            }
            let parts = changed_parts(response, "statusSteps", false);
            if !parts.is_empty() {
                lines.push(format!("{key} {} → case {case}", parts.join(", ")));
            }
            if let Some(status) = response.get("statusRefused").and_then(Value::as_str) {
                lines.push(format!(
                    "{key} status {status:?} cannot be applied to case {case}: noted on the case"
                ));
            }
        }
    }
    lines
}

/// What an `AppliedToJira` or `AppliedToSir` response (jira-client's or sir-client's) changed, in a few words:
/// `summary, status, 3 × comment`.
fn changed_parts(response: &Value, status_field: &str, with_watchers: bool) -> Vec<String> {
    let count = |k: &str| response.get(k).and_then(Value::as_u64).unwrap_or(0);
    let mut parts: Vec<String> = response
        .get("fieldsEdited")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .map(|field| field.as_str().unwrap_or("?").to_owned())
        .collect();
    if count(status_field) > 0 {
        parts.push("status".to_owned());
    }
    let mut counted = vec![
        ("commentsAdded", "comment"),
        ("commentsUpdated", "comment edit"),
        ("attachmentsAdded", "attachment"),
    ];
    if with_watchers {
        counted.push(("watchersAdded", "watcher"));
    }
    for (field, what) in counted {
        match count(field) {
            0 => {}
            1 => parts.push(what.to_owned()),
            n => parts.push(format!("{n} × {what}")),
        }
    }
    parts
}

/// Starts everything, prints how to use it, and runs until Ctrl-C (or, with `--demo`, until the
/// walk-through ends). `Ok(false)`: a demo step was not observed in time.
pub async fn run(options: LocalOptions) -> Result<bool, HarnessError> {
    if options.demo && options.real_jira.is_some() {
        return Err(HarnessError::Setup(
            "--demo runs against the Jira emulator only (it acts as a Jira user); drop --url/--email/--token/--project-key".into(),
        ));
    }
    let stack = Arc::new(Box::pin(LocalStack::start(&options)).await?);
    let responder = stack
        .jira
        .as_ref()
        .map(|jira| jira.add_user(User::new("Riley Responder", "riley@example.com")));
    stack.print_welcome(responder.as_ref());
    let (stop, stopped) = watch::channel(false);
    let runner = {
        let stack = stack.clone();
        tokio::spawn(async move { stack.run(stopped).await })
    };
    let outcome = if options.demo {
        match responder {
            Some(responder) => demo(&stack, &responder).await,
            None => Ok(false),
        }
    } else {
        until_stopped()
            .await
            .map_err(|e| HarnessError::Setup(format!("waiting for Ctrl-C: {e}")))?;
        stack
            .console
            .line("stopping: everything started here ends with this process");
        Ok(true)
    };
    let _ = stop.send(true);
    match runner.await {
        Ok(Ok(())) => {}
        Ok(Err(error)) => return Err(error),
        Err(join) => {
            return Err(HarnessError::Setup(format!(
                "the delivery loop stopped: {join}"
            )));
        }
    }
    outcome
}

/// Waits for `seen` to hold, up to [`DEMO_STEP_TIMEOUT`]; prints the step with its time.
async fn step(console: Console, name: &str, mut seen: impl FnMut() -> bool) -> Option<Duration> {
    let started = Instant::now();
    while started.elapsed() < DEMO_STEP_TIMEOUT {
        if seen() {
            let took = started.elapsed();
            console.line(&format!("demo ✓ {name} ({:.1} s)", took.as_secs_f64()));
            return Some(took);
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    console.line(&format!(
        "demo ✗ {name}: not seen within {} s",
        DEMO_STEP_TIMEOUT.as_secs()
    ));
    None
}

/// The emulated Jira site's custom field the local world's field mapping fills.
const DEMO_MAPPED_FIELD_ID: &str = "customfield_10050";
const DEMO_MAPPED_FIELD_NAME: &str = "AWS accounts";

/// The sync status: Jira refuses a watcher the case gains, so the issue gets the label
/// `sir-sync-problem`; once Jira takes the watcher (with the next watcher change) the label goes.
async fn demo_sync_problem(
    stack: &LocalStack,
    jira: &JiraEmulator,
    case_id: &str,
    key: &str,
) -> Result<bool, HarnessError> {
    let c = stack.console;
    let sam = jira.add_user(User::new("Sam Contractor", "sam.contractor@example.com"));
    jira.add_user(User::new("Kim Responder", "kim.responder@example.com"));
    jira.faults().refuse_watcher(
        &sam.account_id,
        "Sam Contractor cannot view issues of this project.",
    );
    let add_watcher = |email: &str| {
        stack.sir.update_case(
            "responder",
            case_id,
            sir_emulator::CaseUpdate {
                watchers_to_add: vec![sir_emulator::Watcher::email(email)],
                ..sir_emulator::CaseUpdate::default()
            },
        )
    };
    add_watcher("sam.contractor@example.com").map_err(setup("SIR watcher"))?;
    c.line("demo: added a watcher in SIR that Jira will refuse");
    let labelled = || {
        jira.issue(key).is_some_and(|issue| {
            issue
                .labels
                .iter()
                .any(|label| label == shared::sync_status::PROBLEM_LABEL)
        })
    };
    let problem = format!(
        "the issue carries the label {} (JQL: labels = {})",
        shared::sync_status::PROBLEM_LABEL,
        shared::sync_status::PROBLEM_LABEL
    );
    if step(c, &problem, labelled).await.is_none() {
        return Ok(false);
    }
    jira.faults().clear();
    add_watcher("kim.responder@example.com").map_err(setup("SIR watcher"))?;
    c.line("demo: Jira takes the watcher now; added another watcher in SIR");
    let solved = || {
        !labelled()
            && jira
                .issue(key)
                .is_some_and(|issue| issue.watchers.contains(&sam.account_id))
    };
    Ok(step(
        c,
        "the watcher is on the issue and the label is gone",
        solved,
    )
    .await
    .is_some())
}

/// Case created in SIR → issue in Jira → comment in Jira → back in SIR → a watcher Jira refuses
/// labels the issue until it goes through → case closed → issue Done. `Ok(true)` only if every
/// step was observed on the other side in time.
async fn demo(stack: &LocalStack, responder: &User) -> Result<bool, HarnessError> {
    let c = stack.console;
    let Some(jira) = stack.jira.as_ref() else {
        return Ok(false);
    };
    c.line("");
    c.line(&format!(
        "demo: each step must be seen on the other side within {} s",
        DEMO_STEP_TIMEOUT.as_secs()
    ));
    let started = Instant::now();
    let case_id = stack
        .sir
        .create_case(
            "responder",
            sir_emulator::NewCase {
                title: "Demo: unusual console sign-in".into(),
                description: "A root console sign-in from an unfamiliar network.".into(),
                impacted_accounts: vec!["111122223333".into()],
                ..sir_emulator::NewCase::default()
            },
        )
        .case_id;
    c.line(&format!("demo: created case {case_id} in SIR"));
    let label = format!("sir-case-{case_id}");
    let issue_of = || {
        jira.issues()
            .into_iter()
            .find(|i| i.labels.contains(&label))
    };
    if step(c, "the case is an issue in Jira", || issue_of().is_some())
        .await
        .is_none()
    {
        return Ok(false);
    }
    let key = issue_of().map(|i| i.key).unwrap_or_default();
    let mapped = || {
        jira.issue(&key).is_some_and(|issue| {
            issue.custom_fields.get(DEMO_MAPPED_FIELD_ID)
                == Some(&serde_json::json!(["111122223333"]))
        })
    };
    let mapped_step = format!(
        "the case's impacted account is in the issue's mapped field \"{DEMO_MAPPED_FIELD_NAME}\""
    );
    if step(c, &mapped_step, mapped).await.is_none() {
        return Ok(false);
    }
    jira.comment(
        &responder.account_id,
        &key,
        "Demo: MFA reset for the root user.",
    )
    .map_err(setup("Jira comment"))?;
    c.line(&format!(
        "demo: {} commented on {key} in Jira",
        responder.display_name
    ));
    let comment_in_sir = || {
        stack.sir.case(&case_id).is_some_and(|case| {
            case.comments
                .iter()
                .filter(|comment| comment.body.ends_with("Demo: MFA reset for the root user."))
                .count()
                == 1
        })
    };
    if step(c, "the Jira comment is on the SIR case", comment_in_sir)
        .await
        .is_none()
    {
        return Ok(false);
    }
    if !demo_sync_problem(stack, jira, &case_id, &key).await? {
        return Ok(false);
    }
    stack
        .sir
        .close_case("responder", &case_id)
        .map_err(setup("SIR close"))?;
    c.line(&format!("demo: closed case {case_id} in SIR"));
    let done = || jira.issue(&key).is_some_and(|issue| issue.status == "Done");
    if step(c, "the issue is Done in Jira", done).await.is_none() {
        return Ok(false);
    }
    // Nothing came back twice: one copy of the comment in SIR, none echoed into Jira.
    tokio::time::sleep(Duration::from_secs(3)).await;
    let echoes = jira
        .issue(&key)
        .map(|issue| {
            issue
                .comments
                .iter()
                .filter(|comment| {
                    shared::adf::adf_to_text(&comment.body)
                        .contains("Demo: MFA reset for the root user.")
                })
                .count()
        })
        .unwrap_or(0);
    if !comment_in_sir() || echoes != 1 {
        c.line("demo ✗ a comment was duplicated or echoed");
        return Ok(false);
    }
    c.line(&format!(
        "demo passed: every step seen on the other side, {:.1} s in all",
        started.elapsed().as_secs_f64()
    ));
    Ok(true)
}

/// The HTTP status of a Jira failure (`0`: none, the site was not reached), as deploy.sh's
/// status reports curl's answer.
fn error_status(error: &shared::Error) -> u16 {
    match error {
        shared::Error::JiraStatus { status, .. } => *status,
        shared::Error::JiraCredentialsRefused { .. } => 401,
        _ => 0,
    }
}
