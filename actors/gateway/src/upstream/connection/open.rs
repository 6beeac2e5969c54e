//! Opening a session: the transport (streamable HTTP, legacy HTTP+SSE, or a stdio child),
//! the handshake within `init_timeout` (`initialize`, or once more with `server/discover`
//! for a server that speaks only 2026-07-28: [`super::era`]), what it established, and the
//! re-subscription of what att's clients hold. The HTTP client and headers of both HTTP transports are built
//! in [`http_client`] alone, the one place where their settings (TLS, headers) belong; the
//! rmcp streamable HTTP options in [`http_transport`].

use super::*;

/// Opens a session with `spec`'s server and performs the handshake within its
/// `init_timeout`. List-change notifications go to `notices`.
pub async fn connect(
    spec: &UpstreamSpec,
    notices: mpsc::UnboundedSender<Notice>,
) -> Result<Connection, CallFailure> {
    connect_with(spec, notices, Arc::default()).await
}

/// [`connect`] for an att instance whose clients hold `subscriptions`: the session
/// subscribes to what its server holds, and the server's resource updates are published
/// there.
pub async fn connect_with(
    spec: &UpstreamSpec,
    notices: mpsc::UnboundedSender<Notice>,
    subscriptions: Arc<Subscriptions>,
) -> Result<Connection, CallFailure> {
    match connect_or_refused(spec, notices, subscriptions).await {
        Err(failure) if unexplained_https(&failure) => {
            let url = match &spec.transport {
                Transport::Http { url, .. } | Transport::Sse { url, .. } => url.as_str(),
                _ => "",
            };
            if super::super::tls::asks_for_client_certificate(url, spec.tls.as_ref()).await {
                let why = super::super::tls::asks::REQUIRED;
                Err(not_sent(
                    format!("initialize failed: {why}"),
                    ErrorCategory::Tls,
                ))
            } else {
                Err(failure)
            }
        }
        other => other,
    }
}

/// A failure to reach a server that names no cause att recognises (the TLS 1.3
/// post-handshake refusal of a missing client certificate looks like this).
fn unexplained_https(failure: &CallFailure) -> bool {
    matches!(failure, CallFailure::NotSent { category, .. } if *category == ErrorCategory::TransportError)
}

/// [`connect_with`] without the client-certificate diagnosis.
async fn connect_or_refused(
    spec: &UpstreamSpec,
    notices: mpsc::UnboundedSender<Notice>,
    subscriptions: Arc<Subscriptions>,
) -> Result<Connection, CallFailure> {
    let started = tokio::time::Instant::now();
    let first = open(
        spec,
        notices.clone(),
        subscriptions.clone(),
        super::era::first(),
        spec.init_timeout,
    )
    .await;
    match first {
        Ok(connection) => Ok(connection),
        Err(Refused {
            failure,
            retry: Some(lifecycle),
        }) => {
            tracing::info!(
                upstream = %spec.name,
                refusal = %failure.message(),
                "the server refused `initialize` for newer protocol versions: opening with `server/discover`"
            );
            // One deadline for both attempts.
            let left = spec.init_timeout.saturating_sub(started.elapsed());
            open(spec, notices, subscriptions, lifecycle, left)
                .await
                .map_err(|r| r.failure)
        }
        Err(refused) => Err(refused.failure),
    }
}

/// A handshake that did not complete: why, and the lifecycle to try instead when the server
/// refused `initialize` for speaking only newer versions ([`super::era::after_refusal`]).
pub(super) struct Refused {
    failure: CallFailure,
    retry: Option<ClientLifecycleMode>,
}

impl From<CallFailure> for Refused {
    fn from(failure: CallFailure) -> Self {
        Self {
            failure,
            retry: None,
        }
    }
}

