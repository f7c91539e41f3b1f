//! [`SnapshotStore`] on DynamoDB: `CASE#<caseId>` / `SNAPSHOT` and `ISSUE#<issueKey>` /
//! `SNAPSHOT`, the normalized snapshot as JSON with its fingerprint.

use async_trait::async_trait;
use serde::Serialize;

use super::dynamo::{DynamoMappingStore, ItemReader, case_pk, issue_pk, key, n, s};
use super::{SnapshotStore, now_epoch_seconds};
use crate::error::{Error, Result};
use crate::snapshot::{CaseSnapshot, IssueSnapshot};

pub(super) const SNAPSHOT: &str = "SNAPSHOT";

/// The snapshot a `SNAPSHOT` item holds.
pub(super) fn snapshot_of<T: serde::de::DeserializeOwned>(
    item: &std::collections::HashMap<String, aws_sdk_dynamodb::types::AttributeValue>,
) -> Result<T> {
    let json = ItemReader { item }.req_s("snapshot")?;
    serde_json::from_str(json).map_err(Error::json("stored snapshot"))
}

impl DynamoMappingStore {
    async fn get_snapshot<T: serde::de::DeserializeOwned>(&self, pk: String) -> Result<Option<T>> {
        self.get(pk, SNAPSHOT)
            .await?
            .map(|item| snapshot_of(&item))
            .transpose()
    }

    async fn put_snapshot<T: Serialize>(
        &self,
        pk: String,
        snapshot: &T,
        fingerprint: &str,
    ) -> Result<()> {
        self.put(snapshot_item(pk, snapshot, fingerprint)?).await
    }
}

/// The `SNAPSHOT` item of partition `pk`.
pub(super) fn snapshot_item<T: Serialize>(
    pk: String,
    snapshot: &T,
    fingerprint: &str,
) -> Result<std::collections::HashMap<String, aws_sdk_dynamodb::types::AttributeValue>> {
    let mut item = key(pk, SNAPSHOT);
    item.insert(
        "snapshot".into(),
        s(serde_json::to_string(snapshot).map_err(Error::json("snapshot"))?),
    );
    item.insert("fingerprint".into(), s(fingerprint));
    item.insert("syncedAt".into(), n(now_epoch_seconds()));
    Ok(item)
}

/// The `CASE#` snapshot item of `snapshot`, normalized.
pub(super) fn case_snapshot_item(
    snapshot: &CaseSnapshot,
) -> Result<std::collections::HashMap<String, aws_sdk_dynamodb::types::AttributeValue>> {
    let snapshot = snapshot.clone().normalized();
    let fingerprint = snapshot.fingerprint();
    snapshot_item(case_pk(&snapshot.case_id), &snapshot, fingerprint.as_str())
}

#[async_trait]
impl SnapshotStore for DynamoMappingStore {
    async fn case_snapshot(&self, case_id: &str) -> Result<Option<CaseSnapshot>> {
        self.get_snapshot(case_pk(case_id)).await
    }

    async fn put_case_snapshot(&self, snapshot: &CaseSnapshot) -> Result<()> {
        self.put(case_snapshot_item(snapshot)?).await
    }

    async fn issue_snapshot(&self, issue_key: &str) -> Result<Option<IssueSnapshot>> {
        self.get_snapshot(issue_pk(issue_key)).await
    }

    async fn put_issue_snapshot(&self, snapshot: &IssueSnapshot) -> Result<()> {
        let snapshot = snapshot.clone().normalized();
        let fingerprint = snapshot.fingerprint();
        self.put_snapshot(
            issue_pk(&snapshot.issue_key),
            &snapshot,
            fingerprint.as_str(),
        )
        .await
    }
}
