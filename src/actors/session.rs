//! SessionActor: one per WebSocket; speaks protocol v1 with the client.
//!
//! It asks the registry for admission, gets a container (claimed from the warm pool or
//! started cold), and then relays: client `input`/`resize`/`pause`/`resume` to the
//! ContainerActor, container output and events to the client. It ends exactly once, for
//! one [`EndReason`], telling the client why before closing; the container goes with it.

use actix::prelude::*;
use bytes::Bytes;
use futures_util::Stream;
use governor::{DefaultDirectRateLimiter, Quota, RateLimiter};
use std::borrow::Cow;
use std::num::NonZeroU32;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use super::container::{
    Claim, ContainerActor, Flow, Input, Output, Release, Resize, SandboxError, SandboxEvent,
    Subscriber,
};
use super::registry::{
    Admission, Container, Join, Leave, Refusal, RegistryActor, SessionState, SessionStats,
};
use crate::docker::ExitStatus;
use crate::protocol::{ClientMessage, ErrorCode, ExitReason, ServerMessage, close_code};
use crate::sandbox::{Lease, SandboxHost};
use crate::ws::{Inbound, Outbound};

/// At most one notice per second about dropped input, whatever the client sends.
const NOTICE_INTERVAL: Duration = Duration::from_secs(1);

/// Per-session settings from the configuration.
#[derive(Debug, Clone)]
pub struct SessionSettings {
    pub heartbeat_interval: Duration,
    pub client_timeout: Duration,
    pub input_rate: u32,
}

/// Why a session ended; decides the last frames the client gets.
#[derive(Debug)]
pub enum EndReason {
    /// The shell ended.
    Exited(ExitStatus),
    /// The client sent a close frame or its connection closed.
    ClientClosed,
    /// The client stopped answering heartbeats.
    ClientTimeout,
    IdleTimeout,
    MaxLifetime,
    /// An operator ended it (`DELETE /api/sessions/{id}`).
    Terminated,
    Shutdown,
    Refused(Refusal),
    Sandbox(SandboxError),
    FrameTooLarge,
    ProtocolBroken(String),
}

impl EndReason {
    /// Metrics label.
    pub fn label(&self) -> &'static str {
        match self {
            EndReason::Exited(_) => "exit",
            EndReason::ClientClosed => "client_closed",
            EndReason::ClientTimeout => "client_timeout",
            EndReason::IdleTimeout => "idle_timeout",
            EndReason::MaxLifetime => "max_lifetime",
            EndReason::Terminated => "terminated",
            EndReason::Shutdown => "shutdown",
            EndReason::Refused(_) => "refused",
            EndReason::Sandbox(e) => e.code().as_str(),
            EndReason::FrameTooLarge => "frame_too_large",
            EndReason::ProtocolBroken(_) => "protocol_error",
        }
    }

    /// The last protocol frame and the close code and reason.
    fn farewell(&self) -> (Option<String>, u16, &'static str) {
        let error = |code, msg: &str| Some(ServerMessage::error(code, msg).to_json());
        match self {
            EndReason::Exited(status) => {
                let reason = if status.oom_killed && status.code == 137 {
                    ExitReason::OomKilled
                } else if status.code == 137 {
                    ExitReason::Killed
                } else {
                    ExitReason::Exited
                };
                let frame = ServerMessage::Exit {
                    code: status.code,
                    reason: Some(reason),
                };
                (Some(frame.to_json()), close_code::NORMAL, "shell exited")
            }
            EndReason::ClientClosed | EndReason::ClientTimeout => (None, close_code::NORMAL, ""),
            EndReason::IdleTimeout => (
                error(
                    ErrorCode::IdleTimeout,
                    "session ended: no input for longer than the idle timeout",
                ),
                close_code::NORMAL,
                "idle timeout",
            ),
            EndReason::MaxLifetime => (
                error(
                    ErrorCode::MaxLifetime,
                    "session ended: it reached its maximum lifetime",
                ),
                close_code::NORMAL,
                "maximum lifetime",
            ),
            EndReason::Terminated => (
                error(ErrorCode::Terminated, "session ended by an operator"),
                close_code::NORMAL,
                "ended by an operator",
            ),
            EndReason::Shutdown => (
                error(ErrorCode::Shutdown, "the server is shutting down"),
                close_code::GOING_AWAY,
                "server shutting down",
            ),
            EndReason::Refused(r) => {
                let close = match r.code {
                    ErrorCode::Unauthorized | ErrorCode::ForbiddenOrigin => {
                        close_code::POLICY_VIOLATION
                    }
                    ErrorCode::Shutdown => close_code::GOING_AWAY,
                    _ => close_code::TRY_AGAIN_LATER,
                };
                (error(r.code, &r.message), close, "refused")
            }
            EndReason::Sandbox(e) => (
                error(e.code(), &sandbox_message(e)),
                close_code::INTERNAL_ERROR,
                "sandbox failed",
            ),
            EndReason::FrameTooLarge => (
                error(
                    ErrorCode::FrameTooLarge,
                    &format!(
                        "frame larger than {} bytes; split large input",
                        crate::protocol::MAX_CLIENT_FRAME_BYTES
                    ),
                ),
                close_code::MESSAGE_TOO_BIG,
                "frame too large",
            ),
            EndReason::ProtocolBroken(_) => (None, close_code::PROTOCOL_ERROR, "protocol error"),
        }
    }
}

