//! What an event is, and how the log is queried.

use serde::Serialize;
use time::OffsetDateTime;

/// An event not yet stored.
#[derive(Debug, Clone, PartialEq)]
pub struct NewEvent {
    /// When it happened (not when it was written).
    pub at: OffsetDateTime,
    /// Dotted kind, e.g. `actor.restarted`, `upstream.status`.
    pub kind: String,
    /// The request or run it belongs to.
    pub correlation_id: Option<String>,
    /// Kind-specific payload (`Null` when it came [`printed`](Self::printed)).
    pub data: serde_json::Value,
    /// The payload as JSON text, when its maker printed it from a typed record (the event
    /// writer, for an invocation record or an audit entry): stores write the text as it is,
    /// and it becomes a value only for someone who reads the event ([`Self::stored`],
    /// [`Self::payload`]) — a routed call's events are printed once, never built as maps.
    pub printed: Option<String>,
}

impl NewEvent {
    /// An event of `kind` that happened `at`, its payload printed now from `payload` (a typed
    /// value that serializes to a JSON object), never built as a map of values.
    pub fn printed(
        at: OffsetDateTime,
        kind: impl Into<String>,
        correlation_id: Option<String>,
        payload: &impl serde::Serialize,
    ) -> Self {
        // A struct of strings, numbers and options does not fail to print; were one to, the
        // event still says what it is and when.
        let json = serde_json::to_string(payload).unwrap_or_else(|e| {
            tracing::warn!(error = %e, "an event payload did not print");
            "{}".to_owned()
        });
        Self {
            at,
            kind: kind.into(),
            correlation_id,
            data: serde_json::Value::Null,
            printed: Some(json),
        }
    }

    /// The payload as JSON text, as stores write it.
    pub fn data_text(&self) -> std::borrow::Cow<'_, str> {
        match &self.printed {
            Some(text) => std::borrow::Cow::Borrowed(text),
            None => std::borrow::Cow::Owned(self.data.to_string()),
        }
    }

    /// The payload as a value.
    pub fn payload(&self) -> std::borrow::Cow<'_, serde_json::Value> {
        match &self.printed {
            Some(text) => std::borrow::Cow::Owned(parse_printed(text)),
            None => std::borrow::Cow::Borrowed(&self.data),
        }
    }

    /// `at` as stores keep it: whole milliseconds.
    pub fn stored_at(&self) -> OffsetDateTime {
        let ns = self.at.unix_timestamp_nanos();
        OffsetDateTime::from_unix_timestamp_nanos(ns - ns.rem_euclid(1_000_000)).unwrap_or(self.at)
    }

    /// The stored event, with its id.
    pub fn stored(self, id: i64) -> Event {
        Event {
            id,
            at: self.stored_at(),
            kind: self.kind,
            correlation_id: self.correlation_id,
            data: match self.printed {
                Some(text) => parse_printed(&text),
                None => self.data,
            },
            node: None,
        }
    }
}

/// A printed payload as a value (it was printed by `serde_json`, so it parses; were it not
/// to, the text is kept as a string rather than lost).
fn parse_printed(text: &str) -> serde_json::Value {
    serde_json::from_str(text).unwrap_or_else(|_| serde_json::Value::String(text.to_owned()))
}

/// A new correlation id (a request's, an invocation's): a UUID of version 7, whose first 48
/// bits are the time in milliseconds. Ids made one after another sort one after another, so
/// the event log's correlation index grows at its end (a few pages written per batch) instead
/// of in a random leaf per row, as version 4 ids made it (one 4 KiB page copied into the WAL
/// per event; todo/perf.md, issue 17). Not a secret: it names a request, it grants nothing.
pub fn correlation_id() -> String {
    uuid::Uuid::now_v7().to_string()
}

impl NewEvent {
    /// An event of `kind` happening now.
    pub fn new(kind: impl Into<String>, data: serde_json::Value) -> Self {
        Self {
            at: OffsetDateTime::now_utc(),
            kind: kind.into(),
            correlation_id: None,
            data,
            printed: None,
        }
    }

