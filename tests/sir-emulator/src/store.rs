//! The cases and the service's rules about them, shared by the API and the human actions:
//! the status graph (DESIGN §7), closed-case immutability, idempotent client tokens, attachment
//! quota and lifecycle, list limits after `…ToAdd`, pagination, and the native event each change
//! emits.

use std::collections::{BTreeMap, HashMap};

use time::OffsetDateTime;

use crate::error::Error;
use crate::events::EventSink;
use crate::identity::AWS_RESPONDER;
use crate::types::{AttachmentRecord, CaseRecord, CaseUpdate, CommentRecord, NewCase};

pub(crate) const SUBMITTED: &str = "Submitted";
pub(crate) const ACKNOWLEDGED: &str = "Acknowledged";
pub(crate) const DETECTION_AND_ANALYSIS: &str = "Detection and Analysis";
pub(crate) const CONTAINMENT: &str = "Containment, Eradication and Recovery";
pub(crate) const POST_INCIDENT: &str = "Post-incident Activities";
pub(crate) const READY_TO_CLOSE: &str = "Ready to Close";
pub(crate) const CLOSED: &str = "Closed";

/// What CloseCase records as `closureCode`: the API takes none, and a customer closing their
/// own case has, of the model's four codes, most plausibly completed the investigation.
pub const CLOSURE_CODE: &str = "Investigation Completed";

/// Attachments per case (DESIGN §4, the model's `CaseAttachmentsList` max).
pub(crate) const MAX_ATTACHMENTS: usize = 50;

/// Page size when `maxResults` is not given.
pub(crate) const DEFAULT_PAGE_SIZE: usize = 10;

/// Whether one UpdateCaseStatus call may move a case from `from` to `to`.
pub(crate) fn can_move(from: &str, to: &str) -> bool {
    matches!(
        (from, to),
        (SUBMITTED | ACKNOWLEDGED, DETECTION_AND_ANALYSIS)
            | (DETECTION_AND_ANALYSIS, CONTAINMENT | POST_INCIDENT)
            | (CONTAINMENT, DETECTION_AND_ANALYSIS | POST_INCIDENT)
            | (POST_INCIDENT, DETECTION_AND_ANALYSIS | CONTAINMENT)
    )
}

/// One entry of ListCaseEdits.
#[derive(Debug, Clone)]
pub(crate) struct CaseEdit {
    pub at: OffsetDateTime,
    pub principal: String,
    pub action: String,
    pub message: String,
}

#[derive(Debug)]
struct CaseState {
    record: CaseRecord,
    /// `(principal, clientToken)` → comment id and the body it was created with.
    comment_tokens: HashMap<(String, String), (String, String)>,
    /// `(principal, clientToken)` → upload token.
    upload_tokens: HashMap<(String, String), String>,
    edits: Vec<CaseEdit>,
}

/// A presigned upload: which attachment it fills, and whether it was used.
#[derive(Debug, Clone)]
struct Upload {
    case_id: String,
    attachment_id: String,
    used: bool,
}

