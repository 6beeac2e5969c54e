//! OTLP's protobuf wire format for traces, written by hand: the few messages att sends
//! (`ExportTraceServiceRequest` → `ResourceSpans` → `ScopeSpans` → `Span`, with `KeyValue`
//! attributes and a `Status`) are a page of field numbers, where a protobuf code generator
//! would be a build-time dependency for the same bytes.
//!
//! Field numbers are those of `opentelemetry/proto/trace/v1/trace.proto` and
//! `common/v1/common.proto` (v1, stable). The test collector of the integration tests decodes
//! what this writes with the `opentelemetry-proto` crate's generated types, so a wrong number
//! fails there.

use super::otlp_spans::{AttrValue, FinishedSpan};

/// The resource att's spans belong to.
#[derive(Clone, Debug)]
pub struct Resource {
    /// `service.name`.
    pub service_name: String,
    /// `service.version`.
    pub service_version: &'static str,
}

/// The instrumentation scope named on att's spans.
const SCOPE: &str = "att";

/// An `ExportTraceServiceRequest` holding `spans`, all of `resource`.
pub fn encode_export(resource: &Resource, spans: &[FinishedSpan]) -> Vec<u8> {
    let mut scope_spans = Vec::with_capacity(spans.len() * 160);
    message(&mut scope_spans, 1, |m| string(m, 1, SCOPE));
    for span in spans {
        message(&mut scope_spans, 2, |m| encode_span(m, span));
    }
    let mut resource_spans = Vec::with_capacity(scope_spans.len() + 64);
    message(&mut resource_spans, 1, |m| {
        key_value(
            m,
            1,
            "service.name",
            &AttrValue::Str(resource.service_name.clone()),
        );
        key_value(
            m,
            1,
            "service.version",
            &AttrValue::Str(resource.service_version.to_owned()),
        );
    });
    bytes(&mut resource_spans, 2, &scope_spans);
    let mut out = Vec::with_capacity(resource_spans.len() + 8);
    bytes(&mut out, 1, &resource_spans);
    out
}

fn encode_span(out: &mut Vec<u8>, span: &FinishedSpan) {
    bytes(out, 1, &span.trace_id);
    bytes(out, 2, &span.span_id);
    if let Some(state) = &span.trace_state {
        string(out, 3, &state.0);
    }
    if let Some(parent) = &span.parent_span_id {
        bytes(out, 4, parent);
    }
    string(out, 5, span.name);
    varint_field(out, 6, span.kind as u64);
    fixed64(out, 7, span.start_unix_nano);
    fixed64(out, 8, span.end_unix_nano);
    for (key, value) in &span.attributes {
        key_value(out, 9, key, value);
    }
    // Status: code 2 is ERROR; OK is left unset (UNSET), as OpenTelemetry advises.
    if let Some(error) = &span.error {
        message(out, 15, |m| {
            string(m, 2, error);
            varint_field(m, 3, 2);
        });
    }
    // Flags: the W3C trace flags in the low byte.
    fixed32(out, 16, u32::from(span.flags));
}

fn key_value(out: &mut Vec<u8>, field: u32, key: &str, value: &AttrValue) {
    message(out, field, |kv| {
        string(kv, 1, key);
        message(kv, 2, |any| match value {
            AttrValue::Str(s) => string(any, 1, s),
            AttrValue::Bool(b) => varint_field(any, 2, u64::from(*b)),
            // int64 is written as its two's complement, ten bytes when negative.
            AttrValue::Int(i) => varint_field(any, 3, *i as u64),
            AttrValue::Double(d) => {
                tag(any, 4, 1);
                any.extend_from_slice(&d.to_le_bytes());
            }
        });
    });
}

fn tag(out: &mut Vec<u8>, field: u32, wire_type: u8) {
    varint(out, (u64::from(field) << 3) | u64::from(wire_type));
}

fn varint(out: &mut Vec<u8>, mut n: u64) {
    while n >= 0x80 {
        out.push((n as u8) | 0x80);
        n >>= 7;
    }
    out.push(n as u8);
}

fn varint_field(out: &mut Vec<u8>, field: u32, n: u64) {
    tag(out, field, 0);
    varint(out, n);
}

fn fixed64(out: &mut Vec<u8>, field: u32, n: u64) {
    tag(out, field, 1);
    out.extend_from_slice(&n.to_le_bytes());
}

fn fixed32(out: &mut Vec<u8>, field: u32, n: u32) {
    tag(out, field, 5);
    out.extend_from_slice(&n.to_le_bytes());
}

fn bytes(out: &mut Vec<u8>, field: u32, b: &[u8]) {
    tag(out, field, 2);
    varint(out, b.len() as u64);
    out.extend_from_slice(b);
}

fn string(out: &mut Vec<u8>, field: u32, s: &str) {
    bytes(out, field, s.as_bytes());
}

/// A nested message: written to a scratch buffer, then length-prefixed.
fn message(out: &mut Vec<u8>, field: u32, write: impl FnOnce(&mut Vec<u8>)) {
    let mut inner = Vec::new();
    write(&mut inner);
    bytes(out, field, &inner);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn varints_are_little_endian_base_128() {
        let table: [(u64, &[u8]); 5] = [
            (0, &[0]),
            (1, &[1]),
            (127, &[0x7f]),
            (300, &[0xac, 0x02]),
            (
                u64::MAX,
                &[0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01],
            ),
        ];
        for (n, want) in table {
            let mut out = Vec::new();
            varint(&mut out, n);
            assert_eq!(out, want, "{n}");
        }
    }

    #[test]
    fn a_string_field_is_tag_length_bytes() {
        let mut out = Vec::new();
        string(&mut out, 5, "http");
        assert_eq!(out, [0x2a, 4, b'h', b't', b't', b'p']);
    }
}
