//! Server-sent events read from a byte stream, with a bound on each event's size.
//!
//! The parser follows the WHATWG event-stream rules that matter to MCP: lines end in LF,
//! CR LF or CR (a CR at a chunk's end waits for the next chunk's LF); a blank line dispatches
//! the event; `event:` names it (`message` when absent); `data:` lines are joined with LF;
//! one space after the colon is dropped; `:` lines are comments; `id:` sets the last event id
//! (taken at the next dispatch, even of an event without data, as a stream resumed with
//! `Last-Event-ID` needs), `retry:` with digits only sets the reconnection delay; unknown
//! fields are ignored, never an error — a server's odd line must not end a session. An event
//! (its pending line included) over the limit is an error: without the bound, a server that
//! never sends a blank line would grow att's memory until it runs out. Pure: bytes in,
//! events out, so it is table-tested without a network.

/// One dispatched event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Event {
    /// The `event:` field, `message` when the server gave none.
    pub name: String,
    /// The `data:` lines joined with LF.
    pub data: String,
}

/// An event (with its pending line) grew past the limit.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("an event exceeded {limit} bytes")]
pub(crate) struct TooLarge {
    /// The limit, in bytes.
    pub limit: usize,
}

/// The parser's state between chunks.
#[derive(Debug)]
pub(crate) struct EventReader {
    limit: usize,
    line: Vec<u8>,
    after_cr: bool,
    name: Option<String>,
    data: Option<String>,
    id_buffer: Option<String>,
    last_id: Option<String>,
    retry_ms: Option<u64>,
}

impl EventReader {
    /// A reader refusing events over `limit` bytes.
    pub(crate) fn new(limit: usize) -> Self {
        Self {
            limit,
            line: Vec::new(),
            after_cr: false,
            name: None,
            data: None,
            id_buffer: None,
            last_id: None,
            retry_ms: None,
        }
    }

    /// The id of the last event dispatched (`None` before any, or after an empty `id:`).
    pub(crate) fn last_id(&self) -> Option<&str> {
        self.last_id.as_deref()
    }

    /// Reads a new stream of the same source (one resumed with `Last-Event-ID`): what the
    /// old one left unfinished is dropped; the last event id and the retry delay stay.
    pub(crate) fn next_stream(&mut self) {
        self.line.clear();
        self.after_cr = false;
        self.name = None;
        self.data = None;
        self.id_buffer = self.last_id.clone();
    }

    /// The reconnection delay the server last asked for with `retry:`, in milliseconds.
    pub(crate) fn retry_ms(&self) -> Option<u64> {
        self.retry_ms
    }

    /// Feeds `chunk`; every event it completes is pushed onto `out`, in order.
    pub(crate) fn feed(&mut self, chunk: &[u8], out: &mut Vec<Event>) -> Result<(), TooLarge> {
        let mut rest = chunk;
        if self.after_cr {
            self.after_cr = false;
            rest = rest.strip_prefix(b"\n").unwrap_or(rest);
        }
        while let Some(end) = rest.iter().position(|b| matches!(b, b'\n' | b'\r')) {
            self.line.extend_from_slice(&rest[..end]);
            self.check()?;
            let line = std::mem::take(&mut self.line);
            self.on_line(&line, out);
            self.line = line;
            self.line.clear();
            if rest[end] == b'\r' {
                match rest.get(end + 1) {
                    Some(b'\n') => rest = &rest[end + 2..],
                    Some(_) => rest = &rest[end + 1..],
                    None => {
                        self.after_cr = true;
                        rest = &[];
                    }
                }
            } else {
                rest = &rest[end + 1..];
            }
        }
        self.line.extend_from_slice(rest);
        self.check()
    }

    fn size(&self) -> usize {
        self.line.len()
            + self.data.as_ref().map_or(0, String::len)
            + self.name.as_ref().map_or(0, String::len)
            + self.id_buffer.as_ref().map_or(0, String::len)
    }

    fn check(&self) -> Result<(), TooLarge> {
        if self.size() > self.limit {
            return Err(TooLarge { limit: self.limit });
        }
        Ok(())
    }

