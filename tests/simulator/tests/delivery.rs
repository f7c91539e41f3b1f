//! The delivery model itself, with small handler closures, on tokio's paused clock.

use std::cell::{Cell, RefCell};
use std::rc::Rc;
use std::time::Duration;

use aws_lambda_events::eventbridge::EventBridgeEvent;
use aws_lambda_events::sns::SnsEvent;
use serde_json::{Value, json};
use shared::events::{DEFAULT_EVENT_BUS_NAME, rule_patterns};
use simulator::delivery::{
    AUTOMATION_TOPIC, DEFAULT_BUS, Delivery, DeliveryConfig, DeliveryError, FunctionSettings,
    JIRA_CLIENT, JIRA_NOTIFICATIONS_HANDLER, POLLER, Pattern, SIR_CLIENT, Stack, Step, StepKind,
};

const MINUTE: Duration = Duration::from_secs(60);

/// One function `f` with `settings`, nothing else.
fn one_function(settings: FunctionSettings) -> Stack {
    Stack::default().function(settings)
}

fn invoked_at(steps: &[Step]) -> Vec<Duration> {
    steps
        .iter()
        .filter(|s| matches!(s.kind, StepKind::Invoked { .. }))
        .map(|s| s.at)
        .collect()
}

fn count(steps: &[Step], pick: impl Fn(&StepKind) -> bool) -> usize {
    steps.iter().filter(|s| pick(&s.kind)).count()
}

#[test]
fn the_contracts_rule_patterns_match_their_events_and_nothing_else() {
    let jira_client = Pattern::compile(&rule_patterns::jira_client()).unwrap();
    let sir_client = Pattern::compile(&rule_patterns::sir_client()).unwrap();
    let native = Pattern::compile(&rule_patterns::native_sir()).unwrap();
    let event = |source: &str, detail_type: &str| json!({"source": source, "detail-type": detail_type, "detail": {"caseId": "1"}});

    assert!(jira_client.matches(&event("security-ir", "Case Created")));
    assert!(!jira_client.matches(&event("jira", "Issue Created")));
    assert!(sir_client.matches(&event("jira", "Issue Updated")));
    assert!(!sir_client.matches(&event("security-ir", "Case Updated")));
    assert!(native.matches(&event("aws.security-ir", "Case Comment Added")));
    assert!(native.matches(&event("aws.security-ir", "Case Closed")));
    assert!(!native.matches(&event("aws.security-ir", "Case Deleted")));
    assert!(!native.matches(&event("security-ir", "Case Updated")));
    assert!(!native.matches(&json!({"source": "aws.security-ir"})));
}

#[test]
fn nested_keys_and_array_fields_match_by_exact_value() {
    let pattern = Pattern::compile(&json!({"detail": {"kind": ["comment", "case"]}})).unwrap();
    assert!(pattern.matches(&json!({"detail": {"kind": "case"}})));
    assert!(pattern.matches(&json!({"detail": {"kind": ["x", "comment"]}})));
    assert!(!pattern.matches(&json!({"detail": {"kind": "issue"}})));
    assert!(!pattern.matches(&json!({"detail": "case"})));
    assert!(!pattern.matches(&json!({"kind": "case"})));
}

#[test]
fn patterns_outside_the_modelled_subset_are_refused() {
    for (pattern, path) in [
        (json!({"source": [{"prefix": "aws."}]}), "source"),
        (
            json!({"detail": {"n": [{"numeric": [">", 1]}]}}),
            "detail.n",
        ),
        (json!({"source": "jira"}), "source"),
        (json!({"source": []}), "source"),
        (json!({}), "(root)"),
    ] {
        let error = Pattern::compile(&pattern).unwrap_err();
        assert_eq!(error.path, path, "{pattern}");
    }
}

