//! Invocation: one `tools/call`, `resources/read` or `prompts/get` routed over the plan's
//! candidates with safe failover (GATEWAY.md, "Invocation").
//!
//! The plan is computed once from the router's snapshot (no mailbox); each candidate's
//! ready connection comes from the ready slot its upstream actor publishes in that snapshot
//! ([`crate::upstream::ready`]), and from the actor's mailbox only when the slot is empty or
//! stale (a cold upstream, a session in the last fifth of its life, a renewal); the call runs
//! in the caller's task with the upstream's deadline, and its outcome is reported back to the
//! upstream actor (a cast: the caller never waits for it). Every step is noted in the call's
//! invocation record ([`crate::invocation`]), which becomes its invocation events (correlated
//! by the request id) in the event writer once the call ends.
//!
//! A candidate at its `max_concurrent` is passed over for the next one; when none is left,
//! the call waits briefly for room on the full ones ([`crate::upstream::gate`]), and is
//! refused as [`Outcome::Busy`] if none frees up.

use std::sync::Arc;
use std::time::{Duration, Instant};

use rmcp::model::JsonObject;
use serde::Serialize;
use time::OffsetDateTime;
use tracing::Instrument;

use rmcp::model::{CompleteRequestParams, Reference};

use crate::answer::Answer;
use crate::clock::Clock;
use crate::directory::ActorDirectory;
use crate::events::EventSink;
use crate::invocation::{InvocationMeter, Recording};
use crate::router::{Plan, RouterHandle, RoutingSnapshot, Target, plan};
use crate::upstream::actor::{UpstreamError, UpstreamHandle};
use crate::upstream::connection::Relay;
use crate::upstream::gate::{QUEUE_WAIT, Slot};
use crate::upstream::ready::{Ready, ReadySlot};
use crate::upstream::{CallFailure, Decision, ErrorCategory, decide};

/// What is being asked for.
#[derive(Debug, Clone, PartialEq)]
pub enum Request {
    /// `tools/call`.
    Tool {
        /// The tool.
        name: String,
        /// Its arguments.
        arguments: Option<JsonObject>,
        /// A 2026-07-28 client's answers to the upstream's `input_required` (boxed: rare).
        resume: Option<Box<crate::upstream::connection::Resume>>,
    },
    /// `resources/read`.
    Resource {
        /// The URI.
        uri: String,
        /// As for [`Request::Tool`].
        resume: Option<Box<crate::upstream::connection::Resume>>,
    },
    /// `prompts/get`.
    Prompt {
        /// The prompt.
        name: String,
        /// Its arguments.
        arguments: Option<JsonObject>,
        /// As for [`Request::Tool`].
        resume: Option<Box<crate::upstream::connection::Resume>>,
    },
    /// `completion/complete`, for a prompt's or a resource template's argument.
    Complete(Box<CompleteRequestParams>),
    /// `resources/subscribe`.
    Subscribe {
        /// The URI.
        uri: String,
    },
    /// `resources/unsubscribe`.
    Unsubscribe {
        /// The URI.
        uri: String,
    },
}

impl Request {
    fn target(&self) -> Target<'_> {
        match self {
            Self::Tool { name, .. } => Target::Tool(name),
            Self::Resource { uri, .. } | Self::Subscribe { uri } | Self::Unsubscribe { uri } => {
                Target::Resource(uri)
            }
            Self::Prompt { name, .. } => Target::Prompt(name),
            // Completion goes to a server that owns the prompt or the resource (template).
            Self::Complete(params) => match &params.r#ref {
                Reference::Prompt(p) => Target::Prompt(&p.name),
                Reference::Resource(r) => Target::Resource(&r.uri),
                // A kind of reference rmcp may add later: no server is known to own it.
                _ => Target::Prompt(""),
            },
        }
    }

    /// What is called: the tool or prompt name, or the resource URI.
    pub fn target_name(&self) -> &str {
        match self.target() {
            Target::Tool(n) | Target::Prompt(n) | Target::Resource(n) => n,
        }
    }

    /// The MCP method.
    pub fn method(&self) -> &'static str {
        match self {
            Self::Complete(_) => "completion/complete",
            Self::Subscribe { .. } => "resources/subscribe",
            Self::Unsubscribe { .. } => "resources/unsubscribe",
            other => other.target().method(),
        }
    }
}

