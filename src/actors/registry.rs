//! RegistryActor: admission and the table of live sessions.
//!
//! Every session passes through here before a container exists: the global cap, the
//! per-address cap, the per-address rate limit and (in token mode) the single-use connect
//! token. Admitted sessions are published in a `DashMap` so that the REST API and the
//! reaper read them without a round trip through this actor. The warm pool lives here too,
//! because its containers count against the same capacity.

use actix::prelude::*;
use dashmap::DashMap;
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};
use std::collections::{HashMap, VecDeque};
use std::net::IpAddr;
use std::num::NonZeroU32;
use std::sync::atomic::{AtomicU8, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

use super::container::{ContainerActor, Release};
use super::session::{End, EndReason, SessionActor};
use crate::config::AccessMode;
use crate::protocol::ErrorCode;
use crate::sandbox::{Lease, SandboxHost};

/// How often the registry expires tokens, forgets idle rate-limit keys and refills the pool.
const HOUSEKEEPING: Duration = Duration::from_secs(1);

/// Limits the registry enforces.
#[derive(Debug, Clone)]
pub struct AdmissionLimits {
    pub max_sessions: usize,
    pub max_per_ip: usize,
    pub sessions_per_minute: u32,
    pub access: AccessMode,
    pub token_ttl: Duration,
    pub pool_size: usize,
}

/// What the operator API shows of a session; updated by the session itself.
pub struct SessionStats {
    pub started: Instant,
    pub created: SystemTime,
    pub peer: IpAddr,
    pub container: Mutex<String>,
    state: AtomicU8,
    /// Milliseconds after `started` of the last input frame.
    last_input_ms: AtomicU64,
    pub bytes_in: AtomicU64,
    pub bytes_out: AtomicU64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum SessionState {
    Starting,
    Running,
    Ending,
}

impl SessionStats {
    pub fn new(peer: IpAddr) -> SessionStats {
        SessionStats {
            started: Instant::now(),
            created: SystemTime::now(),
            peer,
            container: Mutex::new(String::new()),
            state: AtomicU8::new(0),
            last_input_ms: AtomicU64::new(0),
            bytes_in: AtomicU64::new(0),
            bytes_out: AtomicU64::new(0),
        }
    }

    pub fn set_state(&self, state: SessionState) {
        self.state.store(state as u8, Ordering::Relaxed);
    }

    pub fn state(&self) -> SessionState {
        match self.state.load(Ordering::Relaxed) {
            0 => SessionState::Starting,
            1 => SessionState::Running,
            _ => SessionState::Ending,
        }
    }

    pub fn touch_input(&self) {
        let ms = self.started.elapsed().as_millis() as u64;
        self.last_input_ms.store(ms, Ordering::Relaxed);
    }

    /// Time since the last input (or since the start, before any input).
    pub fn idle(&self) -> Duration {
        let last = Duration::from_millis(self.last_input_ms.load(Ordering::Relaxed));
        self.started.elapsed().saturating_sub(last)
    }

    pub fn last_input(&self) -> SystemTime {
        self.created + Duration::from_millis(self.last_input_ms.load(Ordering::Relaxed))
    }

    pub fn container(&self) -> String {
        self.container.lock().map(|c| c.clone()).unwrap_or_default()
    }

    pub fn set_container(&self, name: &str) {
        if let Ok(mut c) = self.container.lock() {
            *c = name.to_string();
        }
    }
}

/// A live session as the REST API and the reaper see it.
#[derive(Clone)]
pub struct SessionEntry {
    pub id: String,
    pub stats: Arc<SessionStats>,
    pub addr: Addr<SessionActor>,
}

/// The shared, lock-free view of live sessions.
pub type SessionTable = Arc<DashMap<String, SessionEntry>>;

/// Why a session was not admitted.
#[derive(Debug, Clone)]
pub struct Refusal {
    pub code: ErrorCode,
    /// Metrics label.
    pub reason: &'static str,
    pub message: String,
}

impl Refusal {
    fn new(code: ErrorCode, reason: &'static str, message: impl Into<String>) -> Refusal {
        Refusal {
            code,
            reason,
            message: message.into(),
        }
    }
}

/// A session asks to be admitted.
#[derive(Message)]
#[rtype(result = "Result<Admission, Refusal>")]
pub struct Join {
    pub id: String,
    pub token: Option<String>,
    pub stats: Arc<SessionStats>,
    pub addr: Addr<SessionActor>,
}

pub struct Admission {
    /// The session id (a reserved one when a token was used).
    pub id: String,
    pub container: Container,
}

/// Where an admitted session's container comes from. Either way it already holds its slot
/// of capacity, so a session is never counted twice or not at all.
pub enum Container {
    /// A warm container to claim.
    Warm(Addr<ContainerActor>),
    /// The lease on a container to create.
    Cold(Lease),
}

/// A session ended.
#[derive(Message)]
#[rtype(result = "()")]
pub struct Leave {
    pub id: String,
    pub reason: &'static str,
}

/// `POST /api/sessions`: reserve a session for a client that will connect with a token.
#[derive(Message)]
#[rtype(result = "Result<Reservation, Refusal>")]
pub struct Reserve;

#[derive(Debug, Clone, serde::Serialize)]
pub struct Reservation {
    pub session_id: String,
    pub token: String,
    pub expires_in_seconds: u64,
}

/// `DELETE /api/sessions/{id}`: end a session. Replies whether it existed.
#[derive(Message)]
#[rtype(result = "bool")]
pub struct Terminate {
    pub id: String,
}

/// Stop admitting and end every session and warm container. Replies once all were told.
#[derive(Message)]
#[rtype(result = "usize")]
pub struct Shutdown;

struct Pending {
    session_id: String,
    expires: Instant,
}

pub struct RegistryActor {
    limits: AdmissionLimits,
    host: Arc<SandboxHost>,
    sessions: SessionTable,
    per_ip: HashMap<IpAddr, usize>,
    rate: DefaultKeyedRateLimiter<IpAddr>,
    tokens: HashMap<String, Pending>,
    pool: VecDeque<Addr<ContainerActor>>,
    /// Warm containers that died unclaimed (launch failed, Docker down) delay the next
    /// refill, doubling up to a cap, so a broken Docker is not hammered every second.
    pool_failures: u32,
    pool_resume_at: Instant,
    accepting: bool,
}

/// Longest pause between warm-pool refill attempts after failures.
const POOL_MAX_BACKOFF: Duration = Duration::from_secs(30);

impl RegistryActor {
    pub fn new(limits: AdmissionLimits, host: Arc<SandboxHost>, sessions: SessionTable) -> Self {
        let per_minute =
            NonZeroU32::new(limits.sessions_per_minute.max(1)).unwrap_or(NonZeroU32::MIN);
        RegistryActor {
            rate: RateLimiter::keyed(Quota::per_minute(per_minute)),
            limits,
            host,
            sessions,
            per_ip: HashMap::new(),
            tokens: HashMap::new(),
            pool: VecDeque::new(),
            pool_failures: 0,
            pool_resume_at: Instant::now(),
            accepting: true,
        }
    }

    /// Everything that holds capacity: containers this process owns (live, warm, about to
    /// be created or being removed: the inventory, where a cold session's container is
    /// leased at admission) and outstanding reservations. A session that left keeps its
    /// slot until Docker confirms its container is gone, so connect/disconnect storms
    /// cannot pile up container creations beyond the cap while Docker is slow.
    fn used(&self) -> usize {
        self.host.inventory.len() + self.tokens.len()
    }

    fn refuse(&self, refusal: Refusal) -> Result<Admission, Refusal> {
        self.host.metrics.refused(refusal.reason);
        Err(refusal)
    }

    fn capacity_refusal(&self) -> Refusal {
        Refusal::new(
            ErrorCode::Capacity,
            "capacity",
            format!(
                "the server is at capacity ({} sessions); try again later",
                self.limits.max_sessions
            ),
        )
    }

    fn admit(&mut self, msg: Join) -> Result<Admission, Refusal> {
        if !self.accepting {
            return self.refuse(Refusal::new(
                ErrorCode::Shutdown,
                "shutdown",
                "the server is shutting down",
            ));
        }
        let peer = msg.stats.peer;
        let reserved = match msg.token.as_deref() {
            Some(token) => match self.tokens.remove(token) {
                Some(p) if p.expires > Instant::now() => Some(p.session_id),
                _ => {
                    return self.refuse(Refusal::new(
                        ErrorCode::Unauthorized,
                        "bad_token",
                        "the connect token is unknown, already used or expired",
                    ));
                }
            },
            None if self.limits.access == AccessMode::Token => {
                return self.refuse(Refusal::new(
                    ErrorCode::Unauthorized,
                    "no_token",
                    "this server requires a connect token (POST /api/sessions)",
                ));
            }
            None => None,
        };
        // A warm container already holds its slot; a cold start needs a new one.
        let cold = self.pool.is_empty();
        if reserved.is_none() && cold && self.used() >= self.limits.max_sessions {
            return self.refuse(self.capacity_refusal());
        }
        let from_peer = self.per_ip.get(&peer).copied().unwrap_or(0);
        if from_peer >= self.limits.max_per_ip {
            return self.refuse(Refusal::new(
                ErrorCode::Capacity,
                "per_ip_capacity",
                format!(
                    "your address already has {from_peer} sessions, the most allowed; close one first"
                ),
            ));
        }
        if reserved.is_none() && self.rate.check_key(&peer).is_err() {
            return self.refuse(Refusal::new(
                ErrorCode::RateLimited,
                "rate_limited",
                format!(
                    "too many new sessions from your address (at most {} a minute); wait a moment",
                    self.limits.sessions_per_minute
                ),
            ));
        }
        let id = reserved.unwrap_or(msg.id);
        *self.per_ip.entry(peer).or_insert(0) += 1;
        self.sessions.insert(
            id.clone(),
            SessionEntry {
                id: id.clone(),
                stats: msg.stats,
                addr: msg.addr,
            },
        );
        self.host.metrics.sessions_created.inc();
        self.host
            .metrics
            .sessions_active
            .set(self.sessions.len() as i64);
        let container = match self.take_warm() {
            Some(addr) => Container::Warm(addr),
            None => Container::Cold(self.host.session_lease()),
        };
        Ok(Admission { id, container })
    }

    fn take_warm(&mut self) -> Option<Addr<ContainerActor>> {
        while let Some(addr) = self.pool.pop_front() {
            if addr.connected() {
                self.pool_failures = 0;
                self.host.metrics.pool_ready.set(self.pool.len() as i64);
                return Some(addr);
            }
        }
        None
    }

    /// Tops the warm pool up to its size, within capacity.
    fn refill_pool(&mut self) {
        let before = self.pool.len();
        self.pool.retain(|a| a.connected());
        let died = before - self.pool.len();
        if died > 0 {
            self.pool_failures = self.pool_failures.saturating_add(1);
            let backoff = Duration::from_secs(1 << self.pool_failures.min(5)).min(POOL_MAX_BACKOFF);
            self.pool_resume_at = Instant::now() + backoff;
            log::warn!("{died} warm container(s) died unclaimed; next refill in {backoff:?}");
        }
        if Instant::now() < self.pool_resume_at {
            return;
        }
        while self.accepting
            && self.pool.len() < self.limits.pool_size
            && self.used() < self.limits.max_sessions
        {
            let addr = ContainerActor::warm(self.host.clone()).start();
            self.pool.push_back(addr);
        }
        self.host.metrics.pool_ready.set(self.pool.len() as i64);
    }

    fn new_token() -> String {
        format!(
            "{}{}",
            uuid::Uuid::new_v4().simple(),
            uuid::Uuid::new_v4().simple()
        )
    }
}

impl Actor for RegistryActor {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Context<Self>) {
        self.refill_pool();
        ctx.run_interval(HOUSEKEEPING, |act, _| {
            let now = Instant::now();
            act.tokens.retain(|_, p| p.expires > now);
            act.rate.retain_recent();
            act.rate.shrink_to_fit();
            act.refill_pool();
        });
    }
}

impl Handler<Join> for RegistryActor {
    type Result = Result<Admission, Refusal>;

    fn handle(&mut self, msg: Join, _: &mut Context<Self>) -> Self::Result {
        let result = self.admit(msg);
        if result.is_ok() {
            self.refill_pool();
        }
        result
    }
}

impl Handler<Leave> for RegistryActor {
    type Result = ();

    fn handle(&mut self, msg: Leave, _: &mut Context<Self>) {
        if let Some((_, entry)) = self.sessions.remove(&msg.id) {
            let peer = entry.stats.peer;
            if let Some(n) = self.per_ip.get_mut(&peer) {
                *n -= 1;
                if *n == 0 {
                    self.per_ip.remove(&peer);
                }
            }
            self.host.metrics.session_ended(msg.reason);
            self.host
                .metrics
                .sessions_active
                .set(self.sessions.len() as i64);
            if self.sessions.is_empty() {
                // Give back the table's high-water capacity once a burst is over.
                self.sessions.shrink_to_fit();
                self.per_ip.shrink_to_fit();
            }
        }
        self.refill_pool();
    }
}

impl Handler<Reserve> for RegistryActor {
    type Result = Result<Reservation, Refusal>;

    fn handle(&mut self, _: Reserve, _: &mut Context<Self>) -> Self::Result {
        if !self.accepting {
            let refusal = Refusal::new(
                ErrorCode::Shutdown,
                "shutdown",
                "the server is shutting down",
            );
            self.host.metrics.refused(refusal.reason);
            return Err(refusal);
        }
        // A reservation must fit even if the pool keeps its containers.
        if self.used() >= self.limits.max_sessions {
            let refusal = self.capacity_refusal();
            self.host.metrics.refused(refusal.reason);
            return Err(refusal);
        }
        let token = RegistryActor::new_token();
        let session_id = uuid::Uuid::new_v4().to_string();
        self.tokens.insert(
            token.clone(),
            Pending {
                session_id: session_id.clone(),
                expires: Instant::now() + self.limits.token_ttl,
            },
        );
        Ok(Reservation {
            session_id,
            token,
            expires_in_seconds: self.limits.token_ttl.as_secs(),
        })
    }
}

impl Handler<Terminate> for RegistryActor {
    type Result = bool;

    fn handle(&mut self, msg: Terminate, _: &mut Context<Self>) -> bool {
        match self.sessions.get(&msg.id) {
            Some(entry) => {
                entry.addr.do_send(End(EndReason::Terminated));
                true
            }
            None => false,
        }
    }
}

impl Handler<Shutdown> for RegistryActor {
    type Result = usize;

    fn handle(&mut self, _: Shutdown, _: &mut Context<Self>) -> usize {
        self.accepting = false;
        self.tokens.clear();
        for addr in self.pool.drain(..) {
            addr.do_send(Release);
        }
        self.host.metrics.pool_ready.set(0);
        for entry in self.sessions.iter() {
            entry.addr.do_send(End(EndReason::Shutdown));
        }
        self.sessions.len()
    }
}