#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn an_event_reaches_each_matching_rules_target_in_lambdas_envelope() {
    let stack = Stack::from_contract(5).unwrap();
    let delivery = Delivery::new(DeliveryConfig::exact(1), &stack).unwrap();
    let received: Rc<RefCell<Vec<(&str, Value)>>> = Rc::default();
    for function in [POLLER, JIRA_CLIENT, JIRA_NOTIFICATIONS_HANDLER, SIR_CLIENT] {
        let received = Rc::clone(&received);
        delivery
            .handle_with(function, move |payload| {
                received.borrow_mut().push((function, payload));
                async { Ok(Value::Null) }
            })
            .unwrap();
    }
    let aws = delivery.handle();

    aws.put_event(
        DEFAULT_EVENT_BUS_NAME,
        "jira",
        "Issue Updated",
        json!({"issueKey": "SIR-1"}),
    );
    aws.put_event(
        DEFAULT_BUS,
        "security-ir",
        "Case Updated",
        json!({"caseId": "1"}),
    );
    aws.put_event(
        DEFAULT_BUS,
        "aws.security-ir",
        "Case Updated",
        json!({"caseId": "2"}),
    );
    aws.publish_sns(
        AUTOMATION_TOPIC,
        r#"{"automationData":{"IssueId":"SIR-2"}}"#,
    );
    delivery.run_until_idle(MINUTE).await.unwrap();

    let received = received.borrow();
    let functions: Vec<&str> = received.iter().map(|(f, _)| *f).collect();
    assert_eq!(functions.len(), 3, "{received:?}");
    for (function, payload) in received.iter() {
        match *function {
            SIR_CLIENT | POLLER => {
                let event: EventBridgeEvent<Value> =
                    serde_json::from_value(payload.clone()).unwrap();
                let expected = if *function == SIR_CLIENT {
                    "jira"
                } else {
                    "aws.security-ir"
                };
                assert_eq!(event.source, expected);
            }
            JIRA_NOTIFICATIONS_HANDLER => {
                let event: SnsEvent = serde_json::from_value(payload.clone()).unwrap();
                assert_eq!(
                    event.records[0].sns.message,
                    r#"{"automationData":{"IssueId":"SIR-2"}}"#
                );
            }
            other => panic!("{other} should not have been invoked"),
        }
    }
}

#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn a_failing_handler_is_tried_three_times_about_a_minute_then_two_apart_then_dead_lettered() {
    let delivery = Delivery::new(
        DeliveryConfig::new(7),
        &one_function(FunctionSettings::new("f", MINUTE)),
    )
    .unwrap();
    delivery
        .handle_with("f", |_| async { Err("Jira said 500".to_string()) })
        .unwrap();
    let aws = delivery.handle();
    // A seeded duplicate delivery would be a second invocation id; this one is id 1.
    aws.invoke_async("f", json!({"n": 1})).unwrap();
    delivery
        .run_until_idle(Duration::from_secs(3600))
        .await
        .unwrap();

    let trace = aws.trace().0;
    let attempts: Vec<Duration> = trace
        .iter()
        .filter(|s| s.invocation == Some(1) && matches!(s.kind, StepKind::Invoked { .. }))
        .map(|s| s.at)
        .collect();
    assert_eq!(attempts.len(), 3, "{}", aws.trace());
    assert!(attempts[0] <= Duration::from_secs(2), "{attempts:?}");
    let first_retry = attempts[1] - attempts[0];
    let second_retry = attempts[2] - attempts[1];
    assert!(
        (MINUTE..=MINUTE + Duration::from_secs(10)).contains(&first_retry),
        "{attempts:?}"
    );
    assert!(
        (2 * MINUTE..=2 * MINUTE + Duration::from_secs(10)).contains(&second_retry),
        "{attempts:?}"
    );
    let dead = aws.dead_letters();
    let letter = dead.iter().find(|d| d.invocation == 1).unwrap();
    assert_eq!(letter.payload, json!({"n": 1}));
    assert_eq!(letter.errors, vec!["Jira said 500"; 3]);
}

