//! The `tracing` layer that turns att's spans into OpenTelemetry spans: ids when a span
//! opens, its fields as attributes, and the finished span handed to the exporter's bounded
//! queue when it closes.
//!
//! Only the spans named in [`EXPORTED`] are kept — one per HTTP request, actor message,
//! upstream call and release phase — each nested under the nearest kept ancestor, exactly as
//! the `tracing` spans nest (the actor spans under their sender's, through ractor's
//! `message_span_propogation`). A span that opens with a valid `traceparent` field (the HTTP
//! request span, from the caller's header) continues the caller's trace; its `tracestate`
//! rides along to every span below it. A field named `error` makes the span's status
//! `ERROR` with that message; every other field is an attribute.
//!
//! Closing a span never waits: the queue is bounded and a span that finds it full is dropped
//! and counted ([`super::otlp_export`]). [`current`] gives the trace context of the current
//! span to the upstream calls, which put it in `_meta` and `traceparent` headers.

use std::time::{SystemTime, UNIX_EPOCH};

use att_runtime::trace_context::{Propagated, TraceParent, TraceState};
use tracing::field::{Field, Visit};
use tracing::span::{Attributes, Id, Record};
use tracing::{Metadata, Subscriber};
use tracing_subscriber::Registry;
use tracing_subscriber::layer::Context;
use tracing_subscriber::registry::LookupSpan;

use super::otlp_export::SpanQueue;

/// OTLP's span kinds att uses.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SpanKind {
    /// Work inside att (an actor message, a release phase).
    Internal = 1,
    /// A request att answers.
    Server = 2,
    /// A request att makes.
    Client = 3,
}

/// The spans exported, by name, with their kind. Everything else (rmcp's, sqlx's spans) is
/// left to the logs.
pub const EXPORTED: [(&str, SpanKind); 4] = [
    ("http", SpanKind::Server),
    ("actor_message", SpanKind::Internal),
    ("upstream_call", SpanKind::Client),
    ("release_phase", SpanKind::Internal),
];

/// Whether a span with `metadata` is exported (the layer's filter).
pub fn is_exported(metadata: &Metadata<'_>) -> bool {
    metadata.is_span() && EXPORTED.iter().any(|(name, _)| *name == metadata.name())
}

/// An attribute's value.
#[derive(Clone, Debug, PartialEq)]
pub enum AttrValue {
    /// Text (what `%` and `?` fields become too).
    Str(String),
    /// A signed integer (unsigned ones that fit).
    Int(i64),
    /// A boolean.
    Bool(bool),
    /// A floating-point number.
    Double(f64),
}

/// A finished span, as the exporter encodes it.
#[derive(Clone, Debug)]
pub struct FinishedSpan {
    /// Its trace.
    pub trace_id: [u8; 16],
    /// Its id.
    pub span_id: [u8; 8],
    /// Its parent, in att or in the caller.
    pub parent_span_id: Option<[u8; 8]>,
    /// The trace's vendor state.
    pub trace_state: Option<TraceState>,
    /// W3C trace flags.
    pub flags: u8,
    /// The span's name (one of [`EXPORTED`]).
    pub name: &'static str,
    /// Its kind.
    pub kind: SpanKind,
    /// When it opened and closed, in nanoseconds since the Unix epoch.
    pub start_unix_nano: u64,
    /// See `start_unix_nano`.
    pub end_unix_nano: u64,
    /// Its fields.
    pub attributes: Vec<(&'static str, AttrValue)>,
    /// Set when it failed: why.
    pub error: Option<String>,
}

/// What the layer keeps in an open span's extensions.
struct OpenSpan {
    span: FinishedSpan,
}

/// The layer: spans in, finished spans to the queue.
pub struct OtlpLayer {
    queue: SpanQueue,
}

impl OtlpLayer {
    /// A layer handing finished spans to `queue`; installs [`current`] as the context
    /// upstream calls propagate.
    pub fn new(queue: SpanQueue) -> Self {
        att_runtime::trace_context::install_current(current);
        Self { queue }
    }
}

fn now_unix_nano() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_nanos()).unwrap_or(u64::MAX))
}

