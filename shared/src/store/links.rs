//! [`LinkStore`] on DynamoDB: `CASE#<caseId>` / `LINK` and `ISSUE#<issueKey>` / `LINK`, written
//! together in one transaction, each only if absent; and `CASE#<caseId>` / `ISSUE_CREATE`, the
//! issue create last started for the case (`startedAt`, expiring through the TTL attribute).

use std::collections::HashMap;
use std::time::Duration;

use async_trait::async_trait;
use aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError;
use aws_sdk_dynamodb::types::{AttributeValue, TransactWriteItem, Update};

use super::dynamo::{DynamoMappingStore, ItemReader, case_pk, issue_pk, key, n, s};
use super::schema::TTL_ATTRIBUTE;
use super::{ISSUE_CREATE_RECORD_TTL, IssueLink, LinkOutcome, LinkStore, now_epoch_seconds};
use crate::error::{Error, Result};

pub(super) const LINK: &str = "LINK";
pub(super) const ISSUE_CREATE: &str = "ISSUE_CREATE";

fn link_item(pk: String, link: &IssueLink, now: u64) -> HashMap<String, AttributeValue> {
    let mut item = key(pk, LINK);
    item.insert("caseId".into(), s(&link.case_id));
    item.insert("issueKey".into(), s(&link.issue_key));
    item.insert("linkedAt".into(), n(now));
    if let Some(reason) = &link.broken {
        item.insert("broken".into(), s(reason));
    }
    item
}

pub(super) fn read_link(item: &HashMap<String, AttributeValue>) -> Result<IssueLink> {
    let r = ItemReader { item };
    Ok(IssueLink {
        case_id: r.req_s("caseId")?.to_owned(),
        issue_key: r.req_s("issueKey")?.to_owned(),
        broken: r.opt_s("broken").map(str::to_owned),
    })
}

/// How long ago the create recorded in `item` started; `None` when the record has expired.
pub(super) fn issue_create_age_of(
    item: &HashMap<String, AttributeValue>,
) -> Result<Option<Duration>> {
    let r = ItemReader { item };
    let now = now_epoch_seconds();
    // DynamoDB deletes expired items only eventually: an expired one reads as absent.
    if r.opt_n(TTL_ATTRIBUTE)?
        .is_some_and(|expires| expires <= now)
    {
        return Ok(None);
    }
    let started = r
        .opt_n("startedAt")?
        .ok_or_else(|| r.malformed("no startedAt".into()))?;
    Ok(Some(Duration::from_secs(now.saturating_sub(started))))
}

#[async_trait]
impl LinkStore for DynamoMappingStore {
    async fn create_link(&self, link: &IssueLink) -> Result<LinkOutcome> {
        let now = now_epoch_seconds();
        let condition = "attribute_not_exists(PK)";
        let result = self
            .client
            .transact_write_items()
            .transact_items(Self::put_transact_item(
                link_item(case_pk(&link.case_id), link, now),
                Some(condition),
                &self.table,
            )?)
            .transact_items(Self::put_transact_item(
                link_item(issue_pk(&link.issue_key), link, now),
                Some(condition),
                &self.table,
            )?)
            .send()
            .await;
        match result {
            Ok(_) => Ok(LinkOutcome::Created),
            Err(err) => {
                let lost_condition = matches!(
                    err.as_service_error(),
                    Some(TransactWriteItemsError::TransactionCanceledException(cancel))
                        if cancel.cancellation_reasons().iter().any(|r| r.code() == Some("ConditionalCheckFailed"))
                );
                if !lost_condition {
                    return Err(Error::dynamodb("TransactWriteItems")(err));
                }
                if let Some(existing) = self.link_for_case(&link.case_id).await? {
                    return Ok(LinkOutcome::Exists(existing));
                }
                match self.link_for_issue(&link.issue_key).await? {
                    Some(existing) => Ok(LinkOutcome::Exists(existing)),
                    None => Err(Error::dynamodb("TransactWriteItems")(err)),
                }
            }
        }
    }

    async fn link_for_case(&self, case_id: &str) -> Result<Option<IssueLink>> {
        self.get(case_pk(case_id), LINK)
            .await?
            .map(|item| read_link(&item))
            .transpose()
    }

    async fn link_for_issue(&self, issue_key: &str) -> Result<Option<IssueLink>> {
        self.get(issue_pk(issue_key), LINK)
            .await?
            .map(|item| read_link(&item))
            .transpose()
    }

    async fn mark_link_broken(&self, link: &IssueLink, reason: &str) -> Result<()> {
        let update = |pk: String| -> Result<TransactWriteItem> {
            let update = Update::builder()
                .table_name(&self.table)
                .set_key(Some(key(pk, LINK)))
                .update_expression("SET #broken = :reason, #brokenAt = :now")
                .condition_expression("attribute_exists(PK)")
                .expression_attribute_names("#broken", "broken")
                .expression_attribute_names("#brokenAt", "brokenAt")
                .expression_attribute_values(":reason", s(reason))
                .expression_attribute_values(":now", n(now_epoch_seconds()))
                .build()
                .map_err(|source| Error::RequestBuild {
                    what: "TransactWriteItems Update",
                    source,
                })?;
            Ok(TransactWriteItem::builder().update(update).build())
        };
        self.client
            .transact_write_items()
            .transact_items(update(case_pk(&link.case_id))?)
            .transact_items(update(issue_pk(&link.issue_key))?)
            .send()
            .await
            .map_err(Error::dynamodb("TransactWriteItems"))?;
        Ok(())
    }

    async fn record_issue_create(&self, case_id: &str) -> Result<()> {
        let now = now_epoch_seconds();
        let mut item = key(case_pk(case_id), ISSUE_CREATE);
        item.insert("startedAt".into(), n(now));
        item.insert(
            TTL_ATTRIBUTE.into(),
            n(now + ISSUE_CREATE_RECORD_TTL.as_secs()),
        );
        self.put(item).await
    }

    async fn issue_create_age(&self, case_id: &str) -> Result<Option<Duration>> {
        self.get(case_pk(case_id), ISSUE_CREATE)
            .await?
            .map_or(Ok(None), |item| issue_create_age_of(&item))
    }

    async fn forget_issue_create(&self, case_id: &str) -> Result<()> {
        self.client
            .delete_item()
            .table_name(&self.table)
            .set_key(Some(key(case_pk(case_id), ISSUE_CREATE)))
            .send()
            .await
            .map_err(Error::dynamodb("DeleteItem"))?;
        Ok(())
    }
}
