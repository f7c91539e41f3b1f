//! Each invariant: a converged world passes it, a crafted breach is reported as exactly that
//! violation.

use simulator::invariants::{
    ActionWrites, Attachment, CLOSED, Case, CaseComment, DlqEntry, Issue, IssueComment, Link,
    Violation, World, attachments_exactly_once, check_all, closed_cases_stay_closed,
    comment_copies_current, comments_exactly_once, deletions_recorded, dlq_converged, fields_agree,
    judge_dlq, one_issue_per_case, watchers_reach_the_other_side, writes_bounded,
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
        watchers: vec!["bob@example.com".into()],
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
        watchers: vec!["bob@example.com".into()],
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
        case_watchers_added: [("1".to_string(), "bob@example.com".to_string())].into(),
        issue_watchers_added: [("SIR-2".to_string(), "bob@example.com".to_string())].into(),
        deleted_issues: Default::default(),
        broken_links: Vec::new(),
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

#[test]
fn a_description_is_compared_by_its_text_above_the_details_block() {
    let mut world = converged();
    world.issues[0].description = format!(
        "what happened\n\n{}\nCase ID: 1",
        shared::issue_description::DETAILS_MARKER
    );
    assert_eq!(fields_agree(&world, &status_for), vec![]);

    world.issues[0].description = "what happened, told in Jira".into();
    assert_eq!(
        fields_agree(&world, &status_for),
        vec![Violation::DescriptionDiffers {
            case: "1".into(),
            description: "what happened".into(),
            issue: "SIR-1".into(),
            expected: "what happened, told in Jira".into(),
        }]
    );
}

#[test]
fn an_issue_without_a_description_agrees_with_sirs_placeholder_only() {
    let mut world = converged();
    world.issues[1].description = String::new();
    world.cases[1].description = "Jira issue SIR-2 has no description.".into();
    assert_eq!(fields_agree(&world, &status_for), vec![]);
}

#[test]
fn a_copy_still_reading_as_the_original_before_its_edit_is_reported() {
    let mut world = converged();
    world.cases[0].comments[0].body = "from SIR, edited".into();
    world.issues[1].comments[0].body = "from Jira, edited".into();
    assert_eq!(
        comment_copies_current(&world),
        vec![
            Violation::CommentBodyDiffers {
                comment: "j1-2".into(),
                on: "issue SIR-1".into(),
                copy_of: "c1-1".into(),
                body: "from SIR".into(),
                original: "from SIR, edited".into(),
            },
            Violation::CommentBodyDiffers {
                comment: "c2-2".into(),
                on: "case 2".into(),
                copy_of: "j2-1".into(),
                body: "from Jira".into(),
                original: "from Jira, edited".into(),
            },
        ]
    );
}

#[test]
fn a_copy_opening_with_who_wrote_it_reads_as_its_original() {
    let mut world = converged();
    world.cases[0].comments[1].body = "[Jira SIR-1] Comment by Ann at noon:\n\nfrom Jira".into();
    assert_eq!(comment_copies_current(&world), vec![]);
}

#[test]
fn a_watcher_added_on_one_side_and_missing_on_the_other_is_reported() {
    let mut world = converged();
    world.issues[0].watchers.clear();
    world.cases[1].watchers.clear();
    assert_eq!(
        watchers_reach_the_other_side(&world),
        vec![
            Violation::WatcherMissing {
                email: "bob@example.com".into(),
                added_to: "case 1".into(),
                on: "issue SIR-1".into(),
            },
            Violation::WatcherMissing {
                email: "bob@example.com".into(),
                added_to: "issue SIR-2".into(),
                on: "case 2".into(),
            },
        ]
    );
}

#[test]
fn a_deleted_issue_leaves_its_case_with_a_broken_link_and_no_second_issue() {
    let mut world = converged();
    let link = world.links.remove(0);
    world.issues.remove(0);
    world.deleted_issues.insert(link.issue_key.clone());
    world.broken_links.push(link.clone());
    assert_eq!(check_all(&world, &status_for, 3), vec![]);

    // An issue made for the case again is a second issue.
    let mut again = converged().issues[0].clone();
    again.key = "SIR-3".into();
    world.issues.push(again);
    assert_eq!(
        one_issue_per_case(&world),
        vec![Violation::CaseWithManyIssues {
            case: "1".into(),
            issues: vec!["SIR-1".into(), "SIR-3".into()]
        }]
    );
}

#[test]
fn a_deleted_issue_whose_link_is_still_live_is_reported() {
    let mut world = converged();
    world.issues.remove(0);
    world.deleted_issues.insert("SIR-1".into());
    assert_eq!(
        deletions_recorded(&world),
        vec![Violation::DeletedIssueNotRecorded {
            issue: "SIR-1".into(),
            case: "1".into(),
        }]
    );
    assert_eq!(one_issue_per_case(&world), vec![]);
}
