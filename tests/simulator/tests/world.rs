//! The whole integration in the simulator: seeded responders on both sides, AWS's delivery, and
//! the invariants once the world is quiet and the reconciler has run.

// Test code: a panic with its message is how a failure is reported.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeMap;

use simulator::delivery::{SIR_CLIENT, Step, StepKind};
use simulator::invariants;
use simulator::runner::{self, ACTIONS, Preset, SeedRun, closed_case_notes, violations_of};
use simulator::world::{Breakage, FaultKind, SimOptions, SimWorld};

/// Seeds run under faults in CI (issue 14: at least 200 of at least 50 actions).
const CI_SEEDS: u64 = 200;
/// Seeds run per kinder preset (exact and hostile delivery, no faults).
const PRESET_SEEDS: u64 = 20;

fn env<T: std::str::FromStr>(name: &str) -> Option<T> {
    std::env::var(name).ok().and_then(|s| s.parse().ok())
}

/// The seeds to run: `SIM_SEED=<n>` replays one, else `count` (or `SIM_SEEDS`) from `first`.
fn seeds(first: u64, count: u64) -> Vec<u64> {
    match env("SIM_SEED") {
        Some(seed) => vec![seed],
        None => (first..first + env("SIM_SEEDS").unwrap_or(count)).collect(),
    }
}

/// Responder actions per seed (`SIM_ACTIONS` overrides [`ACTIONS`]).
fn actions() -> usize {
    env("SIM_ACTIONS").unwrap_or(ACTIONS)
}

/// One seed of `actions` (on the test's runtime); its report if it fails, and its faults.
async fn run(
    options: SimOptions,
    actions: usize,
) -> (Result<(), String>, BTreeMap<FaultKind, usize>) {
    let run = runner::run(options, actions).await.unwrap();
    (run.outcome, run.faults)
}

/// Runs the preset over `count` seeds from 1 (less `excluded`) on every core, failing with each
/// failing seed's shortest report; the faults injected over all of them.
fn run_seeds(preset: Preset, count: u64, excluded: &[u64]) -> BTreeMap<FaultKind, usize> {
    let seeds: Vec<u64> = seeds(1, count)
        .into_iter()
        .filter(|seed| !excluded.contains(seed) || std::env::var("SIM_SEED").is_ok())
        .collect();
    let runs = runner::run_parallel(
        preset,
        &seeds,
        actions(),
        runner::cores(),
        &|_: &SeedRun| {},
    );
    let mut faults = BTreeMap::new();
    let mut failures = Vec::new();
    for run in runs {
        if let Err(report) = run.outcome {
            failures.push(report);
        }
        for (kind, count) in run.faults {
            *faults.entry(kind).or_default() += count;
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
    faults
}

#[test]
fn twenty_seeds_converge_under_exact_delivery() {
    run_seeds(SimOptions::exact, PRESET_SEEDS, &[]);
}

#[test]
fn twenty_seeds_converge_under_hostile_delivery() {
    run_seeds(SimOptions::hostile, PRESET_SEEDS, &[]);
}

/// Seeds that find a product bug, each with its symptom, kept out until the product is fixed
/// (`SIM_SEED=<n>` still runs one). None now: the six kept out before (33, 110, 199: a title
/// edited on both sides within seconds crossed on a pair closed before its audit; 132, 165,
/// 187: a Jira comment edit that reached a closed case went unreported) pass since the closed
/// pair's last audit and sir-client's closed-case check of edited comments; the seed tests at
/// the end of this file keep each fixed finding.
const FAULTY_SEEDS_EXCLUDED: &[u64] = &[];

/// Issue 14's CI budget: 200 seeds of 50 actions with faults on.
#[test]
fn two_hundred_seeds_converge_with_faults() {
    let faults = run_seeds(SimOptions::faulty, CI_SEEDS, FAULTY_SEEDS_EXCLUDED);
    assert!(faults.values().sum::<usize>() > 0, "no fault injected");
    // Over the default seeds every kind of fault is injected.
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
        world.run_workload(20).await.unwrap();
        world.run_until_quiet().await.unwrap();
        traces.push((world.trace(), world.actions().to_vec()));
    }
    assert!(!traces[0].0.0.is_empty());
    assert_eq!(traces[0], traces[1]);
}

#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn a_converged_run_links_both_sides_and_a_change_never_delivered_is_named() {
    let mut world = SimWorld::new(SimOptions::exact(3)).unwrap();
    world.run_workload(20).await.unwrap();
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
    let linked = observed
        .links
        .iter()
        .map(|link| &link.case_id)
        .find(|case| {
            observed
                .cases
                .iter()
                .any(|c| &c.id == *case && c.status != invariants::CLOSED)
        })
        .expect("an open linked case")
        .clone();
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
    let (outcome, faults) = run(SimOptions::faulty(11), 20).await;
    assert!(
        faults.contains_key(&FaultKind::JiraAnswerLost),
        "{faults:?}"
    );
    if let Err(report) = outcome {
        panic!("{report}");
    }
}

