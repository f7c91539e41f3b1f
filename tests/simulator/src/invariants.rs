//! The invariants of issue 14, checked once the world is quiet and the reconciler has run, as
//! pure functions over plain data the world hands over ([`World`]). Each check returns the
//! [`Violation`]s it finds; [`check_all`] runs them all.
//!
//! Identity of copies: a comment the integration wrote names the comment it was copied from
//! (`copied_from`: the marker property on a Jira comment, the marker in a SIR comment's body), an
//! attachment is identified by its name on both sides (the world strips the prefix sir-client
//! gives a Jira attachment's name in SIR).
//!
//! Descriptions agree when the case holds what SIR would hold for the issue's text above the
//! details block (README "The description": the text above the block is the synced part, clipped
//! to SIR's limit, or the "has no description" placeholder): the responder's text is compared,
//! not its rendering. Watchers are judged only for the ones a responder added (the poller adds
//! the response team to a case, Jira the integration user to an issue).

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

use shared::issue_description::sir_description_for_issue;
use shared::text::normalize_text;

/// A SIR case as the world sees it at the end.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Case {
    pub id: String,
    pub title: String,
    pub status: String,
    pub description: String,
    pub comments: Vec<CaseComment>,
    pub attachments: Vec<Attachment>,
    /// Watchers' e-mails.
    pub watchers: Vec<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CaseComment {
    pub id: String,
    pub body: String,
    pub creator: String,
    /// The Jira comment id this comment was copied from (`None`: written by a responder).
    pub copied_from: Option<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Attachment {
    pub name: String,
    pub size: u64,
}

/// A Jira issue as the world sees it at the end.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Issue {
    pub key: String,
    pub summary: String,
    pub status: String,
    /// The description as text (the ADF document rendered), details block included.
    pub description: String,
    pub comments: Vec<IssueComment>,
    pub attachments: Vec<Attachment>,
    /// Watchers' e-mails (those Jira shows).
    pub watchers: Vec<String>,
    /// The case the integration created this issue for (its identity property); `None` for an
    /// issue a responder created.
    pub made_for_case: Option<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct IssueComment {
    pub id: String,
    /// The body as text.
    pub body: String,
    pub author: String,
    /// The SIR comment id in the comment's marker property (`None`: written by a responder).
    pub copied_from: Option<String>,
}

/// The mapping table's case ⇄ issue link.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Link {
    pub case_id: String,
    pub issue_key: String,
}

/// A message left in a function's DLQ, and whether the reconciler converged its pair since.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DlqEntry {
    pub function: String,
    pub payload: String,
    pub converged: bool,
}

/// The remote writes the integration made (both sides together) over a span of `actions`
/// responder actions, `action` naming the span.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ActionWrites {
    pub action: String,
    pub actions: usize,
    pub writes: usize,
}

/// Everything the checks read.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct World {
    pub cases: Vec<Case>,
    pub issues: Vec<Issue>,
    pub links: Vec<Link>,
    /// Cases a responder closed at some point of the run.
    pub closed_cases: BTreeSet<String>,
    pub dlq: Vec<DlqEntry>,
    pub writes: Vec<ActionWrites>,
    /// (case id, e-mail) of each watcher a responder added to a case.
    pub case_watchers_added: BTreeSet<(String, String)>,
    /// (issue key, e-mail) of each watcher a responder added to an issue.
    pub issue_watchers_added: BTreeSet<(String, String)>,
    /// Issues a responder deleted.
    pub deleted_issues: BTreeSet<String>,
    /// Links the integration marked broken (one side deleted).
    pub broken_links: Vec<Link>,
}

/// The SIR status that means closed.
pub const CLOSED: &str = "Closed";

