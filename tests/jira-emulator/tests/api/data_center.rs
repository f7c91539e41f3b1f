//! Data Center mode: REST v2 only, personal access tokens, users by username and key, wiki
//! markup kept as written, `/search` by `startAt`, attachments under `/secure/attachment`,
//! webhooks with Data Center users, and no SNS Automation.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::routing::post;
use jira_emulator::{
    Deployment, JiraEmulator, JiraEmulatorConfig, NewIssue, SnsTarget, User, WebhookRegistration,
};
use reqwest::multipart::{Form, Part};
use reqwest::{Method, RequestBuilder};
use serde_json::{Value, json};

use crate::support::{EMAIL, TOKEN, json_of};

/// A started Data Center emulator and a client that speaks to it with the integration user's
/// personal access token.
struct DataCenter {
    emulator: JiraEmulator,
    http: reqwest::Client,
}

impl DataCenter {
    async fn start() -> DataCenter {
        DataCenter::start_with(JiraEmulatorConfig::default()).await
    }

    async fn start_with(config: JiraEmulatorConfig) -> DataCenter {
        let emulator = JiraEmulator::start(JiraEmulatorConfig {
            deployment: Deployment::DataCenter,
            ..config
        })
        .await
        .expect("emulator starts");
        DataCenter {
            emulator,
            http: reqwest::Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                .build()
                .unwrap(),
        }
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.emulator.base_url())
    }

    fn v2(&self, path: &str) -> String {
        self.url(&format!("/rest/api/2{path}"))
    }

    /// A request to a full URL with the integration user's personal access token.
    fn request(&self, method: Method, url: &str) -> RequestBuilder {
        self.http.request(method, url).bearer_auth(TOKEN)
    }

    fn get(&self, path: &str) -> RequestBuilder {
        self.request(Method::GET, &self.v2(path))
    }

    fn post(&self, path: &str, body: &Value) -> RequestBuilder {
        self.request(Method::POST, &self.v2(path)).json(body)
    }

    fn put(&self, path: &str, body: &Value) -> RequestBuilder {
        self.request(Method::PUT, &self.v2(path)).json(body)
    }

    async fn get_json(&self, path: &str) -> Value {
        let response = self.get(path).send().await.unwrap();
        assert_eq!(response.status(), 200, "GET {path}");
        json_of(response).await
    }

    /// Creates a Task over REST v2 with a wiki description; returns its key.
    async fn create(&self, summary: &str, description: &str) -> String {
        let response = self
            .post(
                "/issue",
                &json!({"fields": {
                    "project": {"key": "SEC"},
                    "issuetype": {"name": "Task"},
                    "summary": summary,
                    "description": description,
                }}),
            )
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 201);
        json_of(response).await["key"].as_str().unwrap().to_owned()
    }
}

fn assert_data_center_user(user: &Value, name: &str) {
    assert_eq!(user["name"], name, "{user}");
    assert!(
        user["key"].as_str().unwrap().starts_with("JIRAUSER"),
        "{user}"
    );
    assert!(user.get("accountId").is_none(), "{user}");
    assert!(user.get("accountType").is_none(), "{user}");
    for field in ["self", "displayName", "active", "timeZone"] {
        assert!(user.get(field).is_some(), "{field} in {user}");
    }
}

#[tokio::test]
async fn cloud_stays_the_default_deployment() {
    assert_eq!(JiraEmulatorConfig::default().deployment, Deployment::Cloud);
    assert_eq!(Deployment::default(), Deployment::Cloud);
    let cloud = JiraEmulator::in_process(JiraEmulatorConfig::default()).unwrap();
    assert_eq!(cloud.deployment(), Deployment::Cloud);
    let dc = DataCenter::start().await;
    assert_eq!(dc.emulator.deployment(), Deployment::DataCenter);
}

