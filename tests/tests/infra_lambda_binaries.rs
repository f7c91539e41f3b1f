//! The real Lambda binaries, not only the library handlers: each crate's `main.rs` runs as its own
//! process under cargo-lambda's local Lambda runtime (`cargo lambda watch --only-lambda-apis`),
//! is invoked with `cargo lambda invoke --data-file` and a sample event from `tests/events/`, and
//! acts on the local world (moto, the SIR and Jira emulators). What this proves beyond the
//! in-process pipeline: the environment names of `cdk/contract.json` are the ones `main.rs`
//! reads, the configuration comes from SSM (the token a SecureString), the SDK clients reach
//! their services through `AWS_ENDPOINT_URL` and the service-specific
//! `AWS_ENDPOINT_URL_SECURITY_IR`, the runtime loop answers invocations and logs in
//! `AWS_LAMBDA_LOG_FORMAT=JSON`, and a missing variable stops a cold start naming it.
//!
//! Each function is started as Lambda starts it: only the variables the stack gives it (names
//! read from `cdk/contract.json`) plus the ones Lambda sets, with its own access key (the SIR
//! emulator records it as the caller), and nothing of the test's own environment.
//!
//! The binaries come from `cargo build --workspace --bins --tests`, which resolves features as
//! `cargo test --workspace` does and so reuses that build's dependencies (run-tests.sh runs it
//! before the tests, leaving nothing to do here). Letting `cargo lambda watch` build them would run
//! `cargo run --bin <name>`, whose per-package feature resolution (no server features in hyper,
//! fewer in serde, time, regex) compiles the whole AWS SDK a second time.
//!
//! Skipped, with a message, only when `.venv/bin/cargo-lambda` is missing and
//! `SIR_JIRA_REQUIRE_CARGO_LAMBDA` is unset; run-tests.sh sets it (`tests/bootstrap.sh` installs
//! cargo-lambda).

#![allow(
    clippy::disallowed_methods,
    reason = "runs in real time against moto and the emulators over sockets"
)]
// Test code: a panic with its message is how a failure is reported.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use integration_tests::World;
use integration_tests::iam::Function as Role;
use integration_tests::lambda_host::{
    FUNCTIONS, contract_env, lambda_env, repo_root as root, sample_path,
};
use jira_emulator::{JiraEmulator, JiraEmulatorConfig, NewIssue, User};
use serde_json::{Value, json};
use shared::config::ENV_TABLE_NAME;
use shared::events::{CaseChange, IssueChange, rule_patterns};
use sir_emulator::{NewCase, SirEmulator, SirEmulatorConfig};
use tokio::process::{Child, Command};

/// Set (to anything) to make a missing cargo-lambda a failure instead of a skip.
const REQUIRE_CARGO_LAMBDA: &str = "SIR_JIRA_REQUIRE_CARGO_LAMBDA";
const JIRA_EMAIL: &str = "integration@example.com";
const JIRA_TOKEN: &str = "integration-token";
const PROJECT_KEY: &str = "SEC";
/// The Jira user who files SEC-1 (its accountId is the watcher in the IssueCreated sample).
const ALICE_ACCOUNT_ID: &str = "5b10ac8d82e05b22cc7d4ef5";
/// Who creates the SIR case the SIR → Jira half starts from.
const RESPONDER_KEY: &str = "responder";
const INVOKE_TIMEOUT: Duration = Duration::from_secs(120);
/// Writes past the test harness's output capture, so a skip is seen in a normal `cargo test`.
fn sample(name: &str) -> Value {
    integration_tests::lambda_host::sample(name).unwrap()
}

fn sample_for_case(name: &str, case_id: &str) -> Value {
    integration_tests::lambda_host::sample_for_case(name, case_id).unwrap()
}

fn contract() -> Value {
    integration_tests::lambda_host::contract().unwrap()
}

fn say(message: &str) {
    let mut err = std::io::stderr().lock();
    // Nothing to do if stderr is gone.
    let _ = writeln!(err, "{message}");
}

