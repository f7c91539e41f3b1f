//! Configuration from SSM against moto: the SecureString token round trip, missing and insecure
//! parameters, the status mapping parameter.

// Test code: a panic with its message is how a failure is reported.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use aws_sdk_ssm::types::ParameterType;
use integration_tests::World;
use secrecy::ExposeSecret;
use shared::Error;
use shared::config::{JiraSettings, TokenExpiry, load_mappings};
use shared::field_mapping::{FieldMapping, FieldMappingError, MappedSirField};
use shared::status::{JiraStatusTarget, SirStatus, StatusError, StatusMapping};

#[tokio::test]
async fn jira_settings_load_with_the_token_decrypted() {
    let world = World::new().await.unwrap();
    world
        .put_jira_parameters(
            "bot@example.com",
            "https://example.atlassian.net/",
            "SEC",
            "ATATT-token-42",
        )
        .await
        .unwrap();
    let settings = JiraSettings::load(&world.ssm, &world.parameters, Default::default())
        .await
        .unwrap();
    assert_eq!(settings.email, "bot@example.com");
    assert_eq!(settings.url, "https://example.atlassian.net");
    assert_eq!(settings.project_key, "SEC");
    assert_eq!(settings.token.expose_secret(), "ATATT-token-42");
    assert!(!format!("{settings:?}").contains("ATATT-token-42"));
}

#[tokio::test]
async fn the_token_expiry_date_is_read_beside_the_token_and_one_that_is_no_date_is_not_known() {
    let world = World::new().await.unwrap();
    world
        .put_jira_parameters(
            "bot@example.com",
            "https://example.atlassian.net",
            "SEC",
            "tok",
        )
        .await
        .unwrap();
    let load = || JiraSettings::load(&world.ssm, &world.parameters, Default::default());
    // Absent (an installation from before deploy.sh stored it): not known, and no error.
    assert_eq!(load().await.unwrap().token_expires_on, None);
    let name = world.parameters.jira_token_expires_on();
    for (stored, expected) in [
        ("2027-03-01", TokenExpiry::parse("2027-03-01")),
        ("unknown", None),
        ("never", None),
    ] {
        world
            .put_parameter(&name, stored, ParameterType::String)
            .await
            .unwrap();
        assert_eq!(load().await.unwrap().token_expires_on, expected, "{stored}");
    }
    // A date that only drives a warning never stops the sync (nor the reading of a new token).
    world
        .put_parameter(&name, "1 March 2027", ParameterType::String)
        .await
        .unwrap();
    let ((), calls) = shared::metrics::measure(async {
        assert_eq!(load().await.unwrap().token_expires_on, None);
    })
    .await;
    let mut metrics = shared::metrics::InvocationMetrics::new("f");
    metrics.record_remote_calls(&calls);
    let documents = metrics.documents(0);
    assert!(
        documents
            .iter()
            .any(|d| d.get(shared::metrics::names::CONFIG_REJECTED).is_some()),
        "counted as a rejected setting: {documents:?}"
    );
}

