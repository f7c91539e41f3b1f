//! Comments and attachments: copied from the issue to its case by id, never by comparing text,
//! so a redelivered event copies nothing twice and nothing that came from SIR goes back to SIR.
//!
//! - Comments: each Jira comment copied gets an item link (origin `Jira`, body fingerprint); a
//!   changed fingerprint updates the SIR copy. Comments written by the integration user (copies
//!   of SIR comments, the integration's notes) or linked with origin `Sir` are skipped. The SIR
//!   `clientToken` is derived from the Jira comment id, so a crash between CreateCaseComment and
//!   the link cannot make a second copy.
//! - Attachments: each Jira attachment not yet linked (and not uploaded by the integration user)
//!   is downloaded and uploaded under a name derived from its Jira id (`jira-<id>-<name>`, only
//!   `[a-zA-Z0-9._-]`): unique per case, and findable after a crash, so it is linked rather than
//!   uploaded twice. One larger than SIR's 100 MiB is reported in one case comment instead.

use std::collections::{HashMap, HashSet};

use shared::events::IssueChange;
use shared::jira::{JiraAttachment, JiraComment, JiraIssue};
use shared::sir::CaseDetails;
use shared::snapshot::Fingerprint;
use shared::store::{DELETED_IN_JIRA, ItemLink, LinkedItemKind, Origin, REFUSED_ATTACHMENT_PREFIX};
use shared::text::{SIR_COMMENT_MAX_CHARS, clip_chars};

use crate::{AppliedToSir, SirClientError, SirClientHandler};

/// What the SIR copy of a comment deleted in Jira says after its header.
pub const DELETED_COMMENT_SENTENCE: &str =
    "deleted in Jira, so its text is no longer shown here either.";

/// SIR's limit on one attachment.
pub const MAX_ATTACHMENT_BYTES: u64 = 100 * 1024 * 1024;
/// SIR's limit on a file name.
const MAX_FILE_NAME_CHARS: usize = 255;

/// The SIR file name of a Jira attachment: `jira-<id>-<name>` with every character SIR refuses
/// replaced by `_`, within SIR's length limit (the extension kept).
pub fn sir_file_name(jira_id: &str, file_name: &str) -> String {
    let clean = |text: &str| -> String {
        text.chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-') {
                    c
                } else {
                    '_'
                }
            })
            .collect()
    };
    let prefix = format!("jira-{}-", clean(jira_id));
    let mut name = clean(file_name.trim());
    if name.trim_matches(['.', '_']).is_empty() {
        name = "attachment".to_owned();
    }
    let room = MAX_FILE_NAME_CHARS.saturating_sub(prefix.len());
    if name.len() > room {
        let extension = name
            .rsplit_once('.')
            .map(|(_, ext)| format!(".{ext}"))
            .filter(|ext| ext.len() <= 16)
            .unwrap_or_default();
        name = format!("{}{extension}", &name[..room - extension.len()]);
    }
    format!("{prefix}{name}")
}

/// A Jira comment as posted in SIR: who wrote it, where and when, then the body.
fn render_jira_comment(key: &str, author: &str, comment: &JiraComment) -> String {
    let when = comment.created.as_deref().unwrap_or("an unknown time");
    let body = if comment.body.trim().is_empty() {
        "(no text)"
    } else {
        comment.body.as_str()
    };
    let text = format!("[Jira {key}] Comment by {author} at {when}:\n\n{body}");
    if text.chars().count() <= SIR_COMMENT_MAX_CHARS {
        return text;
    }
    let note = format!("\n\n[Cut to fit SIR; the full comment is in Jira issue {key}.]");
    format!(
        "{}{note}",
        clip_chars(&text, SIR_COMMENT_MAX_CHARS - note.chars().count()).trim_end()
    )
}