#[tokio::test]
async fn a_data_center_site_has_no_rest_v3() {
    let dc = DataCenter::start().await;
    for path in [
        "/rest/api/3/myself",
        "/rest/api/3/serverInfo",
        "/rest/api/3/issue/SEC-1",
    ] {
        let response = dc.request(Method::GET, &dc.url(path)).send().await.unwrap();
        assert_eq!(response.status(), 404, "{path}");
    }
    let create = dc
        .request(Method::POST, &dc.url("/rest/api/3/issue"))
        .json(&json!({"fields": {"summary": "x"}}))
        .send()
        .await
        .unwrap();
    assert_eq!(create.status(), 404);
}

#[tokio::test]
async fn server_info_says_server_in_data_center_without_auth() {
    let dc = DataCenter::start().await;
    let response = dc.http.get(dc.v2("/serverInfo")).send().await.unwrap();
    assert_eq!(response.status(), 200);
    let info = json_of(response).await;
    assert_eq!(info["deploymentType"], "Server");
    assert_eq!(info["version"], "10.3.1");
    assert_eq!(info["versionNumbers"], json!([10, 3, 1]));
    assert_eq!(info["baseUrl"], dc.emulator.base_url());
}

#[tokio::test]
async fn data_center_takes_a_personal_access_token_or_username_basic_auth() {
    let dc = DataCenter::start().await;
    assert_eq!(dc.emulator.integration_account_id(), "integration");
    let bearer = dc.get_json("/myself").await;
    assert_eq!(bearer["name"], "integration");
    let basic = dc
        .http
        .get(dc.v2("/myself"))
        .basic_auth("integration", Some(TOKEN))
        .send()
        .await
        .unwrap();
    assert_eq!(basic.status(), 200);
    assert_eq!(json_of(basic).await["name"], "integration");

    let ann = dc
        .emulator
        .add_user(User::new("Ann Analyst", "ann@example.com"));
    dc.emulator
        .add_api_token(&ann.account_id, "ann@example.com", "ann-pat")
        .unwrap();
    let as_ann = dc
        .http
        .get(dc.v2("/myself"))
        .bearer_auth("ann-pat")
        .send()
        .await
        .unwrap();
    assert_eq!(json_of(as_ann).await["name"], "ann");
}

#[tokio::test]
async fn data_center_refuses_email_basic_auth_and_missing_or_wrong_credentials() {
    let dc = DataCenter::start().await;
    let with_email = dc
        .http
        .get(dc.v2("/myself"))
        .basic_auth(EMAIL, Some(TOKEN))
        .send()
        .await
        .unwrap();
    assert_eq!(with_email.status(), 401);
    assert!(json_of(with_email).await["errorMessages"][0].is_string());
    let none = dc.http.get(dc.v2("/myself")).send().await.unwrap();
    assert_eq!(none.status(), 401);
    let wrong_token = dc
        .http
        .get(dc.v2("/myself"))
        .bearer_auth("not-a-token")
        .send()
        .await
        .unwrap();
    assert_eq!(wrong_token.status(), 401);
    let wrong_password = dc
        .http
        .get(dc.v2("/myself"))
        .basic_auth("integration", Some("not-the-token"))
        .send()
        .await
        .unwrap();
    assert_eq!(wrong_password.status(), 401);
}

#[tokio::test]
async fn data_center_users_carry_name_and_key_and_no_account_id() {
    let dc = DataCenter::start().await;
    let ann = dc
        .emulator
        .add_user(User::new("Ann Analyst", "ann@example.com"));
    let me = dc.get_json("/myself").await;
    assert_data_center_user(&me, "integration");
    assert_eq!(me["emailAddress"], EMAIL);

    let by_name = dc.get_json("/user?username=ann").await;
    assert_data_center_user(&by_name, "ann");
    assert_eq!(by_name["displayName"], "Ann Analyst");
    let key = dc.emulator.user_key(&ann.account_id).unwrap();
    assert_eq!(by_name["key"], key.as_str());
    let by_key = dc.get_json(&format!("/user?key={key}")).await;
    assert_eq!(by_key["name"], "ann");

    let by_account_id = dc.get("/user?accountId=ann").send().await.unwrap();
    assert_eq!(by_account_id.status(), 400);
    let unknown = dc.get("/user?username=nobody").send().await.unwrap();
    assert_eq!(unknown.status(), 404);

    let found = dc.get_json("/user/search?username=ANALY").await;
    assert_eq!(found.as_array().unwrap().len(), 1);
    assert_data_center_user(&found[0], "ann");
    let by_email = dc.get_json("/user/search?username=ann%40example").await;
    assert_eq!(by_email[0]["name"], "ann");
    let cloud_query = dc.get("/user/search?query=ann").send().await.unwrap();
    assert_eq!(cloud_query.status(), 400);
    assert_eq!(
        json_of(cloud_query).await["errorMessages"][0],
        "The username query parameter was not provided"
    );

    let key = dc.create("Reported", "").await;
    let issue = dc.get_json(&format!("/issue/{key}")).await;
    assert_data_center_user(&issue["fields"]["reporter"], "integration");
    assert_data_center_user(&issue["fields"]["creator"], "integration");
}

