//! Each invariant: a converged world passes it, a crafted breach is reported as exactly that
//! violation.

use simulator::invariants::{
    ActionWrites, Attachment, CLOSED, Case, CaseComment, DlqEntry, Issue, IssueComment, Link,
    Violation, World, attachments_exactly_once, check_all, closed_cases_stay_closed,
    comments_exactly_once, dlq_converged, fields_agree, judge_dlq, one_issue_per_case,
    writes_bounded,
};

const INTEGRATION: &str = "integration";

fn status_for(case_status: &str) -> Option<String> {
    match case_status {
        "Submitted" => Some("To Do".into()),
        "Detection and Analysis" => Some("In Progress".into()),
        CLOSED => Some("Done".into()),
        _ => None,
    }
}

/// Two linked pairs, fully converged: a comment each way, an attachment each way, a responder
/// action that caused two writes, a DLQ message the reconciler converged.
fn converged() -> World {
    let case = |id: &str, title: &str, status: &str| Case {
        id: id.into(),
        title: title.into(),
        status: status.into(),
        description: "what happened".into(),
        comments: vec![
            CaseComment {
                id: format!("c{id}-1"),
                body: "from SIR".into(),
                creator: "responder".into(),
                copied_from: None,
            },
            CaseComment {
                id: format!("c{id}-2"),
                body: "from Jira".into(),
                creator: INTEGRATION.into(),
                copied_from: Some(format!("j{id}-1")),
            },
        ],
        attachments: vec![
            Attachment {
                name: "log.txt".into(),
                size: 10,
            },
            Attachment {
                name: "shot.png".into(),
                size: 20,
            },
        ],
    };
    let issue = |key: &str, case_id: &str, summary: &str, status: &str, made: bool| Issue {
        key: key.into(),
        summary: summary.into(),
        status: status.into(),
        description: "what happened".into(),
        comments: vec![
            IssueComment {
                id: format!("j{case_id}-1"),
                body: "from Jira".into(),
                author: "responder".into(),
                copied_from: None,
            },
            IssueComment {
                id: format!("j{case_id}-2"),
                body: "from SIR".into(),
                author: INTEGRATION.into(),
                copied_from: Some(format!("c{case_id}-1")),
            },
        ],
        attachments: vec![
            Attachment {
                name: "shot.png".into(),
                size: 20,
            },
            Attachment {
                name: "log.txt".into(),
                size: 10,
            },
        ],
        made_for_case: made.then(|| case_id.to_string()),
    };
    World {
        cases: vec![
            case("1", "Phishing", "Submitted"),
            case("2", "Leak", CLOSED),
        ],
        issues: vec![
            issue("SIR-1", "1", "Phishing", "To Do", true),
            // Created by a responder in Jira; sir-client made its case.
            issue("SIR-2", "2", "Leak", "Done", false),
        ],
        links: vec![
            Link {
                case_id: "1".into(),
                issue_key: "SIR-1".into(),
            },
            Link {
                case_id: "2".into(),
                issue_key: "SIR-2".into(),
            },
        ],
        closed_cases: ["2".to_string()].into(),
        dlq: vec![DlqEntry {
            function: "jiraClient".into(),
            payload: "{}".into(),
            converged: true,
        }],
        writes: vec![ActionWrites {
            action: "comment c1-1".into(),
            actions: 1,
            writes: 2,
        }],
    }
}

#[test]
fn a_converged_world_violates_nothing() {
    assert_eq!(check_all(&converged(), &status_for, 3), vec![]);
}

#[test]
fn a_case_without_an_issue_is_reported() {
    let mut world = converged();
    world.links.remove(0);
    world.issues.remove(0);
    assert_eq!(
        one_issue_per_case(&world),
        vec![Violation::CaseWithoutIssue { case: "1".into() }]
    );
}