impl SirClientHandler {
    /// Copies new Jira comments and edits of copied ones to the case.
    pub(crate) async fn sync_comments(
        &self,
        issue: &JiraIssue,
        case_id: &str,
        applied: &mut AppliedToSir,
    ) -> Result<(), SirClientError> {
        let key = issue.key.as_str();
        let comments = self.jira.comments(key).await?;
        let links: HashMap<String, ItemLink> = self
            .store
            .item_links_for_issue(LinkedItemKind::Comment, key)
            .await?
            .into_iter()
            .map(|link| (link.jira_id.clone(), link))
            .collect();
        self.say_deleted_comments(key, case_id, &comments, &links, applied)
            .await?;
        if comments.is_empty() {
            return Ok(());
        }
        let me = self
            .integration_account
            .id(self.jira.as_ref())
            .await?
            .to_owned();
        let mut authors: HashMap<String, String> = HashMap::new();
        for comment in &comments {
            let fingerprint = Fingerprint::of_text(&comment.body).as_str().to_owned();
            match links.get(&comment.id) {
                // A copy of a SIR comment: SIR has the original.
                Some(link) if link.origin == Origin::Sir => {}
                Some(link) if link.fingerprint.as_deref() == Some(fingerprint.as_str()) => {}
                Some(link) => {
                    let author = self.author_name(comment, &mut authors).await?;
                    let text = render_jira_comment(key, &author, comment);
                    match self
                        .update_copied_comment(case_id, link, &text, fingerprint)
                        .await
                    {
                        Ok(()) => applied.comments_updated += 1,
                        Err(err) => {
                            let item = format!("the edit of comment {}", comment.id);
                            self.report_refusal(key, case_id, &item, err, applied)
                                .await?;
                        }
                    }
                }
                None if comment.author_account_id.as_deref() == Some(me.as_str()) => {}
                None => {
                    let author = self.author_name(comment, &mut authors).await?;
                    let text = render_jira_comment(key, &author, comment);
                    match self
                        .copy_new_comment(key, case_id, comment, &text, fingerprint)
                        .await
                    {
                        Ok(()) => applied.comments_added += 1,
                        Err(err) => {
                            let item = format!("comment {}", comment.id);
                            self.report_refusal(key, case_id, &item, err, applied)
                                .await?;
                        }
                    }
                }
            }
        }
        Ok(())
    }

    /// Edits the SIR copy of each comment deleted in Jira to say so (SIR has no comment
    /// deletion; the text goes, as it did in Jira, and the header stays), then marks its link
    /// [`DELETED_IN_JIRA`] so it is said once. Copies of SIR comments are never touched.
    async fn say_deleted_comments(
        &self,
        key: &str,
        case_id: &str,
        comments: &[JiraComment],
        links: &HashMap<String, ItemLink>,
        applied: &mut AppliedToSir,
    ) -> Result<(), SirClientError> {
        let listed: HashSet<&str> = comments.iter().map(|c| c.id.as_str()).collect();
        let mut gone: Vec<&ItemLink> = links
            .values()
            .filter(|link| link.origin == Origin::Jira)
            .filter(|link| link.fingerprint.as_deref() != Some(DELETED_IN_JIRA))
            .filter(|link| !listed.contains(link.jira_id.as_str()))
            .collect();
        if gone.is_empty() {
            return Ok(());
        }
        gone.sort_by(|a, b| a.jira_id.cmp(&b.jira_id));
        // The copies (who wrote it, when; already edited by a run that stopped before marking
        // the link), read once for all of them.
        let copies: HashMap<String, String> = self
            .sir
            .list_comments(case_id)
            .await?
            .into_iter()
            .map(|copy| (copy.comment_id, copy.body))
            .collect();
        for link in gone {
            if self.jira.comment_exists(key, &link.jira_id).await? {
                continue;
            }
            let copy = copies.get(&link.sir_id).map(String::as_str).unwrap_or("");
            let said = if copy.ends_with(DELETED_COMMENT_SENTENCE) {
                Ok(())
            } else {
                let header = copy
                    .lines()
                    .next()
                    .filter(|header| header.starts_with(&format!("[Jira {key}] Comment by ")))
                    .map(|header| header.trim_end_matches(':').to_owned())
                    .unwrap_or_else(|| format!("[Jira {key}] Comment {}", link.jira_id));
                let text = format!("{header}: {DELETED_COMMENT_SENTENCE}");
                self.sir.update_comment(case_id, &link.sir_id, &text).await
            };
            match said {
                Ok(()) => {
                    tracing::info!(
                        issue_key = key,
                        case_id,
                        jira_comment = link.jira_id,
                        "a copied comment was deleted in Jira; its copy says so"
                    );
                    applied.comments_deleted += 1;
                }
                Err(err) => {
                    // Reported once on the issue; marked below like a deletion said, so it is
                    // not tried (and published) again on every read of the issue.
                    let item = format!("the deletion of comment {}", link.jira_id);
                    self.report_refusal(key, case_id, &item, err.into(), applied)
                        .await?;
                }
            }
            self.mark_deletion_said(link).await?;
        }
        Ok(())
    }

    /// Marks the link of an item deleted in Jira as said on the case ([`DELETED_IN_JIRA`]).
    async fn mark_deletion_said(&self, link: &ItemLink) -> Result<(), SirClientError> {
        self.store
            .put_item_link(&ItemLink {
                fingerprint: Some(DELETED_IN_JIRA.to_owned()),
                ..link.clone()
            })
            .await?;
        Ok(())
    }

