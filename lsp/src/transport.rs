//! The wire: JSON-RPC messages framed by `Content-Length` headers, read from any byte stream.
//!
//! Owns surviving bad framing. A header line is at most [`MAX_HEADER_LINE`] bytes, a body at
//! most [`MAX_BODY`] (a longer one is read past and dropped); a frame without a
//! `Content-Length`, a body that is not UTF-8 or not JSON, or JSON that is not a JSON-RPC
//! message becomes [`Frame::Malformed`], which the server answers with a `ParseError` or
//! `InvalidRequest` response and then reads on. Only the end of the stream (the client went
//! away) or an I/O error ends reading.

use std::io::{self, BufRead, Read, Write};

use lsp_server::{ErrorCode, Message, RequestId};

/// The longest header line kept, in bytes.
pub const MAX_HEADER_LINE: usize = 8 * 1024;

/// The largest message body read, in bytes (64 MiB: a document of the largest size a rule file
/// may have, 16 MiB, escaped in JSON, fits).
pub const MAX_BODY: usize = 64 * 1024 * 1024;

/// What one read gives.
#[derive(Debug)]
pub enum Frame {
    /// A well-formed message.
    Message(Message),
    /// A frame that is not a message: answered with this error response (a JSON-RPC response
    /// object whose `id` is the request's when it could be read, else `null`).
    Malformed(serde_json::Value),
    /// The stream ended (the client disconnected).
    Eof,
}

fn malformed(id: Option<serde_json::Value>, code: ErrorCode, message: String) -> Frame {
    Frame::Malformed(serde_json::json!({
        "jsonrpc": "2.0",
        "id": id.unwrap_or(serde_json::Value::Null),
        "error": { "code": code as i32, "message": message },
    }))
}

/// Reads one line of at most [`MAX_HEADER_LINE`] bytes (a longer line is consumed and cut).
/// `None` at the end of the stream.
fn read_line(r: &mut impl BufRead) -> io::Result<Option<Vec<u8>>> {
    let mut line = Vec::new();
    let mut seen = false;
    loop {
        let buf = r.fill_buf()?;
        if buf.is_empty() {
            return Ok(if seen { Some(line) } else { None });
        }
        seen = true;
        let (used, done) = match buf.iter().position(|&b| b == b'\n') {
            Some(i) => (i + 1, true),
            None => (buf.len(), false),
        };
        let room = MAX_HEADER_LINE.saturating_sub(line.len());
        line.extend_from_slice(&buf[..used.min(room)]);
        r.consume(used);
        if done {
            return Ok(Some(line));
        }
    }
}

/// Reads the next frame.
pub fn read(r: &mut impl BufRead) -> io::Result<Frame> {
    let mut length: Option<Result<usize, String>> = None;
    let mut any_header = false;
    loop {
        let Some(line) = read_line(r)? else {
            return Ok(Frame::Eof);
        };
        let line = String::from_utf8_lossy(&line);
        let line = line.trim_end_matches(['\r', '\n']);
        if line.is_empty() {
            if any_header {
                break;
            }
            // Blank lines between frames are skipped.
            continue;
        }
        any_header = true;
        if let Some((name, value)) = line.split_once(':') {
            if name.trim().eq_ignore_ascii_case("content-length") {
                let value = value.trim();
                length = Some(value.parse::<usize>().map_err(|_| value.to_owned()));
            }
        }
    }
    let len = match length {
        None => {
            return Ok(malformed(
                None,
                ErrorCode::ParseError,
                "a message without a `Content-Length` header".to_owned(),
            ))
        }
        Some(Err(v)) => {
            return Ok(malformed(
                None,
                ErrorCode::ParseError,
                format!("`Content-Length: {v}` is not a length"),
            ))
        }
        Some(Ok(n)) => n,
    };
    if len > MAX_BODY {
        // Read past the body so that the next frame starts where it should.
        let skipped = io::copy(&mut r.take(len as u64), &mut io::sink())?;
        if (skipped as usize) < len {
            return Ok(Frame::Eof);
        }
        return Ok(malformed(
            None,
            ErrorCode::ParseError,
            format!("a message of {len} bytes is over the limit of {MAX_BODY}"),
        ));
    }
    let mut body = Vec::new();
    r.take(len as u64).read_to_end(&mut body)?;
    if body.len() < len {
        return Ok(Frame::Eof);
    }
    Ok(parse_body(&body))
}

