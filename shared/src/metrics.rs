//! CloudWatch metrics in Embedded Metric Format (EMF): each invocation's counts as JSON lines on
//! stdout, which Lambda's log agent hands to CloudWatch Logs, which turns them into metrics. No
//! CloudWatch API call, no permission beyond the log group's, no agent.
//!
//! Each Lambda's `main.rs` runs an invocation under [`measure`] (which counts the retries the
//! adapters note), turns its typed report into [`InvocationMetrics`] ([`of_outcome`]) and writes
//! them with [`emit`]; the local world writes the same documents. Every metric has
//! the `FunctionName` dimension (Lambda's own function name, so several stacks side by side never
//! mix); metrics with a reason or a class get a second dimension, in a document of their own
//! (an EMF document gives each dimension one value). Why not a crate: the ones on crates.io
//! (`metrics_cloudwatch_embedded`, `metrique`) need a process-wide recorder or a wide-event
//! framework for what is a dozen counters per invocation; the format is pinned by the tests below
//! against the rules of AWS's specification.

use std::collections::BTreeMap;
use std::io::Write;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};

use serde_json::{Map, Value, json};

/// The CloudWatch namespace of every metric the integration emits.
pub const NAMESPACE: &str = "SirJiraIntegration";
/// The dimension every metric has: the Lambda function's name.
pub const FUNCTION_DIMENSION: &str = "FunctionName";
/// Where the function name comes from in Lambda.
pub const ENV_FUNCTION_NAME: &str = "AWS_LAMBDA_FUNCTION_NAME";

/// Metric names (see the README's "Metrics and dashboard" for what each counts).
pub mod names {
    /// Items written to the other side: fields, status changes, comments, attachments,
    /// watchers, created issues or cases, recorded deletions (the sum of the kinds below).
    pub const ITEMS_SYNCED: &str = "ItemsSynced";
    pub const ISSUES_CREATED: &str = "IssuesCreated";
    pub const CASES_CREATED: &str = "CasesCreated";
    pub const FIELDS_SYNCED: &str = "FieldsSynced";
    pub const STATUS_CHANGES_SYNCED: &str = "StatusChangesSynced";
    pub const COMMENTS_SYNCED: &str = "CommentsSynced";
    pub const ATTACHMENTS_SYNCED: &str = "AttachmentsSynced";
    pub const WATCHERS_SYNCED: &str = "WatchersSynced";
    pub const DELETIONS_SYNCED: &str = "DeletionsSynced";
    /// Calls to Jira or SIR tried again after a failure, by `Remote`.
    pub const REMOTE_RETRIES: &str = "RemoteRetries";
    /// Answers of Jira or SIR refusing a call for its rate (429, throttling), retried or not,
    /// by `Remote`.
    pub const REMOTE_THROTTLES: &str = "RemoteThrottles";
    /// Items that could not be synced, by `Reason`.
    pub const ITEMS_NOT_SYNCED: &str = "ItemsNotSynced";
    /// Notifications that were the integration's own writing coming back (nothing to sync).
    pub const ECHOES_SKIPPED: &str = "EchoesSkipped";
    /// Changes published on the bus (by the poller from SIR, by the handler from Jira).
    pub const CHANGES_PUBLISHED: &str = "ChangesPublished";
    /// Intake messages (SNS records, webhook requests) refused, by `Class`.
    pub const INTAKE_REJECTED: &str = "IntakeRejected";
    /// Webhook deliveries answered 429 because the issue's re-read slots were taken.
    pub const INTAKE_THROTTLED: &str = "IntakeThrottled";
    /// Events the reconciler published again (deliveries nobody acknowledged in time).
    pub const RECONCILER_REPAIRS: &str = "ReconcilerRepairs";
    /// Open linked pairs audited (compared field by field).
    pub const AUDITS: &str = "PairsAudited";
    /// SIR cases not closed that the integration syncs, as a schedule pass of the poller saw them.
    pub const OPEN_CASES: &str = "OpenCases";
    /// An invocation that did its job (1 each): "no successful sync for N hours" looks at it.
    pub const SUCCESSFUL_RUNS: &str = "SuccessfulRuns";
    /// Settings read again from SSM that did not parse: the last good ones stayed in use.
    pub const CONFIG_REJECTED: &str = "ConfigRejected";
    /// Seconds from a change on one side (the event's `changedAt`) to the end of the event
    /// that wrote it on the other: one value per event that wrote something (a distribution,
    /// so CloudWatch keeps p50/p99).
    pub const SYNC_LAG_SECONDS: &str = "SyncLagSeconds";
    /// Days until the Jira token expires (0 on its last day, negative once expired), as the
    /// expiry date deploy.sh stored beside the token says; written by each invocation that
    /// called Jira, none when the date is not known. The stack alarms at 30 and at 7.
    pub const JIRA_TOKEN_DAYS_LEFT: &str = "JiraTokenDaysLeft";
}

