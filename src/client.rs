//! A protocol v1 client, for the integration tests, the benchmark and the probe suite.
//!
//! It speaks exactly what a browser page would: JSON text frames over a WebSocket. It keeps
//! the terminal's output as a transcript so callers can wait for text to appear, and it can
//! run a shell command and return just that command's output.

use futures_util::{SinkExt, StreamExt};
use std::time::{Duration, Instant};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::http::{HeaderName, HeaderValue};
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

use crate::protocol::{ErrorCode, ExitReason, ServerMessage};

pub type Socket = WebSocketStream<MaybeTlsStream<TcpStream>>;

#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    #[error("WebSocket: {0}")]
    WebSocket(#[from] tokio_tungstenite::tungstenite::Error),
    #[error("timed out after {0:?} waiting for {1}")]
    Timeout(Duration, String),
    #[error("the server ended the session: {0}")]
    Ended(String),
    #[error("unexpected message: {0}")]
    Unexpected(String),
}

/// What arrived from the server.
#[derive(Debug, Clone, PartialEq)]
pub enum Event {
    Session {
        id: String,
        container: String,
    },
    Output(String),
    Exit {
        code: i64,
        reason: Option<ExitReason>,
    },
    Error {
        code: ErrorCode,
        message: String,
    },
    /// A close frame (code, reason) or the connection's end (None).
    Closed(Option<(u16, String)>),
}

/// Opens a WebSocket, optionally with an Origin header.
pub async fn connect_socket(url: &str, origin: Option<&str>) -> Result<Socket, ClientError> {
    let origin: Vec<(&str, &str)> = origin.map(|o| ("Origin", o)).into_iter().collect();
    connect_socket_with_headers(url, &origin).await
}

/// Opens the WebSocket with extra request headers (a header that is not valid is left out).
pub async fn connect_socket_with_headers(
    url: &str,
    headers: &[(&str, &str)],
) -> Result<Socket, ClientError> {
    let mut request = url.into_client_request()?;
    for (name, value) in headers {
        if let (Ok(name), Ok(value)) = (
            HeaderName::from_bytes(name.as_bytes()),
            HeaderValue::from_str(value),
        ) {
            request.headers_mut().append(name, value);
        }
    }
    // Like browsers, disable Nagle: terminal traffic is small writes that must not wait.
    let (socket, _) = tokio_tungstenite::connect_async_with_config(request, None, true).await?;
    Ok(socket)
}

pub struct Client {
    socket: Socket,
    pub session_id: String,
    pub container: String,
    /// Everything printed so far.
    pub transcript: String,
    /// Where `run` starts looking for its markers.
    cursor: usize,
    pub closed: Option<Option<(u16, String)>>,
    pub frames: usize,
    counter: u64,
}

impl Client {
    /// Connects and waits for the `session` frame.
    pub async fn connect(url: &str, wait: Duration) -> Result<Client, ClientError> {
        let socket = connect_socket(url, None).await?;
        Client::from_socket(socket, wait).await
    }

    pub async fn from_socket(socket: Socket, wait: Duration) -> Result<Client, ClientError> {
        let mut client = Client {
            socket,
            session_id: String::new(),
            container: String::new(),
            transcript: String::new(),
            cursor: 0,
            closed: None,
            frames: 0,
            counter: 0,
        };
        match client.next_event(wait).await? {
            Event::Session { id, container } => {
                client.session_id = id;
                client.container = container;
                Ok(client)
            }
            Event::Error { code, message } => {
                Err(ClientError::Ended(format!("{}: {message}", code.as_str())))
            }
            other => Err(ClientError::Unexpected(format!("{other:?}"))),
        }
    }

    pub async fn send_raw(&mut self, message: Message) -> Result<(), ClientError> {
        self.socket.send(message).await?;
        Ok(())
    }

    pub async fn send_json(&mut self, value: serde_json::Value) -> Result<(), ClientError> {
        self.send_raw(Message::text(value.to_string())).await
    }

    /// Sends keystrokes exactly as the seed client does.
    pub async fn input(&mut self, data: &str) -> Result<(), ClientError> {
        self.send_json(serde_json::json!({ "type": "input", "data": data }))
            .await
    }

    pub async fn resize(&mut self, cols: u16, rows: u16) -> Result<(), ClientError> {
        self.send_json(serde_json::json!({ "type": "resize", "cols": cols, "rows": rows }))
            .await
    }

    /// The next protocol event; output is also appended to the transcript.
    pub async fn next_event(&mut self, wait: Duration) -> Result<Event, ClientError> {
        let deadline = Instant::now() + wait;
        loop {
            if let Some(closed) = &self.closed {
                return Ok(Event::Closed(closed.clone()));
            }
            let left = deadline.saturating_duration_since(Instant::now());
            let next = tokio::time::timeout(left, self.socket.next())
                .await
                .map_err(|_| ClientError::Timeout(wait, "a message".into()))?;
            let message = match next {
                None | Some(Err(_)) => {
                    self.closed = Some(None);
                    continue;
                }
                Some(Ok(m)) => m,
            };
            match message {
                Message::Text(text) => {
                    self.frames += 1;
                    return Ok(self.parse(text.as_str()));
                }
                Message::Close(frame) => {
                    self.closed = Some(frame.map(|f| (u16::from(f.code), f.reason.to_string())));
                }
                _ => {}
            }
        }
    }