/// A message from one frame's body.
pub fn parse_body(body: &[u8]) -> Frame {
    let value: serde_json::Value = match serde_json::from_slice(body) {
        Ok(v) => v,
        Err(e) => {
            return malformed(
                None,
                ErrorCode::ParseError,
                format!("the message is not JSON: {e}"),
            )
        }
    };
    // The id, when it is one a request may have (a number or a string).
    let id = value
        .get("id")
        .filter(|id| serde_json::from_value::<RequestId>((*id).clone()).is_ok())
        .cloned();
    if !value.is_object() {
        return malformed(
            None,
            ErrorCode::InvalidRequest,
            "a message must be a JSON object".to_owned(),
        );
    }
    match serde_json::from_value::<Message>(value) {
        Ok(m) => Frame::Message(m),
        Err(e) => malformed(
            id,
            ErrorCode::InvalidRequest,
            format!("the message is not a JSON-RPC request, response or notification: {e}"),
        ),
    }
}

/// Writes one message, framed.
pub fn write(w: &mut impl Write, msg: &Message) -> io::Result<()> {
    let body = serde_json::to_string(msg).map_err(io::Error::other)?;
    write_body(w, &body)
}

/// Writes one JSON value (a [`Frame::Malformed`] answer), framed.
pub fn write_value(w: &mut impl Write, value: &serde_json::Value) -> io::Result<()> {
    write_body(w, &value.to_string())
}

fn write_body(w: &mut impl Write, body: &str) -> io::Result<()> {
    write!(w, "Content-Length: {}\r\n\r\n", body.len())?;
    w.write_all(body.as_bytes())?;
    w.flush()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frames(input: &[u8]) -> Vec<String> {
        let mut r = io::BufReader::new(input);
        let mut out = Vec::new();
        loop {
            match read(&mut r).expect("in-memory reads do not fail") {
                Frame::Eof => return out,
                Frame::Message(m) => out.push(format!("message {}", describe(&m))),
                Frame::Malformed(v) => out.push(format!("error {}", v["error"]["code"])),
            }
        }
    }

    fn describe(m: &Message) -> String {
        match m {
            Message::Request(r) => r.method.clone(),
            Message::Notification(n) => n.method.clone(),
            Message::Response(r) => format!("response {}", r.id),
        }
    }

    fn frame(body: &str) -> String {
        format!("Content-Length: {}\r\n\r\n{body}", body.len())
    }

    #[test]
    fn bad_frames_are_answered_and_reading_goes_on() {
        let ok = frame(r#"{"jsonrpc":"2.0","id":1,"method":"shutdown"}"#);
        let cases: Vec<(Vec<u8>, Vec<&str>)> = vec![
            (ok.clone().into_bytes(), vec!["message shutdown"]),
            // Not JSON, then a good message.
            (
                format!("{}{ok}", frame("{oops")).into_bytes(),
                vec!["error -32700", "message shutdown"],
            ),
            // JSON but not JSON-RPC.
            (
                format!("{}{ok}", frame("[1,2]")).into_bytes(),
                vec!["error -32600", "message shutdown"],
            ),
            // No Content-Length; a length that is not a number.
            (
                format!("Content-Type: x\r\n\r\n{ok}").into_bytes(),
                vec!["error -32700", "message shutdown"],
            ),
            (
                format!("Content-Length: lots\r\n\r\n{ok}").into_bytes(),
                vec!["error -32700", "message shutdown"],
            ),
            // A body that is not UTF-8.
            (
                [
                    b"Content-Length: 2\r\n\r\n\xff\xfe".as_slice(),
                    ok.as_bytes(),
                ]
                .concat(),
                vec!["error -32700", "message shutdown"],
            ),
            // A body cut short by the end of the stream; a huge length with no body.
            (b"Content-Length: 10\r\n\r\n{}".to_vec(), vec![]),
            (b"Content-Length: 99999999999999\r\n\r\n".to_vec(), vec![]),
            // A header line longer than the limit.
            (
                format!("X: {}\r\n{ok}", "y".repeat(3 * MAX_HEADER_LINE)).into_bytes(),
                vec!["message shutdown"],
            ),
        ];
        for (input, want) in cases {
            assert_eq!(
                frames(&input),
                want,
                "{:?}",
                String::from_utf8_lossy(&input)
            );
        }
    }
}
