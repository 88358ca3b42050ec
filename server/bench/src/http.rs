//! Just enough HTTP/1.1 to talk to llama-server on loopback: one request per connection with
//! `Connection: close`, the answer read to the end of the stream.

use std::io::{Read, Write};
use std::net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream};
use std::time::Duration;

use anyhow::{bail, Context};

/// How long a connection attempt may take (ms). Loopback connects in microseconds; this only
/// bounds a server that is not listening yet.
pub const CONNECT_TIMEOUT: Duration = Duration::from_millis(500);

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpResponse {
    pub status: u16,
    pub body: Vec<u8>,
}

/// A loopback port that was free a moment ago.
pub fn free_loopback_port() -> anyhow::Result<u16> {
    let listener =
        TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).context("binding 127.0.0.1:0 to find a free port")?;
    Ok(listener.local_addr().context("reading the bound port")?.port())
}

/// Connects to `127.0.0.1:port` and writes one request; the caller reads the answer with
/// [`read_response`] (or shuts the stream down to abandon it).
pub fn send_request(
    port: u16,
    method: &str,
    path: &str,
    json_body: Option<&str>,
    read_timeout: Duration,
) -> anyhow::Result<TcpStream> {
    let address = SocketAddr::from((Ipv4Addr::LOCALHOST, port));
    let mut stream = TcpStream::connect_timeout(&address, CONNECT_TIMEOUT)
        .with_context(|| format!("connecting to {address}"))?;
    stream.set_read_timeout(Some(read_timeout)).context("setting a read timeout")?;
    stream.set_nodelay(true).context("setting TCP_NODELAY")?;
    let body = json_body.unwrap_or("");
    let mut request = format!("{method} {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nConnection: close\r\n");
    if json_body.is_some() {
        request.push_str(&format!("Content-Type: application/json\r\nContent-Length: {}\r\n", body.len()));
    }
    request.push_str("\r\n");
    request.push_str(body);
    stream.write_all(request.as_bytes()).with_context(|| format!("sending {method} {path} to {address}"))?;
    Ok(stream)
}

/// Reads the whole answer (to the end of the stream) and parses it.
pub fn read_response(stream: &mut TcpStream) -> anyhow::Result<HttpResponse> {
    let mut bytes = Vec::new();
    stream.read_to_end(&mut bytes).context("reading the HTTP answer")?;
    parse_response(&bytes)
}

/// One request, answered.
pub fn fetch(
    port: u16,
    method: &str,
    path: &str,
    json_body: Option<&str>,
    timeout: Duration,
) -> anyhow::Result<HttpResponse> {
    let mut stream = send_request(port, method, path, json_body, timeout)?;
    read_response(&mut stream)
}

/// Parses a complete HTTP/1.1 answer: status line, headers, and a body cut to `Content-Length`
/// when there is one (else everything up to the end of the stream).
pub fn parse_response(bytes: &[u8]) -> anyhow::Result<HttpResponse> {
    let header_end = bytes
        .windows(4)
        .position(|window| window == b"\r\n\r\n")
        .context("the HTTP answer ended before its headers did")?;
    let head = std::str::from_utf8(&bytes[..header_end]).context("HTTP headers that are not UTF-8")?;
    let mut lines = head.split("\r\n");
    let status_line = lines.next().unwrap_or("");
    let mut parts = status_line.split(' ');
    let (Some(version), Some(code)) = (parts.next(), parts.next()) else {
        bail!("malformed HTTP status line {status_line:?}");
    };
    if !version.starts_with("HTTP/1.") {
        bail!("not an HTTP/1.x answer: {status_line:?}");
    }
    let status: u16 = code.parse().with_context(|| format!("malformed HTTP status line {status_line:?}"))?;
    let mut content_length = None;
    for line in lines {
        let Some((name, value)) = line.split_once(':') else {
            bail!("malformed HTTP header {line:?}");
        };
        let (name, value) = (name.trim(), value.trim());
        if name.eq_ignore_ascii_case("content-length") {
            content_length =
                Some(value.parse::<usize>().with_context(|| format!("bad Content-Length {value:?}"))?);
        } else if name.eq_ignore_ascii_case("transfer-encoding") && !value.eq_ignore_ascii_case("identity") {
            bail!("unsupported Transfer-Encoding {value:?} (the request asked for Connection: close)");
        }
    }
    let body = &bytes[header_end + 4..];
    let body = match content_length {
        Some(length) if body.len() < length => {
            bail!("the HTTP body ended after {} of {length} bytes", body.len())
        }
        Some(length) => &body[..length],
        None => body,
    };
    Ok(HttpResponse { status, body: body.to_vec() })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn responses_are_cut_to_content_length() {
        let raw = b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\ncontent-length: 7\r\n\r\n{\"a\":1}trailing";
        let response = parse_response(raw).unwrap();
        assert_eq!(response.status, 200);
        assert_eq!(response.body, b"{\"a\":1}");
    }

    #[test]
    fn without_content_length_the_body_runs_to_the_end() {
        let response = parse_response(b"HTTP/1.0 503 Service Unavailable\r\n\r\nloading").unwrap();
        assert_eq!((response.status, response.body.as_slice()), (503, &b"loading"[..]));
    }

    #[test]
    fn short_chunked_or_garbled_answers_are_errors() {
        assert!(parse_response(b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabc").is_err());
        assert!(parse_response(
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n"
        )
        .is_err());
        assert!(parse_response(b"HTTP/1.1 200 OK\r\nContent-Length: 3\r\n").is_err());
        assert!(parse_response(b"SSH-2.0\r\n\r\n").is_err());
    }

    #[test]
    fn a_request_round_trips_through_a_loopback_server() {
        let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).unwrap();
        let port = listener.local_addr().unwrap().port();
        let server = std::thread::spawn(move || {
            let (mut stream, _) = listener.accept().unwrap();
            let mut request = Vec::new();
            let mut buffer = [0; 1024];
            // Read until the body (two bytes, "{}") has arrived.
            while !request.ends_with(b"{}") {
                let n = stream.read(&mut buffer).unwrap();
                assert!(n > 0, "the client closed early");
                request.extend_from_slice(&buffer[..n]);
            }
            stream.write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok").unwrap();
            String::from_utf8(request).unwrap()
        });
        let response = fetch(port, "POST", "/completion", Some("{}"), Duration::from_secs(5)).unwrap();
        assert_eq!(response, HttpResponse { status: 200, body: b"ok".to_vec() });
        let request = server.join().unwrap();
        assert!(request.starts_with("POST /completion HTTP/1.1\r\n"), "{request}");
        assert!(
            request.contains("Content-Length: 2\r\n") && request.contains("Connection: close\r\n"),
            "{request}"
        );
    }
}
