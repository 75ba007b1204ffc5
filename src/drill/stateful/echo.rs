//! The backends' and the outside server's echo servers, in this process: one thread per host
//! inside the host's namespace (sockets belong to the namespace they are made in) on a
//! current-thread tokio runtime, so thousands of idle connections cost no process.
//!
//! TCP gives back every byte it reads. UDP answers each datagram with the host's name, a
//! space and the datagram: a UDP flow has no connection to reset, so the client tells a flow
//! that a new node sent to another backend (its session there lost) by the name.

use std::sync::mpsc as std_mpsc;
use std::thread::JoinHandle;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::oneshot;
use tokio::task::JoinSet;

use crate::drill::cluster::netns;
use crate::drill::rehearse::servers::{tcp_listener, udp_socket};

pub struct Echo {
    pub host: String,
    stop: Option<oneshot::Sender<()>>,
    thread: Option<JoinHandle<()>>,
}

impl Echo {
    /// Starts the servers of `host` in namespace `ns`; returns once every port listens.
    pub fn start(ns: &str, host: &str, tcp: &[u16], udp: &[u16]) -> Result<Echo, String> {
        let (stop, stopped) = oneshot::channel::<()>();
        let (ready, is_ready) = std_mpsc::channel::<Result<(), String>>();
        let (name, tcp, udp) = (host.to_string(), tcp.to_vec(), udp.to_vec());
        let thread = netns::spawn(ns, &format!("echo-{host}"), move || {
            let rt = match tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
            {
                Ok(rt) => rt,
                Err(e) => {
                    let _ = ready.send(Err(format!("{name}: runtime: {e}")));
                    return;
                }
            };
            rt.block_on(async move {
                let mut tasks = JoinSet::new();
                let r = listen(&name, &tcp, &udp, &mut tasks);
                let ok = r.is_ok();
                let _ = ready.send(r);
                if ok {
                    let _ = stopped.await;
                }
                // Every task gone: every socket closed, before the namespace goes.
                tasks.abort_all();
                while tasks.join_next().await.is_some() {}
            });
        });
        let echo = Echo {
            host: host.to_string(),
            stop: Some(stop),
            thread: Some(thread),
        };
        match is_ready.recv_timeout(Duration::from_secs(10)) {
            Ok(Ok(())) => Ok(echo),
            Ok(Err(e)) => Err(e),
            Err(_) => Err(format!("echo servers of {host}: no answer")),
        }
    }
}

impl Drop for Echo {
    fn drop(&mut self) {
        if let Some(s) = self.stop.take() {
            let _ = s.send(());
        }
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

fn listen(host: &str, tcp: &[u16], udp: &[u16], tasks: &mut JoinSet<()>) -> Result<(), String> {
    for &port in tcp {
        let l = tcp_listener(port).map_err(|e| format!("{host}: tcp port {port}: {e}"))?;
        tasks.spawn(async move {
            // Connections live in a set of their own, dropped (closed) with this task.
            let mut conns: JoinSet<()> = JoinSet::new();
            loop {
                tokio::select! {
                    a = l.accept() => {
                        if let Ok((s, _)) = a {
                            let _ = s.set_nodelay(true);
                            conns.spawn(echo_tcp(s));
                        }
                    }
                    Some(_) = conns.join_next(), if !conns.is_empty() => {}
                }
            }
        });
    }
    for &port in udp {
        let s = udp_socket(port).map_err(|e| format!("{host}: udp port {port}: {e}"))?;
        let tag = format!("{host} ").into_bytes();
        tasks.spawn(async move {
            let mut buf = vec![0u8; 65536];
            loop {
                let Ok((n, from)) = s.recv_from(&mut buf).await else {
                    continue;
                };
                let mut reply = tag.clone();
                reply.extend_from_slice(&buf[..n]);
                let _ = s.send_to(&reply, from).await;
            }
        });
    }
    Ok(())
}

async fn echo_tcp(mut s: TcpStream) {
    let mut buf = vec![0u8; 16 * 1024];
    loop {
        match s.read(&mut buf).await {
            Ok(0) | Err(_) => return,
            Ok(n) => {
                if s.write_all(&buf[..n]).await.is_err() {
                    return;
                }
            }
        }
    }
}

/// The name a UDP answer carries and the payload after it.
pub fn split_udp_answer(answer: &[u8]) -> Option<(&str, &[u8])> {
    let space = answer.iter().position(|&b| b == b' ')?;
    let name = std::str::from_utf8(&answer[..space]).ok()?;
    Some((name, &answer[space + 1..]))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn udp_answers_split_into_name_and_payload() {
        assert_eq!(
            split_udp_answer(b"b1 u00001 r002 xyz\n"),
            Some(("b1", &b"u00001 r002 xyz\n"[..]))
        );
        assert_eq!(split_udp_answer(b"nospace"), None);
    }
}
