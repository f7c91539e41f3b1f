//! The Jira sweep: on its schedule the handler asks Jira which of the project's issues were
//! updated since the last sweep and puts each through [`NotificationHandler::sync_issue`], the
//! very path an Automation message takes (re-read, compare with the snapshot, publish only what
//! changed). An issue already synced publishes nothing, so the sweep is harmless next to working
//! Automation rules and makes the Jira → SIR half work without them (rules missing, disabled or
//! out of monthly runs), with a delay of at most one sweep interval.
//!
//! The search: `POST /search/jql` with `project = <KEY> AND updated >= "-<N>m" ORDER BY updated
//! ASC, key ASC`, `fields: ["updated"]`, paged by `nextPageToken`. Relative minutes, not a
//! wall-clock date: JQL reads an absolute date in the integration user's time zone (from their
//! Jira profile), which the handler would have to read and follow; a period relative to Jira's
//! own "now" involves no time zone and no clock of ours. `N` covers the time since the cursor
//! plus [`Sweeping::overlap`] (Jira Cloud's search index lags its writes, so a change made just
//! before a search may only show in a later one) plus one minute, because JQL dates have minute
//! precision.
//!
//! The cursor (`SWEEP#jira:<KEY>` / `CURSOR` in the mapping table, [`SweepCursor`]) only moves
//! after the keys before it were handled: after each page, to the `updated` of the page's last
//! issue; after the last page, to the time the search started (`caught_up`). A key that fails
//! leaves the cursor where it was; the other keys of its page are still handled and the run
//! returns `Err` naming the failed ones (Lambda retries, the next run searches the same span).
//! Work per run is bounded ([`Sweeping::max_pages`] pages of [`Sweeping::page_size`], and
//! [`Sweeping::time_budget`]); a run that stops early leaves the cursor at the last issue it
//! handled and the next run goes on from there.
//!
//! Not coalesced: the sweep calls `sync_issue` directly rather than taking a re-read slot
//! (`coalesce`), which bounds floods of untrusted messages; the sweep's keys come from Jira
//! itself, bounded per run, and waiting for a slot would stall the run within its timeout.
//!
//! Deleted issues are not found by a search: the Automation delete rule (or the reconciler)
//! reports them.

use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use serde::Serialize;
use shared::jira::jira_timestamp_to_epoch_ms;
use shared::store::SweepCursor;

use crate::error::{HandlerError, SweepFailure};
use crate::{NotificationHandler, NotificationOutcome};

/// How the sweep runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Sweeping {
    /// How far before the cursor a caught-up sweep searches again (Jira's search lag, clock skew).
    pub overlap: Duration,
    /// Issues per search page.
    pub page_size: u32,
    /// Pages per run at most.
    pub max_pages: u32,
    /// No new page is started after this much of a run.
    pub time_budget: Duration,
}

impl Default for Sweeping {
    /// Five minutes of overlap; up to 4 pages of 25 issues within 30 s (the function's timeout is
    /// 60 s and each issue costs about four Jira calls).
    fn default() -> Self {
        Sweeping {
            overlap: Duration::from_secs(5 * 60),
            page_size: 25,
            max_pages: 4,
            time_budget: Duration::from_secs(30),
        }
    }
}

/// One issue the sweep handled.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SweptIssue {
    pub issue_key: String,
    pub outcome: NotificationOutcome,
}

/// What one sweep did (the Lambda's response to a Scheduled Event).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SweepReport {
    /// `N` of `updated >= "-Nm"`.
    pub searched_minutes: u32,
    pub pages: u32,
    pub issues: Vec<SweptIssue>,
    /// The run reached the last page of its search.
    pub caught_up: bool,
    /// The cursor's position after the run (epoch milliseconds), if it was written.
    pub cursor_ms: Option<u64>,
}

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

fn millis(duration: Duration) -> u64 {
    u64::try_from(duration.as_millis()).unwrap_or(u64::MAX)
}

/// Where a run starts searching (epoch milliseconds) after `cursor`, at `now_ms`.
fn search_from(cursor: Option<SweepCursor>, now_ms: u64, overlap: Duration) -> u64 {
    match cursor {
        Some(cursor) if cursor.caught_up => cursor.position_ms.saturating_sub(millis(overlap)),
        // Stopped part-way: what is before the position was handled; only JQL's minute
        // precision needs a margin (added to every search below).
        Some(cursor) => cursor.position_ms,
        None => now_ms.saturating_sub(millis(overlap)),
    }
}