#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn reserved_concurrency_one_never_runs_two_at_once_and_runs_the_throttled_later() {
    let stack = one_function(FunctionSettings::new("one", MINUTE).reserved(1))
        .function(FunctionSettings::new("many", MINUTE));
    let delivery = Delivery::new(DeliveryConfig::exact(3), &stack).unwrap();
    let in_flight: Rc<Cell<usize>> = Rc::default();
    let most: Rc<Cell<usize>> = Rc::default();
    for function in ["one", "many"] {
        let (in_flight, most) = (Rc::clone(&in_flight), Rc::clone(&most));
        delivery
            .handle_with(function, move |_| {
                let (in_flight, most) = (Rc::clone(&in_flight), Rc::clone(&most));
                async move {
                    in_flight.set(in_flight.get() + 1);
                    most.set(most.get().max(in_flight.get()));
                    tokio::time::sleep(Duration::from_secs(10)).await;
                    in_flight.set(in_flight.get() - 1);
                    Ok(Value::Null)
                }
            })
            .unwrap();
    }
    let aws = delivery.handle();
    for n in 0..3 {
        aws.invoke_async("one", json!(n)).unwrap();
    }
    delivery.run_until_idle(MINUTE).await.unwrap();

    let trace = aws.trace().0;
    assert_eq!(most.get(), 1);
    assert_eq!(aws.peak_running("one"), 1);
    assert_eq!(
        count(&trace, |k| matches!(k, StepKind::Throttled)),
        2,
        "{}",
        aws.trace()
    );
    assert_eq!(count(&trace, |k| matches!(k, StepKind::Ok)), 3);
    assert_eq!(
        invoked_at(&trace),
        vec![
            Duration::ZERO,
            Duration::from_secs(10),
            Duration::from_secs(20)
        ]
    );

    // Without a reservation the same runs overlap: the concurrency is real.
    for n in 0..3 {
        aws.invoke_async("many", json!(n)).unwrap();
    }
    delivery.run_until_idle(MINUTE).await.unwrap();
    assert_eq!(most.get(), 3);
    assert_eq!(aws.peak_running("many"), 3);
}

#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn a_handler_sleeping_past_its_timeout_is_cut_at_that_await_and_retried() {
    let delivery = Delivery::new(
        DeliveryConfig::exact(5),
        &one_function(FunctionSettings::new("slow", Duration::from_secs(30))),
    )
    .unwrap();
    let attempts: Rc<Cell<u32>> = Rc::default();
    let got_past_the_sleep: Rc<Cell<bool>> = Rc::default();
    {
        let (attempts, past) = (Rc::clone(&attempts), Rc::clone(&got_past_the_sleep));
        delivery
            .handle_with("slow", move |_| {
                let (attempts, past) = (Rc::clone(&attempts), Rc::clone(&past));
                async move {
                    attempts.set(attempts.get() + 1);
                    if attempts.get() == 1 {
                        tokio::time::sleep(Duration::from_secs(45)).await;
                        past.set(true);
                    }
                    Ok(Value::Null)
                }
            })
            .unwrap();
    }
    let aws = delivery.handle();
    aws.invoke_async("slow", json!({})).unwrap();
    delivery
        .run_until_idle(Duration::from_secs(600))
        .await
        .unwrap();

    let trace = aws.trace().0;
    let kinds: Vec<&StepKind> = trace.iter().map(|s| &s.kind).collect();
    assert_eq!(
        kinds,
        vec![
            &StepKind::Queued,
            &StepKind::Invoked { attempt: 0 },
            &StepKind::TimedOut {
                after: Duration::from_secs(30)
            },
            &StepKind::Retried {
                attempt: 1,
                after: MINUTE
            },
            &StepKind::Invoked { attempt: 1 },
            &StepKind::Ok,
        ],
        "{}",
        aws.trace()
    );
    assert_eq!(trace[2].at, Duration::from_secs(30));
    assert_eq!(attempts.get(), 2);
    // Let the first run's sleep end: the dropped future never resumes.
    tokio::time::sleep(Duration::from_secs(120)).await;
    assert!(!got_past_the_sleep.get());
    assert!(aws.dead_letters().is_empty());
}

