//! The clients' traffic: one thread per client namespace (the LAN client, the routed client,
//! the site's user) holds every connection and UDP flow of its classes and drives them on a
//! current-thread tokio runtime.
//!
//! TCP connections are opened and exercised by the ECMP drill's engine
//! ([`crate::drill::cluster::traffic`]): each live connection sends a payload of its own, in an
//! order shuffled anew each round, and must get exactly that back. A UDP flow is a connected
//! socket of its own source port: it sends its payload (again every [`UDP_RESEND`] while no
//! answer came, since a datagram lost in the failover is not a broken flow) and must get it
//! back from the backend that answered it first ([`super::echo`] names itself): an answer from
//! the other backend means the flow was scheduled afresh and its session is lost (`moved`).
//!
//! Between events [`Clients::fill`] replaces the broken connections and flows, so every event
//! starts with every class at its full count.

use std::collections::BTreeMap;
use std::sync::mpsc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use futures::stream::{FuturesUnordered, StreamExt};
use tokio::net::{TcpStream, UdpSocket};

use super::echo::split_udp_answer;
use super::plan::{Class, Place, Proto};
use crate::drill::cluster::netns;
use crate::drill::cluster::traffic::{self as tcp, payload, reason, Outcome};
use crate::drill::rng::Rng;

/// A UDP payload without an answer is sent again after this long.
const UDP_RESEND: Duration = Duration::from_millis(300);
/// Opening a UDP flow: its first exchange.
const UDP_OPEN_TIMEOUT: Duration = Duration::from_secs(3);
/// Flows opened at once.
const UDP_OPEN_CONCURRENCY: usize = 64;

/// Per class name, what a fill or an exercise found.
pub type Outcomes = BTreeMap<String, Outcome>;

struct UdpFlow {
    sock: UdpSocket,
    /// The backend that answered its first datagram.
    backend: String,
}

/// The connections or flows of one class.
struct Group {
    class: Class,
    tcp: Vec<Option<TcpStream>>,
    udp: Vec<Option<UdpFlow>>,
}

impl Group {
    fn live(&self) -> usize {
        match self.class.proto {
            Proto::Tcp => self.tcp.iter().flatten().count(),
            Proto::Udp => self.udp.iter().flatten().count(),
        }
    }

    /// Opens what is missing of the class's count; the outcome counts the missing ones as
    /// `connections` and those that opened as `survived`.
    async fn fill(&mut self) -> Outcome {
        self.tcp.retain(Option::is_some);
        self.udp.retain(Option::is_some);
        let n = self.class.count.saturating_sub(self.live());
        match self.class.proto {
            Proto::Tcp => tcp::open(&mut self.tcp, self.class.to, n).await,
            Proto::Udp => open_udp(&mut self.udp, &self.class, n).await,
        }
    }

    async fn exercise(&mut self, round: u32, seed: u64, timeout: Duration) -> Outcome {
        // Each class shuffles with a seed of its own.
        let seed = seed ^ ((self.class.to.port() as u64) << 16) ^ (self.class.place as u64);
        match self.class.proto {
            Proto::Tcp => tcp::exercise(&mut self.tcp, round, seed, timeout).await,
            Proto::Udp => exercise_udp(&mut self.udp, round, seed, timeout).await,
        }
    }
}

enum Cmd {
    Fill(mpsc::Sender<Outcomes>),
    Exercise {
        round: u32,
        seed: u64,
        timeout: Duration,
        reply: mpsc::Sender<Outcomes>,
    },
}

/// The traffic thread of one client namespace.
struct Client {
    tx: Option<mpsc::Sender<Cmd>>,
    thread: Option<JoinHandle<()>>,
}

