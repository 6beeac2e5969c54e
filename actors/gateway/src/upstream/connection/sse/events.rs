//! Server-sent events read from a byte stream, with a bound on each event's size.
//!
//! The parser follows the WHATWG event-stream rules that matter to MCP: lines end in LF,
//! CR LF or CR (a CR at a chunk's end waits for the next chunk's LF); a blank line dispatches
//! the event; `event:` names it (`message` when absent); `data:` lines are joined with LF;
//! one space after the colon is dropped; `:` lines are comments; `id:`, `retry:` and unknown
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
        }
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
    }

    fn check(&self) -> Result<(), TooLarge> {
        if self.size() > self.limit {
            return Err(TooLarge { limit: self.limit });
        }
        Ok(())
    }

    fn on_line(&mut self, line: &[u8], out: &mut Vec<Event>) {
        if line.is_empty() {
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
