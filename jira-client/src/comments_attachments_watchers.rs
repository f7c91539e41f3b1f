//! Comments, attachments and watchers: copied from the SIR case to its issue by id, never by
//! comparing text, so a redelivered event copies nothing twice and nothing that came from Jira
//! goes back to Jira.
//!
//! - Comments: each SIR comment has an item link (origin `Sir`, body fingerprint) once copied;
//!   a changed fingerprint updates the Jira copy. Comments with an origin-`Jira` link, or written
//!   by one of the integration's own principals, are the Jira side's copies and are skipped.
//! - Attachments: each `Verified` SIR attachment not yet linked is downloaded and uploaded; one
//!   Jira refuses as too large (413) is reported in one comment and linked to that comment, so it
//!   is not tried again. `Pending` ones are returned for the caller to fail retryably.
//! - Watchers: e-mail → accountId through the mapping table's cache (answers, also "no such
//!   user", kept for the configured TTL), then Jira's exact user search. E-mails no account
//!   matches are listed in one comment; the issue notes ([`SirToJiraNotes`]) remember
//!   which were reported so no later event reports them again.
//!
//! Every write is found again before it is repeated, so a crash or a lost answer between a write
//! and its record never makes a second copy: each comment carries its [`CommentMarker`] (the
//! SIR comment or attachment it is about, or the watchers it lists), looked for before posting;
//! an upload is matched by file name and size among the integration's own attachments on the
//! issue that no link claims yet.

use std::collections::{BTreeSet, HashMap, HashSet};

use shared::attachment_body::{AttachmentSource, OpenedFirst};
use shared::comment_marker::{
    CommentMarker, KIND_ATTACHMENT_REFUSED, KIND_SIR_COMMENT, KIND_UNRESOLVED_WATCHERS,
    MarkedComments, post_once,
};
use shared::issue_notes::{SirToJiraNotes, read_notes, write_notes};
use shared::jira::JiraAttachment;
use shared::sir::{CaseAttachmentDownload, CaseDetails, SirAttachment, SirComment};
use shared::snapshot::{Fingerprint, IssueSnapshot};
use shared::store::{
    CachedAccount, ItemLink, LinkedItemKind, Origin, REFUSED_ATTACHMENT_PREFIX, WATCHER_LEFT,
    WATCHER_REMOVED, normalized_email,
};

use crate::{AppliedToJira, ItemResults, JiraClientError, JiraClientHandler};

/// A SIR comment as posted in Jira: who wrote it and when, then the body.
pub(crate) fn render_sir_comment(comment: &SirComment) -> String {
    let author = comment
        .creator
        .as_deref()
        .map_or("an unknown author", short_principal);
    let when = comment.created_date.as_deref().unwrap_or("an unknown time");
    format!(
        "[AWS Security Incident Response] Comment by {author} at {when}:\n\n{}",
        comment.body
    )
}

/// How a SIR comment is named when Jira refuses its copy.
fn comment_item(comment: &SirComment) -> String {
    format!("SIR comment {}", comment.comment_id)
}

/// The readable end of a principal ARN (user name, or role session name such as an e-mail).
fn short_principal(principal: &str) -> &str {
    match principal.rsplit_once('/') {
        Some((_, name)) if principal.starts_with("arn:") && !name.is_empty() => name,
        _ => principal,
    }
}

