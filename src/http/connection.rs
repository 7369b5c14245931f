//! Plain HTTP/1.1 connections whose errors answered before the app runs are problem+json
//! too.
//!
//! actix-http's h1 dispatcher answers a request it cannot parse (400), a head too large
//! or with too many headers (431) and a head that does not arrive in time (408) itself,
//! with an empty body, and offers no hook for it. It writes such an answer last on the
//! connection, then closes it; [`ProblemStream`] recognises that bodiless head at the end
//! of a write and writes a problem+json answer in its place. The app's own 4xx answers
//! all carry a body and a content type, so they are never taken for one.

use std::io;
use std::pin::Pin;
use std::task::{ready, Context, Poll};

use actix_web::http::StatusCode;
use actix_web::rt::net::TcpStream;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

use super::Problem;

/// A TCP connection that rewrites the dispatcher's bodiless error answers.
pub struct ProblemStream {
    inner: TcpStream,
    /// Rewritten bytes still to be written, and how many of them are.
    pending: Vec<u8>,
    written: usize,
}

impl ProblemStream {
    /// Wraps an accepted connection.
    pub fn new(inner: TcpStream) -> ProblemStream {
        ProblemStream {
            inner,
            pending: Vec::new(),
            written: 0,
        }
    }

    /// Writes what is pending; ready once nothing is.
    fn drain(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        while self.written < self.pending.len() {
            let n =
                ready!(Pin::new(&mut self.inner).poll_write(cx, &self.pending[self.written..]))?;
            if n == 0 {
                return Poll::Ready(Err(io::ErrorKind::WriteZero.into()));
            }
            self.written += n;
        }
        self.pending.clear();
        self.written = 0;
        Poll::Ready(Ok(()))
    }
}

/// What the client is told for a status the dispatcher answers itself.
fn detail(status: StatusCode) -> &'static str {
    match status {
        StatusCode::REQUEST_TIMEOUT => "the request's head did not arrive in time",
        StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE => {
            "the request's head is too large or has too many headers"
        }
        _ => "the request is not well-formed HTTP/1.1",
    }
}

/// Where the dispatcher's bodiless error head starts, if `buf` ends with one: a 400, 408
/// or 431 status line, then headers with `content-length: 0` and no content type.
fn bodiless_error_at(buf: &[u8]) -> Option<(usize, StatusCode)> {
    if !buf.ends_with(b"\r\n\r\n") {
        return None;
    }
    let start = buf.windows(7).rposition(|w| w == b"HTTP/1.")?;
    let head = &buf[start..];
    // One head only: no blank line before its end.
    if head[..head.len() - 4].windows(4).any(|w| w == b"\r\n\r\n") {
        return None;
    }
    let text = std::str::from_utf8(head).ok()?;
    let code: u16 = text.get(9..12)?.parse().ok()?;
    let status = StatusCode::from_u16(code).ok()?;
    if !matches!(code, 400 | 408 | 431) {
        return None;
    }
    let lower = text.to_ascii_lowercase();
    if !lower.contains("\r\ncontent-length: 0\r\n") || lower.contains("\r\ncontent-type:") {
        return None;
    }
    Some((start, status))
}

/// The problem+json answer that replaces the bodiless `head` of `status`.
fn rewrite(head: &[u8], status: StatusCode) -> Vec<u8> {
    let body = serde_json::to_vec(&Problem::new(status, detail(status)))
        .unwrap_or_else(|_| b"{}".to_vec());
    let text = String::from_utf8_lossy(head);
    let mut lines = text.trim_end_matches("\r\n").split("\r\n");
    let mut out = String::new();
    if let Some(status_line) = lines.next() {
        out.push_str(status_line);
        out.push_str("\r\n");
    }
    for line in lines {
        let name = line.split(':').next().unwrap_or("").trim();
        if !name.eq_ignore_ascii_case("content-length") && !name.eq_ignore_ascii_case("connection")
        {
            out.push_str(line);
            out.push_str("\r\n");
        }
    }
    // The dispatcher closes the connection after these answers; the head says so.
    out.push_str("connection: close\r\n");
    out.push_str("content-type: application/problem+json\r\n");
    out.push_str(&format!("content-length: {}\r\n\r\n", body.len()));
    let mut bytes = out.into_bytes();
    bytes.extend_from_slice(&body);
    bytes
}

impl AsyncRead for ProblemStream {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_read(cx, buf)
    }
}

impl AsyncWrite for ProblemStream {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = &mut *self;
        ready!(this.drain(cx))?;
        if let Some((start, status)) = bodiless_error_at(buf) {
            let mut out = buf[..start].to_vec();
            out.extend(rewrite(&buf[start..], status));
            this.pending = out;
            this.written = 0;
            // Taken whole: what is not written now is written by the next flush.
            if let Poll::Ready(Err(e)) = this.drain(cx) {
                return Poll::Ready(Err(e));
            }
            return Poll::Ready(Ok(buf.len()));
        }
        Pin::new(&mut this.inner).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        ready!(self.drain(cx))?;
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        ready!(self.drain(cx))?;
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_bodiless_400_at_the_end_of_a_write_becomes_a_problem() {
        let head = b"HTTP/1.1 400 Bad Request\r\ncontent-length: 0\r\nconnection: close\r\ndate: x\r\n\r\n";
        let (start, status) = bodiless_error_at(head).expect("recognised");
        assert_eq!((start, status), (0, StatusCode::BAD_REQUEST));
        let out = String::from_utf8(rewrite(head, status)).expect("text");
        assert!(out.starts_with("HTTP/1.1 400 Bad Request\r\n"), "{out}");
        assert!(
            out.contains("content-type: application/problem+json\r\n"),
            "{out}"
        );
        let body = out.split("\r\n\r\n").nth(1).expect("a body");
        let problem: serde_json::Value = serde_json::from_str(body).expect("JSON");
        assert_eq!(problem["status"], 400);
        assert!(
            out.contains(&format!("content-length: {}\r\n", body.len())),
            "{out}"
        );
    }

    #[test]
    fn an_answer_with_a_body_or_content_type_is_left_alone() {
        let app = b"HTTP/1.1 400 Bad Request\r\ncontent-length: 10\r\ncontent-type: application/problem+json\r\n\r\n";
        assert!(bodiless_error_at(app).is_none());
        let ok = b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n";
        assert!(bodiless_error_at(ok).is_none());
        let after_body = b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nhiHTTP/1.1 400 Bad Request\r\ncontent-length: 0\r\n\r\n";
        let (start, _) = bodiless_error_at(after_body).expect("the last head is the error");
        assert_eq!(
            &after_body[start..start + 12],
            b"HTTP/1.1 400",
            "only the last head is rewritten"
        );
    }
}
