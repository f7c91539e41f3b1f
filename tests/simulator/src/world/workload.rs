//! The seeded responder workload: actions on both sides, concurrent with the sync.
//!
//! Each step picks one [`Act`] by its weight in [`ACTS`]: on the SIR side create, edit title or
//! description, comment, edit a comment, attach, add a watcher, move the status along SIR's
//! graph, close; on the Jira side create, edit summary or description, comment, edit a comment,
//! attach, add a watcher, transition (Done included), delete; and a conflicting edit of one
//! linked pair's title and summary a few seconds apart. What the invariants need to know of the
//! workload's intent (watchers added, Jira comment bodies, deleted issues) is kept in [`Ledger`].

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use jira_emulator::{IssueEdit, User};
use shared::comment_marker::MARKER_PROPERTY;
use shared::store::LinkStore;
use sir_emulator::{CaseUpdate, NewCase, Watcher};

use super::{RESPONDER, SimError, SimWorld};
use crate::invariants;

/// The people responders add as watchers: a Jira user each, known to SIR by e-mail.
pub(super) const WATCHERS: [(&str, &str); 3] = [
    ("Bob Builder", "bob@example.com"),
    ("Cat Carter", "cat@example.com"),
    ("Dan Dorsey", "dan@example.com"),
];

/// The SIR statuses a responder may set with UpdateCaseStatus (DESIGN §7).
const SIR_STATUSES: [&str; 4] = [
    "Submitted",
    "Detection and Analysis",
    "Containment, Eradication and Recovery",
    "Post-incident Activities",
];

/// The Jira statuses a responder moves an issue to (the emulator walks the workflow there).
const JIRA_STATUSES: [&str; 4] = ["To Do", "In Progress", "In Review", "Done"];

/// One kind of responder action.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Act {
    SirCreate,
    SirEditTitle,
    SirEditDescription,
    SirComment,
    SirEditComment,
    SirAttach,
    SirAddWatcher,
    SirSetStatus,
    SirClose,
    JiraCreate,
    JiraEditSummary,
    JiraEditDescription,
    JiraComment,
    JiraEditComment,
    JiraAttach,
    JiraAddWatcher,
    JiraTransition,
    JiraDelete,
    ConflictingTitles,
}

/// Each action with its weight.
const ACTS: [(Act, u32); 19] = [
    (Act::SirCreate, 4),
    (Act::SirEditTitle, 3),
    (Act::SirEditDescription, 2),
    (Act::SirComment, 4),
    (Act::SirEditComment, 2),
    (Act::SirAttach, 2),
    (Act::SirAddWatcher, 1),
    (Act::SirSetStatus, 2),
    (Act::SirClose, 2),
    (Act::JiraCreate, 4),
    (Act::JiraEditSummary, 3),
    (Act::JiraEditDescription, 2),
    (Act::JiraComment, 4),
    (Act::JiraEditComment, 2),
    (Act::JiraAttach, 2),
    (Act::JiraAddWatcher, 1),
    (Act::JiraTransition, 3),
    (Act::JiraDelete, 1),
    (Act::ConflictingTitles, 2),
];

/// What the workload did that the end state is judged against.
#[derive(Debug, Default)]
pub(super) struct Ledger {
    /// (case id, e-mail) of each watcher a responder added in SIR.
    pub sir_watchers_added: BTreeSet<(String, String)>,
    /// (issue key, e-mail) of each watcher a responder added in Jira.
    pub jira_watchers_added: BTreeSet<(String, String)>,
    /// The issues a responder deleted.
    pub deleted_issues: BTreeSet<String>,
    /// Jira account id → e-mail of the people in [`WATCHERS`].
    pub emails: BTreeMap<String, String>,
}

impl Ledger {
    /// The ledger of a world whose Jira knows the [`WATCHERS`].
    pub(super) fn with_watchers(jira: &jira_emulator::JiraEmulator) -> Self {
        let emails = WATCHERS
            .iter()
            .map(|(name, email)| {
                let user = jira.add_user(User::new(*name, *email));
                (user.account_id, (*email).to_owned())
            })
            .collect();
        Self {
            emails,
            ..Self::default()
        }
    }
}

impl SimWorld {
    /// `count` responder actions picked by the seed (see the module docs), each followed by 1 s
    /// to 3 min of virtual time, so that handlers overlap with each other and with the next
    /// action.
    pub async fn run_workload(&mut self, count: usize) -> Result<(), SimError> {
        for n in 0..count {
            self.act(n).await?;
            let pause = Duration::from_secs(self.rng.u64(1..=180));
            self.advance(pause).await?;
        }
        Ok(())
    }

