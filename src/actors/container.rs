//! ContainerActor: the one owner of one sandbox container.
//!
//! It launches the container (create, attach, start), streams the TTY's bytes to whoever is
//! subscribed as `Output` messages, writes input, resizes, and when it stops, for whatever
//! reason, its [`Lease`] is dropped and the container is removed. It does not know about
//! WebSockets: a subscriber is any pair of recipients, so a container can start in the warm
//! pool with no subscriber, be claimed by a session, and later be handed to another.
//!
//! Output backpressure: the TTY reader sends one `Output` at a time and waits for the
//! subscriber to accept it; while the subscriber has no room, or the client asked to pause,
//! the reader stops reading and the kernel blocks the writer inside the container.

use actix::prelude::*;
use bytes::{Bytes, BytesMut};
use futures_util::FutureExt;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::sync::{mpsc, watch};

use crate::docker::{AttachReader, AttachWriter, DockerError, ExitStatus};
use crate::protocol::{ErrorCode, Utf8Decoder};
use crate::sandbox::{Attached, Lease, SandboxHost};

/// Largest single read from the TTY, and the cap for coalescing small chunks into one frame.
/// Docker copies TTY output in 32 KiB pieces; one frame per piece keeps a flood cheap.
const OUTPUT_CHUNK_BYTES: usize = 32 * 1024;
/// While output floods (the last frame was large), wait this long for more bytes before
/// sending a frame. Single keystroke echoes are never delayed: they come when not flooding.
const COALESCE_WINDOW: Duration = Duration::from_millis(2);
/// A frame at least this big marks the output as flooding.
const FLOOD_THRESHOLD: usize = 4 * 1024;
/// What a warm container may print (its first prompt) before anyone is subscribed.
const UNCLAIMED_OUTPUT_BYTES: usize = 64 * 1024;
/// Input frames queued for a shell that is not reading; beyond this, input is dropped and
/// the client is told (`input_overflow`). 64 frames of at most 64 KiB bound it at 4 MiB.
const INPUT_QUEUE_FRAMES: usize = 64;
/// After the TTY closes, how long the shell may take to be reported as exited; longer means
/// the stream broke while the container still runs.
const EXIT_STATUS_WAIT: Duration = Duration::from_secs(3);
/// How often the actor checks that its subscriber still exists.
const SUBSCRIBER_CHECK: Duration = Duration::from_secs(5);

/// Why a container could not serve its session.
#[derive(Debug, Clone, thiserror::Error)]
pub enum SandboxError {
    #[error("{0}")]
    Docker(#[from] DockerError),
    #[error("the container is no longer running")]
    Gone,
}

impl SandboxError {
    pub fn code(&self) -> ErrorCode {
        match self {
            SandboxError::Docker(DockerError::ImageMissing(_)) => ErrorCode::ImageMissing,
            SandboxError::Docker(DockerError::Unavailable(_) | DockerError::Timeout { .. }) => {
                ErrorCode::DockerUnavailable
            }
            SandboxError::Docker(_) | SandboxError::Gone => ErrorCode::SandboxFailed,
        }
    }
}

/// Terminal output for the subscriber. The reply comes when the subscriber has room for more.
#[derive(Message)]
#[rtype(result = "()")]
pub struct Output(pub String);

/// What happened to the container, for the subscriber.
#[derive(Message, Debug)]
#[rtype(result = "()")]
pub enum SandboxEvent {
    /// Attached and running.
    Ready { name: String, took: Duration },
    /// The shell ended.
    Exited(ExitStatus),
    /// The container failed or Docker became unreachable.
    Failed(SandboxError),
    /// Input was dropped because the shell is not reading it.
    InputDropped,
}

/// Who receives the container's output and events.
#[derive(Clone)]
pub struct Subscriber {
    pub output: Recipient<Output>,
    pub events: Recipient<SandboxEvent>,
}

/// Subscribes a session to a (warm) container and names it a session container.
/// Replies with the container's name.
#[derive(Message)]
#[rtype(result = "Result<String, SandboxError>")]
pub struct Claim {
    pub session: String,
    pub subscriber: Subscriber,
}

/// Keystrokes for the shell.
#[derive(Message)]
#[rtype(result = "()")]
pub struct Input(pub Bytes);

#[derive(Message)]
#[rtype(result = "()")]
pub struct Resize {
    pub cols: u16,
    pub rows: u16,
}

/// Client flow control: while paused, the TTY is not read.
#[derive(Message)]
#[rtype(result = "()")]
pub struct Flow {
    pub paused: bool,
}

/// The subscriber is done: remove the container.
#[derive(Message)]
#[rtype(result = "()")]
pub struct Release;

#[derive(Message)]
#[rtype(result = "()")]
struct Launched(Result<Attached, DockerError>);

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    Launching,
    Running,
    Ending,
}

