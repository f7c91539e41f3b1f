//! One test's own slice of the AWS half of the local world: a mapping table, an integration bus,
//! SSM parameters under their own prefix and SQS queues behind bus rules, all with names unique
//! to the test, so tests run in parallel against one moto without seeing each other.

#![allow(
    clippy::disallowed_methods,
    reason = "waits in real time for moto and the emulators over sockets"
)]

use std::time::{Duration, Instant};

use aws_config::SdkConfig;
use aws_sdk_dynamodb::types::{
    AttributeDefinition, BillingMode, KeySchemaElement, KeyType, ScalarAttributeType,
    TimeToLiveSpecification,
};
use aws_sdk_ssm::types::ParameterType;
use shared::config::ParameterNames;
use shared::publisher::EventBridgePublisher;
use shared::store::{DynamoMappingStore, schema};

use crate::HarnessError;
use crate::iam::{Bindings, Denial, Function, FunctionPolicies, LocalIam, template_policies};
use moto_harness::MotoServer;

pub use moto_harness::{ACCOUNT, REGION, sdk_config};

/// A test's resources in moto, and clients to reach them.
#[derive(Debug)]
pub struct World {
    pub id: String,
    pub endpoint: String,
    pub sdk: SdkConfig,
    pub dynamodb: aws_sdk_dynamodb::Client,
    pub eventbridge: aws_sdk_eventbridge::Client,
    pub ssm: aws_sdk_ssm::Client,
    pub sqs: aws_sdk_sqs::Client,
    pub table_name: String,
    pub bus_name: String,
    pub parameters: ParameterNames,
    /// The stack this world stands for (the poller's schedule rule is `<stack>-poller-schedule`).
    pub stack_name: String,
    /// The IAM in front of moto (and the SIR emulator's authorizer).
    pub iam: LocalIam,
}

/// An SQS queue that receives what one bus rule matches.
#[derive(Debug, Clone)]
pub struct RuleQueue {
    pub rule_name: String,
    pub queue_url: String,
}

impl World {
    /// The poller's schedule rule (`<stack>-poller-schedule`), created disabled at
    /// `rate(5 minutes)` as the stack creates it; returns its name.
    pub async fn poller_schedule_rule(&self) -> Result<String, HarnessError> {
        let name = format!("{}-poller-schedule", self.stack_name);
        self.eventbridge
            .put_rule()
            .name(&name)
            .schedule_expression("rate(5 minutes)")
            .state(aws_sdk_eventbridge::types::RuleState::Disabled)
            .send()
            .await
            .map_err(HarnessError::aws("PutRule"))?;
        Ok(name)
    }

    /// Starts moto if needed and creates this test's table and bus.
    pub async fn new() -> Result<World, HarnessError> {
        let id = uuid::Uuid::new_v4().simple().to_string()[..12].to_owned();
        World::named(
            &id,
            &format!("sir-jira-mapping-{id}"),
            &format!("security-incident-event-bus-{id}"),
            &format!("/SecurityIncidentResponse-{id}"),
            &format!("sir-jira-{id}"),
        )
        .await
    }

    /// Starts moto if needed and creates a table and a bus with these names (the local mode
    /// uses the stack's own names); `id` suffixes the rule, queue and access key names.
    pub async fn named(
        id: &str,
        table_name: &str,
        bus_name: &str,
        parameter_prefix: &str,
        stack_name: &str,
    ) -> Result<World, HarnessError> {
        let moto = MotoServer::shared()?;
        let sdk = sdk_config(moto.endpoint()).await;
        let world = World {
            endpoint: moto.endpoint().to_owned(),
            dynamodb: aws_sdk_dynamodb::Client::new(&sdk),
            eventbridge: aws_sdk_eventbridge::Client::new(&sdk),
            ssm: aws_sdk_ssm::Client::new(&sdk),
            sqs: aws_sdk_sqs::Client::new(&sdk),
            table_name: table_name.to_owned(),
            bus_name: bus_name.to_owned(),
            parameters: ParameterNames::with_prefix(parameter_prefix),
            stack_name: stack_name.to_owned(),
            iam: LocalIam::new(moto.endpoint()),
            sdk,
            id: id.to_owned(),
        };
        world.create_table().await?;
        world
            .eventbridge
            .create_event_bus()
            .name(&world.bus_name)
            .send()
            .await
            .map_err(HarnessError::aws("CreateEventBus"))?;
        Ok(world)
    }