    /// Open cases (neither closed nor closed by a responder), oldest first.
    fn open_cases(&self) -> Vec<String> {
        self.sir
            .cases()
            .into_iter()
            .filter(|c| {
                c.case_status != invariants::CLOSED && !self.closed_cases.contains(&c.case_id)
            })
            .map(|c| c.case_id)
            .collect()
    }

    /// Issues not Done whose case (when linked) is still open.
    async fn open_issues(&self) -> Result<Vec<String>, SimError> {
        let mut open = Vec::new();
        for issue in self.jira.issues() {
            if issue.status == "Done" {
                continue;
            }
            let link = self
                .store
                .link_for_issue(&issue.key)
                .await
                .map_err(SimError::Store)?;
            let case_open = |case_id: &str| {
                !self.closed_cases.contains(case_id)
                    && self
                        .sir
                        .case(case_id)
                        .is_some_and(|c| c.case_status != invariants::CLOSED)
            };
            if link.is_none_or(|l| case_open(&l.case_id)) {
                open.push(issue.key);
            }
        }
        Ok(open)
    }

    /// Linked pairs (link not broken) whose case and issue are both open.
    async fn open_pairs(
        &self,
        cases: &[String],
        issues: &[String],
    ) -> Result<Vec<(String, String)>, SimError> {
        let mut pairs = Vec::new();
        for case in cases {
            if let Some(link) = self
                .store
                .link_for_case(case)
                .await
                .map_err(SimError::Store)?
                && link.broken.is_none()
                && issues.contains(&link.issue_key)
            {
                pairs.push((link.case_id, link.issue_key));
            }
        }
        Ok(pairs)
    }

    fn pick_act(&mut self) -> Act {
        let total: u32 = ACTS.iter().map(|(_, weight)| weight).sum();
        let mut at = self.rng.u32(0..total);
        for (act, weight) in ACTS {
            if at < weight {
                return act;
            }
            at -= weight;
        }
        Act::SirCreate
    }

    fn pick<T: Clone>(&mut self, list: &[T]) -> T {
        list[self.rng.usize(..list.len())].clone()
    }

    async fn act(&mut self, n: usize) -> Result<(), SimError> {
        let cases = self.open_cases();
        let issues = self.open_issues().await?;
        let pairs = self.open_pairs(&cases, &issues).await?;
        let act = self.pick_act();
        let sir_side = !matches!(
            act,
            Act::JiraCreate
                | Act::JiraEditSummary
                | Act::JiraEditDescription
                | Act::JiraComment
                | Act::JiraEditComment
                | Act::JiraAttach
                | Act::JiraAddWatcher
                | Act::JiraTransition
                | Act::JiraDelete
        );
        // An action with nothing to act on yet creates on its side instead.
        let act = match act {
            Act::SirCreate | Act::JiraCreate => act,
            Act::ConflictingTitles if pairs.is_empty() => Act::SirCreate,
            _ if sir_side && cases.is_empty() => Act::SirCreate,
            _ if !sir_side && issues.is_empty() => Act::JiraCreate,
            _ => act,
        };
        if sir_side && act != Act::SirCreate && act != Act::ConflictingTitles {
            let case = self.pick(&cases);
            self.act_on_case(n, act, &case)?;
        } else if !sir_side && act != Act::JiraCreate {
            let key = self.pick(&issues);
            self.act_on_issue(n, act, &key)?;
        } else if act == Act::ConflictingTitles {
            let (case, key) = self.pick(&pairs);
            self.conflicting_titles(n, &case, &key).await?;
        } else {
            self.create(n, act)?;
        }
        self.maybe_inject_fault();
        self.pump();
        Ok(())
    }

    fn create(&mut self, n: usize, act: Act) -> Result<(), SimError> {
        if act == Act::SirCreate {
            let title = format!("Case {n} from SIR");
            let case = self.sir.create_case(
                RESPONDER,
                NewCase {
                    title: title.clone(),
                    description: format!("Seen by responder, action {n}."),
                    ..NewCase::default()
                },
            );
            self.log(format!("SIR create case {} {title:?}", case.case_id));
        } else {
            let summary = format!("Issue {n} from Jira");
            let who = self.responder_jira.clone();
            let key = self
                .jira
                .create_issue(&who, jira_emulator::NewIssue::new(summary.clone()))?;
            self.log(format!("Jira create issue {key} {summary:?}"));
        }
        Ok(())
    }

