//! The fault proxy's HTTP: messages read (`Content-Length` or chunked) and written, a request
//! forwarded on a fresh connection, the error answers it makes up, and connections reset.

use std::io;
use std::time::Duration;

use serde_json::json;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// One HTTP message: start line, headers, body.
pub(super) struct Message {
    pub(super) start: String,
    headers: Vec<(String, String)>,
    pub(super) body: Vec<u8>,
}

impl Message {
    pub(super) fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// The message with `body`, framed by `Content-Length`, and `connection` as its
    /// `Connection` header.
    pub(super) fn encode(&self, body: &[u8], connection: &str, drop_headers: &[&str]) -> Vec<u8> {
        let mut out = format!("{}\r\n", self.start);
        for (name, value) in &self.headers {
            let skip = ["content-length", "transfer-encoding", "connection"]
                .iter()
                .chain(drop_headers)
                .any(|h| name.eq_ignore_ascii_case(h));
            if !skip {
                out.push_str(&format!("{name}: {value}\r\n"));
            }
        }
        out.push_str(&format!(
            "content-length: {}\r\nconnection: {connection}\r\n\r\n",
            body.len()
        ));
        let mut bytes = out.into_bytes();
        bytes.extend_from_slice(body);
        bytes
    }
}

pub(super) fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

/// Reads one message from `stream`; `buf` keeps bytes read past it. `None` on a clean EOF
/// before any byte of a message.
pub(super) async fn read_message(
    stream: &mut TcpStream,
    buf: &mut Vec<u8>,
) -> io::Result<Option<Message>> {
    let mut chunk = [0u8; 16 * 1024];
    let head_end = loop {
        if let Some(i) = find(buf, b"\r\n\r\n") {
            break i;
        }
        let n = stream.read(&mut chunk).await?;
        if n == 0 {
            return if buf.is_empty() {
                Ok(None)
            } else {
                Err(io::ErrorKind::UnexpectedEof.into())
            };
        }
        buf.extend_from_slice(&chunk[..n]);
    };
    let head = String::from_utf8_lossy(&buf[..head_end]).into_owned();
    buf.drain(..head_end + 4);
    let mut lines = head.split("\r\n");
    let start = lines.next().unwrap_or_default().to_owned();
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(n, v)| (n.trim().to_owned(), v.trim().to_owned()))
        .collect();
    let mut message = Message {
        start,
        headers,
        body: Vec::new(),
    };
    let chunked = message
        .header("transfer-encoding")
        .is_some_and(|v| v.eq_ignore_ascii_case("chunked"));
    if chunked {
        loop {
            let line_end = loop {
                if let Some(i) = find(buf, b"\r\n") {
                    break i;
                }
                fill(stream, buf, &mut chunk).await?;
            };
            let size_text = String::from_utf8_lossy(&buf[..line_end]).into_owned();
            let size = usize::from_str_radix(size_text.split(';').next().unwrap_or("").trim(), 16)
                .map_err(|_| io::Error::new(io::ErrorKind::InvalidData, "bad chunk size"))?;
            buf.drain(..line_end + 2);
            if size == 0 {
                // Trailers (none expected) end with an empty line.
                loop {
                    if let Some(i) = find(buf, b"\r\n") {
                        buf.drain(..i + 2);
                        if i == 0 {
                            break;
                        }
                        continue;
                    }
                    fill(stream, buf, &mut chunk).await?;
                }
                break;
            }
            while buf.len() < size + 2 {
                fill(stream, buf, &mut chunk).await?;
            }
            message.body.extend_from_slice(&buf[..size]);
            buf.drain(..size + 2);
        }
    } else {
        let length: usize = message
            .header("content-length")
            .and_then(|v| v.parse().ok())
            .unwrap_or(0);
        while buf.len() < length {
            fill(stream, buf, &mut chunk).await?;
        }
        message.body = buf.drain(..length).collect();
    }
    Ok(Some(message))
}

async fn fill(stream: &mut TcpStream, buf: &mut Vec<u8>, chunk: &mut [u8]) -> io::Result<()> {
    let n = stream.read(chunk).await?;
    if n == 0 {
        return Err(io::ErrorKind::UnexpectedEof.into());
    }
    buf.extend_from_slice(&chunk[..n]);
    Ok(())
}

/// Forwards one request on a fresh connection and reads the answer.
pub(super) async fn forward(
    upstream_port: u16,
    request: &Message,
    body: &[u8],
) -> io::Result<Message> {
    let mut upstream = TcpStream::connect(("127.0.0.1", upstream_port)).await?;
    upstream
        .write_all(&request.encode(body, "close", &[]))
        .await?;
    let mut buf = Vec::new();
    read_message(&mut upstream, &mut buf)
        .await?
        .ok_or_else(|| io::ErrorKind::UnexpectedEof.into())
}

pub(super) fn error_response(service: &str, status: u16, kind: &str, message: &str) -> Vec<u8> {
    let body = json!({"__type": kind, "message": message}).to_string();
    let reason = match status {
        400 => "Bad Request",
        500 => "Internal Server Error",
        _ => "Service Unavailable",
    };
    let json_version = if service == "Kinesis_20131202" {
        "1.1"
    } else {
        "1.0"
    };
    format!(
        "HTTP/1.1 {status} {reason}\r\ncontent-type: application/x-amz-json-{json_version}\r\n\
         x-amzn-requestid: dyno-fault-proxy\r\ncontent-length: {}\r\nconnection: keep-alive\r\n\r\n{body}",
        body.len()
    )
    .into_bytes()
}

/// 403 AccessDenied: XML for the query protocol, JSON otherwise.
pub(super) fn access_denied(service: &str) -> Vec<u8> {
    let (content_type, body) = match service {
        "query" => (
            "text/xml",
            "<ErrorResponse xmlns=\"https://sts.amazonaws.com/doc/2011-06-15/\"><Error><Type>Sender</Type>\
             <Code>AccessDenied</Code><Message>not authorized to perform sts:AssumeRole</Message>\
             </Error><RequestId>dyno-fault-proxy</RequestId></ErrorResponse>"
                .to_owned(),
        ),
        _ => (
            "application/x-amz-json-1.0",
            json!({"__type": "AccessDeniedException", "message": "not authorized"}).to_string(),
        ),
    };
    format!(
        "HTTP/1.1 403 Forbidden\r\ncontent-type: {content_type}\r\nx-amzn-requestid: dyno-fault-proxy\r\n\
         content-length: {}\r\nconnection: keep-alive\r\n\r\n{body}",
        body.len()
    )
    .into_bytes()
}

#[allow(deprecated)] // SO_LINGER 0 is exactly what makes the close a reset.
pub(super) fn reset(stream: TcpStream) {
    let _ = stream.set_linger(Some(Duration::ZERO));
    drop(stream);
}

/// Reads (and drops) what the client sends until it closes the connection.
pub(super) async fn until_closed(mut client: TcpStream) -> io::Result<()> {
    let mut sink = [0u8; 4096];
    while client.read(&mut sink).await? > 0 {}
    Ok(())
}