/// One step of an invocation, in execution order.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Attempt {
    /// The upstream.
    pub server: String,
    /// `initialize` or `invoke`.
    pub stage: &'static str,
    /// Whether the step succeeded.
    pub success: bool,
    /// What went wrong.
    pub error: Option<String>,
    /// Its category.
    pub error_category: Option<ErrorCategory>,
    /// How long the step took.
    pub elapsed_ms: u64,
}

/// How an invocation ended.
#[derive(Debug, Clone, PartialEq)]
pub enum Outcome {
    /// A server answered (a tool result with `isError` included).
    Success {
        /// The server that answered.
        server: String,
        /// Its result, typed as rmcp parsed it (boxed: it is much larger than the other
        /// outcomes).
        result: Box<Answer>,
        /// Every step.
        attempts: Vec<Attempt>,
    },
    /// The caller's mistake (method not found, invalid params): it would fail everywhere.
    CallerError {
        /// The server that said so.
        server: String,
        /// JSON-RPC code.
        code: i64,
        /// The upstream's message.
        message: String,
        /// Every step.
        attempts: Vec<Attempt>,
    },
    /// No server offers the name (404).
    Unknown {
        /// Servers whose catalogs were checked.
        checked: Vec<String>,
    },
    /// A non-repeatable call failed ambiguously: it may have taken effect (502).
    OutcomeUnknown {
        /// Every step.
        attempts: Vec<Attempt>,
    },
    /// The servers that could serve it were at their `max_concurrent` for the whole wait,
    /// and any others failed (503; retry in a second).
    Busy {
        /// Each full server and its `max_concurrent`.
        full: Vec<(String, u32)>,
        /// Every step on the others.
        attempts: Vec<Attempt>,
    },
    /// Nothing could serve it now (503).
    Unavailable {
        /// Every step (empty when every window was closed).
        attempts: Vec<Attempt>,
        /// Seconds after which a retry may succeed.
        retry_after: Option<u64>,
    },
}

/// Routes and invokes requests. Cheap to clone.
#[derive(Clone)]
pub struct Invoker {
    directory: ActorDirectory,
    router: RouterHandle,
    events: Arc<dyn EventSink>,
    clock: Arc<dyn Clock>,
    ready_budget: Duration,
    meter: Option<Arc<dyn InvocationMeter>>,
}

impl Invoker {
    /// An invoker over this instance's router and upstream actors. `ready_budget` bounds the
    /// wait for a handshake (it should exceed every upstream's `init_timeout`).
    pub fn new(
        directory: ActorDirectory,
        router: RouterHandle,
        events: Arc<dyn EventSink>,
        clock: Arc<dyn Clock>,
        ready_budget: Duration,
    ) -> Self {
        Self {
            directory,
            router,
            events,
            clock,
            ready_budget,
            meter: None,
        }
    }

    /// This invoker, with every finished invocation's record shown to `meter` in the event
    /// writer (the call metrics).
    #[must_use]
    pub fn with_meter(mut self, meter: Arc<dyn InvocationMeter>) -> Self {
        self.meter = Some(meter);
        self
    }

    /// Invokes `request`, preferring `preferred` servers, as request `request_id`.
    pub async fn invoke(
        &self,
        request: &Request,
        preferred: &[String],
        request_id: &str,
    ) -> Outcome {
        self.invoke_on(request, preferred, None, None, request_id)
            .await
    }