/// Why an upload PUT was refused (S3's answers to a presigned PUT).
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum UploadRefusal {
    /// No such URL, or already used, or the case is gone or closed: 403.
    Forbidden(&'static str),
    /// The body is not the declared length: 400.
    WrongLength { declared: u64, received: u64 },
}

/// All state of one emulator.
#[derive(Debug)]
pub(crate) struct Store {
    account_id: String,
    region: String,
    next_case_number: u64,
    next_comment_number: u32,
    cases: BTreeMap<String, CaseState>,
    case_tokens: HashMap<(String, String), String>,
    uploads: HashMap<String, Upload>,
    downloads: HashMap<String, (String, String)>,
    /// Upload or download token → the SigV4 query of its presigned URL (the same URL each time
    /// a token is handed out again).
    presigned_queries: HashMap<String, String>,
    membership_tags: BTreeMap<String, String>,
}

/// A page of a list and the token for the next one.
pub(crate) type Page<T> = (Vec<T>, Option<String>);

/// The current time, from the one clock of the world (the clock crate's: a simulation's virtual
/// time when one is installed).
pub(crate) fn now() -> OffsetDateTime {
    OffsetDateTime::from(clock::now_system())
}

fn random_hex(len: usize) -> String {
    (0..len)
        .map(|_| char::from_digit(fastrand::u32(0..16), 16).unwrap_or('0'))
        .collect()
}

/// The query string of an S3 presigned URL (SigV4 in the query, temporary credentials), as
/// GetCaseAttachment{Upload,Download}Url answer: what makes such a URL a bearer credential, so
/// tests can check it never reaches a log or an error. `x_id` is `PutObject` or `GetObject`.
fn presigned_query(region: &str, x_id: &str) -> String {
    let at = now();
    let date = format!("{:04}{:02}{:02}", at.year(), u8::from(at.month()), at.day());
    let time = format!("{:02}{:02}{:02}", at.hour(), at.minute(), at.second());
    let key_id: String = (0..16)
        .map(|_| char::from(b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567"[fastrand::usize(0..32)]))
        .collect();
    format!(
        "X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Content-Sha256=UNSIGNED-PAYLOAD\
         &X-Amz-Credential=ASIA{key_id}%2F{date}%2F{region}%2Fs3%2Faws4_request\
         &X-Amz-Date={date}T{time}Z&X-Amz-Expires=300&X-Amz-Security-Token=IQoJb3JpZ2luX2VjE{token}\
         &X-Amz-Signature={signature}&X-Amz-SignedHeaders=host&x-id={x_id}",
        token = random_hex(96),
        signature = random_hex(64),
    )
}

fn uuid() -> String {
    format!(
        "{}-{}-4{}-{}{}-{}",
        random_hex(8),
        random_hex(4),
        random_hex(3),
        ['8', '9', 'a', 'b'][fastrand::usize(0..4)],
        random_hex(3),
        random_hex(12)
    )
}

impl Store {
    pub fn new(account_id: &str, region: &str) -> Store {
        Store {
            account_id: account_id.to_owned(),
            region: region.to_owned(),
            // Each emulator starts at its own random 10-digit id, so cases of emulators that
            // share one EventBridge bus do not collide.
            next_case_number: fastrand::u64(1_000_000_000..8_000_000_000),
            next_comment_number: fastrand::u32(100_000..200_000),
            cases: BTreeMap::new(),
            case_tokens: HashMap::new(),
            uploads: HashMap::new(),
            downloads: HashMap::new(),
            presigned_queries: HashMap::new(),
            membership_tags: BTreeMap::new(),
        }
    }

    pub fn account_id(&self) -> &str {
        &self.account_id
    }

    /// The presigned URL query for an upload or download token, made once per token.
    pub(crate) fn presigned_query(&mut self, token: &str, x_id: &str) -> String {
        let region = self.region.clone();
        self.presigned_queries
            .entry(token.to_owned())
            .or_insert_with(|| presigned_query(&region, x_id))
            .clone()
    }

    pub fn region(&self) -> &str {
        &self.region
    }

    /// `m-<account id>`: the one membership of the emulated account.
    pub fn membership_id(&self) -> String {
        format!("m-{}", self.account_id)
    }

    pub fn membership_arn(&self) -> String {
        format!(
            "arn:aws:security-ir:{}:{}:membership/{}",
            self.region,
            self.account_id,
            self.membership_id()
        )
    }

    fn case_arn(&self, case_id: &str) -> String {
        format!(
            "arn:aws:security-ir:{}:{}:case/{case_id}",
            self.region, self.account_id
        )
    }

    fn state(&self, case_id: &str) -> Result<&CaseState, Error> {
        self.cases
            .get(case_id)
            .ok_or_else(|| Error::case_not_found(case_id))
    }

    /// The case, if it may still be changed.
    fn open_state(&mut self, case_id: &str) -> Result<&mut CaseState, Error> {
        let state = self
            .cases
            .get_mut(case_id)
            .ok_or_else(|| Error::case_not_found(case_id))?;
        if state.record.case_status == CLOSED {
            return Err(Error::case_closed(case_id));
        }
        Ok(state)
    }

    pub fn case(&self, case_id: &str) -> Result<&CaseRecord, Error> {
        self.state(case_id).map(|state| &state.record)
    }

    /// Moves the case's creation time (a case that existed before the integration was installed:
    /// SIR itself never changes `createdDate`).
    pub fn backdate_case(&mut self, case_id: &str, created: OffsetDateTime) -> Result<(), Error> {
        let state = self
            .cases
            .get_mut(case_id)
            .ok_or_else(|| Error::case_not_found(case_id))?;
        state.record.created_date = created;
        Ok(())
    }

    pub fn case_count(&self) -> usize {
        self.cases.len()
    }

    pub fn cases(&self) -> Vec<CaseRecord> {
        self.cases.values().map(|s| s.record.clone()).collect()
    }

    pub fn create_case(&mut self, principal: &str, new: NewCase, events: &EventSink) -> CaseRecord {
        let token_key = new
            .client_token
            .clone()
            .map(|token| (principal.to_owned(), token));
        if let Some(existing) = token_key
            .as_ref()
            .and_then(|key| self.case_tokens.get(key))
            .and_then(|case_id| self.cases.get(case_id))
        {
            return existing.record.clone();
        }
        let case_id = format!("{:010}", self.next_case_number);
        self.next_case_number += 1;
        let at = now();
        let record = CaseRecord {
            case_arn: self.case_arn(&case_id),
            case_id: case_id.clone(),
            title: new.title,
            description: new.description,
            case_status: SUBMITTED.to_owned(),
            engagement_type: new.engagement_type,
            resolver_type: new.resolver_type,
            pending_action: "None".to_owned(),
            reported_incident_start_date: new.reported_incident_start_date,
            actual_incident_start_date: None,
            impacted_accounts: new.impacted_accounts,
            watchers: new.watchers,
            threat_actor_ip_addresses: new.threat_actor_ip_addresses,
            impacted_services: new.impacted_services,
            impacted_aws_regions: new.impacted_aws_regions,
            case_metadata: Vec::new(),
            tags: new.tags,
            closure_code: None,
            closed_date: None,
            created_date: at,
            last_updated_date: at,
            created_by: principal.to_owned(),
            last_updated_by: principal.to_owned(),
            comments: Vec::new(),
            attachments: Vec::new(),
        };
        if let Some(key) = token_key {
            self.case_tokens.insert(key, case_id.clone());
        }
        events.emit(
            "Case Created",
            &case_id,
            &record.case_arn,
            "createdBy",
            principal,
        );
        let mut state = CaseState {
            record: record.clone(),
            comment_tokens: HashMap::new(),
            upload_tokens: HashMap::new(),
            edits: Vec::new(),
        };
        state.edit(
            principal,
            "CreateCase",
            format!("Case {case_id} created"),
            at,
        );
        self.cases.insert(case_id, state);
        record
    }

    pub fn update_case(
        &mut self,
        principal: &str,
        case_id: &str,
        update: CaseUpdate,
        events: &EventSink,
    ) -> Result<(), Error> {
        let state = self.open_state(case_id)?;
        let mut record = state.record.clone();
        let mut changed = Vec::new();
        if let Some(title) = update.title {
            record.title = title;
            changed.push("title");
        }
        if let Some(description) = update.description {
            record.description = description;
            changed.push("description");
        }
        if let Some(date) = update.reported_incident_start_date {
            record.reported_incident_start_date = date;
            changed.push("reportedIncidentStartDate");
        }
        if let Some(date) = update.actual_incident_start_date {
            record.actual_incident_start_date = Some(date);
            changed.push("actualIncidentStartDate");
        }
        if let Some(engagement_type) = update.engagement_type {
            record.engagement_type = engagement_type;
            changed.push("engagementType");
        }
        if !update.watchers_to_add.is_empty() || !update.watchers_to_delete.is_empty() {
            let same = |a: &str, b: &str| a.eq_ignore_ascii_case(b);
            record.watchers.retain(|w| {
                !update
                    .watchers_to_delete
                    .iter()
                    .any(|d| same(&d.email, &w.email))
            });
            for watcher in update.watchers_to_add {
                match record
                    .watchers
                    .iter_mut()
                    .find(|w| same(&w.email, &watcher.email))
                {
                    Some(existing) => *existing = watcher,
                    None => record.watchers.push(watcher),
                }
            }
            changed.push("watchers");
        }
        if !update.threat_actor_ip_addresses_to_add.is_empty()
            || !update.threat_actor_ip_addresses_to_delete.is_empty()
        {
            let deleted = &update.threat_actor_ip_addresses_to_delete;
            record
                .threat_actor_ip_addresses
                .retain(|ip| !deleted.iter().any(|d| d.ip_address == ip.ip_address));
            for ip in update.threat_actor_ip_addresses_to_add {
                match record
                    .threat_actor_ip_addresses
                    .iter_mut()
                    .find(|existing| existing.ip_address == ip.ip_address)
                {
                    Some(existing) => *existing = ip,
                    None => record.threat_actor_ip_addresses.push(ip),
                }
            }
            changed.push("threatActorIpAddresses");
        }
        if merge_set(
            &mut record.impacted_services,
            update.impacted_services_to_add,
            &update.impacted_services_to_delete,
        ) {
            changed.push("impactedServices");
        }
        if merge_set(
            &mut record.impacted_aws_regions,
            update.impacted_aws_regions_to_add,
            &update.impacted_aws_regions_to_delete,
        ) {
            changed.push("impactedAwsRegions");
        }
        if merge_set(
            &mut record.impacted_accounts,
            update.impacted_accounts_to_add,
            &update.impacted_accounts_to_delete,
        ) {
            changed.push("impactedAccounts");
        }
        if let Some(metadata) = update.case_metadata {
            record.case_metadata = metadata;
            changed.push("caseMetadata");
        }
        for (field, len, max) in [
            ("watchersToAdd", record.watchers.len(), 30),
            (
                "threatActorIpAddressesToAdd",
                record.threat_actor_ip_addresses.len(),
                200,
            ),
            ("impactedServicesToAdd", record.impacted_services.len(), 600),
            (
                "impactedAwsRegionsToAdd",
                record.impacted_aws_regions.len(),
                50,
            ),
            ("impactedAccountsToAdd", record.impacted_accounts.len(), 200),
        ] {
            if len > max {
                return Err(Error::field(
                    field,
                    format!(
                        "Value at '{field}' failed to satisfy constraint: the case would have {len} entries, more than {max}"
                    ),
                ));
            }
        }
        let at = now();
        record.last_updated_date = at;
        record.last_updated_by = principal.to_owned();
        state.record = record;
        let message = if changed.is_empty() {
            "Case updated with no changes".to_owned()
        } else {
            format!("Case updated: {}", changed.join(", "))
        };
        state.edit(principal, "UpdateCase", message, at);
        events.emit(
            "Case Updated",
            case_id,
            &state.record.case_arn,
            "updatedBy",
            principal,
        );
        Ok(())
    }

    /// UpdateCaseStatus: only to a self-managed status, only along the graph.
    pub fn update_status(
        &mut self,
        principal: &str,
        case_id: &str,
        status: &str,
        events: &EventSink,
    ) -> Result<String, Error> {
        let state = self.open_state(case_id)?;
        let from = state.record.case_status.clone();
        if !can_move(&from, status) {
            return Err(Error::Validation {
                message: format!("Case status cannot be changed from '{from}' to '{status}'"),
                reason: "OTHER",
                fields: vec![crate::error::FieldError {
                    name: "caseStatus".to_owned(),
                    message: format!("'{status}' is not reachable from '{from}'"),
                }],
            });
        }
        state.set_status(principal, status, "UpdateCaseStatus");
        events.emit(
            "Case Updated",
            case_id,
            &state.record.case_arn,
            "updatedBy",
            principal,
        );
        Ok(status.to_owned())
    }

    /// What AWS does on its side: any status but `Closed`, graph or not.
    pub fn aws_set_status(
        &mut self,
        case_id: &str,
        status: &str,
        events: &EventSink,
    ) -> Result<(), Error> {
        let known = [
            SUBMITTED,
            ACKNOWLEDGED,
            DETECTION_AND_ANALYSIS,
            CONTAINMENT,
            POST_INCIDENT,
            READY_TO_CLOSE,
        ];
        if !known.contains(&status) {
            return Err(Error::field(
                "caseStatus",
                format!(
                    "'{status}' is not a status AWS sets (Closed is reached by closing the case)"
                ),
            ));
        }
        let state = self.open_state(case_id)?;
        state.set_status(AWS_RESPONDER, status, "UpdateCaseStatus");
        events.emit(
            "Case Updated",
            case_id,
            &state.record.case_arn,
            "updatedBy",
            AWS_RESPONDER,
        );
        Ok(())
    }

    pub fn close_case(
        &mut self,
        principal: &str,
        case_id: &str,
        events: &EventSink,
    ) -> Result<OffsetDateTime, Error> {
        let state = self.open_state(case_id)?;
        let at = state.set_status(principal, CLOSED, "CloseCase");
        state.record.closure_code = Some(CLOSURE_CODE.to_owned());
        state.record.closed_date = Some(at);
        events.emit(
            "Case Closed",
            case_id,
            &state.record.case_arn,
            "updatedBy",
            principal,
        );
        Ok(at)
    }

    pub fn update_resolver_type(
        &mut self,
        principal: &str,
        case_id: &str,
        resolver_type: &str,
        events: &EventSink,
    ) -> Result<CaseRecord, Error> {
        let state = self.open_state(case_id)?;
        let at = now();
        state.record.resolver_type = resolver_type.to_owned();
        state.record.last_updated_date = at;
        state.record.last_updated_by = principal.to_owned();
        state.edit(
            principal,
            "UpdateResolverType",
            format!("Resolver type changed to {resolver_type}"),
            at,
        );
        events.emit(
            "Case Updated",
            case_id,
            &state.record.case_arn,
            "updatedBy",
            principal,
        );
        Ok(state.record.clone())
    }

    pub fn delete_case(&mut self, case_id: &str) {
        self.cases.remove(case_id);
        self.uploads.retain(|_, upload| upload.case_id != case_id);
        self.downloads.retain(|_, (case, _)| case != case_id);
    }

    pub fn add_comment(
        &mut self,
        principal: &str,
        case_id: &str,
        body: &str,
        client_token: Option<String>,
        events: &EventSink,
    ) -> Result<String, Error> {
        let comment_id = format!("{:06}", self.next_comment_number);
        let state = self.open_state(case_id)?;
        let token_key = client_token.map(|token| (principal.to_owned(), token));
        if let Some((existing, first_body)) =
            token_key.as_ref().and_then(|k| state.comment_tokens.get(k))
        {
            // As AWS idempotency tokens work: a retry of the same request gets the first answer,
            // another request with the same token is a conflict.
            if first_body != body {
                return Err(Error::Conflict {
                    message: "The client token was already used with different parameters"
                        .to_owned(),
                    resource_id: existing.clone(),
                    resource_type: "comment".to_owned(),
                });
            }
            return Ok(existing.clone());
        }
        let at = now();
        state.record.comments.push(CommentRecord {
            comment_id: comment_id.clone(),
            body: body.to_owned(),
            creator: principal.to_owned(),
            last_updated_by: principal.to_owned(),
            created_date: at,
            last_updated_date: at,
        });
        state.record.last_updated_date = at;
        state.record.last_updated_by = principal.to_owned();
        if let Some(key) = token_key {
            state
                .comment_tokens
                .insert(key, (comment_id.clone(), body.to_owned()));
        }
        state.edit(
            principal,
            "CreateCaseComment",
            format!("Comment {comment_id} added"),
            at,
        );
        events.emit(
            "Case Comment Added",
            case_id,
            &state.record.case_arn,
            "createdBy",
            principal,
        );
        self.next_comment_number += 1;
        Ok(comment_id)
    }

    pub fn edit_comment(
        &mut self,
        principal: &str,
        case_id: &str,
        comment_id: &str,
        body: &str,
        events: &EventSink,
    ) -> Result<(), Error> {
        let state = self.open_state(case_id)?;
        let at = now();
        let comment = state
            .record
            .comments
            .iter_mut()
            .find(|c| c.comment_id == comment_id)
            .ok_or_else(|| Error::NotFound {
                message: format!("Comment {comment_id} was not found on case {case_id}"),
            })?;
        comment.body = body.to_owned();
        comment.last_updated_by = principal.to_owned();
        comment.last_updated_date = at;
        state.record.last_updated_date = at;
        state.record.last_updated_by = principal.to_owned();
        state.edit(
            principal,
            "UpdateCaseComment",
            format!("Comment {comment_id} edited"),
            at,
        );
        events.emit(
            "Case Comment Updated",
            case_id,
            &state.record.case_arn,
            "updatedBy",
            principal,
        );
        Ok(())
    }

    /// GetCaseAttachmentUploadUrl: a `Pending` attachment and the token of its upload URL.
    pub fn request_upload(
        &mut self,
        principal: &str,
        case_id: &str,
        file_name: &str,
        content_length: u64,
        client_token: Option<String>,
    ) -> Result<String, Error> {
        let state = self.open_state(case_id)?;
        let token_key = client_token.map(|token| (principal.to_owned(), token));
        if let Some(existing) = token_key.as_ref().and_then(|k| state.upload_tokens.get(k)) {
            return Ok(existing.clone());
        }
        if state.record.attachments.len() >= MAX_ATTACHMENTS {
            return Err(Error::QuotaExceeded {
                message: format!("Case {case_id} already has {MAX_ATTACHMENTS} attachments"),
                resource_id: case_id.to_owned(),
                resource_type: "case".to_owned(),
                quota_code: "attachments-per-case".to_owned(),
            });
        }
        let attachment_id = uuid();
        let at = now();
        state.record.attachments.push(AttachmentRecord {
            attachment_id: attachment_id.clone(),
            file_name: file_name.to_owned(),
            attachment_status: "Pending".to_owned(),
            creator: principal.to_owned(),
            created_date: at,
            content_length,
            bytes: Vec::new(),
        });
        let upload_token = random_hex(32);
        if let Some(key) = token_key {
            state.upload_tokens.insert(key, upload_token.clone());
        }
        self.uploads.insert(
            upload_token.clone(),
            Upload {
                case_id: case_id.to_owned(),
                attachment_id,
                used: false,
            },
        );
        Ok(upload_token)
    }

    /// A PUT to an upload URL: exactly the declared bytes, once; the attachment becomes
    /// `Verified`. `upload_token` may carry the URL's query (`<token>?X-Amz-…`), which is
    /// ignored, as the route ignores it.
    pub fn complete_upload(
        &mut self,
        upload_token: &str,
        bytes: Vec<u8>,
        events: &EventSink,
    ) -> Result<String, UploadRefusal> {
        let upload_token = upload_token
            .split_once('?')
            .map_or(upload_token, |(token, _)| token);
        let upload = self
            .uploads
            .get(upload_token)
            .cloned()
            .ok_or(UploadRefusal::Forbidden("no such upload URL"))?;
        if upload.used {
            return Err(UploadRefusal::Forbidden("this upload URL was already used"));
        }
        let state = self
            .open_state(&upload.case_id)
            .map_err(|_| UploadRefusal::Forbidden("the case is closed or gone"))?;
        let attachment = state
            .record
            .attachments
            .iter_mut()
            .find(|a| a.attachment_id == upload.attachment_id)
            .ok_or(UploadRefusal::Forbidden("the attachment is gone"))?;
        let received = bytes.len() as u64;
        if received != attachment.content_length {
            return Err(UploadRefusal::WrongLength {
                declared: attachment.content_length,
                received,
            });
        }
        attachment.bytes = bytes;
        attachment.attachment_status = "Verified".to_owned();
        let creator = attachment.creator.clone();
        let file_name = attachment.file_name.clone();
        let at = now();
        state.record.last_updated_date = at;
        state.record.last_updated_by = creator.clone();
        state.edit(
            &creator,
            "UploadAttachment",
            format!("Attachment {file_name} uploaded"),
            at,
        );
        events.emit(
            "Case Updated",
            &upload.case_id,
            &state.record.case_arn,
            "updatedBy",
            &creator,
        );
        if let Some(upload) = self.uploads.get_mut(upload_token) {
            upload.used = true;
        }
        Ok(upload.attachment_id)
    }

    /// GetCaseAttachmentDownloadUrl: the token of a download URL of a verified attachment.
    pub fn request_download(
        &mut self,
        case_id: &str,
        attachment_id: &str,
    ) -> Result<String, Error> {
        let state = self.state(case_id)?;
        let attachment = state
            .record
            .attachment(attachment_id)
            .ok_or_else(|| Error::NotFound {
                message: format!("Attachment {attachment_id} was not found on case {case_id}"),
            })?;
        if attachment.attachment_status != "Verified" {
            return Err(Error::Conflict {
                message: format!(
                    "Attachment {attachment_id} is {} and cannot be downloaded yet",
                    attachment.attachment_status
                ),
                resource_id: attachment_id.to_owned(),
                resource_type: "attachment".to_owned(),
            });
        }
        let token = random_hex(32);
        self.downloads.insert(
            token.clone(),
            (case_id.to_owned(), attachment_id.to_owned()),
        );
        Ok(token)
    }

    /// The file name and bytes behind a download token.
    pub fn download(&self, token: &str) -> Option<(String, Vec<u8>)> {
        let (case_id, attachment_id) = self.downloads.get(token)?;
        let attachment = self.cases.get(case_id)?.record.attachment(attachment_id)?;
        Some((attachment.file_name.clone(), attachment.bytes.clone()))
    }

    pub fn list_cases(
        &self,
        next_token: Option<&str>,
        max: usize,
    ) -> Result<Page<CaseRecord>, Error> {
        let all: Vec<&CaseRecord> = self.cases.values().map(|s| &s.record).collect();
        let (page, next) = paginate(&all, |c| c.case_id.clone(), "cases", next_token, max)?;
        Ok((page.into_iter().map(|item| (*item).clone()).collect(), next))
    }

    pub fn list_comments(
        &self,
        case_id: &str,
        next_token: Option<&str>,
        max: usize,
    ) -> Result<Page<CommentRecord>, Error> {
        let state = self.state(case_id)?;
        let all: Vec<&CommentRecord> = state.record.comments.iter().collect();
        let kind = format!("comments-{case_id}");
        let (page, next) = paginate(&all, |c| c.comment_id.clone(), &kind, next_token, max)?;
        Ok((page.into_iter().map(|item| (*item).clone()).collect(), next))
    }

    pub fn list_edits(
        &self,
        case_id: &str,
        next_token: Option<&str>,
        max: usize,
    ) -> Result<(Page<CaseEdit>, usize), Error> {
        let state = self.state(case_id)?;
        let indexed: Vec<(usize, &CaseEdit)> = state.edits.iter().enumerate().collect();
        let kind = format!("edits-{case_id}");
        let (page, next) = paginate(
            &indexed,
            |(index, _)| format!("{index:08}"),
            &kind,
            next_token,
            max,
        )?;
        let edits = page.into_iter().map(|(_, edit)| (*edit).clone()).collect();
        Ok(((edits, next), state.edits.len()))
    }

    /// Tags of a case or of the membership, by ARN.
    pub fn tags_mut(&mut self, arn: &str) -> Result<&mut BTreeMap<String, String>, Error> {
        if arn == self.membership_arn() {
            return Ok(&mut self.membership_tags);
        }
        let case_id = arn
            .strip_prefix(&self.case_arn(""))
            .unwrap_or_default()
            .to_owned();
        self.cases
            .get_mut(&case_id)
            .map(|state| &mut state.record.tags)
            .ok_or_else(|| Error::NotFound {
                message: format!("Resource {arn} was not found"),
            })
    }
}

impl CaseState {
    fn edit(&mut self, principal: &str, action: &str, message: String, at: OffsetDateTime) {
        self.edits.push(CaseEdit {
            at,
            principal: principal.to_owned(),
            action: action.to_owned(),
            message,
        });
    }

    fn set_status(&mut self, principal: &str, status: &str, action: &str) -> OffsetDateTime {
        let at = now();
        let from = std::mem::replace(&mut self.record.case_status, status.to_owned());
        self.record.last_updated_date = at;
        self.record.last_updated_by = principal.to_owned();
        self.edit(
            principal,
            action,
            format!("Case status changed from {from} to {status}"),
            at,
        );
        at
    }
}

/// Adds (without duplicates) and deletes plain values; true if anything was asked.
fn merge_set(values: &mut Vec<String>, to_add: Vec<String>, to_delete: &[String]) -> bool {
    if to_add.is_empty() && to_delete.is_empty() {
        return false;
    }
    values.retain(|v| !to_delete.contains(v));
    for value in to_add {
        if !values.contains(&value) {
            values.push(value);
        }
    }
    true
}

fn encode_token(kind: &str, after: &str) -> String {
    format!("{kind}:{after}")
        .bytes()
        .map(|b| format!("{b:02x}"))
        .collect()
}

fn decode_token(kind: &str, token: &str) -> Result<String, Error> {
    let invalid = || Error::InvalidToken {
        message: "The nextToken is not valid for this request".to_owned(),
    };
    let bytes = (0..token.len())
        .step_by(2)
        .map(|i| {
            token
                .get(i..i + 2)
                .and_then(|hex| u8::from_str_radix(hex, 16).ok())
        })
        .collect::<Option<Vec<u8>>>()
        .ok_or_else(invalid)?;
    let text = String::from_utf8(bytes).map_err(|_| invalid())?;
    text.strip_prefix(kind)
        .and_then(|rest| rest.strip_prefix(':'))
        .map(str::to_owned)
        .ok_or_else(invalid)
}

/// One page of `items` (in their order) after the key in `next_token`; keys must sort like
/// the items.
fn paginate<'a, T>(
    items: &'a [T],
    key: impl Fn(&T) -> String,
    kind: &str,
    next_token: Option<&str>,
    max: usize,
) -> Result<(Vec<&'a T>, Option<String>), Error> {
    let start = match next_token.filter(|t| !t.is_empty()) {
        Some(token) => {
            let after = decode_token(kind, token)?;
            items.iter().take_while(|item| key(item) <= after).count()
        }
        None => 0,
    };
    let rest = items.get(start..).unwrap_or_default();
    let page: Vec<&T> = rest.iter().take(max).collect();
    let next = match page.last() {
        Some(last) if rest.len() > page.len() => Some(encode_token(kind, &key(last))),
        _ => None,
    };
    Ok((page, next))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_graph_has_exactly_the_documented_edges() {
        let statuses = [
            SUBMITTED,
            ACKNOWLEDGED,
            DETECTION_AND_ANALYSIS,
            CONTAINMENT,
            POST_INCIDENT,
            READY_TO_CLOSE,
            CLOSED,
        ];
        let mut edges = Vec::new();
        for from in statuses {
            for to in statuses {
                if can_move(from, to) {
                    edges.push((from, to));
                }
            }
        }
        assert_eq!(
            edges,
            [
                (SUBMITTED, DETECTION_AND_ANALYSIS),
                (ACKNOWLEDGED, DETECTION_AND_ANALYSIS),
                (DETECTION_AND_ANALYSIS, CONTAINMENT),
                (DETECTION_AND_ANALYSIS, POST_INCIDENT),
                (CONTAINMENT, DETECTION_AND_ANALYSIS),
                (CONTAINMENT, POST_INCIDENT),
                (POST_INCIDENT, DETECTION_AND_ANALYSIS),
                (POST_INCIDENT, CONTAINMENT),
            ]
        );
    }

    #[test]
    fn pages_follow_the_token_and_refuse_foreign_tokens() {
        let items: Vec<String> = (0..7).map(|i| format!("{i:02}")).collect();
        let (first, next) = paginate(&items, Clone::clone, "x", None, 3).expect("page");
        assert_eq!(first, [&items[0], &items[1], &items[2]]);
        let next = next.expect("more");
        let (second, _) = paginate(&items, Clone::clone, "x", Some(&next), 3).expect("page");
        assert_eq!(second, [&items[3], &items[4], &items[5]]);
        assert!(matches!(
            paginate(&items, Clone::clone, "y", Some(&next), 3),
            Err(Error::InvalidToken { .. })
        ));
        let (last, none) = paginate(&items, Clone::clone, "x", None, 7).expect("page");
        assert_eq!(last.len(), 7);
        assert!(none.is_none());
    }

    #[test]
    fn attachment_ids_look_like_the_models_uuid_pattern() {
        let id = uuid();
        let parts: Vec<usize> = id.split('-').map(str::len).collect();
        assert_eq!(parts, [8, 4, 4, 4, 12]);
    }
}
