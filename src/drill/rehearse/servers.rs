//! The servers of a rehearsal's backends and check targets: HTTP/1.1 with keep-alive on each TCP
//! port, the same over TLS on each HTTPS port (an `https` check's; a connection that does not
//! open with a TLS record is answered in clear, so a service's plain traffic to the same port is
//! served too), an echo (or a check's `expect`) on each UDP port, and on a `dns` check's port
//! the answers it expects ([`super::dns`]). One thread per host, inside the
//! host's namespace (sockets belong to the namespace they are made in), on a current-thread
//! tokio runtime; `stop` closes every listener and connection as a crashed server's kernel
//! would, `start` opens them again.

use std::collections::BTreeMap;
use std::net::{Ipv6Addr, SocketAddr};
use std::sync::mpsc as std_mpsc;
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream, UdpSocket};
use tokio::sync::mpsc;
use tokio::task::JoinSet;
use tokio_rustls::TlsAcceptor;

use super::plan::Serve;
use crate::drill::cluster::netns;

/// A request head larger than this is answered with a close (nothing the drill sends is).
const MAX_HEAD: usize = 16 * 1024;

enum Cmd {
    Start(std_mpsc::Sender<Result<(), String>>),
    Stop(std_mpsc::Sender<()>),
}

/// The servers of one host.
pub struct Servers {
    pub host: String,
    tx: mpsc::UnboundedSender<Cmd>,
    thread: Option<JoinHandle<()>>,
}

impl Servers {
    /// A thread in namespace `ns` for `serve`, not yet listening; `host` names the answers;
    /// `tls` serves the HTTPS ports.
    pub fn new(ns: &str, host: &str, serve: Serve, tls: Option<TlsAcceptor>) -> Servers {
        let (tx, mut rx) = mpsc::unbounded_channel::<Cmd>();
        let name = host.to_string();
        let thread = netns::spawn(ns, &format!("srv-{host}"), move || {
            let rt = match tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
            {
                Ok(rt) => rt,
                Err(_) => return,
            };
            rt.block_on(async move {
                let mut tasks: JoinSet<()> = JoinSet::new();
                while let Some(cmd) = rx.recv().await {
                    match cmd {
                        Cmd::Start(reply) => {
                            tasks.abort_all();
                            let r = listen(&name, &serve, tls.clone(), &mut tasks).await;
                            let _ = reply.send(r);
                        }
                        Cmd::Stop(reply) => {
                            tasks.abort_all();
                            // Every task gone means every socket closed.
                            while tasks.join_next().await.is_some() {}
                            let _ = reply.send(());
                        }
                    }
                }
                tasks.abort_all();
                while tasks.join_next().await.is_some() {}
            });
        });
        Servers {
            host: host.to_string(),
            tx,
            thread: Some(thread),
        }
    }

    /// Opens every port; returns once they listen.
    pub fn start(&self) -> Result<(), String> {
        let (reply, rx) = std_mpsc::channel();
        self.tx
            .send(Cmd::Start(reply))
            .map_err(|_| format!("servers of {}: the thread is gone", self.host))?;
        rx.recv_timeout(Duration::from_secs(10))
            .map_err(|_| format!("servers of {}: no answer", self.host))?
    }

    /// Closes every listener and connection.
    pub fn stop(&self) {
        let (reply, rx) = std_mpsc::channel();
        if self.tx.send(Cmd::Stop(reply)).is_ok() {
            let _ = rx.recv_timeout(Duration::from_secs(10));
        }
    }
}

