//! The local world's IAM, as the tests and the local mode use it: each Lambda signs with its own
//! access key, registered with the local IAM in front of moto (`tests/local_iam.py`) together with
//! its role's policies from the synthesized template (`cdk/iam-policies.json`, proven equal to the
//! template by the CDK tests), bound to this world's resources. moto's services and the SIR
//! emulator then refuse every call those policies do not allow, with the service's own
//! `AccessDeniedException`, as IAM would.

use std::collections::BTreeMap;

use serde::Deserialize;
use serde_json::{Value, json};

use crate::HarnessError;
use crate::world::{ACCOUNT, REGION};

/// The policy file the CDK app writes (`npm run iam-policies`).
const POLICY_FILE: &str = include_str!("../../cdk/iam-policies.json");

/// The four Lambdas, by their contract keys (`cdk/contract.json` `functions`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Function {
    Poller,
    JiraClient,
    JiraNotificationsHandler,
    SirClient,
}

impl Function {
    pub const ALL: [Function; 4] = [
        Function::Poller,
        Function::JiraClient,
        Function::JiraNotificationsHandler,
        Function::SirClient,
    ];

    /// The function whose key in `cdk/contract.json` is `key`.
    pub fn from_contract_key(key: &str) -> Option<Function> {
        Function::ALL.into_iter().find(|f| f.contract_key() == key)
    }

    /// The key in `cdk/contract.json` and `cdk/iam-policies.json`.
    pub fn contract_key(self) -> &'static str {
        match self {
            Function::Poller => "poller",
            Function::JiraClient => "jiraClient",
            Function::JiraNotificationsHandler => "jiraNotificationsHandler",
            Function::SirClient => "sirClient",
        }
    }

    /// The crate name (also the stem of its access keys).
    pub fn crate_name(self) -> &'static str {
        match self {
            Function::Poller => "poller",
            Function::JiraClient => "jira-client",
            Function::JiraNotificationsHandler => "jira-notifications-handler",
            Function::SirClient => "sir-client",
        }
    }
}

/// One statement as the policy file holds it.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct Statement {
    #[serde(default)]
    pub sid: Option<String>,
    pub effect: String,
    pub action: Vec<String>,
    pub resource: Vec<String>,
}

/// A function's role as the policy file holds it.
#[derive(Debug, Clone, Deserialize)]
pub struct FunctionPolicies {
    pub role: String,
    pub statements: Vec<Statement>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
struct PolicyFile {
    functions: BTreeMap<String, FunctionPolicies>,
}

/// What the placeholders of the policy file stand for in one world.
#[derive(Debug, Clone)]
pub struct Bindings {
    pub table_name: String,
    pub bus_name: String,
    pub parameter_prefix: String,
    /// The stack's name: the poller's schedule rule is `<stack>-poller-schedule`.
    pub stack_name: String,
}

impl Bindings {
    /// `text` with every placeholder replaced; a placeholder this world has no resource for (a
    /// log group, a dead-letter queue: nothing our code calls) becomes an ARN nothing matches.
    pub fn bind(&self, text: &str) -> String {
        let known = [
            ("${AWS::Partition}", "aws".to_owned()),
            ("${AWS::Region}", REGION.to_owned()),
            ("${AWS::AccountId}", ACCOUNT.to_owned()),
            ("${AWS::StackName}", self.stack_name.clone()),
            ("${ParameterPrefix}", self.parameter_prefix.clone()),
            (
                "${MappingTable.Arn}",
                format!(
                    "arn:aws:dynamodb:{REGION}:{ACCOUNT}:table/{}",
                    self.table_name
                ),
            ),
            (
                "${IntegrationBus.Arn}",
                format!(
                    "arn:aws:events:{REGION}:{ACCOUNT}:event-bus/{}",
                    self.bus_name
                ),
            ),
        ];
        let mut out = text.to_owned();
        for (placeholder, value) in known {
            out = out.replace(placeholder, &value);
        }
        while let Some(start) = out.find("${") {
            let end = out[start..].find('}').map_or(out.len(), |i| start + i + 1);
            let name = out[start + 2..end.saturating_sub(1)].to_owned();
            out.replace_range(start..end, &format!("arn:aws:local-world:::unbound/{name}"));
        }
        out
    }
}

/// The synthesized template's policies of `function`.
pub fn template_policies(function: Function) -> Result<FunctionPolicies, HarnessError> {
    let file: PolicyFile = serde_json::from_str(POLICY_FILE)
        .map_err(|e| HarnessError::Setup(format!("cdk/iam-policies.json: {e}")))?;
    file.functions
        .get(function.contract_key())
        .cloned()
        .ok_or_else(|| {
            HarnessError::Setup(format!(
                "cdk/iam-policies.json has no role for {}",
                function.contract_key()
            ))
        })
}

impl FunctionPolicies {
    /// The policy document IAM would evaluate, with this world's resources.
    pub fn document(&self, bindings: &Bindings) -> Value {
        let statements: Vec<Value> = self
            .statements
            .iter()
            .map(|s| {
                let mut statement = json!({
                    "Effect": s.effect,
                    "Action": s.action,
                    "Resource": s.resource.iter().map(|r| bindings.bind(r)).collect::<Vec<_>>(),
                });
                if let Some(sid) = &s.sid {
                    statement["Sid"] = json!(sid);
                }
                statement
            })
            .collect();
        json!({"Version": "2012-10-17", "Statement": statements})
    }