/// What the TTY reader may do right now.
#[derive(Clone, Default)]
struct Gate {
    output: Option<Recipient<Output>>,
    paused: bool,
}

pub struct ContainerActor {
    host: Arc<SandboxHost>,
    suffix: String,
    name: String,
    /// The session label and id; empty while the container waits in the pool.
    session: String,
    lease: Option<Lease>,
    /// Taken out before the actor is made (a session's at its admission), so that capacity
    /// counts the container from the moment it is decided on; handed to the launch when the
    /// actor starts.
    launch_lease: Option<Lease>,
    state: State,
    subscriber: Option<Subscriber>,
    gate: watch::Sender<Gate>,
    stdin: mpsc::Sender<Bytes>,
    stdin_rx: Option<mpsc::Receiver<Bytes>>,
    size: Option<(u16, u16)>,
    applied_size: Option<(u16, u16)>,
    resizing: bool,
    /// When the subscriber started waiting (creation for cold starts, claim for warm ones).
    waiting_since: Instant,
    warm: bool,
    /// Becomes true once the container is attached and running.
    launched: watch::Sender<bool>,
}

impl ContainerActor {
    /// A container created for a session that is already waiting for it, under the lease
    /// the session was admitted with (see [`SandboxHost::session_lease`]).
    pub fn for_session(
        host: Arc<SandboxHost>,
        lease: Lease,
        session: &str,
        subscriber: Subscriber,
    ) -> Self {
        let mut actor = ContainerActor::new(host, lease, session.to_string(), false);
        actor.set_subscriber(subscriber);
        actor
    }

    /// A container for the warm pool: no subscriber until a session claims it.
    pub fn warm(host: Arc<SandboxHost>) -> Self {
        let lease = host.lease(crate::docker::WARM_PREFIX);
        ContainerActor::new(host, lease, String::new(), true)
    }

    fn new(host: Arc<SandboxHost>, lease: Lease, session: String, warm: bool) -> Self {
        let (stdin, stdin_rx) = mpsc::channel(INPUT_QUEUE_FRAMES);
        let suffix = lease.suffix().to_string();
        let name = lease.name().to_string();
        ContainerActor {
            launch_lease: Some(lease),
            host,
            suffix,
            name,
            session,
            lease: None,
            state: State::Launching,
            subscriber: None,
            gate: watch::Sender::new(Gate::default()),
            stdin,
            stdin_rx: Some(stdin_rx),
            size: None,
            applied_size: None,
            resizing: false,
            waiting_since: Instant::now(),
            warm,
            launched: watch::Sender::new(false),
        }
    }

    fn set_subscriber(&mut self, subscriber: Subscriber) {
        let output = subscriber.output.clone();
        self.subscriber = Some(subscriber);
        self.gate.send_modify(|g| g.output = Some(output));
    }

    fn notify(&self, event: SandboxEvent) {
        if let Some(s) = &self.subscriber {
            s.events.do_send(event);
        }
    }

    /// Ends the actor after telling the subscriber why; the lease goes with it.
    fn fail(&mut self, error: SandboxError, ctx: &mut Context<Self>) {
        log::warn!("container {}: {error}", self.name);
        self.notify(SandboxEvent::Failed(error));
        self.state = State::Ending;
        ctx.stop();
    }

