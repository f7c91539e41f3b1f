//! [`WebhookDeliveryStore`] on DynamoDB: `WEBHOOK#<identifier>` / `DELIVERY`, with `state`
//! (`started` or `done`) and the TTL attribute as the lease's or the record's end. Taken by one
//! conditional PutItem that returns the stored item when refused; finished by a plain PutItem;
//! a failed try's lease ended (TTL 0) by a PutItem conditional on it still being `started`.

use std::collections::HashMap;

use async_trait::async_trait;
use aws_sdk_dynamodb::operation::put_item::PutItemError;
use aws_sdk_dynamodb::types::{AttributeValue, ReturnValuesOnConditionCheckFailure};

use super::dynamo::{DynamoMappingStore, ItemReader, key, n, s};
use super::schema::{PARTITION_KEY as PK, TTL_ATTRIBUTE};
use super::{DeliveryStart, WebhookDeliveryStore};
use crate::error::{Error, Result};

const DELIVERY: &str = "DELIVERY";
const STARTED: &str = "started";
const DONE: &str = "done";

fn webhook_pk(identifier: &str) -> String {
    format!("WEBHOOK#{identifier}")
}

/// What a refused start found stored.
fn found(item: &HashMap<String, AttributeValue>) -> Result<DeliveryStart> {
    let r = ItemReader { item };
    match r.opt_s("state") {
        Some(DONE) => Ok(DeliveryStart::Done),
        Some(STARTED) => Ok(DeliveryStart::InProgress),
        other => Err(r.malformed(format!("webhook delivery state {other:?}"))),
    }
}

#[async_trait]
impl WebhookDeliveryStore for DynamoMappingStore {
    async fn start_delivery(
        &self,
        identifier: &str,
        now: u64,
        lease_until: u64,
    ) -> Result<DeliveryStart> {
        let mut item = key(webhook_pk(identifier), DELIVERY);
        item.insert("state".into(), s(STARTED));
        item.insert(TTL_ATTRIBUTE.into(), n(lease_until));
        let sent = self
            .client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(item))
            // An ended lease or an expired record DynamoDB has not deleted yet is no record.
            .condition_expression("attribute_not_exists(#pk) OR #ttl <= :now")
            .expression_attribute_names("#pk", PK)
            .expression_attribute_names("#ttl", TTL_ATTRIBUTE)
            .expression_attribute_values(":now", n(now))
            .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld)
            .send()
            .await;
        match sent {
            Ok(_) => Ok(DeliveryStart::Started),
            Err(err) => match err.as_service_error() {
                Some(PutItemError::ConditionalCheckFailedException(failed)) => {
                    match failed.item() {
                        Some(item) => found(item),
                        None => Err(Error::dynamodb("PutItem")(err)),
                    }
                }
                _ => Err(Error::dynamodb("PutItem")(err)),
            },
        }
    }

    async fn release_delivery(&self, identifier: &str) -> Result<()> {
        // An ended lease (a PutItem, which the role has; it may not DeleteItem).
        let mut item = key(webhook_pk(identifier), DELIVERY);
        item.insert("state".into(), s(STARTED));
        item.insert(TTL_ATTRIBUTE.into(), n(0));
        let sent = self
            .client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(item))
            .condition_expression("#state = :started")
            .expression_attribute_names("#state", "state")
            .expression_attribute_values(":started", s(STARTED))
            .send()
            .await;
        match sent {
            Ok(_) => Ok(()),
            // Done meanwhile (another try), or gone: nothing to give up.
            Err(err)
                if matches!(
                    err.as_service_error(),
                    Some(PutItemError::ConditionalCheckFailedException(_))
                ) =>
            {
                Ok(())
            }
            Err(err) => Err(Error::dynamodb("PutItem")(err)),
        }
    }

    async fn finish_delivery(&self, identifier: &str, keep_until: u64) -> Result<()> {
        let mut item = key(webhook_pk(identifier), DELIVERY);
        item.insert("state".into(), s(DONE));
        item.insert(TTL_ATTRIBUTE.into(), n(keep_until));
        self.client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(item))
            .send()
            .await
            .map_err(Error::dynamodb("PutItem"))?;
        Ok(())
    }
}
