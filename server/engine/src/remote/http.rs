//! Just enough HTTP/1.1 for an inference service: one request per connection
//! (`Connection: close`), TLS through rustls for `https`, bodies with a length, chunked or read to
//! the end, read line by line as they arrive (server-sent events). Every read waits at most
//! [`POLL`], so a cancelled request or a stalled server is noticed within it, and a cancelled
//! request closes its connection, which is how llama-server and vLLM learn to stop generating.

use std::io::{ErrorKind, Read, Write};
use std::net::{IpAddr, Shutdown, TcpStream, ToSocketAddrs};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// How long one read may block before the caller's cancel flag and deadlines are checked again.
pub const POLL: Duration = Duration::from_millis(50);

/// Headers larger than this are not an inference service's answer.
const MAX_HEAD_BYTES: usize = 64 * 1024;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scheme {
    Http,
    Https,
}

/// Where the service listens: `http(s)://host[:port][/base]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Endpoint {
    pub scheme: Scheme,
    pub host: String,
    pub port: u16,
    /// Path prefix before the API's paths, without a trailing `/` (`""` or `/llm`).
    pub base_path: String,
}

impl Endpoint {
    pub fn parse(url: &str) -> Result<Endpoint, String> {
        let (scheme, rest) = if let Some(rest) = url.strip_prefix("http://") {
            (Scheme::Http, rest)
        } else if let Some(rest) = url.strip_prefix("https://") {
            (Scheme::Https, rest)
        } else {
            return Err(format!("\"{url}\" is not an http:// or https:// URL"));
        };
        let (authority, path) = rest.split_at(rest.find('/').unwrap_or(rest.len()));
        if authority.contains('@') {
            return Err(format!("\"{url}\": put credentials in model.remote.token, not in the URL"));
        }
        let default_port = if scheme == Scheme::Https { 443 } else { 80 };
        let (host, port) = if let Some(bracketed) = authority.strip_prefix('[') {
            // [::1]:8080
            let (host, after) = bracketed.split_once(']').ok_or_else(|| format!("\"{url}\": unclosed ["))?;
            let port = after.strip_prefix(':').map(str::parse).transpose();
            (host.to_owned(), port.map_err(|_| format!("\"{url}\": the port is not a number"))?)
        } else {
            match authority.rsplit_once(':') {
                Some((host, port)) => {
                    let port = port.parse().map_err(|_| format!("\"{url}\": the port is not a number"))?;
                    (host.to_owned(), Some(port))
                }
                None => (authority.to_owned(), None),
            }
        };
        if host.is_empty() {
            return Err(format!("\"{url}\" names no host"));
        }
        let base_path = path.trim_end_matches('/').to_owned();
        Ok(Endpoint { scheme, host, port: port.unwrap_or(default_port), base_path })
    }

    /// `localhost` or a loopback address: traffic that never leaves the machine.
    pub fn is_loopback(&self) -> bool {
        self.host.eq_ignore_ascii_case("localhost")
            || self.host.parse::<IpAddr>().is_ok_and(|address| address.is_loopback())
    }

    /// `scheme://host:port/base` (for messages and the status).
    pub fn display(&self) -> String {
        let scheme = if self.scheme == Scheme::Https { "https" } else { "http" };
        let host = if self.host.contains(':') { format!("[{}]", self.host) } else { self.host.clone() };
        format!("{scheme}://{host}:{}{}", self.port, self.base_path)
    }
}

#[derive(Debug, thiserror::Error)]
pub enum HttpError {
    #[error("cannot connect to {0}")]
    Connect(String),
    #[error("TLS with {host}: {why}")]
    Tls { host: String, why: String },
    #[error("no answer within {0:?}")]
    Timeout(Duration),
    #[error("cancelled")]
    Cancelled,
    #[error("the connection failed: {0}")]
    Io(String),
    #[error("not an HTTP answer: {0}")]
    Malformed(String),
}

trait Transport: Read + Write + Send {}
impl<T: Read + Write + Send> Transport for T {}