    fn launched(&mut self, attached: Attached, ctx: &mut Context<Self>) {
        let Attached {
            lease,
            reader,
            writer,
            took,
        } = attached;
        self.lease = Some(lease);
        self.state = State::Running;
        self.launched.send_replace(true);
        let source = if self.warm { "warm_fill" } else { "cold" };
        self.host.metrics.started(source, took.as_secs_f64());
        if !self.warm {
            self.notify(SandboxEvent::Ready {
                name: self.name.clone(),
                took: self.waiting_since.elapsed(),
            });
        }
        if let Some(rx) = self.stdin_rx.take() {
            ctx.spawn(pump_input(writer, rx).into_actor(self));
        }
        let reader_task = pump_output(reader, self.gate.subscribe(), self.host.clone());
        ctx.spawn(
            reader_task
                .into_actor(self)
                .map(|end, act, ctx| act.output_ended(end, ctx)),
        );
        self.apply_size(ctx);
    }

    fn output_ended(&mut self, end: OutputEnd, ctx: &mut Context<Self>) {
        if self.state == State::Ending {
            return;
        }
        self.state = State::Ending;
        if end == OutputEnd::Unsubscribed {
            ctx.stop();
            return;
        }
        let host = self.host.clone();
        let name = self.name.clone();
        let status = async move { host.docker.exit_status(&name, EXIT_STATUS_WAIT).await };
        ctx.spawn(status.into_actor(self).map(|status, act, ctx| {
            match status {
                Ok(status) => {
                    log::info!(
                        "container {}: shell ended with code {}",
                        act.name,
                        status.code
                    );
                    act.notify(SandboxEvent::Exited(status));
                }
                Err(e) => {
                    act.host.metrics.docker_error("wait", e.kind());
                    act.notify(SandboxEvent::Failed(SandboxError::Docker(e)));
                }
            }
            ctx.stop();
        }));
    }

    /// Applies the latest requested size; one Docker call at a time, the newest size wins.
    fn apply_size(&mut self, ctx: &mut Context<Self>) {
        let Some(size) = self.size else { return };
        if self.state != State::Running || self.resizing || self.applied_size == Some(size) {
            return;
        }
        self.resizing = true;
        let host = self.host.clone();
        let name = self.name.clone();
        let resize = async move { host.docker.resize(&name, size.0, size.1).await };
        ctx.spawn(resize.into_actor(self).map(move |result, act, ctx| {
            act.resizing = false;
            match result {
                Ok(()) => act.applied_size = Some(size),
                Err(e) => {
                    act.host.metrics.docker_error("resize", e.kind());
                    log::debug!("container {}: resize failed: {e}", act.name);
                    act.applied_size = Some(size);
                }
            }
            act.apply_size(ctx);
        }));
    }
}

impl Actor for ContainerActor {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Context<Self>) {
        let Some(lease) = self.launch_lease.take() else {
            ctx.stop();
            return;
        };
        let host = self.host.clone();
        let session = self.session.clone();
        let me = ctx.address();
        // Detached from this actor: a launch in flight is never cancelled half-way. If the
        // actor is gone when it finishes, the undelivered result drops its lease, which
        // removes the container.
        self.host.tracker.spawn(async move {
            let result = host.launch(lease, &session).await;
            if !me.connected()
                && let Ok(attached) = &result
            {
                log::info!(
                    "container {}: session left during start-up; removing it",
                    attached.lease.name()
                );
            }
            // do_send, not try_send: a mailbox full of early keystrokes must not drop the
            // result. If the actor is gone, the message is dropped and so is its lease.
            me.do_send(Launched(result));
        });
        ctx.run_interval(SUBSCRIBER_CHECK, |act, ctx| {
            if let Some(s) = &act.subscriber
                && !s.events.connected()
            {
                ctx.stop();
            }
        });
    }

    fn stopped(&mut self, _: &mut Context<Self>) {
        // Dropping the lease (if launched) removes the container.
        self.gate.send_modify(|g| g.output = None);
        if self.lease.is_some() {
            log::debug!("container {}: stopping, removing", self.name);
        }
    }
}

