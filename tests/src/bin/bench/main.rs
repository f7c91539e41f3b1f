//! The request-cost bench behind `./run-bench.sh` (issue 15): what one synced item and one poll
//! pass cost in requests, counted where they land.
//!
//! - **Per synced item**: each scenario runs through the whole pipeline (`Integration`: moto's
//!   bus, rules and table, the Automation topic, both emulators, the four handlers with their
//!   own roles), from the responder's action until the world is quiet. Jira requests are the
//!   emulator's log of the integration account's requests, SIR calls the SIR emulator's log of
//!   the functions' keys, AWS calls the local IAM's count of the functions' keys in front of moto
//!   (one per request). Each scenario runs `--runs` times in a fresh world; the tables give the
//!   median and the spread (the pipeline's concurrency varies the counts).
//! - **Poll cost**: one schedule pass of the poller over N open linked cases of which k changed,
//!   after a pass that found nothing to do (SIR calls, the poller's DynamoDB reads and writes,
//!   events published). Counts are deterministic for a given N and k.
//!
//! Writes a markdown section to `--markdown` (run-bench.sh splices it into `BENCHMARKS.md`).

#![allow(
    clippy::disallowed_methods,
    reason = "a bench runs in real time against moto and the emulators over sockets"
)]

mod bulk;
mod latency;

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::Arc;
use std::time::Instant;

use integration_tests::clients::{schedule_tick, sir_client};
use integration_tests::iam::{CallCount, Function};
use integration_tests::pipeline::Integration;
use integration_tests::{HarnessError, World};
use jira_emulator::{NewIssue, User};
use poller::{EventBridgeSchedule, Poller, PollerSettings};
use shared::sir::SdkSirClient;
use shared::store::{DeliverySubject, IssueLink, LinkStore, PendingDeliveryStore};
use sir_emulator::{CaseUpdate, NewCase, SirEmulator, SirEmulatorConfig, Watcher};

const HUMAN: &str = "human";
/// The response team the SIR emulator's membership holds and two watchers of the scenarios: each
/// has a Jira account, as responders usually do.
const PEOPLE: [(&str, &str); 4] = [
    ("Riley Responder", "riley.responder@example.com"),
    ("Sam Analyst", "sam.analyst@example.com"),
    ("Ann Analyst", "ann@example.com"),
    ("Bob Builder", "bob@example.com"),
];

/// What one scenario run cost.
#[derive(Debug, Clone, Default)]
struct Cost {
    jira: u64,
    sir: u64,
    dynamodb: u64,
    /// events:PutEvents and sns:Publish calls.
    publishes: u64,
    /// Jira requests by method and path shape, for the breakdown.
    jira_by_kind: BTreeMap<String, u64>,
    dynamodb_by_function: BTreeMap<String, u64>,
}

/// What the counters held before a scenario's action.
struct Marks {
    jira: usize,
    sir: usize,
    aws: Vec<CallCount>,
}

async fn marks(it: &Integration) -> Result<Marks, HarnessError> {
    Ok(Marks {
        jira: it.jira.requests().len(),
        sir: it.sir.requests().len(),
        aws: it.world.aws_calls().await?,
    })
}

/// A Jira path with keys and ids replaced (`/rest/api/3/issue/{key}/comment`).
fn path_shape(path: &str) -> String {
    path.split('/')
        .map(|part| {
            if part.starts_with("SEC-") {
                "{key}"
            } else if !part.is_empty() && part.len() > 1 && part.chars().all(|c| c.is_ascii_digit())
            {
                "{id}"
            } else {
                part
            }
        })
        .collect::<Vec<_>>()
        .join("/")
}

