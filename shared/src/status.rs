//! Case statuses: the SIR status graph (DESIGN §7) and the configurable SIR ⇄ Jira mapping (§9).
//!
//! SIR lets `UpdateCaseStatus` move a case only to a self-managed status and only along
//! Submitted→D&A, D&A↔CER, D&A↔PIA, CER↔PIA; closing is `CloseCase` from anywhere; a closed case
//! never changes again. [`plan_sir_status_change`] turns "I want the case in status X" into the
//! exact calls to make, walking several edges when one is not enough.

use std::collections::{BTreeMap, VecDeque};
use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// Why a status could not be read, planned or mapped. Its own type, so the status rules need
/// nothing from the adapters' [`crate::Error`], which takes it in with `From`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StatusError {
    /// A status name SIR's API does not have.
    #[error("unknown SIR case status: {value:?}")]
    UnknownStatus { value: String },

    /// SIR's status graph has no way from `from` to `to` (closed case, AWS-only target, no
    /// `UpdateCaseStatus` path).
    #[error("SIR cannot move a case from {from} to {to}: {reason}")]
    Unreachable {
        from: SirStatus,
        to: SirStatus,
        reason: &'static str,
    },

    /// `UpdateCaseStatus` was asked for a status it does not take: AWS sets `Acknowledged` and
    /// `Ready to Close`, and `Closed` is reached with `CloseCase`.
    #[error(
        "UpdateCaseStatus cannot set {status}: it takes only a self-managed status \
         (Submitted, Detection and Analysis, Containment, Eradication and Recovery, \
         Post-incident Activities)"
    )]
    NotSelfManaged { status: SirStatus },

    /// The status mapping JSON could not be used.
    #[error("invalid status mapping: {reason}")]
    InvalidMapping { reason: String },
}

/// A SIR case status, spelled on the wire exactly as the API spells it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum SirStatus {
    #[serde(rename = "Submitted")]
    Submitted,
    #[serde(rename = "Acknowledged")]
    Acknowledged,
    #[serde(rename = "Detection and Analysis")]
    DetectionAndAnalysis,
    #[serde(rename = "Containment, Eradication and Recovery")]
    ContainmentEradicationAndRecovery,
    #[serde(rename = "Post-incident Activities")]
    PostIncidentActivities,
    #[serde(rename = "Ready to Close")]
    ReadyToClose,
    #[serde(rename = "Closed")]
    Closed,
}

impl SirStatus {
    pub const ALL: [SirStatus; 7] = [
        SirStatus::Submitted,
        SirStatus::Acknowledged,
        SirStatus::DetectionAndAnalysis,
        SirStatus::ContainmentEradicationAndRecovery,
        SirStatus::PostIncidentActivities,
        SirStatus::ReadyToClose,
        SirStatus::Closed,
    ];

    /// The API's spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            SirStatus::Submitted => "Submitted",
            SirStatus::Acknowledged => "Acknowledged",
            SirStatus::DetectionAndAnalysis => "Detection and Analysis",
            SirStatus::ContainmentEradicationAndRecovery => "Containment, Eradication and Recovery",
            SirStatus::PostIncidentActivities => "Post-incident Activities",
            SirStatus::ReadyToClose => "Ready to Close",
            SirStatus::Closed => "Closed",
        }
    }

    /// Statuses `UpdateCaseStatus` accepts as a target. `Acknowledged` and `Ready to Close` are
    /// set by AWS only; `Closed` is reached with `CloseCase`.
    pub fn is_self_managed(self) -> bool {
        matches!(
            self,
            SirStatus::Submitted
                | SirStatus::DetectionAndAnalysis
                | SirStatus::ContainmentEradicationAndRecovery
                | SirStatus::PostIncidentActivities
        )
    }

    /// Statuses one `UpdateCaseStatus` call can move a case in this status to.
    ///
    /// `Acknowledged` is AWS's "we saw it" on a just-submitted case, so it moves on like
    /// `Submitted`. From `Ready to Close` only `CloseCase` goes anywhere.
    pub fn update_targets(self) -> &'static [SirStatus] {
        use SirStatus::*;
        match self {
            Submitted | Acknowledged => &[DetectionAndAnalysis],
            DetectionAndAnalysis => &[ContainmentEradicationAndRecovery, PostIncidentActivities],
            ContainmentEradicationAndRecovery => &[DetectionAndAnalysis, PostIncidentActivities],
            PostIncidentActivities => &[DetectionAndAnalysis, ContainmentEradicationAndRecovery],
            ReadyToClose | Closed => &[],
        }
    }

    /// Whether one `UpdateCaseStatus` call may move a case from `self` to `to`.
    pub fn can_update_to(self, to: SirStatus) -> bool {
        self.update_targets().contains(&to)
    }
}

