//! The Jira side of [`super::Breakage::JiraEchoCheckRemoved`]: [`SelfUnaware`] answers
//! `myself()` with an account that is not the integration's, so a handler given it no longer
//! tells the integration user's comments and attachments (jira-client's copies) from a
//! person's. Every other call goes to the real client unchanged.

use std::sync::Arc;

use async_trait::async_trait;
use serde_json::Value;
use shared::Result;
use shared::comment_marker::CommentMarker;
use shared::jira::{
    IssueEdit, JiraApi, JiraAttachment, JiraComment, JiraField, JiraIssue, JiraUser, NewIssue,
    OpenIssuesPage, Transition, TransitionScreens, UpdatedIssuesPage,
};

/// The account `myself()` answers: no one's.
const NOT_THE_INTEGRATION: &str = "not-the-integration";

/// A Jira client that does not know which account is its own (see the module documentation).
pub struct SelfUnaware(pub Arc<dyn JiraApi>);

#[async_trait]
impl JiraApi for SelfUnaware {
    async fn myself(&self) -> Result<JiraUser> {
        Ok(JiraUser {
            account_id: NOT_THE_INTEGRATION.to_owned(),
            ..self.0.myself().await?
        })
    }

    async fn get_issue(&self, key: &str) -> Result<Option<JiraIssue>> {
        self.0.get_issue(key).await
    }

    async fn create_issue(&self, issue: &NewIssue) -> Result<String> {
        self.0.create_issue(issue).await
    }

    async fn edit_issue(&self, key: &str, edit: &IssueEdit) -> Result<()> {
        self.0.edit_issue(key, edit).await
    }

    async fn transitions(&self, key: &str) -> Result<Vec<Transition>> {
        self.0.transitions(key).await
    }

    async fn transition_to(
        &self,
        key: &str,
        target: &str,
        route: &[&str],
        screens: &TransitionScreens,
    ) -> Result<usize> {
        self.0.transition_to(key, target, route, screens).await
    }

    async fn fields(&self) -> Result<Vec<JiraField>> {
        self.0.fields().await
    }

    async fn issue_fields(
        &self,
        key: &str,
        ids: &[String],
    ) -> Result<serde_json::Map<String, Value>> {
        self.0.issue_fields(key, ids).await
    }

    async fn comments(&self, key: &str) -> Result<Vec<JiraComment>> {
        self.0.comments(key).await
    }

    async fn add_comment(&self, key: &str, text: &str, marker: &CommentMarker) -> Result<String> {
        self.0.add_comment(key, text, marker).await
    }

    async fn update_comment(&self, key: &str, comment_id: &str, text: &str) -> Result<()> {
        self.0.update_comment(key, comment_id, text).await
    }

    async fn watchers(&self, key: &str) -> Result<Vec<String>> {
        self.0.watchers(key).await
    }

    async fn add_watcher(&self, key: &str, account_id: &str) -> Result<()> {
        self.0.add_watcher(key, account_id).await
    }

    async fn remove_watcher(&self, key: &str, account_id: &str) -> Result<()> {
        self.0.remove_watcher(key, account_id).await
    }

    async fn comment_exists(&self, key: &str, comment_id: &str) -> Result<bool> {
        self.0.comment_exists(key, comment_id).await
    }

    async fn find_user_by_email(&self, email: &str) -> Result<Option<JiraUser>> {
        self.0.find_user_by_email(email).await
    }

    async fn user(&self, account_id: &str) -> Result<Option<JiraUser>> {
        self.0.user(account_id).await
    }

    async fn upload_attachment(
        &self,
        key: &str,
        file_name: &str,
        source: &dyn shared::attachment_body::AttachmentSource,
    ) -> Result<JiraAttachment> {
        self.0.upload_attachment(key, file_name, source).await
    }

    async fn download_attachment(
        &self,
        attachment: &JiraAttachment,
    ) -> Result<shared::attachment_body::AttachmentBody> {
        self.0.download_attachment(attachment).await
    }

    async fn search_keys_by_label(&self, project_key: &str, label: &str) -> Result<Vec<String>> {
        self.0.search_keys_by_label(project_key, label).await
    }

    async fn recently_updated_keys(&self, project_key: &str, minutes: u32) -> Result<Vec<String>> {
        self.0.recently_updated_keys(project_key, minutes).await
    }

    async fn updated_issues_page(
        &self,
        project_key: &str,
        minutes: u32,
        page_size: u32,
        page_token: Option<&str>,
    ) -> Result<UpdatedIssuesPage> {
        self.0
            .updated_issues_page(project_key, minutes, page_size, page_token)
            .await
    }

    async fn open_issues_after(
        &self,
        project_key: &str,
        after_key: Option<&str>,
        max: u32,
    ) -> Result<OpenIssuesPage> {
        self.0.open_issues_after(project_key, after_key, max).await
    }

    async fn issue_matches(&self, issue: &JiraIssue, filter: &str) -> Result<bool> {
        self.0.issue_matches(issue, filter).await
    }

    async fn add_label(&self, key: &str, label: &str) -> Result<()> {
        self.0.add_label(key, label).await
    }

    async fn remove_label(&self, key: &str, label: &str) -> Result<()> {
        self.0.remove_label(key, label).await
    }

    async fn issue_property(&self, key: &str, property: &str) -> Result<Option<Value>> {
        self.0.issue_property(key, property).await
    }

    async fn set_issue_property(&self, key: &str, property: &str, value: &Value) -> Result<()> {
        self.0.set_issue_property(key, property, value).await
    }
}