#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn a_panicking_handler_counts_as_an_error_and_is_retried_then_dead_lettered() {
    let delivery = Delivery::new(
        DeliveryConfig::exact(4),
        &one_function(FunctionSettings::new("f", MINUTE)),
    )
    .unwrap();
    delivery
        .handle_with("f", |_| async { panic!("index out of bounds") })
        .unwrap();
    let aws = delivery.handle();
    aws.invoke_async("f", json!({})).unwrap();
    delivery
        .run_until_idle(Duration::from_secs(600))
        .await
        .unwrap();

    let trace = aws.trace().0;
    assert_eq!(count(&trace, |k| matches!(k, StepKind::Invoked { .. })), 3);
    let dead = aws.dead_letters();
    assert_eq!(dead.len(), 1);
    assert!(
        dead[0].errors.iter().all(|e| e.contains("panicked")),
        "{:?}",
        dead[0].errors
    );
}

#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn an_invocation_throttled_longer_than_the_maximum_event_age_is_dead_lettered() {
    let settings = FunctionSettings::new("busy", Duration::from_secs(7 * 3600)).reserved(1);
    let delivery = Delivery::new(DeliveryConfig::exact(9), &one_function(settings)).unwrap();
    delivery
        .handle_with("busy", |_| async {
            tokio::time::sleep(Duration::from_secs(6 * 3600 + 600)).await;
            Ok(Value::Null)
        })
        .unwrap();
    let aws = delivery.handle();
    aws.invoke_async("busy", json!("first")).unwrap();
    aws.invoke_async("busy", json!("second")).unwrap();
    delivery
        .run_until_idle(Duration::from_secs(8 * 3600))
        .await
        .unwrap();

    let dead = aws.dead_letters();
    assert_eq!(dead.len(), 1, "{}", aws.trace());
    assert_eq!(dead[0].reason, "maximum event age exceeded");
    assert!(
        dead[0].at > Duration::from_secs(6 * 3600)
            && dead[0].at < Duration::from_secs(6 * 3600 + 600)
    );
    assert_eq!(count(&aws.trace().0, |k| matches!(k, StepKind::Ok)), 1);
}

/// A run with several functions, concurrency, failures, duplicates and delays; its trace.
async fn busy_run(seed: u64) -> Result<String, DeliveryError> {
    let stack = Stack::default()
        .function(FunctionSettings::new("a", MINUTE).reserved(2))
        .function(FunctionSettings::new("b", MINUTE))
        .rule("to-a", "bus", json!({"source": ["x"]}), "a")
        .rule("to-b", "bus", json!({"detail": {"side": ["b"]}}), "b");
    let mut config = DeliveryConfig::new(seed);
    config.duplicate_probability = 0.2;
    let delivery = Delivery::new(config, &stack)?;
    for function in ["a", "b"] {
        delivery.handle_with(function, |payload| async move {
            let n = payload["detail"]["n"].as_u64().unwrap_or(0);
            tokio::time::sleep(Duration::from_millis(100 * (n % 7))).await;
            if n % 5 == 0 {
                Err(format!("event {n} fails"))
            } else {
                Ok(Value::Null)
            }
        })?;
    }
    let aws = delivery.handle();
    for n in 0..20 {
        let side = if n % 2 == 0 { "a" } else { "b" };
        aws.put_event("bus", "x", "T", json!({"n": n, "side": side}));
    }
    delivery.run_until_idle(Duration::from_secs(3600)).await?;
    Ok(aws.trace().to_string())
}

#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn the_same_seed_gives_the_identical_trace_and_another_seed_another_order() {
    let first = busy_run(42).await.unwrap();
    let again = busy_run(42).await.unwrap();
    let other = busy_run(43).await.unwrap();
    assert_eq!(first, again);
    let order = |trace: &str| -> Vec<String> {
        trace
            .lines()
            .filter(|line| line.contains("Invoked"))
            .map(|line| {
                line.split_whitespace()
                    .skip(1)
                    .take(2)
                    .collect::<Vec<_>>()
                    .join(" ")
            })
            .collect()
    };
    assert_ne!(
        order(&first),
        order(&other),
        "another seed, another delivery order"
    );
    assert!(first.contains("Duplicated"), "{first}");
    assert!(first.contains("Throttled"), "{first}");
    assert!(first.contains("DeadLettered"), "{first}");
}