impl<S> tracing_subscriber::Layer<S> for OtlpLayer
where
    S: Subscriber + for<'a> LookupSpan<'a>,
{
    fn on_new_span(&self, attrs: &Attributes<'_>, id: &Id, ctx: Context<'_, S>) {
        let Some(span) = ctx.span(id) else {
            return;
        };
        let mut fields = Fields::default();
        attrs.record(&mut fields);
        let inherited = span.parent().and_then(|parent| {
            parent.extensions().get::<OpenSpan>().map(|o| {
                (
                    o.span.trace_id,
                    o.span.span_id,
                    o.span.trace_state.clone(),
                    o.span.flags,
                )
            })
        });
        let (trace_id, parent_span_id, trace_state, flags) = match (fields.remote, inherited) {
            // A caller's context wins only where att has none: the request's own span.
            (Some(remote), None) => (
                remote.trace_id,
                Some(remote.span_id),
                fields.state.take(),
                remote.flags,
            ),
            (_, Some((trace, parent, state, flags))) => (trace, Some(parent), state, flags),
            (None, None) => (ids::trace_id(), None, None, 1),
        };
        let name = attrs.metadata().name();
        let kind = EXPORTED
            .iter()
            .find(|(n, _)| *n == name)
            .map_or(SpanKind::Internal, |(_, k)| *k);
        let open = OpenSpan {
            span: FinishedSpan {
                trace_id,
                span_id: ids::span_id(),
                parent_span_id,
                trace_state,
                flags,
                name,
                kind,
                start_unix_nano: now_unix_nano(),
                end_unix_nano: 0,
                attributes: fields.attributes,
                error: fields.error,
            },
        };
        span.extensions_mut().insert(open);
    }

    fn on_record(&self, id: &Id, values: &Record<'_>, ctx: Context<'_, S>) {
        let Some(span) = ctx.span(id) else {
            return;
        };
        let mut fields = Fields::default();
        values.record(&mut fields);
        let mut extensions = span.extensions_mut();
        let Some(open) = extensions.get_mut::<OpenSpan>() else {
            return;
        };
        for (key, value) in fields.attributes {
            match open.span.attributes.iter_mut().find(|(k, _)| *k == key) {
                Some(slot) => slot.1 = value,
                None => open.span.attributes.push((key, value)),
            }
        }
        if fields.error.is_some() {
            open.span.error = fields.error;
        }
    }

    fn on_close(&self, id: Id, ctx: Context<'_, S>) {
        let Some(span) = ctx.span(&id) else {
            return;
        };
        let Some(open) = span.extensions_mut().remove::<OpenSpan>() else {
            return;
        };
        let mut finished = open.span;
        finished.end_unix_nano = now_unix_nano();
        self.queue.offer(finished);
    }
}

/// The trace context of the current span: the innermost exported span among those entered.
pub fn current() -> Option<Propagated> {
    tracing::dispatcher::get_default(|dispatch| {
        let registry = dispatch.downcast_ref::<Registry>()?;
        let id = dispatch.current_span().id()?.clone();
        let span = registry.span(&id)?;
        span.scope().find_map(|s| {
            s.extensions().get::<OpenSpan>().map(|o| Propagated {
                parent: TraceParent {
                    trace_id: o.span.trace_id,
                    span_id: o.span.span_id,
                    flags: o.span.flags,
                },
                state: o.span.trace_state.clone(),
            })
        })
    })
}

/// A span's fields: the caller's context, the error, the rest as attributes.
#[derive(Default)]
struct Fields {
    remote: Option<TraceParent>,
    state: Option<TraceState>,
    error: Option<String>,
    attributes: Vec<(&'static str, AttrValue)>,
}

impl Fields {
    fn put(&mut self, field: &Field, value: AttrValue) {
        match (field.name(), value) {
            ("traceparent", AttrValue::Str(v)) => self.remote = TraceParent::parse(&v),
            ("tracestate", AttrValue::Str(v)) => self.state = TraceState::parse(&v),
            ("error", AttrValue::Str(v)) => self.error = Some(v),
            (name, value) => self.attributes.push((name, value)),
        }
    }
}

impl Visit for Fields {
    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        self.put(field, AttrValue::Str(format!("{value:?}")));
    }
    fn record_str(&mut self, field: &Field, value: &str) {
        self.put(field, AttrValue::Str(value.to_owned()));
    }
    fn record_i64(&mut self, field: &Field, value: i64) {
        self.put(field, AttrValue::Int(value));
    }
    fn record_u64(&mut self, field: &Field, value: u64) {
        let value =
            i64::try_from(value).map_or_else(|_| AttrValue::Str(value.to_string()), AttrValue::Int);
        self.put(field, value);
    }
    fn record_bool(&mut self, field: &Field, value: bool) {
        self.put(field, AttrValue::Bool(value));
    }
    fn record_f64(&mut self, field: &Field, value: f64) {
        self.put(field, AttrValue::Double(value));
    }
    fn record_error(&mut self, field: &Field, value: &(dyn std::error::Error + 'static)) {
        self.put(field, AttrValue::Str(value.to_string()));
    }
}

/// Random span and trace ids: a per-thread SplitMix64 seeded from the OS once, so a span
/// costs no system call.
mod ids {
    use std::cell::Cell;