impl JiraClientHandler {
    /// Copies new SIR comments and edits of copied ones, each an item of its own (see
    /// [`ItemResults`]).
    pub(crate) async fn sync_comments(
        &self,
        case_id: &str,
        key: &str,
        created_now: bool,
        applied: &mut AppliedToJira,
        items: &mut ItemResults,
    ) -> Result<(), JiraClientError> {
        let comments = self.sir.list_comments(case_id).await?;
        // No comment, nothing to copy or bring up to date (SIR never deletes one): the id map
        // is not read.
        if comments.is_empty() {
            return Ok(());
        }
        let links: HashMap<String, ItemLink> = self
            .store
            .item_links_for_case(LinkedItemKind::Comment, case_id)
            .await?
            .into_iter()
            .map(|link| (link.sir_id.clone(), link))
            .collect();
        // The issue's marked comments, read when the first copy is to be posted; an issue this
        // very run created holds no copy an earlier try posted, so it is not read.
        let mut marked: Option<MarkedComments> = created_now.then(MarkedComments::default);
        for comment in &comments {
            let fingerprint = Fingerprint::of_text(&comment.body).as_str().to_owned();
            match links.get(&comment.comment_id) {
                // A copy of a Jira comment: Jira has the original.
                Some(link) if link.origin == Origin::Jira => {}
                Some(link) if link.fingerprint.as_deref() == Some(fingerprint.as_str()) => {}
                Some(link) => {
                    let updated = self
                        .update_copied_comment(key, link, comment, fingerprint, &mut marked)
                        .await;
                    if items.settle(|| comment_item(comment), updated).is_some() {
                        applied.comments_updated += 1;
                    }
                }
                None if self
                    .settings
                    .is_integration_principal(comment.creator.as_deref()) =>
                {
                    tracing::debug!(
                        case_id,
                        comment_id = comment.comment_id,
                        "skipping the integration's own SIR comment"
                    );
                }
                None => {
                    let copied = self
                        .copy_new_comment(case_id, key, comment, fingerprint, &mut marked)
                        .await;
                    if items.settle(|| comment_item(comment), copied) == Some(true) {
                        applied.comments_added += 1;
                    }
                }
            }
        }
        Ok(())
    }

    /// Brings the Jira copy of an edited SIR comment up to date (posting it again if the copy
    /// was deleted in Jira), then its link with the new body `fingerprint`.
    async fn update_copied_comment(
        &self,
        key: &str,
        link: &ItemLink,
        comment: &SirComment,
        fingerprint: String,
        marked: &mut Option<MarkedComments>,
    ) -> Result<(), JiraClientError> {
        let text = render_sir_comment(comment);
        let jira_id = match self.jira.update_comment(key, &link.jira_id, &text).await {
            Ok(()) => link.jira_id.clone(),
            // The copy was deleted in Jira: post the edited comment again (or find the one an
            // earlier try posted).
            Err(shared::Error::JiraStatus { status: 404, .. }) => {
                let marker =
                    CommentMarker::item(KIND_SIR_COMMENT, &link.case_id, &comment.comment_id);
                self.post_copy(key, &text, &marker, marked).await?.0
            }
            Err(err) => return Err(err.into()),
        };
        self.store
            .put_item_link(&ItemLink {
                jira_id,
                issue_key: key.to_owned(),
                fingerprint: Some(fingerprint),
                ..link.clone()
            })
            .await?;
        Ok(())
    }

    /// Posts the copy `text` of a SIR comment with its `marker`, unless a copy an earlier try
    /// posted is on the issue: that one is brought to `text` (the SIR comment may have been
    /// edited since) and kept. Returns the copy's id and whether it was posted now.
    async fn post_copy(
        &self,
        key: &str,
        text: &str,
        marker: &CommentMarker,
        marked: &mut Option<MarkedComments>,
    ) -> Result<(String, bool), JiraClientError> {
        if marked.is_none() {
            *marked = Some(MarkedComments::load(self.jira.as_ref(), key).await?);
        }
        let marked = marked.get_or_insert_with(MarkedComments::default);
        let posted = marked
            .post_once(self.jira.as_ref(), key, text, marker)
            .await?;
        if !posted.is_new() {
            self.jira.update_comment(key, posted.id(), text).await?;
        }
        let new = posted.is_new();
        Ok((posted.into_id(), new))
    }

