//! Trace context on every request att makes upstream: the current span's `traceparent` (and
//! the trace's `tracestate`) goes into the request's `params._meta` — which every transport
//! carries, stdio included — and, on the HTTP transports, into the headers of the POST that
//! carries it.
//!
//! rmcp sends a request from its transport worker, outside the caller's span, and takes its
//! headers from the transport's configuration, fixed per session. So the context is written
//! into `_meta` where the caller's span is current ([`stamp`], from `exchange`), and
//! [`TracedHttp`] — the streamable-HTTP client att gives rmcp — copies it from the message
//! into the POST's headers ([`headers_of`]; the legacy SSE poster does the same). With no
//! telemetry installed [`stamp`] writes nothing and the headers stay as they were.

use std::collections::HashMap;
use std::sync::Arc;

use futures_util::stream::BoxStream;
use reqwest::header::{HeaderName, HeaderValue};
use rmcp::model::{ClientJsonRpcMessage, ClientRequest, GetMeta, JsonRpcMessage};
use rmcp::transport::streamable_http_client::{
    SseError, StreamableHttpClient, StreamableHttpError, StreamableHttpPostResponse,
    StreamableHttpResponseLimits,
};

const TRACEPARENT: HeaderName = HeaderName::from_static("traceparent");
const TRACESTATE: HeaderName = HeaderName::from_static("tracestate");

/// Writes the current span's context into `request`'s `_meta`, when there is one.
pub(super) fn stamp(request: &mut ClientRequest) {
    let Some(context) = att_runtime::trace_context::current() else {
        return;
    };
    let meta = request.get_meta_mut();
    meta.set_traceparent(context.parent.to_string());
    if let Some(state) = context.state {
        meta.set_tracestate(state.0.to_string());
    }
}

/// The `traceparent` and `tracestate` headers for `message`: what its `_meta` carries, when
/// it is a request and that is valid.
pub(super) fn headers_of(message: &ClientJsonRpcMessage) -> Vec<(HeaderName, HeaderValue)> {
    let JsonRpcMessage::Request(request) = message else {
        return Vec::new();
    };
    let meta = request.request.get_meta();
    let mut headers = Vec::with_capacity(2);
    if let Some(value) = meta
        .get_traceparent()
        .and_then(|v| HeaderValue::from_str(v).ok())
    {
        headers.push((TRACEPARENT, value));
        if let Some(value) = meta
            .get_tracestate()
            .and_then(|v| HeaderValue::from_str(v).ok())
        {
            headers.push((TRACESTATE, value));
        }
    }
    headers
}

/// att's streamable-HTTP client: reqwest's, plus each request's trace context as headers.
/// It also notes the session's route (its URL, session id and headers) when rmcp posts
/// `notifications/initialized`, for the warm requests att makes itself ([`super::direct`]).
#[derive(Clone)]
pub(super) struct TracedHttp(
    pub(super) reqwest::Client,
    pub(super) Arc<std::sync::OnceLock<super::direct::Route>>,
);

impl StreamableHttpClient for TracedHttp {
    type Error = reqwest::Error;

    async fn post_message(
        &self,
        uri: Arc<str>,
        message: ClientJsonRpcMessage,
        session_id: Option<Arc<str>>,
        auth_header: Option<String>,
        custom_headers: HashMap<HeaderName, HeaderValue>,
    ) -> Result<StreamableHttpPostResponse, StreamableHttpError<Self::Error>> {
        self.post_message_with_response_limits(
            uri,
            message,
            session_id,
            auth_header,
            custom_headers,
            StreamableHttpResponseLimits::default(),
        )
        .await
    }

    async fn post_message_with_max_sse_event_size(
        &self,
        uri: Arc<str>,
        message: ClientJsonRpcMessage,
        session_id: Option<Arc<str>>,
        auth_header: Option<String>,
        custom_headers: HashMap<HeaderName, HeaderValue>,
        max_sse_event_size: usize,
    ) -> Result<StreamableHttpPostResponse, StreamableHttpError<Self::Error>> {
        let mut limits = StreamableHttpResponseLimits::default();
        limits.max_sse_event_size = max_sse_event_size;
        self.post_message_with_response_limits(
            uri,
            message,
            session_id,
            auth_header,
            custom_headers,
            limits,
        )
        .await
    }