#[tokio::test]
async fn token_is_stored_as_a_secure_string() {
    let world = World::new().await.unwrap();
    world
        .put_jira_parameters(
            "bot@example.com",
            "https://example.atlassian.net",
            "SEC",
            "tok",
        )
        .await
        .unwrap();
    let without_decryption = world
        .ssm
        .get_parameter()
        .name(world.parameters.jira_token())
        .send()
        .await
        .unwrap();
    let parameter = without_decryption.parameter().unwrap();
    assert_eq!(parameter.r#type(), Some(&ParameterType::SecureString));
    assert_ne!(
        parameter.value(),
        Some("tok"),
        "not readable without decryption"
    );
}

#[tokio::test]
async fn missing_parameter_is_named() {
    let world = World::new().await.unwrap();
    let p = &world.parameters;
    world
        .put_parameter(&p.jira_email(), "bot@example.com", ParameterType::String)
        .await
        .unwrap();
    world
        .put_parameter(
            &p.jira_url(),
            "https://example.atlassian.net",
            ParameterType::String,
        )
        .await
        .unwrap();
    world
        .put_parameter(&p.jira_token(), "tok", ParameterType::SecureString)
        .await
        .unwrap();
    let err = JiraSettings::load(&world.ssm, p, Default::default())
        .await
        .unwrap_err();
    assert!(matches!(err, Error::MissingParameter { .. }), "{err}");
    assert_eq!(
        err.to_string(),
        format!("missing SSM parameter {}", p.jira_project_key())
    );
}

#[tokio::test]
async fn plain_string_token_is_refused() {
    let world = World::new().await.unwrap();
    world
        .put_jira_parameters(
            "bot@example.com",
            "https://example.atlassian.net",
            "SEC",
            "tok",
        )
        .await
        .unwrap();
    world
        .put_parameter(&world.parameters.jira_token(), "tok", ParameterType::String)
        .await
        .unwrap();
    let err = JiraSettings::load(&world.ssm, &world.parameters, Default::default())
        .await
        .unwrap_err();
    assert!(matches!(err, Error::InsecureParameter { .. }), "{err}");
    assert!(err.to_string().contains("must be a SecureString"), "{err}");
}

#[tokio::test]
async fn unusable_values_are_refused_at_load() {
    for (email, url, key) in [
        ("not-an-email", "https://example.atlassian.net", "SEC"),
        ("bot@example.com", "http://example.atlassian.net", "SEC"),
        ("bot@example.com", "https://example.atlassian.net", "sec-1"),
    ] {
        let world = World::new().await.unwrap();
        world
            .put_jira_parameters(email, url, key, "tok")
            .await
            .unwrap();
        let err = JiraSettings::load(&world.ssm, &world.parameters, Default::default())
            .await
            .unwrap_err();
        assert!(
            matches!(err, Error::InvalidConfig { .. }),
            "{email} {url} {key}: {err}"
        );
    }
}

#[tokio::test]
async fn status_mapping_defaults_when_absent_and_reads_overrides() {
    let world = World::new().await.unwrap();
    let p = &world.parameters;
    assert_eq!(
        load_mappings(&world.ssm, p).await.unwrap(),
        (StatusMapping::default(), FieldMapping::default())
    );
    world
        .put_parameter(
            &p.status_mapping(),
            r#"{"jiraToSir": {"Triage": "Detection and Analysis"}}"#,
            ParameterType::String,
        )
        .await
        .unwrap();
    let (mapping, fields) = load_mappings(&world.ssm, p).await.unwrap();
    assert_eq!(
        mapping.sir_target_for("Triage"),
        Some(JiraStatusTarget::Status(SirStatus::DetectionAndAnalysis))
    );
    assert!(fields.is_empty());
    // The field mapping shares the document.
    world
        .put_parameter(
            &p.status_mapping(),
            r#"{"sirToJira": {"Closed": "Done"},
                "fields": {"sirToJira": {"impactedAccounts": "customfield_10050"}}}"#,
            ParameterType::String,
        )
        .await
        .unwrap();
    let (mapping, fields) = load_mappings(&world.ssm, p).await.unwrap();
    assert_eq!(mapping.jira_status_for(SirStatus::Closed), "Done");
    assert_eq!(
        fields.sir_to_jira[&MappedSirField::ImpactedAccounts],
        "customfield_10050"
    );
    world
        .put_parameter(
            &p.status_mapping(),
            r#"{"fields": {"sirToJira": {"impactedAccounts": "description"}}}"#,
            ParameterType::String,
        )
        .await
        .unwrap();
    let err = load_mappings(&world.ssm, p).await.unwrap_err();
    assert!(
        matches!(
            err,
            Error::FieldMapping(FieldMappingError::OwnedField { .. })
        ),
        "{err}"
    );
    world
        .put_parameter(&p.status_mapping(), "{not json", ParameterType::String)
        .await
        .unwrap();
    let err = load_mappings(&world.ssm, p).await.unwrap_err();
    assert!(
        matches!(err, Error::Status(StatusError::InvalidMapping { .. })),
        "{err}"
    );
}