/// A faulty seed's world after `actions` responder actions, quiet and reconciled, with its
/// violations.
async fn quiet_world(seed: u64, actions: usize) -> (SimWorld, Vec<invariants::Violation>) {
    let mut world = SimWorld::new(SimOptions::faulty(seed)).unwrap();
    world.run_workload(actions).await.unwrap();
    world.run_until_quiet().await.unwrap();
    let observed = world.observe().await.unwrap();
    let violations = violations_of(observed, &closed_case_notes(&world));
    (world, violations)
}

/// The steps of `world`'s trace of this kind.
fn steps_of(world: &SimWorld, kind: fn(&StepKind) -> bool) -> Vec<Step> {
    world
        .trace()
        .0
        .into_iter()
        .filter(|step| kind(&step.kind))
        .collect()
}

/// A crash right after a write (sir-client's `CreateCaseComment` applied, never answered) stops
/// the invocation at its timeout; Lambda retries it, and the world converges.
#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn an_invocation_stopped_right_after_its_write_is_retried_and_converges() {
    let (world, violations) = quiet_world(9, 20).await;
    assert!(
        world
            .faults_injected()
            .contains_key(&FaultKind::SirCrashAfterWrite),
        "{:?}",
        world.faults_injected()
    );
    let timed_out = steps_of(&world, |kind| matches!(kind, StepKind::TimedOut { .. }));
    assert!(
        timed_out
            .iter()
            .any(|step| step.function.as_deref() == Some(SIR_CLIENT)),
        "{timed_out:#?}"
    );
    assert!(violations.is_empty(), "{}", world.report(&violations, 60));
}

/// SIR down for longer than the retry window sends the events that met it to the DLQ; the
/// reconciler converges them, so every dead letter is judged converged.
#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn an_outage_longer_than_the_retry_window_fills_the_dlq_and_the_reconciler_converges_it() {
    let (world, violations) = quiet_world(8, 20).await;
    assert!(
        world.faults_injected().contains_key(&FaultKind::SirOutage),
        "{:?}",
        world.faults_injected()
    );
    let dead = steps_of(&world, |kind| matches!(kind, StepKind::DeadLettered { .. }));
    assert!(!dead.is_empty(), "no dead letter");
    assert!(violations.is_empty(), "{}", world.report(&violations, 60));
}

/// What a failing run's report says it found: its first violation, or the world never going
/// quiet (writes without bound, a ping-pong); `None` for any other harness error.
fn first_violation(report: &str) -> Option<&str> {
    let first = report.lines().next()?;
    if first.contains("still busy") {
        return Some(first);
    }
    let (_, violations) = report.split_once("\nviolations:\n")?;
    violations.lines().next().map(str::trim)
}

/// The first seed of the faulty preset, within the CI budget ([`CI_SEEDS`] of [`ACTIONS`]), at
/// which `breakage` is caught, with the violation found; that the same seed without the
/// breakage converges, so the catch is the breakage's.
async fn first_seed_catching(breakage: Breakage) -> (u64, String) {
    for seed in seeds(1, CI_SEEDS) {
        let broken = SimOptions {
            breakage: Some(breakage),
            ..SimOptions::faulty(seed)
        };
        let (outcome, _) = run(broken, actions()).await;
        let Err(report) = outcome else {
            continue;
        };
        let violation = first_violation(&report)
            .unwrap_or_else(|| panic!("seed {seed} failed without a violation:\n{report}"))
            .to_owned();
        if let (Err(clean), _) = run(SimOptions::faulty(seed), actions()).await {
            panic!("seed {seed} fails without {breakage:?} too:\n{clean}");
        }
        return (seed, violation);
    }
    panic!("{breakage:?} not caught within {CI_SEEDS} seeds");
}

