//! [`TrackedCaseStore`] on DynamoDB: `POLLER` / `CASE#<caseId>`, one partition the poller lists
//! with a paged Query.

use std::collections::HashMap;

use async_trait::async_trait;
use aws_sdk_dynamodb::types::AttributeValue;

use super::dynamo::{DynamoMappingStore, ItemReader, key, n, s};
use super::{TrackedCase, TrackedCaseStore};
use crate::error::{Error, Result};

pub(super) const POLLER: &str = "POLLER";

/// The sort key of a case's entry in the `POLLER` partition.
pub(super) fn tracked_sort_key(case_id: &str) -> String {
    format!("CASE#{case_id}")
}

pub(super) fn tracked_case_from(item: &HashMap<String, AttributeValue>) -> Result<TrackedCase> {
    let r = ItemReader { item };
    Ok(TrackedCase {
        case_id: r.req_s("caseId")?.to_owned(),
        last_updated_date: r.opt_s("lastUpdatedDate").map(str::to_owned),
        status: r.opt_s("status").map(str::to_owned),
        title: r.opt_s("title").map(str::to_owned),
        comments_checked_at: r.opt_n("commentsCheckedAt")?.unwrap_or(0),
        audited_at: r.opt_n("auditedAt")?.unwrap_or(0),
    })
}

/// The `POLLER` item of `case`.
pub(super) fn tracked_case_item(case: &TrackedCase) -> HashMap<String, AttributeValue> {
    let mut item = key(POLLER.to_owned(), tracked_sort_key(&case.case_id));
    item.insert("caseId".into(), s(&case.case_id));
    for (name, value) in [
        ("lastUpdatedDate", &case.last_updated_date),
        ("status", &case.status),
        ("title", &case.title),
    ] {
        if let Some(value) = value {
            item.insert(name.into(), s(value));
        }
    }
    item.insert("commentsCheckedAt".into(), n(case.comments_checked_at));
    item.insert("auditedAt".into(), n(case.audited_at));
    item
}

#[async_trait]
impl TrackedCaseStore for DynamoMappingStore {
    async fn tracked_cases(&self) -> Result<Vec<TrackedCase>> {
        self.query_prefix(POLLER.to_owned(), "CASE#")
            .await?
            .iter()
            .map(tracked_case_from)
            .collect()
    }

    async fn tracked_case(&self, case_id: &str) -> Result<Option<TrackedCase>> {
        self.get(POLLER.to_owned(), &tracked_sort_key(case_id))
            .await?
            .as_ref()
            .map(tracked_case_from)
            .transpose()
    }

    async fn put_tracked_case(&self, case: &TrackedCase) -> Result<()> {
        self.put(tracked_case_item(case)).await
    }

    async fn untrack_case(&self, case_id: &str) -> Result<()> {
        self.client
            .delete_item()
            .table_name(&self.table)
            .set_key(Some(key(POLLER.to_owned(), tracked_sort_key(case_id))))
            .send()
            .await
            .map_err(Error::dynamodb("DeleteItem"))?;
        Ok(())
    }
}
