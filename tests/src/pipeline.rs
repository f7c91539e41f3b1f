//! The whole integration in one process, both ways, wired as the stack wires it: moto holds the
//! table, the integration bus, the rules (each delivering to an SQS queue, as a Lambda target
//! would be fed) and the Jira Automation SNS topic (with a queue subscribed); the SIR emulator
//! publishes its native events to moto's default bus; the Jira emulator plays Automation to the
//! topic. The four handlers run exactly the library code their Lambdas run, each with its own SIR
//! identity (so "written by the integration" means what it means in AWS: sir-client's role).
//!
//! [`Integration::settle`] delivers everything in flight, on all four routes, until nothing moved
//! for a while; a handler's `Err` leaves its message to come back (SQS visibility timeout of one
//! second), as a failed asynchronous invocation is retried. With
//! [`IntegrationOptions::async_retry_budget`] set, as Lambda does it, a message is tried that many
//! times in all (counted by SQS's `ApproximateReceiveCount`) and then removed and recorded as
//! dead-lettered on its route ([`RouteLog::dead_lettered`]).

#![allow(
    clippy::disallowed_methods,
    reason = "waits in real time for moto and the emulators over sockets"
)]

use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, Instant};

use aws_lambda_events::eventbridge::EventBridgeEvent;
use aws_lambda_events::sns::SnsEvent;
use aws_sdk_sqs::types::MessageSystemAttributeName;
use jira_client::JiraClientHandler;
use jira_emulator::{Deployment, JiraEmulator, JiraEmulatorConfig, SnsTarget};
use jira_notifications_handler::NotificationHandler;
use poller::{EventBridgeSchedule, Poller, PollerSettings};
use secrecy::SecretString;
use serde_json::{Value, json};
use shared::config::JiraSettings;
use shared::config::{DataCenterAuth, JiraFlavor};
use shared::events::rule_patterns;
use shared::jira::{JiraClient, RetryPolicy};
use shared::sir::SdkSirClient;
use sir_client::SirClientHandler;
use sir_emulator::{SirEmulator, SirEmulatorConfig};

use crate::clients::sir_client;
use crate::function_url::FunctionUrl;
use crate::metrics_log::MetricsLog;

/// The function names the local world's metrics carry (a Lambda's is its deployed name).
pub const POLLER: &str = "poller";
pub const JIRA_CLIENT: &str = "jira-client";
pub const NOTIFICATIONS_HANDLER: &str = "jira-notifications-handler";
pub const SIR_CLIENT: &str = "sir-client";
use crate::iam::{self, Function};
use crate::world::{ACCOUNT, REGION, RuleQueue};
use crate::{HarnessError, World};

/// The Jira project of the local world.
pub const PROJECT_KEY: &str = "SEC";

/// The secret of the local world's Jira webhook (`jiraWebhookSecret`).
pub const WEBHOOK_SECRET: &str = "local-world-webhook-secret";

/// How Jira tells jira-notifications-handler about changes (deploy.sh `--intake`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Intake {
    /// Jira Automation rules publish to the SNS topic.
    #[default]
    Automation,
    /// A signed Jira webhook calls the function URL; Automation publishes nothing.
    Webhook,
    /// Both at once.
    Both,
}

/// Environment variable choosing the Jira the end-to-end suites run against by default:
/// `cloud` (Cloud with Automation, the default), `cloud-webhook` (Cloud with the signed webhook)
/// or `data-center` (Data Center with the signed webhook, its only intake). `.ci/run` runs the
/// suites once per value.
pub const ENV_E2E_JIRA: &str = "E2E_JIRA";

/// What can be varied per test.
#[derive(Debug, Clone)]
pub struct IntegrationOptions {
    /// How Jira's changes reach jira-notifications-handler.
    pub intake: Intake,
    pub jira: JiraEmulatorConfig,
    pub sir: SirEmulatorConfig,
    /// sir-client's impacted accounts for cases created from Jira.
    pub impacted_accounts: Vec<String>,
    /// Grants taken away from a function's role (its template policies less these actions).
    pub revoked: Vec<(Function, String)>,
    /// How jira-client and sir-client hold and wait for claims (the contract's when `None`).
    pub claims: Option<shared::store::ClaimTiming>,
    /// jira-notifications-handler's settings (default: every issue may create a case, the
    /// default sweep).
    pub notifications: Option<jira_notifications_handler::NotificationsSettings>,
    /// Tries per message before it goes to the route's dead-letter list, as Lambda gives an
    /// asynchronous event 3 (one try and two retries); `None`: retried until it succeeds.
    pub async_retry_budget: Option<u32>,
    /// The status and field mapping document, put in SSM and read back as a cold start reads
    /// it (defaults when `None`).
    pub mapping_document: Option<String>,
    /// How long the functions use the settings read from SSM before reading them again
    /// (`CONFIG_TTL_SECONDS`; default [`shared::config::DEFAULT_CONFIG_TTL`]).
    pub config_ttl: Option<Duration>,
    /// The Jira token's expiry date as deploy.sh stores it beside the token (`YYYY-MM-DD`,
    /// `unknown`, `never`); `None`: no such parameter (an installation from before it existed).
    pub token_expires_on: Option<String>,
    /// The integration signs in with an API token with these classic scopes (and no other
    /// token), which works only through the site's API gateway: deploy.sh then stores the
    /// gateway as `jiraApiUrl`. `None`: a token without scopes, on the site.
    pub scoped_token: Option<Vec<&'static str>>,
}