/// Shared TLS settings: the web's roots, plus a team's own CA when given.
pub fn tls_config(extra_ca_pem: Option<&[u8]>) -> Result<Arc<rustls::ClientConfig>, String> {
    let mut roots = rustls::RootCertStore { roots: webpki_roots::TLS_SERVER_ROOTS.to_vec() };
    if let Some(pem) = extra_ca_pem {
        use rustls::pki_types::pem::PemObject;
        let mut added = 0;
        for cert in rustls::pki_types::CertificateDer::pem_slice_iter(pem) {
            let cert = cert.map_err(|error| format!("reading the CA file: {error}"))?;
            roots
                .add(cert)
                .map_err(|error| format!("the CA file holds a certificate rustls refuses: {error}"))?;
            added += 1;
        }
        if added == 0 {
            return Err("the CA file holds no PEM certificate".into());
        }
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|error| error.to_string())?
        .with_root_certificates(roots)
        .with_no_client_auth();
    Ok(Arc::new(config))
}

/// A connection to the first of the host's addresses that accepts one, in the resolver's order
/// (`localhost` may resolve to `::1` before `127.0.0.1`; a service's name to several replicas).
fn connect(endpoint: &Endpoint, timeout: Duration) -> Result<TcpStream, HttpError> {
    let failed = |why: String| HttpError::Connect(format!("{} ({why})", endpoint.display()));
    let addresses = (endpoint.host.as_str(), endpoint.port)
        .to_socket_addrs()
        .map_err(|error| failed(error.to_string()))?;
    connect_first(addresses, timeout).map_err(failed)
}

/// The first of `addresses` that accepts a connection within `timeout`; the last error otherwise.
fn connect_first(
    addresses: impl IntoIterator<Item = std::net::SocketAddr>,
    timeout: Duration,
) -> Result<TcpStream, String> {
    let mut last_error = None;
    for address in addresses {
        match TcpStream::connect_timeout(&address, timeout) {
            Ok(socket) => return Ok(socket),
            Err(error) => last_error = Some(error),
        }
    }
    Err(last_error.map_or_else(|| "the name resolves to no address".to_owned(), |error| error.to_string()))
}

/// What a request waits for, and how long.
pub struct Limits<'a> {
    pub connect: Duration,
    /// Longest silence while waiting for the answer's head or its next bytes.
    pub stall: Duration,
    /// Checked between reads: true stops the request ([`HttpError::Cancelled`]).
    pub cancelled: &'a dyn Fn() -> bool,
}

