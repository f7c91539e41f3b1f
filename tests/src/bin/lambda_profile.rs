//! Cold start and memory of the Lambda binaries (issue 15): each of the four runs as its own
//! process under a minimal Lambda Runtime API ([`integration_tests::lambda_host::RuntimeApi`]),
//! with only the stack's variables, against the local world over sockets (moto behind the local
//! IAM, the SIR and Jira emulators). For each function, each run: init (process start to its
//! first `/next`), the first invocation, a warm one, the peak resident set (`VmHWM`); then a
//! fresh jira-client and sir-client each moving a 100 MiB attachment, and their peak.
//!
//! `cargo run --profile soak -p integration-tests --bin lambda_profile -- --bin-dir target/release
//! [--runs R] [--attachment-mib M] [--markdown FILE]` (run by `./run-bench.sh`, which builds the
//! release binaries first).

#![allow(
    clippy::disallowed_methods,
    reason = "a bench: real time against moto and the emulators over sockets"
)]

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use integration_tests::iam::Function as Role;
use integration_tests::lambda_host::{
    FUNCTIONS, RuntimeApi, contract_env, lambda_env, peak_rss_kib, sample, sample_for_case,
};
use integration_tests::world::RuleQueue;
use integration_tests::{HarnessError, World};
use jira_emulator::{JiraEmulator, JiraEmulatorConfig, NewIssue, User};
use serde_json::{Value, json};
use shared::events::rule_patterns;
use sir_emulator::{NewCase, SirEmulator, SirEmulatorConfig};
use tokio::process::{Child, Command};

const JIRA_EMAIL: &str = "integration@example.com";
const JIRA_TOKEN: &str = "integration-token";
const PROJECT_KEY: &str = "SEC";
const RESPONDER: &str = "responder";
const INVOKE_TIMEOUT: Duration = Duration::from_secs(300);
const READY_TIMEOUT: Duration = Duration::from_secs(30);

/// The local world the functions run against, made once.
struct Stage {
    world: World,
    sir: SirEmulator,
    jira: JiraEmulator,
    ann: String,
    values: BTreeMap<&'static str, String>,
    to_sir: RuleQueue,
    scratch: PathBuf,
    bin_dir: PathBuf,
}

/// One function's process and its Runtime API.
struct Running {
    api: RuntimeApi,
    child: Child,
}

impl Running {
    fn pid(&self) -> Option<u32> {
        self.child.id()
    }

    fn peak_mib(&self) -> f64 {
        self.pid()
            .and_then(peak_rss_kib)
            .map_or(f64::NAN, |kib| kib as f64 / 1024.0)
    }
}

fn setup(what: &str) -> impl FnOnce(String) -> HarnessError + '_ {
    move |e| HarnessError::Setup(format!("{what}: {e}"))
}

impl Stage {
    async fn new(bin_dir: PathBuf, attachment_bytes: usize) -> Result<Stage, HarnessError> {
        let world = World::new().await?;
        let scratch = std::env::temp_dir().join(format!("lambda-profile-{}", world.id));
        std::fs::create_dir_all(&scratch)
            .map_err(|e| HarnessError::Io(format!("creating {}", scratch.display()), e))?;
        let sir = SirEmulator::start(SirEmulatorConfig {
            authorizer: Some(world.iam.authorize_url()),
            ..SirEmulatorConfig::default()
        })
        .await
        .map_err(|e| setup("starting the SIR emulator")(e.to_string()))?;
        for role in Role::ALL {
            world.function_sdk(role).await?;
        }
        let jira = JiraEmulator::start(JiraEmulatorConfig {
            email: JIRA_EMAIL.into(),
            token: JIRA_TOKEN.into(),
            project_key: PROJECT_KEY.into(),
            max_attachment_bytes: (attachment_bytes as u64).saturating_mul(2),
            ..JiraEmulatorConfig::default()
        })
        .await
        .map_err(|e| setup("starting the Jira emulator")(e.to_string()))?;
        world
            .put_jira_parameters(JIRA_EMAIL, &jira.base_url(), PROJECT_KEY, JIRA_TOKEN)
            .await?;
        let to_sir = world
            .rule_queue("to-sir", &rule_patterns::sir_client())
            .await?;
        let schedule_rule = world.poller_schedule_rule().await?;
        let ann = jira
            .add_user(User::new("Ann Analyst", "ann@example.com"))
            .account_id;
        let sir_client_key = world.access_key(Role::SirClient);
        let values: BTreeMap<&str, String> = [
            ("tableName", world.table_name.clone()),
            ("eventBusName", world.bus_name.clone()),
            ("parameterPrefix", world.parameters.prefix().to_owned()),
            ("scheduleRuleName", schedule_rule),
            ("integrationPrincipals", sir.principal(&sir_client_key)),
            ("commentSweepMinutes", "30".to_owned()),
            ("redeliveryWindowMinutes", "45".to_owned()),
            ("auditIntervalMinutes", "60".to_owned()),
            ("maxAuditsPerPass", "5".to_owned()),
            ("auditPerRun", "3".to_owned()),
            ("issueType", "Task".to_owned()),
            ("resolverType", "Self".to_owned()),
            ("engagementType", "Investigation".to_owned()),
            ("impactedAccounts", "444455556666".to_owned()),
        ]
        .into_iter()
        .collect();
        Ok(Stage {
            world,
            sir,
            jira,
            ann,
            values,
            to_sir,
            scratch,
            bin_dir,
        })
    }