    /// The mapping table with the key schema and TTL attribute the stack defines.
    async fn create_table(&self) -> Result<(), HarnessError> {
        let attribute = |name: &str| {
            AttributeDefinition::builder()
                .attribute_name(name)
                .attribute_type(ScalarAttributeType::S)
                .build()
        };
        let key = |name: &str, kind| {
            KeySchemaElement::builder()
                .attribute_name(name)
                .key_type(kind)
                .build()
        };
        self.dynamodb
            .create_table()
            .table_name(&self.table_name)
            .attribute_definitions(attribute(schema::PARTITION_KEY).map_err(HarnessError::build)?)
            .attribute_definitions(attribute(schema::SORT_KEY).map_err(HarnessError::build)?)
            .key_schema(key(schema::PARTITION_KEY, KeyType::Hash).map_err(HarnessError::build)?)
            .key_schema(key(schema::SORT_KEY, KeyType::Range).map_err(HarnessError::build)?)
            .billing_mode(BillingMode::PayPerRequest)
            .send()
            .await
            .map_err(HarnessError::aws("CreateTable"))?;
        self.dynamodb
            .update_time_to_live()
            .table_name(&self.table_name)
            .time_to_live_specification(
                TimeToLiveSpecification::builder()
                    .enabled(true)
                    .attribute_name(schema::TTL_ATTRIBUTE)
                    .build()
                    .map_err(HarnessError::build)?,
            )
            .send()
            .await
            .map_err(HarnessError::aws("UpdateTimeToLive"))?;
        Ok(())
    }

    /// What the policy file's placeholders stand for in this world.
    pub fn bindings(&self) -> Bindings {
        Bindings {
            table_name: self.table_name.clone(),
            bus_name: self.bus_name.clone(),
            parameter_prefix: self.parameters.prefix().to_owned(),
            stack_name: self.stack_name.clone(),
        }
    }

    /// The access key `function` signs with in this world (moto and the SIR emulator).
    pub fn access_key(&self, function: Function) -> String {
        format!("{}-{}", function.crate_name(), self.id)
    }

    /// The four functions' access keys.
    pub fn access_keys(&self) -> Vec<String> {
        Function::ALL.iter().map(|f| self.access_key(*f)).collect()
    }

    /// Registers `function`'s access key with its role's policies from the synthesized template
    /// and returns an SDK configuration that signs with it: every call made through it is
    /// refused what the role does not allow.
    pub async fn function_sdk(&self, function: Function) -> Result<SdkConfig, HarnessError> {
        self.function_sdk_with(function, &template_policies(function)?)
            .await
    }

    /// [`World::function_sdk`] with other policies (a test taking a grant away).
    pub async fn function_sdk_with(
        &self,
        function: Function,
        policies: &FunctionPolicies,
    ) -> Result<SdkConfig, HarnessError> {
        let key = self.access_key(function);
        self.iam
            .register(&key, function, policies, &self.bindings())
            .await?;
        Ok(self
            .sdk
            .to_builder()
            .credentials_provider(aws_sdk_dynamodb::config::SharedCredentialsProvider::new(
                aws_sdk_dynamodb::config::Credentials::new(&key, "secret", None, None, "function"),
            ))
            .build())
    }

    /// Every call of this world's functions the local IAM refused so far.
    pub async fn iam_denials(&self) -> Result<Vec<Denial>, HarnessError> {
        self.iam.denials(&self.access_keys()).await
    }

    /// Every AWS call this world's functions made so far, per function and operation.
    pub async fn aws_calls(&self) -> Result<Vec<crate::iam::CallCount>, HarnessError> {
        self.iam.calls(&self.access_keys()).await
    }

    pub fn store(&self) -> DynamoMappingStore {
        DynamoMappingStore::new(self.dynamodb.clone(), &self.table_name)
    }

    pub fn publisher(&self) -> EventBridgePublisher {
        EventBridgePublisher::new(self.eventbridge.clone(), &self.bus_name)
    }

    /// A rule on this test's bus with `pattern`, delivering to a new SQS queue.
    pub async fn rule_queue(
        &self,
        name: &str,
        pattern: &serde_json::Value,
    ) -> Result<RuleQueue, HarnessError> {
        self.rule_queue_on(&self.bus_name, name, pattern).await
    }

    /// A rule on `bus` (e.g. `default`) with `pattern`, delivering to a new SQS queue.
    pub async fn rule_queue_on(
        &self,
        bus: &str,
        name: &str,
        pattern: &serde_json::Value,
    ) -> Result<RuleQueue, HarnessError> {
        let rule_name = format!("{name}-{}", self.id);
        let queue_url = self
            .sqs
            .create_queue()
            .queue_name(&rule_name)
            // A message whose handler failed comes back after a second, as a retried
            // asynchronous Lambda invocation would (only much sooner).
            .attributes(
                aws_sdk_sqs::types::QueueAttributeName::VisibilityTimeout,
                "1",
            )
            .send()
            .await
            .map_err(HarnessError::aws("CreateQueue"))?
            .queue_url
            .ok_or_else(|| HarnessError::Setup("CreateQueue returned no URL".into()))?;
        let queue_arn = format!("arn:aws:sqs:{REGION}:{ACCOUNT}:{rule_name}");
        self.eventbridge
            .put_rule()
            .name(&rule_name)
            .event_bus_name(bus)
            .event_pattern(pattern.to_string())
            .send()
            .await
            .map_err(HarnessError::aws("PutRule"))?;
        self.eventbridge
            .put_targets()
            .rule(&rule_name)
            .event_bus_name(bus)
            .targets(
                aws_sdk_eventbridge::types::Target::builder()
                    .id("queue")
                    .arn(queue_arn)
                    .build()
                    .map_err(HarnessError::build)?,
            )
            .send()
            .await
            .map_err(HarnessError::aws("PutTargets"))?;
        Ok(RuleQueue {
            rule_name,
            queue_url,
        })
    }