#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn a_dropped_comment_id_map_is_caught_within_the_ci_budget() {
    let (seed, violation) = first_seed_catching(Breakage::CommentIdMapDropped).await;
    println!("caught at seed {seed}: {violation}");
}

#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn a_removed_sir_echo_check_is_caught_within_the_ci_budget() {
    let (seed, violation) = first_seed_catching(Breakage::SirEchoCheckRemoved).await;
    println!("caught at seed {seed}: {violation}");
}

/// Caught at seed 1 (a ping-pong) until the Jira audit read each open issue at most once per
/// interval (a0d1eb0); since, none of the 200 seeds catches it: the id map alone keeps
/// jira-client's copies from coming back, and no fault yet loses that map on the Jira side.
#[tokio::test(flavor = "current_thread", start_paused = true)]
#[ignore = "not caught within the CI budget since the Jira audit reads each issue once per interval"]
async fn a_removed_jira_echo_check_is_caught_within_the_ci_budget() {
    let (seed, violation) = first_seed_catching(Breakage::JiraEchoCheckRemoved).await;
    println!("caught at seed {seed}: {violation}");
}

/// Crashes, outages and store races are the seed's too: a faulty seed replays exactly.
#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn the_same_faulty_seed_replays_the_same_trace() {
    let mut traces = Vec::new();
    for _ in 0..2 {
        let (world, _) = quiet_world(8, 20).await;
        traces.push((
            world.trace(),
            world.actions().to_vec(),
            world.faults_injected().clone(),
        ));
    }
    assert!(
        traces[0].2.contains_key(&FaultKind::StoreRace),
        "{:?}",
        traces[0].2
    );
    assert_eq!(traces[0], traces[1]);
}

/// Found under faults by seed 22: an issue deleted in Jira whose Automation message was dropped
/// (the sweep cannot see a deletion); jira-client met the gone issue on every later case event
/// and audit, failed it as not found, and the DLQ filled while the link stayed live.
#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn seed_22_an_issue_deleted_unannounced_is_recorded_as_deleted() {
    let (outcome, faults) = run(SimOptions::faulty(22), 20).await;
    assert!(
        faults.contains_key(&FaultKind::AutomationDropped),
        "{faults:?}"
    );
    if let Err(report) = outcome {
        panic!("{report}");
    }
}

/// Found under faults by seed 8: a watcher a person added to an issue before jira-client's
/// first read of it (the create's answer lost, the issue adopted later) was taken into the
/// issue's first snapshot, so no re-read ever named it and it never reached the case.
#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn seed_8_a_watcher_added_before_the_first_read_reaches_the_case() {
    let (outcome, faults) = run(SimOptions::faulty(8), 20).await;
    assert!(
        faults.contains_key(&FaultKind::JiraAnswerLost),
        "{faults:?}"
    );
    if let Err(report) = outcome {
        panic!("{report}");
    }
}

/// Found under faults by seed 637: a case's create answered 504 (the issue made), a responder
/// moved the new issue a few seconds before the retry, and the Jira emulator's index hid every
/// issue updated within the search lag, so the retry's label search found nothing and made a
/// second issue. Cloud's index still holds an issue it has not re-indexed yet, as it was; the
/// emulator now does too, and the retry adopts the first issue.
#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn seed_637_an_issue_moved_just_before_the_create_is_retried_is_adopted_not_made_twice() {
    let (outcome, faults) = run(SimOptions::faulty(637), 50).await;
    assert!(
        faults.contains_key(&FaultKind::JiraAnswerLost),
        "{faults:?}"
    );
    if let Err(report) = outcome {
        panic!("{report}");
    }
}

/// Found under faults by seed 1451: Jira was down from before the sweep's first run until
/// after an issue was made and moved to Done; the first sweep that succeeded started its span
/// at its own start, so the issue (done, so never audited) never became a case. The first run
/// now fixes the span's start before it searches.
#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn seed_1451_an_issue_made_and_closed_while_jira_was_down_from_the_start_becomes_a_case() {
    let (outcome, faults) = run(SimOptions::faulty(1451), 5).await;
    assert!(faults.contains_key(&FaultKind::JiraOutage), "{faults:?}");
    if let Err(report) = outcome {
        panic!("{report}");
    }
}