/// The intake and the Jira [`ENV_E2E_JIRA`] names (an unknown value panics: a typo in CI must
/// not quietly run the default).
pub fn e2e_jira() -> (Intake, Deployment) {
    match std::env::var(ENV_E2E_JIRA).as_deref() {
        Err(_) | Ok("" | "cloud") => (Intake::Automation, Deployment::Cloud),
        Ok("cloud-webhook") => (Intake::Webhook, Deployment::Cloud),
        Ok("data-center") => (Intake::Webhook, Deployment::DataCenter),
        Ok(other) => panic!("{ENV_E2E_JIRA}={other}: use cloud, cloud-webhook or data-center"),
    }
}

/// The Jira settings deploy.sh would configure for `jira`'s flavour (a Data Center site: a
/// personal access token).
pub fn jira_flavor_of(deployment: Deployment) -> JiraFlavor {
    match deployment {
        Deployment::Cloud => JiraFlavor::Cloud,
        Deployment::DataCenter => JiraFlavor::DataCenter(DataCenterAuth::PersonalAccessToken),
    }
}

impl Default for IntegrationOptions {
    /// The Jira and intake [`e2e_jira`] names, nothing else varied.
    fn default() -> Self {
        let (intake, deployment) = e2e_jira();
        IntegrationOptions {
            intake,
            jira: JiraEmulatorConfig {
                deployment,
                ..JiraEmulatorConfig::default()
            },
            sir: SirEmulatorConfig::default(),
            impacted_accounts: Vec::new(),
            revoked: Vec::new(),
            claims: None,
            notifications: None,
            async_retry_budget: None,
            mapping_document: None,
            config_ttl: None,
            token_expires_on: None,
            scoped_token: None,
        }
    }
}

/// What one route delivered during a [`Integration::settle`].
#[derive(Debug, Default, Clone)]
pub struct RouteLog {
    /// Messages whose handler returned `Ok` (deleted from the queue).
    pub handled: usize,
    /// Handler errors with their cause chains (those messages come back).
    pub errors: Vec<String>,
    /// Each `Ok` response, as the Lambda would return it.
    pub responses: Vec<Value>,
    /// Messages that failed on every try of the retry budget (their bodies as JSON), as Lambda
    /// sends them to the function's dead-letter queue.
    pub dead_lettered: Vec<Value>,
}

/// Everything [`Integration::settle`] delivered, per route.
#[derive(Debug, Default, Clone)]
pub struct Settled {
    /// Default bus (native SIR events) → poller.
    pub native: RouteLog,
    /// Integration bus, source `security-ir` → jira-client.
    pub to_jira: RouteLog,
    /// SNS (Jira Automation) → jira-notifications-handler.
    pub notifications: RouteLog,
    /// Integration bus, source `jira` → sir-client.
    pub to_sir: RouteLog,
}

impl RouteLog {
    /// `field` (`"outcome"`, `"rejected"`, …) of every record of every `Ok` response (a batch
    /// response's `records`, or the response itself), in delivery order.
    pub fn record_field(&self, field: &str) -> Vec<String> {
        self.responses
            .iter()
            .flat_map(|r| match r.get("records") {
                Some(Value::Array(records)) => records.clone(),
                _ => vec![r.clone()],
            })
            .filter_map(|r| r.get(field).and_then(Value::as_str).map(str::to_owned))
            .collect()
    }
}

impl RouteLog {
    /// Adds `more`'s deliveries to these.
    fn absorb_route(&mut self, mut more: RouteLog) {
        self.handled += more.handled;
        self.errors.append(&mut more.errors);
        self.responses.append(&mut more.responses);
        self.dead_lettered.append(&mut more.dead_lettered);
    }
}