/// Dimension of [`names::ITEMS_NOT_SYNCED`].
pub const REASON_DIMENSION: &str = "Reason";
/// Dimension of [`names::INTAKE_REJECTED`].
pub const CLASS_DIMENSION: &str = "Class";
/// Dimension of [`names::REMOTE_RETRIES`] and [`names::REMOTE_THROTTLES`]: `Jira` or `SIR`.
pub const REMOTE_DIMENSION: &str = "Remote";

/// A service the integration calls, whose retries it counts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Remote {
    Jira,
    Sir,
}

impl Remote {
    const ALL: [Remote; 2] = [Remote::Jira, Remote::Sir];

    fn name(self) -> &'static str {
        match self {
            Remote::Jira => "Jira",
            Remote::Sir => "SIR",
        }
    }
}

/// What the adapters noted during one invocation (see [`measure`]): retries and throttled
/// answers per [`Remote`], settings rejected, and the days the Jira token had left.
#[derive(Debug)]
pub struct RemoteCalls {
    retries: [AtomicU64; 2],
    throttles: [AtomicU64; 2],
    /// Settings read again that did not parse (the last good ones stayed in use).
    config_rejected: AtomicU64,
    /// The fewest days the Jira token had left when a request was signed; [`NO_DAYS_LEFT`]:
    /// none was signed, or the expiry date is not known.
    jira_token_days_left: AtomicI64,
}

/// See [`RemoteCalls::jira_token_days_left`].
const NO_DAYS_LEFT: i64 = i64::MAX;

impl Default for RemoteCalls {
    fn default() -> Self {
        RemoteCalls {
            retries: Default::default(),
            throttles: Default::default(),
            config_rejected: AtomicU64::default(),
            jira_token_days_left: AtomicI64::new(NO_DAYS_LEFT),
        }
    }
}

tokio::task_local! {
    /// The counts of the invocation this task runs ([`measure`]).
    static CALLS: RemoteCalls;
}

/// Runs `invocation` with its own [`RemoteCalls`]: what the adapters note while it runs
/// ([`note_retry`], [`note_throttled`]) is its own, whatever else runs in the process.
/// The invocation is boxed at once: a handler's future is large, and this one stays small.
pub fn measure<T>(invocation: impl Future<Output = T>) -> impl Future<Output = (T, RemoteCalls)> {
    let invocation = Box::pin(invocation);
    CALLS.scope(RemoteCalls::default(), async move {
        let output = invocation.await;
        let calls = CALLS.with(|calls| RemoteCalls {
            retries: calls
                .retries
                .each_ref()
                .map(|n| AtomicU64::new(n.load(Ordering::Relaxed))),
            throttles: calls
                .throttles
                .each_ref()
                .map(|n| AtomicU64::new(n.load(Ordering::Relaxed))),
            config_rejected: AtomicU64::new(calls.config_rejected.load(Ordering::Relaxed)),
            jira_token_days_left: AtomicI64::new(
                calls.jira_token_days_left.load(Ordering::Relaxed),
            ),
        });
        (output, calls)
    })
}

fn note(count: impl FnOnce(&RemoteCalls) -> &AtomicU64) {
    // Outside a measured invocation (a test calling an adapter directly) nothing is counted.
    let _outside = CALLS.try_with(|calls| count(calls).fetch_add(1, Ordering::Relaxed));
}

/// Counts one call to `remote` tried again after a failure.
pub fn note_retry(remote: Remote) {
    note(|calls| &calls.retries[remote as usize]);
}

/// Counts one answer of `remote` refusing a call for its rate (HTTP 429, a throttling error),
/// tried again or not.
pub fn note_throttled(remote: Remote) {
    note(|calls| &calls.throttles[remote as usize]);
}

/// Counts one setting read again that did not parse (see [`crate::live_mapping`]).
pub fn note_config_rejected() {
    note(|calls| &calls.config_rejected);
}

