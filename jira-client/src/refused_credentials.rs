//! Jira refused the integration's credentials (401): the token expired or was revoked. Nothing
//! can be written to the issue, so its sync status (the label, the notes) cannot say it; the
//! case can. A case whose change could not reach Jira gets one comment saying why and what to
//! do, once per refused token: the comment names the token by the version of its SSM parameter
//! ([`shared::jira::credentials_id`]; nothing derived from the token, which on Data Center may be
//! a password), the site and the project, and is looked for before posting; its `clientToken`
//! covers concurrent deliveries. The event still fails, so Lambda retries it and the dead-letter
//! queue keeps it for `--replay-dlq`.

use shared::status::SirStatus;

use crate::{JiraClientError, JiraClientHandler};

/// The longest refusal text a note quotes (Jira's messages are joined without a limit; a SIR
/// comment takes at most 12,000 characters).
const REFUSAL_MAX_CHARS: usize = 2_000;

/// What the note carries to be found again: the token (by [`shared::jira::credentials_id`]),
/// the site and the project, so two deployments side by side each say their own.
fn identity_of(credentials_id: &str, site_id: &str, project_key: &str) -> String {
    format!("(Jira credentials {credentials_id}, site {site_id}, project {project_key})")
}

impl JiraClientHandler {
    /// Says on the open case `case_id` that its change could not reach Jira, when `err` is a
    /// refusal of the credentials and this token's refusal was not said there before. Best
    /// effort: the event fails with `err` whatever happens here, and a failure to say it is
    /// logged with its cause (the next delivery tries again).
    pub(crate) async fn say_credentials_refused(
        &self,
        case_id: &str,
        case_status: Option<SirStatus>,
        err: &JiraClientError,
    ) {
        let JiraClientError::Shared(
            refusal @ shared::Error::JiraCredentialsRefused { credentials_id, .. },
        ) = err
        else {
            return;
        };
        // A closed case takes no comment; a deleted one has no case to take it.
        if !matches!(case_status, Some(status) if status != SirStatus::Closed) {
            return;
        }
        let site_id = shared::sir::jira_site_id(&self.settings.jira_url);
        let identity = identity_of(credentials_id, &site_id, &self.settings.project_key);
        let said = match self.sir.list_comments(case_id).await {
            Ok(comments) => comments
                .iter()
                .any(|comment| comment.body.contains(&identity)),
            Err(error) => {
                tracing::warn!(case_id, error = %error, cause = ?error, "could not read the case's comments to say the Jira credentials were refused");
                return;
            }
        };
        if said {
            tracing::debug!(
                case_id,
                "the refusal of these Jira credentials was said on the case before"
            );
            return;
        }
        // The refusal says what it was (expired on a day, revoked, a missing scope) and how to
        // rotate the token.
        let refusal: String = refusal
            .to_string()
            .chars()
            .take(REFUSAL_MAX_CHARS)
            .collect();
        let site = format!(
            "the Jira site {} (project {})",
            self.settings.jira_url, self.settings.project_key
        );
        let what = if refusal.contains("scope does not match") {
            format!(
                "changes to this case may not fully reach its Jira issue, because {site} refused a \
                 call of the integration: its API token lacks a scope"
            )
        } else {
            format!(
                "changes to this case do not reach its Jira issue, and nothing from Jira reaches \
                 the case, because {site} refused the integration's credentials"
            )
        };
        let note = format!(
            "Not synced to Jira: {what}.\n{refusal}\n\
             Once the new token works, ./deploy.sh --status shows the changes waiting in a \
             dead-letter queue (this note's own change among them) and ./deploy.sh --replay-dlq \
             applies them. {identity}"
        );
        let client_token = format!("jira-client-{case_id}-{site_id}-credentials-{credentials_id}");
        match self.sir.create_comment(case_id, &note, &client_token).await {
            Ok(_) => {
                tracing::warn!(
                    case_id,
                    credentials_id,
                    "said on the case that Jira refused the credentials"
                );
            }
            Err(error) => {
                tracing::warn!(case_id, error = %error, cause = ?error, "could not say on the case that Jira refused the credentials");
            }
        }
    }
}
