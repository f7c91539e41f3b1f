//! The end state for the invariants: both emulators' records and the table's links.

use std::collections::{BTreeMap, BTreeSet};

use shared::adf::adf_to_text;
use shared::comment_marker::{KIND_SIR_COMMENT, MARKER_PROPERTY};
use shared::jira::CASE_LABEL_PREFIX;
use shared::store::LinkStore;

use super::{SimError, SimWorld};
use crate::invariants::{self, Attachment, Case, CaseComment, Issue, IssueComment, Link};

impl SimWorld {
    /// The end state for the invariants: both emulators' records and the table's links.
    pub async fn observe(&self) -> Result<invariants::World, SimError> {
        let copies_of_jira: BTreeMap<&str, &str> = self
            .jira_comments
            .iter()
            .map(|(token, id)| (token.as_str(), id.as_str()))
            .collect();
        let mut cases = Vec::new();
        let mut links = BTreeSet::new();
        let mut broken_links = BTreeSet::new();
        let mut note_link = |link: shared::store::IssueLink| {
            let pair = Link {
                case_id: link.case_id,
                issue_key: link.issue_key,
            };
            if link.broken.is_none() {
                links.insert(pair);
            } else {
                broken_links.insert(pair);
            }
        };
        for case in self.sir.cases() {
            let mut comments = Vec::new();
            for comment in &case.comments {
                let copied_from = if comment.body.starts_with("[Jira ") {
                    copies_of_jira
                        .iter()
                        .find(|(token, _)| comment.body.ends_with(*token))
                        .map(|(_, id)| (*id).to_owned())
                        .or_else(|| Some(format!("unknown: {}", comment.body)))
                } else if comment.creator == self.responder_principal {
                    None
                } else {
                    // The integration's own notes on the case are no responder's comment.
                    continue;
                };
                comments.push(CaseComment {
                    id: comment.comment_id.clone(),
                    body: comment.body.clone(),
                    creator: comment.creator.clone(),
                    copied_from,
                });
            }
            if let Some(link) = self
                .store
                .link_for_case(&case.case_id)
                .await
                .map_err(SimError::Store)?
            {
                note_link(link);
            }
            cases.push(Case {
                id: case.case_id.clone(),
                title: case.title.clone(),
                status: case.case_status.clone(),
                description: case.description.clone(),
                comments,
                attachments: case
                    .attachments
                    .iter()
                    .map(|a| Attachment {
                        name: jira_name(&a.file_name).to_owned(),
                        size: a.content_length,
                    })
                    .collect(),
                watchers: case.watchers.iter().map(|w| w.email.clone()).collect(),
            });
        }
        let emails: BTreeMap<String, String> = self
            .jira
            .users()
            .into_iter()
            .filter_map(|user| Some((user.account_id, user.email?)))
            .collect();
        let mut issues = Vec::new();
        for issue in self.jira.issues() {
            let mut comments = Vec::new();
            for comment in &issue.comments {
                let copied_from = match comment.properties.get(MARKER_PROPERTY) {
                    Some(marker) if marker["kind"] == KIND_SIR_COMMENT => {
                        marker["sirId"].as_str().map(str::to_owned)
                    }
                    // The integration's notes (case created, closed, refusals) copy nothing.
                    Some(_) => continue,
                    None => None,
                };
                comments.push(IssueComment {
                    id: comment.id.clone(),
                    body: adf_to_text(&comment.body),
                    author: comment.author.clone(),
                    copied_from,
                });
            }
            if let Some(link) = self
                .store
                .link_for_issue(&issue.key)
                .await
                .map_err(SimError::Store)?
            {
                note_link(link);
            }
            issues.push(Issue {
                key: issue.key.clone(),
                summary: issue.summary.clone(),
                status: issue.status.clone(),
                description: issue
                    .description
                    .as_ref()
                    .map(adf_to_text)
                    .unwrap_or_default(),
                comments,
                attachments: issue
                    .attachments
                    .iter()
                    .map(|a| Attachment {
                        name: a.filename.clone(),
                        size: a.size,
                    })
                    .collect(),
                watchers: issue
                    .watchers
                    .iter()
                    .filter_map(|id| emails.get(id).cloned())
                    .collect(),
                made_for_case: issue
                    .labels
                    .iter()
                    .find_map(|l| l.strip_prefix(CASE_LABEL_PREFIX).map(str::to_owned)),
            });
        }
        Ok(invariants::World {
            cases,
            issues,
            links: links.into_iter().collect(),
            closed_cases: self.closed_cases.clone(),
            dlq: self
                .handle
                .dead_letters()
                .into_iter()
                .map(|dead| invariants::DlqEntry {
                    function: dead.function,
                    payload: format!("{} ({})", dead.payload, dead.errors.join(" | ")),
                    // Not judged yet: a dead letter in a world without faults is a finding.
                    converged: false,
                })
                .collect(),
            writes: vec![invariants::ActionWrites {
                action: format!("the run's {} responder actions", self.responder_actions()),
                actions: self.responder_actions(),
                writes: self.integration_writes(),
            }],
            case_watchers_added: self.ledger.sir_watchers_added.clone(),
            issue_watchers_added: self.ledger.jira_watchers_added.clone(),
            deleted_issues: self.ledger.deleted_issues.clone(),
            broken_links: broken_links.into_iter().collect(),
        })
    }
}

/// The Jira name of an attachment sir-client copied to SIR as `jira-<id>-<name>`; any other
/// name as it is.
fn jira_name(sir_name: &str) -> &str {
    sir_name
        .strip_prefix("jira-")
        .and_then(|rest| rest.split_once('-'))
        .filter(|(id, _)| !id.is_empty() && id.chars().all(|c| c.is_ascii_digit()))
        .map_or(sir_name, |(_, name)| name)
}