/// An answer whose body is read as it arrives.
pub struct Response {
    pub status: u16,
    stream: Box<dyn Transport>,
    socket: TcpStream,
    /// Raw bytes read past what was decoded.
    raw: Vec<u8>,
    /// Decoded body bytes not handed out yet.
    body: Vec<u8>,
    framing: Framing,
    finished: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Framing {
    Length(usize),
    /// Chunked: bytes left in the current chunk (None: a chunk header comes next).
    Chunked(Option<usize>),
    UntilClose,
}

/// Sends one request and reads the answer's head.
pub fn request(
    endpoint: &Endpoint,
    tls: Option<&Arc<rustls::ClientConfig>>,
    method: &str,
    path: &str,
    headers: &[(&str, String)],
    body: Option<&[u8]>,
    limits: &Limits<'_>,
) -> Result<Response, HttpError> {
    let socket = connect(endpoint, limits.connect)?;
    let io = |error: std::io::Error| HttpError::Io(error.to_string());
    socket.set_nodelay(true).map_err(io)?;
    socket.set_read_timeout(Some(POLL)).map_err(io)?;
    let handle = socket.try_clone().map_err(io)?;
    let mut stream: Box<dyn Transport> = match (endpoint.scheme, tls) {
        (Scheme::Https, Some(config)) => {
            let name = rustls::pki_types::ServerName::try_from(endpoint.host.clone())
                .map_err(|error| HttpError::Tls { host: endpoint.host.clone(), why: error.to_string() })?;
            let connection = rustls::ClientConnection::new(Arc::clone(config), name)
                .map_err(|error| HttpError::Tls { host: endpoint.host.clone(), why: error.to_string() })?;
            Box::new(rustls::StreamOwned::new(connection, socket))
        }
        (Scheme::Https, None) => {
            return Err(HttpError::Tls { host: endpoint.host.clone(), why: "no TLS configuration".into() })
        }
        (Scheme::Http, _) => Box::new(socket),
    };
    let mut head = format!(
        "{method} {}{path} HTTP/1.1\r\nHost: {}\r\nConnection: close\r\nUser-Agent: wisp/{}\r\n",
        endpoint.base_path,
        endpoint.host,
        env!("CARGO_PKG_VERSION")
    );
    for (name, value) in headers {
        head.push_str(&format!("{name}: {value}\r\n"));
    }
    if let Some(body) = body {
        head.push_str(&format!("Content-Length: {}\r\n", body.len()));
    }
    head.push_str("\r\n");
    let mut message = head.into_bytes();
    message.extend_from_slice(body.unwrap_or_default());
    write_all(&mut stream, &message, limits).map_err(|error| match error {
        HttpError::Io(why) => HttpError::Tls { host: endpoint.host.clone(), why },
        other => other,
    })?;

    let mut response = Response {
        status: 0,
        stream,
        socket: handle,
        raw: Vec::new(),
        body: Vec::new(),
        framing: Framing::UntilClose,
        finished: false,
    };
    let head_end = loop {
        if let Some(end) = response.raw.windows(4).position(|window| window == b"\r\n\r\n") {
            break end;
        }
        if response.raw.len() > MAX_HEAD_BYTES {
            return Err(HttpError::Malformed("the headers never end".into()));
        }
        if !response.fill(limits)? {
            return Err(HttpError::Malformed("the connection closed before the headers ended".into()));
        }
    };
    let head = String::from_utf8_lossy(&response.raw[..head_end]).into_owned();
    response.raw.drain(..head_end + 4);
    let mut lines = head.split("\r\n");
    let status_line = lines.next().unwrap_or_default();
    let mut parts = status_line.split_whitespace();
    if !parts.next().is_some_and(|version| version.starts_with("HTTP/1.")) {
        return Err(HttpError::Malformed(format!("the status line is {status_line:?}")));
    }
    response.status = parts
        .next()
        .and_then(|code| code.parse().ok())
        .ok_or_else(|| HttpError::Malformed(format!("the status line is {status_line:?}")))?;
    for line in lines {
        let Some((name, value)) = line.split_once(':') else { continue };
        let value = value.trim();
        if name.eq_ignore_ascii_case("content-length") {
            let length =
                value.parse().map_err(|_| HttpError::Malformed(format!("Content-Length {value:?}")))?;
            response.framing = Framing::Length(length);
        } else if name.eq_ignore_ascii_case("transfer-encoding")
            && value.to_ascii_lowercase().contains("chunked")
        {
            response.framing = Framing::Chunked(None);
        }
    }
    response.decode()?;
    Ok(response)
}

fn write_all(stream: &mut Box<dyn Transport>, bytes: &[u8], limits: &Limits<'_>) -> Result<(), HttpError> {
    let mut written = 0;
    let started = Instant::now();
    while written < bytes.len() {
        match stream.write(&bytes[written..]) {
            Ok(0) => return Err(HttpError::Io("the connection closed while sending".into())),
            Ok(n) => written += n,
            Err(error) if is_poll_timeout(&error) => {}
            Err(error) if error.kind() == ErrorKind::Interrupted => {}
            Err(error) => return Err(HttpError::Io(error.to_string())),
        }
        if (limits.cancelled)() {
            return Err(HttpError::Cancelled);
        }
        if started.elapsed() > limits.stall {
            return Err(HttpError::Timeout(limits.stall));
        }
    }
    loop {
        match stream.flush() {
            Ok(()) => return Ok(()),
            Err(error) if is_poll_timeout(&error) || error.kind() == ErrorKind::Interrupted => {}
            Err(error) => return Err(HttpError::Io(error.to_string())),
        }
        if started.elapsed() > limits.stall {
            return Err(HttpError::Timeout(limits.stall));
        }
    }
}

fn is_poll_timeout(error: &std::io::Error) -> bool {
    matches!(error.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut)
}

impl Response {
    /// Reads more raw bytes; false at the end of the stream.
    fn fill(&mut self, limits: &Limits<'_>) -> Result<bool, HttpError> {
        let mut chunk = [0u8; 8192];
        let silent_since = Instant::now();
        loop {
            if (limits.cancelled)() {
                return Err(HttpError::Cancelled);
            }
            match self.stream.read(&mut chunk) {
                Ok(0) => return Ok(false),
                Ok(n) => {
                    self.raw.extend_from_slice(&chunk[..n]);
                    return Ok(true);
                }
                Err(error) if is_poll_timeout(&error) || error.kind() == ErrorKind::Interrupted => {}
                // A server that closes without TLS's close_notify ends the body all the same.
                Err(error) if error.kind() == ErrorKind::UnexpectedEof => return Ok(false),
                Err(error) => return Err(HttpError::Io(error.to_string())),
            }
            if silent_since.elapsed() > limits.stall {
                return Err(HttpError::Timeout(limits.stall));
            }
        }
    }

