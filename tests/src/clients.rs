//! Clients and events the tests build the way the Lambdas see them.

use std::time::Duration;

use aws_sdk_securityir::config::retry::RetryConfig;
use aws_sdk_securityir::config::{Credentials, SharedCredentialsProvider};
use serde_json::{Value, json};
use shared::sir::sir_client_config;

use crate::in_process::InProcessNet;

/// An `aws-sdk-securityir` client for the SIR emulator at `endpoint`, signing as `access_key`,
/// configured as the Lambdas configure theirs (`sir_client_config`) but with short backoffs so
/// tests run fast.
pub fn sir_client(endpoint: &str, access_key: &str) -> aws_sdk_securityir::Client {
    sir_client_with(endpoint, access_key, None)
}

/// [`sir_client`] whose requests `net` answers in process (no socket).
pub fn sir_client_in_process(
    net: &InProcessNet,
    endpoint: &str,
    access_key: &str,
) -> aws_sdk_securityir::Client {
    sir_client_with(endpoint, access_key, Some(net))
}

fn sir_client_with(
    endpoint: &str,
    access_key: &str,
    net: Option<&InProcessNet>,
) -> aws_sdk_securityir::Client {
    let mut sdk = aws_config::SdkConfig::builder()
        .behavior_version(aws_config::BehaviorVersion::latest())
        .region(aws_config::Region::new(crate::world::REGION))
        .endpoint_url(endpoint)
        .credentials_provider(SharedCredentialsProvider::new(Credentials::new(
            access_key, "secret", None, None, "test",
        )))
        .retry_config(
            RetryConfig::standard()
                .with_max_attempts(3)
                .with_initial_backoff(Duration::from_millis(10)),
        );
    if let Some(net) = net {
        sdk = sdk.http_client(net.clone());
    }
    aws_sdk_securityir::Client::from_conf(sir_client_config(&sdk.build()).build())
}

/// The envelope the poller's schedule rule delivers.
pub fn schedule_tick() -> Value {
    json!({"version": "0", "id": "tick", "detail-type": "Scheduled Event", "source": "aws.events",
           "account": crate::world::ACCOUNT, "time": "2026-11-21T10:00:00Z",
           "region": crate::world::REGION, "resources": [], "detail": {}})
}