#[test]
fn a_second_issue_made_for_the_same_case_is_reported_even_unlinked() {
    let mut world = converged();
    let mut twin = world.issues[0].clone();
    twin.key = "SIR-3".into();
    world.issues.push(twin);
    assert_eq!(
        one_issue_per_case(&world),
        vec![Violation::CaseWithManyIssues {
            case: "1".into(),
            issues: vec!["SIR-1".into(), "SIR-3".into()]
        }]
    );
}

#[test]
fn an_integration_made_issue_whose_case_is_gone_is_reported() {
    let mut world = converged();
    world.cases.remove(0);
    world.links.remove(0);
    assert_eq!(
        one_issue_per_case(&world),
        vec![Violation::IssueWithoutCase {
            issue: "SIR-1".into()
        }]
    );
}

#[test]
fn an_issue_linked_to_two_cases_is_reported() {
    let mut world = converged();
    world.links.push(Link {
        case_id: "2".into(),
        issue_key: "SIR-1".into(),
    });
    let violations = one_issue_per_case(&world);
    assert!(violations.contains(&Violation::IssueWithManyCases {
        issue: "SIR-1".into(),
        cases: vec!["1".into(), "2".into()]
    }));
}

#[test]
fn a_comment_never_copied_is_reported_missing() {
    let mut world = converged();
    world.issues[0].comments.remove(1);
    assert_eq!(
        comments_exactly_once(&world),
        vec![Violation::CommentMissing {
            from: "case 1".into(),
            comment: "c1-1".into(),
            on: "issue SIR-1".into()
        }]
    );
}

#[test]
fn a_comment_copied_twice_is_reported_doubled() {
    let mut world = converged();
    let mut again = world.cases[0].comments[1].clone();
    again.id = "c1-3".into();
    world.cases[0].comments.push(again);
    assert_eq!(
        comments_exactly_once(&world),
        vec![Violation::CommentDoubled {
            from: "issue SIR-1".into(),
            comment: "j1-1".into(),
            on: "case 1".into(),
            copies: 2
        }]
    );
}

#[test]
fn a_copy_copied_back_is_reported() {
    let mut world = converged();
    world.issues[0].comments.push(IssueComment {
        id: "j1-9".into(),
        body: "from Jira".into(),
        author: INTEGRATION.into(),
        copied_from: Some("c1-2".into()),
    });
    assert_eq!(
        comments_exactly_once(&world),
        vec![Violation::CommentCopiedBack {
            comment: "j1-9".into(),
            on: "issue SIR-1".into(),
            copy_of: "c1-2".into()
        }]
    );
}

#[test]
fn attachments_missing_doubled_or_of_another_size_are_reported() {
    let mut world = converged();
    world.issues[0].attachments.retain(|a| a.name != "log.txt");
    assert_eq!(
        attachments_exactly_once(&world),
        vec![Violation::AttachmentMissing {
            name: "log.txt".into(),
            on: "issue SIR-1".into()
        }]
    );

    let mut world = converged();
    world.cases[1].attachments.push(Attachment {
        name: "shot.png".into(),
        size: 20,
    });
    assert_eq!(
        attachments_exactly_once(&world),
        vec![Violation::AttachmentDoubled {
            name: "shot.png".into(),
            on: "case 2".into(),
            copies: 2
        }]
    );

    let mut world = converged();
    world.issues[1].attachments[1].size = 9;
    assert_eq!(
        attachments_exactly_once(&world),
        vec![Violation::AttachmentSizeDiffers {
            name: "log.txt".into(),
            case_size: 10,
            issue_size: 9
        }]
    );
}

#[test]
fn a_title_or_status_that_disagrees_is_reported() {
    let mut world = converged();
    world.issues[0].summary = "Phishing (old)".into();
    assert_eq!(
        fields_agree(&world, &status_for),
        vec![Violation::TitleDiffers {
            case: "1".into(),
            title: "Phishing".into(),
            issue: "SIR-1".into(),
            summary: "Phishing (old)".into()
        }]
    );

    let mut world = converged();
    world.issues[1].status = "In Progress".into();
    assert_eq!(
        fields_agree(&world, &status_for),
        vec![Violation::StatusDiffers {
            case: "2".into(),
            status: CLOSED.into(),
            issue: "SIR-2".into(),
            found: "In Progress".into(),
            expected: "Done".into()
        }]
    );
}

