//! The seeded responder workload: actions on both sides, concurrent with the sync.

use std::time::Duration;

use jira_emulator::IssueEdit;
use shared::store::LinkStore;
use sir_emulator::{CaseUpdate, NewCase};

use super::{RESPONDER, SimError, SimWorld};
use crate::invariants;

impl SimWorld {
    /// `count` responder actions picked by the seed among: SIR create case, edit title, comment,
    /// close; Jira create issue, edit summary, comment, transition; each followed by 1 s to 3 min
    /// of virtual time, so that handlers overlap with each other and with the next action.
    pub async fn run_workload(&mut self, count: usize) -> Result<(), SimError> {
        for n in 0..count {
            self.act(n).await?;
            let pause = Duration::from_secs(self.rng.u64(1..=180));
            self.advance(pause).await?;
        }
        Ok(())
    }

    /// Open cases (not closed by a responder), oldest first.
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

    /// Issues whose case (when linked) is still open.
    async fn open_issues(&self) -> Result<Vec<String>, SimError> {
        let mut open = Vec::new();
        for issue in self.jira.issues() {
            let link = self
                .store
                .link_for_issue(&issue.key)
                .await
                .map_err(SimError::Store)?;
            if link.is_none_or(|l| !self.closed_cases.contains(&l.case_id)) {
                open.push(issue.key);
            }
        }
        Ok(open)
    }

    async fn act(&mut self, n: usize) -> Result<(), SimError> {
        let cases = self.open_cases();
        let issues = self.open_issues().await?;
        let who = self.responder_jira.clone();
        // An action with nothing to act on yet creates on its side instead.
        let pick = match self.rng.u8(0..8) {
            1..=3 if cases.is_empty() => 0,
            5..=7 if issues.is_empty() => 4,
            pick => pick,
        };
        match pick {
            0 => {
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
            }
            1 if !cases.is_empty() => {
                let case = cases[self.rng.usize(..cases.len())].clone();
                let title = format!("Case retitled at action {n}");
                self.sir.update_case(
                    RESPONDER,
                    &case,
                    CaseUpdate {
                        title: Some(title.clone()),
                        ..CaseUpdate::default()
                    },
                )?;
                self.log(format!("SIR edit title {case} {title:?}"));
            }
            2 if !cases.is_empty() => {
                let case = cases[self.rng.usize(..cases.len())].clone();
                let body = format!("sir-comment-{n}");
                let id = self.sir.add_comment(RESPONDER, &case, &body)?;
                self.log(format!("SIR comment {case} {id} {body:?}"));
            }
            3 if !cases.is_empty() => {
                let case = cases[self.rng.usize(..cases.len())].clone();
                self.sir.close_case(RESPONDER, &case)?;
                self.closed_cases.insert(case.clone());
                self.log(format!("SIR close case {case}"));
            }
            4 => {
                let summary = format!("Issue {n} from Jira");
                let key = self
                    .jira
                    .create_issue(&who, jira_emulator::NewIssue::new(summary.clone()))?;
                self.log(format!("Jira create issue {key} {summary:?}"));
            }
            5 if !issues.is_empty() => {
                let key = issues[self.rng.usize(..issues.len())].clone();
                let summary = format!("Issue resummarized at action {n}");
                self.jira.edit_issue(
                    &who,
                    &key,
                    IssueEdit {
                        summary: Some(summary.clone()),
                        ..IssueEdit::default()
                    },
                )?;
                self.log(format!("Jira edit summary {key} {summary:?}"));
            }
            6 if !issues.is_empty() => {
                let key = issues[self.rng.usize(..issues.len())].clone();
                let body = format!("jira-comment-{n}");
                let id = self.jira.comment(&who, &key, body.as_str())?;
                self.jira_comments.insert(body.clone(), id.clone());
                self.log(format!("Jira comment {key} {id} {body:?}"));
            }
            7 if !issues.is_empty() => {
                let key = issues[self.rng.usize(..issues.len())].clone();
                let to = ["To Do", "In Progress", "In Review"][self.rng.usize(..3)];
                // The workflow allows only neighbouring moves; a refused one is a no-op.
                match self.jira.transition_to(&who, &key, to) {
                    Ok(()) => self.log(format!("Jira transition {key} to {to:?}")),
                    Err(_) => self.log(format!("Jira transition {key} to {to:?} (not allowed)")),
                }
            }
            // Every pick without a target became a create above.
            _ => self.log("nothing to act on".into()),
        }
        self.maybe_inject_fault();
        self.pump();
        Ok(())
    }
}
