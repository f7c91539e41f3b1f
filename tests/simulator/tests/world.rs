//! The whole integration in the simulator: seeded responders on both sides, AWS's delivery, and
//! the invariants once the world is quiet and the reconciler has run.

// Test code: a panic with its message is how a failure is reported.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::{BTreeMap, BTreeSet};

use shared::comment_marker::{KIND_CLOSED_CASE_CHANGES, MARKER_PROPERTY};

use simulator::invariants;
use simulator::world::{FaultKind, SimOptions, SimWorld};

const ACTIONS: usize = 20;
/// Writes one responder action may cause (not measured yet: the world reports none).
const MAX_WRITES_PER_ACTION: usize = 10;
const TRACE_TAIL: usize = 60;

/// The seeds to run: `SIM_SEED=<n>` replays one, else `count` (or `SIM_SEEDS`) from `first`.
fn seeds(first: u64, count: u64) -> Vec<u64> {
    let env = |name: &str| std::env::var(name).ok().and_then(|s| s.parse().ok());
    match env("SIM_SEED") {
        Some(seed) => vec![seed],
        None => (first..first + env("SIM_SEEDS").unwrap_or(count)).collect(),
    }
}

/// One seeded run to quiet; the report of a failing run, if any, and the faults injected.
async fn run(options: SimOptions) -> (Result<(), String>, BTreeMap<FaultKind, usize>) {
    let mut world = SimWorld::new(options).unwrap();
    let outcome = run_world(&mut world).await;
    (outcome, world.faults_injected().clone())
}

async fn run_world(world: &mut SimWorld) -> Result<(), String> {
    let outcome = async {
        world.run_workload(ACTIONS).await?;
        world.run_until_quiet().await?;
        world.observe().await
    }
    .await;
    match outcome {
        Ok(observed) => {
            let violations = violations_of(observed, &closed_case_notes(world));
            if violations.is_empty() {
                Ok(())
            } else {
                Err(world.report(&violations, TRACE_TAIL))
            }
        }
        Err(error) => Err(format!(
            "{}\n{}",
            shared::error::error_chain(&error),
            world.report(&[], TRACE_TAIL)
        )),
    }
}

/// The Jira status the default mapping gives a case's status.
fn mapped_status(sir_status: &str) -> Option<String> {
    let status: shared::status::SirStatus = sir_status.parse().ok()?;
    Some(
        shared::status::StatusMapping::default()
            .jira_status_for(status)
            .to_owned(),
    )
}

/// Every check, for this workload: the invariants with the default status mapping, less the
/// divergence the mapping designs (DESIGN §9: a Jira status mapped to "no change", To Do, asks
/// nothing of the case, so an issue a responder moved back to it keeps it while the case stays
/// where it is), plus [`unlinked_issues`]; then each dead letter judged by whether its pair
/// came through those checks clean (the reconciler converged it).
fn violations_of(
    mut observed: invariants::World,
    closed_case_notes: &BTreeSet<String>,
) -> Vec<invariants::Violation> {
    let dlq = std::mem::take(&mut observed.dlq);
    let mut violations = pair_violations(&observed);
    // DESIGN: a closed case takes no change; sir-client says so once on the issue. A Jira
    // comment that reached sir-client only after a responder closed the case (delivery late,
    // SIR throttling) is then missing on the case by design, not lost.
    violations.retain(|violation| match violation {
        invariants::Violation::CommentMissing { from, on, .. } => {
            !(closed_case_notes.contains(from)
                && on
                    .strip_prefix("case ")
                    .is_some_and(|case| observed.closed_cases.contains(case)))
        }
        _ => true,
    });
    observed.dlq = dlq;
    invariants::judge_dlq(&mut observed, &violations);
    violations.extend(invariants::dlq_converged(&observed));
    violations
}

fn pair_violations(observed: &invariants::World) -> Vec<invariants::Violation> {
    let mapping = shared::status::StatusMapping::default();
    let mut violations = invariants::check_all(observed, &mapped_status, MAX_WRITES_PER_ACTION);
    violations.retain(|violation| match violation {
        invariants::Violation::StatusDiffers { found, .. } => !matches!(
            mapping.sir_target_for(found),
            Some(shared::status::JiraStatusTarget::NoChange(_))
        ),
        _ => true,
    });
    violations.extend(unlinked_issues(observed));
    violations
}

/// The issues (as "issue KEY") on which sir-client noted that their case is closed and their
/// changes are no longer copied.
fn closed_case_notes(world: &SimWorld) -> BTreeSet<String> {
    world
        .jira
        .issues()
        .into_iter()
        .filter(|issue| {
            issue.comments.iter().any(|comment| {
                comment
                    .properties
                    .get(MARKER_PROPERTY)
                    .is_some_and(|marker| marker["kind"] == KIND_CLOSED_CASE_CHANGES)
            })
        })
        .map(|issue| format!("issue {}", issue.key))
        .collect()
}