    /// Removes `action` from every statement (a test's way to take one grant away).
    pub fn without_action(mut self, action: &str) -> FunctionPolicies {
        for statement in &mut self.statements {
            statement.action.retain(|a| a != action);
        }
        self.statements.retain(|s| !s.action.is_empty());
        self
    }
}

/// A call the local IAM refused.
#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct Denial {
    pub access_key_id: String,
    pub function: Option<String>,
    pub action: String,
    pub resource: String,
    pub message: String,
}

/// How many requests one function's key made to one AWS operation (`dynamodb:GetItem`,
/// `events:PutEvents`, …), as the local IAM in front of moto counted them.
#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct CallCount {
    pub access_key_id: String,
    pub function: String,
    pub call: String,
    pub count: u64,
}

/// The local IAM in front of the moto at `endpoint`.
#[derive(Debug, Clone)]
pub struct LocalIam {
    base: String,
    http: reqwest::Client,
}

impl LocalIam {
    pub fn new(moto_endpoint: &str) -> LocalIam {
        LocalIam {
            base: format!("{}/_local-world/iam", moto_endpoint.trim_end_matches('/')),
            http: reqwest::Client::new(),
        }
    }

    /// Where the SIR emulator asks (its `authorizer`).
    pub fn authorize_url(&self) -> String {
        format!("{}/authorize", self.base)
    }

    /// From now on `access_key_id` is `function` with `policies` (bound to `bindings`).
    pub async fn register(
        &self,
        access_key_id: &str,
        function: Function,
        policies: &FunctionPolicies,
        bindings: &Bindings,
    ) -> Result<(), HarnessError> {
        let body = json!({
            "accessKeyId": access_key_id,
            "function": function.contract_key(),
            "role": policies.role,
            "policies": [policies.document(bindings)],
        });
        let response = self
            .http
            .post(format!("{}/principals", self.base))
            .json(&body)
            .send()
            .await
            .map_err(|e| {
                HarnessError::Setup(format!("local IAM: registering {access_key_id}: {e}"))
            })?;
        if !response.status().is_success() {
            return Err(HarnessError::Setup(format!(
                "local IAM refused to register {access_key_id}: {}",
                response.text().await.unwrap_or_default()
            )));
        }
        Ok(())
    }

    /// The AWS calls made so far with the keys `keys` (all keys of this moto when empty).
    pub async fn calls(&self, keys: &[String]) -> Result<Vec<CallCount>, HarnessError> {
        let calls: Vec<CallCount> = self
            .http
            .get(format!("{}/calls", self.base))
            .send()
            .await
            .map_err(|e| HarnessError::Setup(format!("local IAM: reading calls: {e}")))?
            .json()
            .await
            .map_err(|e| HarnessError::Setup(format!("local IAM: calls are not JSON: {e}")))?;
        Ok(calls
            .into_iter()
            .filter(|c| keys.is_empty() || keys.contains(&c.access_key_id))
            .collect())
    }

    /// Every refusal so far of the keys `keys` (all keys of this moto when empty).
    pub async fn denials(&self, keys: &[String]) -> Result<Vec<Denial>, HarnessError> {
        let denials: Vec<Denial> = self
            .http
            .get(format!("{}/denials", self.base))
            .send()
            .await
            .map_err(|e| HarnessError::Setup(format!("local IAM: reading denials: {e}")))?
            .json()
            .await
            .map_err(|e| HarnessError::Setup(format!("local IAM: denials are not JSON: {e}")))?;
        Ok(denials
            .into_iter()
            .filter(|d| keys.is_empty() || keys.contains(&d.access_key_id))
            .collect())
    }
}

/// The denials as one message naming function, action and resource (for a failing test).
pub fn describe(denials: &[Denial]) -> String {
    denials
        .iter()
        .map(|d| {
            format!(
                "{} may not {} on {}",
                d.function.as_deref().unwrap_or(&d.access_key_id),
                d.action,
                d.resource
            )
        })
        .collect::<Vec<_>>()
        .join("; ")
}