    /// Posts a SIR comment not copied yet on the issue (or finds the copy an earlier try
    /// posted), then links it (origin `Sir`, body `fingerprint`). Returns whether it was posted
    /// now.
    async fn copy_new_comment(
        &self,
        case_id: &str,
        key: &str,
        comment: &SirComment,
        fingerprint: String,
        marked: &mut Option<MarkedComments>,
    ) -> Result<bool, JiraClientError> {
        let marker = CommentMarker::item(KIND_SIR_COMMENT, case_id, &comment.comment_id);
        let (jira_id, new) = self
            .post_copy(key, &render_sir_comment(comment), &marker, marked)
            .await?;
        self.store
            .put_item_link(&ItemLink {
                kind: LinkedItemKind::Comment,
                case_id: case_id.to_owned(),
                sir_id: comment.comment_id.clone(),
                issue_key: key.to_owned(),
                jira_id,
                origin: Origin::Sir,
                fingerprint: Some(fingerprint),
            })
            .await?;
        Ok(new)
    }

    /// Copies new `Verified` attachments, each an item of its own (see [`ItemResults`]);
    /// returns the ids of those still `Pending`.
    pub(crate) async fn sync_attachments(
        &self,
        details: &CaseDetails,
        key: &str,
        applied: &mut AppliedToJira,
        items: &mut ItemResults,
    ) -> Result<Vec<String>, JiraClientError> {
        let case_id = details.snapshot.case_id.as_str();
        if details.attachments.is_empty() {
            return Ok(Vec::new());
        }
        let links = self
            .store
            .item_links_for_case(LinkedItemKind::Attachment, case_id)
            .await?;
        let linked: HashSet<String> = links.iter().map(|link| link.sir_id.clone()).collect();
        let mut uploads = EarlierUploads {
            claimed: links.into_iter().map(|link| link.jira_id).collect(),
            unclaimed: None,
        };
        let mut pending = Vec::new();
        for attachment in &details.attachments {
            let id = attachment.attachment_id.as_str();
            if linked.contains(id)
                || self
                    .settings
                    .is_integration_principal(Some(&attachment.creator))
            {
                continue;
            }
            if attachment.status.eq_ignore_ascii_case("Pending") {
                pending.push(id.to_owned());
                continue;
            }
            if !attachment.status.eq_ignore_ascii_case("Verified") {
                tracing::warn!(
                    case_id,
                    attachment_id = id,
                    status = attachment.status,
                    "the attachment cannot be downloaded from SIR; nothing to copy"
                );
                continue;
            }
            let copied = self
                .copy_attachment(case_id, key, attachment, &mut uploads, applied)
                .await;
            items.settle(
                || {
                    format!(
                        "SIR attachment {} ({})",
                        attachment.file_name, attachment.attachment_id
                    )
                },
                copied,
            );
        }
        if !pending.is_empty() {
            tracing::warn!(case_id, ?pending, "attachments still Pending in SIR");
        }
        Ok(pending)
    }

    /// Downloads a `Verified` SIR attachment and uploads it to the issue (unless an earlier
    /// try uploaded it: see [`EarlierUploads`]), or reports it in one comment when Jira refuses
    /// it as too large; then links it (to that comment if refused, so it is not tried again).
    async fn copy_attachment(
        &self,
        case_id: &str,
        key: &str,
        attachment: &SirAttachment,
        uploads: &mut EarlierUploads,
        applied: &mut AppliedToJira,
    ) -> Result<(), JiraClientError> {
        let id = attachment.attachment_id.as_str();
        // Streamed: the download is opened here (its length is the size an earlier upload
        // would have) and read only as the upload sends it on.
        let download = CaseAttachmentDownload {
            sir: self.sir.as_ref(),
            case_id,
            attachment_id: id,
        };
        let body = download.open().await?;
        let size = body.length();
        let earlier = self
            .earlier_upload(key, uploads, &attachment.file_name, size)
            .await?;
        let uploaded = match earlier {
            Some(found) => {
                tracing::info!(
                    case_id,
                    attachment_id = id,
                    jira_attachment_id = found,
                    "an earlier try uploaded the attachment; linking that copy"
                );
                Ok(found)
            }
            None => self
                .jira
                .upload_attachment(
                    key,
                    &attachment.file_name,
                    &OpenedFirst::new(body, &download),
                )
                .await
                .map(|uploaded| {
                    applied.attachments_added += 1;
                    uploaded.id
                }),
        };
        let jira_id = match uploaded {
            Ok(jira_id) => jira_id,
            Err(shared::Error::JiraStatus { status: 413, .. }) => {
                let note = format!(
                    "The SIR case attachment {} ({size} bytes) could not be copied here: \
                     Jira refused it as too large. It remains available in the SIR case.",
                    attachment.file_name
                );
                let marker = CommentMarker::item(KIND_ATTACHMENT_REFUSED, case_id, id);
                let posted = post_once(self.jira.as_ref(), key, &note, &marker).await?;
                if posted.is_new() {
                    applied.notes += 1;
                }
                applied.attachments_refused += 1;
                format!("{REFUSED_ATTACHMENT_PREFIX}{}", posted.id())
            }
            Err(err) => return Err(err.into()),
        };
        self.store
            .put_item_link(&ItemLink {
                kind: LinkedItemKind::Attachment,
                case_id: case_id.to_owned(),
                sir_id: id.to_owned(),
                issue_key: key.to_owned(),
                jira_id,
                origin: Origin::Sir,
                fingerprint: None,
            })
            .await?;
        Ok(())
    }

