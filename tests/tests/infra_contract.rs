//! `cdk/contract.json` — the names and patterns the CDK stack reads — equals the Rust side: the bus
//! name, the three rule patterns, the table's keys and TTL attribute, the SSM prefix and parameter
//! names, and each Lambda's environment variable names. A rename on either side fails here. Also
//! the claim timing: the contract's `claimLeaseSeconds`, `claimRenewSeconds` and
//! `claimWaitSeconds` are the crates' own, and they fit the claiming functions' timeouts
//! (`functions.<key>.timeoutSeconds`, which the stack synthesizes),
//! and jira-notifications-handler's timeout fits its longest wait for a re-read slot.

// Test code: a panic with its message is how a failure is reported.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeSet;
use std::path::PathBuf;

use serde_json::Value;
use shared::config::{
    DEFAULT_PARAMETER_PREFIX, ENV_EVENT_BUS_NAME, ENV_JIRA_AUTH, ENV_JIRA_FLAVOR, ENV_JIRA_SITE,
    ENV_PARAMETER_PREFIX, ENV_TABLE_NAME, ParameterNames,
};
use shared::events::{DEFAULT_EVENT_BUS_NAME, rule_patterns};
use shared::store::{CLAIM_LEASE, CLAIM_RENEW_EVERY, CLAIM_WAIT, ClaimTiming, schema};

fn contract() -> Value {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../cdk/contract.json");
    let text = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{} is not JSON: {e}", path.display()))
}

fn text<'a>(contract: &'a Value, pointer: &str) -> &'a str {
    contract
        .pointer(pointer)
        .and_then(Value::as_str)
        .unwrap_or_else(|| panic!("contract.json has no string at {pointer}"))
}

/// The environment variable names of one function in the contract.
fn env_names(contract: &Value, function: &str) -> BTreeSet<String> {
    contract
        .pointer(&format!("/functions/{function}/env"))
        .and_then(Value::as_object)
        .unwrap_or_else(|| panic!("contract.json has no functions.{function}.env"))
        .values()
        .map(|v| v.as_str().expect("env names are strings").to_owned())
        .collect()
}

fn set(names: &[&str]) -> BTreeSet<String> {
    names.iter().map(|n| (*n).to_owned()).collect()
}

#[test]
fn event_bus_name() {
    assert_eq!(text(&contract(), "/eventBus/name"), DEFAULT_EVENT_BUS_NAME);
}

#[test]
fn rule_patterns_are_the_rust_ones() {
    let contract = contract();
    assert_eq!(
        contract["rules"]["jiraClient"],
        rule_patterns::jira_client()
    );
    assert_eq!(contract["rules"]["sirClient"], rule_patterns::sir_client());
    assert_eq!(contract["rules"]["nativeSir"], rule_patterns::native_sir());
}

#[test]
fn table_keys_and_ttl_attribute() {
    let contract = contract();
    assert_eq!(
        text(&contract, "/table/partitionKey"),
        schema::PARTITION_KEY
    );
    assert_eq!(text(&contract, "/table/sortKey"), schema::SORT_KEY);
    assert_eq!(
        text(&contract, "/table/ttlAttribute"),
        schema::TTL_ATTRIBUTE
    );
}

#[test]
fn ssm_prefix_and_parameter_names() {
    let contract = contract();
    let prefix = text(&contract, "/parameters/defaultPrefix");
    assert_eq!(prefix, DEFAULT_PARAMETER_PREFIX);
    let names = ParameterNames::with_prefix(prefix);
    let leaf = |key: &str| {
        format!(
            "{prefix}/{}",
            text(&contract, &format!("/parameters/{key}"))
        )
    };
    assert_eq!(leaf("jiraEmail"), names.jira_email());
    assert_eq!(leaf("jiraUrl"), names.jira_url());
    assert_eq!(leaf("jiraProjectKey"), names.jira_project_key());
    assert_eq!(leaf("jiraToken"), names.jira_token());
    assert_eq!(leaf("jiraTokenExpiresOn"), names.jira_token_expires_on());
    assert_eq!(leaf("jiraApiUrl"), names.jira_api_url());
    assert_eq!(leaf("jiraWebhookSecret"), names.jira_webhook_secret());
    assert_eq!(leaf("statusMapping"), names.status_mapping());
    assert_eq!(leaf("jiraCaseFilter"), names.jira_case_filter());
    assert_eq!(leaf("installedAt"), names.installed_at());
    assert_eq!(leaf("backfill"), names.backfill());
    // What a first installation stores is a rule the poller reads: open cases, from any date.
    let default = text(&contract, "/parameters/backfillDefault");
    let rule =
        poller::Backfill::from_values(Some(default), Some("2026-12-01T09:30:00Z"), &names).unwrap();
    assert_eq!(
        rule,
        poller::Backfill::new(Some("2026-12-01T09:30:00Z"), None, false, &names).unwrap()
    );
    assert_eq!(
        text(&contract, "/parameters/caseFilterDefault"),
        shared::config::CASE_FILTER_DEFAULT
    );
}