/// One broken invariant, with what a reader needs to find it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Violation {
    CaseWithoutIssue {
        case: String,
    },
    CaseWithManyIssues {
        case: String,
        issues: Vec<String>,
    },
    IssueWithoutCase {
        issue: String,
    },
    IssueWithManyCases {
        issue: String,
        cases: Vec<String>,
    },
    LinkToMissing {
        case: String,
        issue: String,
    },
    CommentMissing {
        from: String,
        comment: String,
        on: String,
    },
    CommentDoubled {
        from: String,
        comment: String,
        on: String,
        copies: usize,
    },
    CommentCopiedBack {
        comment: String,
        on: String,
        copy_of: String,
    },
    AttachmentMissing {
        name: String,
        on: String,
    },
    AttachmentDoubled {
        name: String,
        on: String,
        copies: usize,
    },
    AttachmentSizeDiffers {
        name: String,
        case_size: u64,
        issue_size: u64,
    },
    TitleDiffers {
        case: String,
        title: String,
        issue: String,
        summary: String,
    },
    DescriptionDiffers {
        case: String,
        description: String,
        issue: String,
        expected: String,
    },
    CommentBodyDiffers {
        comment: String,
        on: String,
        copy_of: String,
        body: String,
        original: String,
    },
    WatcherMissing {
        email: String,
        added_to: String,
        on: String,
    },
    DeletedIssueNotRecorded {
        issue: String,
        case: String,
    },
    StatusDiffers {
        case: String,
        status: String,
        issue: String,
        found: String,
        expected: String,
    },
    ClosedCaseReopened {
        case: String,
        status: String,
    },
    TooManyWrites {
        action: String,
        writes: usize,
        bound: usize,
    },
    DlqNotConverged {
        function: String,
        payload: String,
    },
}

impl fmt::Display for Violation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::CaseWithoutIssue { case } => write!(f, "case {case} has no issue"),
            Self::CaseWithManyIssues { case, issues } => {
                write!(
                    f,
                    "case {case} has {} issues: {}",
                    issues.len(),
                    issues.join(", ")
                )
            }
            Self::IssueWithoutCase { issue } => {
                write!(
                    f,
                    "issue {issue} (made by the integration or linked) has no case"
                )
            }
            Self::IssueWithManyCases { issue, cases } => {
                write!(
                    f,
                    "issue {issue} has {} cases: {}",
                    cases.len(),
                    cases.join(", ")
                )
            }
            Self::LinkToMissing { case, issue } => {
                write!(
                    f,
                    "the link {case} ⇄ {issue} names something that does not exist"
                )
            }
            Self::CommentMissing { from, comment, on } => {
                write!(f, "comment {comment} of {from} was never copied to {on}")
            }
            Self::CommentDoubled {
                from,
                comment,
                on,
                copies,
            } => {
                write!(f, "comment {comment} of {from} is on {on} {copies} times")
            }
            Self::CommentCopiedBack {
                comment,
                on,
                copy_of,
            } => write!(
                f,
                "comment {comment} on {on} copies {copy_of}, which the integration itself wrote"
            ),
            Self::AttachmentMissing { name, on } => {
                write!(f, "attachment {name} is missing on {on}")
            }
            Self::AttachmentDoubled { name, on, copies } => {
                write!(f, "attachment {name} is on {on} {copies} times")
            }
            Self::AttachmentSizeDiffers {
                name,
                case_size,
                issue_size,
            } => write!(
                f,
                "attachment {name} has {case_size} bytes on the case and {issue_size} on the issue"
            ),
            Self::TitleDiffers {
                case,
                title,
                issue,
                summary,
            } => write!(
                f,
                "case {case} is titled {title:?} but issue {issue} is summarised {summary:?}"
            ),
            Self::DescriptionDiffers {
                case,
                description,
                issue,
                expected,
            } => write!(
                f,
                "case {case} is described {description:?} but issue {issue}'s text asks for {expected:?}"
            ),
            Self::CommentBodyDiffers {
                comment,
                on,
                copy_of,
                body,
                original,
            } => write!(
                f,
                "comment {comment} on {on} copies {copy_of} but reads {body:?}, not {original:?}"
            ),
            Self::WatcherMissing {
                email,
                added_to,
                on,
            } => write!(
                f,
                "watcher {email} added to {added_to} is not watching {on}"
            ),
            Self::DeletedIssueNotRecorded { issue, case } => write!(
                f,
                "issue {issue} was deleted but the link to case {case} is not marked broken"
            ),
            Self::StatusDiffers {
                case,
                status,
                issue,
                found,
                expected,
            } => write!(
                f,
                "case {case} is {status:?}, so issue {issue} should be {expected:?}, but it is {found:?}"
            ),
            Self::ClosedCaseReopened { case, status } => {
                write!(f, "case {case} was closed and is now {status:?}")
            }
            Self::TooManyWrites {
                action,
                writes,
                bound,
            } => write!(
                f,
                "responder action {action} caused {writes} remote writes (bound {bound}): ping-pong?"
            ),
            Self::DlqNotConverged { function, payload } => write!(
                f,
                "{function}'s DLQ holds a message the reconciler did not converge: {payload}"
            ),
        }
    }
}