    fn act_on_case(&mut self, n: usize, act: Act, case: &str) -> Result<(), SimError> {
        match act {
            Act::SirEditTitle => {
                let title = format!("Case retitled at action {n}");
                self.retitle_case(case, &title)?;
            }
            Act::SirEditDescription => {
                let description = format!("Described again in SIR at action {n}.");
                self.sir.update_case(
                    RESPONDER,
                    case,
                    CaseUpdate {
                        description: Some(description.clone()),
                        ..CaseUpdate::default()
                    },
                )?;
                self.log(format!("SIR edit description {case} {description:?}"));
            }
            Act::SirComment => {
                let body = format!("sir-comment-{n}");
                let id = self.sir.add_comment(RESPONDER, case, &body)?;
                self.log(format!("SIR comment {case} {id} {body:?}"));
            }
            Act::SirEditComment => {
                let own: Vec<String> = self
                    .sir
                    .case(case)
                    .map(|c| {
                        c.comments
                            .into_iter()
                            .filter(|comment| comment.creator == self.responder_principal)
                            .map(|comment| comment.comment_id)
                            .collect()
                    })
                    .unwrap_or_default();
                if own.is_empty() {
                    let body = format!("sir-comment-{n}");
                    let id = self.sir.add_comment(RESPONDER, case, &body)?;
                    self.log(format!("SIR comment {case} {id} {body:?}"));
                } else {
                    let id = self.pick(&own);
                    let body = format!("sir-comment-edited-{n}");
                    self.sir.edit_comment(RESPONDER, case, &id, &body)?;
                    self.log(format!("SIR edit comment {case} {id} {body:?}"));
                }
            }
            Act::SirAttach => {
                let name = format!("sfile-{n}.txt");
                let bytes = format!("evidence from SIR, action {n}").into_bytes();
                let id = self.sir.upload_attachment(RESPONDER, case, &name, bytes)?;
                self.log(format!("SIR attach {case} {id} {name:?}"));
            }
            Act::SirAddWatcher => {
                let (_, email) = self.pick(&WATCHERS);
                self.sir.update_case(
                    RESPONDER,
                    case,
                    CaseUpdate {
                        watchers_to_add: vec![Watcher::email(email)],
                        ..CaseUpdate::default()
                    },
                )?;
                self.ledger
                    .sir_watchers_added
                    .insert((case.to_owned(), email.to_owned()));
                self.log(format!("SIR add watcher {case} {email}"));
            }
            Act::SirSetStatus => {
                let to = self.pick(&SIR_STATUSES);
                // SIR's graph allows only some moves; a refused one is a no-op.
                match self.sir.set_status(RESPONDER, case, to) {
                    Ok(()) => self.log(format!("SIR status {case} to {to:?}")),
                    Err(_) => self.log(format!("SIR status {case} to {to:?} (not allowed)")),
                }
            }
            Act::SirClose => {
                self.sir.close_case(RESPONDER, case)?;
                self.closed_cases.insert(case.to_owned());
                self.log(format!("SIR close case {case}"));
            }
            _ => self.log(format!("{act:?} is no SIR action")),
        }
        Ok(())
    }