impl Handler<Launched> for ContainerActor {
    type Result = ();

    fn handle(&mut self, msg: Launched, ctx: &mut Context<Self>) {
        match msg.0 {
            Ok(attached) if self.state == State::Launching => self.launched(attached, ctx),
            Ok(_) => ctx.stop(),
            Err(e) => self.fail(SandboxError::Docker(e), ctx),
        }
    }
}

impl Handler<Claim> for ContainerActor {
    type Result = ResponseActFuture<Self, Result<String, SandboxError>>;

    fn handle(&mut self, msg: Claim, _: &mut Context<Self>) -> Self::Result {
        // A session's id here means it was claimed already (or was never in the pool).
        if self.state == State::Ending || !self.session.is_empty() {
            return Box::pin(fut::ready(Err(SandboxError::Gone)));
        }
        self.session = msg.session;
        self.waiting_since = Instant::now();
        // The rename waits for the launch: the launch addresses the container by its warm
        // name, and a rename between its create and its start would fail the start and make
        // the removal miss the renamed container. A failed launch stops the actor, which
        // drops this future, and the session starts cold.
        let mut launched = self.launched.subscribe();
        let wait = async move {
            let _ = launched.wait_for(|done| *done).await;
        };
        Box::pin(
            wait.into_actor(self)
                .then(move |(), act, _| act.rename_for(msg.subscriber)),
        )
    }
}

impl ContainerActor {
    /// Names a claimed, running container a session container and subscribes the session.
    fn rename_for(
        &mut self,
        subscriber: Subscriber,
    ) -> ResponseActFuture<Self, Result<String, SandboxError>> {
        if self.state != State::Running {
            return Box::pin(fut::ready(Err(SandboxError::Gone)));
        }
        let new_name = format!("{}{}", crate::docker::SESSION_PREFIX, self.suffix);
        let host = self.host.clone();
        let old_name = self.name.clone();
        let rename = {
            let new_name = new_name.clone();
            async move { host.docker.rename(&old_name, &new_name).await }
        };
        Box::pin(rename.into_actor(self).map(move |result, act, ctx| {
            if let Err(e) = result {
                act.host.metrics.docker_error("rename", e.kind());
                act.state = State::Ending;
                ctx.stop();
                return Err(SandboxError::Docker(e));
            }
            act.name = new_name.clone();
            if let Some(lease) = act.lease.as_mut() {
                lease.renamed(new_name.clone());
            }
            act.warm = false;
            act.set_subscriber(subscriber);
            if act.state == State::Running {
                act.notify(SandboxEvent::Ready {
                    name: new_name.clone(),
                    took: act.waiting_since.elapsed(),
                });
                act.host
                    .metrics
                    .started("warm", act.waiting_since.elapsed().as_secs_f64());
            }
            Ok(new_name)
        }))
    }
}

impl Handler<Input> for ContainerActor {
    type Result = ();

    fn handle(&mut self, msg: Input, _: &mut Context<Self>) {
        let len = msg.0.len() as u64;
        match self.stdin.try_send(msg.0) {
            Ok(()) => {
                self.host.metrics.bytes_in.inc_by(len);
            }
            Err(mpsc::error::TrySendError::Full(_)) => self.notify(SandboxEvent::InputDropped),
            Err(mpsc::error::TrySendError::Closed(_)) => {}
        }
    }
}

impl Handler<Resize> for ContainerActor {
    type Result = ();

    fn handle(&mut self, msg: Resize, ctx: &mut Context<Self>) {
        self.size = Some((msg.cols, msg.rows));
        self.apply_size(ctx);
    }
}

impl Handler<Flow> for ContainerActor {
    type Result = ();

