//! Pauses after Jira's 429s, each held for the part of the API that Jira limited.
//!
//! Jira Cloud limits a site three ways at once and names the limit that refused a request in
//! `RateLimit-Reason`: `jira-burst-based` is one endpoint and HTTP method, `jira-per-issue-on-write`
//! the writes to one issue, anything else (a quota) the whole site. A request sent to a limited
//! part before its `Retry-After` has passed is refused again, and Atlassian warns it earns the
//! same or a longer wait. So the client remembers each refusal's pause for the part it names and,
//! before sending, holds back only the requests that fall under a paused part: reads of the same
//! issue, writes to other issues and other endpoints go on at once. The pauses live as long as
//! the client, which is one Lambda container's: the next invocations it serves respect them too.

use std::collections::HashMap;
use std::fmt;
use std::sync::{Mutex, PoisonError};
use std::time::Duration;

use clock::Instant;
use reqwest::Method;

/// The part of Jira's API that one of its limits covers.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum LimitedPart {
    /// Every request to the site.
    Site,
    /// One endpoint (path with issue keys and ids as placeholders) and one HTTP method.
    Endpoint { method: Method, endpoint: String },
    /// Writes (POST, PUT, DELETE, PATCH) to one issue.
    IssueWrites { issue: String },
}

impl fmt::Display for LimitedPart {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            LimitedPart::Site => f.write_str("the whole Jira site"),
            LimitedPart::Endpoint { method, endpoint } => write!(f, "{method} {endpoint}"),
            LimitedPart::IssueWrites { issue } => write!(f, "writes to {issue}"),
        }
    }
}

impl LimitedPart {
    /// The part a 429 with this `RateLimit-Reason` limited, for a request of `method` to `path`.
    /// A reason the client does not know (or none) is taken as the whole site: the safe reading.
    pub fn refused(reason: Option<&str>, method: &Method, path: &str) -> LimitedPart {
        let (endpoint, issue) = endpoint_of(path);
        match (reason, issue) {
            (Some("jira-burst-based"), _) => LimitedPart::Endpoint {
                method: method.clone(),
                endpoint,
            },
            (Some("jira-per-issue-on-write"), Some(issue)) => LimitedPart::IssueWrites { issue },
            _ => LimitedPart::Site,
        }
    }

    /// Whether a request of `method` to `path` falls under this part.
    fn covers(&self, method: &Method, path: &str) -> bool {
        match self {
            LimitedPart::Site => true,
            LimitedPart::Endpoint {
                method: limited,
                endpoint,
            } => limited == method && endpoint_of(path).0 == *endpoint,
            LimitedPart::IssueWrites { issue } => {
                is_write(method) && endpoint_of(path).1.as_deref() == Some(issue.as_str())
            }
        }
    }
}

fn is_write(method: &Method) -> bool {
    [Method::POST, Method::PUT, Method::DELETE, Method::PATCH].contains(method)
}

/// A REST path with the issue key or id after `issue/` and numeric ids as placeholders
/// (`/rest/api/3/issue/SEC-1/comment/10001` → `/rest/api/3/issue/{issue}/comment/{id}`), and that
/// issue.
fn endpoint_of(path: &str) -> (String, Option<String>) {
    let mut issue = None;
    let mut previous = "";
    let shape: Vec<&str> = path
        .split('/')
        .map(|segment| {
            let shaped = if previous == "issue" && !segment.is_empty() {
                issue = Some(segment.to_owned());
                "{issue}"
            } else if previous != "api"
                && !segment.is_empty()
                && segment.bytes().all(|b| b.is_ascii_digit())
            {
                "{id}"
            } else {
                segment
            };
            previous = segment;
            shaped
        })
        .collect();
    (shape.join("/"), issue)
}

/// The pauses Jira asked for, per limited part.
#[derive(Debug, Default)]
pub struct Pacing {
    paused_until: Mutex<HashMap<LimitedPart, Instant>>,
}

impl Pacing {
    /// Jira refused a request for `part` and asked for `pause`.
    pub fn pause(&self, part: LimitedPart, pause: Duration, now: Instant) {
        let until = now + pause;
        let mut paused = self
            .paused_until
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        let entry = paused.entry(part).or_insert(until);
        *entry = (*entry).max(until);
    }