impl fmt::Display for SirStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for SirStatus {
    type Err = StatusError;

    fn from_str(s: &str) -> Result<Self, StatusError> {
        SirStatus::ALL
            .into_iter()
            .find(|status| status.as_str() == s)
            .ok_or_else(|| StatusError::UnknownStatus {
                value: s.to_owned(),
            })
    }
}

/// One SIR call that changes a case's status.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SirStatusStep {
    /// `UpdateCaseStatus` to this status.
    Update(SirStatus),
    /// `CloseCase`.
    Close,
}

/// The calls that take a case from `current` to `target`, shortest path first; empty when it is
/// already there. Errors say why SIR cannot do it (closed case, AWS-managed target, no path), so
/// the caller can report it on the case instead of retrying forever.
pub fn plan_sir_status_change(
    current: SirStatus,
    target: SirStatus,
) -> Result<Vec<SirStatusStep>, StatusError> {
    let unreachable = |reason| StatusError::Unreachable {
        from: current,
        to: target,
        reason,
    };
    if current == target {
        return Ok(Vec::new());
    }
    if current == SirStatus::Closed {
        return Err(unreachable(
            "a closed case can never be reopened or changed",
        ));
    }
    if target == SirStatus::Closed {
        return Ok(vec![SirStatusStep::Close]);
    }
    if !target.is_self_managed() {
        return Err(unreachable("only AWS sets that status"));
    }
    // Breadth-first over the edges gives the fewest UpdateCaseStatus calls.
    let mut previous: BTreeMap<SirStatus, SirStatus> = BTreeMap::new();
    let mut queue = VecDeque::from([current]);
    while let Some(status) = queue.pop_front() {
        if status == target {
            let mut path = vec![SirStatusStep::Update(target)];
            let mut at = target;
            while let Some(&before) = previous.get(&at) {
                if before == current {
                    break;
                }
                path.push(SirStatusStep::Update(before));
                at = before;
            }
            path.reverse();
            return Ok(path);
        }
        for &next in status.update_targets() {
            if next != current && !previous.contains_key(&next) {
                previous.insert(next, status);
                queue.push_back(next);
            }
        }
    }
    Err(unreachable("no UpdateCaseStatus path leads there"))
}

/// What a Jira status asks of the SIR case.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum JiraStatusTarget {
    /// Move the case to this status (or close it, for `Closed`).
    Status(SirStatus),
    /// Leave the case's status as it is.
    NoChange(NoChange),
}

/// The JSON spelling of [`JiraStatusTarget::NoChange`]: the string `"no change"`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum NoChange {
    #[serde(rename = "no change")]
    NoChange,
}

/// The two-way status mapping, loaded from JSON (SSM) over the DESIGN §9 defaults.
///
/// JSON shape (every key optional; given entries replace the default for that status):
/// `{"sirToJira": {"Submitted": "To Do", …}, "jiraToSir": {"In Progress": "Detection and Analysis",
/// "Done": "Closed", "To Do": "no change", …}}`. Jira names match case-insensitively.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StatusMapping {
    sir_to_jira: BTreeMap<SirStatus, String>,
    /// Keyed by lower-cased Jira status name.
    jira_to_sir: BTreeMap<String, JiraStatusTarget>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct StatusMappingJson {
    #[serde(default)]
    sir_to_jira: BTreeMap<SirStatus, String>,
    #[serde(default)]
    jira_to_sir: BTreeMap<String, JiraStatusTarget>,
    /// The field mapping shares the document (see [`crate::field_mapping`]).
    #[serde(default)]
    #[allow(dead_code, reason = "read by crate::field_mapping")]
    fields: Option<serde_json::Value>,
}

