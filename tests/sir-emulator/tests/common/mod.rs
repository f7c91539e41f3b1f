//! Shared set-up of the emulator's integration tests: a started emulator, `aws-sdk-securityir`
//! clients pointed at it under a chosen access key, a valid CreateCase, and moto.

#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use aws_sdk_securityir::Client;
use aws_sdk_securityir::config::retry::RetryConfig;
use aws_sdk_securityir::config::{BehaviorVersion, Credentials, Region};
use aws_sdk_securityir::operation::create_case::builders::CreateCaseFluentBuilder;
use aws_sdk_securityir::primitives::DateTime;
use aws_sdk_securityir::types::{EngagementType, ResolverType};
use sir_emulator::{SirEmulator, SirEmulatorConfig};

pub const REGION: &str = "us-east-1";
pub const ACCOUNT: &str = "123456789012";

pub async fn emulator() -> SirEmulator {
    SirEmulator::start(SirEmulatorConfig::default())
        .await
        .expect("the emulator starts")
}

fn config(emulator: &SirEmulator, access_key_id: &str) -> aws_sdk_securityir::config::Builder {
    aws_sdk_securityir::Config::builder()
        .behavior_version(BehaviorVersion::latest())
        .region(Region::new(REGION))
        .endpoint_url(emulator.endpoint())
        .credentials_provider(Credentials::new(
            access_key_id,
            "secret",
            None,
            None,
            "test",
        ))
}

/// A client signing as `human`.
pub fn client(emulator: &SirEmulator) -> Client {
    client_as(emulator, "human")
}

/// A client signing with access key `access_key_id`.
pub fn client_as(emulator: &SirEmulator, access_key_id: &str) -> Client {
    Client::from_conf(config(emulator, access_key_id).build())
}

/// A client that does not retry, so each error reaches the test.
pub fn client_without_retries(emulator: &SirEmulator) -> Client {
    Client::from_conf(
        config(emulator, "human")
            .retry_config(RetryConfig::disabled())
            .build(),
    )
}

/// A CreateCase with every required member and empty lists.
pub fn valid_create_case(client: &Client, title: &str) -> CreateCaseFluentBuilder {
    client
        .create_case()
        .title(title)
        .description("Suspicious API calls from an unknown principal.")
        .engagement_type(EngagementType::SecurityIncident)
        .resolver_type(ResolverType::SelfValue)
        .reported_incident_start_date(DateTime::from_secs(1_700_000_000))
        .set_impacted_accounts(Some(Vec::new()))
        .set_watchers(Some(Vec::new()))
}

pub async fn create_case(client: &Client, title: &str) -> String {
    valid_create_case(client, title)
        .send()
        .await
        .expect("CreateCase succeeds")
        .case_id()
        .to_owned()
}

/// The process-wide moto server (see the `moto-harness` crate).
pub fn moto() -> &'static moto_harness::MotoServer {
    moto_harness::MotoServer::shared().expect("moto starts (run tests/bootstrap.sh first)")
}