impl Settled {
    fn routes_mut(&mut self) -> [&mut RouteLog; 4] {
        [
            &mut self.native,
            &mut self.to_jira,
            &mut self.notifications,
            &mut self.to_sir,
        ]
    }

    /// Messages handled or failed on all four routes.
    pub fn moved(&self) -> usize {
        [
            &self.native,
            &self.to_jira,
            &self.notifications,
            &self.to_sir,
        ]
        .iter()
        .map(|log| log.handled + log.errors.len())
        .sum()
    }

    /// Adds `later`'s deliveries to these.
    fn absorb(&mut self, mut later: Settled) {
        for (log, more) in self.routes_mut().into_iter().zip(later.routes_mut()) {
            log.absorb_route(std::mem::take(more));
        }
    }

    /// Fails the test, naming the route and the errors, if any handler returned `Err`.
    pub fn assert_clean(&self) {
        for (route, log) in [
            ("native", &self.native),
            ("to_jira", &self.to_jira),
            ("notifications", &self.notifications),
            ("to_sir", &self.to_sir),
        ] {
            assert!(log.errors.is_empty(), "{route} errors: {:#?}", log.errors);
        }
    }
}

/// The integration and its local world.
pub struct Integration {
    pub world: World,
    /// Shared with the integrations started beside this one ([`Integration::start_beside`]).
    pub sir: Arc<SirEmulator>,
    pub jira: JiraEmulator,
    pub topic_arn: String,
    pub native: RuleQueue,
    pub to_jira: RuleQueue,
    pub notifications_queue: String,
    pub to_sir: RuleQueue,
    pub poller: Poller,
    pub jira_client: JiraClientHandler,
    /// Shared with the function URL, which calls it for each webhook request.
    pub notifications: Arc<NotificationHandler>,
    /// jira-notifications-handler's function URL, with the intake [`Intake::Webhook`] or
    /// [`Intake::Both`].
    pub function_url: Option<FunctionUrl>,
    pub sir_client: SirClientHandler,
    /// See [`IntegrationOptions::async_retry_budget`].
    pub async_retry_budget: Option<u32>,
    /// How Jira's changes reach jira-notifications-handler.
    pub intake: Intake,
    /// The metrics lines every invocation above wrote (as each Lambda writes them to its log).
    pub metrics: Arc<MetricsLog>,
}

impl std::fmt::Debug for Integration {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Integration")
            .field("world", &self.world.id)
            .field("sir", &self.sir.endpoint())
            .field("jira", &self.jira.base_url())
            .finish_non_exhaustive()
    }
}

/// Jira retries kept short so tests run fast (the production policy waits longer).
fn test_retry_policy() -> RetryPolicy {
    RetryPolicy {
        max_retries: 3,
        min_delay: Duration::from_millis(20),
        max_delay: Duration::from_millis(200),
        max_retry_after: Duration::from_secs(2),
    }
}

impl Integration {
    /// Turns off (or on again) every way Jira tells the integration of a change as it happens:
    /// the Automation rules and the webhook, whichever the intake uses. Off, only the Jira sweep
    /// and the audit find Jira's changes.
    pub fn set_jira_push(&self, enabled: bool) {
        let automation = matches!(self.intake, Intake::Automation | Intake::Both);
        self.jira.automation().set_enabled(enabled && automation);
        self.jira.webhooks().set_enabled(enabled);
    }

    /// The one case in the SIR emulator; fails the test, listing the titles, if there are more
    /// or none.
    pub fn only_case(&self) -> sir_emulator::CaseRecord {
        let cases = self.sir.cases();
        assert_eq!(
            cases.len(),
            1,
            "{:#?}",
            cases.iter().map(|c| &c.title).collect::<Vec<_>>()
        );
        let mut cases = cases.into_iter();
        match cases.next() {
            Some(case) => case,
            None => unreachable!("one case was counted"),
        }
    }

    /// The issue's comments as plain text, oldest first (the issue must exist).
    pub fn jira_comment_texts(&self, key: &str) -> Vec<String> {
        self.jira
            .issue(key)
            .map(|issue| {
                issue
                    .comments
                    .iter()
                    .map(|c| shared::adf::adf_to_text(&c.body))
                    .collect()
            })
            .unwrap_or_else(|| panic!("no issue {key} in the Jira emulator"))
    }

    /// The case's comments as SIR holds them, oldest first (the case must exist).
    pub fn sir_comment_texts(&self, case_id: &str) -> Vec<String> {
        self.sir
            .case(case_id)
            .unwrap_or_else(|| panic!("no case {case_id} in the SIR emulator"))
            .comments
            .iter()
            .map(|c| c.body.clone())
            .collect()
    }