fn sandbox_message(e: &SandboxError) -> String {
    match e.code() {
        ErrorCode::ImageMissing => format!("the sandbox image is missing on the server: {e}"),
        ErrorCode::DockerUnavailable => {
            "the container service is unavailable; try again shortly".to_string()
        }
        _ => "the sandbox container failed".to_string(),
    }
}

/// Ends the session.
#[derive(Message)]
#[rtype(result = "()")]
pub struct End(pub EndReason);

type InboundStream = Pin<Box<dyn Stream<Item = Inbound>>>;

pub struct SessionActor {
    id: String,
    token: Option<String>,
    outbound: Outbound,
    inbound: Option<InboundStream>,
    registry: Addr<RegistryActor>,
    host: Arc<SandboxHost>,
    settings: Arc<SessionSettings>,
    stats: Arc<SessionStats>,
    container: Option<Addr<ContainerActor>>,
    last_heard: Instant,
    limiter: DefaultDirectRateLimiter,
    /// When each throttled notice was last sent.
    last_notice: Vec<(ErrorCode, Instant)>,
    joined: bool,
    ended: bool,
}

impl SessionActor {
    pub fn new(
        outbound: Outbound,
        inbound: impl Stream<Item = Inbound> + 'static,
        stats: Arc<SessionStats>,
        token: Option<String>,
        registry: Addr<RegistryActor>,
        host: Arc<SandboxHost>,
        settings: Arc<SessionSettings>,
    ) -> SessionActor {
        let rate = NonZeroU32::new(settings.input_rate.max(1)).unwrap_or(NonZeroU32::MIN);
        let burst = rate.saturating_mul(NonZeroU32::new(2).unwrap_or(NonZeroU32::MIN));
        SessionActor {
            id: uuid::Uuid::new_v4().to_string(),
            token,
            outbound,
            inbound: Some(Box::pin(inbound)),
            registry,
            host,
            settings,
            stats,
            container: None,
            last_heard: Instant::now(),
            limiter: RateLimiter::direct(Quota::per_second(rate).allow_burst(burst)),
            last_notice: Vec::new(),
            joined: false,
            ended: false,
        }
    }

    fn subscriber(ctx: &Context<Self>) -> Subscriber {
        let addr = ctx.address();
        Subscriber {
            output: addr.clone().recipient(),
            events: addr.recipient(),
        }
    }

    fn admitted(&mut self, admission: Admission, ctx: &mut Context<Self>) {
        self.id = admission.id;
        self.joined = true;
        match admission.container {
            Container::Warm(warm) => self.claim(warm, ctx),
            Container::Cold(lease) => self.start_cold(lease, ctx),
        }
    }