    /// Starts `function_key`'s binary (Lambda's cold start) and waits until it asks for work.
    async fn start(&self, function_key: &str) -> Result<(Running, Duration), HarnessError> {
        let role = Role::from_contract_key(function_key)
            .ok_or_else(|| HarnessError::Setup(format!("{function_key} is no function")))?;
        let (binary, mut env) = contract_env(function_key, &self.values)?;
        env.extend(lambda_env(
            &self.world.access_key(role),
            &self.world,
            &self.sir,
            &self.scratch,
        ));
        let api = RuntimeApi::start().await?;
        let log = self.scratch.join(format!("{binary}.log"));
        let file = std::fs::File::create(&log)
            .map_err(|e| HarnessError::Io(format!("creating {}", log.display()), e))?;
        let copy = file
            .try_clone()
            .map_err(|e| HarnessError::Io("log file".into(), e))?;
        let spawned = Instant::now();
        let child = Command::new(self.bin_dir.join(&binary))
            .env_clear()
            .envs(&env)
            .env("AWS_LAMBDA_FUNCTION_NAME", &binary)
            .env("AWS_LAMBDA_RUNTIME_API", api.address())
            .current_dir(&self.scratch)
            .stdin(Stdio::null())
            .stdout(Stdio::from(file))
            .stderr(Stdio::from(copy))
            .kill_on_drop(true)
            .spawn()
            .map_err(|e| {
                HarnessError::Io(
                    format!("starting {}", self.bin_dir.join(&binary).display()),
                    e,
                )
            })?;
        let ready = api.wait_ready(READY_TIMEOUT).await.map_err(|e| {
            HarnessError::Setup(format!(
                "{binary}: {e}\n{}",
                std::fs::read_to_string(&log).unwrap_or_default()
            ))
        })?;
        let init = ready.duration_since(spawned);
        Ok((Running { api, child }, init))
    }

    /// A responder's new SIR case (as the CaseCreated sample describes it).
    fn new_case(&self, title: &str) -> Result<String, HarnessError> {
        let sample = sample("jira-client-case-created.json")?;
        let case = &sample["detail"]["case"];
        let new_case: NewCase = serde_json::from_value(json!({
            "title": title,
            "description": case["description"],
            "engagementType": case["engagementType"],
            "resolverType": "Self",
            "reportedIncidentStartDate": 1_795_253_400,
            "impactedAccounts": case["impactedAccounts"],
            "impactedServices": case["impactedServices"],
            "impactedAwsRegions": [{"region": "us-east-1"}],
            "watchers": [{"email": "ann@example.com"}],
        }))
        .map_err(|e| setup("the sample case")(e.to_string()))?;
        Ok(self.sir.create_case(RESPONDER, new_case).case_id)
    }

    /// The SNS event Automation sends for `key`, published now.
    fn sns_event(key: &str) -> Result<Value, HarnessError> {
        let mut event = sample("jira-notifications-sns.json")?;
        event["Records"][0]["Sns"]["Message"] =
            Value::String(json!({"automationData": {"IssueId": key}}).to_string());
        event["Records"][0]["Sns"]["Timestamp"] = Value::String(
            aws_smithy_types::DateTime::from(std::time::SystemTime::now())
                .fmt(aws_smithy_types::date_time::Format::DateTime)
                .map_err(|e| setup("formatting now")(e.to_string()))?,
        );
        Ok(event)
    }

