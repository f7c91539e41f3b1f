//! IAM for the emulator's callers: with an authorizer configured (the local world's IAM, see
//! `tests/local_iam.py`), every API call is first authorised as IAM would: the action
//! `security-ir:<Operation>` on the resource the Service Authorization Reference names for it
//! (`…:case/<caseId>`, `…:membership/<membershipId>`, the `resourceArn` of the tagging calls,
//! `*` for the calls without a resource type such as ListCases and ListMemberships), plus
//! `security-ir:TagResource` when CreateCase carries tags (its dependent action). A refusal is
//! SIR's `AccessDeniedException` (403) with IAM's message.

use std::collections::BTreeMap;

use serde_json::{Value, json};

use crate::error::Error;

/// Where to ask, and the account/region the ARNs are in.
#[derive(Debug, Clone)]
pub(crate) struct Authorizer {
    url: String,
    http: reqwest::Client,
    region: String,
    account_id: String,
}

impl Authorizer {
    pub(crate) fn new(url: &str, region: &str, account_id: &str) -> Authorizer {
        Authorizer {
            url: url.to_owned(),
            http: reqwest::Client::new(),
            region: region.to_owned(),
            account_id: account_id.to_owned(),
        }
    }

    fn arn(&self, resource: &str) -> String {
        format!(
            "arn:aws:security-ir:{}:{}:{resource}",
            self.region, self.account_id
        )
    }

    /// The (action, resource) pairs IAM checks for `operation` with these labels and input.
    pub(crate) fn required(
        &self,
        operation: &str,
        labels: &BTreeMap<String, String>,
        input: &Value,
    ) -> Vec<(String, String)> {
        let action = format!("security-ir:{operation}");
        let resource = if let Some(case_id) = labels.get("caseId") {
            self.arn(&format!("case/{case_id}"))
        } else if let Some(membership_id) = labels.get("membershipId") {
            self.arn(&format!("membership/{membership_id}"))
        } else if let Some(arn) = labels.get("resourceArn") {
            arn.clone()
        } else if operation == "CreateCase" {
            self.arn("case/*")
        } else if operation == "CreateMembership" {
            self.arn("membership/*")
        } else {
            "*".to_owned()
        };
        let mut required = vec![(action, resource.clone())];
        let has_tags = input
            .get("tags")
            .and_then(Value::as_object)
            .is_some_and(|tags| !tags.is_empty());
        if operation == "CreateCase" && has_tags {
            required.push(("security-ir:TagResource".to_owned(), resource));
        }
        required
    }

    /// `Ok` when every pair is allowed for `access_key_id`.
    pub(crate) async fn authorize(
        &self,
        access_key_id: &str,
        required: &[(String, String)],
    ) -> Result<(), Error> {
        for (action, resource) in required {
            let answer: Value = self
                .http
                .post(&self.url)
                .json(
                    &json!({"accessKeyId": access_key_id, "action": action, "resource": resource}),
                )
                .send()
                .await
                .and_then(reqwest::Response::error_for_status)
                .map_err(|e| Error::Internal {
                    message: format!("the local IAM could not be asked: {e}"),
                })?
                .json()
                .await
                .map_err(|e| Error::Internal {
                    message: format!("the local IAM answered no JSON: {e}"),
                })?;
            if answer.get("allowed").and_then(Value::as_bool) != Some(true) {
                return Err(Error::AccessDenied {
                    message: answer
                        .get("message")
                        .and_then(Value::as_str)
                        .unwrap_or("not authorized")
                        .to_owned(),
                });
            }
        }
        Ok(())
    }
}
