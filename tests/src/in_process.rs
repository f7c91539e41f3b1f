//! The local world without sockets: [`InProcessNet`] answers the production adapters' HTTP
//! (`JiraClient` and `SdkSirClient`'s presigned transfers through [`HttpTransport`], the AWS
//! SDK through its [`HttpClient`]) with the emulators' own routers, called in the caller's task
//! (`tower::ServiceExt::oneshot`), chosen by the request URL's origin.
//!
//! Nothing waits on the OS: under a current-thread runtime with paused time, every wait is a
//! timer, the clock jumps only when every task waits on one, and a run replays exactly. An origin
//! no router serves answers 502 (a harness mistake, named in the body), as a gateway would.

use std::sync::Arc;

use aws_smithy_runtime_api::client::http::{
    HttpClient, HttpConnector, HttpConnectorFuture, HttpConnectorSettings, SharedHttpConnector,
};
use aws_smithy_runtime_api::client::orchestrator::{HttpRequest, HttpResponse};
use aws_smithy_runtime_api::client::result::ConnectorError;
use aws_smithy_runtime_api::client::runtime_components::RuntimeComponents;
use aws_smithy_types::body::SdkBody;
use axum::Router;
use axum::body::Body;
use jira_emulator::JiraEmulator;
use shared::http_transport::HttpTransport;
use sir_emulator::SirEmulator;
use tower::ServiceExt;

/// Origins and the routers that answer them; clones share them.
#[derive(Debug, Clone, Default)]
pub struct InProcessNet {
    hosts: Arc<Vec<(String, Router)>>,
}

impl InProcessNet {
    /// Serves the emulators' origins: the Jira site and its media host, the SIR API and its
    /// presigned URLs.
    pub fn new(jira: &JiraEmulator, sir: Option<&SirEmulator>) -> InProcessNet {
        let mut hosts = jira.routers();
        hosts.extend(sir.map(|sir| (sir.endpoint(), sir.router())));
        InProcessNet {
            hosts: Arc::new(hosts),
        }
    }

    /// Serves only the SIR emulator.
    pub fn sir(sir: &SirEmulator) -> InProcessNet {
        InProcessNet {
            hosts: Arc::new(vec![(sir.endpoint(), sir.router())]),
        }
    }

    /// The answer of the router serving `request`'s origin.
    async fn answer(&self, request: http::Request<Body>) -> http::Response<Body> {
        let origin = origin(request.uri());
        let router = self
            .hosts
            .iter()
            .find(|(host, _)| *host == origin)
            .map(|(_, router)| router.clone());
        match router {
            Some(router) => match router.oneshot(request).await {
                Ok(response) => response,
                Err(infallible) => match infallible {},
            },
            None => http::Response::builder()
                .status(http::StatusCode::BAD_GATEWAY)
                .body(Body::from(format!("no in-process host serves {origin}")))
                .unwrap_or_default(),
        }
    }
}

/// `scheme://host[:port]` of `uri`, spelled as the emulators spell their URLs.
fn origin(uri: &http::Uri) -> String {
    let scheme = uri.scheme_str().unwrap_or("http");
    let host = uri.host().unwrap_or_default();
    match uri.port_u16() {
        Some(port) => format!("{scheme}://{host}:{port}"),
        None => format!("{scheme}://{host}"),
    }
}

#[async_trait::async_trait]
impl HttpTransport for InProcessNet {
    async fn send(&self, request: reqwest::Request) -> reqwest::Result<reqwest::Response> {
        let request = http::Request::<reqwest::Body>::try_from(request)?.map(Body::new);
        let response = self.answer(request).await;
        Ok(reqwest::Response::from(response.map(|body| {
            reqwest::Body::wrap_stream(body.into_data_stream())
        })))
    }
}

impl HttpConnector for InProcessNet {
    fn call(&self, request: HttpRequest) -> HttpConnectorFuture {
        let net = self.clone();
        HttpConnectorFuture::new(async move {
            let request = request
                .try_into_http1x()
                .map_err(|error| ConnectorError::other(error.into(), None))?;
            let (parts, body) = request.into_parts();
            // The SIR API's requests are JSON in memory; a streaming body is not sent.
            let bytes = body
                .bytes()
                .map(bytes::Bytes::copy_from_slice)
                .ok_or_else(|| {
                    ConnectorError::other(
                        "a streaming request body is not sent in process".into(),
                        None,
                    )
                })?;
            let response = net
                .answer(http::Request::from_parts(parts, Body::from(bytes)))
                .await;
            let (parts, body) = response.into_parts();
            let bytes = axum::body::to_bytes(body, usize::MAX)
                .await
                .map_err(|error| ConnectorError::io(error.into()))?;
            HttpResponse::try_from(http::Response::from_parts(parts, SdkBody::from(bytes)))
                .map_err(|error| ConnectorError::other(error.into(), None))
        })
    }
}

impl HttpClient for InProcessNet {
    fn http_connector(
        &self,
        _: &HttpConnectorSettings,
        _: &RuntimeComponents,
    ) -> SharedHttpConnector {
        SharedHttpConnector::new(self.clone())
    }
}

/// Which world a test body runs in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Transport {
    /// The emulators serve on `127.0.0.1`, the adapters use the network.
    Sockets,
    /// The emulators answer in process through [`InProcessNet`].
    InProcess,
}

/// Runs each named `async fn(Transport)` as two tests, `over_sockets::<name>` and
/// `in_process::<name>`: the same body in both worlds.
#[macro_export]
macro_rules! both_transports {
    ($($name:ident),* $(,)?) => {
        mod over_sockets {
            $(
                #[tokio::test]
                async fn $name() {
                    super::$name($crate::in_process::Transport::Sockets).await
                }
            )*
        }
        mod in_process {
            $(
                #[tokio::test]
                async fn $name() {
                    super::$name($crate::in_process::Transport::InProcess).await
                }
            )*
        }
    };
}
