//! The jira-client Lambda: wiring only. Reads the configuration and builds the clients once per
//! cold start, then hands every EventBridge event to [`jira_client::JiraClientHandler::handle`].

use std::sync::Arc;

use aws_lambda_events::eventbridge::EventBridgeEvent;
use jira_client::{JiraClientConfig, JiraClientHandler};
use lambda_runtime::{LambdaEvent, service_fn};
use serde_json::Value;
use shared::config::SsmJiraSettings;
use shared::jira::{JiraClient, JiraConnection};
use shared::live_mapping::MappingSource;
use shared::sir::{SdkSirClient, sir_client_config};
use shared::store::DynamoMappingStore;

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    lambda_runtime::tracing::init_default_subscriber();
    // The Jira HTTPS client (its TLS roots) is built while the settings come from SSM.
    let ((sdk, config), connection) = JiraConnection::build_while(Box::pin(async {
        let sdk = aws_config::load_from_env().await;
        let config = JiraClientConfig::from_env(&aws_sdk_ssm::Client::new(&sdk)).await?;
        Ok::<_, jira_client::JiraClientError>((sdk, config))
    }))
    .await?;
    // The token and site are read again after the TTL, and at once on a 401 (a rotated token).
    let jira = JiraClient::over(&config.jira, connection)?.with_settings_source(
        Arc::new(SsmJiraSettings::new(
            aws_sdk_ssm::Client::new(&sdk),
            config.shared.parameters.clone(),
            config.jira.flavor,
        )),
        config.shared.config_ttl,
    );
    let sir = SdkSirClient::new(aws_sdk_securityir::Client::from_conf(
        sir_client_config(&sdk).build(),
    ));
    let store = DynamoMappingStore::new(
        aws_sdk_dynamodb::Client::new(&sdk),
        &config.shared.table_name,
    );
    // The status and field mapping are read again after the TTL too.
    let handler = JiraClientHandler::new(
        Arc::new(jira),
        Arc::new(sir),
        Arc::new(store),
        config.handler,
    )
    .with_live_mappings(MappingSource::new(
        aws_sdk_ssm::Client::new(&sdk),
        config.shared.parameters.clone(),
        config.shared.config_ttl,
    ));
    let handler = &handler;
    let function = &shared::metrics::function_name("jira-client");
    lambda_runtime::run(service_fn(
        move |event: LambdaEvent<EventBridgeEvent<Value>>| async move {
            let (outcome, calls) = shared::metrics::measure(handler.handle(event.payload)).await;
            shared::metrics::emit(&shared::metrics::of_outcome(function, &outcome, &calls));
            outcome
        },
    ))
    .await
}