impl Client {
    fn start(ns: &str, place: Place, classes: Vec<Class>) -> Client {
        let (tx, rx) = mpsc::channel::<Cmd>();
        let thread = netns::spawn(ns, &format!("traffic-{}", place.name()), move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("the client's runtime");
            let mut groups: Vec<Group> = classes
                .into_iter()
                .map(|class| Group {
                    class,
                    tcp: Vec::new(),
                    udp: Vec::new(),
                })
                .collect();
            for cmd in rx {
                let (reply, outcomes) = match cmd {
                    Cmd::Fill(reply) => (
                        reply,
                        rt.block_on(futures::future::join_all(
                            groups.iter_mut().map(|g| g.fill()),
                        )),
                    ),
                    Cmd::Exercise {
                        round,
                        seed,
                        timeout,
                        reply,
                    } => (
                        reply,
                        rt.block_on(futures::future::join_all(
                            groups.iter_mut().map(|g| g.exercise(round, seed, timeout)),
                        )),
                    ),
                };
                let named = groups
                    .iter()
                    .map(|g| g.class.name())
                    .zip(outcomes)
                    .collect();
                let _ = reply.send(named);
            }
            // Every socket closes here, before the lab removes the namespace.
            drop(groups);
        });
        Client {
            tx: Some(tx),
            thread: Some(thread),
        }
    }

    fn send(&self, cmd: Cmd) {
        self.tx
            .as_ref()
            .expect("client running")
            .send(cmd)
            .expect("the client thread is alive");
    }
}

