//! Runs Lambda handlers the way Lambda would, fed by their rule's target: each rule of the stack
//! delivers to an SQS queue (see [`crate::World::rule_queue`]), and [`Route::pump`] hands every
//! message's EventBridge envelope to the handler. A handler's `Err` leaves the message on the
//! queue, so it is delivered again (after the queue's one-second visibility timeout), like a
//! retried invocation.

#![allow(
    clippy::disallowed_methods,
    reason = "waits in real time for moto over sockets"
)]

use std::future::Future;
use std::time::{Duration, Instant};

use crate::world::RuleQueue;
use crate::{HarnessError, World};

/// What one pump did.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Delivery {
    /// Envelopes whose handler returned `Ok` (deleted from the queue).
    pub handled: usize,
    /// Handler errors, as text (the message stays and comes back).
    pub errors: Vec<String>,
}

/// One rule's queue and the handler behind it.
#[derive(Debug, Clone)]
pub struct Route {
    pub queue: RuleQueue,
}

impl Route {
    /// Delivers what is on the queue until it has been empty for `quiet`, or `within` passed.
    pub async fn pump<F, Fut, E>(
        &self,
        world: &World,
        quiet: Duration,
        within: Duration,
        mut handler: F,
    ) -> Result<Delivery, HarnessError>
    where
        F: FnMut(serde_json::Value) -> Fut,
        Fut: Future<Output = Result<(), E>>,
        E: std::fmt::Display,
    {
        let deadline = Instant::now() + within;
        let mut last_message = Instant::now();
        let mut delivery = Delivery::default();
        while Instant::now() < deadline && last_message.elapsed() < quiet {
            let out = world
                .sqs
                .receive_message()
                .queue_url(&self.queue.queue_url)
                .max_number_of_messages(10)
                .wait_time_seconds(0)
                .send()
                .await
                .map_err(HarnessError::aws("ReceiveMessage"))?;
            if out.messages().is_empty() {
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            }
            last_message = Instant::now();
            for message in out.messages() {
                let body = message.body().unwrap_or_default();
                let envelope: serde_json::Value = serde_json::from_str(body)
                    .map_err(|e| HarnessError::Setup(format!("not an envelope ({e}): {body}")))?;
                match handler(envelope).await {
                    Ok(()) => {
                        delivery.handled += 1;
                        if let Some(handle) = message.receipt_handle() {
                            world
                                .sqs
                                .delete_message()
                                .queue_url(&self.queue.queue_url)
                                .receipt_handle(handle)
                                .send()
                                .await
                                .map_err(HarnessError::aws("DeleteMessage"))?;
                        }
                    }
                    Err(error) => delivery.errors.push(error.to_string()),
                }
            }
        }
        Ok(delivery)
    }
}