    /// The principal SIR records for `function`'s calls.
    pub fn principal_of(&self, function: Function) -> String {
        self.sir.principal(&self.world.access_key(function))
    }

    pub async fn start() -> Result<Integration, HarnessError> {
        Integration::start_with(IntegrationOptions::default()).await
    }

    pub async fn start_with(options: IntegrationOptions) -> Result<Integration, HarnessError> {
        // Boxed: the set-up future is large, and every test awaits it.
        Box::pin(Integration::start_boxed(options)).await
    }

    /// A second deployment beside `first`, as a second stack in the same account and region:
    /// its own table, bus, SSM prefix, roles and Jira site (a new Jira emulator), and the same
    /// SIR (`first`'s emulator), whose native events reach both pollers from the one default bus
    /// (`first`'s bus stands in for it).
    pub async fn start_beside(
        first: &Integration,
        options: IntegrationOptions,
    ) -> Result<Integration, HarnessError> {
        let world = World::new().await?;
        let native_bus = first.world.bus_name.clone();
        Box::pin(Integration::assemble(
            world,
            first.sir.clone(),
            &native_bus,
            options,
        ))
        .await
    }

    async fn start_boxed(options: IntegrationOptions) -> Result<Integration, HarnessError> {
        let world = World::new().await?;
        let sir = SirEmulator::start(SirEmulatorConfig {
            events_endpoint: Some(world.endpoint.clone()),
            // Each Lambda's role, as the synthesized template grants it, decides what it may call.
            authorizer: Some(world.iam.authorize_url()),
            // The test's own bus stands in for the default bus, so parallel tests' SIR
            // emulators do not feed each other's pollers.
            event_bus_name: world.bus_name.clone(),
            ..options.sir.clone()
        })
        .await
        .map_err(|e| HarnessError::Setup(format!("SIR emulator: {e}")))?;
        let native_bus = world.bus_name.clone();
        Box::pin(Integration::assemble(
            world,
            Arc::new(sir),
            &native_bus,
            options,
        ))
        .await
    }

