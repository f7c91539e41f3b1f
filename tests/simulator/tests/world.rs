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
            let violations = invariants::check_all(&observed, &|_| None, MAX_WRITES_PER_ACTION);
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