/// Every check; `status_for` maps a case status to the issue status it must have (`None`: any).
pub fn check_all(
    world: &World,
    status_for: &dyn Fn(&str) -> Option<String>,
    max_writes_per_action: usize,
) -> Vec<Violation> {
    let mut violations = one_issue_per_case(world);
    violations.extend(comments_exactly_once(world));
    violations.extend(comment_copies_current(world));
    violations.extend(attachments_exactly_once(world));
    violations.extend(fields_agree(world, status_for));
    violations.extend(watchers_reach_the_other_side(world));
    violations.extend(deletions_recorded(world));
    violations.extend(closed_cases_stay_closed(world));
    violations.extend(writes_bounded(world, max_writes_per_action));
    violations.extend(dlq_converged(world));
    violations
}

/// The linked pairs whose case and issue both exist.
fn pairs(world: &World) -> Vec<(&Case, &Issue)> {
    world
        .links
        .iter()
        .filter_map(|link| {
            let case = world.cases.iter().find(|c| c.id == link.case_id)?;
            let issue = world.issues.iter().find(|i| i.key == link.issue_key)?;
            Some((case, issue))
        })
        .collect()
}

/// Every case has exactly one issue, every issue the integration made (or that is linked) exactly
/// one case; an issue made for a case but left unlinked counts as a second issue of that case.
/// A case whose issue a responder deleted keeps that (deleted) issue as its one issue once the
/// link is marked broken (DESIGN §1: deletion is recorded, nothing re-created), so an issue made
/// for it since is a second one.
pub fn one_issue_per_case(world: &World) -> Vec<Violation> {
    let mut violations = Vec::new();
    let mut issues_of: BTreeMap<&str, BTreeSet<&str>> = BTreeMap::new();
    let mut cases_of: BTreeMap<&str, BTreeSet<&str>> = BTreeMap::new();
    for link in &world.broken_links {
        if world.deleted_issues.contains(&link.issue_key) {
            issues_of
                .entry(&link.case_id)
                .or_default()
                .insert(&link.issue_key);
        }
    }
    for link in &world.links {
        let case_exists = world.cases.iter().any(|c| c.id == link.case_id);
        let issue_exists = world.issues.iter().any(|i| i.key == link.issue_key);
        if world.deleted_issues.contains(&link.issue_key) {
            // Still the case's one issue; deletions_recorded names the link left live.
            issues_of
                .entry(&link.case_id)
                .or_default()
                .insert(&link.issue_key);
            continue;
        }
        if !case_exists || !issue_exists {
            violations.push(Violation::LinkToMissing {
                case: link.case_id.clone(),
                issue: link.issue_key.clone(),
            });
            continue;
        }
        issues_of
            .entry(&link.case_id)
            .or_default()
            .insert(&link.issue_key);
        cases_of
            .entry(&link.issue_key)
            .or_default()
            .insert(&link.case_id);
    }
    for issue in &world.issues {
        if let Some(case) = &issue.made_for_case {
            issues_of.entry(case).or_default().insert(&issue.key);
            if world.cases.iter().any(|c| &c.id == case) {
                cases_of.entry(&issue.key).or_default().insert(case);
            }
        }
    }
    for case in &world.cases {
        match issues_of.get(case.id.as_str()) {
            None => violations.push(Violation::CaseWithoutIssue {
                case: case.id.clone(),
            }),
            Some(issues) if issues.len() > 1 => violations.push(Violation::CaseWithManyIssues {
                case: case.id.clone(),
                issues: issues.iter().map(|k| k.to_string()).collect(),
            }),
            Some(_) => {}
        }
    }
    for issue in &world.issues {
        match cases_of.get(issue.key.as_str()) {
            None if issue.made_for_case.is_some() => {
                violations.push(Violation::IssueWithoutCase {
                    issue: issue.key.clone(),
                });
            }
            Some(cases) if cases.len() > 1 => violations.push(Violation::IssueWithManyCases {
                issue: issue.key.clone(),
                cases: cases.iter().map(|c| c.to_string()).collect(),
            }),
            _ => {}
        }
    }
    violations
}

