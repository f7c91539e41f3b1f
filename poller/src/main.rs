//! The poller Lambda: wiring only (see the library for the logic).

use std::sync::Arc;

use lambda_runtime::{LambdaEvent, service_fn};
use poller::{Backfill, EventBridgeSchedule, Poller, PollerConfig};
use serde_json::Value;
use shared::publisher::EventBridgePublisher;
use shared::sir::{SdkSirClient, sir_client_config};
use shared::store::DynamoMappingStore;

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    lambda_runtime::tracing::init_default_subscriber();
    let mut config = PollerConfig::from_env()?;
    let sdk = aws_config::load_from_env().await;
    config.settings.backfill =
        Backfill::load(&aws_sdk_ssm::Client::new(&sdk), &config.shared.parameters).await?;
    tracing::info!(backfill = ?config.settings.backfill, "backfill rule");
    let poller = Poller {
        sir: Arc::new(SdkSirClient::new(aws_sdk_securityir::Client::from_conf(
            sir_client_config(&sdk).build(),
        ))),
        store: Arc::new(DynamoMappingStore::new(
            aws_sdk_dynamodb::Client::new(&sdk),
            &config.shared.table_name,
        )),
        publisher: Arc::new(EventBridgePublisher::new(
            aws_sdk_eventbridge::Client::new(&sdk),
            &config.shared.event_bus_name,
        )),
        schedule: Arc::new(EventBridgeSchedule::new(
            aws_sdk_eventbridge::Client::new(&sdk),
            &config.schedule_rule_name,
        )),
        settings: config.settings,
    };
    let poller = &poller;
    let function = &shared::metrics::function_name("poller");
    lambda_runtime::run(service_fn(move |event: LambdaEvent<Value>| async move {
        let (outcome, calls) = shared::metrics::measure(poller.handle(&event.payload)).await;
        shared::metrics::emit(&shared::metrics::of_outcome(function, &outcome, &calls));
        outcome
    }))
    .await
}