    /// The id of an attachment an earlier try uploaded as `file_name` of `size` bytes, taken
    /// from `uploads` so no other SIR attachment is linked to it.
    async fn earlier_upload(
        &self,
        key: &str,
        uploads: &mut EarlierUploads,
        file_name: &str,
        size: u64,
    ) -> Result<Option<String>, JiraClientError> {
        if uploads.unclaimed.is_none() {
            let me = self.integration_account.id(self.jira.as_ref()).await?;
            let on_issue = match self.jira.get_issue(key).await? {
                Some(issue) => issue.attachments,
                None => Vec::new(),
            };
            uploads.unclaimed = Some(
                on_issue
                    .into_iter()
                    .filter(|found| {
                        found.author_account_id.as_deref() == Some(me)
                            && !uploads.claimed.contains(&found.id)
                    })
                    .collect(),
            );
        }
        let unclaimed = uploads.unclaimed.get_or_insert_with(Vec::new);
        Ok(unclaimed
            .iter()
            .position(|found| found.filename == file_name && found.size == size)
            .map(|index| unclaimed.remove(index).id))
    }
}

/// What this run already knows of the issue, so it is not asked again.
#[derive(Debug, Default)]
pub(crate) struct KnownOfIssue {
    /// The watchers Jira listed (when this run read them).
    pub(crate) watchers: Option<Vec<String>>,
    /// The issue was created by this run: it has no comments yet.
    pub(crate) created_now: bool,
    /// The issue's notes when this run knows them without a read: an issue it created (the
    /// notes its create set) that nothing else of the run has written notes to since.
    pub(crate) notes: Option<SirToJiraNotes>,
}