#[tokio::test]
async fn usernames_come_from_the_email_or_the_display_name_and_stay_unique() {
    let dc = DataCenter::start().await;
    let ann = dc
        .emulator
        .add_user(User::new("Ann Analyst", "Ann@example.com"));
    let other_ann = dc
        .emulator
        .add_user(User::new("Ann Other", "ann@elsewhere.example"));
    let hidden = dc
        .emulator
        .add_user(User::with_hidden_email("Hector Q Hidden"));
    assert_eq!(ann.account_id, "ann");
    assert_eq!(other_ann.account_id, "ann2");
    assert_eq!(hidden.account_id, "hector.q.hidden");
    let keys: Vec<String> = [&ann, &other_ann, &hidden]
        .iter()
        .map(|user| dc.emulator.user_key(&user.account_id).unwrap())
        .collect();
    assert_eq!(keys, ["JIRAUSER10001", "JIRAUSER10002", "JIRAUSER10003"]);
    assert_eq!(
        dc.emulator.user_key("integration").as_deref(),
        Some("JIRAUSER10000")
    );
}

#[tokio::test]
async fn the_rust_api_acts_as_users_named_by_username() {
    let dc = DataCenter::start().await;
    let ann = dc
        .emulator
        .add_user(User::new("Ann Analyst", "ann@example.com"));
    let key = dc
        .emulator
        .create_issue(&ann.account_id, NewIssue::new("By Ann"))
        .unwrap();
    dc.emulator
        .comment(&ann.account_id, &key, "Looking into it.")
        .unwrap();
    dc.emulator
        .transition_to(&ann.account_id, &key, "Done")
        .unwrap();
    dc.emulator.add_watcher(&key, "integration").unwrap();
    let issue = dc.get_json(&format!("/issue/{key}")).await;
    assert_eq!(issue["fields"]["reporter"]["name"], "ann");
    assert_eq!(
        issue["fields"]["comment"]["comments"][0]["author"]["name"],
        "ann"
    );
    assert_eq!(issue["fields"]["status"]["name"], "Done");
    assert_eq!(issue["fields"]["watches"]["isWatching"], true);
}