    /// The same event, belonging to the request or run `id`.
    pub fn correlated(mut self, id: impl Into<String>) -> Self {
        self.correlation_id = Some(id.into());
        self
    }
}

/// Something that stands for one or more events, kept typed until the event writer turns it
/// into them (a routed call's invocation record: its phases become events there, not on the
/// request path).
pub trait Record: Send + 'static {
    /// Appends the events this record stands for to `out`, in the order they happened.
    fn into_events(self: Box<Self>, out: &mut Vec<NewEvent>);
}

/// A stored event.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Event {
    /// Position in the log; increases with every write.
    pub id: i64,
    /// When it happened.
    #[serde(with = "time::serde::rfc3339")]
    pub at: OffsetDateTime,
    /// Dotted kind.
    pub kind: String,
    /// The request or run it belongs to.
    pub correlation_id: Option<String>,
    /// Kind-specific payload.
    #[cfg_attr(feature = "openapi", schema(value_type = Object))]
    pub data: serde_json::Value,
    /// The att node that wrote it, when att runs as a cluster (a shared PostgreSQL store).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub node: Option<String>,
}

/// Which events to return, oldest first: the newest `limit` matching ones — or, with
/// `after_id`, the first `limit` after that id (a page forward, for resuming a stream).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct EventQuery {
    /// Only this kind (exact), or with a trailing `.*`, this kind prefix (`actor.*`).
    pub kind: Option<String>,
    /// Only events of this request or run.
    pub correlation_id: Option<String>,
    /// Only events that happened at or after this instant.
    pub since: Option<OffsetDateTime>,
    /// Only events written after this id, and then the oldest `limit` of them (for resuming
    /// a stream: page forward by passing the last id received).
    pub after_id: Option<i64>,
    /// Only events whose payload has these top-level string fields (`server` = `x`).
    /// Field names are `[a-z_]` only.
    pub data: Vec<(String, String)>,
    /// How many at most (the newest ones, or the oldest after `after_id`).
    pub limit: u32,
    /// Never events of these exact kinds (the audit log, for callers who may not read it).
    pub except_kinds: Vec<String>,
}

impl EventQuery {
    /// Whether a (live) event matches the filters of this query, `limit` aside.
    pub fn matches(&self, e: &Event) -> bool {
        let kind_ok = match self.kind.as_deref() {
            None => true,
            Some(k) => match k.strip_suffix(".*") {
                Some(prefix) => e
                    .kind
                    .strip_prefix(prefix)
                    .is_some_and(|rest| rest.starts_with('.')),
                None => e.kind == k,
            },
        };
        kind_ok
            && self
                .correlation_id
                .as_ref()
                .is_none_or(|c| e.correlation_id.as_ref() == Some(c))
            && !self.except_kinds.contains(&e.kind)
            && self.since.is_none_or(|s| e.at >= s)
            && self.after_id.is_none_or(|a| e.id > a)
            && self
                .data
                .iter()
                .all(|(k, v)| e.data.get(k).and_then(|x| x.as_str()) == Some(v.as_str()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ev(kind: &str) -> Event {
        Event {
            id: 1,
            at: OffsetDateTime::UNIX_EPOCH,
            kind: kind.into(),
            correlation_id: None,
            data: serde_json::Value::Null,
            node: None,
        }
    }

    #[test]
    fn kind_filter_is_exact_or_a_dotted_prefix() {
        let q = |k: &str| EventQuery {
            kind: Some(k.into()),
            ..Default::default()
        };
        assert!(q("actor.restarted").matches(&ev("actor.restarted")));
        assert!(!q("actor").matches(&ev("actor.restarted")));
        assert!(q("actor.*").matches(&ev("actor.restarted")));
        assert!(!q("actor.*").matches(&ev("actors.x")));
        assert!(!q("actor.*").matches(&ev("actor")));
    }
}
