//! Tiny test servers and helpers.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;
use std::time::Duration;

use health::ProbeContext;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::{TcpListener, UdpSocket};

pub fn ctx(timeout_ms: u64) -> ProbeContext {
    ProbeContext {
        timeout: Duration::from_millis(timeout_ms),
        source: None,
    }
}

/// A unique path under the temp dir; removed by the caller if it matters.
pub fn temp_path(tag: &str) -> PathBuf {
    static N: AtomicU32 = AtomicU32::new(0);
    let n = N.fetch_add(1, Ordering::Relaxed);
    std::env::temp_dir().join(format!("health-test-{}-{n}-{tag}", std::process::id()))
}

/// How the HTTP test server answers.
#[derive(Clone)]
pub struct Reply {
    pub status: u16,
    pub body: Vec<u8>,
    pub chunked: bool,
    /// Wait this long before answering.
    pub delay: Duration,
}

impl Reply {
    pub fn new(status: u16, body: &str) -> Self {
        Self {
            status,
            body: body.as_bytes().to_vec(),
            chunked: false,
            delay: Duration::ZERO,
        }
    }

    pub fn bytes(&self) -> Vec<u8> {
        let mut out = format!("HTTP/1.1 {} Test\r\nConnection: close\r\n", self.status);
        if self.chunked {
            out.push_str("Transfer-Encoding: chunked\r\n\r\n");
            let mut b = out.into_bytes();
            for c in self.body.chunks(3) {
                b.extend_from_slice(format!("{:x}\r\n", c.len()).as_bytes());
                b.extend_from_slice(c);
                b.extend_from_slice(b"\r\n");
            }
            b.extend_from_slice(b"0\r\n\r\n");
            b
        } else {
            out.push_str(&format!("Content-Length: {}\r\n\r\n", self.body.len()));
            let mut b = out.into_bytes();
            b.extend_from_slice(&self.body);
            b
        }
    }
}

/// Read a request head; returns it as text.
pub async fn read_request<S: AsyncRead + Unpin>(s: &mut S) -> String {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 1024];
    while !buf.windows(4).any(|w| w == b"\r\n\r\n") {
        match s.read(&mut chunk).await {
            Ok(0) | Err(_) => break,
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
        }
    }
    String::from_utf8_lossy(&buf).into_owned()
}

pub async fn serve_http_on<S: AsyncRead + AsyncWrite + Unpin>(mut s: S, reply: &Reply) -> String {
    let req = read_request(&mut s).await;
    tokio::time::sleep(reply.delay).await;
    let _ = s.write_all(&reply.bytes()).await;
    let _ = s.shutdown().await;
    req
}

/// An HTTP server answering every connection with `reply`. The last request head seen is
/// sent on the returned channel.
pub async fn http_server(
    reply: Reply,
) -> (SocketAddr, tokio::sync::mpsc::UnboundedReceiver<String>) {
    let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = l.local_addr().unwrap();
    let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
    let reply = Arc::new(reply);
    tokio::spawn(async move {
        while let Ok((s, _)) = l.accept().await {
            let reply = reply.clone();
            let tx = tx.clone();
            tokio::spawn(async move {
                let req = serve_http_on(s, &reply).await;
                let _ = tx.send(req);
            });
        }
    });
    (addr, rx)
}

/// A UDP echo server.
pub async fn udp_echo() -> SocketAddr {
    let s = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let addr = s.local_addr().unwrap();
    tokio::spawn(async move {
        let mut buf = [0u8; 2048];
        while let Ok((n, peer)) = s.recv_from(&mut buf).await {
            let _ = s.send_to(&buf[..n], peer).await;
        }
    });
    addr
}

/// A UDP port with nothing bound to it (the kernel answers with ICMP port unreachable).
pub fn closed_udp_port() -> SocketAddr {
    let s = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    s.local_addr().unwrap()
}

/// A TCP port with nothing listening (the kernel answers SYN with RST).
pub fn closed_tcp_port() -> SocketAddr {
    let s = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    s.local_addr().unwrap()
}

/// A listener on 127.0.0.1 with backlog 0 and its queue filled: the kernel drops further SYNs,
/// as for a hung server or a black hole. Keep both returned values alive for the test.
pub async fn full_accept_queue() -> (socket2::Socket, Vec<tokio::net::TcpStream>) {
    let s = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None).unwrap();
    s.bind(
        &"127.0.0.1:0"
            .parse::<std::net::SocketAddr>()
            .unwrap()
            .into(),
    )
    .unwrap();
    s.listen(0).unwrap();
    let target = s.local_addr().unwrap().as_socket().unwrap();
    let mut fillers = Vec::new();
    for _ in 0..8 {
        match tokio::time::timeout(
            Duration::from_millis(100),
            tokio::net::TcpStream::connect(target),
        )
        .await
        {
            Ok(Ok(c)) => fillers.push(c),
            _ => break,
        }
    }
    (s, fillers)
}
