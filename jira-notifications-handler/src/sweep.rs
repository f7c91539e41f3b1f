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
//! plus one minute, because JQL dates have minute precision; an issue found before the cursor
//! was covered by the run that stored it and is skipped.
//!
//! The cursor (`SWEEP#jira:<KEY>` / `CURSOR` in the mapping table, [`SweepCursor`]) only moves
//! after the keys before it were handled: after each page, to the last issue handled (its
//! `updated` and key); after the last page, to the time the search started less
//! [`Sweeping::overlap`] (`caught_up`: the next search starts there, as Jira Cloud's search index
//! lags its writes, so a change made just before a search may only show in a later one). A
//! stopped run's place is then never behind a caught-up cursor, which the store would refuse (it
//! never moves a cursor back): a burst of more changes within the overlap than a run takes is
//! worked through, not re-read from its start by every run for good. A key
//! that fails leaves the cursor where it was; the other keys of its page are still handled and
//! the run returns `Err` naming the failed ones (Lambda retries, the next run searches the same
//! span). When no run has stored the cursor yet, a run whose search fails stores one at its own
//! start, so Jira down at installation does not move the start of the covered span to the first
//! run that succeeds. Work per run is bounded ([`Sweeping::max_issues`], [`Sweeping::time_budget`],
//! [`Sweeping::max_pages`]); a run that stops early leaves the cursor at the last issue it
//! handled, and the next run searches from there and skips, without re-reading them, the issues
//! at or before it in the search's order (`updated`, then key): so a burst of changes within
//! one minute (JQL cannot tell them apart) is worked through run by run instead of being
//! re-read from its start each time.
//!
//! Not coalesced: the sweep calls `sync_issue` directly rather than taking a re-read slot
//! (`coalesce`), which bounds floods of untrusted messages; the sweep's keys come from Jira
//! itself, bounded per run, and waiting for a slot would stall the run within its timeout.
//!
//! Deleted issues are not found by a search: the Automation delete rule (or the reconciler)
//! reports them.
//!
//! # The audit
//! The updated-since search only finds what changed since its cursor: an edit it missed (more
//! changes within one minute than a run's bound, a cursor moved past an outage, an edit made
//! while the integration was not deployed, a lost event whose ledger item was never written) is
//! never found again. So after the search each run audits up to [`Sweeping::max_audits`] open
//! issues of the project, round-robin in key order: `project = <KEY> AND statusCategory !=
//! Done AND key > <cursor> ORDER BY key ASC`, one page, each key through the same
//! [`NotificationHandler::sync_issue`] (an issue in sync publishes nothing). Its cursor
//! (`SWEEP#audit:<KEY>` / `CURSOR`, the same [`SweepCursor`]: `lastKey` the last audited key,
//! `positionMs` the run's start, so an older run never writes over a newer one) wraps to the
//! first open issue only when Jira says the page was the last (`isLast`): a page may hold fewer
//! keys than asked for while more follow. A key that fails is reported after the others (the
//! run returns `Err`, naming it) and the cursor still moves past it, so one issue that always
//! fails does not stall the audit; it is audited again next round. When the cursor's issue is gone
//! (deleted or moved: Jira answers 400 for an unknown key in JQL) the audit starts again from
//! the first open issue. The audit shares the run's time budget and runs after the search even
//! when the search failed (Jira down makes both fail; one bad issue in the search does not stop
//! the safety net).
//!
//! Rounds: a round starts with the run that audits from the first open issue and ends with the
//! run that wraps; the cursor carries the round's start (`roundStartedMs`). After a wrap the next
//! round starts only once [`Sweeping::audit_interval`] (the poller's `AUDIT_INTERVAL_MINUTES`)
//! has passed since the round that just ended started; until then runs do the updated-since
//! search only, so each open issue is read by the audit at most once per interval, as the
//! poller audits each pair, instead of every few minutes on a small project. A round longer than
//! the interval (more open issues than the runs of one interval audit) is followed by the next
//! at once. A cursor written before rounds were recorded starts the next round at once.

use std::time::Duration;