    /// The Jira Automation SNS topic with an SQS queue subscribed (SNS's own envelope, not raw
    /// delivery, as Lambda sees it), standing in for the handler's subscription. Returns the
    /// topic ARN and the queue URL.
    pub async fn automation_topic(&self) -> Result<(String, String), HarnessError> {
        let sns = aws_sdk_sns::Client::new(&self.sdk);
        let name = format!("jira-automation-{}", self.id);
        let topic_arn = sns
            .create_topic()
            .name(&name)
            .send()
            .await
            .map_err(HarnessError::aws("CreateTopic"))?
            .topic_arn
            .ok_or_else(|| HarnessError::Setup("CreateTopic returned no ARN".into()))?;
        let queue_url = self
            .sqs
            .create_queue()
            .queue_name(&name)
            .attributes(
                aws_sdk_sqs::types::QueueAttributeName::VisibilityTimeout,
                "1",
            )
            .send()
            .await
            .map_err(HarnessError::aws("CreateQueue"))?
            .queue_url
            .ok_or_else(|| HarnessError::Setup("CreateQueue returned no URL".into()))?;
        sns.subscribe()
            .topic_arn(&topic_arn)
            .protocol("sqs")
            .endpoint(format!("arn:aws:sqs:{REGION}:{ACCOUNT}:{name}"))
            .send()
            .await
            .map_err(HarnessError::aws("Subscribe"))?;
        Ok((topic_arn, queue_url))
    }

    /// Receives and deletes messages until `want` have arrived or `wait` has passed; returns
    /// the bodies parsed as JSON (EventBridge envelopes for rule queues).
    pub async fn receive(
        &self,
        queue: &RuleQueue,
        want: usize,
        wait: Duration,
    ) -> Result<Vec<serde_json::Value>, HarnessError> {
        let deadline = Instant::now() + wait;
        let mut bodies = Vec::new();
        while bodies.len() < want && Instant::now() < deadline {
            let out = self
                .sqs
                .receive_message()
                .queue_url(&queue.queue_url)
                .max_number_of_messages(10)
                // No long poll: moto serves one request at a time (see moto_runner.py).
                .wait_time_seconds(0)
                .send()
                .await
                .map_err(HarnessError::aws("ReceiveMessage"))?;
            if out.messages().is_empty() {
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            for message in out.messages() {
                let body = message.body().unwrap_or_default();
                bodies.push(serde_json::from_str(body).map_err(|e| {
                    HarnessError::Setup(format!("queue message is not JSON ({e}): {body}"))
                })?);
                if let Some(handle) = message.receipt_handle() {
                    self.sqs
                        .delete_message()
                        .queue_url(&queue.queue_url)
                        .receipt_handle(handle)
                        .send()
                        .await
                        .map_err(HarnessError::aws("DeleteMessage"))?;
                }
            }
        }
        Ok(bodies)
    }

    /// Writes an SSM parameter of `kind`.
    pub async fn put_parameter(
        &self,
        name: &str,
        value: &str,
        kind: ParameterType,
    ) -> Result<(), HarnessError> {
        self.ssm
            .put_parameter()
            .name(name)
            .value(value)
            .r#type(kind)
            .overwrite(true)
            .send()
            .await
            .map_err(HarnessError::aws("PutParameter"))?;
        Ok(())
    }

    /// The token's expiry date beside it (`YYYY-MM-DD`, `unknown`, `never`), as
    /// `deploy.sh --token-expires` writes it.
    pub async fn put_token_expiry(&self, expires_on: &str) -> Result<(), HarnessError> {
        self.put_parameter(
            &self.parameters.jira_token_expires_on(),
            expires_on,
            ParameterType::String,
        )
        .await
    }

    /// Where the functions send their Jira REST calls (Atlassian's API gateway for a token with
    /// scopes), as deploy.sh writes it beside the token.
    pub async fn put_jira_api_url(&self, api_url: &str) -> Result<(), HarnessError> {
        self.put_parameter(
            &self.parameters.jira_api_url(),
            api_url,
            ParameterType::String,
        )
        .await
    }

    /// The four Jira parameters, the token as a SecureString, as deploy.sh writes them.
    pub async fn put_jira_parameters(
        &self,
        email: &str,
        url: &str,
        project_key: &str,
        token: &str,
    ) -> Result<(), HarnessError> {
        let p = &self.parameters;
        self.put_parameter(&p.jira_email(), email, ParameterType::String)
            .await?;
        self.put_parameter(&p.jira_url(), url, ParameterType::String)
            .await?;
        self.put_parameter(&p.jira_project_key(), project_key, ParameterType::String)
            .await?;
        self.put_parameter(&p.jira_token(), token, ParameterType::SecureString)
            .await
    }
}
