//! `/search/jql` with nextPageToken paging, the index lag and `reconcileIssues`; the removed
//! `/search` is 410.

use std::time::Duration;

use jira_emulator::NewIssue;
use reqwest::Method;
use serde_json::{Value, json};

use crate::support::{Jira, json_of};

async fn search(jira: &Jira, body: Value) -> (u16, Value) {
    let response = jira.post("/search/jql", &body).send().await.unwrap();
    let status = response.status().as_u16();
    (status, json_of(response).await)
}

#[tokio::test]
async fn a_label_search_pages_with_next_page_token_until_is_last() {
    let jira = Jira::start().await;
    let owner = jira.emulator.integration_account_id();
    for n in 0..12 {
        let mut issue = NewIssue::new(format!("issue {n}"));
        if n % 2 == 0 {
            issue.labels = vec!["sir-case-42".into()];
        }
        jira.emulator.create_issue(&owner, issue).unwrap();
    }
    let mut keys = Vec::new();
    let mut token: Option<String> = None;
    let mut pages = 0;
    loop {
        let mut body = json!({
            "jql": "project = SEC AND labels = \"sir-case-42\"",
            "maxResults": 4,
            "fields": ["summary", "labels"],
        });
        if let Some(token) = &token {
            body["nextPageToken"] = json!(token);
        }
        let (status, page) = search(&jira, body).await;
        assert_eq!(status, 200, "{page}");
        pages += 1;
        for issue in page["issues"].as_array().unwrap() {
            assert_eq!(issue["fields"]["labels"], json!(["sir-case-42"]));
            keys.push(issue["key"].as_str().unwrap().to_owned());
        }
        if page["isLast"] == true {
            assert!(page.get("nextPageToken").is_none());
            break;
        }
        token = Some(page["nextPageToken"].as_str().unwrap().to_owned());
    }
    assert_eq!(pages, 2);
    assert_eq!(keys.len(), 6);
    assert_eq!(keys[0], "SEC-11", "newest key first by default");
}

#[tokio::test]
async fn short_pages_hold_fewer_issues_than_asked_and_are_not_the_last_while_more_follow() {
    let jira = Jira::start().await;
    let owner = jira.emulator.integration_account_id();
    for n in 0..3 {
        jira.emulator
            .create_issue(&owner, NewIssue::new(format!("issue {n}")))
            .unwrap();
    }
    jira.emulator.set_search_short_pages(2);
    let body =
        json!({"jql": "project = SEC ORDER BY key ASC", "maxResults": 5, "fields": ["summary"]});
    let (status, page) = search(&jira, body.clone()).await;
    assert_eq!(status, 200, "{page}");
    assert_eq!(page["issues"].as_array().unwrap().len(), 2, "{page}");
    assert_eq!(page["isLast"], false);
    let mut next = body;
    next["nextPageToken"] = page["nextPageToken"].clone();
    let (_, page) = search(&jira, next).await;
    assert_eq!(page["issues"].as_array().unwrap().len(), 1, "{page}");
    assert_eq!(page["isLast"], true);

    jira.emulator.set_search_short_pages(0);
    let (_, page) = search(
        &jira,
        json!({"jql": "project = SEC", "maxResults": 5, "fields": ["summary"]}),
    )
    .await;
    assert_eq!(page["issues"].as_array().unwrap().len(), 3, "off again");
}

#[tokio::test]
async fn without_fields_only_issue_ids_are_returned() {
    let jira = Jira::start().await;
    jira.create("Only ids", &["x"]).await;
    let (status, page) = search(&jira, json!({"jql": "labels = x"})).await;
    assert_eq!(status, 200);
    let issue = page["issues"][0].as_object().unwrap();
    assert_eq!(issue.keys().collect::<Vec<_>>(), ["id"]);
    assert_eq!(page["isLast"], true);
}

#[tokio::test]
async fn key_status_and_recent_updates_can_be_searched_in_order() {
    let jira = Jira::start().await;
    let first = jira.create("first", &[]).await;
    let second = jira.create("second", &[]).await;
    tokio::time::sleep(Duration::from_millis(5)).await;
    jira.put(
        &format!("/issue/{first}"),
        &json!({"fields": {"summary": "first, edited"}}),
    )
    .send()
    .await
    .unwrap();
    let (_, by_key) = search(
        &jira,
        json!({"jql": format!("key = {second}"), "fields": ["summary"]}),
    )
    .await;
    assert_eq!(by_key["issues"][0]["key"], second.as_str());
    let (_, recent) = search(
        &jira,
        json!({"jql": "project = SEC AND updated >= -5m AND status = \"To Do\" ORDER BY updated DESC", "fields": ["summary"]}),
    )
    .await;
    let keys: Vec<_> = recent["issues"]
        .as_array()
        .unwrap()
        .iter()
        .map(|issue| issue["key"].as_str().unwrap())
        .collect();
    assert_eq!(keys, [first.as_str(), second.as_str()]);
    let (_, none) = search(&jira, json!({"jql": "project = SEC AND updated < -1d"})).await;
    assert_eq!(none["issues"], json!([]));
}

