//! The stdio framing: one JSON-RPC message per line, bounded in length; a line that is not a
//! message is answered with a parse error.

use rmcp::model::{ClientJsonRpcMessage, ErrorData, ServerJsonRpcMessage};
use tokio::io::{AsyncBufRead, AsyncBufReadExt, AsyncReadExt, AsyncWrite, AsyncWriteExt};

/// The longest line (one JSON-RPC message) read from stdin.
const MAX_LINE: u64 = 16 * 1024 * 1024;

/// One line of stdin.
pub(super) enum Line {
    /// stdin ended.
    End,
    Message(Box<ClientJsonRpcMessage>),
    /// Not a JSON-RPC message the client may send (answered with a parse error).
    Bad(ErrorData),
}

pub(super) async fn read_line(input: &mut (impl AsyncBufRead + Unpin)) -> Result<Line, String> {
    let mut buf = Vec::new();
    loop {
        buf.clear();
        let n = (&mut *input)
            .take(MAX_LINE + 1)
            .read_until(b'\n', &mut buf)
            .await
            .map_err(|e| format!("cannot read stdin: {e}"))?;
        if n == 0 {
            return Ok(Line::End);
        }
        if buf.len() as u64 > MAX_LINE {
            // Skip the rest of the line.
            let mut rest = Vec::new();
            input
                .read_until(b'\n', &mut rest)
                .await
                .map_err(|e| format!("cannot read stdin: {e}"))?;
            return Ok(Line::Bad(ErrorData::parse_error(
                format!("a message longer than {MAX_LINE} bytes"),
                None,
            )));
        }
        if buf.iter().all(u8::is_ascii_whitespace) {
            continue;
        }
        return Ok(match serde_json::from_slice(&buf) {
            Ok(m) => Line::Message(Box::new(m)),
            Err(e) => Line::Bad(ErrorData::parse_error(
                format!("not a JSON-RPC message: {e}"),
                None,
            )),
        });
    }
}

pub(super) async fn write(
    output: &mut (impl AsyncWrite + Unpin),
    message: &ServerJsonRpcMessage,
) -> Result<(), String> {
    let mut line = serde_json::to_vec(message).map_err(|e| format!("cannot encode: {e}"))?;
    line.push(b'\n');
    output
        .write_all(&line)
        .await
        .map_err(|e| format!("cannot write stdout: {e}"))?;
    output
        .flush()
        .await
        .map_err(|e| format!("cannot write stdout: {e}"))
}
