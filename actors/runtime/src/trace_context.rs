//! W3C Trace Context: the `traceparent` (and `tracestate`) att takes from a caller and hands
//! to the upstreams it calls, so one trace runs through a client, att and its upstreams.
//!
//! [`TraceParent::parse`] is the only reader of a caller's header: anything that is not a
//! valid `traceparent` (wrong length, upper-case hex, an all-zero id, version `ff`) is `None`
//! and the request simply starts a trace of its own — a caller's garbage is never an error.
//! [`TraceState::parse`] keeps a `tracestate` only when it is short and printable.
//!
//! Which span is "current" is known to the telemetry layer of the `att` crate, not here (this
//! crate knows nothing of subscribers). That layer installs a reader once with
//! [`install_current`]; [`current`] asks it. With no exporter configured nothing is installed
//! and [`current`] costs one atomic load: no ids are made and nothing is propagated.

use std::fmt;
use std::sync::{Arc, OnceLock};

/// A span's place in a trace, as `traceparent` carries it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct TraceParent {
    /// The trace (16 bytes, never all zero).
    pub trace_id: [u8; 16],
    /// The span that is the parent of the receiver's span (8 bytes, never all zero).
    pub span_id: [u8; 8],
    /// Trace flags (bit 0: sampled).
    pub flags: u8,
}

/// The vendor entries of a `tracestate` header, passed on unchanged.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TraceState(pub Arc<str>);

/// The context a request made now should carry: the current span's `traceparent` and the
/// trace's `tracestate`, if any.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Propagated {
    /// The current span.
    pub parent: TraceParent,
    /// The trace's vendor state.
    pub state: Option<TraceState>,
}

/// The longest `tracestate` kept (W3C: 32 entries; 512 characters is what a receiver must
/// accept at least). A longer one is dropped, not cut.
pub const MAX_TRACESTATE: usize = 512;

impl TraceParent {
    /// Reads a `traceparent` header value; `None` for anything invalid.
    pub fn parse(value: &str) -> Option<Self> {
        let value = value.trim_matches([' ', '\t']);
        let bytes = value.as_bytes();
        if bytes.len() < 55 {
            return None;
        }
        let version = hex_byte(&bytes[0..2])?;
        // Version 00 is exactly 55 characters; a later version may add fields after a `-`.
        let sized = match version {
            0xff => false,
            0x00 => bytes.len() == 55,
            _ => bytes.len() == 55 || bytes[55] == b'-',
        };
        if !sized || bytes[2] != b'-' || bytes[35] != b'-' || bytes[52] != b'-' {
            return None;
        }
        let mut trace_id = [0u8; 16];
        for (i, b) in trace_id.iter_mut().enumerate() {
            *b = hex_byte(&bytes[3 + 2 * i..5 + 2 * i])?;
        }
        let mut span_id = [0u8; 8];
        for (i, b) in span_id.iter_mut().enumerate() {
            *b = hex_byte(&bytes[36 + 2 * i..38 + 2 * i])?;
        }
        let flags = hex_byte(&bytes[53..55])?;
        if trace_id == [0; 16] || span_id == [0; 8] {
            return None;
        }
        Some(Self {
            trace_id,
            span_id,
            flags,
        })
    }
}

impl fmt::Display for TraceParent {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("00-")?;
        for b in self.trace_id {
            write!(f, "{b:02x}")?;
        }
        f.write_str("-")?;
        for b in self.span_id {
            write!(f, "{b:02x}")?;
        }
        write!(f, "-{:02x}", self.flags)
    }
}

impl TraceState {
    /// Reads a `tracestate` header value: kept when non-empty, at most [`MAX_TRACESTATE`]
    /// characters and printable ASCII (what a header may carry); `None` otherwise.
    pub fn parse(value: &str) -> Option<Self> {
        let value = value.trim_matches([' ', '\t']);
        let printable = value.bytes().all(|b| (0x20..0x7f).contains(&b));
        (!value.is_empty() && value.len() <= MAX_TRACESTATE && printable)
            .then(|| Self(Arc::from(value)))
    }
}

/// Lower-case hex only: W3C forbids upper case in `traceparent`.
fn hex_byte(pair: &[u8]) -> Option<u8> {
    let digit = |c: u8| match c {
        b'0'..=b'9' => Some(c - b'0'),
        b'a'..=b'f' => Some(c - b'a' + 10),
        _ => None,
    };
    Some(digit(pair[0])? << 4 | digit(pair[1])?)
}

static CURRENT: OnceLock<fn() -> Option<Propagated>> = OnceLock::new();

/// Installs the reader of the current span's context (the telemetry layer does, once).
/// Later calls are ignored.
pub fn install_current(reader: fn() -> Option<Propagated>) {
    let _ = CURRENT.set(reader);
}

/// The context of the current span, when a telemetry layer is installed and a span of it is
/// current.
pub fn current() -> Option<Propagated> {
    CURRENT.get().and_then(|reader| reader())
}

#[cfg(test)]
mod tests {
    use super::*;

    const GOOD: &str = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01";

    #[test]
    fn a_valid_traceparent_is_read_and_written_back_unchanged() {
        let parent = TraceParent::parse(GOOD).expect("valid");
        assert_eq!(
            parent.span_id,
            [0xb7, 0xad, 0x6b, 0x71, 0x69, 0x20, 0x33, 0x31]
        );
        assert_eq!(parent.trace_id[0], 0x0a);
        assert_eq!(parent.flags, 1);
        assert_eq!(parent.to_string(), GOOD);
    }

    #[test]
    fn garbage_traceparents_are_ignored() {
        let table = [
            "",
            "garbage",
            "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331",
            // upper-case hex
            "00-0AF7651916CD43DD8448EB211C80319C-b7ad6b7169203331-01",
            // all-zero trace id, all-zero span id
            "00-00000000000000000000000000000000-b7ad6b7169203331-01",
            "00-0af7651916cd43dd8448eb211c80319c-0000000000000000-01",
            // version ff is invalid; version 00 has no trailing fields
            "ff-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01",
            "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01-extra",
            // wrong separators, non-hex, multi-byte characters
            "00_0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01",
            "00-0af7651916cd43dd8448eb211c80319g-b7ad6b7169203331-01",
            "00-0af7651916cd43dd8448eb211c8031é-b7ad6b7169203331-01",
        ];
        for value in table {
            assert_eq!(TraceParent::parse(value), None, "{value:?}");
        }
    }

    #[test]
    fn a_later_version_may_carry_more_fields() {
        let later = "01-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01-what-comes";
        let parent = TraceParent::parse(later).expect("valid");
        // Written back as the version att speaks.
        assert_eq!(parent.to_string(), GOOD);
    }

    #[test]
    fn a_tracestate_is_kept_only_when_short_and_printable() {
        assert_eq!(
            TraceState::parse("congo=t61rcWkgMzE").map(|s| s.0.to_string()),
            Some("congo=t61rcWkgMzE".to_owned())
        );
        assert_eq!(TraceState::parse(""), None);
        assert_eq!(TraceState::parse("a=\u{7}"), None);
        assert_eq!(TraceState::parse(&"a".repeat(MAX_TRACESTATE + 1)), None);
    }
}