async fn cost_since(it: &Integration, marks: &Marks) -> Result<Cost, HarnessError> {
    let me = it.jira.integration_account_id();
    let mut cost = Cost::default();
    for request in it.jira.requests().into_iter().skip(marks.jira) {
        if request.account_id.as_deref() == Some(me.as_str()) {
            if std::env::var_os("BENCH_LOG").is_some() {
                eprintln!(
                    "jira {} {} {}",
                    request.status, request.method, request.path
                );
            }
            cost.jira += 1;
            *cost
                .jira_by_kind
                .entry(format!("{} {}", request.method, path_shape(&request.path)))
                .or_default() += 1;
        }
    }
    let keys = it.world.access_keys();
    cost.sir = it
        .sir
        .requests()
        .into_iter()
        .skip(marks.sir)
        .filter(|r| r.access_key_id.as_ref().is_some_and(|k| keys.contains(k)))
        .count() as u64;
    let before: BTreeMap<(String, String), u64> = marks
        .aws
        .iter()
        .map(|c| ((c.access_key_id.clone(), c.call.clone()), c.count))
        .collect();
    for call in it.world.aws_calls().await? {
        let made = call.count
            - before
                .get(&(call.access_key_id.clone(), call.call.clone()))
                .copied()
                .unwrap_or(0);
        if made > 0 && std::env::var_os("BENCH_LOG").is_some() {
            eprintln!("aws {} {} × {made}", call.function, call.call);
        }
        if call.call.starts_with("dynamodb:") {
            cost.dynamodb += made;
            *cost
                .dynamodb_by_function
                .entry(call.function.clone())
                .or_default() += made;
        } else if call.call == "events:PutEvents" || call.call == "sns:Publish" {
            cost.publishes += made;
        }
    }
    Ok(cost)
}

async fn settled(it: &Integration) -> Result<(), HarnessError> {
    let settled = it.settle().await?;
    if !settled.to_jira.dead_lettered.is_empty() || !settled.to_sir.dead_lettered.is_empty() {
        return Err(HarnessError::Setup(format!(
            "a scenario left dead letters: {settled:#?}"
        )));
    }
    Ok(())
}