    /// [`Self::invoke`], restricted to the server `only` when given (a collision variant of
    /// the federated catalog belongs to one server), on behalf of `relay`'s client when given
    /// (the upstream's progress and log messages during a tool call go to it).
    pub async fn invoke_on(
        &self,
        request: &Request,
        preferred: &[String],
        only: Option<&str>,
        relay: Option<&Relay>,
        request_id: &str,
    ) -> Outcome {
        let snapshot = self.router.snapshot();
        let candidates = match candidates(&snapshot, request, preferred, only, self.clock.now()) {
            Ok(c) => c,
            Err(outcome) => return outcome,
        };
        let method = request.method();
        let mut record = Recording::new(
            &*self.events,
            self.meter.as_ref(),
            method,
            request_id,
            request.target_name(),
        );
        let mut attempts = Vec::new();
        let planned_count = candidates.len();
        let mut passed_over = 0;
        // Calls made upstream so far, for the `attempt` of each call's span.
        let mut calls_made = 0u32;
        let mut queue = candidates.into_iter();
        // A candidate whose session had expired is tried once more, on a new session.
        let (mut again, mut renewed) = (None, None);
        // Candidates found at their `max_concurrent`; once the others are done, the call
        // waits for room on them once (`granted`: where it got some).
        let (mut full, mut waited, mut granted) = (Vec::<usize>::new(), false, None);
        loop {
            let index = match again.take().or_else(|| queue.next()) {
                Some(index) => index,
                None if !waited && !full.is_empty() => {
                    waited = true;
                    let Some((index, room)) = wait_for_room(&snapshot, &full).await else {
                        break;
                    };
                    full.retain(|i| *i != index);
                    granted = Some((index, room));
                    index
                }
                None => break,
            };
            let server = snapshot.servers[index].name.clone();
            let _room: Slot = match granted.take() {
                Some((i, room)) if i == index => room,
                _ => match snapshot.servers[index].gate.try_enter() {
                    Some(room) => room,
                    None => {
                        if !full.contains(&index) {
                            full.push(index);
                        }
                        continue;
                    }
                },
            };
            let upstream = UpstreamHandle::new(self.directory.clone(), &server);
            let slot = &snapshot.servers[index].ready;

            let t0 = Instant::now();
            let renewal = renewed == Some(index);
            let ready = match self.ready(slot, &upstream, request_id, renewal).await {
                Ok(r) => r,
                Err(failure) => {
                    record.note(&server, "initialize_start", None);
                    record.note(&server, "initialize_failure", Some(&failure));
                    attempts.push(attempt(&server, "initialize", Some(&failure), t0));
                    continue;
                }
            };
            if !ready.reused {
                record.note(&server, "initialize_start", None);
                record.note(&server, "initialize_success", None);
                attempts.push(attempt(&server, "initialize", None, t0));
            }
            // A server planned before its catalog was known may not offer the name at all:
            // its catalog, fetched with the handshake, says so, and it is passed over.
            if lacks(&ready, request) && snapshot.is_uncatalogued(index) {
                passed_over += 1;
                continue;
            }

            record.note(&server, "invoke_start", None);
            let t0 = Instant::now();
            calls_made += 1;
            let span = call_span(&server, request, calls_made);
            // Boxed: the upstream call is most of this future's size (17 KiB inline), which
            // every future above it, up to the HTTP handler's, would otherwise hold and copy
            // as it is built and moved (memcpy was 9% of att's instructions per call).
            let (result, safe) =
                Box::pin(call(&ready, request, relay).instrument(span.clone())).await;
            match &result {
                Ok(_) => span.record("outcome", "success"),
                Err(failure) => span
                    .record("outcome", "failure")
                    .record("error_category", category_name(failure.category()).as_str())
                    .record("error", failure.message().as_str()),
            };
            drop(span);
            match result {
                Ok(result) => {
                    record.note(&server, "invoke_success", None);
                    upstream.served(request_id, &ready);
                    attempts.push(attempt(&server, "invoke", None, t0));
                    return Outcome::Success {
                        server,
                        result: Box::new(result),
                        attempts,
                    };
                }
                Err(failure) => {
                    record.note(&server, "invoke_failure", Some(&failure));
                    if !failure.is_caller_error() {
                        // The actor drops this session when it handles the report; until
                        // then no caller may be handed it again from the slot.
                        slot.retire(ready.generation);
                        // The first success after this one's failure is told at once.
                        ready.proof.reopen();
                    }
                    upstream.report(
                        Some(request_id.to_owned()),
                        ready.generation,
                        Err(failure.clone()),
                    );
                    attempts.push(attempt(&server, "invoke", Some(&failure), t0));
                    if matches!(failure, CallFailure::SessionExpired) && !renewal {
                        // The report above dropped the session; the actor handles it before
                        // the next `ensure_ready` (one mailbox, in order), which opens a new one.
                        renewed = Some(index);
                        again = Some(index);
                        continue;
                    }
                    match (decide(&failure, safe), failure) {
                        (Decision::CallerError, CallFailure::Rpc { code, message }) => {
                            return Outcome::CallerError {
                                server,
                                code,
                                message,
                                attempts,
                            };
                        }
                        (Decision::OutcomeUnknown, _) => {
                            return Outcome::OutcomeUnknown { attempts };
                        }
                        _ => {}
                    }
                }
            }
        }
        if !full.is_empty() {
            let full = full
                .iter()
                .map(|&i| {
                    let s = &snapshot.servers[i];
                    s.gate.note_refused();
                    record.note(&s.name, "busy", None);
                    (s.name.clone(), s.gate.max().unwrap_or(0))
                })
                .collect();
            return Outcome::Busy { full, attempts };
        }
        // Nobody offers it after all: every candidate's catalog, once known, lacks it.
        if passed_over == planned_count && passed_over > 0 {
            let fresh = self.router.snapshot();
            if plan(&fresh, request.target(), preferred, self.clock.now()).is_unknown() {
                return Outcome::Unknown {
                    checked: fresh.servers.iter().map(|s| s.name.clone()).collect(),
                };
            }
        }
        self.unavailable(attempts).await
    }