#[test]
fn jira_site_environment_names() {
    let contract = contract();
    assert_eq!(text(&contract, "/jiraSiteEnv/flavor"), ENV_JIRA_FLAVOR);
    assert_eq!(text(&contract, "/jiraSiteEnv/auth"), ENV_JIRA_AUTH);
    assert_eq!(text(&contract, "/jiraSiteEnv/site"), ENV_JIRA_SITE);
}

#[test]
fn metric_names_the_dashboard_reads_are_the_ones_the_functions_write() {
    use shared::metrics::{
        CLASS_DIMENSION, FUNCTION_DIMENSION, NAMESPACE, REASON_DIMENSION, REMOTE_DIMENSION, names,
    };
    let contract = contract();
    assert_eq!(text(&contract, "/metrics/namespace"), NAMESPACE);
    assert_eq!(
        text(&contract, "/metrics/functionDimension"),
        FUNCTION_DIMENSION
    );
    assert_eq!(
        text(&contract, "/metrics/reasonDimension"),
        REASON_DIMENSION
    );
    assert_eq!(text(&contract, "/metrics/classDimension"), CLASS_DIMENSION);
    assert_eq!(
        text(&contract, "/metrics/remoteDimension"),
        REMOTE_DIMENSION
    );
    for (key, name) in [
        ("itemsSynced", names::ITEMS_SYNCED),
        ("itemsNotSynced", names::ITEMS_NOT_SYNCED),
        ("changesPublished", names::CHANGES_PUBLISHED),
        ("echoesSkipped", names::ECHOES_SKIPPED),
        ("intakeRejected", names::INTAKE_REJECTED),
        ("intakeThrottled", names::INTAKE_THROTTLED),
        ("reconcilerRepairs", names::RECONCILER_REPAIRS),
        ("remoteRetries", names::REMOTE_RETRIES),
        ("remoteThrottles", names::REMOTE_THROTTLES),
        ("openCases", names::OPEN_CASES),
        ("successfulRuns", names::SUCCESSFUL_RUNS),
        ("syncLagSeconds", names::SYNC_LAG_SECONDS),
        ("configRejected", names::CONFIG_REJECTED),
        ("jiraTokenDaysLeft", names::JIRA_TOKEN_DAYS_LEFT),
    ] {
        assert_eq!(text(&contract, &format!("/metrics/names/{key}")), name);
    }
    let listed = contract
        .pointer("/metrics/names")
        .and_then(Value::as_object)
        .map(serde_json::Map::len);
    assert_eq!(
        listed,
        Some(14),
        "every name in the contract is checked above"
    );
}

