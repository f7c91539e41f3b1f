//! [`ItemLinkStore`] on DynamoDB: `CASE#<caseId>` / `COMMENT#<sirId>` ↔ `ISSUE#<issueKey>` /
//! `COMMENT#<jiraId>` (and the same with `ATTACHMENT#` and `WATCHER#`: e-mail ↔ accountId),
//! written together in one transaction.

use std::collections::HashMap;

use async_trait::async_trait;
use aws_sdk_dynamodb::types::AttributeValue;

use super::dynamo::{DynamoMappingStore, ItemReader, case_pk, issue_pk, key, s};
use super::{ItemLink, ItemLinkStore, LinkedItemKind, Origin};
use crate::error::{Error, Result};

/// The sort-key prefix of the kind's items.
fn sk_prefix(kind: LinkedItemKind) -> &'static str {
    match kind {
        LinkedItemKind::Comment => "COMMENT#",
        LinkedItemKind::Attachment => "ATTACHMENT#",
        LinkedItemKind::Watcher => "WATCHER#",
    }
}

fn origin_str(origin: Origin) -> &'static str {
    match origin {
        Origin::Sir => "sir",
        Origin::Jira => "jira",
    }
}

fn parse_origin(s: &str) -> Option<Origin> {
    match s {
        "sir" => Some(Origin::Sir),
        "jira" => Some(Origin::Jira),
        _ => None,
    }
}

fn item_link_items(link: &ItemLink) -> [HashMap<String, AttributeValue>; 2] {
    let prefix = sk_prefix(link.kind);
    let fill = |mut item: HashMap<String, AttributeValue>| {
        item.insert("caseId".into(), s(&link.case_id));
        item.insert("sirId".into(), s(&link.sir_id));
        item.insert("issueKey".into(), s(&link.issue_key));
        item.insert("jiraId".into(), s(&link.jira_id));
        item.insert("origin".into(), s(origin_str(link.origin)));
        if let Some(fp) = &link.fingerprint {
            item.insert("fingerprint".into(), s(fp));
        }
        item
    };
    [
        fill(key(
            case_pk(&link.case_id),
            format!("{prefix}{}", link.sir_id),
        )),
        fill(key(
            issue_pk(&link.issue_key),
            format!("{prefix}{}", link.jira_id),
        )),
    ]
}

fn read_item_link(
    kind: LinkedItemKind,
    item: &HashMap<String, AttributeValue>,
) -> Result<ItemLink> {
    let r = ItemReader { item };
    let origin = r.req_s("origin")?;
    Ok(ItemLink {
        kind,
        case_id: r.req_s("caseId")?.to_owned(),
        sir_id: r.req_s("sirId")?.to_owned(),
        issue_key: r.req_s("issueKey")?.to_owned(),
        jira_id: r.req_s("jiraId")?.to_owned(),
        origin: parse_origin(origin)
            .ok_or_else(|| r.malformed(format!("unknown origin {origin:?}")))?,
        fingerprint: r.opt_s("fingerprint").map(str::to_owned),
    })
}

#[async_trait]
impl ItemLinkStore for DynamoMappingStore {
    async fn put_item_link(&self, link: &ItemLink) -> Result<()> {
        let [by_case, by_issue] = item_link_items(link);
        self.client
            .transact_write_items()
            .transact_items(Self::put_transact_item(by_case, None, &self.table)?)
            .transact_items(Self::put_transact_item(by_issue, None, &self.table)?)
            .send()
            .await
            .map_err(Error::dynamodb("TransactWriteItems"))?;
        Ok(())
    }

    async fn item_link_by_sir_id(
        &self,
        kind: LinkedItemKind,
        case_id: &str,
        sir_id: &str,
    ) -> Result<Option<ItemLink>> {
        self.get(case_pk(case_id), &format!("{}{sir_id}", sk_prefix(kind)))
            .await?
            .map(|item| read_item_link(kind, &item))
            .transpose()
    }

    async fn item_link_by_jira_id(
        &self,
        kind: LinkedItemKind,
        issue_key: &str,
        jira_id: &str,
    ) -> Result<Option<ItemLink>> {
        self.get(
            issue_pk(issue_key),
            &format!("{}{jira_id}", sk_prefix(kind)),
        )
        .await?
        .map(|item| read_item_link(kind, &item))
        .transpose()
    }

    async fn item_links_for_case(
        &self,
        kind: LinkedItemKind,
        case_id: &str,
    ) -> Result<Vec<ItemLink>> {
        self.query_prefix(case_pk(case_id), sk_prefix(kind))
            .await?
            .iter()
            .map(|item| read_item_link(kind, item))
            .collect()
    }

    async fn item_links_for_issue(
        &self,
        kind: LinkedItemKind,
        issue_key: &str,
    ) -> Result<Vec<ItemLink>> {
        self.query_prefix(issue_pk(issue_key), sk_prefix(kind))
            .await?
            .iter()
            .map(|item| read_item_link(kind, item))
            .collect()
    }
}
