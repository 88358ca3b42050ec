//! The opt-in Prometheus endpoint (`metrics.addr`, loopback only): `GET /metrics` answers the
//! figures of `wisp/metrics` in Prometheus' text format.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener};
use std::sync::Arc;
use std::time::Duration;

use wisp_complete::service::Metrics;

/// Starts serving on `addr` in a thread of its own; returns the bound address.
pub(crate) fn serve(addr: &str, metrics: Arc<Metrics>) -> Result<SocketAddr, String> {
    let addr = wisp_complete::config::metrics_addr(addr)?;
    let listener =
        TcpListener::bind(addr).map_err(|error| format!("cannot listen on {addr} for metrics: {error}"))?;
    let bound = listener.local_addr().map_err(|error| error.to_string())?;
    std::thread::Builder::new()
        .name("wisp-metrics".into())
        .spawn(move || {
            for stream in listener.incoming() {
                let Ok(mut stream) = stream else { continue };
                let _ = stream.set_read_timeout(Some(Duration::from_secs(2)));
                // The whole head: closing with part of it unread would reset the connection
                // before the client reads the answer.
                let mut request = Vec::new();
                let mut chunk = [0u8; 1024];
                while !request.windows(4).any(|window| window == b"\r\n\r\n") && request.len() < 16 * 1024 {
                    match stream.read(&mut chunk) {
                        Ok(0) | Err(_) => break,
                        Ok(n) => request.extend_from_slice(&chunk[..n]),
                    }
                }
                let line = String::from_utf8_lossy(&request);
                let (status, body) = if line.starts_with("GET /metrics ") || line.starts_with("GET /metrics?") {
                    ("200 OK", metrics.prometheus())
                } else {
                    ("404 Not Found", "Wisp serves GET /metrics\n".to_owned())
                };
                let _ = write!(
                    stream,
                    "HTTP/1.1 {status}\r\nContent-Type: text/plain; version=0.0.4\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                    body.len()
                );
            }
        })
        .map_err(|error| error.to_string())?;
    Ok(bound)
}

#[cfg(test)]
mod tests {
    use std::io::{Read, Write};

    #[test]
    fn get_metrics_answers_the_text_format_and_other_paths_404() {
        let bound = super::serve("127.0.0.1:0", Default::default()).unwrap();
        let get = |path: &str| {
            let mut stream = std::net::TcpStream::connect(bound).unwrap();
            write!(stream, "GET {path} HTTP/1.1\r\nHost: x\r\n\r\n").unwrap();
            let mut answer = String::new();
            stream.read_to_string(&mut answer).unwrap();
            answer
        };
        let answer = get("/metrics");
        assert!(
            answer.starts_with("HTTP/1.1 200 OK") && answer.contains("wisp_requests_total 0"),
            "{answer}"
        );
        assert!(get("/").starts_with("HTTP/1.1 404"));
    }
}
