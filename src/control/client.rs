//! The `appctl` side of the control socket (blocking: a CLI has nothing else to do).

use std::io::{self, BufRead, BufReader, Write};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};

use super::protocol::{Command, Request, Response, PROTOCOL_VERSION};

#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    #[error("no daemon is listening on {path} ({source})")]
    NoDaemon { path: PathBuf, source: io::Error },
    #[error("control socket {path}: {source}")]
    Io { path: PathBuf, source: io::Error },
    #[error("daemon sent a reply this appctl cannot read: {0}")]
    Protocol(String),
    #[error("{0}")]
    Daemon(String),
}

pub struct Client {
    path: PathBuf,
    reader: BufReader<UnixStream>,
    writer: UnixStream,
}

impl Client {
    pub fn connect(path: &Path) -> Result<Self, ClientError> {
        let stream = UnixStream::connect(path).map_err(|source| ClientError::NoDaemon {
            path: path.to_path_buf(),
            source,
        })?;
        let writer = stream.try_clone().map_err(|source| ClientError::Io {
            path: path.to_path_buf(),
            source,
        })?;
        Ok(Client {
            path: path.to_path_buf(),
            reader: BufReader::new(stream),
            writer,
        })
    }

    pub fn send(&mut self, command: Command) -> Result<(), ClientError> {
        let req = Request {
            version: PROTOCOL_VERSION,
            command,
        };
        let mut line =
            serde_json::to_vec(&req).map_err(|e| ClientError::Protocol(e.to_string()))?;
        line.push(b'\n');
        self.writer
            .write_all(&line)
            .map_err(|source| ClientError::Io {
                path: self.path.clone(),
                source,
            })
    }

    /// The next response line; `None` when the daemon closed the stream.
    pub fn next_response(&mut self) -> Result<Option<serde_json::Value>, ClientError> {
        let mut line = String::new();
        let n = self
            .reader
            .read_line(&mut line)
            .map_err(|source| ClientError::Io {
                path: self.path.clone(),
                source,
            })?;
        if n == 0 {
            return Ok(None);
        }
        let resp: Response =
            serde_json::from_str(&line).map_err(|e| ClientError::Protocol(e.to_string()))?;
        if resp.ok {
            Ok(Some(resp.data))
        } else {
            Err(ClientError::Daemon(
                resp.error.unwrap_or_else(|| "request failed".into()),
            ))
        }
    }

    /// One request, one response.
    pub fn call(&mut self, command: Command) -> Result<serde_json::Value, ClientError> {
        self.send(command)?;
        self.next_response()?.ok_or_else(|| {
            ClientError::Protocol("daemon closed the connection without replying".into())
        })
    }
}