impl JiraClientHandler {
    /// Adds the case's watchers that have a Jira account, each an item of its own (see
    /// [`ItemResults`]), and reports the others once. Each one added is linked (origin `Sir`)
    /// and added once: one who then stops watching the issue by their own choice is marked
    /// [`WATCHER_LEFT`] and not added again. An active linked watcher no longer on the case is
    /// removed from the issue and marked [`WATCHER_REMOVED`]: only such a watcher is ever
    /// removed (a person who watches the issue by their own choice stays), and added again only
    /// when the live case (`on_case_live`, not an older event's list) has them again. A watcher
    /// linked the other way (origin `Jira`: they watch the issue by choice) is never added here:
    /// their leaving the issue is sir-client's to carry.
    #[allow(
        clippy::too_many_arguments,
        reason = "one call site; each argument is a different part of the delivery"
    )]
    pub(crate) async fn sync_watchers(
        &self,
        key: &str,
        case: &shared::snapshot::CaseSnapshot,
        on_case_live: &BTreeSet<String>,
        known: KnownOfIssue,
        jira_state: &mut IssueSnapshot,
        applied: &mut AppliedToJira,
        items: &mut ItemResults,
    ) -> Result<(), JiraClientError> {
        // An issue this run created has had no watcher added yet.
        let links: HashMap<String, ItemLink> = if known.created_now {
            HashMap::new()
        } else {
            self.store
                .item_links_for_case(LinkedItemKind::Watcher, &case.case_id)
                .await?
                .into_iter()
                .filter(|link| link.issue_key == key)
                .map(|link| (link.sir_id.clone(), link))
                .collect()
        };
        if case.watchers.is_empty() && links.is_empty() {
            return Ok(());
        }
        let current: HashSet<String> = match known.watchers {
            Some(watchers) => watchers.into_iter().collect(),
            None => self.jira.watchers(key).await?.into_iter().collect(),
        };
        let live: HashSet<String> = on_case_live.iter().map(|e| normalized_email(e)).collect();
        let accounts = self.accounts_for(&case.watchers).await?;
        let mut unresolved = Vec::new();
        let mut snapshot_changed = false;
        for email in &case.watchers {
            let email = normalized_email(email);
            let Some(account_id) = accounts.get(&email).cloned().flatten() else {
                unresolved.push(email);
                continue;
            };
            if current.contains(&account_id) {
                continue;
            }
            if let Some(link) = links.get(&email) {
                match (link.origin, link.fingerprint.as_deref()) {
                    (Origin::Sir, Some(WATCHER_REMOVED)) if live.contains(&email) => {}
                    // Added once; they stopped watching the issue since, by their own choice.
                    (Origin::Sir, None) => {
                        self.set_watcher_state(link, WATCHER_LEFT).await?;
                        continue;
                    }
                    _ => continue,
                }
            }
            let added = self.jira.add_watcher(key, &account_id).await;
            let added = items.settle(
                || format!("watcher {email}"),
                added.map_err(JiraClientError::from),
            );
            if added.is_some() {
                // After the write: a link is only ever for a watcher the integration did add.
                self.store
                    .put_item_link(&ItemLink {
                        kind: LinkedItemKind::Watcher,
                        case_id: case.case_id.clone(),
                        sir_id: email.clone(),
                        issue_key: key.to_owned(),
                        jira_id: account_id.clone(),
                        origin: Origin::Sir,
                        fingerprint: None,
                    })
                    .await?;
                jira_state.watchers.insert(account_id);
                applied.watchers_added += 1;
                snapshot_changed = true;
            }
        }
        let on_case: HashSet<String> = case.watchers.iter().map(|e| normalized_email(e)).collect();
        for (email, link) in &links {
            if link.origin != Origin::Sir || on_case.contains(email) {
                continue;
            }
            match link.fingerprint.as_deref() {
                // A person's choice to leave the issue stays, whatever they do on the case.
                Some(_) => continue,
                None if current.contains(&link.jira_id) => {
                    let removed = self.jira.remove_watcher(key, &link.jira_id).await;
                    let removed = items.settle(
                        || format!("removal of watcher {email}"),
                        removed.map_err(JiraClientError::from),
                    );
                    if removed.is_none() {
                        continue;
                    }
                    applied.watchers_removed += 1;
                    if jira_state.watchers.remove(&link.jira_id) {
                        snapshot_changed = true;
                    }
                }
                None => {}
            }
            self.set_watcher_state(link, WATCHER_REMOVED).await?;
        }
        if snapshot_changed {
            self.store.put_issue_snapshot(jira_state).await?;
        }
        if unresolved.is_empty() {
            return Ok(());
        }
        let mut notes: SirToJiraNotes = match known.notes {
            Some(notes) => notes,
            None => read_notes(self.jira.as_ref(), key).await?,
        };
        let new: Vec<String> = unresolved
            .iter()
            .filter(|email| !notes.reported_unresolved_watchers.contains(*email))
            .cloned()
            .collect();
        if !new.is_empty() {
            // A note an earlier try posted before it could record it in the notes.
            let marked = if known.created_now {
                MarkedComments::default()
            } else {
                MarkedComments::load(self.jira.as_ref(), key).await?
            };
            let listed = marked.listed(KIND_UNRESOLVED_WATCHERS, &case.case_id);
            let to_post: Vec<String> = new
                .iter()
                .filter(|email| !listed.contains(*email))
                .cloned()
                .collect();
            if !to_post.is_empty() {
                let note = format!(
                    "These watchers of the AWS Security Incident Response case could not be added \
                     as watchers here, because no Jira user with a visible e-mail address matches \
                     them: {}",
                    to_post.join(", ")
                );
                let marker = CommentMarker::listing(
                    KIND_UNRESOLVED_WATCHERS,
                    &case.case_id,
                    to_post.iter().cloned(),
                );
                self.jira.add_comment(key, &note, &marker).await?;
                applied.notes += 1;
            }
            notes.reported_unresolved_watchers.extend(new);
            write_notes(self.jira.as_ref(), key, &notes).await?;
        }
        applied.watchers_unresolved = unresolved;
        Ok(())
    }

    /// Writes a watcher link's new state.
    async fn set_watcher_state(&self, link: &ItemLink, state: &str) -> Result<(), JiraClientError> {
        self.store
            .put_item_link(&ItemLink {
                fingerprint: Some(state.to_owned()),
                ..link.clone()
            })
            .await?;
        Ok(())
    }

    /// The Jira accountId of each of `emails`, by normalized e-mail: the cached answers (one
    /// read), and Jira's exact search for the others (then cached in one write, a "no such
    /// user" answer too). When a search fails, the answers found before it are still cached.
    async fn accounts_for(
        &self,
        emails: &BTreeSet<String>,
    ) -> Result<HashMap<String, Option<String>>, JiraClientError> {
        let emails: Vec<String> = emails.iter().map(|e| normalized_email(e)).collect();
        let mut accounts: HashMap<String, Option<String>> = self
            .store
            .cached_accounts(&emails)
            .await?
            .into_iter()
            .map(|(email, cached)| (email, cached.account_id))
            .collect();
        let mut found = Vec::new();
        let mut failed = None;
        for email in emails {
            if accounts.contains_key(&email) {
                continue;
            }
            match self.jira.find_user_by_email(&email).await {
                Ok(user) => {
                    let account_id = user.map(|user| user.account_id);
                    accounts.insert(email.clone(), account_id.clone());
                    found.push(CachedAccount { email, account_id });
                }
                Err(error) => {
                    failed = Some(error);
                    break;
                }
            }
        }
        // A write that met another run's in flight (several runs cache a team's watchers at
        // once) fails retryably: the retry finds most of them cached.
        if !found.is_empty() {
            self.store
                .cache_accounts(&found, self.settings.account_cache_ttl)
                .await?;
        }
        match failed {
            Some(error) => Err(error.into()),
            None => Ok(accounts),
        }
    }
}

/// The attachments earlier tries may have uploaded without linking them: the integration's own
/// on the issue (read when the first upload is due) that no attachment link claims.
#[derive(Debug)]
pub(crate) struct EarlierUploads {
    /// Jira attachment ids the case's attachment links hold.
    claimed: HashSet<String>,
    unclaimed: Option<Vec<JiraAttachment>>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn copied_comment_names_author_and_time_then_the_body() {
        let comment = SirComment {
            comment_id: "123456".into(),
            body: "Isolated the instance.".into(),
            creator: Some(
                "arn:aws:sts::123456789012:assumed-role/Responder/alice@example.com".into(),
            ),
            created_date: Some("2026-11-20T10:00:00Z".into()),
            last_updated_date: None,
            last_updated_by: None,
        };
        assert_eq!(
            render_sir_comment(&comment),
            "[AWS Security Incident Response] Comment by alice@example.com at 2026-11-20T10:00:00Z:\n\nIsolated the instance."
        );
        assert_eq!(short_principal("AWS Responder"), "AWS Responder");
    }
}