/// Per linked pair: each responder's comment has exactly one copy on the other side, and no copy
/// was copied back.
pub fn comments_exactly_once(world: &World) -> Vec<Violation> {
    let mut violations = Vec::new();
    for (case, issue) in pairs(world) {
        let case_side = format!("case {}", case.id);
        let issue_side = format!("issue {}", issue.key);
        let sir: Vec<(&str, Option<&str>)> = case
            .comments
            .iter()
            .map(|c| (c.id.as_str(), c.copied_from.as_deref()))
            .collect();
        let jira: Vec<(&str, Option<&str>)> = issue
            .comments
            .iter()
            .map(|c| (c.id.as_str(), c.copied_from.as_deref()))
            .collect();
        for (originals, copies, from, on) in [
            (&sir, &jira, &case_side, &issue_side),
            (&jira, &sir, &issue_side, &case_side),
        ] {
            for (id, copied_from) in originals {
                if copied_from.is_some() {
                    continue;
                }
                let count = copies
                    .iter()
                    .filter(|(_, source)| *source == Some(*id))
                    .count();
                match count {
                    0 => violations.push(Violation::CommentMissing {
                        from: from.clone(),
                        comment: id.to_string(),
                        on: on.clone(),
                    }),
                    1 => {}
                    copies => violations.push(Violation::CommentDoubled {
                        from: from.clone(),
                        comment: id.to_string(),
                        on: on.clone(),
                        copies,
                    }),
                }
            }
            for (id, copied_from) in copies {
                let Some(source) = copied_from else { continue };
                let source_is_copy = originals
                    .iter()
                    .any(|(original, from)| original == source && from.is_some());
                if source_is_copy {
                    violations.push(Violation::CommentCopiedBack {
                        comment: id.to_string(),
                        on: on.clone(),
                        copy_of: source.to_string(),
                    });
                }
            }
        }
    }
    violations
}

/// Per linked pair: every attachment (by name) is on both sides exactly once, with one size.
pub fn attachments_exactly_once(world: &World) -> Vec<Violation> {
    let mut violations = Vec::new();
    for (case, issue) in pairs(world) {
        let on_case = attachment_counts(&case.attachments);
        let on_issue = attachment_counts(&issue.attachments);
        let names: BTreeSet<&str> = on_case.keys().chain(on_issue.keys()).copied().collect();
        for name in names {
            for (side, counts) in [
                (format!("case {}", case.id), &on_case),
                (format!("issue {}", issue.key), &on_issue),
            ] {
                match counts.get(name) {
                    None => violations.push(Violation::AttachmentMissing {
                        name: name.to_string(),
                        on: side,
                    }),
                    Some((copies, _)) if *copies > 1 => {
                        violations.push(Violation::AttachmentDoubled {
                            name: name.to_string(),
                            on: side,
                            copies: *copies,
                        })
                    }
                    Some(_) => {}
                }
            }
            if let (Some((_, case_size)), Some((_, issue_size))) =
                (on_case.get(name), on_issue.get(name))
                && case_size != issue_size
            {
                violations.push(Violation::AttachmentSizeDiffers {
                    name: name.to_string(),
                    case_size: *case_size,
                    issue_size: *issue_size,
                });
            }
        }
    }
    violations
}

