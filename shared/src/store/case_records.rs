//! [`CaseRecordStore`] on DynamoDB: `CASE#<caseId>` / `LINK` and `SNAPSHOT`, `POLLER` /
//! `CASE#<caseId>` and `PENDING` / `CASE#<caseId>`, read in one `TransactGetItems`; the
//! snapshot and the poller's entry written in one `TransactWriteItems`. A transactional read is
//! consistent like the GetItems it replaces, has no unprocessed keys to retry (as `BatchGetItem`
//! has), and needs no IAM action beyond `GetItem` on each item. It bills two read units per
//! item, and a write in flight to one of its items cancels it (retryable, see
//! [`super::dynamo::transaction_error`]).

use std::collections::HashMap;

use async_trait::async_trait;
use aws_sdk_dynamodb::types::AttributeValue;

use super::dynamo::{DynamoMappingStore, case_pk, key};
use super::links::{LINK, read_link};
use super::pending_deliveries::{PENDING, pending_delivery_from};
use super::snapshots::{SNAPSHOT, case_snapshot_item, snapshot_of};
use super::tracked_cases::{POLLER, tracked_case_from, tracked_case_item, tracked_sort_key};
use super::{CaseRecordStore, CaseRecords, DeliverySubject, TrackedCase};
use crate::error::Result;
use crate::snapshot::CaseSnapshot;

type Item = HashMap<String, AttributeValue>;

#[async_trait]
impl CaseRecordStore for DynamoMappingStore {
    async fn case_records(&self, case_id: &str) -> Result<CaseRecords> {
        let keys = vec![
            key(case_pk(case_id), LINK),
            key(case_pk(case_id), SNAPSHOT),
            key(POLLER.to_owned(), tracked_sort_key(case_id)),
            key(
                PENDING.to_owned(),
                DeliverySubject::Case(case_id.to_owned()).sort_key(),
            ),
        ];
        let mut items = self.transact_get(keys).await?.into_iter();
        let mut next = || -> Option<Item> { items.next().flatten() };
        let (link, snapshot, tracked, pending) = (next(), next(), next(), next());
        Ok(CaseRecords {
            link: link.as_ref().map(read_link).transpose()?,
            snapshot: snapshot.as_ref().map(snapshot_of).transpose()?,
            tracked: tracked.as_ref().map(tracked_case_from).transpose()?,
            pending: pending.as_ref().map(pending_delivery_from).transpose()?,
        })
    }

    async fn put_snapshot_and_tracked_case(
        &self,
        snapshot: &CaseSnapshot,
        tracked: &TrackedCase,
    ) -> Result<()> {
        self.transact_put(vec![
            case_snapshot_item(snapshot)?,
            tracked_case_item(tracked),
        ])
        .await
    }
}
