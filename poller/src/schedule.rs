//! The adaptive schedule: `rate(1 minute)` while any case is open, `rate(5 minutes)` otherwise,
//! set with PutRule on the poller's own rule (its name comes from configuration, never from
//! the event). The rule's state is kept: a rule the stack created disabled stays disabled.

use async_trait::async_trait;
use aws_sdk_eventbridge::Client;
use shared::Error;

/// The two rates of the schedule.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub enum ScheduleRate {
    EveryMinute,
    EveryFiveMinutes,
}

impl ScheduleRate {
    /// The EventBridge schedule expression.
    pub fn expression(self) -> &'static str {
        match self {
            ScheduleRate::EveryMinute => "rate(1 minute)",
            ScheduleRate::EveryFiveMinutes => "rate(5 minutes)",
        }
    }
}

/// Sets the poller's schedule.
#[async_trait]
pub trait ScheduleControl: Send + Sync {
    /// Sets the rate; `true` when it changed.
    async fn set_rate(&self, rate: ScheduleRate) -> shared::Result<bool>;
}

/// [`ScheduleControl`] on the EventBridge rule `rule_name` (default bus).
#[derive(Debug, Clone)]
pub struct EventBridgeSchedule {
    client: Client,
    rule_name: String,
}

impl EventBridgeSchedule {
    pub fn new(client: Client, rule_name: impl Into<String>) -> Self {
        EventBridgeSchedule {
            client,
            rule_name: rule_name.into(),
        }
    }
}

#[async_trait]
impl ScheduleControl for EventBridgeSchedule {
    async fn set_rate(&self, rate: ScheduleRate) -> shared::Result<bool> {
        let rule = self
            .client
            .describe_rule()
            .name(&self.rule_name)
            .send()
            .await
            .map_err(Error::eventbridge("DescribeRule"))?;
        if rule.schedule_expression() == Some(rate.expression()) {
            return Ok(false);
        }
        self.client
            .put_rule()
            .name(&self.rule_name)
            .schedule_expression(rate.expression())
            .set_state(rule.state().cloned())
            .set_description(rule.description().map(str::to_owned))
            .send()
            .await
            .map_err(Error::eventbridge("PutRule"))?;
        tracing::info!(rule = %self.rule_name, rate = rate.expression(), "poller schedule changed");
        Ok(true)
    }
}
