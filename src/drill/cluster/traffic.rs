//! The client's traffic: long-lived TCP connections to VIP:port, opened once from the client's
//! namespace and exercised after every event. An exercise sends each live connection a payload
//! of its own (its number, the round and random bytes), in an order shuffled anew each round
//! (so the order of sending is never the order of opening), and expects exactly that payload
//! back from the echo server; a connection that errs, closes, answers something else or nothing
//! within the timeout is broken, closed, and left out of later rounds.
//!
//! One thread holds every socket: it entered the client's namespace (sockets belong to the
//! namespace they were made in) and drives them on a current-thread tokio runtime, so 1,000
//! connections cost one thread and no process.

use std::collections::BTreeMap;
use std::net::SocketAddrV4;
use std::sync::mpsc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use futures::stream::{FuturesUnordered, StreamExt};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use super::netns;
use crate::drill::rng::Rng;

/// Connections being opened at once (a burst of 1,000 SYNs would only measure the backlog).
const OPEN_CONCURRENCY: usize = 64;
const OPEN_TIMEOUT: Duration = Duration::from_secs(5);
/// Payload length range (bytes): a few segments' worth would measure nothing more.
const PAYLOAD_MIN: u64 = 48;
const PAYLOAD_MAX: u64 = 200;

/// The outcome of one exercise (or of the opening).
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct Outcome {
    /// Connections alive before: those exercised.
    pub connections: usize,
    /// Those that sent and got their payload back.
    pub survived: usize,
    /// Broken ones by reason (`reset`, `closed`, `timeout`, `mismatch`, `refused`, ...).
    pub broken: BTreeMap<String, usize>,
    /// From the first send to the last answer.
    pub elapsed_ms: u64,
}

enum Cmd {
    Open(usize, mpsc::Sender<Outcome>),
    Exercise {
        round: u32,
        seed: u64,
        timeout: Duration,
        reply: mpsc::Sender<Outcome>,
    },
}

pub struct Client {
    tx: Option<mpsc::Sender<Cmd>>,
    thread: Option<JoinHandle<()>>,
}