    /// The IssueCreated/IssueUpdated events on the bus for sir-client, `count` of them.
    async fn events_for_sir(&self, count: usize) -> Result<Vec<Value>, HarnessError> {
        self.world
            .receive(&self.to_sir, count, Duration::from_secs(30))
            .await
    }
}

/// One run's figures for one function.
#[derive(Debug, Default, Clone)]
struct Profile {
    init_ms: f64,
    first_ms: f64,
    warm_ms: f64,
    peak_mib: f64,
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

fn check(
    function: &str,
    answered: &integration_tests::lambda_host::Answered,
) -> Result<(), HarnessError> {
    match &answered.outcome {
        Ok(_) => Ok(()),
        Err(error) => Err(HarnessError::Setup(format!("{function} failed: {error}"))),
    }
}

/// Starts `function_key`'s binary, hands it `events` in turn (each must succeed) and profiles
/// it: init, the first invocation, the second (warm), its peak memory after them.
async fn profile_function(
    stage: &Stage,
    function_key: &str,
    events: Vec<Value>,
) -> Result<Profile, HarnessError> {
    let (running, init) = stage.start(function_key).await?;
    let mut took = Vec::new();
    for event in events {
        let answered = running.api.invoke(event, INVOKE_TIMEOUT).await?;
        check(function_key, &answered)?;
        took.push(answered.took);
    }
    Ok(Profile {
        init_ms: ms(init),
        first_ms: took.first().copied().map_or(f64::NAN, ms),
        warm_ms: took.get(1).copied().map_or(f64::NAN, ms),
        peak_mib: running.peak_mib(),
    })
}

/// Cold start, first and warm invocation and peak memory of each function, one run.
async fn profile_run(
    stage: &Stage,
    run: usize,
) -> Result<BTreeMap<&'static str, Profile>, HarnessError> {
    let mut profiles = BTreeMap::new();
    // Two issues filed by a person; the handler turns each message into IssueCreated.
    let keys: Vec<String> = (0..2)
        .map(|i| {
            stage
                .jira
                .create_issue(&stage.ann, NewIssue::new(format!("Run {run} issue {i}")))
                .map_err(|e| setup("creating an issue")(e.to_string()))
        })
        .collect::<Result<_, _>>()?;
    let messages = keys
        .iter()
        .map(|key| Stage::sns_event(key))
        .collect::<Result<_, _>>()?;
    profiles.insert(
        "jira-notifications-handler",
        profile_function(stage, "jiraNotificationsHandler", messages).await?,
    );
    // sir-client: the two IssueCreated events make two cases.
    let events = stage.events_for_sir(2).await?;
    profiles.insert(
        "sir-client",
        profile_function(stage, "sirClient", events).await?,
    );
    // poller: two schedule passes over the open cases (two new ones each run).
    let cases = [
        stage.new_case(&format!("Run {run} case A"))?,
        stage.new_case(&format!("Run {run} case B"))?,
    ];
    let tick = sample("poller-schedule.json")?;
    profiles.insert(
        "poller",
        profile_function(stage, "poller", vec![tick.clone(), tick]).await?,
    );
    // jira-client: CaseCreated for each new case makes its issue.
    let creates = cases
        .iter()
        .map(|case_id| sample_for_case("jira-client-case-created.json", case_id))
        .collect::<Result<_, _>>()?;
    profiles.insert(
        "jira-client",
        profile_function(stage, "jiraClient", creates).await?,
    );
    Ok(profiles)
}