    /// Claims a warm container; on failure falls back to a cold start. Other messages wait
    /// until the container is named, so that the `session` frame is the first one sent.
    fn claim(&mut self, warm: Addr<ContainerActor>, ctx: &mut Context<Self>) {
        let claim = warm.send(Claim {
            session: self.id.clone(),
            subscriber: SessionActor::subscriber(ctx),
        });
        ctx.wait(
            claim
                .into_actor(self)
                .map(move |result, act, ctx| match result {
                    Ok(Ok(name)) => {
                        act.container = Some(warm);
                        act.announce(&name);
                    }
                    other => {
                        log::debug!(
                            "session {}: warm container unusable ({:?}); starting cold",
                            act.id,
                            other.err().map(|e| e.to_string())
                        );
                        // The warm container's slot is gone with it: take a new one.
                        let lease = act.host.session_lease();
                        act.start_cold(lease, ctx);
                    }
                }),
        );
    }

    fn start_cold(&mut self, lease: Lease, ctx: &mut Context<Self>) {
        let name = lease.name().to_string();
        let actor = ContainerActor::for_session(
            self.host.clone(),
            lease,
            &self.id,
            SessionActor::subscriber(ctx),
        );
        self.container = Some(actor.start());
        self.announce(&name);
    }

    fn announce(&mut self, container: &str) {
        self.stats.set_container(container);
        log::info!(
            "session {} admitted: container {} for {}",
            self.id,
            container,
            self.stats.peer
        );
        let frame = ServerMessage::Session {
            id: Cow::Borrowed(&self.id),
            container: Cow::Borrowed(container),
        };
        let _ = self.outbound.send(frame.to_json());
    }

    /// Sends an error reply unless the client is not reading (then it is dropped).
    fn notice(&self, code: ErrorCode, message: impl Into<String>) {
        self.outbound
            .send_if_room(ServerMessage::error(code, message).to_json());
    }

    /// Notices about dropped input at most once per second for each code.
    fn throttled_notice(&mut self, code: ErrorCode, message: &str) {
        let now = Instant::now();
        match self.last_notice.iter_mut().find(|(c, _)| *c == code) {
            Some((_, at)) if now.duration_since(*at) < NOTICE_INTERVAL => return,
            Some((_, at)) => *at = now,
            None => self.last_notice.push((code, now)),
        }
        self.notice(code, message);
    }

    fn end(&mut self, reason: EndReason, ctx: &mut Context<Self>) {
        if self.ended {
            return;
        }
        self.ended = true;
        self.stats.set_state(SessionState::Ending);
        let (frame, code, description) = reason.farewell();
        if let Some(frame) = frame {
            let _ = self.outbound.send(frame);
        }
        self.outbound.close(code, description);
        let container = self.stats.container();
        match &reason {
            EndReason::Refused(r) => log::info!(
                "session refused for {}: {} ({})",
                self.stats.peer,
                r.reason,
                r.message
            ),
            EndReason::ProtocolBroken(why) => log::info!(
                "session {} ended: protocol error from {}: {why}",
                self.id,
                self.stats.peer
            ),
            _ => log::info!(
                "session {} ended: {} (container {}, client {}, {} s)",
                self.id,
                reason.label(),
                if container.is_empty() {
                    "-"
                } else {
                    &container
                },
                self.stats.peer,
                self.stats.started.elapsed().as_secs()
            ),
        }
        if self.joined {
            self.registry.do_send(Leave {
                id: self.id.clone(),
                reason: reason.label(),
            });
        }
        ctx.stop();
    }

    fn on_text(&mut self, text: &str, ctx: &mut Context<Self>) {
        if self.limiter.check().is_err() {
            self.throttled_notice(
                ErrorCode::RateLimited,
                "input is arriving too fast; some was dropped",
            );
            return;
        }
        let message = match ClientMessage::parse(text) {
            Ok(m) => m,
            Err(e) => {
                self.notice(e.code(), e.to_string());
                return;
            }
        };
        let Some(container) = &self.container else {
            return;
        };
        match message {
            ClientMessage::Input(data) => {
                self.stats.touch_input();
                if data.is_empty() {
                    return;
                }
                self.stats
                    .bytes_in
                    .fetch_add(data.len() as u64, Ordering::Relaxed);
                container.do_send(Input(Bytes::from(data)));
            }
            ClientMessage::Resize { cols, rows } => container.do_send(Resize { cols, rows }),
            ClientMessage::Pause => container.do_send(Flow { paused: true }),
            ClientMessage::Resume => container.do_send(Flow { paused: false }),
        }
        let _ = ctx;
    }
}