    /// The integration around `world` and `sir`, whose native events arrive on `native_bus`.
    async fn assemble(
        world: World,
        sir: Arc<SirEmulator>,
        native_bus: &str,
        options: IntegrationOptions,
    ) -> Result<Integration, HarnessError> {
        let (topic_arn, notifications_queue) = world.automation_topic().await?;
        let jira = JiraEmulator::start(JiraEmulatorConfig {
            sns: Some(SnsTarget {
                endpoint: world.endpoint.clone(),
                topic_arn: topic_arn.clone(),
                region: REGION.into(),
            }),
            project_key: PROJECT_KEY.into(),
            ..options.jira
        })
        .await
        .map_err(|e| HarnessError::Setup(format!("Jira emulator: {e}")))?;

        let native = world
            .rule_queue_on(native_bus, "poller-native", &rule_patterns::native_sir())
            .await?;
        let to_jira = world
            .rule_queue("jira-client", &rule_patterns::jira_client())
            .await?;
        let to_sir = world
            .rule_queue("sir-client", &rule_patterns::sir_client())
            .await?;
        let schedule_rule = world.poller_schedule_rule().await?;

        // As deploy.sh and the stack store them, read back as a cold start reads them; each
        // function reads them again from SSM (with its own role) after the TTL and on a 401, as
        // each main.rs sets it up.
        // (As deploy.sh configures it from the site's serverInfo: a Data Center site with a
        // personal access token.)
        let flavor = jira_flavor_of(jira.deployment());
        let token = match &options.scoped_token {
            Some(scopes) => {
                // Replaces the integration user's token without scopes.
                jira.add_scoped_api_token(
                    &jira.integration_account_id(),
                    "integration@example.com",
                    "integration-scoped-token",
                    scopes,
                )
                .map_err(|e| HarnessError::Setup(format!("scoped token: {e}")))?;
                world.put_jira_api_url(&jira.gateway_url()).await?;
                "integration-scoped-token"
            }
            None => "integration-token",
        };
        world
            .put_jira_parameters(
                "integration@example.com",
                &jira.base_url(),
                PROJECT_KEY,
                token,
            )
            .await?;
        if let Some(expires_on) = &options.token_expires_on {
            world.put_token_expiry(expires_on).await?;
        }
        let jira_settings = JiraSettings::load(&world.ssm, &world.parameters, flavor)
            .await
            .map_err(|e| HarnessError::Setup(format!("Jira settings from SSM: {e}")))?;
        let config_ttl = options
            .config_ttl
            .unwrap_or(shared::config::DEFAULT_CONFIG_TTL);
        let jira_api = |sdk: &aws_config::SdkConfig| -> Result<Arc<JiraClient>, HarnessError> {
            Ok(Arc::new(
                JiraClient::new(&jira_settings)
                    .map_err(|e| HarnessError::Setup(format!("Jira client: {e}")))?
                    .with_retry_policy(test_retry_policy())
                    .with_settings_source(
                        Arc::new(shared::config::SsmJiraSettings::new(
                            aws_sdk_ssm::Client::new(sdk),
                            world.parameters.clone(),
                            jira_settings.flavor,
                        )),
                        config_ttl,
                    ),
            ))
        };
        // Every Lambda signs with its own access key, refused by moto and the SIR emulator what
        // its role (from the synthesized template) does not allow.
        let sdk_of = |function: Function| {
            let revoked: Vec<&String> = options
                .revoked
                .iter()
                .filter(|(f, _)| *f == function)
                .map(|(_, action)| action)
                .collect();
            let world = &world;
            async move {
                let mut policies = iam::template_policies(function)?;
                for action in revoked {
                    policies = policies.without_action(action);
                }
                world.function_sdk_with(function, &policies).await
            }
        };
        let poller_sdk = sdk_of(Function::Poller).await?;
        let jira_client_sdk = sdk_of(Function::JiraClient).await?;
        let notifications_sdk = sdk_of(Function::JiraNotificationsHandler).await?;
        let sir_client_sdk = sdk_of(Function::SirClient).await?;
        let store = |sdk: &aws_config::SdkConfig| {
            Arc::new(shared::store::DynamoMappingStore::new(
                aws_sdk_dynamodb::Client::new(sdk),
                &world.table_name,
            ))
        };
        let publisher = |sdk: &aws_config::SdkConfig| {
            Arc::new(shared::publisher::EventBridgePublisher::new(
                aws_sdk_eventbridge::Client::new(sdk),
                &world.bus_name,
            ))
        };
        let sir_api = |function| {
            Arc::new(SdkSirClient::new(sir_client(
                &sir.endpoint(),
                &world.access_key(function),
            )))
        };
        let ours = vec![
            sir.principal(&world.access_key(Function::SirClient)),
            sir.principal(&world.access_key(Function::JiraClient)),
        ];

        let poller = Poller {
            sir: sir_api(Function::Poller),
            store: store(&poller_sdk),
            publisher: publisher(&poller_sdk),
            schedule: Arc::new(EventBridgeSchedule::new(
                aws_sdk_eventbridge::Client::new(&poller_sdk),
                &schedule_rule,
            )),
            settings: PollerSettings {
                integration_principals: ours.clone(),
                ..PollerSettings::default()
            },
        };
        let mut jira_client_settings =
            jira_client::JiraClientSettings::new(PROJECT_KEY, jira.base_url(), REGION);
        jira_client_settings.integration_principals = ours;
        if let Some(document) = &options.mapping_document {
            world
                .put_parameter(
                    &world.parameters.status_mapping(),
                    document,
                    aws_sdk_ssm::types::ParameterType::String,
                )
                .await?;
            let (status, fields) = shared::config::load_mappings(&world.ssm, &world.parameters)
                .await
                .map_err(|e| HarnessError::Setup(shared::error::error_chain(&e)))?;
            jira_client_settings.status_mapping = status;
            jira_client_settings.field_mapping = fields;
        }
        if let Some(claims) = options.claims {
            jira_client_settings.claims = claims;
        }
        let live = |sdk: &aws_config::SdkConfig| {
            shared::live_mapping::MappingSource::new(
                aws_sdk_ssm::Client::new(sdk),
                world.parameters.clone(),
                config_ttl,
            )
        };
        let jira_client = JiraClientHandler::new(
            jira_api(&jira_client_sdk)?,
            sir_api(Function::JiraClient),
            store(&jira_client_sdk),
            jira_client_settings,
        )
        .with_live_mappings(live(&jira_client_sdk));
        let notifications = NotificationHandler::new(
            jira_api(&notifications_sdk)?,
            store(&notifications_sdk),
            publisher(&notifications_sdk),
            options.notifications.unwrap_or_else(|| {
                jira_notifications_handler::NotificationsSettings::new(PROJECT_KEY)
            }),
        );
        let webhooks = matches!(options.intake, Intake::Webhook | Intake::Both);
        let notifications = Arc::new(if webhooks {
            notifications.with_webhook_secret(SecretString::from(WEBHOOK_SECRET.to_owned()))
        } else {
            notifications
        });
        let metrics = Arc::new(MetricsLog::default());
        let function_url = if webhooks {
            let endpoint =
                FunctionUrl::start(Arc::clone(&notifications), Arc::clone(&metrics)).await?;
            // As deploy.sh registers it: the project's issues, signed with the secret.
            jira.webhooks()
                .register(jira_emulator::WebhookRegistration {
                    url: endpoint.url.clone(),
                    secret: Some(WEBHOOK_SECRET.to_owned()),
                    project_key: Some(PROJECT_KEY.to_owned()),
                });
            Some(endpoint)
        } else {
            None
        };
        if options.intake == Intake::Webhook {
            jira.automation().set_enabled(false);
        }
        let mut sir_client_settings =
            sir_client::SirClientSettings::new(PROJECT_KEY, jira.base_url(), REGION);
        sir_client_settings.impacted_accounts = options.impacted_accounts;
        if options.mapping_document.is_some() {
            // As sir-client's cold start reads the document put in SSM above.
            let (status, fields_from_jira) =
                shared::config::load_status_mapping(&world.ssm, &world.parameters)
                    .await
                    .map_err(|e| HarnessError::Setup(shared::error::error_chain(&e)))?;
            sir_client_settings.status_mapping = status;
            sir_client_settings.fields_from_jira = fields_from_jira;
        }
        if let Some(claims) = options.claims {
            sir_client_settings.claims = claims;
        }
        let sir_client = SirClientHandler::new(
            sir_api(Function::SirClient),
            jira_api(&sir_client_sdk)?,
            store(&sir_client_sdk),
            sir_client_settings,
        )
        .with_live_mappings(live(&sir_client_sdk));
        Ok(Integration {
            world,
            sir,
            jira,
            topic_arn,
            native,
            to_jira,
            notifications_queue,
            to_sir,
            poller,
            jira_client,
            notifications,
            function_url,
            sir_client,
            async_retry_budget: options.async_retry_budget,
            intake: options.intake,
            metrics,
        })
    }

