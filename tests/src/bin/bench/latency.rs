//! Latency through the whole pipeline: from a responder's change on one side to the moment it
//! is visible on the other, for the four kinds issue 15 names.
//!
//! Each sample is taken in a quiet world: the change is made, the pipeline is driven (every
//! route delivered in turn, as `Integration::settle_for` does) while a watcher looks at the
//! other side every 2 ms; the time is the change's instant to the first look that sees it. The
//! pipeline then runs until quiet again (echoes included) before the next sample, so samples do
//! not queue behind each other.
//!
//! The samples go round [`PAIRS`] synced pairs, so one issue sees a change about every 10 s: a
//! responder's single change is what is measured. More than three re-reads of one issue in a
//! 10 s window wait for the next window (jira-notifications-handler's coalescing), which a bench
//! changing one issue every 2–3 s would otherwise mostly measure.

use std::cell::Cell;
use std::time::{Duration, Instant};

use integration_tests::HarnessError;
use integration_tests::pipeline::Integration;

use crate::{emulator, jira_pair, settled, sir_pair, world_with_people};

/// The kinds of change measured, in table order.
pub const KINDS: [&str; 4] = [
    "SIR comment → Jira",
    "SIR status change → Jira",
    "Jira comment → SIR",
    "Jira transition → SIR",
];

/// The synced pairs the samples of one kind go round.
pub const PAIRS: usize = 4;

/// How long one change may take to show before the bench gives up on it.
const GIVE_UP_AFTER: Duration = Duration::from_secs(60);

/// Drives the pipeline until `visible` holds; the time from `changed` to the first look that
/// saw it. The delivery round in progress when it shows is finished, never cut off (a handler
/// stopped mid-call would leave a lease for the next sample to wait out).
async fn until_visible(
    it: &Integration,
    changed: Instant,
    visible: impl Fn() -> bool,
) -> Result<Duration, HarnessError> {
    let seen: Cell<Option<Duration>> = Cell::new(None);
    let watch = async {
        while seen.get().is_none() && changed.elapsed() < GIVE_UP_AFTER {
            if visible() {
                seen.set(Some(changed.elapsed()));
            } else {
                tokio::time::sleep(Duration::from_millis(2)).await;
            }
        }
    };
    let drive = async {
        while seen.get().is_none() && changed.elapsed() < GIVE_UP_AFTER {
            it.settle_for(Duration::ZERO, Duration::from_secs(5))
                .await?;
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
        Ok::<(), HarnessError>(())
    };
    let ((), driven) = tokio::join!(watch, drive);
    driven?;
    seen.get().ok_or_else(|| {
        HarnessError::Setup(format!(
            "a change was not visible on the other side within {GIVE_UP_AFTER:?}"
        ))
    })
}

/// `samples` latencies of `kind`, each from a quiet world.
pub async fn sample(kind: &str, samples: usize) -> Result<Vec<Duration>, HarnessError> {
    let (it, accounts) = world_with_people().await?;
    let ann = accounts["ann@example.com"].clone();
    let serr = |what: &'static str| move |e: sir_emulator::Error| emulator(what)(e.to_string());
    let jerr = |what: &'static str| move |e: jira_emulator::Error| emulator(what)(e.to_string());
    let sir_born = kind.starts_with("SIR");
    // (case id, issue key) of each pair.
    let mut pairs = Vec::with_capacity(PAIRS);
    for _ in 0..PAIRS {
        pairs.push(if sir_born {
            sir_pair(&it).await?
        } else {
            let key = jira_pair(&it, &accounts).await?;
            (case_of(&it, &key)?, key)
        });
    }
    let mut times = Vec::with_capacity(samples);
    for i in 0..samples {
        let (id, key) = &pairs[i % PAIRS];
        // Each pair alternates: the first change of a pair is its i / PAIRS = 0th.
        let even = (i / PAIRS).is_multiple_of(2);
        let text = format!("latency probe {i}");
        let changed = Instant::now();
        let time = match kind {
            "SIR comment → Jira" => {
                it.sir
                    .add_comment(crate::HUMAN, id, &text)
                    .map_err(serr("commenting"))?;
                until_visible(&it, changed, || {
                    it.jira.issue(key).is_some_and(|issue| {
                        issue
                            .comments
                            .iter()
                            .any(|c| c.body.to_string().contains(&text))
                    })
                })
                .await?
            }
            "SIR status change → Jira" => {
                // Submitted → D&A, then D&A ⇄ Post-incident Activities: In Progress ⇄ In Review
                // in Jira, a visible change every time.
                let (sir_status, jira_status) = if even {
                    ("Detection and Analysis", "In Progress")
                } else {
                    ("Post-incident Activities", "In Review")
                };
                it.sir
                    .set_status(crate::HUMAN, id, sir_status)
                    .map_err(serr("moving the case"))?;
                until_visible(&it, changed, || {
                    it.jira
                        .issue(key)
                        .is_some_and(|issue| issue.status == jira_status)
                })
                .await?
            }
            "Jira comment → SIR" => {
                it.jira
                    .comment(&ann, key, text.clone())
                    .map_err(jerr("commenting"))?;
                until_visible(&it, changed, || {
                    it.sir
                        .case(id)
                        .is_some_and(|case| case.comments.iter().any(|c| c.body.contains(&text)))
                })
                .await?
            }
            "Jira transition → SIR" => {
                let (jira_status, sir_status) = if even {
                    ("In Progress", "Detection and Analysis")
                } else {
                    ("In Review", "Post-incident Activities")
                };
                it.jira
                    .transition_to(&ann, key, jira_status)
                    .map_err(jerr("moving the issue"))?;
                until_visible(&it, changed, || {
                    it.sir
                        .case(id)
                        .is_some_and(|case| case.case_status == sir_status)
                })
                .await?
            }
            other => return Err(HarnessError::Setup(format!("no latency kind {other}"))),
        };
        times.push(time);
        settled(&it).await?;
    }
    Ok(times)
}

/// The case sir-client created for the Jira-born issue `key` (its `jira-issue-key` tag).
fn case_of(it: &Integration, key: &str) -> Result<String, HarnessError> {
    it.sir
        .cases()
        .into_iter()
        .find(|case| {
            case.tags
                .get(shared::sir::JIRA_ISSUE_TAG)
                .is_some_and(|tagged| tagged == key)
        })
        .map(|case| case.case_id)
        .ok_or_else(|| HarnessError::Setup(format!("no case was created for {key}")))
}

/// The `q`-quantile of `times` (nearest rank), in milliseconds.
pub fn quantile_ms(times: &[Duration], q: f64) -> f64 {
    let mut sorted: Vec<Duration> = times.to_vec();
    sorted.sort_unstable();
    if sorted.is_empty() {
        return f64::NAN;
    }
    let rank = ((q * sorted.len() as f64).ceil() as usize).clamp(1, sorted.len());
    sorted[rank - 1].as_secs_f64() * 1000.0
}