impl Actor for SessionActor {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Context<Self>) {
        if let Some(inbound) = self.inbound.take() {
            ctx.add_stream(inbound);
        }
        ctx.run_interval(self.settings.heartbeat_interval, |act, ctx| {
            if act.last_heard.elapsed() > act.settings.client_timeout {
                act.end(EndReason::ClientTimeout, ctx);
            } else if act.outbound.ping().is_err() {
                act.end(EndReason::ClientClosed, ctx);
            }
        });
        let join = self.registry.send(Join {
            id: self.id.clone(),
            token: self.token.take(),
            stats: self.stats.clone(),
            addr: ctx.address(),
        });
        ctx.wait(join.into_actor(self).map(|result, act, ctx| match result {
            Ok(Ok(admission)) => act.admitted(admission, ctx),
            Ok(Err(refusal)) => act.end(EndReason::Refused(refusal), ctx),
            Err(e) => {
                log::error!("registry unreachable: {e}");
                act.end(EndReason::Sandbox(SandboxError::Gone), ctx);
            }
        }));
    }

    fn stopped(&mut self, _: &mut Context<Self>) {
        if let Some(container) = self.container.take() {
            container.do_send(Release);
        }
        if !self.ended && self.joined {
            self.registry.do_send(Leave {
                id: self.id.clone(),
                reason: EndReason::ClientClosed.label(),
            });
        }
    }
}

impl StreamHandler<Inbound> for SessionActor {
    fn handle(&mut self, frame: Inbound, ctx: &mut Context<Self>) {
        self.last_heard = Instant::now();
        match frame {
            Inbound::Text(text) => self.on_text(&text, ctx),
            Inbound::Binary(_) => {
                if self.limiter.check().is_ok() {
                    self.notice(
                        ErrorCode::UnsupportedFrame,
                        "binary frames are not part of the protocol; send JSON text frames",
                    );
                }
            }
            Inbound::Ping(payload) => self.outbound.pong(payload),
            Inbound::Pong => {}
            Inbound::Close(_) => self.end(EndReason::ClientClosed, ctx),
            Inbound::TooLarge => self.end(EndReason::FrameTooLarge, ctx),
            Inbound::Broken(why) => self.end(EndReason::ProtocolBroken(why), ctx),
        }
    }

    fn finished(&mut self, ctx: &mut Context<Self>) {
        self.end(EndReason::ClientClosed, ctx);
    }
}

impl Handler<Output> for SessionActor {
    type Result = ResponseFuture<()>;

    fn handle(&mut self, msg: Output, _: &mut Context<Self>) -> Self::Result {
        self.stats
            .bytes_out
            .fetch_add(msg.0.len() as u64, Ordering::Relaxed);
        let outbound = self.outbound.clone();
        let queued = outbound.send(ServerMessage::output_json(&msg.0)).is_ok();
        Box::pin(async move {
            if queued {
                let _ = outbound.ready().await;
            }
        })
    }
}

impl Handler<SandboxEvent> for SessionActor {
    type Result = ();

    fn handle(&mut self, event: SandboxEvent, ctx: &mut Context<Self>) {
        match event {
            SandboxEvent::Ready { name, took } => {
                self.stats.set_state(SessionState::Running);
                log::info!(
                    "session {}: container {name} running after {} ms",
                    self.id,
                    took.as_millis()
                );
            }
            SandboxEvent::Exited(status) => self.end(EndReason::Exited(status), ctx),
            SandboxEvent::Failed(error) => self.end(EndReason::Sandbox(error), ctx),
            SandboxEvent::InputDropped => self.throttled_notice(
                ErrorCode::InputOverflow,
                "the shell is not reading its input; some was dropped",
            ),
        }
    }
}

impl Handler<End> for SessionActor {
    type Result = ();

    fn handle(&mut self, msg: End, ctx: &mut Context<Self>) {
        self.end(msg.0, ctx);
    }
}