    /// A closed case is never changed: the deletions `change` names are only marked said, so
    /// they are not published again on every read of the issue.
    pub(crate) async fn forget_deletions(
        &self,
        key: &str,
        change: &IssueChange,
    ) -> Result<(), SirClientError> {
        for (kind, removed) in [
            (LinkedItemKind::Comment, &change.comments.removed),
            (LinkedItemKind::Attachment, &change.attachments.removed),
        ] {
            for jira_id in removed {
                if let Some(link) = self.store.item_link_by_jira_id(kind, key, jira_id).await?
                    && link.origin == Origin::Jira
                    && link.fingerprint.as_deref() != Some(DELETED_IN_JIRA)
                {
                    self.mark_deletion_said(&link).await?;
                }
            }
        }
        Ok(())
    }

    /// Brings the SIR copy of an edited Jira comment to `text`, then its link to the new body
    /// `fingerprint`.
    async fn update_copied_comment(
        &self,
        case_id: &str,
        link: &ItemLink,
        text: &str,
        fingerprint: String,
    ) -> Result<(), SirClientError> {
        self.sir.update_comment(case_id, &link.sir_id, text).await?;
        self.store
            .put_item_link(&ItemLink {
                fingerprint: Some(fingerprint),
                ..link.clone()
            })
            .await?;
        Ok(())
    }

    /// Posts a Jira comment not copied yet on the case as `text`, then links it (origin `Jira`,
    /// body `fingerprint`). The `clientToken` comes from the Jira comment id, so a crash before
    /// the link cannot make a second copy: SIR answers a retry with the first copy, and a
    /// `ConflictException` when the text changed since (the comment was edited, or its author
    /// renamed, between the crash and the retry); that first copy is then found and brought to
    /// `text`.
    async fn copy_new_comment(
        &self,
        key: &str,
        case_id: &str,
        comment: &JiraComment,
        text: &str,
        fingerprint: String,
    ) -> Result<(), SirClientError> {
        let token = self.client_token(key, &format!("comment-{}", comment.id));
        let sir_id = match self.sir.create_comment(case_id, text, &token).await {
            Ok(sir_id) => sir_id,
            Err(err) if err.is_sir_conflict() => {
                let Some(first) = self.first_copy(key, case_id, comment).await? else {
                    return Err(err.into());
                };
                tracing::info!(
                    issue_key = key,
                    case_id,
                    comment_id = first,
                    "an earlier try copied the comment before it changed; updating that copy"
                );
                self.sir.update_comment(case_id, &first, text).await?;
                first
            }
            Err(err) => return Err(err.into()),
        };
        self.store
            .put_item_link(&ItemLink {
                kind: LinkedItemKind::Comment,
                case_id: case_id.to_owned(),
                sir_id,
                issue_key: key.to_owned(),
                jira_id: comment.id.clone(),
                origin: Origin::Jira,
                fingerprint: Some(fingerprint),
            })
            .await?;
        Ok(())
    }

    /// The id of the case comment an earlier try made of `comment`: the one whose header names
    /// the issue and the comment's creation time (see [`render_jira_comment`]).
    async fn first_copy(
        &self,
        key: &str,
        case_id: &str,
        comment: &JiraComment,
    ) -> Result<Option<String>, SirClientError> {
        let Some(when) = comment.created.as_deref() else {
            return Ok(None);
        };
        let start = format!("[Jira {key}] Comment by ");
        let end = format!(" at {when}:");
        Ok(self
            .sir
            .list_comments(case_id)
            .await?
            .into_iter()
            .find(|copy| {
                copy.body.starts_with(&start)
                    && copy
                        .body
                        .lines()
                        .next()
                        .is_some_and(|header| header.ends_with(&end))
            })
            .map(|copy| copy.comment_id))
    }

    /// The comment author's display name (asked once per author per delivery).
    async fn author_name(
        &self,
        comment: &JiraComment,
        known: &mut HashMap<String, String>,
    ) -> Result<String, SirClientError> {
        let Some(account_id) = comment.author_account_id.as_deref() else {
            return Ok("an unknown author".to_owned());
        };
        if let Some(name) = known.get(account_id) {
            return Ok(name.clone());
        }
        let name = self
            .jira
            .user(account_id)
            .await?
            .and_then(|u| u.display_name)
            .unwrap_or_else(|| account_id.to_owned());
        known.insert(account_id.to_owned(), name.clone());
        Ok(name)
    }