impl Drop for Servers {
    fn drop(&mut self) {
        self.stop();
        // Closing the channel ends the thread's loop.
        let (tx, _) = mpsc::unbounded_channel();
        drop(std::mem::replace(&mut self.tx, tx));
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// A listening socket on every address of the namespace (IPv6 and IPv4 alike), with
/// SO_REUSEADDR so a restart right after a stop finds the port free (the stateful drill's echo
/// servers use it too).
pub(crate) fn tcp_listener(port: u16) -> std::io::Result<TcpListener> {
    let s = any_address_socket(socket2::Type::STREAM, port)?;
    s.listen(1024)?;
    TcpListener::from_std(s.into())
}

pub(crate) fn udp_socket(port: u16) -> std::io::Result<UdpSocket> {
    UdpSocket::from_std(any_address_socket(socket2::Type::DGRAM, port)?.into())
}

/// A non-blocking socket of `kind` bound to `port` on every address, IPv6 and IPv4 alike
/// (IPv4 only where the namespace has no IPv6), with SO_REUSEADDR.
fn any_address_socket(kind: socket2::Type, port: u16) -> std::io::Result<socket2::Socket> {
    use socket2::{Domain, Socket};
    let (s, addr) = match Socket::new(Domain::IPV6, kind, None) {
        Ok(s) => {
            s.set_only_v6(false)?;
            (s, SocketAddr::from((Ipv6Addr::UNSPECIFIED, port)))
        }
        Err(_) => (
            Socket::new(Domain::IPV4, kind, None)?,
            SocketAddr::from(([0, 0, 0, 0], port)),
        ),
    };
    s.set_reuse_address(true)?;
    s.set_nonblocking(true)?;
    s.bind(&addr.into())?;
    Ok(s)
}

async fn listen(
    host: &str,
    serve: &Serve,
    tls: Option<TlsAcceptor>,
    tasks: &mut JoinSet<()>,
) -> Result<(), String> {
    let answers = Arc::new(Answers {
        host: format!("{host}\n"),
        paths: serve.http_paths.clone(),
    });
    for &port in serve.tcp.union(&serve.https) {
        let l = tcp_listener(port).map_err(|e| format!("{host}: tcp port {port}: {e}"))?;
        let answers = answers.clone();
        let tls = if serve.https.contains(&port) {
            Some(
                tls.clone()
                    .ok_or_else(|| format!("{host}: https port {port}: no certificate"))?,
            )
        } else {
            None
        };
        tasks.spawn(async move {
            // Connections live in a set of their own, dropped (closed) with this task.
            let mut conns: JoinSet<()> = JoinSet::new();
            loop {
                tokio::select! {
                    a = l.accept() => {
                        if let Ok((s, _)) = a {
                            let _ = s.set_nodelay(true);
                            conns.spawn(serve_conn(s, tls.clone(), answers.clone()));
                        }
                    }
                    Some(_) = conns.join_next(), if !conns.is_empty() => {}
                }
            }
        });
    }
    let replies: BTreeMap<u16, Vec<u8>> = serve
        .udp_reply
        .iter()
        .map(|(p, r)| (*p, r.as_bytes().to_vec()))
        .collect();
    let mut udp: std::collections::BTreeSet<u16> = serve.udp.clone();
    udp.extend(serve.dns.keys());
    for port in udp {
        let s = udp_socket(port).map_err(|e| format!("{host}: udp port {port}: {e}"))?;
        let fixed = replies.get(&port).cloned();
        let echo = serve.udp.contains(&port);
        let dns = serve.dns.get(&port).cloned().unwrap_or_default();
        tasks.spawn(async move {
            let mut buf = vec![0u8; 65536];
            loop {
                let Ok((n, from)) = s.recv_from(&mut buf).await else {
                    continue;
                };
                let answer = if dns.is_empty() {
                    None
                } else {
                    super::dns::reply(&buf[..n], &dns)
                };
                let reply = match &answer {
                    Some(a) => a.as_slice(),
                    None if echo => fixed.as_deref().unwrap_or(&buf[..n]),
                    None => continue,
                };
                let _ = s.send_to(reply, from).await;
            }
        });
    }
    Ok(())
}

/// What a host answers: per path a status and a body (the health checks' paths), else 200
/// with its name.
struct Answers {
    host: String,
    paths: BTreeMap<String, (u16, String)>,
}

impl Answers {
    fn for_target(&self, target: &str) -> (u16, String) {
        match self.paths.get(target) {
            Some((status, body)) => (*status, format!("{}{body}", self.host)),
            None => (200, self.host.clone()),
        }
    }
}

/// A connection of a TCP port: over TLS when the port serves HTTPS and the client opens with a
/// TLS handshake record (RFC 8446 5.1: content type 22), else in clear.
async fn serve_conn(s: TcpStream, tls: Option<TlsAcceptor>, answers: Arc<Answers>) {
    let Some(tls) = tls else {
        return http(s, answers).await;
    };
    let mut first = [0u8; 1];
    match s.peek(&mut first).await {
        Ok(1) if first[0] == 22 => {
            if let Ok(t) = tls.accept(s).await {
                http(t, answers).await;
            }
        }
        Ok(_) => http(s, answers).await,
        Err(_) => {}
    }
}

/// One HTTP/1.1 connection: every request answered; closed after a request that asks for it
/// (or an HTTP/1.0 one), on EOF, or on a head too large.
async fn http<S: AsyncRead + AsyncWrite + Unpin>(mut s: S, answers: Arc<Answers>) {
    let mut buf: Vec<u8> = Vec::with_capacity(1024);
    let mut chunk = [0u8; 4096];
    loop {
        let end = loop {
            if let Some(i) = find_head_end(&buf) {
                break i;
            }
            if buf.len() > MAX_HEAD {
                return;
            }
            match s.read(&mut chunk).await {
                Ok(0) | Err(_) => return,
                Ok(n) => buf.extend_from_slice(&chunk[..n]),
            }
        };
        let raw = String::from_utf8_lossy(&buf[..end]).into_owned();
        buf.drain(..end + 4);
        let head = raw.to_ascii_lowercase();
        let first = head.lines().next().unwrap_or_default().to_string();
        let target = raw.split_whitespace().nth(1).unwrap_or("/");
        let close = head.contains("\nconnection: close")
            || (first.ends_with("http/1.0") && !head.contains("\nconnection: keep-alive"));
        let (status, body) = answers.for_target(target);
        // RFC 9110: no body with 1xx, 204 and 304, nor in answer to HEAD.
        let bodyless = status < 200 || status == 204 || status == 304;
        let body = if bodyless { String::new() } else { body };
        let mut resp = format!(
            "HTTP/1.1 {status} {}\r\nContent-Type: text/plain\r\nContent-Length: {}\r\n{}\r\n",
            if status < 400 { "OK" } else { "Error" },
            body.len(),
            if close { "Connection: close\r\n" } else { "" }
        )
        .into_bytes();
        if !first.starts_with("head ") {
            resp.extend_from_slice(body.as_bytes());
        }
        if s.write_all(&resp).await.is_err() || close {
            let _ = s.shutdown().await;
            return;
        }
    }
}

fn find_head_end(b: &[u8]) -> Option<usize> {
    b.windows(4).position(|w| w == b"\r\n\r\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The HTTP side against a keep-alive client and a closing one, in this namespace.
    #[test]
    fn answers_keep_alive_and_close() {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async {
            let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
            let addr = l.local_addr().unwrap();
            tokio::spawn(async move {
                loop {
                    let (s, _) = l.accept().await.unwrap();
                    let mut paths = BTreeMap::new();
                    paths.insert("/health".to_string(), (204, String::new()));
                    let answers = Arc::new(Answers {
                        host: "b1\n".into(),
                        paths,
                    });
                    tokio::spawn(http(s, answers));
                }
            });
            let mut c = TcpStream::connect(addr).await.unwrap();
            for _ in 0..3 {
                c.write_all(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
                    .await
                    .unwrap();
                let mut buf = vec![0u8; 256];
                let n = c.read(&mut buf).await.unwrap();
                let text = String::from_utf8_lossy(&buf[..n]).to_string();
                assert!(
                    text.starts_with("HTTP/1.1 200 OK") && text.ends_with("\r\n\r\nb1\n"),
                    "{text}"
                );
            }
            let mut c = TcpStream::connect(addr).await.unwrap();
            c.write_all(b"GET /health HTTP/1.1\r\n\r\n").await.unwrap();
            let mut buf = vec![0u8; 256];
            let n = c.read(&mut buf).await.unwrap();
            let text = String::from_utf8_lossy(&buf[..n]).to_string();
            assert!(
                text.starts_with("HTTP/1.1 204 OK") && text.contains("Content-Length: 0"),
                "{text}"
            );
            let mut c = TcpStream::connect(addr).await.unwrap();
            c.write_all(b"GET / HTTP/1.1\r\nConnection: close\r\n\r\n")
                .await
                .unwrap();
            let mut all = Vec::new();
            c.read_to_end(&mut all).await.unwrap();
            assert!(String::from_utf8_lossy(&all).contains("Connection: close"));
        });
    }

    /// An HTTPS port: what the health checks' own TLS client (verifying the name against the
    /// drill's authority as its `ca_file`) gets, and a plain HTTP client on the same port.
    #[test]
    fn serves_https_with_the_drills_authority_and_clear_text_on_the_same_port() {
        use health::probe::tls::TlsClient;
        use health::spec::TlsOptions;
        let ca = super::super::tls::Authority::new().unwrap();
        let dir = std::env::temp_dir().join(format!("drill-tls-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let ca_file = dir.join("ca.pem");
        ca.write(&ca_file).unwrap();
        let names: std::collections::BTreeSet<String> =
            ["127.0.0.1".to_string(), "web1.example.net".to_string()].into();
        let acceptor = TlsAcceptor::from(ca.server(&names).unwrap());
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async {
            let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
            let addr = l.local_addr().unwrap();
            tokio::spawn(async move {
                loop {
                    let (s, _) = l.accept().await.unwrap();
                    let mut paths = BTreeMap::new();
                    paths.insert("/healthz".to_string(), (200, "ok".to_string()));
                    let answers = Arc::new(Answers {
                        host: "b1\n".into(),
                        paths,
                    });
                    tokio::spawn(serve_conn(s, Some(acceptor.clone()), answers));
                }
            });
            let get = |sni: Option<&str>| {
                let opts = TlsOptions {
                    verify: true,
                    sni: sni.map(String::from),
                    ca_file: Some(ca_file.clone()),
                };
                TlsClient::new(&opts, None, addr).unwrap()
            };
            for sni in [None, Some("web1.example.net")] {
                let tcp = TcpStream::connect(addr).await.unwrap();
                let mut t = get(sni).connect(tcp).await.unwrap();
                t.write_all(b"GET /healthz HTTP/1.1\r\nConnection: close\r\n\r\n")
                    .await
                    .unwrap();
                let mut all = Vec::new();
                let _ = t.read_to_end(&mut all).await;
                let text = String::from_utf8_lossy(&all).to_string();
                assert!(
                    text.starts_with("HTTP/1.1 200 OK") && text.ends_with("b1\nok"),
                    "{text}"
                );
            }
            // A name the certificate does not hold fails verification.
            let tcp = TcpStream::connect(addr).await.unwrap();
            assert!(get(Some("other.example.net")).connect(tcp).await.is_err());
            let mut c = TcpStream::connect(addr).await.unwrap();
            c.write_all(b"GET / HTTP/1.1\r\nConnection: close\r\n\r\n")
                .await
                .unwrap();
            let mut all = Vec::new();
            c.read_to_end(&mut all).await.unwrap();
            assert!(String::from_utf8_lossy(&all).starts_with("HTTP/1.1 200 OK"));
        });
        let _ = std::fs::remove_dir_all(&dir);
    }
}