/// Notes that a request to Jira went out with a token that expires in `days` days (see
/// [`names::JIRA_TOKEN_DAYS_LEFT`]).
pub fn note_jira_token_days_left(days: i64) {
    let _outside = CALLS.try_with(|calls| {
        calls
            .jira_token_days_left
            .fetch_min(days, Ordering::Relaxed)
    });
}

/// A CloudWatch unit the integration uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unit {
    Count,
    Seconds,
    /// A level without a CloudWatch unit (days left).
    NoUnit,
}

impl Unit {
    fn as_str(self) -> &'static str {
        match self {
            Unit::Count => "Count",
            Unit::Seconds => "Seconds",
            Unit::NoUnit => "None",
        }
    }
}

/// One metric's values in one invocation (EMF takes up to 100 values per metric and line).
#[derive(Debug, Clone, PartialEq)]
struct Series {
    unit: Unit,
    values: Vec<f64>,
}

/// Most values one metric carries in one EMF document (AWS's limit).
const MAX_VALUES: usize = 100;

/// What one invocation measured, for one function.
#[derive(Debug, Clone, PartialEq)]
pub struct InvocationMetrics {
    function: String,
    /// The `level` of the lines (see [`log_level`]).
    level: String,
    plain: BTreeMap<&'static str, Series>,
    /// (dimension, value) → metrics of that slice.
    sliced: BTreeMap<(&'static str, String), BTreeMap<&'static str, Series>>,
}

impl InvocationMetrics {
    /// Metrics of `function` (its Lambda name: [`function_name`]).
    pub fn new(function: impl Into<String>) -> Self {
        InvocationMetrics {
            function: function.into(),
            level: log_level(std::env::var(ENV_LOG_LEVEL).ok().as_deref()).to_owned(),
            plain: BTreeMap::new(),
            sliced: BTreeMap::new(),
        }
    }

    /// Adds `n` to the count `name` (nothing when `n` is 0: absent is zero on a sum).
    pub fn count(&mut self, name: &'static str, n: usize) -> &mut Self {
        if n > 0 {
            add(&mut self.plain, name, Unit::Count, n as f64);
        }
        self
    }