    /// Moves what the framing allows from `raw` into `body`.
    fn decode(&mut self) -> Result<(), HttpError> {
        loop {
            match self.framing {
                Framing::UntilClose => {
                    self.body.append(&mut self.raw);
                    return Ok(());
                }
                Framing::Length(left) => {
                    let n = left.min(self.raw.len());
                    self.body.extend(self.raw.drain(..n));
                    self.framing = Framing::Length(left - n);
                    self.finished = left == n;
                    return Ok(());
                }
                Framing::Chunked(Some(0)) => {
                    // The CRLF after a chunk's data.
                    if self.raw.len() < 2 {
                        return Ok(());
                    }
                    self.raw.drain(..2);
                    self.framing = Framing::Chunked(None);
                }
                Framing::Chunked(Some(left)) => {
                    if self.raw.is_empty() {
                        return Ok(());
                    }
                    let n = left.min(self.raw.len());
                    self.body.extend(self.raw.drain(..n));
                    self.framing = Framing::Chunked(Some(left - n));
                }
                Framing::Chunked(None) => {
                    let Some(end) = self.raw.windows(2).position(|window| window == b"\r\n") else {
                        return Ok(());
                    };
                    let line = String::from_utf8_lossy(&self.raw[..end]).into_owned();
                    let size = line.split(';').next().unwrap_or_default().trim();
                    let size = usize::from_str_radix(size, 16)
                        .map_err(|_| HttpError::Malformed(format!("chunk size {size:?}")))?;
                    self.raw.drain(..end + 2);
                    if size == 0 {
                        self.finished = true;
                        self.raw.clear();
                        return Ok(());
                    }
                    self.framing = Framing::Chunked(Some(size));
                }
            }
        }
    }

    /// The next line of the body without its line break; None at the end of the body (a last line
    /// without a line break is returned first).
    pub fn read_line(&mut self, limits: &Limits<'_>) -> Result<Option<String>, HttpError> {
        loop {
            if let Some(end) = self.body.iter().position(|&byte| byte == b'\n') {
                let line: Vec<u8> = self.body.drain(..=end).collect();
                let line = String::from_utf8_lossy(&line[..end]);
                return Ok(Some(line.trim_end_matches('\r').to_owned()));
            }
            if self.finished || !self.fill(limits)? {
                if matches!(self.framing, Framing::Chunked(_)) && !self.finished {
                    return Err(HttpError::Malformed("the chunked body ended early".into()));
                }
                if self.body.is_empty() {
                    return Ok(None);
                }
                let line = String::from_utf8_lossy(&std::mem::take(&mut self.body)).into_owned();
                return Ok(Some(line));
            }
            self.decode()?;
        }
    }

