//! The mapping document (status and field mapping, SSM `…/statusMapping`) kept up to date
//! without a cold start: read again once older than the TTL (`CONFIG_TTL_SECONDS`), at the
//! start of an event. A document that does not parse keeps the last good mapping: the sync goes
//! on as before, the error is logged and counted (`ConfigRejected`, with its alarm), rather than
//! every event failing. A read SSM refuses keeps it too.

use std::sync::{Arc, RwLock};
use std::time::Duration;

use crate::clock::Instant;

use crate::config::ParameterNames;
use crate::error::Result;

/// Where the document is read again, and how often.
#[derive(Debug, Clone)]
pub struct MappingSource {
    ssm: aws_sdk_ssm::Client,
    names: ParameterNames,
    ttl: Duration,
}

impl MappingSource {
    pub fn new(ssm: aws_sdk_ssm::Client, names: ParameterNames, ttl: Duration) -> Self {
        MappingSource { ssm, names, ttl }
    }
}

#[derive(Debug)]
struct State<T> {
    value: Arc<T>,
    /// The document `value` was parsed from (`None`: not read from SSM yet, or no parameter).
    raw: Option<Option<String>>,
    read_at: Instant,
}

/// A mapping parsed from the document, kept up to date (see the module docs).
#[derive(Debug)]
pub struct LiveMapping<T> {
    source: Option<MappingSource>,
    parse: fn(Option<&str>) -> Result<T>,
    state: RwLock<State<T>>,
    /// One read at a time: concurrent events of a warm container do not each read SSM.
    reading: tokio::sync::Mutex<()>,
}

impl<T> LiveMapping<T> {
    /// `value`, never read again (tests, and a handler built without SSM).
    pub fn fixed(value: T) -> Self {
        LiveMapping {
            source: None,
            parse: |_| {
                Err(crate::Error::InvalidConfig {
                    name: "mapping".into(),
                    reason: "not read again".into(),
                })
            },
            state: RwLock::new(State {
                value: Arc::new(value),
                raw: None,
                read_at: Instant::now(),
            }),
            reading: tokio::sync::Mutex::new(()),
        }
    }

    /// `value` (as read at the cold start), read again from `source` with `parse` (the
    /// document, `None` when the parameter does not exist).
    pub fn from_ssm(value: T, source: MappingSource, parse: fn(Option<&str>) -> Result<T>) -> Self {
        LiveMapping {
            source: Some(source),
            parse,
            ..LiveMapping::fixed(value)
        }
    }

    /// The mapping in use.
    pub fn current(&self) -> Arc<T> {
        Arc::clone(&self.read().value)
    }

    fn read(&self) -> std::sync::RwLockReadGuard<'_, State<T>> {
        self.state
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn write(&self) -> std::sync::RwLockWriteGuard<'_, State<T>> {
        self.state
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Reads the document again when the one in use is older than the TTL (see the module
    /// docs). Never fails: what cannot be read or parsed keeps the mapping in use.
    pub async fn refresh(&self) {
        let Some(source) = &self.source else {
            return;
        };
        if self.read().read_at.elapsed() < source.ttl {
            return;
        }
        let _reading = self.reading.lock().await;
        if self.read().read_at.elapsed() < source.ttl {
            return;
        }
        let name = source.names.status_mapping();
        let raw = match crate::config::mapping_document(&source.ssm, &source.names).await {
            Ok(raw) => raw,
            Err(error) => {
                tracing::warn!(
                    parameter = name,
                    error = &error as &dyn std::error::Error,
                    "could not read the mapping document again; going on with the one in use"
                );
                self.write().read_at = Instant::now();
                return;
            }
        };
        if self.read().raw.as_ref() == Some(&raw) {
            self.write().read_at = Instant::now();
            return;
        }
        match (self.parse)(raw.as_deref()) {
            Ok(value) => {
                if self.read().raw.is_some() {
                    tracing::info!(
                        parameter = name,
                        "the mapping document changed: using the new one"
                    );
                }
                *self.write() = State {
                    value: Arc::new(value),
                    raw: Some(raw),
                    read_at: Instant::now(),
                };
            }
            Err(error) => {
                crate::metrics::note_config_rejected();
                tracing::error!(
                    parameter = name,
                    error = &error as &dyn std::error::Error,
                    "the mapping document in SSM does not parse: the last good mapping stays in use until it is fixed (./deploy.sh --status-mapping / --field-mapping)"
                );
                self.write().read_at = Instant::now();
            }
        }
    }
}