impl Drop for Client {
    fn drop(&mut self) {
        self.tx.take();
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// Every client namespace's traffic; each command runs on all of them at once.
pub struct Clients {
    clients: Vec<Client>,
    seed: u64,
    round: u32,
}

impl Clients {
    /// `namespaces` names the namespace of each place; `classes` says what each sends.
    pub fn start(namespaces: &[(Place, String)], classes: &[Class], seed: u64) -> Clients {
        let clients = namespaces
            .iter()
            .filter_map(|(place, ns)| {
                let mine: Vec<Class> = classes
                    .iter()
                    .filter(|c| c.place == *place)
                    .copied()
                    .collect();
                (!mine.is_empty()).then(|| Client::start(ns, *place, mine))
            })
            .collect();
        Clients {
            clients,
            seed,
            round: 0,
        }
    }

    fn all(&self, cmd: impl Fn(mpsc::Sender<Outcomes>) -> Cmd) -> Outcomes {
        let rxs: Vec<_> = self
            .clients
            .iter()
            .map(|c| {
                let (reply, rx) = mpsc::channel();
                c.send(cmd(reply));
                rx
            })
            .collect();
        let mut out = Outcomes::new();
        for rx in rxs {
            out.extend(rx.recv().expect("the client thread answers"));
        }
        out
    }

    /// Opens what each class misses of its count.
    pub fn fill(&self) -> Outcomes {
        self.all(Cmd::Fill)
    }

    /// Exercises every live connection and flow once (a new round, a new order).
    pub fn exercise(&mut self, timeout: Duration) -> Outcomes {
        self.round += 1;
        let (round, seed) = (self.round, self.seed);
        self.all(|reply| Cmd::Exercise {
            round,
            seed,
            timeout,
            reply,
        })
    }
}

/// Opens `n` UDP flows to the class's service: a socket each, connected, with a first
/// exchange that says which backend serves it.
async fn open_udp(flows: &mut Vec<Option<UdpFlow>>, class: &Class, n: usize) -> Outcome {
    let start = Instant::now();
    let to = class.to;
    let base = flows.len();
    let results: Vec<Result<UdpFlow, String>> = futures::stream::iter(0..n)
        .map(|k| async move {
            let sock = UdpSocket::bind("0.0.0.0:0").await.map_err(|e| reason(&e))?;
            sock.connect(to).await.map_err(|e| reason(&e))?;
            let mut rng = Rng::new((base + k) as u64);
            let p = payload(base + k, 0, &mut rng);
            let backend = exchange(&sock, &p, None, UDP_OPEN_TIMEOUT).await?;
            Ok(UdpFlow { sock, backend })
        })
        .buffer_unordered(UDP_OPEN_CONCURRENCY)
        .collect()
        .await;
    tcp::opened(results, flows, start)
}

/// Sends `p` (again every [`UDP_RESEND`]) until its echo comes back within `timeout`; returns
/// the backend that answered. An answer from another backend than `backend` is `moved`;
/// answers to earlier payloads (late duplicates of resends) are skipped.
async fn exchange(
    sock: &UdpSocket,
    p: &[u8],
    backend: Option<&str>,
    timeout: Duration,
) -> Result<String, String> {
    let deadline = tokio::time::Instant::now() + timeout;
    let mut buf = vec![0u8; 2048];
    loop {
        let now = tokio::time::Instant::now();
        if now >= deadline {
            return Err("timeout".into());
        }
        sock.send(p).await.map_err(|e| reason(&e))?;
        let resend = (now + UDP_RESEND).min(deadline);
        loop {
            match tokio::time::timeout_at(resend, sock.recv(&mut buf)).await {
                Err(_) => break,
                Ok(Err(e)) => return Err(reason(&e)),
                Ok(Ok(n)) => {
                    let Some((name, echoed)) = split_udp_answer(&buf[..n]) else {
                        return Err("mismatch".into());
                    };
                    if echoed != p {
                        continue;
                    }
                    return match backend {
                        Some(b) if b != name => Err("moved".into()),
                        _ => Ok(name.to_string()),
                    };
                }
            }
        }
    }
}

async fn exercise_udp(
    flows: &mut [Option<UdpFlow>],
    round: u32,
    seed: u64,
    timeout: Duration,
) -> Outcome {
    let mut rng = Rng::new(seed ^ u64::from(round).rotate_left(32));
    let mut order: Vec<usize> = (0..flows.len()).filter(|&i| flows[i].is_some()).collect();
    rng.shuffle(&mut order);
    let start = Instant::now();
    // Each flow's exchange starts in the shuffled order: the first datagrams leave in it.
    let pending = FuturesUnordered::new();
    for &i in &order {
        let p = payload(i, round, &mut rng);
        let f = flows[i].as_ref().expect("a live flow");
        pending.push(async move {
            let r = exchange(&f.sock, &p, Some(&f.backend), timeout).await;
            (i, r)
        });
    }
    let (mut out, broken) = tcp::tally(pending, order.len()).await;
    for i in broken {
        flows[i] = None;
    }
    out.elapsed_ms = start.elapsed().as_millis() as u64;
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The UDP side against a local tagged echo: every flow answers from its backend; a
    /// backend that changes its name (a flow scheduled afresh elsewhere) breaks every flow as
    /// `moved`; a silent one as `timeout`.
    #[test]
    fn udp_flows_survive_only_on_their_backend() {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async {
            let server = UdpSocket::bind("127.0.0.1:0").await.unwrap();
            let std::net::SocketAddr::V4(addr) = server.local_addr().unwrap() else {
                unreachable!()
            };
            let name = std::sync::Arc::new(std::sync::Mutex::new(Some("b1")));
            let n2 = name.clone();
            tokio::spawn(async move {
                let mut buf = vec![0u8; 2048];
                loop {
                    let (n, from) = server.recv_from(&mut buf).await.unwrap();
                    let tag = *n2.lock().unwrap();
                    if let Some(tag) = tag {
                        let mut r = format!("{tag} ").into_bytes();
                        r.extend_from_slice(&buf[..n]);
                        server.send_to(&r, from).await.unwrap();
                    }
                }
            });
            let class = Class {
                kind: "nat-udp",
                place: Place::Lan,
                proto: Proto::Udp,
                to: addr,
                count: 20,
            };
            let mut flows = Vec::new();
            let o = open_udp(&mut flows, &class, 20).await;
            assert_eq!((o.connections, o.survived), (20, 20), "{o:?}");
            let t = Duration::from_secs(2);
            let o = exercise_udp(&mut flows, 1, 5, t).await;
            assert_eq!((o.connections, o.survived), (20, 20), "{o:?}");
            *name.lock().unwrap() = Some("b2");
            let o = exercise_udp(&mut flows, 2, 5, t).await;
            assert_eq!((o.survived, o.broken.get("moved")), (0, Some(&20)), "{o:?}");
            assert!(flows.iter().all(Option::is_none));
            *name.lock().unwrap() = None;
            let o = open_udp(&mut flows, &class, 3).await;
            assert_eq!(
                (o.survived, o.broken.get("timeout")),
                (0, Some(&3)),
                "{o:?}"
            );
        });
    }
}