    /// A ready session on `upstream`: the one its actor published in `slot` while it is
    /// fresh, else (or for a `renewal`, whose expired session must not come back) the
    /// actor's answer, handshaking first if needed.
    async fn ready(
        &self,
        slot: &ReadySlot,
        upstream: &UpstreamHandle,
        request_id: &str,
        renewal: bool,
    ) -> Result<Ready, CallFailure> {
        if !renewal && let Some(ready) = slot.get(self.clock.now()) {
            return Ok(ready);
        }
        upstream
            .ensure_ready(Some(request_id.to_owned()), false, self.ready_budget)
            .await
            .map_err(|e| match e {
                UpstreamError::Failed(f) => f,
                UpstreamError::Mailbox(m) => CallFailure::NotSent {
                    message: m.to_string(),
                    category: ErrorCategory::InitializeError,
                },
            })
    }

    /// Every candidate failed: tell the caller when a window opens again. Reports are
    /// asynchronous; asking each tried server for its state waits for them (one mailbox, in
    /// order), so the windows they just opened count.
    async fn unavailable(&self, attempts: Vec<Attempt>) -> Outcome {
        let mut windows = Vec::new();
        let mut tried: Vec<&str> = attempts.iter().map(|a| a.server.as_str()).collect();
        tried.dedup();
        for server in tried {
            let upstream = UpstreamHandle::new(self.directory.clone(), server);
            if let Ok(st) = upstream.status().await {
                windows.extend(st.health.next_retry_at);
            }
        }
        let now = self.clock.now();
        let retry_after = windows
            .into_iter()
            .chain(
                self.router
                    .snapshot()
                    .servers
                    .iter()
                    .filter_map(|s| s.next_retry_at),
            )
            .filter(|t| *t > now)
            .min()
            .map(|t| seconds_until(t, now))
            // Nothing is waiting on a window (say, sessions that expired): soon.
            .or(Some(1));
        Outcome::Unavailable {
            attempts,
            retry_after,
        }
    }
}

/// Room on one of the `full` candidates (the first to free a slot), waiting at most
/// [`QUEUE_WAIT`].
async fn wait_for_room(snapshot: &RoutingSnapshot, full: &[usize]) -> Option<(usize, Slot)> {
    let waits = full.iter().map(|&i| {
        let gate = snapshot.servers[i].gate.clone();
        Box::pin(async move {
            match gate.enter_within(QUEUE_WAIT).await {
                Some(room) => Ok((i, room)),
                None => Err(()),
            }
        })
    });
    futures_util::future::select_ok(waits)
        .await
        .ok()
        .map(|(got, _)| got)
}