#[tokio::test]
async fn watchers_are_added_and_removed_by_username() {
    let dc = DataCenter::start().await;
    dc.emulator
        .add_user(User::new("Ann Analyst", "ann@example.com"));
    let key = dc.create("Watched", "").await;
    let add = dc
        .post(&format!("/issue/{key}/watchers"), &json!("ann"))
        .send()
        .await
        .unwrap();
    assert_eq!(add.status(), 204);
    let watchers = dc.get_json(&format!("/issue/{key}/watchers")).await;
    let names: Vec<&str> = watchers["watchers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|watcher| watcher["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["integration", "ann"]);
    for watcher in watchers["watchers"].as_array().unwrap() {
        assert!(watcher.get("accountId").is_none());
    }

    let by_account_id = dc
        .request(
            Method::DELETE,
            &dc.v2(&format!("/issue/{key}/watchers?accountId=ann")),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(by_account_id.status(), 400);
    let remove = dc
        .request(
            Method::DELETE,
            &dc.v2(&format!("/issue/{key}/watchers?username=ann")),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(remove.status(), 204);
    assert_eq!(
        dc.emulator.issue(&key).unwrap().watchers,
        vec!["integration".to_owned()]
    );
}

#[tokio::test]
async fn search_pages_by_start_at_with_the_total() {
    let dc = DataCenter::start().await;
    for n in 1..=5 {
        dc.create(&format!("Issue {n}"), "").await;
    }
    let page = dc
        .get_json("/search?jql=project%20%3D%20SEC%20ORDER%20BY%20key%20ASC&startAt=2&maxResults=2&fields=summary")
        .await;
    assert_eq!(page["startAt"], 2);
    assert_eq!(page["maxResults"], 2);
    assert_eq!(page["total"], 5);
    let keys: Vec<&str> = page["issues"]
        .as_array()
        .unwrap()
        .iter()
        .map(|issue| issue["key"].as_str().unwrap())
        .collect();
    assert_eq!(keys, ["SEC-3", "SEC-4"]);
    assert_eq!(page["issues"][0]["fields"]["summary"], "Issue 3");
    assert!(page.get("isLast").is_none() && page.get("nextPageToken").is_none());

    let last = json_of(
        dc.post(
            "/search",
            &json!({"jql": "project = SEC ORDER BY key ASC", "startAt": 4, "maxResults": 2, "fields": ["summary"]}),
        )
        .send()
        .await
        .unwrap(),
    )
    .await;
    assert_eq!(last["total"], 5);
    assert_eq!(last["issues"].as_array().unwrap().len(), 1);

    let capped = dc
        .get_json("/search?jql=project%20%3D%20SEC&maxResults=5000")
        .await;
    assert_eq!(capped["maxResults"], 1000);
    let cloud_paging = dc
        .post(
            "/search",
            &json!({"jql": "project = SEC", "nextPageToken": "x"}),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(cloud_paging.status(), 400);
}

#[tokio::test]
async fn data_center_has_no_search_jql() {
    let dc = DataCenter::start().await;
    let get = dc
        .get("/search/jql?jql=project%20%3D%20SEC")
        .send()
        .await
        .unwrap();
    assert_eq!(get.status(), 404);
    let post = dc
        .post("/search/jql", &json!({"jql": "project = SEC"}))
        .send()
        .await
        .unwrap();
    assert_eq!(post.status(), 404);
}

#[tokio::test]
async fn search_sees_a_write_at_once_in_data_center_whatever_the_lag() {
    let dc = DataCenter::start_with(JiraEmulatorConfig {
        search_lag: Duration::from_secs(60),
        ..JiraEmulatorConfig::default()
    })
    .await;
    let key = dc.create("Fresh", "").await;
    let found = dc.get_json("/search?jql=project%20%3D%20SEC").await;
    assert_eq!(found["issues"][0]["key"], key.as_str());
    assert_eq!(dc.emulator.search_keys("project = SEC").unwrap(), [key]);
}

#[tokio::test]
async fn jql_names_users_by_username() {
    let dc = DataCenter::start().await;
    let ann = dc
        .emulator
        .add_user(User::new("Ann Analyst", "ann@example.com"));
    let by_ann = dc
        .emulator
        .create_issue(&ann.account_id, NewIssue::new("By Ann"))
        .unwrap();
    let mine = dc.create("Mine", "").await;
    let keys = |page: &Value| -> Vec<String> {
        page["issues"]
            .as_array()
            .unwrap()
            .iter()
            .map(|issue| issue["key"].as_str().unwrap().to_owned())
            .collect()
    };
    let found = dc.get_json("/search?jql=reporter%20%3D%20ann").await;
    assert_eq!(keys(&found), [by_ann]);
    let found = dc
        .get_json("/search?jql=creator%20%3D%20currentUser()")
        .await;
    assert_eq!(keys(&found), [mine]);
    let unknown = dc
        .get("/search?jql=reporter%20%3D%20%22Ann%20Analyst%22")
        .send()
        .await
        .unwrap();
    assert_eq!(unknown.status(), 400);
}

/// Wiki text Data Center keeps as written: markup, a panel, CRLF, trailing spaces.
const WIKI: &str = "h2. Summary\r\n\r\n*Suspicious* login, see [the runbook|https://example.com/rb].\\\\\nNext line  \n\n{panel:title=Evidence}\n* one\n* two\n{panel}\n\n{code:java}\nif (a*b*c) {}\n{code}\n\n{info}SIR-12{info}";

#[tokio::test]
async fn wiki_descriptions_round_trip_byte_for_byte() {
    let dc = DataCenter::start().await;
    let key = dc.create("Wiki", WIKI).await;
    let issue = dc.get_json(&format!("/issue/{key}")).await;
    assert_eq!(issue["fields"]["description"], WIKI);
    let internal = dc.emulator.issue(&key).unwrap().description.unwrap();
    assert_eq!(internal["type"], "doc");

    let edited = format!("{WIKI}\n\n_edited_");
    let put = dc
        .put(
            &format!("/issue/{key}"),
            &json!({"fields": {"description": edited}}),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(put.status(), 204);
    let issue = dc.get_json(&format!("/issue/{key}")).await;
    assert_eq!(issue["fields"]["description"], edited.as_str());
    let searched = dc
        .get_json(&format!("/search?jql=key%20%3D%20{key}&fields=description"))
        .await;
    assert_eq!(
        searched["issues"][0]["fields"]["description"],
        edited.as_str()
    );
}

#[tokio::test]
async fn new_wiki_text_is_a_change_even_when_it_reads_the_same() {
    let dc = DataCenter::start().await;
    let key = dc.create("Wiki", "line one\nline two").await;
    let put = dc
        .put(
            &format!("/issue/{key}"),
            &json!({"fields": {"description": "line one\r\nline two"}}),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(put.status(), 204);
    let issue = dc.get_json(&format!("/issue/{key}")).await;
    assert_eq!(issue["fields"]["description"], "line one\r\nline two");
}

#[tokio::test]
async fn wiki_comments_round_trip_byte_for_byte() {
    let dc = DataCenter::start().await;
    let key = dc.create("Commented", "").await;
    let created = dc
        .post(&format!("/issue/{key}/comment"), &json!({"body": WIKI}))
        .send()
        .await
        .unwrap();
    assert_eq!(created.status(), 201);
    let created = json_of(created).await;
    assert_eq!(created["body"], WIKI);
    assert!(created.get("jsdPublic").is_none());
    assert_data_center_user(&created["author"], "integration");
    let id = created["id"].as_str().unwrap();

    let listed = dc.get_json(&format!("/issue/{key}/comment")).await;
    assert_eq!(listed["comments"][0]["body"], WIKI);
    let edited = format!("{{quote}}\n{WIKI}\n{{quote}}");
    let put = dc
        .put(
            &format!("/issue/{key}/comment/{id}"),
            &json!({"body": edited}),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(put.status(), 200);
    assert_eq!(json_of(put).await["body"], edited.as_str());
    let one = dc.get_json(&format!("/issue/{key}/comment/{id}")).await;
    assert_eq!(one["body"], edited.as_str());
}

#[tokio::test]
async fn text_a_person_writes_reads_as_that_text_in_wiki() {
    let dc = DataCenter::start().await;
    let ann = dc
        .emulator
        .add_user(User::new("Ann Analyst", "ann@example.com"));
    let plain = "Seen from 10.0.0.1 - twice.\n\nSecond paragraph.";
    let mut new = NewIssue::new("By a person");
    new.description = Some(plain.into());
    let key = dc.emulator.create_issue(&ann.account_id, new).unwrap();
    dc.emulator
        .comment(&ann.account_id, &key, "Use *literally* this")
        .unwrap();
    let issue = dc.get_json(&format!("/issue/{key}")).await;
    assert_eq!(issue["fields"]["description"], plain);
    assert_eq!(
        issue["fields"]["comment"]["comments"][0]["body"],
        "Use \\*literally\\* this"
    );

    // A wiki text the integration wrote, then changed by a person, reads as the person's text.
    let key = dc.create("Wiki then person", "*bold*").await;
    dc.emulator
        .edit_issue(
            &ann.account_id,
            &key,
            jira_emulator::IssueEdit {
                description: Some("plain now".into()),
                ..Default::default()
            },
        )
        .unwrap();
    let issue = dc.get_json(&format!("/issue/{key}")).await;
    assert_eq!(issue["fields"]["description"], "plain now");
}

#[tokio::test]
async fn issue_and_comment_properties_work_as_in_cloud() {
    let dc = DataCenter::start().await;
    let created = dc
        .post(
            "/issue",
            &json!({
                "fields": {"project": {"key": "SEC"}, "issuetype": {"name": "Task"}, "summary": "P"},
                "properties": [{"key": "sir", "value": {"case": 12}}],
            }),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(created.status(), 201);
    let key = json_of(created).await["key"].as_str().unwrap().to_owned();
    let issue = dc.get_json(&format!("/issue/{key}?properties=sir")).await;
    assert_eq!(issue["properties"]["sir"]["case"], 12);
    let comment = dc
        .post(
            &format!("/issue/{key}/comment?expand=properties"),
            &json!({"body": "x", "properties": [{"key": "origin", "value": "sir"}]}),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(json_of(comment).await["properties"][0]["value"], "sir");
}

#[tokio::test]
async fn the_reporter_is_named_by_username_on_create() {
    let dc = DataCenter::start().await;
    dc.emulator
        .add_user(User::new("Ann Analyst", "ann@example.com"));
    let fields = |reporter: Value| {
        json!({"fields": {
            "project": {"key": "SEC"}, "issuetype": {"name": "Task"}, "summary": "R",
            "reporter": reporter,
        }})
    };
    let by_name = dc
        .post("/issue", &fields(json!({"name": "ann"})))
        .send()
        .await
        .unwrap();
    assert_eq!(by_name.status(), 201);
    let key = json_of(by_name).await["key"].as_str().unwrap().to_owned();
    assert_eq!(dc.emulator.issue(&key).unwrap().reporter, "ann");
    let by_account_id = dc
        .post("/issue", &fields(json!({"accountId": "ann"})))
        .send()
        .await
        .unwrap();
    assert_eq!(by_account_id.status(), 400);
    assert!(json_of(by_account_id).await["errors"]["reporter"].is_string());
}

fn file_form(name: &str, bytes: Vec<u8>) -> Form {
    Form::new().part("file", Part::bytes(bytes).file_name(name.to_owned()))
}

#[tokio::test]
async fn attachments_download_from_secure_attachment_without_redirect() {
    let dc = DataCenter::start().await;
    let key = dc.create("Attach", "").await;
    let without_header = dc
        .request(Method::POST, &dc.v2(&format!("/issue/{key}/attachments")))
        .multipart(file_form("a.txt", b"x".to_vec()))
        .send()
        .await
        .unwrap();
    assert_eq!(without_header.status(), 403);

    let bytes: Vec<u8> = (0..=255u8).cycle().take(10_000).collect();
    let uploaded = dc
        .request(Method::POST, &dc.v2(&format!("/issue/{key}/attachments")))
        .header("X-Atlassian-Token", "no-check")
        .multipart(file_form("capture file.pcap", bytes.clone()))
        .send()
        .await
        .unwrap();
    assert_eq!(uploaded.status(), 200);
    let attachment = json_of(uploaded).await[0].clone();
    assert_data_center_user(&attachment["author"], "integration");
    let id = attachment["id"].as_str().unwrap();
    let content = attachment["content"].as_str().unwrap();
    assert_eq!(
        content,
        dc.url(&format!("/secure/attachment/{id}/capture%20file.pcap"))
    );

    let downloaded = dc.request(Method::GET, content).send().await.unwrap();
    assert_eq!(downloaded.status(), 200);
    assert_eq!(downloaded.bytes().await.unwrap().as_ref(), bytes.as_slice());
    let basic = dc
        .http
        .get(content)
        .basic_auth("integration", Some(TOKEN))
        .send()
        .await
        .unwrap();
    assert_eq!(basic.status(), 200);
    let anonymous = dc.http.get(content).send().await.unwrap();
    assert_eq!(anonymous.status(), 401);
    let cloud_endpoint = dc
        .get(&format!("/attachment/content/{id}"))
        .send()
        .await
        .unwrap();
    assert_eq!(cloud_endpoint.status(), 404);
    assert!(dc.emulator.media_requests().is_empty());

    // Only `/rest/api/2/serverInfo` answers without auth, not a file that is named so.
    let named = dc
        .emulator
        .attach("integration", &key, "serverInfo", b"secret".to_vec())
        .unwrap();
    let named_url = dc.url(&format!("/secure/attachment/{named}/serverInfo"));
    let anonymous = dc.http.get(&named_url).send().await.unwrap();
    assert_eq!(anonymous.status(), 401);
}

/// A local server recording the bodies POSTed to it.
async fn webhook_receiver() -> (String, Arc<Mutex<Vec<Value>>>) {
    let bodies = Arc::new(Mutex::new(Vec::new()));
    let recorded = Arc::clone(&bodies);
    let app = Router::new().route(
        "/hook",
        post(move |body: axum::Json<Value>| {
            let recorded = Arc::clone(&recorded);
            async move {
                recorded.lock().unwrap().push(body.0);
                http::StatusCode::OK
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/hook", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await });
    (url, bodies)
}

#[tokio::test]
async fn webhook_bodies_carry_data_center_users_and_wiki_bodies() {
    let dc = DataCenter::start().await;
    let (url, bodies) = webhook_receiver().await;
    dc.emulator.webhooks().register(WebhookRegistration {
        url,
        secret: Some("s3cret".into()),
        project_key: Some("SEC".into()),
    });
    let key = dc.create("Hooked", "").await;
    let comment = dc
        .post(
            &format!("/issue/{key}/comment"),
            &json!({"body": "*Escalated* to [~integration]"}),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(comment.status(), 201);
    assert!(
        dc.emulator
            .webhooks()
            .wait_idle(Duration::from_secs(10))
            .await
    );
    let bodies = bodies.lock().unwrap().clone();
    assert_eq!(bodies.len(), 3, "{bodies:?}");
    for body in &bodies {
        assert_data_center_user(&body["user"], "integration");
        assert_eq!(body["issue"]["key"], key.as_str());
        assert!(body["timestamp"].is_u64());
    }
    let created = bodies
        .iter()
        .find(|body| body["webhookEvent"] == "comment_created")
        .unwrap();
    assert_eq!(created["issue_event_type_name"], "issue_commented");
    assert_data_center_user(&created["comment"]["author"], "integration");
    assert_eq!(created["comment"]["body"], "*Escalated* to [~integration]");
}

#[tokio::test]
async fn automation_is_off_and_publishes_nothing_to_sns_in_data_center() {
    // `sns` is ignored: this endpoint does not exist, and nothing tries it.
    let dc = DataCenter::start_with(JiraEmulatorConfig {
        sns: Some(SnsTarget {
            endpoint: "http://127.0.0.1:9".into(),
            topic_arn: "arn:aws:sns:us-east-1:000000000000:none".into(),
            region: "us-east-1".into(),
        }),
        ..JiraEmulatorConfig::default()
    })
    .await;
    let automation = dc.emulator.automation();
    assert!(!automation.is_enabled());
    dc.create("Quiet", "").await;
    assert!(automation.published().is_empty());

    automation.set_enabled(true);
    dc.create("Recorded only", "").await;
    assert!(automation.wait_idle(Duration::from_secs(5)).await);
    assert_eq!(automation.published().len(), 1);
    assert_eq!(automation.failure_count(), 0);

    let in_process = JiraEmulator::in_process(JiraEmulatorConfig {
        deployment: Deployment::DataCenter,
        ..JiraEmulatorConfig::default()
    })
    .unwrap();
    in_process.automation().set_enabled(true);
    in_process
        .create_issue("integration", NewIssue::new("In process"))
        .unwrap();
    assert!(in_process.take_automation_messages().is_empty());
}