/// Opens a session with `lifecycle` within `deadline`.
async fn open(
    spec: &UpstreamSpec,
    notices: mpsc::UnboundedSender<Notice>,
    subscriptions: Arc<Subscriptions>,
    lifecycle: ClientLifecycleMode,
    deadline: Duration,
) -> Result<Connection, Refused> {
    let parts = TapParts {
        subscriptions: subscriptions.clone(),
        ..TapParts::default()
    };
    let relays = parts.relays.clone();
    let handler = AttClient {
        notices: notices.clone(),
        relays: relays.clone(),
    };
    let child = Arc::new(ChildWatch::default());
    let tap = |inner| parts.tap(inner);
    let mut direct = None;
    let (service, http, process) = match &spec.transport {
        Transport::Http { url, headers } => {
            let bearer = match &spec.oauth {
                Some(o) => Some(oauth_token(spec, o).await?),
                None => None,
            };
            let http = http_transport(spec, url, headers, bearer)?;
            let (inbox, taken) = mpsc::channel(super::direct::INBOX);
            let transport = tap(http.transport).with_inbox(taken);
            direct = Some(super::direct::Direct::new(
                http.client,
                http.route,
                inbox,
                parts.clone(),
            ));
            let serve = handler.serve_with_lifecycle(transport, lifecycle);
            let opened = handshake(serve, deadline, true).await;
            if let (Err(_), Some(o)) = (&opened, &spec.oauth) {
                // The token may have been revoked: the next attempt fetches another.
                super::super::oauth::forget(o);
            }
            (opened?, true, None)
        }
        Transport::Sse { url, headers } => {
            // One deadline for the stream's `endpoint` event and the handshake after it.
            let started = tokio::time::Instant::now();
            let bearer = match &spec.oauth {
                Some(o) => Some(oauth_token(spec, o).await?),
                None => None,
            };
            let (client, headers) = http_client(spec, headers, bearer)?;
            let opened = super::sse::open(
                &spec.name,
                client,
                url,
                headers,
                deadline,
                spec.call_timeout,
            )
            .await;
            if let (Err(_), Some(o)) = (&opened, &spec.oauth) {
                // The token may have been revoked: the next attempt fetches another.
                super::super::oauth::forget(o);
            }
            let transport = opened?;
            let left = deadline.saturating_sub(started.elapsed());
            let transport = parts.tap(transport);
            let serve = handler.serve_with_lifecycle(transport, lifecycle);
            let opened = handshake(serve, left, true).await;
            if let (Err(_), Some(o)) = (&opened, &spec.oauth) {
                super::super::oauth::forget(o);
            }
            (opened?, true, None)
        }
        Transport::Stdio {
            command,
            args,
            env,
            cwd,
        } => {
            let mut cmd = tokio::process::Command::new(command);
            cmd.args(args).envs(env);
            if let Some(dir) = cwd {
                cmd.current_dir(dir);
            }
            let (service, pid, group) =
                open_stdio(cmd, command, (handler, lifecycle), &child, &parts, deadline).await?;
            (service, false, Some((pid, group)))
        }
    };
    service
        .peer()
        .set_response_cache_config(ClientCacheConfig::disabled())
        .await;
    let mut connection = Connection {
        handshake: established(&service),
        service,
        http,
        process,
        child,
        relays,
        handed: parts.handed.clone(),
        listening: None,
        direct,
    };
    follow_up(&mut connection, spec, notices, &subscriptions).await;
    Ok(connection)
}

/// What a new session needs before use. One of the handshake era holds nothing upstream: it
/// subscribes again to what the clients hold here (`resources/subscribe`). One of 2026-07-28
/// has no `resources/subscribe`: its list changes and the updates of what the clients hold
/// come on a `subscriptions/listen` stream of att's own ([`super::listen`]).
async fn follow_up(
    connection: &mut Connection,
    spec: &UpstreamSpec,
    notices: mpsc::UnboundedSender<Notice>,
    subscriptions: &Subscriptions,
) {
    if connection.per_request() {
        connection.listening = Some(super::listen::Listening::start(
            spec.name.clone(),
            connection.peer(),
            connection.handshake.capabilities.clone(),
            notices,
            subscriptions.held_on(&spec.name),
        ));
        return;
    }
    for uri in subscriptions.held_on(&spec.name) {
        if let Err(e) = connection.subscribe(&uri, spec.call_timeout).await {
            tracing::warn!(upstream = %spec.name, %uri, error = %e.message(), "re-subscribing failed");
        }
    }
}

