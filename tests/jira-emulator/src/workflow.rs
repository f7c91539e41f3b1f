//! The issue workflow: statuses, and the transitions between them that Jira offers from each
//! status. The default needs several hops from To Do to Done, as many real workflows do.

use std::collections::{HashMap, HashSet, VecDeque};

use serde::{Deserialize, Serialize};

use crate::Error;

/// Jira's three status categories.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum StatusCategory {
    ToDo,
    InProgress,
    Done,
}

impl StatusCategory {
    /// Jira's numeric id of the category.
    pub fn id(self) -> u32 {
        match self {
            StatusCategory::ToDo => 2,
            StatusCategory::InProgress => 4,
            StatusCategory::Done => 3,
        }
    }

    /// Jira's key: `new`, `indeterminate` or `done`.
    pub fn key(self) -> &'static str {
        match self {
            StatusCategory::ToDo => "new",
            StatusCategory::InProgress => "indeterminate",
            StatusCategory::Done => "done",
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            StatusCategory::ToDo => "To Do",
            StatusCategory::InProgress => "In Progress",
            StatusCategory::Done => "Done",
        }
    }

    pub fn color_name(self) -> &'static str {
        match self {
            StatusCategory::ToDo => "blue-gray",
            StatusCategory::InProgress => "yellow",
            StatusCategory::Done => "green",
        }
    }
}

/// A status an issue can be in.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WorkflowStatus {
    pub id: String,
    pub name: String,
    pub category: StatusCategory,
}

/// A transition offered while an issue is in `from`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WorkflowTransition {
    pub id: String,
    pub name: String,
    /// Status name the transition is offered from.
    pub from: String,
    /// Status name it leads to.
    pub to: String,
}

/// Statuses (the first is where new issues start) and transitions.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Workflow {
    pub statuses: Vec<WorkflowStatus>,
    pub transitions: Vec<WorkflowTransition>,
}

impl Default for Workflow {
    /// To Do ⇄ In Progress ⇄ In Review ⇄ Done, plus Done → To Do ("Reopen"); each transition is
    /// named after its target status.
    fn default() -> Workflow {
        let status = |id: &str, name: &str, category| WorkflowStatus {
            id: id.to_owned(),
            name: name.to_owned(),
            category,
        };
        let transition = |id: &str, name: &str, from: &str, to: &str| WorkflowTransition {
            id: id.to_owned(),
            name: name.to_owned(),
            from: from.to_owned(),
            to: to.to_owned(),
        };
        Workflow {
            statuses: vec![
                status("10000", "To Do", StatusCategory::ToDo),
                status("3", "In Progress", StatusCategory::InProgress),
                status("10002", "In Review", StatusCategory::InProgress),
                status("10001", "Done", StatusCategory::Done),
            ],
            transitions: vec![
                transition("11", "In Progress", "To Do", "In Progress"),
                transition("21", "To Do", "In Progress", "To Do"),
                transition("31", "In Review", "In Progress", "In Review"),
                transition("41", "In Progress", "In Review", "In Progress"),
                transition("51", "Done", "In Review", "Done"),
                transition("61", "In Review", "Done", "In Review"),
                transition("71", "Reopen", "Done", "To Do"),
            ],
        }
    }
}

impl Workflow {
    /// Checks that the workflow has statuses, unique ids and names, and transitions between
    /// known statuses with ids unique per origin status.
    pub fn validate(&self) -> Result<(), Error> {
        if self.statuses.is_empty() {
            return Err(Error::InvalidWorkflow("no statuses".into()));
        }
        let mut ids = HashSet::new();
        let mut names = HashSet::new();
        for status in &self.statuses {
            if !ids.insert(status.id.as_str()) {
                return Err(Error::InvalidWorkflow(format!(
                    "status id {} repeats",
                    status.id
                )));
            }
            if !names.insert(status.name.to_lowercase()) {
                return Err(Error::InvalidWorkflow(format!(
                    "status name {} repeats",
                    status.name
                )));
            }
        }
        let mut offered = HashSet::new();
        for transition in &self.transitions {
            for end in [&transition.from, &transition.to] {
                if self.status(end).is_none() {
                    return Err(Error::InvalidWorkflow(format!(
                        "transition {} names unknown status {end}",
                        transition.id
                    )));
                }
            }
            if !offered.insert((transition.from.to_lowercase(), transition.id.as_str())) {
                return Err(Error::InvalidWorkflow(format!(
                    "transition id {} repeats from {}",
                    transition.id, transition.from
                )));
            }
        }
        Ok(())
    }

    /// The status new issues start in.
    pub(crate) fn initial(&self) -> Option<&WorkflowStatus> {
        self.statuses.first()
    }

    /// The status with this name (case-insensitive, as JQL compares).
    pub fn status(&self, name: &str) -> Option<&WorkflowStatus> {
        self.statuses
            .iter()
            .find(|status| status.name.eq_ignore_ascii_case(name))
    }

    /// Transitions offered while in `status`.
    pub fn transitions_from(&self, status: &str) -> impl Iterator<Item = &WorkflowTransition> {
        let status = status.to_owned();
        self.transitions
            .iter()
            .filter(move |transition| transition.from.eq_ignore_ascii_case(&status))
    }

    /// The shortest sequence of transitions from `from` to `to` (empty when already there).
    pub fn path(&self, from: &str, to: &str) -> Option<Vec<&WorkflowTransition>> {
        let target = self.status(to)?.name.to_lowercase();
        let start = self.status(from)?.name.to_lowercase();
        let mut came_by: HashMap<String, &WorkflowTransition> = HashMap::new();
        let mut seen = HashSet::from([start.clone()]);
        let mut queue = VecDeque::from([start.clone()]);
        while let Some(status) = queue.pop_front() {
            if status == target {
                let mut path = Vec::new();
                let mut at = status;
                while at != start {
                    let transition = came_by.get(&at)?;
                    path.push(*transition);
                    at = transition.from.to_lowercase();
                }
                path.reverse();
                return Some(path);
            }
            for transition in self.transitions_from(&status) {
                let next = transition.to.to_lowercase();
                if seen.insert(next.clone()) {
                    came_by.insert(next.clone(), transition);
                    queue.push_back(next);
                }
            }
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_workflow_needs_three_hops_from_to_do_to_done() {
        let workflow = Workflow::default();
        let path = workflow.path("To Do", "Done").unwrap_or_default();
        let names: Vec<_> = path.iter().map(|t| t.to.as_str()).collect();
        assert_eq!(names, ["In Progress", "In Review", "Done"]);
    }

    #[test]
    fn reopen_goes_straight_back_to_to_do() {
        let workflow = Workflow::default();
        let path = workflow.path("Done", "To Do").unwrap_or_default();
        assert_eq!(path.len(), 1);
        assert_eq!(path[0].name, "Reopen");
    }

    #[test]
    fn transition_to_unknown_status_is_refused_by_validation() {
        let mut workflow = Workflow::default();
        workflow.transitions[0].to = "Nowhere".into();
        assert!(workflow.validate().is_err());
    }
}