    fn handle(&mut self, msg: Flow, _: &mut Context<Self>) {
        self.gate.send_if_modified(|g| {
            let changed = g.paused != msg.paused;
            g.paused = msg.paused;
            changed
        });
    }
}

impl Handler<Release> for ContainerActor {
    type Result = ();

    fn handle(&mut self, _: Release, ctx: &mut Context<Self>) {
        self.subscriber = None;
        self.state = State::Ending;
        ctx.stop();
    }
}

/// Writes queued input to the container's TTY, in order.
async fn pump_input(mut writer: AttachWriter, mut rx: mpsc::Receiver<Bytes>) {
    while let Some(bytes) = rx.recv().await {
        if writer.write_all(&bytes).await.is_err() || writer.flush().await.is_err() {
            break;
        }
    }
    let _ = writer.shutdown().await;
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum OutputEnd {
    /// The TTY closed: the shell ended or Docker dropped the stream.
    Closed,
    /// Nobody wants the output any more.
    Unsubscribed,
}

/// Reads the TTY and sends it on as valid UTF-8 text, as fast as the subscriber takes it.
async fn pump_output(
    mut reader: AttachReader,
    mut gate: watch::Receiver<Gate>,
    host: Arc<SandboxHost>,
) -> OutputEnd {
    let mut decoder = Utf8Decoder::default();
    let mut buf = BytesMut::with_capacity(OUTPUT_CHUNK_BYTES);
    let mut flooding = false;
    let mut ever_subscribed = false;
    loop {
        let current = gate.borrow_and_update().clone();
        let output = match current {
            Gate { paused: true, .. } => {
                if gate.changed().await.is_err() {
                    return OutputEnd::Unsubscribed;
                }
                continue;
            }
            Gate { output: None, .. } if ever_subscribed => return OutputEnd::Unsubscribed,
            Gate { output: None, .. } => {
                // Unclaimed: keep the first prompt, notice an early exit, read no further.
                if buf.len() >= UNCLAIMED_OUTPUT_BYTES {
                    if gate.changed().await.is_err() {
                        return OutputEnd::Unsubscribed;
                    }
                    continue;
                }
                tokio::select! {
                    read = reader.read_buf(&mut buf) => match read {
                        Ok(0) | Err(_) => return OutputEnd::Closed,
                        Ok(_) => continue,
                    },
                    changed = gate.changed() => {
                        if changed.is_err() { return OutputEnd::Unsubscribed; }
                        continue;
                    }
                }
            }
            Gate {
                output: Some(output),
                ..
            } => output,
        };
        ever_subscribed = true;
        let mut closed = false;
        if buf.is_empty() {
            match reader.read_buf(&mut buf).await {
                Ok(0) | Err(_) => closed = true,
                Ok(_) => closed = gather(&mut reader, &mut buf, flooding).await,
            }
        }
        flooding = buf.len() >= FLOOD_THRESHOLD;
        host.metrics.bytes_out.inc_by(buf.len() as u64);
        let mut text = decoder.decode(&buf);
        buf.clear();
        if closed {
            text.push_str(&decoder.finish());
        }
        if !text.is_empty() && output.send(Output(text)).await.is_err() {
            return OutputEnd::Unsubscribed;
        }
        if closed {
            return OutputEnd::Closed;
        }
    }
}

/// Adds whatever else is ready to `buf` (up to the chunk cap) so a flood goes out in few
/// large frames; while flooding, waits up to the coalescing window for more. Returns true
/// when the stream ended.
async fn gather(reader: &mut AttachReader, buf: &mut BytesMut, flooding: bool) -> bool {
    while buf.len() < OUTPUT_CHUNK_BYTES {
        let read = if flooding {
            match tokio::time::timeout(COALESCE_WINDOW, reader.read_buf(buf)).await {
                Ok(read) => read,
                Err(_) => return false,
            }
        } else {
            match reader.read_buf(buf).now_or_never() {
                Some(read) => read,
                None => return false,
            }
        };
        match read {
            Ok(0) | Err(_) => return true,
            Ok(_) => {}
        }
    }
    false
}