impl Client {
    /// The client's traffic thread in namespace `ns`, towards `to`.
    pub fn start(ns: &str, to: SocketAddrV4) -> Client {
        let (tx, rx) = mpsc::channel::<Cmd>();
        let thread = netns::spawn(ns, "client-traffic", move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("the client's runtime");
            let mut conns: Vec<Option<TcpStream>> = Vec::new();
            for cmd in rx {
                match cmd {
                    Cmd::Open(n, reply) => {
                        let out = rt.block_on(open(&mut conns, to, n));
                        let _ = reply.send(out);
                    }
                    Cmd::Exercise {
                        round,
                        seed,
                        timeout,
                        reply,
                    } => {
                        let out = rt.block_on(exercise(&mut conns, round, seed, timeout));
                        let _ = reply.send(out);
                    }
                }
            }
            // Every socket closes here, before the lab removes the namespace.
            drop(conns);
        });
        Client {
            tx: Some(tx),
            thread: Some(thread),
        }
    }

    fn ask(&self, cmd: impl FnOnce(mpsc::Sender<Outcome>) -> Cmd) -> Outcome {
        let (reply, rx) = mpsc::channel();
        self.tx
            .as_ref()
            .expect("client running")
            .send(cmd(reply))
            .expect("the client thread is alive");
        rx.recv().expect("the client thread answers")
    }

    /// Opens `n` connections; the outcome counts those that opened as survived.
    pub fn open(&self, n: usize) -> Outcome {
        self.ask(|reply| Cmd::Open(n, reply))
    }

    /// Exercises every live connection once (round `round`, shuffled with `seed`).
    pub fn exercise(&self, round: u32, seed: u64, timeout: Duration) -> Outcome {
        self.ask(|reply| Cmd::Exercise {
            round,
            seed,
            timeout,
            reply,
        })
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

/// The name of a broken connection's error, as the outcome counts it.
pub fn reason(e: &std::io::Error) -> String {
    use std::io::ErrorKind::*;
    match e.kind() {
        ConnectionReset => "reset".into(),
        ConnectionRefused => "refused".into(),
        ConnectionAborted | BrokenPipe => "closed".into(),
        TimedOut => "timeout".into(),
        HostUnreachable | NetworkUnreachable => "unreachable".into(),
        _ => format!("error {}", e.raw_os_error().unwrap_or(0)),
    }
}

/// Opens `n` connections to `to` (appended to `conns`), at most [`OPEN_CONCURRENCY`] at a time
/// (the stateful drill opens its classes with it too).
pub async fn open(conns: &mut Vec<Option<TcpStream>>, to: SocketAddrV4, n: usize) -> Outcome {
    let start = Instant::now();
    let results: Vec<Result<TcpStream, String>> = futures::stream::iter(0..n)
        .map(|_| async move {
            match tokio::time::timeout(OPEN_TIMEOUT, TcpStream::connect(to)).await {
                Ok(Ok(s)) => {
                    let _ = s.set_nodelay(true);
                    Ok(s)
                }
                Ok(Err(e)) => Err(reason(&e)),
                Err(_) => Err("timeout".into()),
            }
        })
        .buffered(OPEN_CONCURRENCY)
        .collect()
        .await;
    opened(results, conns, start)
}

/// Counts what opening came to: the opened ones join `into`, the others count as broken by
/// reason.
pub fn opened<T>(
    results: Vec<Result<T, String>>,
    into: &mut Vec<Option<T>>,
    start: Instant,
) -> Outcome {
    let mut out = Outcome {
        connections: results.len(),
        ..Outcome::default()
    };
    for r in results {
        match r {
            Ok(c) => {
                out.survived += 1;
                into.push(Some(c));
            }
            Err(why) => *out.broken.entry(why).or_default() += 1,
        }
    }
    out.elapsed_ms = start.elapsed().as_millis() as u64;
    out
}

/// Connection `i`'s payload of `round`: recognisable in a capture, unique, random length.
pub fn payload(i: usize, round: u32, rng: &mut Rng) -> Vec<u8> {
    let len = rng.range(PAYLOAD_MIN, PAYLOAD_MAX) as usize;
    let mut p = format!("c{i:05} r{round:03} ").into_bytes();
    while p.len() < len {
        p.extend_from_slice(format!("{:016x}", rng.next_u64()).as_bytes());
    }
    p.truncate(len);
    p.push(b'\n');
    p
}

/// Every live connection of `conns` sends its payload of `round`, in an order shuffled with
/// `seed`, and must get it back within `timeout`; the broken ones are closed (set to `None`).
pub async fn exercise(
    conns: &mut [Option<TcpStream>],
    round: u32,
    seed: u64,
    timeout: Duration,
) -> Outcome {
    let mut rng = Rng::new(seed ^ u64::from(round).rotate_left(32));
    let mut order: Vec<usize> = (0..conns.len()).filter(|&i| conns[i].is_some()).collect();
    rng.shuffle(&mut order);
    let mut payloads: Vec<Vec<u8>> = vec![Vec::new(); conns.len()];
    let start = Instant::now();
    // Sent in the shuffled order: each payload fits an empty socket buffer, so try_write sends
    // it whole at once; the rest (if any) goes with the reading below.
    let mut sent = vec![0usize; conns.len()];
    for &i in &order {
        payloads[i] = payload(i, round, &mut rng);
        if let Some(s) = &conns[i] {
            sent[i] = s.try_write(&payloads[i]).unwrap_or(0);
        }
    }
    let pending = FuturesUnordered::new();
    for (i, (c, p)) in conns.iter_mut().zip(&payloads).enumerate() {
        let Some(s) = c.as_mut() else { continue };
        let from = sent[i];
        pending.push(async move {
            let r = tokio::time::timeout(timeout, async {
                s.write_all(&p[from..]).await.map_err(|e| reason(&e))?;
                let mut back = vec![0u8; p.len()];
                match s.read_exact(&mut back).await {
                    Ok(_) if back == *p => Ok(()),
                    Ok(_) => Err("mismatch".to_string()),
                    Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => {
                        Err("closed".to_string())
                    }
                    Err(e) => Err(reason(&e)),
                }
            })
            .await;
            (i, r.unwrap_or_else(|_| Err("timeout".to_string())))
        });
    }
    let (mut out, broken) = tally(pending, order.len()).await;
    for i in broken {
        conns[i] = None;
    }
    out.elapsed_ms = start.elapsed().as_millis() as u64;
    out
}

/// Waits for every exchange of a round (`(index, result)`) and counts them: the outcome, and
/// the indices of the connections that broke (the caller drops them).
pub async fn tally<T, F>(
    mut pending: FuturesUnordered<F>,
    connections: usize,
) -> (Outcome, Vec<usize>)
where
    F: std::future::Future<Output = (usize, Result<T, String>)>,
{
    let mut out = Outcome {
        connections,
        ..Outcome::default()
    };
    let mut broken = Vec::new();
    while let Some((i, r)) = pending.next().await {
        match r {
            Ok(_) => out.survived += 1,
            Err(why) => {
                *out.broken.entry(why).or_default() += 1;
                broken.push(i);
            }
        }
    }
    (out, broken)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn payloads_are_unique_and_within_bounds() {
        let mut rng = Rng::new(7);
        let mut seen = std::collections::HashSet::new();
        for round in 0..3 {
            for i in 0..200 {
                let p = payload(i, round, &mut rng);
                assert!(p.len() > PAYLOAD_MIN as usize && p.len() <= PAYLOAD_MAX as usize + 1);
                assert!(p.starts_with(format!("c{i:05} r{round:03} ").as_bytes()));
                assert!(seen.insert(p));
            }
        }
    }

    /// The engine against a local echo server, in this namespace: every connection answers,
    /// then the server goes away and every one of them counts as broken.
    #[test]
    fn exercise_counts_survivors_and_breaks() {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async {
            let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
            let std::net::SocketAddr::V4(addr) = listener.local_addr().unwrap() else {
                unreachable!()
            };
            // One task holds every server socket, so aborting it closes them all.
            let server = tokio::spawn(async move {
                let mut socks = Vec::new();
                while socks.len() < 50 {
                    socks.push(listener.accept().await.unwrap().0);
                }
                futures::future::join_all(socks.iter_mut().map(|s| async move {
                    let mut buf = [0u8; 4096];
                    loop {
                        match s.read(&mut buf).await {
                            Ok(0) | Err(_) => break,
                            Ok(n) => s.write_all(&buf[..n]).await.unwrap(),
                        }
                    }
                }))
                .await;
            });
            let mut conns = Vec::new();
            let o = open(&mut conns, addr, 50).await;
            assert_eq!((o.connections, o.survived), (50, 50));
            let timeout = Duration::from_secs(5);
            let o = exercise(&mut conns, 1, 9, timeout).await;
            assert_eq!((o.connections, o.survived), (50, 50), "{o:?}");
            server.abort();
            let _ = server.await;
            let o = exercise(&mut conns, 2, 9, timeout).await;
            assert_eq!((o.connections, o.survived), (50, 0), "{o:?}");
            assert!(conns.iter().all(Option::is_none));
        });
    }
}