    /// Copies the issue's attachments that are not on the case yet.
    pub(crate) async fn sync_attachments(
        &self,
        issue: &JiraIssue,
        details: &CaseDetails,
        applied: &mut AppliedToSir,
    ) -> Result<(), SirClientError> {
        let key = issue.key.as_str();
        let linked: HashMap<String, ItemLink> = self
            .store
            .item_links_for_issue(LinkedItemKind::Attachment, key)
            .await?
            .into_iter()
            .map(|link| (link.jira_id.clone(), link))
            .collect();
        self.note_deleted_attachments(issue, details, &linked, applied)
            .await?;
        let me = self
            .integration_account
            .id(self.jira.as_ref())
            .await?
            .to_owned();
        let candidates: Vec<&JiraAttachment> = issue
            .attachments
            .iter()
            .filter(|a| a.author_account_id.as_deref() != Some(me.as_str()))
            .collect();
        for attachment in candidates {
            if linked.contains_key(&attachment.id) {
                continue;
            }
            if let Err(err) = self
                .copy_attachment(key, details, attachment, applied)
                .await
            {
                let item = format!(
                    "the attachment \"{}\" ({})",
                    attachment.filename, attachment.id
                );
                let case_id = details.snapshot.case_id.as_str();
                self.report_refusal(key, case_id, &item, err, applied)
                    .await?;
            }
        }
        Ok(())
    }

    /// Notes once on the case each copied attachment deleted in Jira (the copy stays: nothing
    /// is deleted automatically), then marks its link [`DELETED_IN_JIRA`]. One SIR never took
    /// (too large) was never on the case: its link is only marked.
    async fn note_deleted_attachments(
        &self,
        issue: &JiraIssue,
        details: &CaseDetails,
        linked: &HashMap<String, ItemLink>,
        applied: &mut AppliedToSir,
    ) -> Result<(), SirClientError> {
        let key = issue.key.as_str();
        let case_id = details.snapshot.case_id.as_str();
        let listed: HashSet<&str> = issue.attachments.iter().map(|a| a.id.as_str()).collect();
        let mut gone: Vec<&ItemLink> = linked
            .values()
            .filter(|link| link.origin == Origin::Jira)
            .filter(|link| link.fingerprint.as_deref() != Some(DELETED_IN_JIRA))
            .filter(|link| !listed.contains(link.jira_id.as_str()))
            .collect();
        gone.sort_by(|a, b| a.jira_id.cmp(&b.jira_id));
        for link in gone {
            if !link.sir_id.starts_with(REFUSED_ATTACHMENT_PREFIX) {
                let file_name = details
                    .attachments
                    .iter()
                    .find(|a| a.attachment_id == link.sir_id)
                    .map_or_else(|| link.sir_id.clone(), |a| a.file_name.clone());
                let text = format!(
                    "The attachment {file_name} was deleted from Jira issue {key}. Its copy on \
                     this case stays: the integration never deletes anything."
                );
                let token = self.client_token(key, &format!("attachment-deleted-{}", link.jira_id));
                match self.sir.create_comment(case_id, &text, &token).await {
                    Ok(_) => {
                        applied.attachments_deleted += 1;
                        applied.notes += 1;
                        tracing::info!(
                            issue_key = key,
                            case_id,
                            file_name,
                            "a copied attachment was deleted in Jira; noted on the case"
                        );
                    }
                    Err(err) => {
                        let item = format!("the deletion of attachment {}", link.jira_id);
                        self.report_refusal(key, case_id, &item, err.into(), applied)
                            .await?;
                    }
                }
            }
            self.mark_deletion_said(link).await?;
        }
        Ok(())
    }