/// Found under faults by seed 1633: a title and summary edited on both sides within seconds
/// crossed (each side took the other's word), and the case was closed before the hourly audit
/// that would have settled it; closed pairs were never audited, so the pair kept the two words
/// for good. A closed pair now gets one audit after its closure.
#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn seed_1633_a_title_edited_on_both_sides_just_before_closure_converges() {
    let (outcome, _) = run(SimOptions::faulty(1633), 3).await;
    if let Err(report) = outcome {
        panic!("{report}");
    }
}

/// Found under faults by seed 165: a Jira comment edit held back by a SIR outage reached
/// sir-client after the case was closed; a closed case takes no change, but sir-client's check
/// for changes to report counted only comments never copied, not edited ones, so nobody was
/// told the edit would never reach the case.
#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn seed_165_a_comment_edited_in_jira_after_closure_is_reported_on_the_issue() {
    let (outcome, faults) = run(SimOptions::faulty(165), 9).await;
    assert!(faults.contains_key(&FaultKind::SirOutage), "{faults:?}");
    if let Err(report) = outcome {
        panic!("{report}");
    }
}

/// Found under faults by seed 466: SIR comments added after the case's issue was deleted were
/// published by the poller's comment sweep on every sweep, for good (jira-client leaves a broken
/// pair alone, so nothing recorded them as handled): the world never went quiet.
#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn seed_466_comments_on_a_case_whose_issue_was_deleted_are_not_swept_for_good() {
    let (outcome, _) = run(SimOptions::faulty(466), 29).await;
    if let Err(report) = outcome {
        panic!("{report}");
    }
}

/// Found under faults by seed 1092: a watcher added in SIR during an outage, then the issue's
/// Jira watchers written to the case by sir-client, which stored the case's watchers as it read
/// them back, the SIR watcher included: the poller then saw no change and the watcher never
/// reached the issue. sir-client now stores only the watchers it added.
#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn seed_1092_a_watcher_added_in_sir_while_sir_client_adds_others_reaches_the_issue() {
    let (outcome, faults) = run(SimOptions::faulty(1092), 35).await;
    assert!(faults.contains_key(&FaultKind::SirOutage), "{faults:?}");
    if let Err(report) = outcome {
        panic!("{report}");
    }
}

/// Found by the 10,000-seed soak, seed 3141: a title and summary edited on both sides within
/// seconds crossed, and a late duplicate delivery of the issue's last change reached sir-client
/// after the case closed; sir-client took the crossed title for a person's edit after the
/// closure and posted its closed-case note, which made the closing audit leave the issue alone.
/// sir-client now notes only what the delivery names as changed in Jira.
#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn seed_3141_a_crossed_title_is_settled_though_a_late_delivery_reached_the_closed_case() {
    let (outcome, _) = run(SimOptions::faulty(3141), 23).await;
    if let Err(report) = outcome {
        panic!("{report}");
    }
}

/// Found by the 10,000-seed soak, seed 2802 (7647 and 9563 alike): a slow Jira kept the case's
/// claim busy until every delivery naming the case's watchers went to the dead-letter queue, and
/// the pending delivery merged into the next update named only that update's fields, so a
/// watcher added in SIR never reached the issue (the audit brings watchers only when named). An
/// update merged with an unacknowledged create now names the watchers too.
#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn seed_2802_a_watcher_named_only_by_dead_lettered_deliveries_still_reaches_the_issue() {
    let (outcome, _) = run(SimOptions::faulty(2802), 27).await;
    if let Err(report) = outcome {
        panic!("{report}");
    }
}

/// Found by the 10,000-seed soak, seed 2494: an audit read the case, then sir-client took a
/// Jira description edit into the case and stored its snapshot, and only then did the audit read
/// that snapshot; the case's older description looked like a SIR change and was written over the
/// Jira edit. jira-client now reads the case snapshot before the case.
#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn seed_2494_a_stale_case_read_does_not_write_over_a_jira_description_sir_just_took() {
    let (outcome, _) = run(SimOptions::faulty(2494), 50).await;
    if let Err(report) = outcome {
        panic!("{report}");
    }
}
