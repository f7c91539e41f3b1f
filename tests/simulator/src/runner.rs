//! Running seeds: one seeded world from workload to verdict ([`run`]), many over the machine's
//! cores ([`run_parallel`]), and a failing seed shrunk to the shortest prefix of its workload
//! that still fails ([`shrink`]). The verdict is [`violations_of`]: the invariants as this
//! workload and the default status mapping make them, less the divergence the design declares.
//! The world tests (`tests/world.rs`) and the soak command (`src/bin/soak.rs`) both run seeds
//! through here, so CI and the soak judge alike.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::atomic::{AtomicUsize, Ordering};

use shared::comment_marker::{KIND_CLOSED_CASE_CHANGES, MARKER_PROPERTY};

use crate::invariants;
use crate::world::{FaultKind, SimError, SimOptions, SimWorld};

/// Responder actions per seed, in CI and by default.
pub const ACTIONS: usize = 50;
/// Remote writes the integration may make per responder action, over a whole run (measured:
/// about 1.5 on average under faults; a ping-pong writes without end).
pub const MAX_WRITES_PER_ACTION: usize = 6;
/// Trace steps a failing run's report shows (`SIM_TRACE=<n>` shows more).
const TRACE_TAIL: usize = 60;

/// The trace steps a report shows: `SIM_TRACE`, else [`TRACE_TAIL`].
fn trace_tail() -> usize {
    std::env::var("SIM_TRACE")
        .ok()
        .and_then(|steps| steps.parse().ok())
        .unwrap_or(TRACE_TAIL)
}

/// A preset: the options of a seed.
pub type Preset = fn(u64) -> SimOptions;

/// One seed's run.
#[derive(Debug, Clone)]
pub struct SeedRun {
    pub seed: u64,
    /// The report of a failing run (shrunk when [`run_parallel`] ran it).
    pub outcome: Result<(), String>,
    pub faults: BTreeMap<FaultKind, usize>,
    /// Responder actions taken.
    pub actions: usize,
}

/// One seeded run of `actions` to quiet, judged.
pub async fn run(options: SimOptions, actions: usize) -> Result<SeedRun, SimError> {
    let seed = options.delivery.seed;
    let mut world = SimWorld::new(options)?;
    let outcome = run_world(&mut world, actions).await;
    Ok(SeedRun {
        seed,
        outcome,
        faults: world.faults_injected().clone(),
        actions: world.responder_actions(),
    })
}

/// [`run`] on a runtime of its own (one thread, paused clock), as each seed's world needs; a
/// world that cannot be built or a runtime that cannot start is a failing run.
pub fn run_blocking(options: SimOptions, actions: usize) -> SeedRun {
    let seed = options.delivery.seed;
    let failed = |report: String| SeedRun {
        seed,
        outcome: Err(report),
        faults: BTreeMap::new(),
        actions: 0,
    };
    match tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .start_paused(true)
        .build()
    {
        Ok(runtime) => runtime
            .block_on(run(options, actions))
            .unwrap_or_else(|error| failed(shared::error::error_chain(&error))),
        Err(error) => failed(format!("no runtime for the seed: {error}")),
    }
}

/// The shortest prefix of a failing seed's workload that still fails (the workload of fewer
/// actions is the same seed's first ones), found by bisection; its report.
pub fn shrink(preset: Preset, seed: u64, actions: usize, report: String) -> String {
    let (mut low, mut high, mut shortest) = (1, actions, report);
    while low < high {
        let middle = low + (high - low) / 2;
        match run_blocking(preset(seed), middle).outcome {
            Err(report) => {
                high = middle;
                shortest = report;
            }
            Ok(()) => low = middle + 1,
        }
    }
    format!(
        "seed {seed} fails with {actions} actions; the shortest failing prefix has {high} \
         (SIM_SEED={seed} SIM_ACTIONS={high} replays it):\n{shortest}"
    )
}

