//! [`NotifiedWindowStore`] on DynamoDB: `ISSUE#<issueKey>` / `NOTIFIED`, replaced whole by one
//! conditional PutItem that returns the stored item when refused.

use std::collections::HashMap;

use async_trait::async_trait;
use aws_sdk_dynamodb::operation::put_item::PutItemError;
use aws_sdk_dynamodb::types::{AttributeValue, ReturnValuesOnConditionCheckFailure};

use super::dynamo::{DynamoMappingStore, ItemReader, issue_pk, key, n};
use super::schema::{PARTITION_KEY as PK, TTL_ATTRIBUTE};
use super::{NotifiedWindow, NotifiedWindowStore, WindowExpectation, WindowSwap};
use crate::error::{Error, Result};

const NOTIFIED: &str = "NOTIFIED";

fn notified_window_from(item: &HashMap<String, AttributeValue>) -> Result<NotifiedWindow> {
    let r = ItemReader { item };
    let number = |name: &str| {
        r.opt_n(name)?
            .ok_or_else(|| r.malformed(format!("no number attribute {name}")))
    };
    let reads = number("reads")?;
    Ok(NotifiedWindow {
        expires_at: number(TTL_ATTRIBUTE)?,
        reads: u32::try_from(reads)
            .map_err(|_| r.malformed(format!("reads {reads} is out of range")))?,
        last_read_started_ms: number("lastReadStartedMs")?,
    })
}

#[async_trait]
impl NotifiedWindowStore for DynamoMappingStore {
    async fn swap_notified_window(
        &self,
        issue_key: &str,
        expected: WindowExpectation,
        new: &NotifiedWindow,
    ) -> Result<WindowSwap> {
        let mut item = key(issue_pk(issue_key), NOTIFIED);
        item.insert(TTL_ATTRIBUTE.into(), n(new.expires_at));
        item.insert("reads".into(), n(u64::from(new.reads)));
        item.insert("lastReadStartedMs".into(), n(new.last_read_started_ms));
        let request = self
            .client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(item))
            .expression_attribute_names("#ttl", TTL_ATTRIBUTE)
            .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld);
        let request = match expected {
            WindowExpectation::NoneOpenAt(now) => request
                .condition_expression("attribute_not_exists(#pk) OR #ttl <= :now")
                .expression_attribute_names("#pk", PK)
                .expression_attribute_values(":now", n(now)),
            WindowExpectation::Exactly(current) => request
                .condition_expression("#ttl = :ttl AND #reads = :reads AND #last = :last")
                .expression_attribute_names("#reads", "reads")
                .expression_attribute_names("#last", "lastReadStartedMs")
                .expression_attribute_values(":ttl", n(current.expires_at))
                .expression_attribute_values(":reads", n(u64::from(current.reads)))
                .expression_attribute_values(":last", n(current.last_read_started_ms)),
        };
        match request.send().await {
            Ok(_) => Ok(WindowSwap::Written),
            Err(err) => match err.as_service_error() {
                Some(PutItemError::ConditionalCheckFailedException(failed)) => failed
                    .item()
                    .map(notified_window_from)
                    .transpose()
                    .map(WindowSwap::Refused),
                _ => Err(Error::dynamodb("PutItem")(err)),
            },
        }
    }
}