    fn parse(&mut self, text: &str) -> Event {
        match serde_json::from_str::<ServerMessage<'static>>(text) {
            Ok(ServerMessage::Output { data }) => {
                self.transcript.push_str(&data);
                Event::Output(data.into_owned())
            }
            Ok(ServerMessage::Session { id, container }) => Event::Session {
                id: id.into_owned(),
                container: container.into_owned(),
            },
            Ok(ServerMessage::Exit { code, reason }) => Event::Exit { code, reason },
            Ok(ServerMessage::Error { code, message }) => Event::Error {
                code,
                message: message.into_owned(),
            },
            Err(e) => Event::Error {
                code: ErrorCode::Internal,
                message: format!("unparseable server frame ({e}): {text}"),
            },
        }
    }

    /// Reads until the transcript (after `cursor`) contains `needle`.
    pub async fn expect(&mut self, needle: &str, wait: Duration) -> Result<(), ClientError> {
        let deadline = Instant::now() + wait;
        // Only the new part (plus an overlap for a needle split across frames) is searched,
        // so a flood of output stays linear.
        let mut from = self.cursor;
        loop {
            if self.transcript[from..].contains(needle) {
                break;
            }
            from = self
                .transcript
                .len()
                .saturating_sub(needle.len())
                .max(self.cursor);
            while !self.transcript.is_char_boundary(from) {
                from -= 1;
            }
            let left = deadline.saturating_duration_since(Instant::now());
            match self.next_event(left).await {
                Ok(Event::Output(_)) => {}
                Ok(Event::Closed(c)) => {
                    return Err(ClientError::Ended(format!(
                        "closed ({c:?}) before '{needle}' appeared; transcript tail: {}",
                        tail(&self.transcript, 300)
                    )));
                }
                Ok(other) => {
                    if let Event::Error { code, message } = &other
                        && !matches!(code, ErrorCode::RateLimited | ErrorCode::InputOverflow)
                    {
                        return Err(ClientError::Unexpected(format!(
                            "{}: {message}",
                            code.as_str()
                        )));
                    }
                }
                Err(ClientError::Timeout(..)) => {
                    return Err(ClientError::Timeout(
                        wait,
                        format!(
                            "'{needle}'; transcript tail: {}",
                            tail(&self.transcript, 300)
                        ),
                    ));
                }
                Err(e) => return Err(e),
            }
        }
        Ok(())
    }

    /// Runs a shell command and returns what it printed (between two unique markers that
    /// never appear in the echoed command line itself).
    pub async fn run(&mut self, command: &str, wait: Duration) -> Result<String, ClientError> {
        self.counter += 1;
        let n = self.counter;
        let begin = format!("<<B{n}X>>");
        let end = format!("<<E{n}X>>");
        self.cursor = self.transcript.len();
        let line = format!("printf '<<B%sX>>\\n' {n}; {command}; printf '<<E%sX>>\\n' {n}\r");
        self.input(&line).await?;
        self.expect(&end, wait).await?;
        let window = &self.transcript[self.cursor..];
        let start = window.find(&begin).map(|i| i + begin.len()).unwrap_or(0);
        let stop = window.rfind(&end).unwrap_or(window.len());
        let output = window[start..stop.max(start)]
            .trim_matches(|c| c == '\r' || c == '\n')
            .replace("\r\n", "\n");
        self.cursor = self.transcript.len();
        Ok(output)
    }

    /// Waits for the session to end and returns every event up to the close.
    pub async fn until_closed(&mut self, wait: Duration) -> Result<Vec<Event>, ClientError> {
        let deadline = Instant::now() + wait;
        let mut events = Vec::new();
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            let event = self.next_event(left).await?;
            let done = matches!(event, Event::Closed(_));
            if !matches!(event, Event::Output(_)) {
                events.push(event);
            }
            if done {
                return Ok(events);
            }
        }
    }

    /// Closes politely.
    pub async fn close(mut self) {
        let _ = self.socket.close(None).await;
        let _ = tokio::time::timeout(Duration::from_secs(2), async {
            while let Some(Ok(_)) = self.socket.next().await {}
        })
        .await;
    }

    pub fn socket(&mut self) -> &mut Socket {
        &mut self.socket
    }
}

fn tail(s: &str, n: usize) -> String {
    let start = s.len().saturating_sub(n);
    let mut i = start;
    while !s.is_char_boundary(i) {
        i += 1;
    }
    format!("{:?}", &s[i..])
}