/// `.venv/bin/cargo-lambda`, or `None` (after saying so) when the test is to be skipped.
fn cargo_lambda() -> Option<PathBuf> {
    let path = root().join(".venv/bin/cargo-lambda");
    if path.is_file() {
        return Some(path);
    }
    assert!(
        std::env::var_os(REQUIRE_CARGO_LAMBDA).is_none(),
        "{} is missing and {REQUIRE_CARGO_LAMBDA} is set: run tests/bootstrap.sh",
        path.display()
    );
    say(&format!(
        "SKIPPED lambda_binaries: {} is missing (run tests/bootstrap.sh; \
         {REQUIRE_CARGO_LAMBDA}=1 makes this a failure)",
        path.display()
    ));
    None
}

/// Builds the four Lambda binaries as `cargo test --workspace` resolves features (a no-op after
/// run-tests.sh's own build step) and returns the directory holding them.
async fn build_lambda_binaries() -> PathBuf {
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let started = Instant::now();
    let status = Command::new(cargo)
        .args([
            "build",
            "--workspace",
            "--bins",
            "--tests",
            "--locked",
            "--quiet",
        ])
        .current_dir(root())
        .stdin(Stdio::null())
        .kill_on_drop(true)
        .status()
        .await
        .expect("running cargo build");
    assert!(
        status.success(),
        "cargo build --workspace --bins --tests: {status}"
    );
    let took = started.elapsed();
    if took > Duration::from_secs(10) {
        say(&format!(
            "lambda_binaries: building the Lambda binaries took {:.0}s (run-tests.sh builds them \
             before the tests)",
            took.as_secs_f64()
        ));
    }
    // This test runs as <target>/<profile>/deps/lambda_binaries-<hash>; the binaries are in
    // <target>/<profile>.
    let exe = std::env::current_exe().unwrap();
    exe.parent()
        .and_then(Path::parent)
        .expect("the test binary is in <profile>/deps")
        .to_path_buf()
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free loopback port")
        .port()
}

/// The tail of a log file, for failure messages.
fn tail(path: &Path) -> String {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let lines: Vec<&str> = text.lines().collect();
    let from = lines.len().saturating_sub(40);
    format!("--- {} ---\n{}", path.display(), lines[from..].join("\n"))
}

/// Standard output and error of a child, both to one file.
fn log_file(path: &Path) -> (Stdio, Stdio) {
    let file = std::fs::File::create(path).unwrap();
    let copy = file.try_clone().unwrap();
    (Stdio::from(file), Stdio::from(copy))
}

/// `cargo lambda watch --only-lambda-apis`: the Lambda Runtime API and the invoke endpoint,
/// without cargo-lambda starting (or building) any function.
struct LambdaEmulator {
    cargo_lambda: PathBuf,
    port: u16,
    log: PathBuf,
    _child: Child,
}

