//! [`ClaimStore`] on DynamoDB: `CASE#<caseId>` / `CLAIM` or `ISSUE#<issueKey>` / `CLAIM`, put
//! only if absent or expired, renewed only by its owner while unexpired, deleted only by its
//! owner.

use std::time::Duration;

use async_trait::async_trait;

use super::dynamo::{DynamoMappingStore, case_pk, issue_pk, key, n, s};
use super::schema::{PARTITION_KEY as PK, TTL_ATTRIBUTE};
use super::{Claim, ClaimKey, ClaimStore, now_epoch_seconds};
use crate::error::{Error, Result};

const CLAIM: &str = "CLAIM";

fn claim_pk(claim_key: &ClaimKey) -> String {
    match claim_key {
        ClaimKey::Case(id) => case_pk(id),
        ClaimKey::Issue(key) => issue_pk(key),
    }
}

#[async_trait]
impl ClaimStore for DynamoMappingStore {
    async fn claim(&self, claim_key: &ClaimKey, lease: Duration) -> Result<Option<Claim>> {
        let now = now_epoch_seconds();
        let claim = Claim {
            key: claim_key.clone(),
            owner: uuid::Uuid::new_v4().to_string(),
            expires_at: now + lease.as_secs().max(1),
        };
        let mut item = key(claim_pk(claim_key), CLAIM);
        item.insert("owner".into(), s(&claim.owner));
        item.insert(TTL_ATTRIBUTE.into(), n(claim.expires_at));
        let result = self
            .client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(item))
            .condition_expression("attribute_not_exists(#pk) OR #ttl <= :now")
            .expression_attribute_names("#pk", PK)
            .expression_attribute_names("#ttl", TTL_ATTRIBUTE)
            .expression_attribute_values(":now", n(now))
            .send()
            .await;
        match result {
            Ok(_) => Ok(Some(claim)),
            Err(err)
                if err
                    .as_service_error()
                    .is_some_and(|e| e.is_conditional_check_failed_exception()) =>
            {
                Ok(None)
            }
            Err(err) => Err(Error::dynamodb("PutItem")(err)),
        }
    }

    async fn release(&self, claim: &Claim) -> Result<()> {
        let result = self
            .client
            .delete_item()
            .table_name(&self.table)
            .set_key(Some(key(claim_pk(&claim.key), CLAIM)))
            .condition_expression("#owner = :owner")
            .expression_attribute_names("#owner", "owner")
            .expression_attribute_values(":owner", s(&claim.owner))
            .send()
            .await;
        match result {
            Ok(_) => Ok(()),
            Err(err)
                if err
                    .as_service_error()
                    .is_some_and(|e| e.is_conditional_check_failed_exception()) =>
            {
                Ok(())
            }
            Err(err) => Err(Error::dynamodb("DeleteItem")(err)),
        }
    }

    async fn renew(&self, claim: &Claim, lease: Duration) -> Result<Option<Claim>> {
        let now = now_epoch_seconds();
        let renewed = Claim {
            expires_at: now + lease.as_secs().max(1),
            ..claim.clone()
        };
        let result = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(key(claim_pk(&claim.key), CLAIM)))
            .update_expression("SET #ttl = :expires")
            .condition_expression("#owner = :owner AND #ttl > :now")
            .expression_attribute_names("#owner", "owner")
            .expression_attribute_names("#ttl", TTL_ATTRIBUTE)
            .expression_attribute_values(":owner", s(&claim.owner))
            .expression_attribute_values(":now", n(now))
            .expression_attribute_values(":expires", n(renewed.expires_at))
            .send()
            .await;
        match result {
            Ok(_) => Ok(Some(renewed)),
            Err(err)
                if err
                    .as_service_error()
                    .is_some_and(|e| e.is_conditional_check_failed_exception()) =>
            {
                Ok(None)
            }
            Err(err) => Err(Error::dynamodb("UpdateItem")(err)),
        }
    }
}
