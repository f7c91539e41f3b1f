//! [`WebhookDeliveryStore`] on DynamoDB: `WEBHOOK#<identifier>` / `DELIVERY`, written once the
//! delivery was handled, with the TTL attribute as the end of the time it is remembered; read by
//! a consistent GetItem.

use super::WebhookDeliveryStore;
use super::dynamo::{DynamoMappingStore, ItemReader, key, n};
use super::schema::TTL_ATTRIBUTE;
use crate::error::Result;
use async_trait::async_trait;

const DELIVERY: &str = "DELIVERY";

fn webhook_pk(identifier: &str) -> String {
    format!("WEBHOOK#{identifier}")
}

#[async_trait]
impl WebhookDeliveryStore for DynamoMappingStore {
    async fn delivery_handled(&self, identifier: &str, now: u64) -> Result<bool> {
        let Some(item) = self.get(webhook_pk(identifier), DELIVERY).await? else {
            return Ok(false);
        };
        // An expired record DynamoDB has not deleted yet is no record.
        let kept_until = ItemReader { item: &item }
            .opt_n(TTL_ATTRIBUTE)?
            .unwrap_or(0);
        Ok(kept_until > now)
    }

    async fn finish_delivery(&self, identifier: &str, keep_until: u64) -> Result<()> {
        let mut item = key(webhook_pk(identifier), DELIVERY);
        item.insert(TTL_ATTRIBUTE.into(), n(keep_until));
        self.put(item).await
    }
}