    /// One schedule pass of the poller, as its schedule rule starts it (its metrics recorded).
    pub async fn schedule_pass(&self) -> Result<poller::PassReport, poller::PollerError> {
        self.metrics
            .invoke(POLLER, self.poller.handle(&crate::clients::schedule_tick()))
            .await
    }

    /// Delivers everything in flight on all four routes until nothing moved for `quiet` (and
    /// both emulators have sent what they emitted), or `within` passed.
    pub async fn settle_for(
        &self,
        quiet: Duration,
        within: Duration,
    ) -> Result<Settled, HarnessError> {
        let deadline = Instant::now() + within;
        let mut last_activity = Instant::now();
        let mut settled = Settled::default();
        while Instant::now() < deadline {
            let mut moved = 0;
            moved += self
                .deliver(
                    &self.native.queue_url,
                    &mut settled.native,
                    |body| async move {
                        let envelope = parse(&body)?;
                        let outcome = self
                            .metrics
                            .invoke(POLLER, self.poller.handle(&envelope))
                            .await;
                        outcome
                            .map(|report| json!(format!("{report:?}")))
                            .map_err(|e| shared::error::error_chain(&e))
                    },
                )
                .await?;
            moved += self
                .deliver(
                    &self.to_jira.queue_url,
                    &mut settled.to_jira,
                    |body| async move {
                        let event: EventBridgeEvent<Value> =
                            serde_json::from_value(parse(&body)?).map_err(|e| e.to_string())?;
                        let outcome = self
                            .metrics
                            .invoke(JIRA_CLIENT, self.jira_client.handle(event))
                            .await;
                        let applied = outcome.map_err(|e| shared::error::error_chain(&e))?;
                        serde_json::to_value(applied).map_err(|e| e.to_string())
                    },
                )
                .await?;
            moved += self
                .deliver(
                    &self.notifications_queue,
                    &mut settled.notifications,
                    |body| async move {
                        let event = sns_event(&parse(&body)?)?;
                        let outcome = self
                            .metrics
                            .invoke(NOTIFICATIONS_HANDLER, self.notifications.handle(event))
                            .await;
                        let report = outcome.map_err(|e| shared::error::error_chain(&e))?;
                        serde_json::to_value(report).map_err(|e| e.to_string())
                    },
                )
                .await?;
            moved += self
                .deliver(
                    &self.to_sir.queue_url,
                    &mut settled.to_sir,
                    |body| async move {
                        let event: EventBridgeEvent<Value> =
                            serde_json::from_value(parse(&body)?).map_err(|e| e.to_string())?;
                        let outcome = self
                            .metrics
                            .invoke(SIR_CLIENT, self.sir_client.handle(event))
                            .await;
                        let applied = outcome.map_err(|e| shared::error::error_chain(&e))?;
                        serde_json::to_value(applied).map_err(|e| e.to_string())
                    },
                )
                .await?;
            if let Some(endpoint) = &self.function_url {
                let answered = endpoint.take_log();
                moved += answered.handled + answered.errors.len();
                settled.notifications.absorb_route(answered);
            }
            let denials = self.world.iam_denials().await?;
            if !denials.is_empty() {
                return Err(HarnessError::IamDenied(iam::describe(&denials)));
            }
            let emitted = self.sir.events_settled(Duration::ZERO).await
                && self.jira.automation().wait_idle(Duration::ZERO).await
                && self.jira.webhooks().wait_idle(Duration::ZERO).await;
            if moved > 0 || !emitted {
                last_activity = Instant::now();
            } else if last_activity.elapsed() >= quiet {
                break;
            } else {
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
        Ok(settled)
    }

    /// Runs jira-notifications-handler's Jira sweep as its schedule rule does: the rule's
    /// `Scheduled Event` delivered to the handler. The handler's response (a sweep report), or
    /// its error's cause chain.
    pub async fn sweep_jira(&self) -> Result<Value, String> {
        let outcome = self
            .metrics
            .invoke(
                NOTIFICATIONS_HANDLER,
                self.notifications
                    .handle_invocation(crate::clients::schedule_tick()),
            )
            .await;
        let report = outcome.map_err(|e| shared::error::error_chain(&e))?;
        serde_json::to_value(report).map_err(|e| e.to_string())
    }

    /// Settles deployments side by side ([`Integration::start_beside`]): each in turn until a
    /// whole round moved nothing in any of them (one's writes feed the others through SIR).
    /// Their deliveries, in the order given.
    pub async fn settle_together(
        integrations: &[&Integration],
    ) -> Result<Vec<Settled>, HarnessError> {
        let mut settled = vec![Settled::default(); integrations.len()];
        let deadline = Instant::now() + Duration::from_secs(300);
        loop {
            let mut moved = 0;
            for (integration, total) in integrations.iter().zip(settled.iter_mut()) {
                let round = integration.settle().await?;
                moved += round.moved();
                total.absorb(round);
            }
            if moved == 0 {
                return Ok(settled);
            }
            // Deployments that keep handing each other messages never settle: ping-pong.
            if Instant::now() >= deadline {
                return Err(HarnessError::Setup(format!(
                    "the deployments were still exchanging messages after 300 s ({moved} in the \
                     last round): ping-pong between them"
                )));
            }
        }
    }

    /// [`Integration::settle_for`] with a quiet period long enough for moto's deliveries on a
    /// loaded two-core machine.
    pub async fn settle(&self) -> Result<Settled, HarnessError> {
        self.settle_for(Duration::from_millis(2_000), Duration::from_secs(120))
            .await
    }

    /// One batch from `queue_url` through `handler` (see [`deliver_batch`]), logged per route.
    async fn deliver<F, Fut>(
        &self,
        queue_url: &str,
        log: &mut RouteLog,
        handler: F,
    ) -> Result<usize, HarnessError>
    where
        F: Fn(String) -> Fut,
        Fut: Future<Output = Result<Value, String>>,
    {
        let results =
            deliver_batch_within(&self.world.sqs, queue_url, self.async_retry_budget, handler)
                .await?;
        for delivered in &results {
            match &delivered.result {
                Ok(response) => {
                    log.handled += 1;
                    log.responses.push(response.clone());
                }
                Err(error) => log.errors.push(error.clone()),
            }
            if let Some(body) = &delivered.dead_lettered {
                log.dead_lettered
                    .push(parse(body).unwrap_or_else(|_| Value::String(body.clone())));
            }
        }
        Ok(results.len())
    }
}

/// One message's delivery by [`deliver_batch_within`].
#[derive(Debug, Clone)]
pub struct Delivered {
    /// The handler's result.
    pub result: Result<Value, String>,
    /// The message's body when this failure used up the retry budget (the message was removed).
    pub dead_lettered: Option<String>,
}

/// Receives one batch (up to ten messages) from `queue_url` and hands each body to `handler`, as
/// Lambda's event source would: a message whose handler returned `Ok` is deleted, one that
/// failed stays and comes back after the visibility timeout. Returns each handler's result.
pub async fn deliver_batch<F, Fut>(
    sqs: &aws_sdk_sqs::Client,
    queue_url: &str,
    handler: F,
) -> Result<Vec<Result<Value, String>>, HarnessError>
where
    F: Fn(String) -> Fut,
    Fut: Future<Output = Result<Value, String>>,
{
    Ok(deliver_batch_within(sqs, queue_url, None, handler)
        .await?
        .into_iter()
        .map(|d| d.result)
        .collect())
}

/// [`deliver_batch`] with Lambda's retry budget for asynchronous events: a message that failed
/// on its `budget`-th receive (SQS `ApproximateReceiveCount`) is removed and returned as
/// dead-lettered. `None`: a failed message always comes back.
pub async fn deliver_batch_within<F, Fut>(
    sqs: &aws_sdk_sqs::Client,
    queue_url: &str,
    budget: Option<u32>,
    handler: F,
) -> Result<Vec<Delivered>, HarnessError>
where
    F: Fn(String) -> Fut,
    Fut: Future<Output = Result<Value, String>>,
{
    let out = sqs
        .receive_message()
        .queue_url(queue_url)
        .max_number_of_messages(10)
        .message_system_attribute_names(MessageSystemAttributeName::ApproximateReceiveCount)
        // No long poll: moto serves one request at a time (see moto_runner.py).
        .wait_time_seconds(0)
        .send()
        .await
        .map_err(HarnessError::aws("ReceiveMessage"))?;
    let mut results = Vec::new();
    for message in out.messages() {
        let body = message.body().unwrap_or_default().to_owned();
        let result = handler(body.clone()).await;
        let received: u32 = message
            .attributes()
            .and_then(|a| a.get(&MessageSystemAttributeName::ApproximateReceiveCount))
            .and_then(|count| count.parse().ok())
            .unwrap_or(1);
        let spent = result.is_err() && budget.is_some_and(|budget| received >= budget);
        if (result.is_ok() || spent)
            && let Some(handle) = message.receipt_handle()
        {
            sqs.delete_message()
                .queue_url(queue_url)
                .receipt_handle(handle)
                .send()
                .await
                .map_err(HarnessError::aws("DeleteMessage"))?;
        }
        results.push(Delivered {
            result,
            dead_lettered: spent.then_some(body),
        });
    }
    Ok(results)
}

/// A queue message's body as JSON.
pub fn parse(body: &str) -> Result<Value, String> {
    serde_json::from_str(body).map_err(|e| format!("queue message is not JSON ({e}): {body}"))
}

/// The SNS event Lambda receives for one SNS notification (as SNS delivers it to an SQS queue
/// without raw delivery): the same fields, in Lambda's spelling.
pub fn sns_event(notification: &Value) -> Result<SnsEvent, String> {
    let field = |name: &str| notification.get(name).cloned().unwrap_or(Value::Null);
    let topic_arn = field("TopicArn");
    let lambda_shape = json!({"Records": [{
        "EventSource": "aws:sns",
        "EventVersion": "1.0",
        "EventSubscriptionArn": format!("{}:subscription", topic_arn.as_str().unwrap_or_default()),
        "Sns": {
            "Type": field("Type"),
            "MessageId": field("MessageId"),
            "TopicArn": topic_arn,
            "Subject": field("Subject"),
            "Message": field("Message"),
            "Timestamp": field("Timestamp"),
            "SignatureVersion": field("SignatureVersion"),
            "Signature": field("Signature"),
            "SigningCertUrl": field("SigningCertURL"),
            "UnsubscribeUrl": field("UnsubscribeURL"),
            "MessageAttributes": {},
        }
    }]});
    serde_json::from_value(lambda_shape).map_err(|e| format!("not an SNS notification ({e})"))
}

/// An SNS event with one record carrying `message`, as Lambda would deliver a publish of it.
pub fn sns_event_with(message_id: &str, message: &str) -> SnsEvent {
    let notification = json!({
        "Type": "Notification",
        "MessageId": message_id,
        "TopicArn": format!("arn:aws:sns:{REGION}:{ACCOUNT}:jira-automation"),
        "Message": message,
        "Timestamp": "2026-11-22T10:00:00.000Z",
        "SignatureVersion": "1",
        "Signature": "c2lnbmF0dXJl",
        "SigningCertURL": "https://sns.example/cert.pem",
        "UnsubscribeURL": "https://sns.example/unsubscribe",
    });
    match sns_event(&notification) {
        Ok(event) => event,
        // The shape above is fixed; a failure here is a bug in this function.
        Err(error) => panic!("sns_event_with: {error}"),
    }
}