/// The plan's candidates for `request` (only `only`'s, when given), or the outcome when
/// there are none: unknown, or unavailable until a window opens.
fn candidates(
    snapshot: &RoutingSnapshot,
    request: &Request,
    preferred: &[String],
    only: Option<&str>,
    now: OffsetDateTime,
) -> Result<Vec<usize>, Outcome> {
    match plan(snapshot, request.target(), preferred, now) {
        Plan::Candidates(mut c) if only.is_some() => {
            c.retain(|i| Some(snapshot.servers[*i].name.as_str()) == only);
            if c.is_empty() {
                let retry_at = snapshot
                    .servers
                    .iter()
                    .find(|s| Some(s.name.as_str()) == only)
                    .and_then(|s| s.next_retry_at);
                return Err(Outcome::Unavailable {
                    attempts: Vec::new(),
                    retry_after: Some(retry_at.map_or(1, |t| seconds_until(t, now))),
                });
            }
            Ok(c)
        }
        Plan::Candidates(c) => Ok(c),
        Plan::Unknown { checked } => Err(Outcome::Unknown { checked }),
        Plan::Unavailable { retry_at } => Err(Outcome::Unavailable {
            attempts: Vec::new(),
            retry_after: retry_at.map(|t| seconds_until(t, now)),
        }),
    }
}

/// Whether `ready`'s catalog (fetched with its handshake) says the server lacks the name.
fn lacks(ready: &Ready, request: &Request) -> bool {
    ready.catalog.as_ref().is_some_and(|c| match request {
        Request::Tool { name, .. } => !c.has_tool(name),
        Request::Prompt { name, .. } => !c.has_prompt(name),
        _ => false,
    })
}

/// Makes `request` on `ready`'s session with its deadline; with the result, whether the
/// request is safe to repeat on another server after an ambiguous failure.
async fn call(
    ready: &Ready,
    request: &Request,
    relay: Option<&Relay>,
) -> (Result<Answer, CallFailure>, bool) {
    let (connection, deadline) = (&ready.connection, ready.call_timeout);
    match request {
        Request::Tool {
            name,
            arguments,
            resume,
        } => (
            connection
                .call_tool_for(name, arguments.clone(), resume.as_deref(), deadline, relay)
                .await,
            ready.tool_is_repeatable(name),
        ),
        Request::Resource { uri, resume } => (
            connection
                .read_resource(uri, resume.as_deref(), deadline, relay)
                .await,
            true,
        ),
        Request::Prompt {
            name,
            arguments,
            resume,
        } => (
            connection
                .get_prompt(name, arguments.clone(), resume.as_deref(), deadline, relay)
                .await,
            true,
        ),
        Request::Complete(params) => (
            connection
                .complete((**params).clone(), deadline, relay)
                .await
                .map(Answer::Complete),
            true,
        ),
        Request::Subscribe { uri } => (
            connection
                .subscribe(uri, deadline)
                .await
                .map(|()| Answer::Empty),
            true,
        ),
        Request::Unsubscribe { uri } => (
            connection
                .unsubscribe(uri, deadline)
                .await
                .map(|()| Answer::Empty),
            true,
        ),
    }
}

/// The span of one call upstream: the server, the MCP method, the tool (prompt, resource)
/// it names, which call of the invocation it is; the outcome and the error's category are
/// recorded when it ends. The trace context upstream is this span's
/// (`connection::propagate`).
fn call_span(server: &str, request: &Request, attempt: u32) -> tracing::Span {
    let target = match request.target() {
        Target::Tool(n) | Target::Prompt(n) | Target::Resource(n) => n,
    };
    tracing::info_span!(
        "upstream_call",
        server,
        method = request.method(),
        tool = target,
        attempt,
        outcome = tracing::field::Empty,
        error_category = tracing::field::Empty,
        error = tracing::field::Empty,
    )
}

/// `transport_error`, `timeout` …: the category as the API spells it.
fn category_name(category: ErrorCategory) -> String {
    serde_json::to_value(category)
        .ok()
        .and_then(|v| v.as_str().map(str::to_owned))
        .unwrap_or_default()
}

fn seconds_until(t: OffsetDateTime, now: OffsetDateTime) -> u64 {
    let secs = (t - now).as_seconds_f64().ceil();
    if secs.is_finite() && secs > 1.0 {
        secs as u64
    } else {
        1
    }
}

fn attempt(
    server: &str,
    stage: &'static str,
    failure: Option<&CallFailure>,
    t0: Instant,
) -> Attempt {
    Attempt {
        server: server.to_owned(),
        stage,
        success: failure.is_none(),
        error: failure.map(CallFailure::message),
        error_category: failure.map(CallFailure::category),
        elapsed_ms: u64::try_from(t0.elapsed().as_millis()).unwrap_or(u64::MAX),
    }
}
