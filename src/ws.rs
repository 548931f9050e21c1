//! WebSocket glue: the only module that knows which WebSocket library is in use (actix-ws).
//!
//! Why actix-ws and not actix-web-actors: an actix-web-actors actor runs inside the
//! response body stream, so when a client stops reading, the HTTP dispatcher stops polling
//! the body and the session actor freezes (no heartbeat, no reaper message, no shutdown)
//! while its outgoing buffer has no bound. Here the session actor is an ordinary actor and
//! this module gives it:
//!
//! - [`Outbound`]: an ordered outgoing queue with a byte budget. Bytes count as in flight
//!   from the moment they are queued until the HTTP layer takes them for the socket
//!   ([`BudgetedBody`]); [`Outbound::ready`] waits while the budget is spent, which is how a
//!   slow client ends up pausing the container's TTY reader.
//! - [`Inbound`]: the client's frames, size-limited and reduced to what the session needs.

use actix_web::body::{BodySize, BoxBody, MessageBody};
use actix_web::web::Bytes;
use actix_web::{HttpRequest, HttpResponse, web};
use actix_ws::{AggregatedMessage, CloseCode, CloseReason, ProtocolError};
use futures_util::{Stream, StreamExt};
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::task::{Context, Poll};
use tokio::sync::{Notify, mpsc};

use crate::protocol::MAX_CLIENT_FRAME_BYTES;

/// Bytes of outgoing frames a session may have queued but not yet handed to the socket.
/// Beyond this the container's output is no longer read: the kernel then blocks the writer
/// inside the container, as ttyd does with its PTY. 256 KiB is a few screens of dense
/// colour output and keeps 200 stalled sessions under 64 MiB together.
pub const OUTBOUND_BUDGET_BYTES: usize = 256 * 1024;

/// A frame from the client, reduced to what the session acts on.
#[derive(Debug)]
pub enum Inbound {
    Text(String),
    /// A binary frame (length only: the protocol has no use for its bytes).
    Binary(usize),
    Ping(Bytes),
    Pong,
    Close(Option<u16>),
    /// A frame or message above the size limit; the stream cannot continue.
    TooLarge,
    /// The peer broke the WebSocket protocol; the stream cannot continue.
    Broken(String),
}

/// Starts a WebSocket: the upgrade response, the outgoing queue and the incoming frames.
pub fn accept(
    req: &HttpRequest,
    payload: web::Payload,
) -> Result<
    (
        HttpResponse,
        Outbound,
        impl Stream<Item = Inbound> + 'static,
    ),
    actix_web::Error,
> {
    let (response, session, stream) = actix_ws::handle(req, payload)?;
    let budget = Arc::new(Budget::default());
    let body_budget = budget.clone();
    let response = response.map_body(|_, body| {
        BoxBody::new(BudgetedBody {
            inner: body,
            budget: body_budget,
        })
    });
    let (tx, rx) = mpsc::unbounded_channel();
    actix_web::rt::spawn(write_frames(session, rx, budget.clone()));
    let inbound = stream
        .max_frame_size(MAX_CLIENT_FRAME_BYTES)
        .aggregate_continuations()
        .max_continuation_size(MAX_CLIENT_FRAME_BYTES)
        .map(|item| match item {
            Ok(AggregatedMessage::Text(text)) => Inbound::Text(text.to_string()),
            Ok(AggregatedMessage::Binary(bytes)) => Inbound::Binary(bytes.len()),
            Ok(AggregatedMessage::Ping(bytes)) => Inbound::Ping(bytes),
            Ok(AggregatedMessage::Pong(_)) => Inbound::Pong,
            Ok(AggregatedMessage::Close(reason)) => {
                Inbound::Close(reason.map(|r| u16::from(r.code)))
            }
            Err(ProtocolError::Overflow) => Inbound::TooLarge,
            Err(e) => Inbound::Broken(e.to_string()),
        });
    Ok((response, Outbound { tx, budget }, inbound))
}

enum Frame {
    Text(String),
    Ping,
    Pong(Bytes),
    Close(u16, String),
}

/// In-flight byte accounting shared by the queue and the response body.
#[derive(Default)]
struct Budget {
    in_flight: AtomicUsize,
    closed: AtomicBool,
    room: Notify,
}

