//! The jira-notifications-handler Lambda: wiring only. Reads the configuration and builds the
//! clients once per cold start, then hands every invocation (an SNS event from Jira Automation,
//! a Jira webhook through the function URL, or the sweep's Scheduled Event) to
//! [`jira_notifications_handler::NotificationHandler::handle_invocation`].

use std::sync::Arc;

use jira_notifications_handler::{NotificationHandler, NotificationsConfig};
use lambda_runtime::{LambdaEvent, service_fn};
use serde_json::Value;
use shared::config::SsmJiraSettings;
use shared::jira::{JiraClient, JiraConnection};
use shared::publisher::EventBridgePublisher;
use shared::store::DynamoMappingStore;

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    lambda_runtime::tracing::init_default_subscriber();
    // The Jira HTTPS client (its TLS roots) is built while the settings come from SSM.
    let ((sdk, config), connection) = JiraConnection::build_while(Box::pin(async {
        let sdk = aws_config::load_from_env().await;
        let config = NotificationsConfig::from_env(&aws_sdk_ssm::Client::new(&sdk)).await?;
        Ok::<_, shared::Error>((sdk, config))
    }))
    .await?;
    let handler = NotificationHandler::new(
        Arc::new(
            JiraClient::over(&config.jira, connection)?.with_settings_source(
                Arc::new(SsmJiraSettings::new(
                    aws_sdk_ssm::Client::new(&sdk),
                    config.shared.parameters.clone(),
                    config.jira.flavor,
                )),
                config.shared.config_ttl,
            ),
        ),
        Arc::new(DynamoMappingStore::new(
            aws_sdk_dynamodb::Client::new(&sdk),
            &config.shared.table_name,
        )),
        Arc::new(EventBridgePublisher::new(
            aws_sdk_eventbridge::Client::new(&sdk),
            &config.shared.event_bus_name,
        )),
        config.handler,
    );
    let handler = match config.webhook_secret {
        Some(secret) => handler.with_webhook_secret(secret),
        None => handler,
    };
    let handler = &handler;
    let function = &shared::metrics::function_name("jira-notifications-handler");
    lambda_runtime::run(service_fn(move |event: LambdaEvent<Value>| async move {
        let (outcome, calls) =
            shared::metrics::measure(handler.handle_invocation(event.payload)).await;
        shared::metrics::emit(&shared::metrics::of_outcome(function, &outcome, &calls));
        outcome
    }))
    .await
}
