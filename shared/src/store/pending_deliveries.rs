//! [`PendingDeliveryStore`] on DynamoDB: `PENDING` / `CASE#<caseId>` and `PENDING` /
//! `ISSUE#<issueKey>`, one partition the reconciler lists with a paged Query. Each item holds the
//! event to publish again (detail-type and detail JSON), its delivery id, when it was published
//! and how often (and `held` while it is recorded but not published); it is replaced by a conditional PutItem on the delivery id and removed by a
//! conditional DeleteItem on it.

use std::collections::HashMap;

use async_trait::async_trait;
use aws_sdk_dynamodb::types::AttributeValue;

use super::dynamo::{DynamoMappingStore, ItemReader, key, n, s};
use super::schema::PARTITION_KEY as PK;
use super::{DeliverySubject, PendingDelivery, PendingDeliveryStore};
use crate::error::{Error, Result};
use crate::events::{BusEvent, DetailType};

/// The ledger's partition.
pub(super) const PENDING: &str = "PENDING";

pub(super) fn pending_delivery_from(
    item: &HashMap<String, AttributeValue>,
) -> Result<PendingDelivery> {
    let r = ItemReader { item };
    let number = |name: &str| {
        r.opt_n(name)?
            .ok_or_else(|| r.malformed(format!("no number attribute {name}")))
    };
    let detail_type = DetailType::parse(r.req_s("detailType")?)
        .map_err(|e| r.malformed(format!("detailType: {e}")))?;
    let detail: serde_json::Value = serde_json::from_str(r.req_s("detail")?)
        .map_err(|e| r.malformed(format!("detail is not JSON: {e}")))?;
    let event = BusEvent::from_envelope(detail_type.source(), detail_type.as_str(), detail)
        .map_err(|e| r.malformed(format!("detail: {e}")))?;
    let subject = DeliverySubject::of(&event)
        .ok_or_else(|| r.malformed("a deletion is never pending".to_owned()))?;
    let attempts = number("attempts")?;
    Ok(PendingDelivery {
        subject,
        delivery_id: r.req_s("deliveryId")?.to_owned(),
        event,
        first_published_at: number("firstPublishedAt")?,
        published_at: number("publishedAt")?,
        attempts: u32::try_from(attempts)
            .map_err(|_| r.malformed(format!("attempts {attempts} is out of range")))?,
        held: item
            .get("held")
            .is_some_and(|v| v.as_bool().is_ok_and(|held| *held)),
    })
}

#[async_trait]
impl PendingDeliveryStore for DynamoMappingStore {
    async fn pending_delivery(&self, subject: &DeliverySubject) -> Result<Option<PendingDelivery>> {
        self.get(PENDING.to_owned(), &subject.sort_key())
            .await?
            .as_ref()
            .map(pending_delivery_from)
            .transpose()
    }

    async fn pending_deliveries(&self) -> Result<Vec<PendingDelivery>> {
        let mut all = Vec::new();
        for prefix in ["CASE#", "ISSUE#"] {
            for item in self.query_prefix(PENDING.to_owned(), prefix).await? {
                all.push(pending_delivery_from(&item)?);
            }
        }
        Ok(all)
    }

    async fn swap_pending_delivery(
        &self,
        expected: Option<&str>,
        new: &PendingDelivery,
    ) -> Result<bool> {
        let mut item = key(PENDING.to_owned(), new.subject.sort_key());
        item.insert("deliveryId".into(), s(&new.delivery_id));
        item.insert(
            "detailType".into(),
            s(new.event.detail_type().as_str().to_owned()),
        );
        item.insert("detail".into(), s(new.event.detail_json()?));
        item.insert("firstPublishedAt".into(), n(new.first_published_at));
        item.insert("publishedAt".into(), n(new.published_at));
        item.insert("attempts".into(), n(u64::from(new.attempts)));
        if new.held {
            item.insert("held".into(), AttributeValue::Bool(true));
        }
        let request = self
            .client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(item));
        let request = match expected {
            None => request
                .condition_expression("attribute_not_exists(#pk)")
                .expression_attribute_names("#pk", PK),
            Some(id) => request
                .condition_expression("#id = :id")
                .expression_attribute_names("#id", "deliveryId")
                .expression_attribute_values(":id", s(id)),
        };
        match request.send().await {
            Ok(_) => Ok(true),
            Err(err)
                if err
                    .as_service_error()
                    .is_some_and(|e| e.is_conditional_check_failed_exception()) =>
            {
                Ok(false)
            }
            Err(err) => Err(Error::dynamodb("PutItem")(err)),
        }
    }

    async fn acknowledge_delivery(
        &self,
        subject: &DeliverySubject,
        delivery_id: &str,
    ) -> Result<bool> {
        let result = self
            .client
            .delete_item()
            .table_name(&self.table)
            .set_key(Some(key(PENDING.to_owned(), subject.sort_key())))
            .condition_expression("#id = :id")
            .expression_attribute_names("#id", "deliveryId")
            .expression_attribute_values(":id", s(delivery_id))
            .send()
            .await;
        match result {
            Ok(_) => Ok(true),
            Err(err)
                if err
                    .as_service_error()
                    .is_some_and(|e| e.is_conditional_check_failed_exception()) =>
            {
                Ok(false)
            }
            Err(err) => Err(Error::dynamodb("DeleteItem")(err)),
        }
    }

    async fn forget_pending_delivery(&self, subject: &DeliverySubject) -> Result<()> {
        self.client
            .delete_item()
            .table_name(&self.table)
            .set_key(Some(key(PENDING.to_owned(), subject.sort_key())))
            .send()
            .await
            .map_err(Error::dynamodb("DeleteItem"))?;
        Ok(())
    }
}
