//! [`DynamoMappingStore`] and what every capability's DynamoDB module shares: the item keys,
//! attribute values, reading an item ([`ItemReader`]) and the GetItem/PutItem/paged Query calls.

use std::collections::HashMap;

use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_dynamodb::types::{AttributeValue, Get, Put, TransactGetItem, TransactWriteItem};
use aws_smithy_runtime_api::client::orchestrator::HttpResponse;

use super::schema::{PARTITION_KEY as PK, SORT_KEY as SK};
use crate::error::{Error, Result};

/// The most items one `TransactGetItems` or `TransactWriteItems` of this adapter names.
/// DynamoDB has allowed 100 since 2022; moto still holds `TransactGetItems` to the former 25,
/// and a case rarely has more watchers than that, so 25 costs nothing and runs on both.
pub(super) const TRANSACTION_ITEMS: usize = 25;

/// Wraps a failed transaction without conditions as [`Error::dynamodb`] does, except that a
/// cancelled one is retryable: with no condition to fail, it is cancelled by a write in flight
/// to one of its items (`TransactionConflict`) or by throttling, and a moment later it goes
/// through. (A transaction with conditions classifies its own cancellations, as `create_link`
/// does.)
pub(super) fn transaction_error<E>(
    operation: &'static str,
) -> impl FnOnce(SdkError<E, HttpResponse>) -> Error
where
    E: ProvideErrorMetadata,
    aws_sdk_dynamodb::Error: From<SdkError<E, HttpResponse>>,
{
    move |err| {
        let cancelled = err
            .as_service_error()
            .and_then(ProvideErrorMetadata::code)
            .is_some_and(|code| code == "TransactionCanceledException");
        let mut error = Error::dynamodb(operation)(err);
        if cancelled && let Error::DynamoDb { retryable, .. } = &mut error {
            *retryable = true;
        }
        error
    }
}

/// [`super::MappingStore`] on DynamoDB: each capability's implementation is in its own module
/// (links, claims, snapshots, item links, account cache, tracked cases, notified windows, sweep cursors).
#[derive(Debug, Clone)]
pub struct DynamoMappingStore {
    pub(super) client: Client,
    pub(super) table: String,
}

pub(super) fn case_pk(case_id: &str) -> String {
    format!("CASE#{case_id}")
}

pub(super) fn issue_pk(issue_key: &str) -> String {
    format!("ISSUE#{issue_key}")
}

pub(super) fn s(value: impl Into<String>) -> AttributeValue {
    AttributeValue::S(value.into())
}

pub(super) fn n(value: u64) -> AttributeValue {
    AttributeValue::N(value.to_string())
}

pub(super) fn key(pk: String, sk: impl Into<String>) -> HashMap<String, AttributeValue> {
    HashMap::from([(PK.to_owned(), s(pk)), (SK.to_owned(), s(sk))])
}

/// Reads attributes of one item, naming the item in every error.
pub(super) struct ItemReader<'a> {
    pub(super) item: &'a HashMap<String, AttributeValue>,
}

impl<'a> ItemReader<'a> {
    pub(super) fn malformed(&self, reason: String) -> Error {
        let get = |k| {
            self.item
                .get(k)
                .and_then(|v| v.as_s().ok())
                .cloned()
                .unwrap_or_default()
        };
        Error::MalformedItem {
            pk: get(PK),
            sk: get(SK),
            reason,
        }
    }

    pub(super) fn opt_s(&self, name: &str) -> Option<&'a str> {
        self.item
            .get(name)
            .and_then(|v| v.as_s().ok())
            .map(String::as_str)
    }

    pub(super) fn req_s(&self, name: &str) -> Result<&'a str> {
        self.opt_s(name)
            .ok_or_else(|| self.malformed(format!("no string attribute {name}")))
    }

    pub(super) fn opt_n(&self, name: &str) -> Result<Option<u64>> {
        match self.item.get(name).map(AttributeValue::as_n) {
            None => Ok(None),
            Some(Ok(text)) => text
                .parse()
                .map(Some)
                .map_err(|_| self.malformed(format!("attribute {name} is not a whole number"))),
            Some(Err(_)) => Err(self.malformed(format!("attribute {name} is not a number"))),
        }
    }
}

impl DynamoMappingStore {
    pub fn new(client: Client, table: impl Into<String>) -> Self {
        DynamoMappingStore {
            client,
            table: table.into(),
        }
    }