#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn duplicates_happen_at_the_configured_rate() {
    let mut config = DeliveryConfig::new(11);
    config.duplicate_probability = 0.1;
    let delivery =
        Delivery::new(config, &one_function(FunctionSettings::new("f", MINUTE))).unwrap();
    let runs: Rc<Cell<usize>> = Rc::default();
    {
        let runs = Rc::clone(&runs);
        delivery
            .handle_with("f", move |_| {
                runs.set(runs.get() + 1);
                async { Ok(Value::Null) }
            })
            .unwrap();
    }
    let aws = delivery.handle();
    for n in 0..2000 {
        aws.invoke_async("f", json!(n)).unwrap();
    }
    delivery.run_until_idle(MINUTE).await.unwrap();

    let duplicates = count(&aws.trace().0, |k| matches!(k, StepKind::Duplicated { .. }));
    assert!(
        (140..=260).contains(&duplicates),
        "{duplicates} duplicates of 2000 at 10 %"
    );
    assert_eq!(runs.get(), 2000 + duplicates);
}

#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn the_stacks_schedules_fire_on_virtual_time_and_follow_a_new_rate() {
    let stack = Stack::from_contract(5).unwrap();
    let delivery = Delivery::new(DeliveryConfig::exact(2), &stack).unwrap();
    let runs: Rc<RefCell<Vec<&str>>> = Rc::default();
    for function in [POLLER, JIRA_CLIENT, JIRA_NOTIFICATIONS_HANDLER, SIR_CLIENT] {
        let runs = Rc::clone(&runs);
        delivery
            .handle_with(function, move |payload| {
                let event: Result<EventBridgeEvent<Value>, _> = serde_json::from_value(payload);
                runs.borrow_mut().push(function);
                async move {
                    let event = event.map_err(|e| e.to_string())?;
                    assert_eq!(event.detail_type, "Scheduled Event");
                    Ok(Value::Null)
                }
            })
            .unwrap();
    }
    let aws = delivery.handle();
    // A second past the tenth minute, so the runs fired at 10:00 have finished.
    delivery
        .run_for(10 * MINUTE + Duration::from_secs(1))
        .await
        .unwrap();
    let count_of = |f: &str| runs.borrow().iter().filter(|r| **r == f).count();
    assert_eq!(count_of(POLLER), 10);
    assert_eq!(count_of(JIRA_NOTIFICATIONS_HANDLER), 5);
    assert_eq!(count(&aws.trace().0, |k| matches!(k, StepKind::Ok)), 15);

    assert!(aws.set_schedule_rate("PollerScheduleRule", 5 * MINUTE));
    delivery.run_for(10 * MINUTE).await.unwrap();
    assert_eq!(count_of(POLLER), 12);
}

#[test]
fn the_contract_stack_reserves_as_the_cdk_stack_does() {
    let stack = Stack::from_contract(5).unwrap();
    let reserved = |name: &str| {
        stack
            .functions
            .iter()
            .find(|f| f.name == name)
            .map(|f| {
                (
                    f.reserved_concurrency,
                    f.timeout.as_secs(),
                    f.retry_attempts,
                )
            })
            .unwrap()
    };
    assert_eq!(reserved(POLLER), (None, 120, 2));
    assert_eq!(reserved(JIRA_CLIENT), (Some(5), 300, 2));
    assert_eq!(reserved(SIR_CLIENT), (Some(5), 300, 2));
    assert_eq!(reserved(JIRA_NOTIFICATIONS_HANDLER), (Some(2), 60, 2));
    let none = Stack::from_contract(0).unwrap();
    assert!(
        none.functions
            .iter()
            .all(|f| f.reserved_concurrency.is_none())
    );
}