/// Runs `seeds` of `actions` each over `threads` threads, a world per seed on a thread of its
/// own (a world and its clock belong to their thread), each failing seed shrunk; `done` sees
/// each run as it ends. The runs in seed order.
pub fn run_parallel(
    preset: Preset,
    seeds: &[u64],
    actions: usize,
    threads: usize,
    done: &(dyn Fn(&SeedRun) + Sync),
) -> Vec<SeedRun> {
    let next = AtomicUsize::new(0);
    let mut runs: Vec<SeedRun> = std::thread::scope(|scope| {
        let workers: Vec<_> = (0..threads.max(1))
            .map(|_| {
                scope.spawn(|| {
                    let mut runs = Vec::new();
                    while let Some(&seed) = seeds.get(next.fetch_add(1, Ordering::Relaxed)) {
                        let mut run = run_blocking(preset(seed), actions);
                        if let Err(report) = run.outcome {
                            run.outcome = Err(shrink(preset, seed, actions, report));
                        }
                        done(&run);
                        runs.push(run);
                    }
                    runs
                })
            })
            .collect();
        workers
            .into_iter()
            .flat_map(|worker| {
                worker.join().unwrap_or_else(|panic| {
                    let message = panic
                        .downcast_ref::<String>()
                        .cloned()
                        .or_else(|| panic.downcast_ref::<&str>().map(|s| (*s).to_owned()))
                        .unwrap_or_default();
                    vec![SeedRun {
                        seed: u64::MAX,
                        outcome: Err(format!("a seed's thread panicked: {message}")),
                        faults: BTreeMap::new(),
                        actions: 0,
                    }]
                })
            })
            .collect()
    });
    runs.sort_by_key(|run| run.seed);
    runs
}

/// The machine's cores.
pub fn cores() -> usize {
    std::thread::available_parallelism().map_or(1, usize::from)
}

/// The workload, quiet, the reconcile, and the verdict; a failing run's report.
async fn run_world(world: &mut SimWorld, actions: usize) -> Result<(), String> {
    let outcome = async {
        world.run_workload(actions).await?;
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
                Err(world.report(&violations, trace_tail()))
            }
        }
        Err(error) => Err(format!(
            "{}\n{}",
            shared::error::error_chain(&error),
            world.report(&[], trace_tail())
        )),
    }
}

/// The Jira status the default mapping gives a case's status.
pub fn mapped_status(sir_status: &str) -> Option<String> {
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
pub fn violations_of(
    mut observed: invariants::World,
    closed_case_notes: &BTreeSet<String>,
) -> Vec<invariants::Violation> {
    let dlq = std::mem::take(&mut observed.dlq);
    let mut violations = pair_violations(&observed);
    // DESIGN: a closed case takes no change (SIR never reopens one); sir-client says so once on
    // the issue. A Jira comment, attachment, watcher or summary edit that reached sir-client only
    // after a responder closed the case (delivery late, SIR throttling, an outage, a crashed
    // delivery, its Automation message dropped and left to the sweep; a watcher fires no
    // Automation rule and waits for the issue's next change) is then missing on the case by
    // design, not lost.
    let closed_and_noted = |case: &str| {
        observed.closed_cases.contains(case)
            && observed.links.iter().any(|link| {
                link.case_id == case
                    && closed_case_notes.contains(&format!("issue {}", link.issue_key))
            })
    };
    violations.retain(|violation| match violation {
        invariants::Violation::CommentMissing { from, on, .. } => {
            !(closed_case_notes.contains(from)
                && on
                    .strip_prefix("case ")
                    .is_some_and(|case| observed.closed_cases.contains(case)))
        }
        invariants::Violation::TitleDiffers { case, issue, .. } => {
            !(observed.closed_cases.contains(case)
                && closed_case_notes.contains(&format!("issue {issue}")))
        }
        invariants::Violation::AttachmentMissing { on, .. } => {
            !on.strip_prefix("case ").is_some_and(closed_and_noted)
        }
        invariants::Violation::DescriptionDiffers { case, .. } => !closed_and_noted(case),
        invariants::Violation::CommentBodyDiffers { on, .. } => {
            !on.strip_prefix("case ").is_some_and(closed_and_noted)
        }
        // sir-client's note counts only fields, comments and attachments as changes a closed
        // case no longer takes, so a watcher goes unnoted.
        invariants::Violation::WatcherMissing { on, .. } => !on
            .strip_prefix("case ")
            .is_some_and(|case| observed.closed_cases.contains(case)),
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
pub fn closed_case_notes(world: &SimWorld) -> BTreeSet<String> {
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