    async fn post_message_with_response_limits(
        &self,
        uri: Arc<str>,
        message: ClientJsonRpcMessage,
        session_id: Option<Arc<str>>,
        auth_header: Option<String>,
        mut custom_headers: HashMap<HeaderName, HeaderValue>,
        limits: StreamableHttpResponseLimits,
    ) -> Result<StreamableHttpPostResponse, StreamableHttpError<Self::Error>> {
        if let Some(session) = &session_id
            && super::direct::opens_route(&message)
            && let Some(route) =
                super::direct::Route::new(&uri, session, auth_header.as_deref(), &custom_headers)
        {
            let _ = self.1.set(route);
        }
        custom_headers.extend(headers_of(&message));
        self.0
            .post_message_with_response_limits(
                uri,
                message,
                session_id,
                auth_header,
                custom_headers,
                limits,
            )
            .await
    }

    async fn delete_session(
        &self,
        uri: Arc<str>,
        session_id: Arc<str>,
        auth_header: Option<String>,
        custom_headers: HashMap<HeaderName, HeaderValue>,
    ) -> Result<(), StreamableHttpError<Self::Error>> {
        self.0
            .delete_session(uri, session_id, auth_header, custom_headers)
            .await
    }

    async fn get_stream(
        &self,
        uri: Arc<str>,
        session_id: Option<Arc<str>>,
        last_event_id: Option<String>,
        auth_header: Option<String>,
        custom_headers: HashMap<HeaderName, HeaderValue>,
    ) -> Result<
        BoxStream<'static, Result<sse_stream::Sse, SseError>>,
        StreamableHttpError<Self::Error>,
    > {
        self.0
            .get_stream(uri, session_id, last_event_id, auth_header, custom_headers)
            .await
    }

    async fn get_stream_with_max_sse_event_size(
        &self,
        uri: Arc<str>,
        session_id: Option<Arc<str>>,
        last_event_id: Option<String>,
        auth_header: Option<String>,
        custom_headers: HashMap<HeaderName, HeaderValue>,
        max_sse_event_size: usize,
    ) -> Result<
        BoxStream<'static, Result<sse_stream::Sse, SseError>>,
        StreamableHttpError<Self::Error>,
    > {
        self.0
            .get_stream_with_max_sse_event_size(
                uri,
                session_id,
                last_event_id,
                auth_header,
                custom_headers,
                max_sse_event_size,
            )
            .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rmcp::model::{CallToolRequest, CallToolRequestParams, JsonRpcRequest, RequestId};

    fn message(meta: &[(&str, &str)]) -> ClientJsonRpcMessage {
        let mut request = ClientRequest::CallToolRequest(CallToolRequest::new(
            CallToolRequestParams::new("echo"),
        ));
        for (k, v) in meta {
            request
                .get_meta_mut()
                .insert((*k).to_owned(), serde_json::Value::String((*v).to_owned()));
        }
        JsonRpcMessage::Request(JsonRpcRequest::new(RequestId::Number(1), request))
    }

    #[test]
    fn a_request_s_trace_context_becomes_its_headers() {
        let tp = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01";
        type Pairs<'a> = Vec<(&'a str, &'a str)>;
        let table: [(&[(&str, &str)], Pairs); 4] = [
            (&[], vec![]),
            (&[("traceparent", tp)], vec![("traceparent", tp)]),
            (
                &[("traceparent", tp), ("tracestate", "a=1")],
                vec![("traceparent", tp), ("tracestate", "a=1")],
            ),
            // No state without a parent; a value no header may carry is left out.
            (
                &[("tracestate", "a=1"), ("traceparent", "bad\nvalue")],
                vec![],
            ),
        ];
        for (meta, want) in table {
            let got = headers_of(&message(meta));
            let got: Vec<(&str, &str)> = got
                .iter()
                .map(|(k, v)| (k.as_str(), v.to_str().unwrap_or("?")))
                .collect();
            assert_eq!(got, want, "{meta:?}");
        }
    }
}