impl Default for StatusMapping {
    fn default() -> Self {
        use SirStatus::*;
        let sir_to_jira = [
            (Submitted, "To Do"),
            (Acknowledged, "In Progress"),
            (DetectionAndAnalysis, "In Progress"),
            (ContainmentEradicationAndRecovery, "In Progress"),
            (PostIncidentActivities, "In Review"),
            (ReadyToClose, "In Review"),
            (Closed, "Done"),
        ]
        .into_iter()
        .map(|(sir, jira)| (sir, jira.to_owned()))
        .collect();
        let jira_to_sir = [
            ("to do", JiraStatusTarget::NoChange(NoChange::NoChange)),
            (
                "in progress",
                JiraStatusTarget::Status(DetectionAndAnalysis),
            ),
            (
                "in review",
                JiraStatusTarget::Status(PostIncidentActivities),
            ),
            ("done", JiraStatusTarget::Status(Closed)),
        ]
        .into_iter()
        .map(|(jira, sir)| (jira.to_owned(), sir))
        .collect();
        StatusMapping {
            sir_to_jira,
            jira_to_sir,
        }
    }
}

impl StatusMapping {
    /// The defaults with the entries of `json` laid over them. Unknown SIR statuses, unknown keys
    /// and empty Jira names are errors, so a typo fails the cold start instead of a sync.
    pub fn from_json(json: &str) -> Result<Self, StatusError> {
        let overrides: StatusMappingJson =
            serde_json::from_str(json).map_err(|e| StatusError::InvalidMapping {
                reason: e.to_string(),
            })?;
        let mut mapping = StatusMapping::default();
        for (sir, jira) in overrides.sir_to_jira {
            let jira = jira.trim();
            if jira.is_empty() {
                return Err(StatusError::InvalidMapping {
                    reason: format!("empty Jira status for SIR status {sir}"),
                });
            }
            mapping.sir_to_jira.insert(sir, jira.to_owned());
        }
        for (jira, target) in overrides.jira_to_sir {
            let key = jira.trim().to_lowercase();
            if key.is_empty() {
                return Err(StatusError::InvalidMapping {
                    reason: "empty Jira status name in jiraToSir".into(),
                });
            }
            if let JiraStatusTarget::Status(status) = target
                && !status.is_self_managed()
                && status != SirStatus::Closed
            {
                return Err(StatusError::InvalidMapping {
                    reason: format!("Jira status {jira:?} maps to {status}, which only AWS sets"),
                });
            }
            mapping.jira_to_sir.insert(key, target);
        }
        Ok(mapping)
    }

    /// The Jira status a case in `status` should have.
    pub fn jira_status_for(&self, status: SirStatus) -> &str {
        // Every SIR status has an entry: the defaults cover all and overrides only replace.
        self.sir_to_jira
            .get(&status)
            .map_or("To Do", String::as_str)
    }

    /// What the Jira status `name` asks of the case; `None` for a status the mapping does not
    /// know (a custom workflow status), which leaves the case alone.
    pub fn sir_target_for(&self, jira_status: &str) -> Option<JiraStatusTarget> {
        self.jira_to_sir
            .get(&jira_status.trim().to_lowercase())
            .copied()
    }