/// Peak memory of a fresh jira-client copying a `bytes`-long SIR attachment to Jira, and of a
/// fresh sir-client copying one as long from Jira to SIR; each checked byte-exact.
async fn attachment_run(
    stage: &Stage,
    run: usize,
    bytes: usize,
) -> Result<(f64, f64), HarnessError> {
    let content: Vec<u8> = (0..bytes).map(|i| (i % 251) as u8).collect();

    // SIR → Jira.
    let case_id = stage.new_case(&format!("Run {run} evidence"))?;
    stage
        .sir
        .upload_attachment(RESPONDER, &case_id, "memory.dmp", content.clone())
        .map_err(|e| setup("uploading to SIR")(e.to_string()))?;
    let (jira_client, _) = stage.start("jiraClient").await?;
    let event = sample_for_case("jira-client-case-created.json", &case_id)?;
    let answered = jira_client.api.invoke(event, INVOKE_TIMEOUT).await?;
    check("jira-client", &answered)?;
    let to_jira = jira_client.peak_mib();
    drop(jira_client);
    let key = answered
        .outcome
        .ok()
        .and_then(|r| r["issueKey"].as_str().map(str::to_owned))
        .ok_or_else(|| HarnessError::Setup("jira-client named no issue".into()))?;
    let copied = stage
        .jira
        .issue(&key)
        .and_then(|issue| {
            issue
                .attachments
                .into_iter()
                .find(|a| a.filename == "memory.dmp")
        })
        .ok_or_else(|| HarnessError::Setup("the attachment did not reach Jira".into()))?;
    if copied.bytes.as_ref() != content.as_slice() {
        return Err(HarnessError::Setup(
            "the attachment reached Jira altered".into(),
        ));
    }

    // Jira → SIR.
    let key = stage
        .jira
        .create_issue(&stage.ann, NewIssue::new(format!("Run {run} disk image")))
        .map_err(|e| setup("creating an issue")(e.to_string()))?;
    stage
        .jira
        .attach(&stage.ann, &key, "disk.img", content.clone())
        .map_err(|e| setup("attaching in Jira")(e.to_string()))?;
    let (handler, _) = stage.start("jiraNotificationsHandler").await?;
    check(
        "jira-notifications-handler",
        &handler
            .api
            .invoke(Stage::sns_event(&key)?, INVOKE_TIMEOUT)
            .await?,
    )?;
    drop(handler);
    let events = stage.events_for_sir(1).await?;
    let (sir_client, _) = stage.start("sirClient").await?;
    for event in events {
        check(
            "sir-client",
            &sir_client.api.invoke(event, INVOKE_TIMEOUT).await?,
        )?;
    }
    let to_sir = sir_client.peak_mib();
    drop(sir_client);
    let stored = stage
        .sir
        .cases()
        .into_iter()
        .find(|c| c.tags.get("jira-issue-key") == Some(&key))
        .and_then(|c| {
            c.attachments
                .into_iter()
                .find(|a| a.file_name.ends_with("disk.img"))
        })
        .ok_or_else(|| HarnessError::Setup("the attachment did not reach SIR".into()))?;
    if stored.bytes != content {
        return Err(HarnessError::Setup(
            "the attachment reached SIR altered".into(),
        ));
    }
    Ok((to_jira, to_sir))
}

fn median_and_spread(mut values: Vec<f64>, decimals: usize) -> String {
    values.retain(|v| v.is_finite());
    if values.is_empty() {
        return "–".into();
    }
    values.sort_by(f64::total_cmp);
    let median = values[values.len() / 2];
    let (low, high) = (values[0], values[values.len() - 1]);
    if values.len() == 1 {
        format!("{median:.decimals$}")
    } else {
        format!("{median:.decimals$} ({low:.decimals$}–{high:.decimals$})")
    }
}

struct Args {
    runs: usize,
    bin_dir: PathBuf,
    attachment_mib: usize,
    markdown: Option<String>,
}

fn args() -> Result<Args, HarnessError> {
    let mut args = Args {
        runs: 5,
        bin_dir: PathBuf::from("target/release"),
        attachment_mib: 100,
        markdown: None,
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let mut value = || {
            it.next()
                .ok_or_else(|| HarnessError::Setup(format!("{flag} needs a value")))
        };
        let number = |v: String| {
            v.parse::<usize>()
                .map_err(|_| HarnessError::Setup(format!("not a number: {v}")))
        };
        match flag.as_str() {
            "--runs" => args.runs = number(value()?)?.max(1),
            "--bin-dir" => args.bin_dir = PathBuf::from(value()?),
            "--attachment-mib" => args.attachment_mib = number(value()?)?,
            "--markdown" => args.markdown = Some(value()?),
            other => {
                return Err(HarnessError::Setup(format!(
                    "unknown flag {other} (--runs R --bin-dir DIR --attachment-mib M --markdown FILE)"
                )));
            }
        }
    }
    Ok(args)
}