/// The HTTP client of `spec`'s TLS settings ([`super::super::tls::http_client`]: one shared
/// per distinct `tls` table), the operator's `headers` and the `oauth` table's `bearer`
/// token, for either HTTP transport.
fn http_client(
    spec: &UpstreamSpec,
    headers: &std::collections::BTreeMap<String, String>,
    bearer: Option<String>,
) -> Result<(reqwest::Client, reqwest::header::HeaderMap), CallFailure> {
    let mut map = reqwest::header::HeaderMap::with_capacity(headers.len() + 1);
    if let Some(token) = bearer {
        let value =
            reqwest::header::HeaderValue::from_str(&format!("Bearer {token}")).map_err(|_| {
                not_sent(
                    "the OAuth token is not a valid header value".into(),
                    ErrorCategory::InitializeError,
                )
            })?;
        map.insert(reqwest::header::AUTHORIZATION, value);
    }
    for (k, v) in headers {
        let name = reqwest::header::HeaderName::from_bytes(k.as_bytes())
            .map_err(|e| not_sent(format!("header `{k}`: {e}"), ErrorCategory::InitializeError))?;
        let value = reqwest::header::HeaderValue::from_str(v)
            .map_err(|e| not_sent(format!("header `{k}`: {e}"), ErrorCategory::InitializeError))?;
        map.insert(name, value);
    }
    let client = super::super::tls::http_client(&spec.name, spec.tls.as_ref())
        .map_err(|e| not_sent(e.to_string(), ErrorCategory::Tls))?;
    Ok((client, map))
}

/// A streamable-HTTP session's transport, and what att's own requests on it need.
struct HttpParts {
    transport: StreamableHttpClientTransport<super::propagate::TracedHttp>,
    /// The transport's HTTP client.
    client: reqwest::Client,
    /// The session's route, noted by the transport once the session is initialized.
    route: Arc<std::sync::OnceLock<super::direct::Route>>,
}

/// The rmcp streamable-HTTP client transport for `spec`'s URL with the operator's headers
/// ([`http_client`]), no silent re-initialize on an expired session, bounded SSE reconnects;
/// with its HTTP client and the route it notes once initialized ([`super::direct`]).
fn http_transport(
    spec: &UpstreamSpec,
    url: &str,
    headers: &std::collections::BTreeMap<String, String>,
    bearer: Option<String>,
) -> Result<HttpParts, CallFailure> {
    let (client, headers) = http_client(spec, headers, bearer)?;
    let route = Arc::new(std::sync::OnceLock::new());
    let map: HashMap<_, _> = headers
        .into_iter()
        .filter_map(|(k, v)| Some((k?, v)))
        .collect();
    let mut retry = ExponentialBackoff::default();
    retry.max_times = Some(3);
    retry.max_delay = Some(Duration::from_secs(5));
    let mut config = StreamableHttpClientTransportConfig::with_uri(url.to_owned())
        .custom_headers(map)
        .reinit_on_expired_session(false);
    config.retry_config = Arc::new(retry);
    let transport = StreamableHttpClientTransport::with_client(
        super::propagate::TracedHttp(client.clone(), route.clone()),
        config,
    );
    Ok(HttpParts {
        transport,
        client,
        route,
    })
}

/// The bearer token of `spec`'s `oauth` table, valid for at least a session's life, fetched
/// with the default HTTP client (the platform's roots).
async fn oauth_token(
    spec: &UpstreamSpec,
    o: &super::super::oauth::ClientCredentials,
) -> Result<String, CallFailure> {
    let client = super::super::tls::http_client(&spec.name, None)
        .map_err(|e| not_sent(e.to_string(), ErrorCategory::Tls))?;
    super::super::oauth::bearer(o, &client, spec.max_init_age)
        .await
        .map_err(|why| not_sent(why, ErrorCategory::InitializeError))
}

