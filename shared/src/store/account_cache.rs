//! [`AccountCacheStore`] on DynamoDB: `EMAIL#<email>` / `JIRA_ACCOUNT`, expiring through the TTL
//! attribute (and read as absent once expired, before DynamoDB's sweep deletes it).

use std::time::Duration;

use async_trait::async_trait;

use super::dynamo::{DynamoMappingStore, ItemReader, key, n, s};
use super::schema::TTL_ATTRIBUTE;
use super::{AccountCacheStore, CachedAccount, now_epoch_seconds};
use crate::error::Result;

const JIRA_ACCOUNT: &str = "JIRA_ACCOUNT";

/// The e-mail as the cache keys it: trimmed, lower case.
pub(super) fn normalized_email(email: &str) -> String {
    email.trim().to_lowercase()
}

fn email_pk(email: &str) -> String {
    format!("EMAIL#{}", normalized_email(email))
}

#[async_trait]
impl AccountCacheStore for DynamoMappingStore {
    async fn cached_account(&self, email: &str) -> Result<Option<CachedAccount>> {
        let Some(item) = self.get(email_pk(email), JIRA_ACCOUNT).await? else {
            return Ok(None);
        };
        let r = ItemReader { item: &item };
        // DynamoDB deletes expired items lazily (up to days later): expiry is checked here.
        let expired = r
            .opt_n(TTL_ATTRIBUTE)?
            .is_none_or(|at| at <= now_epoch_seconds());
        if expired {
            return Ok(None);
        }
        Ok(Some(CachedAccount {
            email: r.req_s("email")?.to_owned(),
            account_id: r.opt_s("accountId").map(str::to_owned),
        }))
    }

    async fn cache_account(&self, account: &CachedAccount, ttl: Duration) -> Result<()> {
        let mut item = key(email_pk(&account.email), JIRA_ACCOUNT);
        item.insert("email".into(), s(normalized_email(&account.email)));
        if let Some(id) = &account.account_id {
            item.insert("accountId".into(), s(id));
        }
        item.insert(TTL_ATTRIBUTE.into(), n(now_epoch_seconds() + ttl.as_secs()));
        self.put(item).await
    }
}