use serde::Serialize;
use shared::clock::Instant;
use shared::jira::{OpenIssuesPage, jira_timestamp_to_epoch_ms};
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
    /// Search pages per run at most.
    pub max_pages: u32,
    /// Issues synced per run at most (issues skipped as handled by the last run do not count).
    pub max_issues: u32,
    /// No issue is started after this much of a run (the audit included).
    pub time_budget: Duration,
    /// Open issues audited per run, after the search (0: no audit).
    pub max_audits: u32,
    /// The least time from the start of one audit round to the start of the next (module docs).
    pub audit_interval: Duration,
}

impl Default for Sweeping {
    /// Five minutes of overlap; up to 40 issues (each costs about four Jira calls) in 30 s (the
    /// function's timeout is 60 s), from up to 10 pages of 100; then 5 open issues audited (150
    /// an hour with the 2-minute schedule), a round over the open issues at most once an hour.
    fn default() -> Self {
        Sweeping {
            overlap: Duration::from_secs(5 * 60),
            page_size: 100,
            max_pages: 10,
            max_issues: 40,
            time_budget: Duration::from_secs(30),
            max_audits: 5,
            audit_interval: Duration::from_secs(60 * 60),
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
    /// Issues the search found that the last (stopped) run had handled.
    pub skipped: u32,
    /// The run reached the last page of its search.
    pub caught_up: bool,
    /// The cursor's position after the run (epoch milliseconds), if it was written.
    pub cursor_ms: Option<u64>,
    /// The open issues the audit synced (see the module docs).
    pub audited: Vec<SweptIssue>,
    /// The last key the audit handled, where the next run goes on; `None`: it starts from the
    /// first open issue (the audit wrapped, or did not run).
    pub audit_cursor: Option<String>,
}

fn millis(duration: Duration) -> u64 {
    u64::try_from(duration.as_millis()).unwrap_or(u64::MAX)
}

/// Where a run starts searching (epoch milliseconds) after `cursor`, at `now_ms`: the cursor's
/// position (a caught-up run stores where the next search starts, its own start less the
/// overlap; a stopped one the last issue it handled), or without a cursor `now_ms` less the
/// overlap. Issues the search finds before it (JQL's minute precision widens every search by
/// a minute) were covered by the run that stored the cursor and are skipped, so a stopped run's
/// place is never behind the stored cursor (which refuses to move back).
fn search_from(cursor: Option<&SweepCursor>, now_ms: u64, overlap: Duration) -> u64 {
    match cursor {
        Some(cursor) => cursor.position_ms,
        None => now_ms.saturating_sub(millis(overlap)),
    }
}

/// The cursor of a run that started at `started_ms` and reached the end of its search: the next
/// search starts `overlap` before it (Jira's search index lags its writes), and never before
/// `not_before`, the place the run resumed from or last stored (the store never moves a cursor
/// back; what is before that place was handled).
fn caught_up_at(started_ms: u64, overlap: Duration, not_before: u64) -> SweepCursor {
    SweepCursor {
        position_ms: started_ms.saturating_sub(millis(overlap)).max(not_before),
        caught_up: true,
        last_key: None,
        round_started_ms: None,
    }
}

/// Whole minutes back from `now_ms` that cover `from_ms`, plus one for JQL's minute precision.
fn minutes_back(from_ms: u64, now_ms: u64) -> u32 {
    let span = now_ms.saturating_sub(from_ms);
    u32::try_from(span.div_ceil(60_000) + 1).unwrap_or(u32::MAX)
}

/// The issue number of `key` (`SEC-12` → 12), the order of `ORDER BY key` within a project.
fn issue_number(key: &str) -> u64 {
    key.rsplit_once('-')
        .and_then(|(_, number)| number.parse().ok())
        .unwrap_or(0)
}

/// Where an issue stands in the search's order (`updated`, then key).
type Place = (u64, u64);

/// When the next audit round may start (epoch milliseconds), if the cursor says a round ended:
/// its start plus `interval`. `None`: a round is under way, or none is recorded, and the audit
/// goes on.
fn next_round_at(cursor: Option<&SweepCursor>, interval: Duration) -> Option<u64> {
    let cursor = cursor.filter(|c| c.caught_up && c.last_key.is_none())?;
    Some(cursor.round_started_ms?.saturating_add(millis(interval)))
}

/// What the audit of one run did.
#[derive(Debug, Default)]
struct Audit {
    issues: Vec<SweptIssue>,
    cursor: Option<String>,
}

/// The place up to which a stopped run handled everything, if the cursor says so.
fn resume_after(cursor: Option<&SweepCursor>) -> Option<Place> {
    let cursor = cursor.filter(|c| !c.caught_up)?;
    let key = cursor.last_key.as_deref()?;
    Some((cursor.position_ms, issue_number(key)))
}

impl NotificationHandler {
    /// The cursor's name in the mapping table.
    fn sweep_name(&self) -> String {
        format!("jira:{}", self.settings.project_key)
    }

    async fn advance(
        &self,
        report: &mut SweepReport,
        cursor: SweepCursor,
    ) -> Result<(), HandlerError> {
        let moved = self
            .store
            .advance_sweep_cursor(&self.sweep_name(), &cursor)
            .await
            .map_err(HandlerError::sweep("advance the cursor"))?;
        if moved {
            report.cursor_ms = Some(cursor.position_ms);
        } else {
            // Another run stored a cursor further on meanwhile (runs overlapped): it is kept.
            tracing::warn!(
                position_ms = cursor.position_ms,
                "the stored cursor is further on; kept"
            );
        }
        Ok(())
    }

    /// After a failed search: if no run ever stored the cursor, stores one at this run's start,
    /// so the span the sweep covers starts with its first run (less the overlap) and Jira down
    /// at installation does not let the start slide to the first run that succeeds, losing the
    /// issues made and closed meanwhile (the audit reads only open ones). A run whose search
    /// succeeds stores its own cursor as usual.
    async fn keep_first_span(&self, started_ms: u64) -> Result<(), HandlerError> {
        let name = self.sweep_name();
        let stored = self
            .store
            .sweep_cursor(&name)
            .await
            .map_err(HandlerError::sweep("read the cursor"))?;
        if stored.is_none() {
            let first = caught_up_at(started_ms, self.settings.sweep.overlap, 0);
            self.store
                .advance_sweep_cursor(&name, &first)
                .await
                .map_err(HandlerError::sweep("store the first run's cursor"))?;
        }
        Ok(())
    }

    /// One sweep: the updated-since search, then the audit (see the module docs).
    pub async fn sweep(&self) -> Result<SweepReport, HandlerError> {
        let started = Instant::now();
        let started_ms = shared::clock::now_epoch_millis();
        let searched = self.search_updated(started, started_ms).await;
        let mut audit = Audit::default();
        let audited = self.audit(started, started_ms, &mut audit).await;
        let mut report = match searched {
            Ok(report) => report,
            Err(error) => {
                // (an issue that failed leaves the cursor as it was, absent included)
                let search_failed = !matches!(error, HandlerError::SweepIssuesFailed { .. });
                if search_failed && let Err(cursor_error) = self.keep_first_span(started_ms).await {
                    tracing::error!(
                        error = %shared::error::error_chain(&cursor_error),
                        "the first run's cursor was not stored either"
                    );
                }
                if let Err(audit_error) = &audited {
                    tracing::error!(
                        error = %shared::error::error_chain(audit_error),
                        "the audit failed too"
                    );
                }
                return Err(error);
            }
        };
        audited?;
        report.audited = audit.issues;
        report.audit_cursor = audit.cursor;
        Ok(report)
    }

    /// The audit's cursor name in the mapping table.
    fn audit_name(&self) -> String {
        format!("audit:{}", self.settings.project_key)
    }

    /// The open issues after `after` (from the first when `None`), a page of up to `max`; a
    /// cursor whose issue Jira no longer knows (400) starts again from the first. Returns the
    /// page and the key it started after.
    async fn open_issues_page(
        &self,
        after: Option<String>,
        max: u32,
    ) -> Result<(OpenIssuesPage, Option<String>), HandlerError> {
        let project = &self.settings.project_key;
        match self
            .jira
            .open_issues_after(project, after.as_deref(), max)
            .await
        {
            Ok(page) => Ok((page, after)),
            Err(shared::Error::JiraStatus { status: 400, .. }) if after.is_some() => {
                tracing::warn!(
                    after,
                    "Jira no longer knows the audit cursor's issue; the audit starts again from \
                     the first open issue"
                );
                let page = self
                    .jira
                    .open_issues_after(project, None, max)
                    .await
                    .map_err(HandlerError::sweep("search Jira for open issues to audit"))?;
                Ok((page, None))
            }
            Err(error) => Err(HandlerError::sweep("search Jira for open issues to audit")(
                error,
            )),
        }
    }

    /// Audits up to [`Sweeping::max_audits`] open issues after the audit cursor (module docs).
    async fn audit(
        &self,
        started: Instant,
        started_ms: u64,
        audit: &mut Audit,
    ) -> Result<(), HandlerError> {
        let settings = self.settings.sweep;
        if settings.max_audits == 0 || started.elapsed() >= settings.time_budget {
            return Ok(());
        }
        let cursor = self
            .store
            .sweep_cursor(&self.audit_name())
            .await
            .map_err(HandlerError::sweep("read the audit cursor"))?;
        if let Some(next_round_ms) = next_round_at(cursor.as_ref(), settings.audit_interval)
            && started_ms < next_round_ms
        {
            tracing::debug!(
                next_round_ms,
                "the last audit round is done and the next is not due yet"
            );
            return Ok(());
        }
        // Mid-round: the round's start as recorded, or, on a cursor from before rounds were
        // recorded, the earliest run of the round known.
        let round_started = cursor.as_ref().and_then(|cursor| {
            cursor
                .last_key
                .as_ref()
                .map(|_| cursor.round_started_ms.unwrap_or(cursor.position_ms))
        });
        let after = cursor.and_then(|cursor| cursor.last_key);
        let (page, after) = self.open_issues_page(after, settings.max_audits).await?;
        // A run that audits from the first open issue starts a round.
        let round_started_ms = match (&after, round_started) {
            (Some(_), Some(round_started)) => round_started,
            _ => started_ms,
        };
        let mut failures = Vec::new();
        let mut stopped = false;
        // The last key tried, failed or not: where the next run goes on.
        let mut handled_to = after.clone();
        for key in page.keys {
            if started.elapsed() >= settings.time_budget {
                stopped = true;
                break;
            }
            handled_to = Some(key.clone());
            match self.sync_issue(&key, false).await {
                Ok(outcome) => {
                    audit.issues.push(SweptIssue {
                        issue_key: key,
                        outcome,
                    });
                }
                Err(error) => {
                    tracing::error!(
                        issue_key = key,
                        error = %shared::error::error_chain(&error),
                        "the audit could not sync the issue; it is audited again next round"
                    );
                    failures.push(SweepFailure {
                        issue_key: key,
                        error,
                    });
                }
            }
        }
        let wrapped = page.is_last && !stopped;
        let next = if wrapped { None } else { handled_to };
        audit.cursor = next.clone();
        if next != after || wrapped {
            let cursor = SweepCursor {
                position_ms: started_ms,
                caught_up: wrapped,
                last_key: next,
                round_started_ms: Some(round_started_ms),
            };
            self.store
                .advance_sweep_cursor(&self.audit_name(), &cursor)
                .await
                .map_err(HandlerError::sweep("advance the audit cursor"))?;
        }
        tracing::info!(
            audited = audit.issues.len(),
            failed = failures.len(),
            wrapped,
            cursor = audit.cursor,
            "Jira audit done"
        );
        if failures.is_empty() {
            Ok(())
        } else {
            Err(HandlerError::AuditIssuesFailed {
                audited: audit.issues.len(),
                failures,
            })
        }
    }

    /// The updated-since search (see the module docs).
    async fn search_updated(
        &self,
        started: Instant,
        started_ms: u64,
    ) -> Result<SweepReport, HandlerError> {
        let settings = self.settings.sweep;
        let cursor = self
            .store
            .sweep_cursor(&self.sweep_name())
            .await
            .map_err(HandlerError::sweep("read the cursor"))?;
        let from_ms = search_from(cursor.as_ref(), started_ms, settings.overlap);
        let minutes = minutes_back(from_ms, started_ms);
        let resume = resume_after(cursor.as_ref());
        let mut report = SweepReport {
            searched_minutes: minutes,
            ..SweepReport::default()
        };
        // The last issue handled, in the search's order: where a stopped run leaves the cursor.
        let mut last_handled: Option<(u64, String)> = None;
        // The cursor's position as stored: read at the start, then as this run moves it.
        let mut stored_ms = cursor.as_ref().map_or(0, |c| c.position_ms);
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
            let mut stopped = false;
            for issue in &page.issues {
                let updated_ms = issue
                    .updated
                    .as_deref()
                    .and_then(jira_timestamp_to_epoch_ms);
                let place = updated_ms.map(|at| (at, issue_number(&issue.key)));
                let handled_before = match (place, resume) {
                    (Some(place), Some(resume)) => place <= resume,
                    (Some((at, _)), None) => at < from_ms,
                    (None, _) => false,
                };
                if handled_before {
                    report.skipped += 1;
                    continue;
                }
                let synced =
                    u32::try_from(report.issues.len() + failures.len()).unwrap_or(u32::MAX);
                if synced >= settings.max_issues.max(1) || started.elapsed() >= settings.time_budget
                {
                    stopped = true;
                    break;
                }
                match self.sync_issue(&issue.key, false).await {
                    Ok(outcome) => {
                        report.issues.push(SweptIssue {
                            issue_key: issue.key.clone(),
                            outcome,
                        });
                        if let Some(at) = updated_ms {
                            last_handled = Some((at.min(started_ms), issue.key.clone()));
                        }
                    }
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
            let next_token = page.next_page_token.filter(|_| !stopped);
            if next_token.is_none() && !stopped {
                report.caught_up = true;
                let caught_up = caught_up_at(started_ms, settings.overlap, stored_ms);
                self.advance(&mut report, caught_up).await?;
                break;
            }
            if let Some((position_ms, key)) = &last_handled {
                let cursor = SweepCursor {
                    position_ms: *position_ms,
                    caught_up: false,
                    last_key: Some(key.clone()),
                    round_started_ms: None,
                };
                self.advance(&mut report, cursor).await?;
                stored_ms = stored_ms.max(*position_ms);
            }
            match next_token {
                Some(next) if report.pages < settings.max_pages => token = Some(next),
                _ => break,
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
            skipped = report.skipped,
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
    fn a_caught_up_cursor_holds_the_next_search_start_and_a_partial_one_the_last_issue_handled() {
        let overlap = Duration::from_secs(300);
        let now = 10_000_000;
        let caught_up = SweepCursor {
            position_ms: 9_000_000,
            caught_up: true,
            last_key: None,
            round_started_ms: None,
        };
        assert_eq!(search_from(Some(&caught_up), now, overlap), 9_000_000);
        assert_eq!(caught_up_at(9_300_000, overlap, 0), caught_up);
        assert_eq!(
            caught_up_at(9_300_000, overlap, 9_100_000).position_ms,
            9_100_000,
            "never behind the place the run resumed from"
        );
        assert_eq!(resume_after(Some(&caught_up)), None);
        let partial = SweepCursor {
            caught_up: false,
            last_key: Some("SEC-12".into()),
            ..caught_up
        };
        assert_eq!(search_from(Some(&partial), now, overlap), 9_000_000);
        assert_eq!(resume_after(Some(&partial)), Some((9_000_000, 12)));
        assert_eq!(search_from(None, now, overlap), 9_700_000);
    }

    #[test]
    fn the_next_audit_round_is_due_an_interval_after_the_wrapped_round_started() {
        let hour = Duration::from_secs(3_600);
        let wrapped = SweepCursor {
            position_ms: 5_000_000,
            caught_up: true,
            last_key: None,
            round_started_ms: Some(4_000_000),
        };
        assert_eq!(next_round_at(Some(&wrapped), hour), Some(7_600_000));
        let mid_round = SweepCursor {
            caught_up: false,
            last_key: Some("SEC-7".into()),
            ..wrapped.clone()
        };
        assert_eq!(next_round_at(Some(&mid_round), hour), None);
        let from_before_rounds = SweepCursor {
            round_started_ms: None,
            ..wrapped
        };
        assert_eq!(next_round_at(Some(&from_before_rounds), hour), None);
        assert_eq!(next_round_at(None, hour), None);
    }

    #[test]
    fn minutes_back_round_up_and_add_one_for_minute_precision() {
        assert_eq!(minutes_back(0, 0), 1);
        assert_eq!(minutes_back(0, 1), 2);
        assert_eq!(minutes_back(0, 60_000), 2);
        assert_eq!(minutes_back(0, 60_001), 3);
    }
}
