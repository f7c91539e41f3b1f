//! [`AccountCacheStore`] on DynamoDB: `EMAIL#<email>` / `JIRA_ACCOUNT`, expiring through the TTL
//! attribute (and read as absent once expired, before DynamoDB's sweep deletes it). A case's
//! watchers are read in one `TransactGetItems` and cached in one `TransactWriteItems` (each
//! authorised as `GetItem` / `PutItem` on the items: no IAM action beyond the single calls').

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::time::Duration;

use async_trait::async_trait;
use aws_sdk_dynamodb::types::AttributeValue;

use super::dynamo::{DynamoMappingStore, ItemReader, TRANSACTION_ITEMS, key, n, s};
use super::schema::TTL_ATTRIBUTE;
use super::{AccountCacheStore, CachedAccount, now_epoch_seconds};
use crate::error::Result;

const JIRA_ACCOUNT: &str = "JIRA_ACCOUNT";

/// The e-mail as the cache keys it: trimmed, lower case.
pub fn normalized_email(email: &str) -> String {
    email.trim().to_lowercase()
}

fn email_pk(email: &str) -> String {
    format!("EMAIL#{}", normalized_email(email))
}

/// The account an item holds; `None` once expired (DynamoDB deletes expired items lazily, up
/// to days later: expiry is checked here).
fn cached_account_of(item: &HashMap<String, AttributeValue>) -> Result<Option<CachedAccount>> {
    let r = ItemReader { item };
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

#[async_trait]
impl AccountCacheStore for DynamoMappingStore {
    async fn cached_accounts(&self, emails: &[String]) -> Result<HashMap<String, CachedAccount>> {
        let wanted: BTreeSet<String> = emails.iter().map(|e| normalized_email(e)).collect();
        let wanted: Vec<String> = wanted.into_iter().collect();
        let mut found = HashMap::new();
        for chunk in wanted.chunks(TRANSACTION_ITEMS) {
            let keys = chunk
                .iter()
                .map(|email| key(email_pk(email), JIRA_ACCOUNT))
                .collect();
            for item in self.transact_get(keys).await?.into_iter().flatten() {
                if let Some(account) = cached_account_of(&item)? {
                    found.insert(account.email.clone(), account);
                }
            }
        }
        Ok(found)
    }

    async fn cache_accounts(&self, accounts: &[CachedAccount], ttl: Duration) -> Result<()> {
        // One item per e-mail: a transaction may not name an item twice.
        let unique: BTreeMap<String, &CachedAccount> = accounts
            .iter()
            .map(|account| (normalized_email(&account.email), account))
            .collect();
        let expires_at = now_epoch_seconds() + ttl.as_secs();
        let items: Vec<HashMap<String, AttributeValue>> = unique
            .into_iter()
            .map(|(email, account)| {
                let mut item = key(email_pk(&email), JIRA_ACCOUNT);
                item.insert("email".into(), s(email));
                if let Some(id) = &account.account_id {
                    item.insert("accountId".into(), s(id));
                }
                item.insert(TTL_ATTRIBUTE.into(), n(expires_at));
                item
            })
            .collect();
        for chunk in items.chunks(TRANSACTION_ITEMS) {
            match chunk {
                [item] => self.put(item.clone()).await?,
                _ => self.transact_put(chunk.to_vec()).await?,
            }
        }
        Ok(())
    }
}