#[tokio::test]
async fn queries_outside_the_supported_jql_are_refused_with_error_messages() {
    let jira = Jira::start().await;
    jira.create("something", &[]).await;
    for jql in [
        "",
        "ORDER BY updated DESC",
        "labels = a OR",
        "(labels = a",
        "project = NOPE",
        "key = SEC-999",
        "cf[10000] = x",
        "status = \"Nowhere\"",
        "updated >= yesterday",
        "project = SEC AND",
    ] {
        let (status, body) = search(&jira, json!({"jql": jql})).await;
        assert_eq!(status, 400, "{jql}");
        assert!(body["errorMessages"][0].is_string(), "{jql}: {body}");
    }
}

fn keys_of(page: &Value) -> Vec<String> {
    page["issues"]
        .as_array()
        .unwrap()
        .iter()
        .map(|issue| issue["key"].as_str().unwrap().to_owned())
        .collect()
}

#[tokio::test]
async fn or_not_and_parentheses_combine_as_in_jira() {
    let jira = Jira::start().await;
    let a = jira.create("a", &["a"]).await;
    let b = jira.create("b", &["b"]).await;
    let ab = jira.create("ab", &["a", "b"]).await;
    jira.create("c", &["c"]).await;
    let query = |jql: &str| json!({"jql": jql, "fields": ["key"], "maxResults": 50});
    let (status, page) = search(
        &jira,
        query("project = SEC AND (labels = a OR labels = b) ORDER BY key ASC"),
    )
    .await;
    assert_eq!(status, 200, "{page}");
    assert_eq!(keys_of(&page), [a.clone(), b.clone(), ab.clone()]);
    let (_, page) = search(
        &jira,
        query("labels = a AND NOT labels = b OR labels = b AND NOT labels = a ORDER BY key ASC"),
    )
    .await;
    assert_eq!(keys_of(&page), [a.clone(), b]);
    let (_, page) = search(&jira, query(&format!("key = {ab} AND (labels = c)"))).await;
    assert_eq!(keys_of(&page), Vec::<String>::new());
    let (_, page) = search(&jira, query(&format!("key = {a} AND (labels = a)"))).await;
    assert_eq!(keys_of(&page), [a]);
}

#[tokio::test]
async fn dates_count_to_the_minute_as_jira_indexes_them() {
    let jira = Jira::start().await;
    let key = jira.create("minute", &[]).await;
    let updated = jira.emulator.issue(&key).unwrap().updated;
    let minute = format!(
        "{:04}-{:02}-{:02} {:02}:{:02}",
        updated.year(),
        u8::from(updated.month()),
        updated.day(),
        updated.hour(),
        updated.minute()
    );
    let (_, page) = search(
        &jira,
        json!({"jql": format!("key = {key} AND updated > \"{minute}\"")}),
    )
    .await;
    assert_eq!(
        page["issues"],
        json!([]),
        "updated within {minute} is not after it, whatever its seconds"
    );
    let (_, page) = search(
        &jira,
        json!({"jql": format!("key = {key} AND updated >= \"{minute}\""), "fields": ["key"]}),
    )
    .await;
    assert_eq!(keys_of(&page), [key]);
}

#[tokio::test]
async fn a_page_token_from_another_query_is_refused() {
    let jira = Jira::start().await;
    for n in 0..3 {
        jira.create(&format!("issue {n}"), &["a"]).await;
    }
    let (_, first) = search(&jira, json!({"jql": "labels = a", "maxResults": 1})).await;
    let token = first["nextPageToken"].as_str().unwrap();
    let (status, _) = search(
        &jira,
        json!({"jql": "labels = b", "maxResults": 1, "nextPageToken": token}),
    )
    .await;
    assert_eq!(status, 400);
}

#[tokio::test]
async fn the_removed_search_endpoint_answers_410_gone() {
    let jira = Jira::start().await;
    for (method, url) in [
        (Method::GET, jira.v3("/search?jql=project%20%3D%20SEC")),
        (Method::POST, jira.v3("/search")),
        (Method::GET, jira.v2("/search?jql=project%20%3D%20SEC")),
    ] {
        let response = jira
            .request(method, &url)
            .json(&json!({"jql": "project = SEC"}))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 410, "{url}");
        let body = json_of(response).await;
        assert!(
            body["errorMessages"][0]
                .as_str()
                .unwrap()
                .contains("/rest/api/3/search/jql")
        );
    }
}