    /// Adds each kind's count of items written to the other side (`names::*_SYNCED`,
    /// `*_CREATED`) and their sum as [`names::ITEMS_SYNCED`].
    pub fn synced(&mut self, kinds: &[(&'static str, usize)]) -> &mut Self {
        for &(name, n) in kinds {
            self.count(name, n);
        }
        self.count(names::ITEMS_SYNCED, kinds.iter().map(|&(_, n)| n).sum())
    }

    /// Records `n` as the count `name`, 0 included: a level (such as the open cases) whose 0
    /// says something, where a sum's absent 0 would say nothing.
    pub fn level(&mut self, name: &'static str, n: usize) -> &mut Self {
        add(&mut self.plain, name, Unit::Count, n as f64);
        self
    }

    /// Adds `n` to the count `name` of the slice `dimension` = `value`.
    pub fn count_by(
        &mut self,
        name: &'static str,
        dimension: &'static str,
        value: impl Into<String>,
        n: usize,
    ) -> &mut Self {
        if n > 0 {
            let slice = self.sliced.entry((dimension, value.into())).or_default();
            add(slice, name, Unit::Count, n as f64);
        }
        self
    }

    /// Records the sync lag of an event that wrote something (see
    /// [`names::SYNC_LAG_SECONDS`]): `lag_ms` as measured by the consumer, nothing when the event
    /// carried no change time.
    pub fn sync_lag(&mut self, lag_ms: Option<u64>) -> &mut Self {
        match lag_ms {
            Some(ms) => self.seconds(names::SYNC_LAG_SECONDS, ms as f64 / 1_000.0),
            None => self,
        }
    }

    /// Records one duration in seconds (a distribution: CloudWatch keeps percentiles).
    pub fn seconds(&mut self, name: &'static str, seconds: f64) -> &mut Self {
        add(&mut self.plain, name, Unit::Seconds, seconds.max(0.0));
        self
    }

    /// Adds what `calls` noted to these metrics: retries and throttles, settings rejected, the
    /// days the Jira token had left.
    pub fn record_remote_calls(&mut self, calls: &RemoteCalls) -> &mut Self {
        for remote in Remote::ALL {
            let count =
                |n: &AtomicU64| usize::try_from(n.load(Ordering::Relaxed)).unwrap_or(usize::MAX);
            self.count_by(
                names::REMOTE_RETRIES,
                REMOTE_DIMENSION,
                remote.name(),
                count(&calls.retries[remote as usize]),
            );
            self.count_by(
                names::REMOTE_THROTTLES,
                REMOTE_DIMENSION,
                remote.name(),
                count(&calls.throttles[remote as usize]),
            );
        }
        let days_left = calls.jira_token_days_left.load(Ordering::Relaxed);
        if days_left != NO_DAYS_LEFT {
            add(
                &mut self.plain,
                names::JIRA_TOKEN_DAYS_LEFT,
                Unit::NoUnit,
                days_left as f64,
            );
        }
        let rejected = calls.config_rejected.load(Ordering::Relaxed);
        self.count(
            names::CONFIG_REJECTED,
            usize::try_from(rejected).unwrap_or(usize::MAX),
        )
    }

    /// The EMF documents, one per dimension set, stamped `timestamp_ms` (Unix epoch, ms).
    pub fn documents(&self, timestamp_ms: i64) -> Vec<Value> {
        let mut documents = Vec::new();
        if !self.plain.is_empty() {
            documents.extend(document(
                timestamp_ms,
                &self.level,
                &[(FUNCTION_DIMENSION, self.function.as_str())],
                &self.plain,
            ));
        }
        for ((dimension, value), metrics) in &self.sliced {
            documents.extend(document(
                timestamp_ms,
                &self.level,
                &[
                    (FUNCTION_DIMENSION, self.function.as_str()),
                    (dimension, value.as_str()),
                ],
                metrics,
            ));
        }
        documents
    }
}

fn add(metrics: &mut BTreeMap<&'static str, Series>, name: &'static str, unit: Unit, value: f64) {
    let series = metrics.entry(name).or_insert_with(|| Series {
        unit,
        values: Vec::new(),
    });
    match (unit, series.values.last_mut()) {
        // Counts add up in one value; durations stay a distribution.
        (Unit::Count, Some(total)) => *total += value,
        _ => series.values.push(value),
    }
}

/// The documents of one dimension set: more than [`MAX_VALUES`] durations of one metric are
/// spread over several documents.
fn document(
    timestamp_ms: i64,
    level: &str,
    dimensions: &[(&str, &str)],
    metrics: &BTreeMap<&'static str, Series>,
) -> Vec<Value> {
    let chunks = metrics
        .values()
        .map(|s| s.values.len().div_ceil(MAX_VALUES))
        .max()
        .unwrap_or(1)
        .max(1);
    (0..chunks)
        .filter_map(|chunk| {
            let mut root = Map::new();
            let mut definitions = Vec::new();
            for (name, series) in metrics {
                let values: Vec<f64> = series
                    .values
                    .iter()
                    .skip(chunk * MAX_VALUES)
                    .take(MAX_VALUES)
                    .copied()
                    .collect();
                let value = match values.as_slice() {
                    [] => continue,
                    [one] => json!(one),
                    many => json!(many),
                };
                definitions.push(json!({"Name": name, "Unit": series.unit.as_str()}));
                root.insert((*name).to_owned(), value);
            }
            if definitions.is_empty() {
                return None;
            }
            for (dimension, value) in dimensions {
                root.insert((*dimension).to_owned(), json!(value));
            }
            // Lambda's log-level filter reads `level` and takes a line without one as INFO:
            // the filter's own level passes whatever it is set to.
            root.insert("level".to_owned(), json!(level));
            let names: Vec<&str> = dimensions.iter().map(|(d, _)| *d).collect();
            root.insert(
                "_aws".to_owned(),
                json!({
                    "Timestamp": timestamp_ms,
                    "CloudWatchMetrics": [{
                        "Namespace": NAMESPACE,
                        "Dimensions": [names],
                        "Metrics": definitions,
                    }],
                }),
            );
            Some(Value::Object(root))
        })
        .collect()
}

/// Where Lambda says the function's application log level (log-level filtering on).
pub const ENV_LOG_LEVEL: &str = "AWS_LAMBDA_LOG_LEVEL";

/// The `level` of the metrics lines under the log level `configured`: that level itself, so the
/// lines pass Lambda's filter at any setting (at WARN a line without a level, taken as INFO,
/// would be dropped and every metric with it), and INFO when there is no filter.
pub fn log_level(configured: Option<&str>) -> &'static str {
    const LEVELS: [&str; 6] = ["TRACE", "DEBUG", "INFO", "WARN", "ERROR", "FATAL"];
    configured
        .map(str::trim)
        .and_then(|c| LEVELS.into_iter().find(|l| l.eq_ignore_ascii_case(c)))
        .unwrap_or("INFO")
}

/// This Lambda's function name (`AWS_LAMBDA_FUNCTION_NAME`), or `fallback` outside Lambda.
pub fn function_name(fallback: &str) -> String {
    std::env::var(ENV_FUNCTION_NAME)
        .ok()
        .filter(|name| !name.is_empty())
        .unwrap_or_else(|| fallback.to_owned())
}

/// Milliseconds since the Unix epoch now (the integration's clock, [`clock`]).
pub fn now_ms() -> i64 {
    i64::try_from(clock::now_epoch_millis()).unwrap_or(i64::MAX)
}

/// Writes the metrics as EMF lines to `out` (one JSON object per line, nothing around it: CloudWatch
/// reads only lines that are a JSON object from start to end).
pub fn write_lines(
    metrics: &InvocationMetrics,
    timestamp_ms: i64,
    out: &mut impl Write,
) -> std::io::Result<()> {
    for document in metrics.documents(timestamp_ms) {
        serde_json::to_writer(&mut *out, &document)?;
        out.write_all(b"\n")?;
    }
    out.flush()
}

/// Writes the metrics to stdout, where Lambda's log agent takes them. A failed write loses only
/// these counts (the sync itself is done), so it is logged, not returned.
pub fn emit(metrics: &InvocationMetrics) {
    if let Err(error) = write_lines(metrics, now_ms(), &mut std::io::stdout().lock()) {
        tracing::warn!(%error, "could not write the invocation's metrics to stdout");
    }
}

/// A type whose values say what an invocation did, and so what it adds to the metrics.
pub trait RecordMetrics {
    /// Adds what `self` did to `metrics`.
    fn record_metrics(&self, metrics: &mut InvocationMetrics);
}

/// An error that may carry what the invocation did before it failed (a poll pass that synced
/// every case but one): its metrics are written all the same.
pub trait RecordFailure {
    /// Adds what was done before the failure to `metrics` (by default nothing).
    fn record_failure(&self, metrics: &mut InvocationMetrics) {
        let _ = metrics;
    }
}

impl RecordFailure for std::convert::Infallible {}

/// The metrics of one invocation of `function` that ended in `outcome` after the calls `calls`
/// ([`measure`]): what each Lambda's `main.rs` writes with [`emit`], and the local world with
/// [`write_lines`]. A failed invocation counts no `SuccessfulRuns` (Lambda counts the error in
/// `AWS/Lambda` `Errors`), only what its error carries.
pub fn of_outcome<R: RecordMetrics, E: RecordFailure>(
    function: &str,
    outcome: &Result<R, E>,
    calls: &RemoteCalls,
) -> InvocationMetrics {
    let mut metrics = InvocationMetrics::new(function);
    match outcome {
        Ok(report) => report.record_metrics(&mut metrics),
        Err(error) => error.record_failure(&mut metrics),
    }
    metrics.record_remote_calls(calls);
    metrics
}

/// The units AWS's specification allows (CloudWatch's `StandardUnit`).
const UNITS: [&str; 27] = [
    "Seconds",
    "Microseconds",
    "Milliseconds",
    "Bytes",
    "Kilobytes",
    "Megabytes",
    "Gigabytes",
    "Terabytes",
    "Bits",
    "Kilobits",
    "Megabits",
    "Gigabits",
    "Terabits",
    "Percent",
    "Count",
    "Bytes/Second",
    "Kilobytes/Second",
    "Megabytes/Second",
    "Gigabytes/Second",
    "Terabytes/Second",
    "Bits/Second",
    "Kilobits/Second",
    "Megabits/Second",
    "Gigabits/Second",
    "Terabits/Second",
    "Count/Second",
    "None",
];

/// Checks `line` against the rules of "Specification: Embedded metric format" (AWS
/// CloudWatch User Guide): the whole line one JSON object; `_aws` with a numeric `Timestamp`
/// and a `CloudWatchMetrics` array of metric directives and nothing else; each directive a
/// `Namespace` (1-255 characters), `Dimensions` (an array of dimension sets, each at most 30
/// names, each name a root member whose value is a string) and `Metrics` (1-100 definitions
/// of a `Name` of 1-255 characters, an optional `Unit` among CloudWatch's and an optional
/// `StorageResolution` 1 or 60, nothing else), each name a root member whose value is a
/// number or an array of at most 100 numbers. Returns the root object. For tests, and for
/// anyone who wants to check the lines `./deploy.sh --local` prints.
pub fn parse_emf_line(line: &str) -> Result<Map<String, Value>, String> {
    let root: Value = serde_json::from_str(line).map_err(|e| format!("not JSON: {e}"))?;
    let Value::Object(root) = root else {
        return Err("the root is not an object".into());
    };
    let aws = root
        .get("_aws")
        .and_then(Value::as_object)
        .ok_or("no _aws object")?;
    if let Some(extra) = aws
        .keys()
        .find(|k| !["Timestamp", "CloudWatchMetrics"].contains(&k.as_str()))
    {
        return Err(format!("_aws has an extra member {extra}"));
    }
    let timestamp = aws
        .get("Timestamp")
        .and_then(Value::as_i64)
        .ok_or("_aws.Timestamp is not an integer")?;
    if timestamp < 0 {
        return Err("_aws.Timestamp is negative".into());
    }
    let directives = aws
        .get("CloudWatchMetrics")
        .and_then(Value::as_array)
        .ok_or("_aws.CloudWatchMetrics is not an array")?;
    for directive in directives {
        let directive = directive
            .as_object()
            .ok_or("a directive is not an object")?;
        if let Some(extra) = directive
            .keys()
            .find(|k| !["Namespace", "Dimensions", "Metrics"].contains(&k.as_str()))
        {
            return Err(format!("a directive has an extra member {extra}"));
        }
        let namespace = directive
            .get("Namespace")
            .and_then(Value::as_str)
            .ok_or("Namespace is not a string")?;
        if namespace.is_empty() || namespace.chars().count() > 255 {
            return Err("Namespace is not 1-255 characters".into());
        }
        let sets = directive
            .get("Dimensions")
            .and_then(Value::as_array)
            .ok_or("Dimensions is not an array")?;
        for set in sets {
            let set = set.as_array().ok_or("a dimension set is not an array")?;
            if set.len() > 30 {
                return Err("a dimension set has more than 30 dimensions".into());
            }
            for name in set {
                let name = name.as_str().ok_or("a dimension name is not a string")?;
                if !root.get(name).is_some_and(Value::is_string) {
                    return Err(format!(
                        "dimension {name} is not a string member of the root"
                    ));
                }
            }
        }
        let metrics = directive
            .get("Metrics")
            .and_then(Value::as_array)
            .ok_or("Metrics is not an array")?;
        if metrics.is_empty() || metrics.len() > 100 {
            return Err("Metrics does not hold 1-100 definitions".into());
        }
        for definition in metrics {
            let definition = definition
                .as_object()
                .ok_or("a definition is not an object")?;
            if let Some(extra) = definition
                .keys()
                .find(|k| !["Name", "Unit", "StorageResolution"].contains(&k.as_str()))
            {
                return Err(format!("a definition has an extra member {extra}"));
            }
            let name = definition
                .get("Name")
                .and_then(Value::as_str)
                .ok_or("Name is not a string")?;
            if name.is_empty() || name.chars().count() > 255 {
                return Err("Name is not 1-255 characters".into());
            }
            if let Some(unit) = definition.get("Unit") {
                let unit = unit.as_str().ok_or("Unit is not a string")?;
                if !UNITS.contains(&unit) {
                    return Err(format!("Unit {unit} is not a CloudWatch unit"));
                }
            }
            if let Some(resolution) = definition.get("StorageResolution")
                && resolution.as_i64() != Some(1)
                && resolution.as_i64() != Some(60)
            {
                return Err("StorageResolution is not 1 or 60".into());
            }
            match root.get(name) {
                Some(Value::Number(_)) => {}
                Some(Value::Array(values))
                    if values.len() <= 100 && values.iter().all(Value::is_number) => {}
                _ => return Err(format!("metric {name} has no numeric value in the root")),
            }
        }
    }
    Ok(root)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lines(metrics: &InvocationMetrics) -> Vec<String> {
        let mut out = Vec::new();
        write_lines(metrics, 1_764_806_400_000, &mut out).unwrap();
        String::from_utf8(out)
            .unwrap()
            .lines()
            .map(str::to_owned)
            .collect()
    }

    #[test]
    fn counts_become_one_emf_line_with_the_function_dimension() {
        let mut metrics = InvocationMetrics::new("sir-jira-jira-client");
        metrics
            .count(names::COMMENTS_SYNCED, 2)
            .count(names::COMMENTS_SYNCED, 1)
            .count(names::FIELDS_SYNCED, 1)
            .count(names::WATCHERS_SYNCED, 0);
        let lines = lines(&metrics);
        assert_eq!(lines.len(), 1, "{lines:?}");
        let root = parse_emf_line(&lines[0]).unwrap();
        assert_eq!(root["CommentsSynced"], json!(3.0));
        assert_eq!(root["FieldsSynced"], json!(1.0));
        assert!(
            !root.contains_key("WatchersSynced"),
            "zero counts are left out"
        );
        assert_eq!(root["FunctionName"], json!("sir-jira-jira-client"));
        assert_eq!(
            root["_aws"],
            json!({
                "Timestamp": 1_764_806_400_000_i64,
                "CloudWatchMetrics": [{
                    "Namespace": "SirJiraIntegration",
                    "Dimensions": [["FunctionName"]],
                    "Metrics": [
                        {"Name": "CommentsSynced", "Unit": "Count"},
                        {"Name": "FieldsSynced", "Unit": "Count"},
                    ],
                }],
            })
        );
    }

    #[test]
    fn each_reason_is_a_document_of_its_own() {
        let mut metrics = InvocationMetrics::new("f");
        metrics
            .count(names::ITEMS_SYNCED, 1)
            .count_by(
                names::ITEMS_NOT_SYNCED,
                REASON_DIMENSION,
                "attachment-too-large",
                2,
            )
            .count_by(names::ITEMS_NOT_SYNCED, REASON_DIMENSION, "refused", 1);
        let lines = lines(&metrics);
        assert_eq!(lines.len(), 3, "{lines:?}");
        let roots: Vec<_> = lines.iter().map(|l| parse_emf_line(l).unwrap()).collect();
        assert_eq!(roots[1]["Reason"], json!("attachment-too-large"));
        assert_eq!(roots[1]["ItemsNotSynced"], json!(2.0));
        assert_eq!(
            roots[1]["_aws"]["CloudWatchMetrics"][0]["Dimensions"],
            json!([["FunctionName", "Reason"]])
        );
        assert_eq!(roots[2]["Reason"], json!("refused"));
    }

    #[test]
    fn durations_stay_a_distribution_of_at_most_100_values_per_line() {
        let mut metrics = InvocationMetrics::new("f");
        for i in 0..150 {
            metrics.seconds("SyncLagSeconds", f64::from(i));
        }
        let lines = lines(&metrics);
        assert_eq!(lines.len(), 2);
        let roots: Vec<_> = lines.iter().map(|l| parse_emf_line(l).unwrap()).collect();
        assert_eq!(roots[0]["SyncLagSeconds"].as_array().unwrap().len(), 100);
        assert_eq!(roots[1]["SyncLagSeconds"].as_array().unwrap().len(), 50);
        assert_eq!(
            roots[0]["_aws"]["CloudWatchMetrics"][0]["Metrics"][0]["Unit"],
            json!("Seconds")
        );
    }

    #[tokio::test]
    async fn retries_noted_during_an_invocation_are_its_own() {
        note_retry(Remote::Jira); // outside any invocation: nobody's
        let ((), calls) = measure(async {
            note_retry(Remote::Jira);
            note_throttled(Remote::Jira);
            note_retry(Remote::Jira);
            note_throttled(Remote::Sir);
        })
        .await;
        struct Nothing;
        impl RecordMetrics for Nothing {
            fn record_metrics(&self, _metrics: &mut InvocationMetrics) {}
        }
        let outcome: Result<Nothing, std::convert::Infallible> = Ok(Nothing);
        let lines = lines(&of_outcome("f", &outcome, &calls));
        let roots: Vec<_> = lines.iter().map(|l| parse_emf_line(l).unwrap()).collect();
        let value = |remote: &str, name: &str| {
            roots
                .iter()
                .find(|r| r["Remote"] == json!(remote) && r.contains_key(name))
                .map(|r| r[name].as_f64().unwrap())
        };
        assert_eq!(value("Jira", "RemoteRetries"), Some(2.0), "{lines:?}");
        assert_eq!(value("Jira", "RemoteThrottles"), Some(1.0), "{lines:?}");
        assert_eq!(value("SIR", "RemoteThrottles"), Some(1.0), "{lines:?}");
        assert_eq!(value("SIR", "RemoteRetries"), None, "{lines:?}");
    }

    #[tokio::test]
    async fn an_invocation_that_called_jira_writes_the_fewest_days_its_token_had_left() {
        struct Nothing;
        impl RecordMetrics for Nothing {
            fn record_metrics(&self, _metrics: &mut InvocationMetrics) {}
        }
        let outcome: Result<Nothing, std::convert::Infallible> = Ok(Nothing);
        let days_left = |calls: &RemoteCalls| {
            let lines = lines(&of_outcome("f", &outcome, calls));
            let roots: Vec<_> = lines.iter().map(|l| parse_emf_line(l).unwrap()).collect();
            let root = roots
                .iter()
                .find(|r| r.contains_key(names::JIRA_TOKEN_DAYS_LEFT))?;
            let unit = root["_aws"]["CloudWatchMetrics"][0]["Metrics"]
                .as_array()
                .unwrap()
                .iter()
                .find(|m| m["Name"] == json!(names::JIRA_TOKEN_DAYS_LEFT))
                .map(|m| m["Unit"].clone());
            assert_eq!(unit, Some(json!("None")));
            root[names::JIRA_TOKEN_DAYS_LEFT].as_f64()
        };
        let ((), calls) = measure(async {
            note_jira_token_days_left(12);
            note_jira_token_days_left(-1);
            note_jira_token_days_left(12);
        })
        .await;
        assert_eq!(days_left(&calls), Some(-1.0), "an expired token says so");
        let ((), calls) = measure(async { note_retry(Remote::Sir) }).await;
        assert_eq!(
            days_left(&calls),
            None,
            "no request signed, or no date known"
        );
    }

    #[test]
    fn the_lines_carry_the_log_level_lambda_filters_at() {
        assert_eq!(log_level(None), "INFO");
        assert_eq!(log_level(Some("warn")), "WARN");
        assert_eq!(log_level(Some("ERROR")), "ERROR");
        assert_eq!(log_level(Some("loud")), "INFO");
        let mut metrics = InvocationMetrics::new("f");
        metrics.count(names::ITEMS_SYNCED, 1);
        let root = parse_emf_line(&lines(&metrics)[0]).unwrap();
        assert_eq!(
            root["level"],
            json!(log_level(std::env::var(ENV_LOG_LEVEL).ok().as_deref()))
        );
    }

    #[test]
    fn nothing_measured_writes_nothing() {
        assert!(lines(&InvocationMetrics::new("f")).is_empty());
    }

    #[test]
    fn the_checker_refuses_what_cloudwatch_would() {
        let good = r#"{"_aws":{"Timestamp":1,"CloudWatchMetrics":[{"Namespace":"N","Dimensions":[["D"]],"Metrics":[{"Name":"M","Unit":"Count"}]}]},"D":"d","M":1}"#;
        parse_emf_line(good).unwrap();
        for bad in [
            // text around the object
            &format!("INFO {good}"),
            // the dimension's value is not a string
            r#"{"_aws":{"Timestamp":1,"CloudWatchMetrics":[{"Namespace":"N","Dimensions":[["D"]],"Metrics":[{"Name":"M"}]}]},"D":1,"M":1}"#,
            // no value for the metric
            r#"{"_aws":{"Timestamp":1,"CloudWatchMetrics":[{"Namespace":"N","Dimensions":[[]],"Metrics":[{"Name":"M"}]}]}}"#,
            // a unit CloudWatch does not know
            r#"{"_aws":{"Timestamp":1,"CloudWatchMetrics":[{"Namespace":"N","Dimensions":[[]],"Metrics":[{"Name":"M","Unit":"Items"}]}]},"M":1}"#,
            // no timestamp
            r#"{"_aws":{"CloudWatchMetrics":[{"Namespace":"N","Dimensions":[[]],"Metrics":[{"Name":"M"}]}]},"M":1}"#,
        ] {
            assert!(parse_emf_line(bad).is_err(), "{bad}");
        }
    }
}
