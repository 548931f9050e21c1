//! The raw TTY attach stream.
//!
//! `POST /containers/{id}/attach` with `Upgrade: tcp` turns the HTTP connection into the
//! container's TTY: for a TTY container the bytes are not multiplexed, so they are passed on
//! exactly as they come. hyper does the HTTP part; after the upgrade the caller reads and
//! writes plain bytes, and backpressure is simply not reading.

use bytes::Bytes;
use http_body_util::Empty;
use hyper::header::{CONNECTION, HOST, UPGRADE};
use hyper::{Request, StatusCode};
use hyper_util::rt::TokioIo;
use tokio::io::{AsyncRead, AsyncWrite, ReadHalf, WriteHalf};

use super::Endpoint;

/// Bytes the container's TTY prints.
pub type AttachReader = ReadHalf<Box<dyn Io>>;
/// Bytes for the container's TTY input.
pub type AttachWriter = WriteHalf<Box<dyn Io>>;

pub trait Io: AsyncRead + AsyncWrite + Send + Unpin {}
impl<T: AsyncRead + AsyncWrite + Send + Unpin> Io for T {}

#[derive(Debug, thiserror::Error)]
pub enum AttachError {
    #[error("cannot connect to Docker: {0}")]
    Connect(std::io::Error),
    #[error("HTTP error during attach: {0}")]
    Http(String),
    #[error("Docker answered {0} to attach: {1}")]
    Status(u16, String),
}

async fn connect(endpoint: &Endpoint) -> Result<Box<dyn Io>, AttachError> {
    match endpoint {
        Endpoint::Unix(path) => tokio::net::UnixStream::connect(path)
            .await
            .map(|s| Box::new(s) as Box<dyn Io>)
            .map_err(AttachError::Connect),
        Endpoint::Tcp(addr) => {
            let stream = tokio::net::TcpStream::connect(addr)
                .await
                .map_err(AttachError::Connect)?;
            let _ = stream.set_nodelay(true);
            Ok(Box::new(stream))
        }
    }
}

/// Attaches stdin, stdout and stderr of a TTY container.
pub async fn attach(
    endpoint: &Endpoint,
    api_version: &str,
    container: &str,
) -> Result<(AttachReader, AttachWriter), AttachError> {
    let io = connect(endpoint).await?;
    let (mut sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(io))
        .await
        .map_err(|e| AttachError::Http(e.to_string()))?;
    // The connection task ends by handing the socket over to `upgrade::on` below.
    tokio::spawn(async move {
        if let Err(e) = connection.with_upgrades().await {
            log::debug!("attach connection ended: {e}");
        }
    });
    let uri =
        format!("/v{api_version}/containers/{container}/attach?stream=1&stdin=1&stdout=1&stderr=1");
    let request = Request::post(uri)
        .header(HOST, "docker")
        .header(CONNECTION, "Upgrade")
        .header(UPGRADE, "tcp")
        .body(Empty::<Bytes>::new())
        .map_err(|e| AttachError::Http(e.to_string()))?;
    let response = sender
        .send_request(request)
        .await
        .map_err(|e| AttachError::Http(e.to_string()))?;
    let status = response.status();
    if status != StatusCode::SWITCHING_PROTOCOLS {
        let reason = status.canonical_reason().unwrap_or("").to_string();
        return Err(AttachError::Status(status.as_u16(), reason));
    }
    let upgraded = hyper::upgrade::on(response)
        .await
        .map_err(|e| AttachError::Http(e.to_string()))?;
    let io: Box<dyn Io> = Box::new(TokioIo::new(upgraded));
    Ok(tokio::io::split(io))
}