    /// The SIR calls that bring a case in `current` to what the Jira status asks for.
    /// `Ok(empty)` when nothing is to be done.
    pub fn plan_for_jira_status(
        &self,
        current: SirStatus,
        jira_status: &str,
    ) -> Result<Vec<SirStatusStep>, StatusError> {
        match self.sir_target_for(jira_status) {
            Some(JiraStatusTarget::Status(target)) => plan_sir_status_change(current, target),
            Some(JiraStatusTarget::NoChange(_)) | None => Ok(Vec::new()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::SirStatus::*;
    use super::*;

    #[test]
    fn statuses_round_trip_with_the_api_spelling() {
        for status in SirStatus::ALL {
            let json = serde_json::to_string(&status).unwrap();
            assert_eq!(json, format!("\"{}\"", status.as_str()));
            assert_eq!(serde_json::from_str::<SirStatus>(&json).unwrap(), status);
            assert_eq!(status.as_str().parse::<SirStatus>().unwrap(), status);
        }
        assert_eq!(
            "Open".parse::<SirStatus>(),
            Err(StatusError::UnknownStatus {
                value: "Open".into()
            })
        );
    }

    #[test]
    fn only_the_four_documented_statuses_are_self_managed() {
        let managed: Vec<_> = SirStatus::ALL
            .into_iter()
            .filter(|s| s.is_self_managed())
            .collect();
        assert_eq!(
            managed,
            [
                Submitted,
                DetectionAndAnalysis,
                ContainmentEradicationAndRecovery,
                PostIncidentActivities
            ]
        );
    }

    #[test]
    fn update_case_status_edges_are_exactly_the_documented_graph() {
        let mut edges = Vec::new();
        for from in SirStatus::ALL {
            for to in SirStatus::ALL {
                if from != Acknowledged && from.can_update_to(to) {
                    edges.push((from, to));
                }
            }
        }
        assert_eq!(
            edges,
            [
                (Submitted, DetectionAndAnalysis),
                (DetectionAndAnalysis, ContainmentEradicationAndRecovery),
                (DetectionAndAnalysis, PostIncidentActivities),
                (ContainmentEradicationAndRecovery, DetectionAndAnalysis),
                (ContainmentEradicationAndRecovery, PostIncidentActivities),
                (PostIncidentActivities, DetectionAndAnalysis),
                (PostIncidentActivities, ContainmentEradicationAndRecovery),
            ]
        );
        assert!(!Submitted.can_update_to(Closed));
        assert!(!PostIncidentActivities.can_update_to(Submitted));
    }

    #[test]
    fn closing_is_close_case_from_any_open_status() {
        for from in SirStatus::ALL.into_iter().filter(|s| *s != Closed) {
            assert_eq!(
                plan_sir_status_change(from, Closed).unwrap(),
                [SirStatusStep::Close]
            );
        }
    }

    #[test]
    fn closed_case_stays_closed() {
        for to in SirStatus::ALL.into_iter().filter(|s| *s != Closed) {
            let err = plan_sir_status_change(Closed, to).unwrap_err();
            assert!(
                matches!(err, StatusError::Unreachable { from: Closed, to: t, .. } if t == to),
                "{err}"
            );
        }
        assert!(plan_sir_status_change(Closed, Closed).unwrap().is_empty());
    }

    #[test]
    fn same_status_needs_no_call() {
        assert!(
            plan_sir_status_change(DetectionAndAnalysis, DetectionAndAnalysis)
                .unwrap()
                .is_empty()
        );
    }

    #[test]
    fn submitted_case_reaches_post_incident_through_detection_and_analysis() {
        assert_eq!(
            plan_sir_status_change(Submitted, PostIncidentActivities).unwrap(),
            [
                SirStatusStep::Update(DetectionAndAnalysis),
                SirStatusStep::Update(PostIncidentActivities)
            ]
        );
        assert_eq!(
            plan_sir_status_change(Acknowledged, ContainmentEradicationAndRecovery).unwrap(),
            [
                SirStatusStep::Update(DetectionAndAnalysis),
                SirStatusStep::Update(ContainmentEradicationAndRecovery)
            ]
        );
    }

    #[test]
    fn direct_edges_take_one_call() {
        assert_eq!(
            plan_sir_status_change(PostIncidentActivities, ContainmentEradicationAndRecovery)
                .unwrap(),
            [SirStatusStep::Update(ContainmentEradicationAndRecovery)]
        );
    }

    #[test]
    fn aws_managed_targets_are_unreachable() {
        for target in [Acknowledged, ReadyToClose] {
            assert!(plan_sir_status_change(DetectionAndAnalysis, target).is_err());
        }
    }

    #[test]
    fn nothing_goes_back_to_submitted() {
        let err = plan_sir_status_change(DetectionAndAnalysis, Submitted).unwrap_err();
        assert!(
            err.to_string().contains("no UpdateCaseStatus path"),
            "{err}"
        );
    }

    #[test]
    fn ready_to_close_can_only_be_closed() {
        assert!(plan_sir_status_change(ReadyToClose, DetectionAndAnalysis).is_err());
        assert_eq!(
            plan_sir_status_change(ReadyToClose, Closed).unwrap(),
            [SirStatusStep::Close]
        );
    }

    #[test]
    fn default_mapping_sir_to_jira_matches_design() {
        let m = StatusMapping::default();
        assert_eq!(m.jira_status_for(Submitted), "To Do");
        for s in [
            Acknowledged,
            DetectionAndAnalysis,
            ContainmentEradicationAndRecovery,
        ] {
            assert_eq!(m.jira_status_for(s), "In Progress");
        }
        assert_eq!(m.jira_status_for(PostIncidentActivities), "In Review");
        assert_eq!(m.jira_status_for(ReadyToClose), "In Review");
        assert_eq!(m.jira_status_for(Closed), "Done");
    }

    #[test]
    fn default_mapping_jira_to_sir_matches_design() {
        let m = StatusMapping::default();
        assert_eq!(
            m.sir_target_for("In Progress"),
            Some(JiraStatusTarget::Status(DetectionAndAnalysis))
        );
        assert_eq!(
            m.sir_target_for("in review"),
            Some(JiraStatusTarget::Status(PostIncidentActivities))
        );
        assert_eq!(
            m.sir_target_for("DONE"),
            Some(JiraStatusTarget::Status(Closed))
        );
        assert_eq!(
            m.sir_target_for("To Do"),
            Some(JiraStatusTarget::NoChange(NoChange::NoChange))
        );
        assert_eq!(m.sir_target_for("Blocked"), None);
    }

    #[test]
    fn done_in_jira_closes_the_case() {
        let m = StatusMapping::default();
        assert_eq!(
            m.plan_for_jira_status(ContainmentEradicationAndRecovery, "Done")
                .unwrap(),
            [SirStatusStep::Close]
        );
    }

    #[test]
    fn to_do_and_unknown_jira_statuses_leave_the_case_alone() {
        let m = StatusMapping::default();
        assert!(
            m.plan_for_jira_status(DetectionAndAnalysis, "To Do")
                .unwrap()
                .is_empty()
        );
        assert!(
            m.plan_for_jira_status(DetectionAndAnalysis, "Waiting for vendor")
                .unwrap()
                .is_empty()
        );
    }

    #[test]
    fn json_overrides_replace_only_named_entries() {
        let m = StatusMapping::from_json(
            r#"{"sirToJira": {"Submitted": "Backlog"},
                "jiraToSir": {"Triage": "Detection and Analysis", "Won't Do": "Closed", "In Review": "no change"}}"#,
        )
        .unwrap();
        assert_eq!(m.jira_status_for(Submitted), "Backlog");
        assert_eq!(m.jira_status_for(Closed), "Done");
        assert_eq!(
            m.sir_target_for("triage"),
            Some(JiraStatusTarget::Status(DetectionAndAnalysis))
        );
        assert_eq!(
            m.sir_target_for("won't do"),
            Some(JiraStatusTarget::Status(Closed))
        );
        assert_eq!(
            m.sir_target_for("In Review"),
            Some(JiraStatusTarget::NoChange(NoChange::NoChange))
        );
        assert_eq!(
            m.sir_target_for("In Progress"),
            Some(JiraStatusTarget::Status(DetectionAndAnalysis))
        );
    }

    #[test]
    fn empty_json_object_is_the_defaults() {
        assert_eq!(
            StatusMapping::from_json("{}").unwrap(),
            StatusMapping::default()
        );
    }

    #[test]
    fn bad_mapping_json_is_refused_with_a_reason() {
        for bad in [
            r#"{"sirToJira": {"Open": "To Do"}}"#,
            r#"{"jiraToSir": {"Done": "Finished"}}"#,
            r#"{"jiraToSir": {"Waiting": "Ready to Close"}}"#,
            r#"{"sirToJira": {"Closed": "  "}}"#,
            r#"{"statuses": {}}"#,
            "not json",
        ] {
            let err = StatusMapping::from_json(bad).unwrap_err();
            assert!(
                matches!(err, StatusError::InvalidMapping { .. }),
                "{bad}: {err}"
            );
        }
    }
}
