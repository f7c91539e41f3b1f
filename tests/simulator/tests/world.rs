//! The whole integration in the simulator: seeded responders on both sides, AWS's delivery, and
//! the invariants once the world is quiet and the reconciler has run.

// Test code: a panic with its message is how a failure is reported.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use simulator::invariants;
use simulator::world::{SimOptions, SimWorld};

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

/// One seeded run to quiet; the report of a failing run, if any.
async fn run(options: SimOptions) -> Result<(), String> {
    let mut world = SimWorld::new(options).unwrap();
    let outcome = async {
        world.run_workload(ACTIONS).await?;
        world.run_until_quiet().await?;
        world.observe().await
    }
    .await;
    match outcome {
        Ok(observed) => {
            let violations = violations_of(&observed);
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
/// where it is), plus [`unlinked_issues`].
fn violations_of(observed: &invariants::World) -> Vec<invariants::Violation> {
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

async fn run_seeds(options: fn(u64) -> SimOptions) {
    let mut failures = Vec::new();
    for seed in seeds(1, 10) {
        if let Err(report) = run(options(seed)).await {
            failures.push(report);
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}

#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn ten_seeds_of_twenty_actions_converge() {
    run_seeds(SimOptions::exact).await;
}

#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn ten_seeds_of_twenty_actions_converge_under_hostile_delivery() {
    run_seeds(SimOptions::hostile).await;
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
    assert!(violations_of(&observed).is_empty());

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
    let violations = violations_of(&observed);
    let named: Vec<String> = violations.iter().map(ToString::to_string).collect();
    assert_eq!(violations.len(), 2, "{named:#?}");
    assert!(named.iter().any(|v| v.contains(&comment)), "{named:#?}");
    assert!(named.iter().any(|v| v.contains(&key)), "{named:#?}");
}
