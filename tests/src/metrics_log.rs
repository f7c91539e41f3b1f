//! The metrics lines the functions write in the local world: each invocation the harness makes
//! writes its Embedded Metric Format lines here, as each Lambda's `main.rs` writes them to stdout
//! ([`shared::metrics::of_outcome`] for both: the same documents, the same JSON), so tests read what CloudWatch would extract, and
//! the local world prints them.

use std::io::Write as _;
use std::sync::Mutex;

use serde_json::{Map, Value};
use shared::metrics::{
    FUNCTION_DIMENSION, RecordFailure, RecordMetrics, RemoteCalls, measure, now_ms, of_outcome,
    parse_emf_line,
};

/// The EMF lines written so far.
#[derive(Debug, Default)]
pub struct MetricsLog {
    lines: Mutex<Vec<String>>,
    /// When each failed invocation ended (function, epoch ms): Lambda's `Errors`, which no EMF
    /// line carries.
    errors: Mutex<Vec<(String, u64)>>,
    /// Also print each line to stdout (the local world, as Lambda's log would show it).
    print: bool,
}

impl MetricsLog {
    /// A log that also prints each line to stdout.
    pub fn printing() -> Self {
        MetricsLog {
            lines: Mutex::default(),
            errors: Mutex::default(),
            print: true,
        }
    }

    /// Runs one invocation of `function` as its Lambda's `main.rs` does ([`measure`]), writes
    /// its metrics, and returns its outcome.
    pub fn invoke<R: RecordMetrics, E: RecordFailure>(
        &self,
        function: &str,
        invocation: impl Future<Output = Result<R, E>>,
    ) -> impl Future<Output = Result<R, E>> {
        let measured = measure(invocation);
        async move {
            let (outcome, calls) = measured.await;
            self.record(function, &outcome, &calls);
            outcome
        }
    }

    /// Writes the metrics of one invocation of `function` that ended in `outcome`.
    fn record<R: RecordMetrics, E: RecordFailure>(
        &self,
        function: &str,
        outcome: &Result<R, E>,
        calls: &RemoteCalls,
    ) {
        let lines: Vec<String> = of_outcome(function, outcome, calls)
            .documents(now_ms())
            .iter()
            .map(Value::to_string)
            .collect();
        if self.print && !lines.is_empty() {
            let mut out = std::io::stdout().lock();
            // As the local world's other lines: nothing useful can be done if stdout is gone.
            let _ = lines
                .iter()
                .try_for_each(|line| writeln!(out, "{line}"))
                .and_then(|()| out.flush());
        }
        self.lock().extend(lines);
        if outcome.is_err() {
            self.errors
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .push((function.to_owned(), u64::try_from(now_ms()).unwrap_or(0)));
        }
    }

    /// How many invocations of `function` failed at or after `since_ms` (epoch ms), as Lambda's
    /// `Errors` metric counts them.
    pub fn errors_since(&self, function: &str, since_ms: u64) -> usize {
        self.errors
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .iter()
            .filter(|(f, at)| f == function && *at >= since_ms)
            .count()
    }

    /// When `function` last wrote `SuccessfulRuns` (its document's `_aws.Timestamp`, epoch ms),
    /// as CloudWatch would show it.
    pub fn last_success_ms(&self, function: &str) -> Result<Option<u64>, String> {
        Ok(self
            .documents()?
            .iter()
            .filter(|d| d.get(FUNCTION_DIMENSION).and_then(Value::as_str) == Some(function))
            .filter(|d| {
                d.get(shared::metrics::names::SUCCESSFUL_RUNS)
                    .and_then(Value::as_f64)
                    .is_some_and(|n| n > 0.0)
            })
            .filter_map(|d| d["_aws"]["Timestamp"].as_u64())
            .max())
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Vec<String>> {
        self.lines
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Every line written so far, as written.
    pub fn lines(&self) -> Vec<String> {
        self.lock().clone()
    }

    /// Every line parsed, each checked against AWS's EMF specification; the first line that
    /// is not EMF is the error.
    pub fn documents(&self) -> Result<Vec<Map<String, Value>>, String> {
        self.lines()
            .iter()
            .map(|line| parse_emf_line(line).map_err(|e| format!("{e}: {line}")))
            .collect()
    }

    /// The sum of `metric` written by `function` in the slice `slice` (`None`: the documents
    /// with the function dimension only), over every line so far.
    pub fn sum(
        &self,
        function: &str,
        metric: &str,
        slice: Option<(&str, &str)>,
    ) -> Result<f64, String> {
        let documents = self.documents()?;
        Ok(documents
            .iter()
            .filter(|d| d.get(FUNCTION_DIMENSION).and_then(Value::as_str) == Some(function))
            .filter(|d| match slice {
                Some((dimension, value)) => d.get(dimension).and_then(Value::as_str) == Some(value),
                None => dimensions_of(d) == [FUNCTION_DIMENSION],
            })
            .filter_map(|d| d.get(metric))
            .map(|value| match value {
                Value::Array(values) => values.iter().filter_map(Value::as_f64).sum(),
                other => other.as_f64().unwrap_or_default(),
            })
            .sum())
    }

    /// Every value of `metric` that `function` wrote with the function dimension only, in the
    /// order written (a level, such as the days the Jira token has left, is read this way).
    pub fn values(&self, function: &str, metric: &str) -> Result<Vec<f64>, String> {
        let documents = self.documents()?;
        Ok(documents
            .iter()
            .filter(|d| d.get(FUNCTION_DIMENSION).and_then(Value::as_str) == Some(function))
            .filter(|d| dimensions_of(d) == [FUNCTION_DIMENSION])
            .filter_map(|d| d.get(metric))
            .flat_map(|value| match value {
                Value::Array(values) => values.iter().filter_map(Value::as_f64).collect(),
                other => other.as_f64().into_iter().collect::<Vec<_>>(),
            })
            .collect())
    }
}

/// The dimension names of a document's (one) directive.
fn dimensions_of(document: &Map<String, Value>) -> Vec<String> {
    document["_aws"]["CloudWatchMetrics"][0]["Dimensions"][0]
        .as_array()
        .map(|names| {
            names
                .iter()
                .filter_map(Value::as_str)
                .map(str::to_owned)
                .collect()
        })
        .unwrap_or_default()
}
