//! [`SweepCursorStore`] on DynamoDB: `SWEEP#<name>` / `CURSOR`, written by one conditional PutItem
//! that refuses to move the position back.

use async_trait::async_trait;
use aws_sdk_dynamodb::operation::put_item::PutItemError;
use aws_sdk_dynamodb::types::AttributeValue;

use super::dynamo::{DynamoMappingStore, ItemReader, key, n};
use super::schema::PARTITION_KEY as PK;
use super::{SweepCursor, SweepCursorStore};
use crate::error::{Error, Result};

const CURSOR: &str = "CURSOR";

fn sweep_pk(sweep: &str) -> String {
    format!("SWEEP#{sweep}")
}

#[async_trait]
impl SweepCursorStore for DynamoMappingStore {
    async fn sweep_cursor(&self, sweep: &str) -> Result<Option<SweepCursor>> {
        let Some(item) = self.get(sweep_pk(sweep), CURSOR).await? else {
            return Ok(None);
        };
        let r = ItemReader { item: &item };
        let position_ms = r
            .opt_n("positionMs")?
            .ok_or_else(|| r.malformed("no number attribute positionMs".into()))?;
        let caught_up = item
            .get("caughtUp")
            .and_then(|v| v.as_bool().ok())
            .copied()
            .unwrap_or(false);
        Ok(Some(SweepCursor {
            position_ms,
            caught_up,
            last_key: r.opt_s("lastKey").map(str::to_owned),
            round_started_ms: r.opt_n("roundStartedMs")?,
        }))
    }

    async fn advance_sweep_cursor(&self, sweep: &str, cursor: &SweepCursor) -> Result<bool> {
        let mut item = key(sweep_pk(sweep), CURSOR);
        item.insert("positionMs".into(), n(cursor.position_ms));
        item.insert("caughtUp".into(), AttributeValue::Bool(cursor.caught_up));
        if let Some(last_key) = &cursor.last_key {
            item.insert("lastKey".into(), AttributeValue::S(last_key.clone()));
        }
        if let Some(round_started_ms) = cursor.round_started_ms {
            item.insert("roundStartedMs".into(), n(round_started_ms));
        }
        let written = self
            .client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(item))
            .condition_expression("attribute_not_exists(#pk) OR #position <= :position")
            .expression_attribute_names("#pk", PK)
            .expression_attribute_names("#position", "positionMs")
            .expression_attribute_values(":position", n(cursor.position_ms))
            .send()
            .await;
        match written {
            Ok(_) => Ok(true),
            Err(err) => match err.as_service_error() {
                Some(PutItemError::ConditionalCheckFailedException(_)) => Ok(false),
                _ => Err(Error::dynamodb("PutItem")(err)),
            },
        }
    }
}