#[test]
fn a_closed_case_that_is_open_again_is_reported() {
    let mut world = converged();
    world.cases[1].status = "Detection and Analysis".into();
    assert_eq!(
        closed_cases_stay_closed(&world),
        vec![Violation::ClosedCaseReopened {
            case: "2".into(),
            status: "Detection and Analysis".into()
        }]
    );
}

#[test]
fn an_action_causing_more_writes_than_the_bound_is_reported() {
    let mut world = converged();
    world.writes.push(ActionWrites {
        action: "edit title 1".into(),
        actions: 1,
        writes: 9,
    });
    assert_eq!(
        writes_bounded(&world, 3),
        vec![Violation::TooManyWrites {
            action: "edit title 1".into(),
            writes: 9,
            bound: 3
        }]
    );
}

#[test]
fn a_span_of_actions_may_write_the_bound_for_each_of_them() {
    let mut world = converged();
    world.writes.push(ActionWrites {
        action: "the run's 3 actions".into(),
        actions: 3,
        writes: 9,
    });
    assert_eq!(writes_bounded(&world, 3), vec![]);
    world.writes[1].writes = 10;
    assert_eq!(
        writes_bounded(&world, 3),
        vec![Violation::TooManyWrites {
            action: "the run's 3 actions".into(),
            writes: 10,
            bound: 9
        }]
    );
}

#[test]
fn a_dlq_message_the_reconciler_did_not_converge_is_reported() {
    let mut world = converged();
    world.dlq.push(DlqEntry {
        function: "sirClient".into(),
        payload: "{\"k\":1}".into(),
        converged: false,
    });
    assert_eq!(
        dlq_converged(&world),
        vec![Violation::DlqNotConverged {
            function: "sirClient".into(),
            payload: "{\"k\":1}".into()
        }]
    );
}

#[test]
fn a_dead_letter_converged_only_when_nothing_is_wrong_with_its_pair() {
    let mut world = converged();
    let dead = |payload: &str| DlqEntry {
        function: "jiraClient".into(),
        payload: payload.into(),
        converged: false,
    };
    // The first names issue SIR-1 (its pair is case 1), the second case 2, the third nothing.
    world.dlq = vec![
        dead("{\"issue\":\"SIR-1\"}"),
        dead("{\"caseId\":\"2\"}"),
        dead("{\"detail-type\":\"Scheduled Event\"}"),
    ];
    let wrong_with_case_1 = Violation::CaseWithoutIssue { case: "1".into() };
    judge_dlq(&mut world, std::slice::from_ref(&wrong_with_case_1));
    let converged: Vec<bool> = world.dlq.iter().map(|d| d.converged).collect();
    assert_eq!(converged, vec![false, true, false]);

    judge_dlq(&mut world, &[]);
    assert!(world.dlq.iter().all(|d| d.converged));
    // SIR-12 is not SIR-1.
    world.dlq = vec![dead("{\"issue\":\"SIR-12\"}")];
    judge_dlq(&mut world, &[wrong_with_case_1]);
    assert!(
        !world.dlq[0].converged,
        "names no known pair, and the world is not clean"
    );
}

#[test]
fn every_violation_reads_as_a_sentence_naming_what_broke() {
    let violation = Violation::CommentDoubled {
        from: "issue SIR-1".into(),
        comment: "j1-1".into(),
        on: "case 1".into(),
        copies: 2,
    };
    assert_eq!(
        violation.to_string(),
        "comment j1-1 of issue SIR-1 is on case 1 2 times"
    );
}