    thread_local! {
        static STATE: Cell<u64> = Cell::new(seed());
    }

    fn seed() -> u64 {
        let mut bytes = [0u8; 8];
        if getrandom::fill(&mut bytes).is_err() {
            // No OS randomness: ids stay unique enough from the clock and the thread.
            let nanos = super::now_unix_nano();
            let thread = std::thread::current().id();
            let mixed = nanos ^ (format!("{thread:?}").len() as u64).rotate_left(32);
            bytes = mixed.to_le_bytes();
        }
        u64::from_le_bytes(bytes)
    }

    fn next() -> u64 {
        STATE.with(|s| {
            let x = s.get().wrapping_add(0x9e37_79b9_7f4a_7c15);
            s.set(x);
            let mut z = x;
            z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
            z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
            z ^ (z >> 31)
        })
    }

    /// A span id, never all zero.
    pub fn span_id() -> [u8; 8] {
        loop {
            let n = next();
            if n != 0 {
                return n.to_be_bytes();
            }
        }
    }

    /// A trace id, never all zero.
    pub fn trace_id() -> [u8; 16] {
        let mut id = [0u8; 16];
        id[..8].copy_from_slice(&next().to_be_bytes());
        id[8..].copy_from_slice(&span_id());
        id
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tracing_subscriber::layer::SubscriberExt;

    fn collect(work: impl FnOnce()) -> Vec<FinishedSpan> {
        let (queue, mut rx) = SpanQueue::new(64);
        let subscriber = Registry::default().with(tracing_subscriber::Layer::with_filter(
            OtlpLayer::new(queue),
            tracing_subscriber::filter::filter_fn(is_exported),
        ));
        tracing::subscriber::with_default(subscriber, work);
        let mut spans = Vec::new();
        while let Ok(s) = rx.try_recv() {
            spans.push(s);
        }
        spans
    }

    #[test]
    fn spans_nest_through_unexported_ones_and_keep_a_caller_s_trace() {
        let caller = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01";
        let mut seen = None;
        let spans = collect(|| {
            let http = tracing::info_span!(
                "http",
                traceparent = caller,
                tracestate = "k=v",
                route = tracing::field::Empty
            );
            let _h = http.enter();
            http.record("route", "/mcp");
            // A span the layer does not export sits between.
            let other = tracing::info_span!("rmcp_thing");
            let _o = other.enter();
            let call = tracing::info_span!("upstream_call", server = "one", attempt = 1u64);
            let _c = call.enter();
            seen = current();
        });
        let by_name = |n: &str| spans.iter().find(|s| s.name == n).expect(n);
        let (http, call) = (by_name("http"), by_name("upstream_call"));
        assert_eq!(spans.len(), 2, "only exported spans: {spans:?}");
        let caller = TraceParent::parse(caller).expect("valid");
        assert_eq!(http.trace_id, caller.trace_id);
        assert_eq!(http.parent_span_id, Some(caller.span_id));
        assert_eq!(http.kind, SpanKind::Server);
        assert_eq!(
            http.attributes,
            vec![("route", AttrValue::Str("/mcp".into()))]
        );
        assert_eq!(call.trace_id, caller.trace_id);
        assert_eq!(call.parent_span_id, Some(http.span_id));
        assert_eq!(call.trace_state.as_ref().map(|s| &*s.0), Some("k=v"));
        let seen = seen.expect("a current context");
        assert_eq!(seen.parent.span_id, call.span_id);
        assert_eq!(seen.parent.trace_id, caller.trace_id);
    }

    #[test]
    fn a_garbage_traceparent_starts_a_trace_of_att_s_own() {
        let spans = collect(|| {
            let _h = tracing::info_span!("http", traceparent = "00-zz").entered();
        });
        assert_eq!(spans.len(), 1);
        assert_eq!(spans[0].parent_span_id, None);
        assert_ne!(spans[0].trace_id, [0; 16]);
    }

    #[test]
    fn an_error_field_is_the_span_s_status_not_an_attribute() {
        let spans = collect(|| {
            let span = tracing::info_span!("upstream_call", error = tracing::field::Empty);
            span.record("error", "the upstream went away");
        });
        assert_eq!(spans[0].error.as_deref(), Some("the upstream went away"));
        assert!(spans[0].attributes.is_empty());
    }
}