#[test]
fn the_token_scopes_deploy_sh_names_are_the_ones_the_client_needs() {
    let contract = contract();
    let listed: Vec<&str> = contract
        .pointer("/jiraTokenScopes")
        .and_then(Value::as_array)
        .map(|scopes| scopes.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default();
    assert_eq!(listed, shared::jira::scopes::CLASSIC_SCOPES);
}

#[test]
fn the_sync_problem_label_deploy_sh_lists_is_the_one_the_functions_set() {
    assert_eq!(
        text(&contract(), "/syncProblemLabel"),
        shared::sync_status::PROBLEM_LABEL
    );
}

#[test]
fn shared_environment_names() {
    let contract = contract();
    assert_eq!(text(&contract, "/sharedEnv/tableName"), ENV_TABLE_NAME);
    assert_eq!(
        text(&contract, "/sharedEnv/eventBusName"),
        ENV_EVENT_BUS_NAME
    );
    assert_eq!(
        text(&contract, "/sharedEnv/parameterPrefix"),
        ENV_PARAMETER_PREFIX
    );
}

#[test]
fn poller_environment_names() {
    let contract = contract();
    assert_eq!(
        env_names(&contract, "poller"),
        set(&[
            poller::ENV_SCHEDULE_RULE_NAME,
            poller::ENV_INTEGRATION_PRINCIPALS,
            poller::ENV_COMMENT_SWEEP_MINUTES,
            poller::ENV_REDELIVERY_WINDOW_MINUTES,
            poller::ENV_AUDIT_INTERVAL_MINUTES,
            poller::ENV_MAX_AUDITS_PER_PASS,
        ])
    );
    assert_eq!(
        text(&contract, "/functions/poller/env/scheduleRuleName"),
        poller::ENV_SCHEDULE_RULE_NAME
    );
    assert_eq!(
        text(&contract, "/functions/poller/env/integrationPrincipals"),
        poller::ENV_INTEGRATION_PRINCIPALS
    );
    assert_eq!(
        text(&contract, "/functions/poller/env/commentSweepMinutes"),
        poller::ENV_COMMENT_SWEEP_MINUTES
    );
    assert_eq!(
        text(&contract, "/functions/poller/env/redeliveryWindowMinutes"),
        poller::ENV_REDELIVERY_WINDOW_MINUTES
    );
    assert_eq!(
        text(&contract, "/functions/poller/env/auditIntervalMinutes"),
        poller::ENV_AUDIT_INTERVAL_MINUTES
    );
    assert_eq!(
        text(&contract, "/functions/poller/env/maxAuditsPerPass"),
        poller::ENV_MAX_AUDITS_PER_PASS
    );
}

#[test]
fn jira_client_environment_names() {
    let contract = contract();
    assert_eq!(
        env_names(&contract, "jiraClient"),
        set(&[
            jira_client::ENV_ISSUE_TYPE,
            jira_client::ENV_INTEGRATION_PRINCIPALS
        ])
    );
    assert_eq!(
        text(&contract, "/functions/jiraClient/env/issueType"),
        jira_client::ENV_ISSUE_TYPE
    );
    assert_eq!(
        text(&contract, "/functions/jiraClient/env/integrationPrincipals"),
        jira_client::ENV_INTEGRATION_PRINCIPALS
    );
}

#[test]
fn jira_notifications_handler_environment_names() {
    let contract = contract();
    assert_eq!(
        env_names(&contract, "jiraNotificationsHandler"),
        set(&[
            jira_notifications_handler::ENV_AUDIT_PER_RUN,
            jira_notifications_handler::ENV_AUDIT_INTERVAL_MINUTES,
        ])
    );
    assert_eq!(
        text(
            &contract,
            "/functions/jiraNotificationsHandler/env/auditPerRun"
        ),
        jira_notifications_handler::ENV_AUDIT_PER_RUN
    );
    assert_eq!(
        text(
            &contract,
            "/functions/jiraNotificationsHandler/env/auditIntervalMinutes"
        ),
        jira_notifications_handler::ENV_AUDIT_INTERVAL_MINUTES
    );
}

#[test]
fn both_audits_read_one_audit_interval_setting() {
    let contract = contract();
    assert_eq!(
        text(
            &contract,
            "/functions/jiraNotificationsHandler/env/auditIntervalMinutes"
        ),
        text(&contract, "/functions/poller/env/auditIntervalMinutes"),
        "the stack's one auditIntervalMinutes sets both functions' variable"
    );
    assert_eq!(
        jira_notifications_handler::ENV_AUDIT_INTERVAL_MINUTES,
        poller::ENV_AUDIT_INTERVAL_MINUTES
    );
}

#[test]
fn sir_client_environment_names() {
    let contract = contract();
    assert_eq!(
        env_names(&contract, "sirClient"),
        set(&[
            sir_client::ENV_RESOLVER_TYPE,
            sir_client::ENV_ENGAGEMENT_TYPE,
            sir_client::ENV_IMPACTED_ACCOUNTS,
        ])
    );
    assert_eq!(
        text(&contract, "/functions/sirClient/env/resolverType"),
        sir_client::ENV_RESOLVER_TYPE
    );
    assert_eq!(
        text(&contract, "/functions/sirClient/env/engagementType"),
        sir_client::ENV_ENGAGEMENT_TYPE
    );
    assert_eq!(
        text(&contract, "/functions/sirClient/env/impactedAccounts"),
        sir_client::ENV_IMPACTED_ACCOUNTS
    );
}

#[test]
fn deploy_time_choices_and_defaults() {
    let contract = contract();
    let strings = |pointer: &str| -> Vec<String> {
        contract
            .pointer(pointer)
            .and_then(Value::as_array)
            .unwrap_or_else(|| panic!("contract.json has no list at {pointer}"))
            .iter()
            .map(|v| v.as_str().expect("strings").to_owned())
            .collect()
    };
    // The stack offers these as the parameters' allowed values, the first as the default.
    assert_eq!(
        strings("/functions/sirClient/resolverTypes"),
        sir_client::RESOLVER_TYPES
    );
    assert_eq!(
        strings("/functions/sirClient/engagementTypes"),
        sir_client::ENGAGEMENT_TYPES
    );
    assert_eq!(
        text(&contract, "/functions/jiraClient/defaultIssueType"),
        jira_client::DEFAULT_ISSUE_TYPE
    );
}

#[test]
fn every_function_names_its_crate() {
    let contract = contract();
    let crates: BTreeSet<&str> = [
        "poller",
        "jiraClient",
        "jiraNotificationsHandler",
        "sirClient",
    ]
    .iter()
    .map(|f| text(&contract, &format!("/functions/{f}/crate")))
    .collect();
    assert_eq!(
        crates,
        [
            "poller",
            "jira-client",
            "jira-notifications-handler",
            "sir-client"
        ]
        .into_iter()
        .collect()
    );
}

fn seconds(contract: &Value, pointer: &str) -> u64 {
    contract
        .pointer(pointer)
        .and_then(Value::as_u64)
        .unwrap_or_else(|| panic!("contract.json has no whole number at {pointer}"))
}

#[test]
fn claim_timing_is_the_one_both_claiming_crates_use() {
    let contract = contract();
    assert_eq!(
        seconds(&contract, "/claimLeaseSeconds"),
        CLAIM_LEASE.as_secs()
    );
    assert_eq!(
        seconds(&contract, "/claimRenewSeconds"),
        CLAIM_RENEW_EVERY.as_secs()
    );
    assert_eq!(
        seconds(&contract, "/claimWaitSeconds"),
        CLAIM_WAIT.as_secs()
    );
    assert_eq!(
        jira_client::JiraClientSettings::new("SEC", "https://example.atlassian.net", "eu-west-1")
            .claims,
        ClaimTiming::default()
    );
    assert_eq!(
        sir_client::SirClientSettings::new("SEC", "https://example.atlassian.net", "eu-west-1")
            .claims,
        ClaimTiming::default()
    );
}

/// A claim is a short lease its holder renews while it works (so a holder that dies frees it
/// within a lease), and a delivery that finds it held waits for it.
#[test]
fn claim_timing_survives_failed_renewals_outwaits_a_dead_holder_and_leaves_time_to_work() {
    let contract = contract();
    let lease = seconds(&contract, "/claimLeaseSeconds");
    let renew = seconds(&contract, "/claimRenewSeconds");
    let wait = seconds(&contract, "/claimWaitSeconds");
    assert!(
        3 * renew <= lease,
        "two failed renewals in a row (every {renew} s) would lose a live holder's claim (lease {lease} s)"
    );
    assert!(
        lease < wait,
        "a delivery waiting {wait} s could give up on a dead holder's claim (lease {lease} s), and \
         Lambda's retries with it: the event would go to the dead-letter queue"
    );
    for function in ["jiraClient", "sirClient"] {
        let timeout = seconds(&contract, &format!("/functions/{function}/timeoutSeconds"));
        assert!(
            2 * wait <= timeout,
            "a {function} delivery that waited {wait} s for a claim would have less than half its \
             {timeout} s left for its work"
        );
    }
}

#[test]
fn presigned_transfers_give_up_well_inside_the_transferring_functions_timeouts() {
    use shared::sir::{TRANSFER_CONNECT_TIMEOUT, TRANSFER_READ_TIMEOUT};
    let contract = contract();
    // A transfer that cannot connect, or stalls, fails the event (retryably) before Lambda ends
    // the invocation: the slowest failure is a connect just in time, then a full idle wait.
    let slowest_failure = (TRANSFER_CONNECT_TIMEOUT + TRANSFER_READ_TIMEOUT).as_secs();
    for function in ["jiraClient", "sirClient"] {
        let timeout = seconds(&contract, &format!("/functions/{function}/timeoutSeconds"));
        assert!(
            slowest_failure * 2 <= timeout,
            "{function} (timeout {timeout} s) could be ended by Lambda before a stalled transfer \
             fails ({slowest_failure} s)"
        );
    }
}

#[test]
fn every_function_has_a_timeout() {
    let contract = contract();
    for function in [
        "poller",
        "jiraClient",
        "jiraNotificationsHandler",
        "sirClient",
    ] {
        let timeout = seconds(&contract, &format!("/functions/{function}/timeoutSeconds"));
        // Lambda's limits: 1 s to 15 min.
        assert!((1..=900).contains(&timeout), "{function}: {timeout} s");
    }
}

#[test]
fn the_notifications_handler_outlives_its_longest_wait_for_a_reread_slot() {
    let timeout = seconds(
        &contract(),
        "/functions/jiraNotificationsHandler/timeoutSeconds",
    );
    let coalescing = jira_notifications_handler::Coalescing::default();
    // A message may wait for MAX_WAITS windows to close (each up to a window plus the rounding
    // of its end to whole seconds), then re-read the issue: leave half a minute for that.
    let longest_wait = (coalescing.window + std::time::Duration::from_secs(1))
        * jira_notifications_handler::coalesce::MAX_WAITS;
    assert!(
        longest_wait.as_secs() + 30 <= timeout,
        "waiting up to {longest_wait:?} for a slot does not fit a {timeout} s timeout"
    );
}