/// Starts `cmd` (`command` names it in errors) as a stdio child and handshakes over its
/// pipes with the lifecycle given beside the handler (resource updates it sends are
/// published in `subscriptions`). The child's group guard lives in this future until the
/// handshake succeeds: a failed handshake, or this future dropped mid-handshake, kills the
/// child.
async fn open_stdio(
    cmd: tokio::process::Command,
    command: &str,
    (handler, lifecycle): (AttClient, ClientLifecycleMode),
    child: &Arc<ChildWatch>,
    parts: &TapParts,
    deadline: Duration,
) -> Result<
    (
        RunningService<RoleClient, AttClient>,
        u32,
        crate::process::GroupGuard,
    ),
    Refused,
> {
    let Spawned {
        pid,
        group,
        stdout,
        stdin,
    } = spawn_child(cmd, child.clone(), handler.notices.clone()).map_err(|e| {
        not_sent(
            format!("cannot start `{command}`: {e}"),
            ErrorCategory::TransportError,
        )
    })?;
    let transport = parts.tap(rmcp::transport::IntoTransport::<
        RoleClient,
        std::io::Error,
        rmcp::transport::async_rw::TransportAdapterAsyncRW,
    >::into_transport((stdout, stdin)));
    match handshake(
        handler.serve_with_lifecycle(transport, lifecycle),
        deadline,
        false,
    )
    .await
    {
        Ok(service) => Ok((service, pid, group)),
        Err(Refused { failure, retry }) => {
            drop(group);
            Err(Refused {
                failure: died(failure, pid, child).await,
                retry,
            })
        }
    }
}

/// What the handshake established, as the registry shows it.
fn established(service: &RunningService<RoleClient, AttClient>) -> Handshake {
    let info = service.peer().peer_info();
    Handshake {
        protocol_version: info
            .as_ref()
            .map(|i| i.protocol_version.to_string())
            .unwrap_or_default(),
        server_info: info
            .as_ref()
            .and_then(|i| serde_json::to_value(&i.server_info).ok())
            .unwrap_or(Value::Null),
        capabilities: info
            .as_ref()
            .and_then(|i| serde_json::to_value(&i.capabilities).ok())
            .unwrap_or(Value::Null),
        captured_at: OffsetDateTime::now_utc(),
    }
}

pub(super) async fn handshake<F, E>(
    serve: F,
    deadline: Duration,
    http: bool,
) -> Result<RunningService<RoleClient, AttClient>, Refused>
where
    F: Future<Output = Result<RunningService<RoleClient, AttClient>, E>>,
    E: std::error::Error + 'static,
{
    let opened = tokio::time::timeout(deadline, serve).await;
    let retry = match &opened {
        Ok(Err(e)) => super::era::after_refusal(e),
        _ => None,
    };
    let failure = match opened {
        Ok(Ok(service)) => return Ok(service),
        Ok(Err(e)) if let Some(why) = super::super::tls::diagnose(&e) => {
            not_sent(format!("initialize failed: {why}"), ErrorCategory::Tls)
        }
        Ok(Err(e)) => {
            let text = e.to_string();
            let category = if text.contains("JSON-RPC") || text.contains("json-rpc") {
                ErrorCategory::RpcError
            } else if http || text.contains("transport") || text.contains("closed") {
                ErrorCategory::TransportError
            } else {
                ErrorCategory::InitializeError
            };
            not_sent(format!("initialize failed: {text}"), category)
        }
        Err(_) => not_sent(
            format!(
                "did not answer initialize within {} ms",
                deadline.as_millis()
            ),
            ErrorCategory::NetworkTimeout,
        ),
    };
    Err(Refused { failure, retry })
}

pub(super) fn not_sent(message: String, category: ErrorCategory) -> CallFailure {
    CallFailure::NotSent { message, category }
}