    /// Copies one attachment not linked yet and links it: to the case attachment a crashed run
    /// uploaded already, to a comment reporting it too large for SIR, or to the new upload.
    async fn copy_attachment(
        &self,
        key: &str,
        details: &CaseDetails,
        attachment: &JiraAttachment,
        applied: &mut AppliedToSir,
    ) -> Result<(), SirClientError> {
        let case_id = details.snapshot.case_id.as_str();
        let name = sir_file_name(&attachment.id, &attachment.filename);
        let link = |sir_id: String| ItemLink {
            kind: LinkedItemKind::Attachment,
            case_id: case_id.to_owned(),
            sir_id,
            issue_key: key.to_owned(),
            jira_id: attachment.id.clone(),
            origin: Origin::Jira,
            fingerprint: None,
        };
        // Uploaded by a run that stopped before linking it: link it, never upload twice. One
        // still `Pending` may be a run that stopped between asking for the upload URL and
        // sending the bytes (SIR lists it from the request on): the same `clientToken` gives
        // the same upload, so the bytes are sent (again) before it is linked.
        if let Some(existing) = details.attachments.iter().find(|a| a.file_name == name) {
            if existing.status.eq_ignore_ascii_case("Pending") {
                let sir_id = self.upload_to_case(key, case_id, attachment, &name).await?;
                self.store.put_item_link(&link(sir_id)).await?;
                applied.attachments_added += 1;
                return Ok(());
            }
            self.store
                .put_item_link(&link(existing.attachment_id.clone()))
                .await?;
            return Ok(());
        }
        if attachment.size > MAX_ATTACHMENT_BYTES {
            let comment_id = self.report_too_large(key, case_id, attachment).await?;
            self.store
                .put_item_link(&link(format!("{REFUSED_ATTACHMENT_PREFIX}{comment_id}")))
                .await?;
            applied.attachments_refused += 1;
            return Ok(());
        }
        let sir_id = self.upload_to_case(key, case_id, attachment, &name).await?;
        self.store.put_item_link(&link(sir_id)).await?;
        tracing::info!(
            issue_key = key,
            case_id,
            file_name = name,
            "copied an attachment"
        );
        applied.attachments_added += 1;
        Ok(())
    }

    /// Downloads the Jira attachment and uploads it to the case as `name` (the `clientToken`
    /// from its Jira id); returns the id the case lists it under.
    async fn upload_to_case(
        &self,
        key: &str,
        case_id: &str,
        attachment: &JiraAttachment,
        name: &str,
    ) -> Result<String, SirClientError> {
        // Streamed: the bytes go on to SIR's upload URL as they come from Jira.
        let body = self.jira.download_attachment(attachment).await?;
        let token = self.client_token(key, &format!("attachment-{}", attachment.id));
        self.sir
            .upload_attachment(case_id, name, body, &token)
            .await?;
        let uploaded = self
            .sir
            .get_case(case_id)
            .await?
            .and_then(|d| d.attachments.into_iter().find(|a| a.file_name == name))
            .ok_or_else(|| SirClientError::AttachmentNotListed {
                case_id: case_id.to_owned(),
                file_name: name.to_owned(),
            })?;
        Ok(uploaded.attachment_id)
    }

    /// One case comment saying an attachment is too large for SIR; returns its id.
    async fn report_too_large(
        &self,
        key: &str,
        case_id: &str,
        attachment: &JiraAttachment,
    ) -> Result<String, SirClientError> {
        let text = format!(
            "The attachment \"{}\" ({} bytes) of Jira issue {key} is larger than SIR's limit of \
             {MAX_ATTACHMENT_BYTES} bytes and was not copied; it stays in Jira.",
            attachment.filename, attachment.size
        );
        let token = self.client_token(key, &format!("too-large-{}", attachment.id));
        Ok(self.sir.create_comment(case_id, &text, &token).await?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn file_names_keep_only_what_sir_accepts_and_are_unique_by_jira_id() {
        assert_eq!(
            sir_file_name("10042", "report.pdf"),
            "jira-10042-report.pdf"
        );
        assert_eq!(
            sir_file_name("7", "Incident timeline (v2) é.xlsx"),
            "jira-7-Incident_timeline__v2___.xlsx"
        );
        assert_eq!(
            sir_file_name("7", "../../etc/passwd"),
            "jira-7-.._.._etc_passwd"
        );
        assert_eq!(sir_file_name("8", "  "), "jira-8-attachment");
        let long = sir_file_name("9", &format!("{}.tar.gz", "x".repeat(400)));
        assert_eq!(long.len(), MAX_FILE_NAME_CHARS);
        assert!(long.ends_with(".gz"));
        let pattern = |n: &str| {
            n.chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'))
        };
        assert!(pattern(&long));
        assert_ne!(sir_file_name("1", "a.txt"), sir_file_name("2", "a.txt"));
    }

    #[test]
    fn long_comments_are_cut_to_sir_limit_saying_where_the_rest_is() {
        let comment = JiraComment {
            id: "1".into(),
            author_account_id: None,
            body: "y".repeat(20_000),
            created: None,
            updated: None,
            marker: None,
        };
        let text = render_jira_comment("SEC-1", "Alice", &comment);
        assert_eq!(text.chars().count(), SIR_COMMENT_MAX_CHARS);
        assert!(text.ends_with("in Jira issue SEC-1.]"));
        let short = render_jira_comment(
            "SEC-1",
            "Alice",
            &JiraComment {
                body: "hi".into(),
                ..comment
            },
        );
        assert!(short.starts_with("[Jira SEC-1] Comment by Alice"));
        assert!(short.ends_with("hi"));
    }
}