    /// How long a request of `method` to `path` must wait, and for which part (the longest of
    /// the pauses it falls under); `None` when it may go now. Forgets the pauses that are over.
    pub fn wait_before(
        &self,
        method: &Method,
        path: &str,
        now: Instant,
    ) -> Option<(LimitedPart, Duration)> {
        let mut paused = self
            .paused_until
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        paused.retain(|_, until| *until > now);
        paused
            .iter()
            .filter(|(part, _)| part.covers(method, path))
            .max_by_key(|(_, until)| **until)
            .map(|(part, until)| (part.clone(), *until - now))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const COMMENT: &str = "/rest/api/3/issue/SEC-1/comment";

    #[test]
    fn reasons_name_the_part_jira_limited() {
        assert_eq!(
            LimitedPart::refused(Some("jira-burst-based"), &Method::POST, COMMENT),
            LimitedPart::Endpoint {
                method: Method::POST,
                endpoint: "/rest/api/3/issue/{issue}/comment".into()
            }
        );
        assert_eq!(
            LimitedPart::refused(Some("jira-per-issue-on-write"), &Method::POST, COMMENT),
            LimitedPart::IssueWrites {
                issue: "SEC-1".into()
            }
        );
        for reason in [Some("jira-quota-tenant-based"), Some("something-new"), None] {
            assert_eq!(
                LimitedPart::refused(reason, &Method::GET, "/rest/api/3/myself"),
                LimitedPart::Site
            );
        }
    }

    #[test]
    fn an_issue_write_pause_holds_back_only_writes_to_that_issue() {
        let pacing = Pacing::default();
        let now = Instant::now();
        pacing.pause(
            LimitedPart::IssueWrites {
                issue: "SEC-1".into(),
            },
            Duration::from_secs(2),
            now,
        );
        let (part, wait) = pacing
            .wait_before(&Method::PUT, "/rest/api/3/issue/SEC-1", now)
            .expect("a write to SEC-1 waits");
        assert_eq!(part.to_string(), "writes to SEC-1");
        assert_eq!(wait, Duration::from_secs(2));
        assert!(pacing.wait_before(&Method::GET, COMMENT, now).is_none());
        assert!(
            pacing
                .wait_before(&Method::POST, "/rest/api/3/issue/SEC-2/comment", now)
                .is_none()
        );
        assert!(
            pacing
                .wait_before(&Method::POST, COMMENT, now + Duration::from_secs(2))
                .is_none(),
            "the pause is over"
        );
    }

    #[test]
    fn an_endpoint_pause_holds_back_that_method_on_that_endpoint_for_every_issue() {
        let pacing = Pacing::default();
        let now = Instant::now();
        pacing.pause(
            LimitedPart::refused(Some("jira-burst-based"), &Method::POST, COMMENT),
            Duration::from_secs(1),
            now,
        );
        assert!(
            pacing
                .wait_before(&Method::POST, "/rest/api/3/issue/SEC-9/comment", now)
                .is_some()
        );
        assert!(pacing.wait_before(&Method::GET, COMMENT, now).is_none());
        assert!(
            pacing
                .wait_before(&Method::POST, "/rest/api/3/issue/SEC-9/watchers", now)
                .is_none()
        );
    }

    #[test]
    fn a_site_pause_holds_back_everything_and_the_longest_pause_wins() {
        let pacing = Pacing::default();
        let now = Instant::now();
        pacing.pause(
            LimitedPart::IssueWrites {
                issue: "SEC-1".into(),
            },
            Duration::from_secs(5),
            now,
        );
        pacing.pause(LimitedPart::Site, Duration::from_secs(1), now);
        pacing.pause(LimitedPart::Site, Duration::from_millis(500), now);
        assert_eq!(
            pacing.wait_before(&Method::GET, "/rest/api/3/myself", now),
            Some((LimitedPart::Site, Duration::from_secs(1))),
            "a shorter pause does not shorten a longer one"
        );
        assert_eq!(
            pacing
                .wait_before(&Method::POST, COMMENT, now)
                .map(|(part, _)| part),
            Some(LimitedPart::IssueWrites {
                issue: "SEC-1".into()
            })
        );
    }
}