/// Whole minutes back from `now_ms` that cover `from_ms`, plus one for JQL's minute precision.
fn minutes_back(from_ms: u64, now_ms: u64) -> u32 {
    let span = now_ms.saturating_sub(from_ms);
    u32::try_from(span.div_ceil(60_000) + 1).unwrap_or(u32::MAX)
}

impl NotificationHandler {
    /// The cursor's name in the mapping table.
    fn sweep_name(&self) -> String {
        format!("jira:{}", self.settings.project_key)
    }

    /// One sweep (see the module docs).
    pub async fn sweep(&self) -> Result<SweepReport, HandlerError> {
        let settings = self.settings.sweep;
        let started = Instant::now();
        let started_ms = now_ms();
        let name = self.sweep_name();
        let cursor = self
            .store
            .sweep_cursor(&name)
            .await
            .map_err(HandlerError::sweep("read the cursor"))?;
        let minutes = minutes_back(search_from(cursor, started_ms, settings.overlap), started_ms);
        let mut report = SweepReport {
            searched_minutes: minutes,
            ..SweepReport::default()
        };
        let mut token: Option<String> = None;
        loop {
            let page = self
                .jira
                .updated_issues_page(
                    &self.settings.project_key,
                    minutes,
                    settings.page_size.max(1),
                    token.as_deref(),
                )
                .await
                .map_err(HandlerError::sweep("search Jira"))?;
            report.pages += 1;
            let mut failures = Vec::new();
            for issue in &page.issues {
                match self.sync_issue(&issue.key, false).await {
                    Ok(outcome) => report.issues.push(SweptIssue {
                        issue_key: issue.key.clone(),
                        outcome,
                    }),
                    Err(error) => {
                        tracing::error!(
                            issue_key = issue.key,
                            error = %shared::error::error_chain(&error),
                            "the sweep could not sync the issue; the cursor stays before it"
                        );
                        failures.push(SweepFailure {
                            issue_key: issue.key.clone(),
                            error,
                        });
                    }
                }
            }
            if !failures.is_empty() {
                return Err(HandlerError::SweepIssuesFailed {
                    handled: report.issues.len(),
                    failures,
                });
            }
            let next = match page.next_page_token {
                None => {
                    report.caught_up = true;
                    Some(SweepCursor {
                        position_ms: started_ms,
                        caught_up: true,
                    })
                }
                Some(next) => {
                    token = Some(next);
                    page.issues
                        .last()
                        .and_then(|issue| issue.updated.as_deref())
                        .and_then(jira_timestamp_to_epoch_ms)
                        .map(|position_ms| SweepCursor {
                            position_ms: position_ms.min(started_ms),
                            caught_up: false,
                        })
                }
            };
            if let Some(next) = next {
                self.store
                    .advance_sweep_cursor(&name, &next)
                    .await
                    .map_err(HandlerError::sweep("advance the cursor"))?;
                report.cursor_ms = Some(next.position_ms);
            }
            if report.caught_up
                || report.pages >= settings.max_pages
                || started.elapsed() >= settings.time_budget
            {
                break;
            }
        }
        let published = report
            .issues
            .iter()
            .filter(|i| {
                matches!(
                    i.outcome,
                    NotificationOutcome::Created
                        | NotificationOutcome::Updated
                        | NotificationOutcome::Deleted
                )
            })
            .count();
        tracing::info!(
            minutes,
            pages = report.pages,
            issues = report.issues.len(),
            published,
            caught_up = report.caught_up,
            "Jira sweep done"
        );
        Ok(report)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_caught_up_cursor_is_searched_again_by_the_overlap_and_a_partial_one_from_its_position() {
        let overlap = Duration::from_secs(300);
        let now = 10_000_000;
        let caught_up = SweepCursor {
            position_ms: 9_000_000,
            caught_up: true,
        };
        assert_eq!(search_from(Some(caught_up), now, overlap), 8_700_000);
        let partial = SweepCursor {
            caught_up: false,
            ..caught_up
        };
        assert_eq!(search_from(Some(partial), now, overlap), 9_000_000);
        assert_eq!(search_from(None, now, overlap), 9_700_000);
    }

    #[test]
    fn minutes_back_round_up_and_add_one_for_minute_precision() {
        assert_eq!(minutes_back(0, 0), 1);
        assert_eq!(minutes_back(0, 1), 2);
        assert_eq!(minutes_back(0, 60_000), 2);
        assert_eq!(minutes_back(0, 60_001), 3);
    }
}