impl LambdaEmulator {
    async fn start(cargo_lambda: &Path, scratch: &Path) -> LambdaEmulator {
        let port = free_port();
        let log = scratch.join("cargo-lambda-watch.log");
        let (stdout, stderr) = log_file(&log);
        let child = Command::new(cargo_lambda)
            .args(["lambda", "watch", "--only-lambda-apis", "--invoke-address"])
            .arg("127.0.0.1")
            .arg("--invoke-port")
            .arg(port.to_string())
            .current_dir(root())
            .stdin(Stdio::null())
            .stdout(stdout)
            .stderr(stderr)
            // Same process group as the test: a Ctrl-C stops it too. It starts no children
            // (`--only-lambda-apis`), so killing it on drop leaves nothing behind.
            .kill_on_drop(true)
            .spawn()
            .expect("starting cargo lambda watch");
        let deadline = Instant::now() + Duration::from_secs(60);
        while tokio::net::TcpStream::connect(("127.0.0.1", port))
            .await
            .is_err()
        {
            assert!(
                Instant::now() < deadline,
                "cargo lambda watch did not listen on {port}\n{}",
                tail(&log)
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        LambdaEmulator {
            cargo_lambda: cargo_lambda.to_path_buf(),
            port,
            log,
            _child: child,
        }
    }

    /// `AWS_LAMBDA_RUNTIME_API` of one function (cargo-lambda routes by the path's name).
    fn runtime_api(&self, function: &str) -> String {
        format!("http://127.0.0.1:{}/.rt/{function}", self.port)
    }

    fn invoke_command(&self, function: &str, payload: &Path) -> Command {
        let mut command = Command::new(&self.cargo_lambda);
        command
            .args([
                "lambda",
                "invoke",
                function,
                "--invoke-address",
                "127.0.0.1",
            ])
            .arg("--invoke-port")
            .arg(self.port.to_string())
            .arg("--data-file")
            .arg(payload)
            .args(["--output-format", "json"])
            .current_dir(root())
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true);
        command
    }

    /// The function's response, or the invoke error cargo-lambda printed.
    async fn invoke(&self, function: &Function, payload: &Path) -> Result<Value, String> {
        let output = tokio::time::timeout(
            INVOKE_TIMEOUT,
            self.invoke_command(&function.name, payload).output(),
        )
        .await
        .unwrap_or_else(|_| panic!("invoking {} timed out\n{}", function.name, function.tail()))
        .expect("running cargo lambda invoke");
        if output.status.success() {
            let stdout = String::from_utf8_lossy(&output.stdout);
            Ok(serde_json::from_str(&stdout).unwrap_or_else(|e| {
                panic!(
                    "{} answered something not JSON ({e}): {stdout}",
                    function.name
                )
            }))
        } else {
            Err(String::from_utf8_lossy(&output.stderr).into_owned())
        }
    }

    /// Invokes and insists on a response (the error and the function's log otherwise).
    async fn invoke_ok(&self, function: &Function, payload: &Path) -> Value {
        match self.invoke(function, payload).await {
            Ok(response) => response,
            Err(error) => panic!(
                "{} failed: {error}\n{}\n{}",
                function.name,
                function.tail(),
                tail(&self.log)
            ),
        }
    }
}

/// One Lambda binary running against the emulator's Runtime API.
struct Function {
    name: String,
    log: PathBuf,
    child: Child,
}

impl Function {
    /// Starts `<bin_dir>/<binary>` with `env` and nothing else.
    fn start(
        bin_dir: &Path,
        binary: &str,
        name: &str,
        env: &BTreeMap<String, String>,
        emulator: &LambdaEmulator,
        scratch: &Path,
    ) -> Function {
        let log = scratch.join(format!("{name}.log"));
        let (stdout, stderr) = log_file(&log);
        let child = Command::new(bin_dir.join(binary))
            .env_clear()
            .envs(env)
            .env("AWS_LAMBDA_FUNCTION_NAME", name)
            .env("AWS_LAMBDA_RUNTIME_API", emulator.runtime_api(name))
            .current_dir(scratch)
            .stdin(Stdio::null())
            .stdout(stdout)
            .stderr(stderr)
            .kill_on_drop(true)
            .spawn()
            .unwrap_or_else(|e| panic!("starting {}: {e}", bin_dir.join(binary).display()));
        Function {
            name: name.to_owned(),
            log,
            child,
        }
    }

    fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    fn tail(&self) -> String {
        tail(&self.log)
    }