    /// The whole body, at most `max` bytes.
    pub fn read_all(&mut self, max: usize, limits: &Limits<'_>) -> Result<Vec<u8>, HttpError> {
        while !self.finished {
            if self.body.len() > max {
                return Err(HttpError::Malformed(format!("an answer of more than {max} bytes")));
            }
            if !self.fill(limits)? {
                break;
            }
            self.decode()?;
        }
        if matches!(self.framing, Framing::Length(left) if left > 0) {
            return Err(HttpError::Malformed("the body ended before its Content-Length".into()));
        }
        Ok(std::mem::take(&mut self.body))
    }
}

impl Drop for Response {
    fn drop(&mut self) {
        // Closing tells the server nobody reads the rest (llama-server then stops the task).
        let _ = self.socket.shutdown(Shutdown::Both);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_refused_address_is_skipped_for_the_next_one() {
        let open = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap();
        let socket = connect_first([closed, open.local_addr().unwrap()], Duration::from_secs(1)).unwrap();
        assert_eq!(socket.peer_addr().unwrap(), open.local_addr().unwrap());
        assert!(connect_first([closed], Duration::from_secs(1)).is_err());
        assert!(connect_first([], Duration::from_secs(1)).unwrap_err().contains("no address"));
    }

    #[test]
    fn urls_name_scheme_host_port_and_base_path() {
        let endpoint = Endpoint::parse("http://127.0.0.1:8080").unwrap();
        assert_eq!((endpoint.scheme, endpoint.port, endpoint.base_path.as_str()), (Scheme::Http, 8080, ""));
        assert!(endpoint.is_loopback());
        let endpoint = Endpoint::parse("https://gpu.example.com/llm/").unwrap();
        assert_eq!((endpoint.host.as_str(), endpoint.port), ("gpu.example.com", 443));
        assert_eq!(endpoint.base_path, "/llm");
        assert!(!endpoint.is_loopback());
        assert!(Endpoint::parse("http://[::1]:9000").unwrap().is_loopback());
        assert!(Endpoint::parse("http://localhost").unwrap().is_loopback());
        assert!(Endpoint::parse("ftp://x").is_err());
        assert!(Endpoint::parse("http://user:pw@host").unwrap_err().contains("model.remote.token"));
        assert!(Endpoint::parse("http://host:port").is_err());
    }

    #[test]
    fn chunked_bodies_are_read_line_by_line_across_chunk_borders() {
        let server = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = server.local_addr().unwrap().port();
        let thread = std::thread::spawn(move || {
            let (mut socket, _) = server.accept().unwrap();
            let mut request = [0u8; 1024];
            let _ = socket.read(&mut request).unwrap();
            let answer = "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n7\r\ndata: a\r\n3\r\n\nda\r\n6\r\nta: b\n\r\n0\r\n\r\n";
            socket.write_all(answer.as_bytes()).unwrap();
        });
        let endpoint = Endpoint::parse(&format!("http://127.0.0.1:{port}")).unwrap();
        let never = || false;
        let limits =
            Limits { connect: Duration::from_secs(1), stall: Duration::from_secs(5), cancelled: &never };
        let mut response = request(&endpoint, None, "POST", "/x", &[], Some(b"{}"), &limits).unwrap();
        assert_eq!(response.status, 200);
        let mut lines = Vec::new();
        while let Some(line) = response.read_line(&limits).unwrap() {
            lines.push(line);
        }
        assert_eq!(lines, ["data: a", "data: b"]);
        thread.join().unwrap();
    }

    #[test]
    fn a_silent_server_times_out_and_a_cancel_stops_the_wait() {
        let server = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = server.local_addr().unwrap().port();
        let endpoint = Endpoint::parse(&format!("http://127.0.0.1:{port}")).unwrap();
        let never = || false;
        let limits =
            Limits { connect: Duration::from_secs(1), stall: Duration::from_millis(200), cancelled: &never };
        let started = Instant::now();
        let error = request(&endpoint, None, "GET", "/health", &[], None, &limits).err().unwrap();
        assert!(matches!(error, HttpError::Timeout(_)), "{error}");
        assert!(started.elapsed() < Duration::from_secs(2));
        let always = || true;
        let limits =
            Limits { connect: Duration::from_secs(1), stall: Duration::from_secs(60), cancelled: &always };
        let error = request(&endpoint, None, "GET", "/health", &[], None, &limits).err().unwrap();
        assert!(matches!(error, HttpError::Cancelled), "{error}");
        drop(server);
    }
}