    pub fn table_name(&self) -> &str {
        &self.table
    }

    pub(super) async fn get(
        &self,
        pk: String,
        sk: &str,
    ) -> Result<Option<HashMap<String, AttributeValue>>> {
        let out = self
            .client
            .get_item()
            .table_name(&self.table)
            .set_key(Some(key(pk, sk)))
            .consistent_read(true)
            .send()
            .await
            .map_err(Error::dynamodb("GetItem"))?;
        Ok(out.item)
    }

    /// The items at `keys` (at most [`TRANSACTION_ITEMS`]) in one consistent `TransactGetItems`,
    /// in the order of `keys`, `None` where there is none.
    pub(super) async fn transact_get(
        &self,
        keys: Vec<HashMap<String, AttributeValue>>,
    ) -> Result<Vec<Option<HashMap<String, AttributeValue>>>> {
        let count = keys.len();
        let mut request = self.client.transact_get_items();
        for key in keys {
            let get = Get::builder()
                .table_name(&self.table)
                .set_key(Some(key))
                .build()
                .map_err(|source| Error::RequestBuild {
                    what: "TransactGetItems Get",
                    source,
                })?;
            request = request.transact_items(TransactGetItem::builder().get(get).build());
        }
        let out = request
            .send()
            .await
            .map_err(transaction_error("TransactGetItems"))?;
        // Responses come in the order of the request's items, one each.
        let items: Vec<Option<HashMap<String, AttributeValue>>> = out
            .responses
            .unwrap_or_default()
            .into_iter()
            .map(|response| response.item.filter(|item| !item.is_empty()))
            .collect();
        if items.len() != count {
            return Err(Error::DynamoDbAnswerIncomplete {
                operation: "TransactGetItems",
                expected: count,
                got: items.len(),
            });
        }
        Ok(items)
    }

    pub(super) async fn put(&self, item: HashMap<String, AttributeValue>) -> Result<()> {
        self.client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(item))
            .send()
            .await
            .map_err(Error::dynamodb("PutItem"))?;
        Ok(())
    }

    /// Every item of the partition whose sort key starts with `sk_prefix`, in sort-key order,
    /// following the Query's pages to the end.
    pub(super) async fn query_prefix(
        &self,
        pk: String,
        sk_prefix: &str,
    ) -> Result<Vec<HashMap<String, AttributeValue>>> {
        let mut items = Vec::new();
        let mut start: Option<HashMap<String, AttributeValue>> = None;
        loop {
            let out = self
                .client
                .query()
                .table_name(&self.table)
                .key_condition_expression("#pk = :pk AND begins_with(#sk, :prefix)")
                .expression_attribute_names("#pk", PK)
                .expression_attribute_names("#sk", SK)
                .expression_attribute_values(":pk", s(pk.clone()))
                .expression_attribute_values(":prefix", s(sk_prefix))
                .consistent_read(true)
                .set_exclusive_start_key(start.take())
                .send()
                .await
                .map_err(Error::dynamodb("Query"))?;
            items.extend(out.items.unwrap_or_default());
            match out.last_evaluated_key {
                Some(next) if !next.is_empty() => start = Some(next),
                _ => return Ok(items),
            }
        }
    }

    /// Puts `items` (at most [`TRANSACTION_ITEMS`]) in one `TransactWriteItems` without
    /// conditions: all of them or none.
    pub(super) async fn transact_put(
        &self,
        items: Vec<HashMap<String, AttributeValue>>,
    ) -> Result<()> {
        let mut request = self.client.transact_write_items();
        for item in items {
            request = request.transact_items(Self::put_transact_item(item, None, &self.table)?);
        }
        request
            .send()
            .await
            .map_err(transaction_error("TransactWriteItems"))?;
        Ok(())
    }

    pub(super) fn put_transact_item(
        item: HashMap<String, AttributeValue>,
        condition: Option<&str>,
        table: &str,
    ) -> Result<TransactWriteItem> {
        let mut put = Put::builder().table_name(table).set_item(Some(item));
        if let Some(condition) = condition {
            put = put.condition_expression(condition);
        }
        let put = put.build().map_err(|source| Error::RequestBuild {
            what: "TransactWriteItems Put",
            source,
        })?;
        Ok(TransactWriteItem::builder().put(put).build())
    }
}