/// Per linked pair: the copy of a comment reads as its original does now (an edit reached it):
/// its text ends with the original's text (a copy may open with who wrote it, where and when).
pub fn comment_copies_current(world: &World) -> Vec<Violation> {
    let mut violations = Vec::new();
    for (case, issue) in pairs(world) {
        let sir: Vec<(&str, &str, Option<&str>)> = case
            .comments
            .iter()
            .map(|c| (c.id.as_str(), c.body.as_str(), c.copied_from.as_deref()))
            .collect();
        let jira: Vec<(&str, &str, Option<&str>)> = issue
            .comments
            .iter()
            .map(|c| (c.id.as_str(), c.body.as_str(), c.copied_from.as_deref()))
            .collect();
        for (originals, copies, on) in [
            (&sir, &jira, format!("issue {}", issue.key)),
            (&jira, &sir, format!("case {}", case.id)),
        ] {
            for (id, body, copied_from) in copies {
                let Some(source) = copied_from else { continue };
                let Some((_, original, _)) = originals
                    .iter()
                    .find(|(original, _, from)| original == source && from.is_none())
                else {
                    continue;
                };
                if !body.trim_end().ends_with(original.trim()) {
                    violations.push(Violation::CommentBodyDiffers {
                        comment: id.to_string(),
                        on: on.clone(),
                        copy_of: source.to_string(),
                        body: body.to_string(),
                        original: original.to_string(),
                    });
                }
            }
        }
    }
    violations
}

/// Per attachment name: how many times it is there, and the size of the first.
fn attachment_counts(list: &[Attachment]) -> BTreeMap<&str, (usize, u64)> {
    let mut counts: BTreeMap<&str, (usize, u64)> = BTreeMap::new();
    for attachment in list {
        counts
            .entry(attachment.name.as_str())
            .or_insert((0, attachment.size))
            .0 += 1;
    }
    counts
}

/// Per linked pair: title = summary, the case's description is what SIR holds for the issue's
/// text (see the module docs), and the issue's status is the one `status_for` maps the case's
/// status to.
pub fn fields_agree(world: &World, status_for: &dyn Fn(&str) -> Option<String>) -> Vec<Violation> {
    let mut violations = Vec::new();
    for (case, issue) in pairs(world) {
        let expected = sir_description_for_issue(&issue.key, &issue.description);
        if normalize_text(&case.description) != expected {
            violations.push(Violation::DescriptionDiffers {
                case: case.id.clone(),
                description: case.description.clone(),
                issue: issue.key.clone(),
                expected,
            });
        }
        if case.title != issue.summary {
            violations.push(Violation::TitleDiffers {
                case: case.id.clone(),
                title: case.title.clone(),
                issue: issue.key.clone(),
                summary: issue.summary.clone(),
            });
        }
        if let Some(expected) = status_for(&case.status)
            && expected != issue.status
        {
            violations.push(Violation::StatusDiffers {
                case: case.id.clone(),
                status: case.status.clone(),
                issue: issue.key.clone(),
                found: issue.status.clone(),
                expected,
            });
        }
    }
    violations
}