/// Every issue of the project asks for a case (the notifications handler's default), so in this
/// workload an issue without a link is one the integration missed.
fn unlinked_issues(world: &invariants::World) -> Vec<invariants::Violation> {
    world
        .issues
        .iter()
        .filter(|issue| !world.links.iter().any(|link| link.issue_key == issue.key))
        .map(|issue| invariants::Violation::IssueWithoutCase {
            issue: issue.key.clone(),
        })
        .collect()
}

/// Runs the seeds (less `excluded`); the faults injected over all of them.
async fn run_seeds(options: fn(u64) -> SimOptions, excluded: &[u64]) -> BTreeMap<FaultKind, usize> {
    let mut failures = Vec::new();
    let mut faults = BTreeMap::new();
    for seed in seeds(1, 10) {
        if excluded.contains(&seed) && std::env::var("SIM_SEED").is_err() {
            continue;
        }
        let (outcome, injected) = run(options(seed)).await;
        if let Err(report) = outcome {
            failures.push(report);
        }
        for (kind, count) in injected {
            *faults.entry(kind).or_default() += count;
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
    faults
}

#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn ten_seeds_of_twenty_actions_converge() {
    run_seeds(SimOptions::exact, &[]).await;
}

#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn ten_seeds_of_twenty_actions_converge_under_hostile_delivery() {
    run_seeds(SimOptions::hostile, &[]).await;
}

/// Seeds that find a product bug, each with its symptom, kept out until the product is fixed.
const FAULTY_SEEDS_EXCLUDED: &[u64] = &[];

#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn ten_seeds_of_twenty_actions_converge_with_faults() {
    let faults = run_seeds(SimOptions::faulty, FAULTY_SEEDS_EXCLUDED).await;
    assert!(faults.values().sum::<usize>() > 0, "no fault injected");
    // Over the default ten seeds every kind of fault is injected at least once.
    if std::env::var("SIM_SEED").is_err() && std::env::var("SIM_SEEDS").is_err() {
        let missing: Vec<_> = FaultKind::ALL
            .iter()
            .filter(|kind| !faults.contains_key(kind))
            .collect();
        assert!(
            missing.is_empty(),
            "never injected: {missing:?} ({faults:?})"
        );
    }
    println!("faults injected: {faults:?}");
}

#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn the_same_seed_replays_the_same_trace() {
    let mut traces = Vec::new();
    for _ in 0..2 {
        let mut world = SimWorld::new(SimOptions::hostile(7)).unwrap();
        world.run_workload(ACTIONS).await.unwrap();
        world.run_until_quiet().await.unwrap();
        traces.push((world.trace(), world.actions().to_vec()));
    }
    assert!(!traces[0].0.0.is_empty());
    assert_eq!(traces[0], traces[1]);
}

#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn a_converged_run_links_both_sides_and_a_change_never_delivered_is_named() {
    let mut world = SimWorld::new(SimOptions::exact(3)).unwrap();
    world.run_workload(ACTIONS).await.unwrap();
    world.run_until_quiet().await.unwrap();
    let observed = world.observe().await.unwrap();
    assert!(observed.cases.len() >= 2, "{observed:#?}");
    assert_eq!(observed.links.len(), observed.cases.len(), "{observed:#?}");
    assert_eq!(observed.links.len(), observed.issues.len(), "{observed:#?}");
    let copies = observed
        .issues
        .iter()
        .flat_map(|issue| &issue.comments)
        .filter(|comment| comment.copied_from.is_some())
        .count();
    assert!(copies > 0, "no SIR comment was copied: {observed:#?}");
    assert!(violations_of(observed.clone(), &closed_case_notes(&world)).is_empty());

    // A responder's comment whose native event is lost, and a Jira issue whose Automation
    // message is lost, with no reconcile after: the checks name both.
    let linked = observed.links[0].case_id.clone();
    let comment = world.sir.add_comment("responder", &linked, "lost").unwrap();
    world.sir.take_events();
    let who = world.jira.users()[0].account_id.clone();
    let key = world
        .jira
        .create_issue(&who, jira_emulator::NewIssue::new("Never seen"))
        .unwrap();
    world.jira.take_automation_messages();
    let observed = world.observe().await.unwrap();
    let violations = violations_of(observed, &closed_case_notes(&world));
    let named: Vec<String> = violations.iter().map(ToString::to_string).collect();
    assert_eq!(violations.len(), 2, "{named:#?}");
    assert!(named.iter().any(|v| v.contains(&comment)), "{named:#?}");
    assert!(named.iter().any(|v| v.contains(&key)), "{named:#?}");
}

/// Found under faults by 21 of seeds 1–100 (11 the first beyond the ten above), each with a Jira
/// transition `POST` applied and answered 504: its retry was refused as not valid from the new
/// status, reported once as a refusal, and the issue stayed "In Progress" under a closed case.
#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn seed_11_a_closed_cases_issue_reaches_done_though_a_jira_answer_was_lost() {
    let (outcome, faults) = run(SimOptions::faulty(11)).await;
    assert!(
        faults.contains_key(&FaultKind::JiraAnswerLost),
        "{faults:?}"
    );
    if let Err(report) = outcome {
        panic!("{report}");
    }
}