    /// Every line the function wrote is a JSON log record (`AWS_LAMBDA_LOG_FORMAT=JSON`).
    fn assert_json_logs(&self) {
        let log = self.log();
        let lines: Vec<&str> = log.lines().filter(|l| !l.trim().is_empty()).collect();
        assert!(!lines.is_empty(), "{} logged nothing", self.name);
        for line in lines {
            let record: Value = serde_json::from_str(line)
                .unwrap_or_else(|e| panic!("{}: a log line is not JSON ({e}): {line}", self.name));
            assert!(record.get("level").is_some(), "{}: {line}", self.name);
        }
    }
}

/// A published event's detail without its `deliveryId`, which differs on every publish: the id
/// the pending-delivery ledger recorded it under (checked to be there), the rest as the samples.
fn recorded_detail(event: &Value) -> Value {
    let mut detail = event["detail"].clone();
    let id = detail
        .as_object_mut()
        .and_then(|d| d.remove("deliveryId"))
        .unwrap_or_else(|| panic!("a published event carries its deliveryId: {event:#}"));
    assert!(
        id.as_str().is_some_and(|id| !id.is_empty()),
        "deliveryId is a non-empty string: {id}"
    );
    // A change carries its source time, except one that measures no lag (an issue seen for the
    // first time that was not created since the installation, an audit).
    if let Some(changed_at) = detail.as_object_mut().and_then(|d| d.remove("changedAt")) {
        assert!(
            changed_at
                .as_str()
                .and_then(shared::events::rfc3339_to_epoch_ms)
                .is_some(),
            "changedAt is an RFC 3339 time: {changed_at}"
        );
    } else {
        assert_eq!(
            event["detail-type"], "IssueCreated",
            "only a first-seen issue may come without changedAt: {event:#}"
        );
    }
    detail
}

/// A sample's detail without its `changedAt` (a time), to compare with [`recorded_detail`].
fn sample_detail(sample: &Value) -> Value {
    let mut detail = sample["detail"].clone();
    let changed_at = detail.as_object_mut().and_then(|d| d.remove("changedAt"));
    assert!(
        changed_at.is_some(),
        "the sample shows changedAt: {sample:#}"
    );
    detail
}

/// A sample event with its case id replaced, written where `cargo lambda invoke` can read it.
fn payload_for_case(scratch: &Path, name: &str, case_id: &str) -> PathBuf {
    let path = scratch.join(name);
    std::fs::write(&path, sample_for_case(name, case_id).to_string()).unwrap();
    path
}

#[test]
fn sample_details_are_what_the_bus_types_serialize() {
    for (name, detail_type) in [
        ("jira-client-case-created.json", "CaseCreated"),
        ("sir-client-issue-created.json", "IssueCreated"),
    ] {
        let event = sample(name);
        assert_eq!(event["detail-type"], detail_type, "{name}");
        let detail = event["detail"].clone();
        let (reserialized, fingerprint_ok) = if detail_type == "CaseCreated" {
            let change: CaseChange = serde_json::from_value(detail.clone()).unwrap();
            let mut fresh = CaseChange::new(None, change.case.clone());
            fresh.changed_at.clone_from(&change.changed_at);
            (serde_json::to_value(&fresh).unwrap(), change == fresh)
        } else {
            let change: IssueChange = serde_json::from_value(detail.clone()).unwrap();
            let mut fresh = IssueChange::new(None, change.issue.clone());
            fresh.changed_at.clone_from(&change.changed_at);
            (serde_json::to_value(&fresh).unwrap(), change == fresh)
        };
        assert!(
            fingerprint_ok && reserialized == detail,
            "{name}'s detail is not what the types make of it; it should be:\n{}",
            serde_json::to_string_pretty(&reserialized).unwrap()
        );
    }
    for name in [
        "poller-schedule.json",
        "poller-native-case-updated.json",
        "jira-notifications-sweep.json",
        "jira-notifications-sns.json",
    ] {
        let event = sample(name);
        if name.starts_with("poller") || name == "jira-notifications-sweep.json" {
            let envelope: aws_lambda_events::eventbridge::EventBridgeEvent<Value> =
                serde_json::from_value(event).unwrap();
            assert!(envelope.source.starts_with("aws."), "{name}");
        } else {
            let sns: aws_lambda_events::sns::SnsEvent = serde_json::from_value(event).unwrap();
            assert_eq!(
                sns.records[0].sns.message,
                r#"{"automationData":{"IssueId":"SEC-1"}}"#
            );
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_four_lambda_binaries_run_under_cargo_lambda_against_the_local_world() {
    let Some(cargo_lambda) = cargo_lambda() else {
        return;
    };
    let mut functions: Vec<&str> = FUNCTIONS.iter().map(|(key, _)| *key).collect();
    functions.sort_unstable();
    let contract = contract();
    let mut in_contract: Vec<&str> = contract["functions"]
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    in_contract.sort_unstable();
    assert_eq!(
        functions, in_contract,
        "every function of cdk/contract.json runs here"
    );
    let bin_dir = build_lambda_binaries().await;

    // The local world: moto (table, bus, rules to queues, SSM), the SIR and Jira emulators.
    let world = World::new().await.unwrap();
    let scratch =
        PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(format!("lambda-binaries-{}", world.id));
    std::fs::create_dir_all(&scratch).unwrap();
    let sir = SirEmulator::start(SirEmulatorConfig {
        authorizer: Some(world.iam.authorize_url()),
        ..SirEmulatorConfig::default()
    })
    .await
    .unwrap();
    // Each binary signs with its own key and may do only what its role in the synthesized
    // template allows (moto and the SIR emulator refuse the rest, as IAM would).
    for role in Role::ALL {
        world.function_sdk(role).await.unwrap();
    }
    let key_of = |function_key: &str| {
        world.access_key(Role::from_contract_key(function_key).expect("a contract function"))
    };
    let jira = JiraEmulator::start(JiraEmulatorConfig {
        email: JIRA_EMAIL.into(),
        token: JIRA_TOKEN.into(),
        project_key: PROJECT_KEY.into(),
        ..JiraEmulatorConfig::default()
    })
    .await
    .unwrap();
    world
        .put_jira_parameters(JIRA_EMAIL, &jira.base_url(), PROJECT_KEY, JIRA_TOKEN)
        .await
        .unwrap();
    let to_jira = world
        .rule_queue("to-jira", &rule_patterns::jira_client())
        .await
        .unwrap();
    let to_sir = world
        .rule_queue("to-sir", &rule_patterns::sir_client())
        .await
        .unwrap();
    let schedule_rule = world.poller_schedule_rule().await.unwrap();

    // Values for every name the contract gives a function (non-default ones where the effect
    // shows, so the variable is seen to be read).
    let values: BTreeMap<&str, String> = [
        ("tableName", world.table_name.clone()),
        ("eventBusName", world.bus_name.clone()),
        ("parameterPrefix", world.parameters.prefix().to_owned()),
        ("scheduleRuleName", schedule_rule.clone()),
        (
            "integrationPrincipals",
            format!(
                "{},{}",
                sir.principal(&key_of("sirClient")),
                sir.principal(&key_of("jiraClient"))
            ),
        ),
        ("commentSweepMinutes", "30".to_owned()),
        ("redeliveryWindowMinutes", "45".to_owned()),
        ("auditIntervalMinutes", "90".to_owned()),
        ("maxAuditsPerPass", "7".to_owned()),
        ("auditPerRun", "3".to_owned()),
        ("issueType", "Incident".to_owned()),
        ("resolverType", "Self".to_owned()),
        ("engagementType", "Investigation".to_owned()),
        ("impactedAccounts", "444455556666".to_owned()),
    ]
    .into_iter()
    .collect();

    let emulator = LambdaEmulator::start(&cargo_lambda, &scratch).await;
    let start = |function_key: &str, name: &str, values: &BTreeMap<&str, String>| {
        let (binary, mut env) = contract_env(function_key, values).unwrap();
        env.extend(lambda_env(&key_of(function_key), &world, &sir, &scratch));
        Function::start(&bin_dir, &binary, name, &env, &emulator, &scratch)
    };
    let [poller, jira_client, notifications, sir_client] =
        FUNCTIONS.map(|(function_key, name)| start(function_key, name, &values));

    // Jira → SIR. Alice files SEC-1 as the IssueCreated sample describes it.
    let issue_sample = sample("sir-client-issue-created.json");
    let issue = &issue_sample["detail"]["issue"];
    jira.add_user(User {
        account_id: ALICE_ACCOUNT_ID.into(),
        ..User::new("Alice Analyst", "alice@example.com")
    });
    let key = jira
        .create_issue(
            ALICE_ACCOUNT_ID,
            NewIssue {
                description: Some(issue["description"].as_str().unwrap().into()),
                ..NewIssue::new(issue["summary"].as_str().unwrap())
            },
        )
        .unwrap();
    assert_eq!(key, "SEC-1");

    // jira-notifications-handler: the SNS message names SEC-1; IssueCreated reaches the bus.
    let response = emulator
        .invoke_ok(&notifications, &sample_path("jira-notifications-sns.json"))
        .await;
    assert_eq!(response["records"][0]["issueKey"], "SEC-1", "{response}");
    let published = world
        .receive(&to_sir, 1, Duration::from_secs(20))
        .await
        .unwrap();
    assert_eq!(
        published.len(),
        1,
        "IssueCreated on the bus: {published:#?}"
    );
    assert_eq!(published[0]["source"], "jira");
    assert_eq!(published[0]["detail-type"], "IssueCreated");
    assert_eq!(
        recorded_detail(&published[0]),
        sample_detail(&issue_sample),
        "the sir-client sample is what jira-notifications-handler publishes for SEC-1"
    );
    // sir-client: the IssueCreated sample makes SEC-1's case, as sir-client's principal.
    let response = emulator
        .invoke_ok(&sir_client, &sample_path("sir-client-issue-created.json"))
        .await;
    assert_eq!(response["outcome"], "Created", "{response}");
    let from_jira = sir
        .cases()
        .into_iter()
        .find(|c| c.tags.get("jira-issue-key").map(String::as_str) == Some("SEC-1"))
        .expect("a case for SEC-1");
    assert_eq!(from_jira.title, issue["summary"].as_str().unwrap());
    assert_eq!(from_jira.created_by, sir.principal(&key_of("sirClient")));
    // jira-notifications-handler's schedule: its Scheduled Event runs the Jira sweep, which
    // finds SEC-1 (now linked) and syncs it as an Automation message would.
    let response = emulator
        .invoke_ok(
            &notifications,
            &sample_path("jira-notifications-sweep.json"),
        )
        .await;
    assert_eq!(response["caughtUp"], true, "{response}");
    assert_eq!(response["issues"][0]["issueKey"], "SEC-1", "{response}");
    assert_ne!(response["issues"][0]["outcome"], "Created", "{response}");
    assert_eq!(
        from_jira.engagement_type, "Investigation",
        "SIR_ENGAGEMENT_TYPE"
    );
    assert_eq!(
        from_jira.impacted_accounts,
        ["444455556666"],
        "SIR_IMPACTED_ACCOUNTS"
    );

    // SIR → Jira. A responder opens the case the CaseCreated sample describes.
    let case_sample = sample("jira-client-case-created.json");
    let case = &case_sample["detail"]["case"];
    let new_case: NewCase = serde_json::from_value(json!({
        "title": case["title"],
        "description": case["description"],
        "engagementType": case["engagementType"],
        "resolverType": "Self",
        "reportedIncidentStartDate": 1_795_253_400, // 2026-11-21T09:30:00Z
        "impactedAccounts": case["impactedAccounts"],
        "impactedServices": case["impactedServices"],
        "impactedAwsRegions": [{"region": "us-east-1"}],
        "watchers": [{"email": "alice@example.com"}],
    }))
    .unwrap();
    let case_id = sir.create_case(RESPONDER_KEY, new_case).case_id;

    // poller, schedule tick: CaseCreated for the responder's case reaches the bus.
    let response = emulator
        .invoke_ok(&poller, &sample_path("poller-schedule.json"))
        .await;
    let published_count = response["published"].as_array().map_or(0, Vec::len);
    assert!(
        response["published"]
            .as_array()
            .into_iter()
            .flatten()
            .any(|p| *p == json!(["CaseCreated", case_id])),
        "{response}"
    );
    let published = world
        .receive(&to_jira, published_count, Duration::from_secs(20))
        .await
        .unwrap();
    let created = published
        .iter()
        .find(|e| e["detail"]["case"]["caseId"] == case_id.as_str())
        .unwrap_or_else(|| panic!("no event for case {case_id}: {published:#?}"));
    assert_eq!(created["source"], "security-ir");
    assert_eq!(created["detail-type"], "CaseCreated");
    assert_eq!(
        recorded_detail(created),
        sample_detail(&sample_for_case("jira-client-case-created.json", &case_id)),
        "the jira-client sample is what the poller publishes for the case"
    );

    // poller, native event: re-reads the one case it names.
    let payload = payload_for_case(&scratch, "poller-native-case-updated.json", &case_id);
    let response = emulator.invoke_ok(&poller, &payload).await;
    assert_eq!(response["read"], 1, "{response}");

    // jira-client: the CaseCreated sample makes the case's issue, of the configured type.
    let payload = payload_for_case(&scratch, "jira-client-case-created.json", &case_id);
    let response = emulator.invoke_ok(&jira_client, &payload).await;
    assert_eq!(response["outcome"], "Created", "{response}");
    let issue_key = response["issueKey"]
        .as_str()
        .expect("an issue key")
        .to_owned();
    let made = jira
        .issue(&issue_key)
        .expect("the issue jira-client created");
    assert_eq!(made.summary, case["title"].as_str().unwrap());
    assert_eq!(made.issue_type, "Incident", "JIRA_ISSUE_TYPE");

    // A handler's error reaches the invoker as a Lambda error: its kind as the error type, the
    // message with its cause chain.
    for (function, wrong_event, error_type) in [
        (
            &poller,
            "jira-notifications-sns.json",
            "PollerError::UnknownEvent",
        ),
        (
            &jira_client,
            "sir-client-issue-created.json",
            "JiraClientError::NotACaseEvent",
        ),
        (
            &sir_client,
            "jira-client-case-created.json",
            "SirClientError::NotAnIssueEvent",
        ),
        (
            &notifications,
            "jira-client-case-created.json",
            "HandlerError::UnknownInvocation",
        ),
    ] {
        let error = emulator
            .invoke(function, &sample_path(wrong_event))
            .await
            .expect_err(wrong_event);
        assert!(error.contains(error_type), "{}: {error}", function.name);
    }

    for function in [&poller, &jira_client, &notifications, &sir_client] {
        function.assert_json_logs();
    }
    let denials = world.iam_denials().await.unwrap();
    assert!(
        denials.is_empty(),
        "IAM refused a binary: {}",
        integration_tests::iam::describe(&denials)
    );

    // A cold start without MAPPING_TABLE_NAME fails, naming it, in each binary: the process exits
    // before it takes the invocation (Lambda reports that as Runtime.ExitError, with this log).
    for (function_key, name) in FUNCTIONS {
        let (binary, mut env) = contract_env(function_key, &values).unwrap();
        assert!(env.remove(ENV_TABLE_NAME).is_some());
        env.extend(lambda_env(&key_of(function_key), &world, &sir, &scratch));
        let mut broken = Function::start(
            &bin_dir,
            &binary,
            &format!("{name}-without-table"),
            &env,
            &emulator,
            &scratch,
        );
        let mut invocation = emulator
            .invoke_command(&broken.name, &sample_path("poller-schedule.json"))
            .spawn()
            .unwrap();
        let status = tokio::time::timeout(Duration::from_secs(30), broken.child.wait())
            .await
            .unwrap_or_else(|_| {
                panic!(
                    "{name} without {ENV_TABLE_NAME} kept running\n{}",
                    broken.tail()
                )
            })
            .unwrap();
        assert!(!status.success(), "{name}: {status}");
        assert!(
            broken.log().contains(ENV_TABLE_NAME),
            "{name}: the cold-start error names the variable\n{}",
            broken.tail()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
        if let Some(status) = invocation.try_wait().unwrap() {
            assert!(
                !status.success(),
                "{name}: an invocation of a dead function succeeded"
            );
        }
        invocation.kill().await.ok();
    }

    std::fs::remove_dir_all(&scratch).ok();
}