    fn on_line(&mut self, line: &[u8], out: &mut Vec<Event>) {
        if line.is_empty() {
            if self.id_buffer.is_some() {
                self.last_id = self.id_buffer.clone().filter(|id| !id.is_empty());
            }
            if let Some(data) = self.data.take() {
                out.push(Event {
                    name: self.name.take().unwrap_or_else(|| "message".into()),
                    data,
                });
            }
            self.name = None;
            return;
        }
        let (field, value) = match line.iter().position(|&b| b == b':') {
            Some(0) => return,
            Some(at) => {
                let value = &line[at + 1..];
                (&line[..at], value.strip_prefix(b" ").unwrap_or(value))
            }
            None => (line, &[][..]),
        };
        let value = String::from_utf8_lossy(value);
        match field {
            b"event" => self.name = Some(value.into_owned()),
            b"data" => match &mut self.data {
                Some(data) => {
                    data.push('\n');
                    data.push_str(&value);
                }
                None => self.data = Some(value.into_owned()),
            },
            b"id" if !value.contains('\0') => {
                // Bounded like the event: `check` counts it.
                self.id_buffer = Some(value.into_owned());
            }
            b"retry" if !value.is_empty() && value.bytes().all(|b| b.is_ascii_digit()) => {
                self.retry_ms = value.parse().ok();
            }
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read(chunks: &[&[u8]], limit: usize) -> Result<Vec<(String, String)>, TooLarge> {
        let mut reader = EventReader::new(limit);
        let mut out = Vec::new();
        for chunk in chunks {
            reader.feed(chunk, &mut out)?;
        }
        Ok(out.into_iter().map(|e| (e.name, e.data)).collect())
    }

    fn ev(name: &str, data: &str) -> (String, String) {
        (name.to_owned(), data.to_owned())
    }

    #[test]
    fn events_are_read_across_line_endings_and_chunk_boundaries() {
        /// The chunks fed, and the (name, data) of every event they complete.
        type Case<'a> = (&'a [&'a [u8]], Vec<(String, String)>);
        let table: &[Case] = &[
            (
                &[b"event: endpoint\ndata: /messages?session_id=1\n\n"],
                vec![ev("endpoint", "/messages?session_id=1")],
            ),
            (&[b"data: {}\r\n\r\n"], vec![ev("message", "{}")]),
            (&[b"data: a\r\rdata: b\r"], vec![ev("message", "a")]),
            (&[b"data: a\r", b"\n\r", b"\n"], vec![ev("message", "a")]),
            (&[b"da", b"ta:x", b"\n", b"\n"], vec![ev("message", "x")]),
            (&[b"data: a\ndata: b\n\n"], vec![ev("message", "a\nb")]),
            (
                &[b"data:  two spaces\n\n"],
                vec![ev("message", " two spaces")],
            ),
            (&[b"data\n\n"], vec![ev("message", "")]),
            (&[b": keep-alive\n\n"], vec![]),
            (&[b"event: x\n\n"], vec![]),
            (
                &[b"id: 7\nretry: 10\nfoo: bar\nnonsense\ndata: d\n\n"],
                vec![ev("message", "d")],
            ),
            (
                &[b"data: \xff\xfe\n\n"],
                vec![ev("message", "\u{fffd}\u{fffd}")],
            ),
            (&[b"data: no blank line yet\n"], vec![]),
            (
                &[b"event: a\ndata: 1\n\ndata: 2\n\n"],
                vec![ev("a", "1"), ev("message", "2")],
            ),
        ];
        for (chunks, want) in table {
            assert_eq!(
                &read(chunks, 1 << 10).expect("within the limit"),
                want,
                "{chunks:?}"
            );
        }
    }

    #[test]
    fn the_last_event_id_and_the_retry_delay_are_kept_for_a_resume() {
        /// The chunks fed, the last event id and the retry delay after them.
        type Case<'a> = (&'a [&'a [u8]], Option<&'a str>, Option<u64>);
        let table: &[Case] = &[
            (&[b"data: a\n\n"], None, None),
            // A priming event: an id and no data still sets the last id.
            (&[b"id: p1\nretry: 500\n\n"], Some("p1"), Some(500)),
            (&[b"id: 1\ndata: a\n\nid: 2\ndata: b\n\n"], Some("2"), None),
            // Not dispatched yet: the id waits for its blank line.
            (&[b"id: 1\ndata: a\n\nid: 2\ndata: b\n"], Some("1"), None),
            // The id carries over to later events that name none.
            (&[b"id: 1\ndata: a\n\ndata: b\n\n"], Some("1"), None),
            // An empty id resets it; an id with NUL is ignored.
            (&[b"id: 1\n\nid\n\n"], None, None),
            (&[b"id: 1\n\nid: a\0b\n\n"], Some("1"), None),
            // Only digits are a delay.
            (&[b"retry: 5s\n\nretry: -1\n\n"], None, None),
            (&[b"retry: 20\n\nretry: x\n\n"], None, Some(20)),
        ];
        for (chunks, id, retry) in table {
            let mut reader = EventReader::new(1 << 10);
            let mut out = Vec::new();
            for chunk in *chunks {
                reader.feed(chunk, &mut out).expect("within the limit");
            }
            assert_eq!(reader.last_id(), *id, "{chunks:?}");
            assert_eq!(reader.retry_ms(), *retry, "{chunks:?}");
        }
    }

    #[test]
    fn a_resumed_stream_drops_the_unfinished_event_and_keeps_the_last_id() {
        let mut reader = EventReader::new(1 << 10);
        let mut out = Vec::new();
        reader
            .feed(b"retry: 9\nid: 1\ndata: a\n\nid: 2\ndata: cut", &mut out)
            .expect("within the limit");
        reader.next_stream();
        reader
            .feed(b" off\n\ndata: b\n\n", &mut out)
            .expect("within the limit");
        let got: Vec<_> = out.into_iter().map(|e| e.data).collect();
        // The cut event is gone; its first line's rest is a field named " off", ignored.
        assert_eq!(got, ["a", "b"]);
        assert_eq!(reader.last_id(), Some("1"));
        assert_eq!(reader.retry_ms(), Some(9));
    }

    #[test]
    fn an_event_or_a_line_over_the_limit_is_refused() {
        assert_eq!(read(&[&[b'x'; 17]], 16), Err(TooLarge { limit: 16 }));
        assert_eq!(
            read(&[b"data: 0123456789\n", b"data: 0123456789\n"], 16),
            Err(TooLarge { limit: 16 })
        );
        assert_eq!(
            read(&[b"data: 0123456789\n\n", b"data: 0123456789\n\n"], 16),
            Ok(vec![
                ev("message", "0123456789"),
                ev("message", "0123456789")
            ]),
            "the limit is per event"
        );
    }
}