#[tokio::test]
async fn the_query_can_also_come_as_url_parameters() {
    let jira = Jira::start().await;
    let key = jira.create("by GET", &["get"]).await;
    let page = json_of(
        jira.get("/search/jql")
            .query(&[("jql", "labels = get"), ("fields", "summary,status")])
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(page["issues"][0]["key"], key.as_str());
    assert_eq!(page["issues"][0]["fields"]["summary"], "by GET");
}

#[tokio::test]
async fn with_a_search_lag_a_new_issue_is_found_once_indexed_and_an_updated_one_by_its_earlier_fields()
 {
    let jira = Jira::start_with(jira_emulator::JiraEmulatorConfig {
        search_lag: Duration::from_millis(600),
        ..jira_emulator::JiraEmulatorConfig::default()
    })
    .await;
    let owner = jira.emulator.integration_account_id();
    let key = jira
        .emulator
        .create_issue(
            &owner,
            NewIssue {
                labels: vec!["sir-case-7".into()],
                ..NewIssue::new("Just created")
            },
        )
        .unwrap();
    let id = jira.emulator.issue(&key).unwrap().id;
    let jql = "project = SEC AND labels = \"sir-case-7\"";
    let keys = |page: &Value| -> Vec<String> {
        page["issues"]
            .as_array()
            .unwrap()
            .iter()
            .map(|issue| issue["key"].as_str().unwrap().to_owned())
            .collect()
    };

    let (status, page) = search(&jira, json!({"jql": jql, "fields": ["key"]})).await;
    assert_eq!(status, 200, "{page}");
    assert!(keys(&page).is_empty(), "not indexed yet: {page}");
    // Named in reconcileIssues (a number, as Cloud documents it), it is read consistently.
    let id_number: u64 = id.parse().unwrap();
    let (status, page) = search(
        &jira,
        json!({"jql": jql, "fields": ["key"], "reconcileIssues": [id_number]}),
    )
    .await;
    assert_eq!(status, 200, "{page}");
    assert_eq!(keys(&page), [key.as_str()]);

    tokio::time::sleep(Duration::from_millis(700)).await;
    let (_, page) = search(&jira, json!({"jql": jql, "fields": ["key"]})).await;
    assert_eq!(keys(&page), [key.as_str()], "indexed after the lag");

    // An update is not indexed yet: the issue is still found, by its earlier fields, and not by
    // the new ones, until the index catches up.
    jira.emulator
        .comment(&owner, &key, "touches updated")
        .unwrap();
    jira.emulator
        .edit_issue(
            &owner,
            &key,
            jira_emulator::IssueEdit {
                labels: Some(vec!["sir-case-9".into()]),
                ..Default::default()
            },
        )
        .unwrap();
    let relabelled = "project = SEC AND labels = \"sir-case-9\"";
    let (_, page) = search(&jira, json!({"jql": jql, "fields": ["key"]})).await;
    assert_eq!(
        keys(&page),
        [key.as_str()],
        "found by its old label: {page}"
    );
    let (_, page) = search(&jira, json!({"jql": relabelled, "fields": ["key"]})).await;
    assert!(keys(&page).is_empty(), "not by its new one yet: {page}");
    let (_, page) = search(
        &jira,
        json!({"jql": relabelled, "fields": ["key"], "reconcileIssues": [id_number]}),
    )
    .await;
    assert_eq!(keys(&page), [key.as_str()], "unless reconciled: {page}");

    tokio::time::sleep(Duration::from_millis(700)).await;
    let (_, page) = search(&jira, json!({"jql": jql, "fields": ["key"]})).await;
    assert!(
        keys(&page).is_empty(),
        "the old label is gone once indexed: {page}"
    );
    let (_, page) = search(&jira, json!({"jql": relabelled, "fields": ["key"]})).await;
    assert_eq!(keys(&page), [key.as_str()], "{page}");
}

#[tokio::test]
async fn without_a_search_lag_writes_are_found_at_once_and_reconcile_issues_is_checked() {
    let jira = Jira::start().await;
    let key = jira.create("At once", &["sir-case-8"]).await;
    let (_, page) = search(
        &jira,
        json!({"jql": "labels = \"sir-case-8\"", "fields": ["key"]}),
    )
    .await;
    assert_eq!(page["issues"][0]["key"], key.as_str());
    let (status, _) = search(
        &jira,
        json!({"jql": "labels = \"sir-case-8\"", "reconcileIssues": ["SEC-1"]}),
    )
    .await;
    assert_eq!(status, 400, "ids, not keys");
    let too_many: Vec<u64> = (1..=51).collect();
    let (status, _) = search(
        &jira,
        json!({"jql": "labels = \"sir-case-8\"", "reconcileIssues": too_many}),
    )
    .await;
    assert_eq!(status, 400);
}