fn binaries_present(bin_dir: &Path) -> Result<(), HarnessError> {
    for (function_key, _) in FUNCTIONS {
        let contract = integration_tests::lambda_host::contract()?;
        let binary = contract["functions"][function_key]["crate"]
            .as_str()
            .unwrap_or_default()
            .to_owned();
        if !bin_dir.join(&binary).is_file() {
            return Err(HarnessError::Setup(format!(
                "{} is missing: build the release binaries first (./run-bench.sh does)",
                bin_dir.join(binary).display()
            )));
        }
    }
    Ok(())
}

#[tokio::main]
async fn main() -> Result<(), HarnessError> {
    let args = args()?;
    binaries_present(&args.bin_dir)?;
    // The functions run in a scratch directory: their path must not be relative.
    let bin_dir = std::fs::canonicalize(&args.bin_dir)
        .map_err(|e| HarnessError::Io(format!("resolving {}", args.bin_dir.display()), e))?;
    let bytes = args.attachment_mib * 1024 * 1024;
    let stage = Stage::new(bin_dir, bytes.max(1)).await?;
    let mut runs: BTreeMap<&str, Vec<Profile>> = BTreeMap::new();
    let mut transfers = Vec::new();
    for run in 0..args.runs {
        for (function, profile) in profile_run(&stage, run).await? {
            eprintln!("run {run} {function}: {profile:?}");
            runs.entry(function).or_default().push(profile);
        }
        if bytes > 0 {
            let peaks = attachment_run(&stage, run, bytes).await?;
            eprintln!(
                "run {run} {} MiB attachment: peaks {peaks:?} MiB",
                args.attachment_mib
            );
            transfers.push(peaks);
        }
    }
    let denials = stage.world.iam_denials().await?;
    if !denials.is_empty() {
        return Err(HarnessError::IamDenied(integration_tests::iam::describe(
            &denials,
        )));
    }

    let mut out = String::new();
    let _ = writeln!(
        out,
        "### Cold start and memory\n\nMethod: `cargo run --profile soak -p integration-tests --bin \
         lambda_profile -- --bin-dir {}` (run by `./run-bench.sh` after `cargo build --release` of \
         the four functions), {} runs. Each function is the release binary, started as Lambda \
         starts it (only the stack's variables, its role's key, `AWS_LAMBDA_LOG_FORMAT=JSON`) \
         under a minimal Lambda Runtime API, against moto (behind the local IAM) and both \
         emulators over loopback. Init: process start to its first `/next` (reading the Jira \
         settings from SSM and building the clients included, as Lambda's Init Duration). \
         Invocations: event handed out to answer posted; the first after init, then a warm one \
         (jira-notifications-handler: two Automation messages for two new issues; sir-client: \
         the two IssueCreated it published; poller: two schedule passes; jira-client: CaseCreated \
         for two new cases). Peak RSS: the process's `VmHWM` after them. The {} MiB rows: a fresh \
         jira-client copying a SIR attachment of that size to Jira, and a fresh sir-client \
         copying one from Jira to SIR (both checked byte-exact); peak RSS of that process. \
         Median, with the runs' range in brackets.\n",
        args.bin_dir.display(),
        args.runs,
        args.attachment_mib
    );
    let _ = writeln!(
        out,
        "| function | init ms | first invocation ms | warm invocation ms | peak RSS MiB |\n|---|---|---|---|---|"
    );
    for (function, profiles) in &runs {
        let column = |f: fn(&Profile) -> f64, decimals| {
            median_and_spread(profiles.iter().map(f).collect(), decimals)
        };
        let _ = writeln!(
            out,
            "| {function} | {} | {} | {} | {} |",
            column(|p| p.init_ms, 1),
            column(|p| p.first_ms, 1),
            column(|p| p.warm_ms, 1),
            column(|p| p.peak_mib, 1)
        );
    }
    if !transfers.is_empty() {
        let _ = writeln!(
            out,
            "\n| {} MiB attachment | peak RSS MiB |\n|---|---|\n| SIR → Jira (jira-client) | {} |\n| Jira → SIR (sir-client) | {} |",
            args.attachment_mib,
            median_and_spread(transfers.iter().map(|t| t.0).collect(), 1),
            median_and_spread(transfers.iter().map(|t| t.1).collect(), 1)
        );
    }
    match &args.markdown {
        Some(path) => std::fs::write(path, &out)
            .map_err(|e| HarnessError::Io(format!("writing {path}"), e))?,
        None => std::io::Write::write_all(&mut std::io::stdout(), out.as_bytes())
            .map_err(|e| HarnessError::Io("writing to stdout".into(), e))?,
    }
    Ok(())
}