impl Budget {
    fn add(&self, n: usize) {
        self.in_flight.fetch_add(n, Ordering::AcqRel);
    }

    fn release(&self, n: usize) {
        // Encoded frames carry a few header bytes more than was added: clamp at zero.
        let _ = self
            .in_flight
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |v| {
                Some(v.saturating_sub(n))
            });
        self.room.notify_waiters();
    }

    fn has_room(&self) -> bool {
        self.in_flight.load(Ordering::Acquire) < OUTBOUND_BUDGET_BYTES
    }

    fn close(&self) {
        self.closed.store(true, Ordering::Release);
        self.room.notify_waiters();
    }
}

/// The client went away; nothing more can be sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("the client connection is closed")]
pub struct Closed;

/// The session's handle for sending to its client. Frames go out in the order queued.
#[derive(Clone)]
pub struct Outbound {
    tx: mpsc::UnboundedSender<Frame>,
    budget: Arc<Budget>,
}

impl Outbound {
    /// Queues a text frame regardless of the budget. For frames that must not be lost
    /// (session, output already read from the container, exit, final errors).
    pub fn send(&self, text: String) -> Result<(), Closed> {
        self.budget.add(text.len());
        self.tx.send(Frame::Text(text)).map_err(|_| Closed)
    }

    /// Queues a text frame only while the budget has room; a client that does not read
    /// cannot make the server queue replies to its own bad frames.
    pub fn send_if_room(&self, text: String) -> bool {
        self.budget.has_room() && self.send(text).is_ok()
    }

    pub fn ping(&self) -> Result<(), Closed> {
        self.tx.send(Frame::Ping).map_err(|_| Closed)
    }

    pub fn pong(&self, payload: Bytes) {
        if self.budget.has_room() {
            let _ = self.tx.send(Frame::Pong(payload));
        }
    }

    /// Queues a close frame; nothing after it is sent.
    pub fn close(&self, code: u16, reason: impl Into<String>) {
        let _ = self.tx.send(Frame::Close(code, reason.into()));
    }

    pub fn is_closed(&self) -> bool {
        self.budget.closed.load(Ordering::Acquire) || self.tx.is_closed()
    }

    /// Waits until the in-flight bytes are below the budget.
    pub async fn ready(&self) -> Result<(), Closed> {
        loop {
            let room = self.budget.room.notified();
            tokio::pin!(room);
            room.as_mut().enable();
            if self.is_closed() {
                return Err(Closed);
            }
            if self.budget.has_room() {
                return Ok(());
            }
            room.await;
        }
    }
}

/// Moves queued frames into the WebSocket, in order, until closed.
async fn write_frames(
    mut session: actix_ws::Session,
    mut rx: mpsc::UnboundedReceiver<Frame>,
    budget: Arc<Budget>,
) {
    while let Some(frame) = rx.recv().await {
        let sent = match frame {
            Frame::Text(text) => session.text(text).await,
            Frame::Ping => session.ping(b"").await,
            Frame::Pong(payload) => session.pong(&payload).await,
            Frame::Close(code, description) => {
                let reason = CloseReason {
                    code: CloseCode::from(code),
                    description: Some(description),
                };
                let _ = session.close(Some(reason)).await;
                break;
            }
        };
        if sent.is_err() {
            break;
        }
    }
    rx.close();
    budget.close();
}

/// The response body, counting bytes as the HTTP layer takes them for the socket.
struct BudgetedBody {
    inner: BoxBody,
    budget: Arc<Budget>,
}

impl MessageBody for BudgetedBody {
    type Error = <BoxBody as MessageBody>::Error;

    fn size(&self) -> BodySize {
        self.inner.size()
    }

    fn poll_next(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Bytes, Self::Error>>> {
        let this = self.get_mut();
        let polled = Pin::new(&mut this.inner).poll_next(cx);
        match &polled {
            Poll::Ready(Some(Ok(bytes))) => this.budget.release(bytes.len()),
            Poll::Ready(None) | Poll::Ready(Some(Err(_))) => this.budget.close(),
            Poll::Pending => {}
        }
        polled
    }
}

impl Drop for BudgetedBody {
    fn drop(&mut self) {
        // The connection is gone: wake anyone waiting for room so they see it closed.
        self.budget.close();
    }
}