async fn world_with_people() -> Result<(Integration, BTreeMap<&'static str, String>), HarnessError>
{
    let it = Integration::start().await?;
    let mut accounts = BTreeMap::new();
    for (name, email) in PEOPLE {
        let user = it.jira.add_user(User::new(name, email));
        accounts.insert(email, user.account_id);
    }
    Ok((it, accounts))
}

fn new_case(title: &str, watchers: &[&str]) -> NewCase {
    NewCase {
        title: title.into(),
        description: "Unusual API calls from a new region.".into(),
        impacted_accounts: vec!["111122223333".into()],
        watchers: watchers.iter().map(|w| Watcher::email(*w)).collect(),
        ..NewCase::default()
    }
}

fn emulator(what: &'static str) -> impl FnOnce(String) -> HarnessError {
    move |e| HarnessError::Setup(format!("{what}: {e}"))
}

/// A synced SIR-born pair: (case id, issue key).
async fn sir_pair(it: &Integration) -> Result<(String, String), HarnessError> {
    let id = it
        .sir
        .create_case(HUMAN, new_case("Synced case", &[]))
        .case_id;
    settled(it).await?;
    let key = it
        .world
        .store()
        .link_for_case(&id)
        .await
        .map_err(|e| HarnessError::Setup(format!("reading the link: {e}")))?
        .ok_or_else(|| HarnessError::Setup("the case was never linked".into()))?
        .issue_key;
    Ok((id, key))
}

/// A synced Jira-born pair: (issue key, creator's account).
async fn jira_pair(
    it: &Integration,
    accounts: &BTreeMap<&'static str, String>,
) -> Result<String, HarnessError> {
    let ann = &accounts["ann@example.com"];
    let key = it
        .jira
        .create_issue(ann, NewIssue::new("Synced issue"))
        .map_err(|e| emulator("creating an issue")(e.to_string()))?;
    settled(it).await?;
    Ok(key)
}

/// The scenarios, each from a fresh world: its name and what it cost.
async fn run_scenario(name: &str, rule_condition: bool) -> Result<Cost, HarnessError> {
    let (it, accounts) = world_with_people().await?;
    if rule_condition {
        // The README's condition on each Automation rule: "Initiator is not" the integration user.
        it.jira
            .automation()
            .set_skip_initiator(Some(it.jira.integration_account_id()));
    }
    let ann = accounts["ann@example.com"].clone();
    let bob = accounts["bob@example.com"].clone();
    let err = |what: &'static str| move |e: sir_emulator::Error| emulator(what)(e.to_string());
    let jerr = |what: &'static str| move |e: jira_emulator::Error| emulator(what)(e.to_string());
    let cost = match name {
        "SIR → Jira: new case" => {
            let m = marks(&it).await?;
            it.sir.create_case(HUMAN, new_case("New case", &[]));
            settled(&it).await?;
            cost_since(&it, &m).await?
        }
        "SIR → Jira: new case, 5 comments, 2 watchers" => {
            let m = marks(&it).await?;
            let id = it
                .sir
                .create_case(
                    HUMAN,
                    new_case("New case", &["ann@example.com", "bob@example.com"]),
                )
                .case_id;
            for i in 1..=5 {
                it.sir
                    .add_comment(HUMAN, &id, &format!("Finding {i}."))
                    .map_err(err("commenting"))?;
            }
            settled(&it).await?;
            cost_since(&it, &m).await?
        }
        "SIR → Jira: one comment" => {
            let (id, _) = sir_pair(&it).await?;
            let m = marks(&it).await?;
            it.sir
                .add_comment(HUMAN, &id, "One more finding.")
                .map_err(err("commenting"))?;
            settled(&it).await?;
            cost_since(&it, &m).await?
        }
        "SIR → Jira: status change (two hops)" => {
            let (id, _) = sir_pair(&it).await?;
            let m = marks(&it).await?;
            // SIR moves a case one stage at a time; Jira then walks To Do → In Progress → In
            // Review.
            for status in ["Detection and Analysis", "Post-incident Activities"] {
                it.sir
                    .set_status(HUMAN, &id, status)
                    .map_err(err("moving the case"))?;
            }
            settled(&it).await?;
            cost_since(&it, &m).await?
        }
        "SIR → Jira: one attachment" => {
            let (id, _) = sir_pair(&it).await?;
            let m = marks(&it).await?;
            it.sir
                .upload_attachment(HUMAN, &id, "evidence.txt", b"log lines".repeat(100))
                .map_err(err("attaching"))?;
            settled(&it).await?;
            cost_since(&it, &m).await?
        }
        "SIR → Jira: title edit" => {
            let (id, _) = sir_pair(&it).await?;
            let m = marks(&it).await?;
            it.sir
                .update_case(
                    HUMAN,
                    &id,
                    CaseUpdate {
                        title: Some("Retitled".into()),
                        ..CaseUpdate::default()
                    },
                )
                .map_err(err("retitling"))?;
            settled(&it).await?;
            cost_since(&it, &m).await?
        }
        "Jira → SIR: new issue" => {
            let m = marks(&it).await?;
            it.jira
                .create_issue(&ann, NewIssue::new("New issue"))
                .map_err(jerr("creating an issue"))?;
            settled(&it).await?;
            cost_since(&it, &m).await?
        }
        "Jira → SIR: new issue, 5 comments, 2 watchers" => {
            let m = marks(&it).await?;
            let key = it
                .jira
                .create_issue(&ann, NewIssue::new("New issue"))
                .map_err(jerr("creating an issue"))?;
            it.jira.add_watcher(&key, &bob).map_err(jerr("watching"))?;
            for i in 1..=5 {
                it.jira
                    .comment(&ann, &key, format!("Finding {i}."))
                    .map_err(jerr("commenting"))?;
            }
            settled(&it).await?;
            cost_since(&it, &m).await?
        }
        "Jira → SIR: one comment" => {
            let key = jira_pair(&it, &accounts).await?;
            let m = marks(&it).await?;
            it.jira
                .comment(&ann, &key, "One more finding.")
                .map_err(jerr("commenting"))?;
            settled(&it).await?;
            cost_since(&it, &m).await?
        }
        "Jira → SIR: transition" => {
            let key = jira_pair(&it, &accounts).await?;
            let m = marks(&it).await?;
            it.jira
                .transition_to(&ann, &key, "In Progress")
                .map_err(jerr("moving the issue"))?;
            settled(&it).await?;
            cost_since(&it, &m).await?
        }
        "Jira → SIR: one attachment" => {
            let key = jira_pair(&it, &accounts).await?;
            let m = marks(&it).await?;
            it.jira
                .attach(&ann, &key, "evidence.txt", b"log lines".repeat(100))
                .map_err(jerr("attaching"))?;
            settled(&it).await?;
            cost_since(&it, &m).await?
        }
        other => return Err(HarnessError::Setup(format!("no scenario {other}"))),
    };
    Ok(cost)
}

const SCENARIOS: [&str; 11] = [
    "SIR → Jira: new case",
    "SIR → Jira: new case, 5 comments, 2 watchers",
    "SIR → Jira: one comment",
    "SIR → Jira: status change (two hops)",
    "SIR → Jira: one attachment",
    "SIR → Jira: title edit",
    "Jira → SIR: new issue",
    "Jira → SIR: new issue, 5 comments, 2 watchers",
    "Jira → SIR: one comment",
    "Jira → SIR: transition",
    "Jira → SIR: one attachment",
];

/// "median (min–max)" of `values`.
fn spread(mut values: Vec<u64>) -> String {
    values.sort_unstable();
    let (Some(min), Some(max)) = (values.first(), values.last()) else {
        return "–".into();
    };
    let median = values[values.len() / 2];
    if min == max {
        format!("{median}")
    } else {
        format!("{median} ({min}–{max})")
    }
}

/// One pass's cost over `n` open linked cases with `k` changed.
#[derive(Debug)]
struct PassCost {
    n: usize,
    k: usize,
    sir: u64,
    reads: u64,
    writes: u64,
    events: usize,
    seconds: f64,
}

fn is_read(call: &str) -> bool {
    [
        "GetItem",
        "Query",
        "Scan",
        "BatchGetItem",
        "TransactGetItems",
    ]
    .iter()
    .any(|op| call == format!("dynamodb:{op}"))
}

async fn poller_calls(world: &World) -> Result<(u64, u64), HarnessError> {
    let key = world.access_key(Function::Poller);
    let mut reads = 0;
    let mut writes = 0;
    for call in world.aws_calls().await? {
        if call.access_key_id != key || !call.call.starts_with("dynamodb:") {
            continue;
        }
        if is_read(&call.call) {
            reads += call.count;
        } else {
            writes += call.count;
        }
    }
    Ok((reads, writes))
}

async fn poll_costs(n: usize, ks: &[usize]) -> Result<Vec<PassCost>, HarnessError> {
    let world = World::new().await?;
    let sir = SirEmulator::start(SirEmulatorConfig::default())
        .await
        .map_err(|e| HarnessError::Setup(format!("SIR emulator: {e}")))?;
    let rule = world.poller_schedule_rule().await?;
    let sdk = world.function_sdk(Function::Poller).await?;
    let poller = Poller {
        sir: Arc::new(SdkSirClient::new(sir_client(
            &sir.endpoint(),
            &world.access_key(Function::Poller),
        ))),
        store: Arc::new(shared::store::DynamoMappingStore::new(
            aws_sdk_dynamodb::Client::new(&sdk),
            &world.table_name,
        )),
        publisher: Arc::new(shared::publisher::EventBridgePublisher::new(
            aws_sdk_eventbridge::Client::new(&sdk),
            &world.bus_name,
        )),
        schedule: Arc::new(EventBridgeSchedule::new(
            aws_sdk_eventbridge::Client::new(&sdk),
            &rule,
        )),
        settings: PollerSettings {
            integration_principals: vec![sir.principal("integration")],
            ..PollerSettings::default()
        },
    };
    let pass = || async {
        poller
            .handle(&schedule_tick())
            .await
            .map_err(|e| HarnessError::Setup(format!("a poll pass failed: {e}")))
    };
    let ids: Vec<String> = (0..n)
        .map(|i| {
            sir.create_case(HUMAN, new_case(&format!("Case {i}"), &[]))
                .case_id
        })
        .collect();
    pass().await?;
    // What jira-client does once it applied each CaseCreated: link, acknowledge.
    let store = world.store();
    for (i, id) in ids.iter().enumerate() {
        store
            .create_link(&IssueLink::new(id, format!("SEC-{}", i + 1)))
            .await
            .map_err(|e| HarnessError::Setup(format!("linking: {e}")))?;
        store
            .forget_pending_delivery(&DeliverySubject::Case(id.clone()))
            .await
            .map_err(|e| HarnessError::Setup(format!("acknowledging: {e}")))?;
    }
    pass().await?;
    let mut costs = Vec::new();
    let mut changed = 0;
    for &k in ks.iter().filter(|&&k| k <= n) {
        for id in ids.iter().skip(changed).take(k) {
            sir.update_case(
                HUMAN,
                id,
                CaseUpdate {
                    description: Some("Scope grew.".into()),
                    ..CaseUpdate::default()
                },
            )
            .map_err(|e| HarnessError::Setup(format!("editing a case: {e}")))?;
        }
        changed += k;
        let sir_before = sir.requests().len();
        let (reads_before, writes_before) = poller_calls(&world).await?;
        let started = Instant::now();
        let report = pass().await?;
        let seconds = started.elapsed().as_secs_f64();
        let (reads, writes) = poller_calls(&world).await?;
        costs.push(PassCost {
            n,
            k,
            sir: (sir.requests().len() - sir_before) as u64,
            reads: reads - reads_before,
            writes: writes - writes_before,
            events: report.published.len(),
            seconds,
        });
        for id in ids.iter().take(changed) {
            store
                .forget_pending_delivery(&DeliverySubject::Case(id.clone()))
                .await
                .map_err(|e| HarnessError::Setup(format!("acknowledging: {e}")))?;
        }
    }
    Ok(costs)
}

struct Args {
    runs: usize,
    cases: Vec<usize>,
    changed: Vec<usize>,
    markdown: Option<String>,
    only: Option<String>,
    /// Items per bulk run (0: no bulk runs).
    bulk: usize,
    /// Samples per latency kind (0: no latency).
    samples: usize,
    /// Which bulk runs: `sir` (SIR → Jira), `jira` (Jira → SIR), or both (`sir,jira`).
    bulk_directions: String,
}

fn list(value: &str) -> Result<Vec<usize>, HarnessError> {
    value
        .split(',')
        .map(|v| {
            v.trim()
                .parse()
                .map_err(|_| HarnessError::Setup(format!("not a number: {v}")))
        })
        .collect()
}

fn args() -> Result<Args, HarnessError> {
    let mut args = Args {
        runs: 5,
        cases: vec![100, 1000, 5000],
        changed: vec![0, 5, 50],
        markdown: None,
        only: None,
        bulk: 1000,
        samples: 30,
        bulk_directions: "sir,jira".into(),
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let mut value = || {
            it.next()
                .ok_or_else(|| HarnessError::Setup(format!("{flag} needs a value")))
        };
        match flag.as_str() {
            "--runs" => args.runs = list(&value()?)?.first().copied().unwrap_or(1).max(1),
            "--cases" => args.cases = list(&value()?)?,
            "--changed" => args.changed = list(&value()?)?,
            "--markdown" => args.markdown = Some(value()?),
            "--only" => args.only = Some(value()?),
            "--bulk" => args.bulk = list(&value()?)?.first().copied().unwrap_or(0),
            "--samples" => args.samples = list(&value()?)?.first().copied().unwrap_or(0),
            "--bulk-directions" => args.bulk_directions = value()?,
            other => {
                return Err(HarnessError::Setup(format!(
                    "unknown flag {other} (--runs R --cases N,… --changed k,… --bulk N \
                     --bulk-directions sir,jira --samples M --markdown FILE --only TEXT)"
                )));
            }
        }
    }
    Ok(args)
}

#[tokio::main]
async fn main() -> Result<(), HarnessError> {
    let args = args()?;
    let started = Instant::now();
    let mut out = String::new();
    let _ = writeln!(
        out,
        "### Requests per synced item\n\nMethod: `cargo run --profile soak -p integration-tests --bin bench` \
         (run by `./run-bench.sh`), {} runs of each scenario, each in a fresh local world (moto, both \
         emulators, the four handlers wired as the stack wires them, Jira Automation on, so echo \
         checks are counted). Counted from the responder's action until the world is quiet: Jira \
         requests made by the integration account (emulator log), SIR calls made with the \
         functions' keys (emulator log), DynamoDB calls and publishes (`events:PutEvents`, \
         `sns:Publish`) made with the functions' keys (the local IAM in front of moto counts every \
         request). Median, with the spread of the runs in brackets. Every watcher has a Jira account. \
         \"With the rule condition\": the same scenario with each Automation rule given the \
         condition the README asks for (Initiator is not the integration user), so the \
         integration's own writes send no message and cost no echo check.\n",
        args.runs
    );
    let _ = writeln!(
        out,
        "| scenario | Jira requests | with the rule condition | SIR calls | DynamoDB calls | publishes |\n|---|---|---|---|---|---|"
    );
    let mut breakdowns = String::new();
    for scenario in SCENARIOS {
        if args
            .only
            .as_deref()
            .is_some_and(|only| !scenario.contains(only))
        {
            continue;
        }
        let mut costs = Vec::new();
        let mut with_condition = Vec::new();
        for run in 0..args.runs {
            let cost = Box::pin(run_scenario(scenario, false)).await?;
            eprintln!(
                "{scenario} #{run}: Jira {} SIR {} DynamoDB {} publishes {} ({:?})",
                cost.jira, cost.sir, cost.dynamodb, cost.publishes, cost.dynamodb_by_function
            );
            costs.push(cost);
            let cost = Box::pin(run_scenario(scenario, true)).await?;
            eprintln!(
                "{scenario} #{run} with the rule condition: Jira {} ({:?})",
                cost.jira, cost.jira_by_kind
            );
            with_condition.push(cost.jira);
        }
        let column = |f: fn(&Cost) -> u64| spread(costs.iter().map(f).collect());
        let _ = writeln!(
            out,
            "| {scenario} | {} | {} | {} | {} | {} |",
            column(|c| c.jira),
            spread(with_condition),
            column(|c| c.sir),
            column(|c| c.dynamodb),
            column(|c| c.publishes)
        );
        if let Some(first) = costs.first() {
            let kinds: Vec<String> = first
                .jira_by_kind
                .iter()
                .map(|(kind, count)| format!("{count} × `{kind}`"))
                .collect();
            let functions: Vec<String> = first
                .dynamodb_by_function
                .iter()
                .map(|(function, count)| format!("{function} {count}"))
                .collect();
            let _ = writeln!(
                breakdowns,
                "- {scenario}: Jira {}; DynamoDB by function: {}.",
                if kinds.is_empty() {
                    "none".to_owned()
                } else {
                    kinds.join(", ")
                },
                if functions.is_empty() {
                    "none".to_owned()
                } else {
                    functions.join(", ")
                }
            );
        }
    }
    let _ = writeln!(
        out,
        "\nWhat the first run of each scenario asked of Jira, and which function made the \
         DynamoDB calls:\n\n{breakdowns}"
    );
    if args.only.as_deref().is_none_or(|only| only == "poll") {
        let _ = writeln!(
            out,
            "### Poll cost\n\nMethod: the same bench; one poller (its role's key, moto's table and \
             bus, the SIR emulator) over N open cases, all published and linked, then a pass that \
             finds nothing; then for each k, k more cases get a new description and one schedule \
             pass is counted: SIR calls, the poller's DynamoDB reads (GetItem, TransactGetItems, \
             Query; a transaction is one call) and writes, events published. The audit (one per open pair per hour) is not due in these passes. \
             The time is the pass's wall time against moto, for scale only.\n\n\
             | open cases N | changed k | SIR calls | DynamoDB reads | DynamoDB writes | events | pass time |\n\
             |---|---|---|---|---|---|---|"
        );
        for &n in &args.cases {
            for cost in poll_costs(n, &args.changed).await? {
                eprintln!("{cost:?}");
                let _ = writeln!(
                    out,
                    "| {} | {} | {} | {} | {} | {} | {:.1} s |",
                    cost.n, cost.k, cost.sir, cost.reads, cost.writes, cost.events, cost.seconds
                );
            }
        }
    }
    if args.samples > 0 && args.only.as_deref().is_none_or(|only| only == "latency") {
        let _ = writeln!(
            out,
            "\n### Latency\n\nMethod: the same bench; for each kind, {} synced pairs in a fresh \
             world, then {} changes made one at a time by a responder, going round the pairs (one \
             issue changes about every 10 s), each from a quiet world. \
             The pipeline is driven as in the scenarios above (each route's queue read in turn, \
             every handler in this process) while a watcher reads the other side every 2 ms; the \
             latency is the change to the first read that shows it. Moto delivers the rules' \
             and SNS's messages to their queues itself, so its delivery time is in the figure; \
             what the local world leaves out is in BENCHMARKS.md. p99 is the nearest rank (below \
             100 samples, the largest).\n\n\
             | change | p50 ms | p99 ms | max ms |\n|---|---|---|---|",
            latency::PAIRS,
            args.samples
        );
        for kind in latency::KINDS {
            let times = Box::pin(latency::sample(kind, args.samples)).await?;
            eprintln!("{kind}: {times:?}");
            let _ = writeln!(
                out,
                "| {kind} | {:.0} | {:.0} | {:.0} |",
                latency::quantile_ms(&times, 0.5),
                latency::quantile_ms(&times, 0.99),
                latency::quantile_ms(&times, 1.0)
            );
        }
    }
    let mut lost_or_doubled = Vec::new();
    if args.bulk > 0 && args.only.as_deref().is_none_or(|only| only == "bulk") {
        let _ = writeln!(
            out,
            "\n### Bulk\n\nMethod: the same bench; {} items created at once on one side of a \
             fresh world ({}), the pipeline run as Lambda runs asynchronous events (each message \
             tried 3 times, then dead-lettered), one handler at a time. Time: from the creations \
             to the first delivery round after which every item had its counterpart. Floor: the \
             time a client spacing requests perfectly at the tenant's 10/s would need, for the \
             requests made and for the necessary ones (SIR → Jira: the create and one per \
             watcher added). Then the world runs until quiet and the other side is counted.\n\n\
             | direction | items | time s | floor (requests made) s | floor (necessary) s | \
             Jira requests (429) | SIR calls (throttled) | exactly one | duplicated | missing | \
             dead-lettered |\n|---|---|---|---|---|---|---|---|---|---|---|",
            args.bulk,
            bulk::limits_text()
        );
        let mut runs = Vec::new();
        if args.bulk_directions.contains("sir") {
            let run = Box::pin(bulk::sir_to_jira(args.bulk)).await?;
            eprintln!("{run:?}");
            runs.push(run);
        }
        if args.bulk_directions.contains("jira") {
            let run = Box::pin(bulk::jira_to_sir(args.bulk)).await?;
            eprintln!("{run:?}");
            runs.push(run);
        }
        for run in runs {
            if run.duplicated > 0 || run.missing > 0 {
                lost_or_doubled.push(format!(
                    "{}: {} of {} items duplicated, {} missing",
                    run.direction, run.duplicated, run.items, run.missing
                ));
            }
            let necessary = if run.necessary_jira > 0 {
                format!("{:.0}", bulk::floor_seconds(run.necessary_jira))
            } else {
                "–".to_owned()
            };
            let _ = writeln!(
                out,
                "| {} | {} | {:.0} | {:.0} | {} | {} ({}) | {} ({}) | {} | {} | {} | {} |",
                run.direction,
                run.items,
                run.seconds,
                bulk::floor_seconds(run.jira_requests - run.jira_429),
                necessary,
                run.jira_requests,
                run.jira_429,
                run.sir_calls,
                run.sir_throttled,
                run.exact,
                run.duplicated,
                run.missing,
                run.dead_lettered
            );
        }
    }
    let _ = writeln!(
        out,
        "\nBench wall time: {:.0} s.",
        started.elapsed().as_secs_f64()
    );
    match &args.markdown {
        Some(path) => std::fs::write(path, &out)
            .map_err(|e| HarnessError::Io(format!("writing {path}"), e))?,
        None => std::io::Write::write_all(&mut std::io::stdout(), out.as_bytes())
            .map_err(|e| HarnessError::Io("writing to stdout".into(), e))?,
    }
    if !lost_or_doubled.is_empty() {
        return Err(HarnessError::Setup(format!(
            "a bulk run lost or duplicated items: {}",
            lost_or_doubled.join("; ")
        )));
    }
    Ok(())
}