    fn act_on_issue(&mut self, n: usize, act: Act, key: &str) -> Result<(), SimError> {
        let who = self.responder_jira.clone();
        match act {
            Act::JiraEditSummary => {
                let summary = format!("Issue resummarized at action {n}");
                self.resummarize_issue(key, &summary)?;
            }
            Act::JiraEditDescription => {
                let text = format!("Described again in Jira at action {n}.");
                // What a person edits is the text: the details block below it stays.
                let doc = self
                    .jira
                    .issue(key)
                    .and_then(|issue| issue.description)
                    .unwrap_or(serde_json::Value::Null);
                let block = shared::issue_description::find_details_block(&doc)
                    .and_then(|at| doc["content"].get(at).cloned());
                let description = match block {
                    Some(block) => shared::issue_description::with_case_text(&doc, &text, block),
                    None => shared::adf::text_to_adf(&text),
                };
                self.jira.edit_issue(
                    &who,
                    key,
                    IssueEdit {
                        description: Some(description.into()),
                        ..IssueEdit::default()
                    },
                )?;
                self.log(format!("Jira edit description {key} {text:?}"));
            }
            Act::JiraComment => self.jira_comment(n, key)?,
            Act::JiraEditComment => {
                let own: Vec<String> = self
                    .jira
                    .issue(key)
                    .map(|issue| {
                        issue
                            .comments
                            .into_iter()
                            .filter(|c| {
                                c.author == who && !c.properties.contains_key(MARKER_PROPERTY)
                            })
                            .map(|c| c.id)
                            .collect()
                    })
                    .unwrap_or_default();
                if own.is_empty() {
                    self.jira_comment(n, key)?;
                } else {
                    let id = self.pick(&own);
                    let body = format!("jira-comment-edited-{n}");
                    self.jira.edit_comment(&who, key, &id, body.as_str())?;
                    self.jira_comments.insert(body.clone(), id.clone());
                    self.log(format!("Jira edit comment {key} {id} {body:?}"));
                }
            }
            Act::JiraAttach => {
                let name = format!("jfile-{n}.txt");
                let bytes = format!("evidence from Jira, action {n}").into_bytes();
                let id = self.jira.attach(&who, key, &name, bytes)?;
                self.log(format!("Jira attach {key} {id} {name:?}"));
            }
            Act::JiraAddWatcher => {
                let people: Vec<(String, String)> = self
                    .ledger
                    .emails
                    .iter()
                    .map(|(id, email)| (id.clone(), email.clone()))
                    .collect();
                let (account, email) = self.pick(&people);
                self.jira.add_watcher(key, &account)?;
                self.ledger
                    .jira_watchers_added
                    .insert((key.to_owned(), email.clone()));
                self.log(format!("Jira add watcher {key} {email}"));
            }
            Act::JiraTransition => {
                let to = self.pick(&JIRA_STATUSES);
                match self.jira.transition_to(&who, key, to) {
                    Ok(()) => self.log(format!("Jira transition {key} to {to:?}")),
                    Err(_) => self.log(format!("Jira transition {key} to {to:?} (not allowed)")),
                }
            }
            Act::JiraDelete => {
                self.jira.delete_issue(&who, key)?;
                self.ledger.deleted_issues.insert(key.to_owned());
                self.log(format!("Jira delete issue {key}"));
            }
            _ => self.log(format!("{act:?} is no Jira action")),
        }
        Ok(())
    }

    fn jira_comment(&mut self, n: usize, key: &str) -> Result<(), SimError> {
        let who = self.responder_jira.clone();
        let body = format!("jira-comment-{n}");
        let id = self.jira.comment(&who, key, body.as_str())?;
        self.jira_comments.insert(body.clone(), id.clone());
        self.log(format!("Jira comment {key} {id} {body:?}"));
        Ok(())
    }

    fn retitle_case(&mut self, case: &str, title: &str) -> Result<(), SimError> {
        self.sir.update_case(
            RESPONDER,
            case,
            CaseUpdate {
                title: Some(title.to_owned()),
                ..CaseUpdate::default()
            },
        )?;
        self.log(format!("SIR edit title {case} {title:?}"));
        Ok(())
    }

    fn resummarize_issue(&mut self, key: &str, summary: &str) -> Result<(), SimError> {
        let who = self.responder_jira.clone();
        self.jira.edit_issue(
            &who,
            key,
            IssueEdit {
                summary: Some(summary.to_owned()),
                ..IssueEdit::default()
            },
        )?;
        self.log(format!("Jira edit summary {key} {summary:?}"));
        Ok(())
    }

    /// The pair's title edited in SIR and its summary in Jira, 0–5 s apart, in an order the
    /// seed picks: whichever wins, both sides must end equal.
    async fn conflicting_titles(
        &mut self,
        n: usize,
        case: &str,
        key: &str,
    ) -> Result<(), SimError> {
        let title = format!("Conflict at action {n}, SIR's word");
        let summary = format!("Conflict at action {n}, Jira's word");
        let gap = Duration::from_millis(self.rng.u64(0..=5_000));
        let sir_first = self.rng.bool();
        if sir_first {
            self.retitle_case(case, &title)?;
        } else {
            self.resummarize_issue(key, &summary)?;
        }
        self.pump();
        self.advance(gap).await?;
        if sir_first {
            self.resummarize_issue(key, &summary)?;
        } else {
            self.retitle_case(case, &title)?;
        }
        Ok(())
    }
}