/// Per linked pair: a watcher a responder added on one side watches the other side too.
pub fn watchers_reach_the_other_side(world: &World) -> Vec<Violation> {
    let mut violations = Vec::new();
    for (case, issue) in pairs(world) {
        let wanted = world
            .case_watchers_added
            .iter()
            .filter(|(id, _)| *id == case.id)
            .map(|(_, email)| {
                (
                    email,
                    format!("case {}", case.id),
                    format!("issue {}", issue.key),
                    &issue.watchers,
                )
            })
            .chain(
                world
                    .issue_watchers_added
                    .iter()
                    .filter(|(key, _)| *key == issue.key)
                    .map(|(_, email)| {
                        (
                            email,
                            format!("issue {}", issue.key),
                            format!("case {}", case.id),
                            &case.watchers,
                        )
                    }),
            );
        for (email, added_to, on, watchers) in wanted {
            if !watchers.contains(email) {
                violations.push(Violation::WatcherMissing {
                    email: email.clone(),
                    added_to,
                    on,
                });
            }
        }
    }
    violations
}

/// An issue a responder deleted is recorded as such: no live link names it any more.
pub fn deletions_recorded(world: &World) -> Vec<Violation> {
    world
        .links
        .iter()
        .filter(|link| world.deleted_issues.contains(&link.issue_key))
        .map(|link| Violation::DeletedIssueNotRecorded {
            issue: link.issue_key.clone(),
            case: link.case_id.clone(),
        })
        .collect()
}

/// A case a responder closed is still closed (SIR cannot reopen one; the integration must not try).
pub fn closed_cases_stay_closed(world: &World) -> Vec<Violation> {
    world
        .cases
        .iter()
        .filter(|case| world.closed_cases.contains(&case.id) && case.status != CLOSED)
        .map(|case| Violation::ClosedCaseReopened {
            case: case.id.clone(),
            status: case.status.clone(),
        })
        .collect()
}

/// Each span of responder actions caused at most `bound` remote writes per action (a ping-pong
/// between the two sides writes without end).
pub fn writes_bounded(world: &World, bound: usize) -> Vec<Violation> {
    world
        .writes
        .iter()
        .filter(|w| w.writes > bound.saturating_mul(w.actions.max(1)))
        .map(|w| Violation::TooManyWrites {
            action: w.action.clone(),
            writes: w.writes,
            bound: bound.saturating_mul(w.actions.max(1)),
        })
        .collect()
}

/// Nothing is left in a DLQ that the reconciler did not converge.
pub fn dlq_converged(world: &World) -> Vec<Violation> {
    world
        .dlq
        .iter()
        .filter(|entry| !entry.converged)
        .map(|entry| Violation::DlqNotConverged {
            function: entry.function.clone(),
            payload: entry.payload.clone(),
        })
        .collect()
}

/// Judges each dead letter against the end state: converged when no violation in `others` (the
/// other checks' findings) names its pair, that is the cases and issues its payload names and
/// their linked partners; a dead letter naming no case or issue (a scheduled poll) converged
/// only when there is no violation at all.
pub fn judge_dlq(world: &mut World, others: &[Violation]) {
    let named: Vec<String> = others.iter().map(ToString::to_string).collect();
    let ids: Vec<&str> = world
        .cases
        .iter()
        .map(|c| c.id.as_str())
        .chain(world.issues.iter().map(|i| i.key.as_str()))
        .collect();
    for entry in &mut world.dlq {
        let mut pair: BTreeSet<&str> = ids
            .iter()
            .copied()
            .filter(|id| mentions(&entry.payload, id))
            .collect();
        for link in &world.links {
            if pair.contains(link.case_id.as_str()) || pair.contains(link.issue_key.as_str()) {
                pair.insert(&link.case_id);
                pair.insert(&link.issue_key);
            }
        }
        entry.converged = if pair.is_empty() {
            named.is_empty()
        } else {
            !named
                .iter()
                .any(|violation| pair.iter().any(|id| mentions(violation, id)))
        };
    }
}

/// Whether `text` names `id` as a whole word (SEC-1 is not named by SEC-12).
fn mentions(text: &str, id: &str) -> bool {
    let word = |c: char| c.is_ascii_alphanumeric() || c == '-';
    !id.is_empty()
        && text
            .match_indices(id)
            .any(|(at, _)| !text[..at].ends_with(word) && !text[at + id.len()..].starts_with(word))
}
