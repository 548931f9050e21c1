//! ReaperActor: no session outlives its limits, no container outlives its session.
//!
//! - At start-up it removes containers an earlier run of this server left behind (a crash,
//!   `kill -9`): those carrying our labels with another instance id, and unlabelled ones
//!   named exactly like ours (`terminal-<12 hex>`, `sandterm-warm-<12 hex>`). Containers of
//!   other servers (another `--server-name`) and anything not named like ours are left alone.
//! - Every tick it ends sessions past the idle timeout or the maximum lifetime, and retries
//!   removals that failed (Docker was down).
//! - Periodically it sweeps containers labelled with this server that no live lease
//!   accounts for (lost removals, containers Docker created after a timed-out request).

use actix::prelude::*;
use futures_util::StreamExt;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use super::registry::SessionTable;
use super::session::{End, EndReason};
use crate::docker::{ContainerSummary, is_sandterm_name, label};
use crate::sandbox::{SandboxHost, suffix_of};

/// Containers of ours younger than this are never treated as orphans: their create call
/// may still be on its way back to us.
const ORPHAN_GRACE_SECS: i64 = 120;
/// How often the orphan sweep lists containers.
const SWEEP_INTERVAL: Duration = Duration::from_secs(30);
/// Removals running at once during a sweep.
const REMOVAL_CONCURRENCY: usize = 16;

#[derive(Debug, Clone)]
pub struct ReaperSettings {
    pub idle_timeout: Duration,
    pub max_lifetime: Duration,
}

impl ReaperSettings {
    /// Checks often enough to end a session within a quarter of its shortest limit.
    fn tick(&self) -> Duration {
        (self.idle_timeout.min(self.max_lifetime) / 4)
            .clamp(Duration::from_millis(250), Duration::from_secs(5))
    }
}

pub struct ReaperActor {
    settings: ReaperSettings,
    host: Arc<SandboxHost>,
    sessions: SessionTable,
    startup_done: bool,
    sweeping: bool,
    /// A retry of failed removals is under way (one at a time: a busy Docker is not
    /// helped by the same removals asked for twice).
    retrying: bool,
    /// Highest load (sessions plus containers) since the last memory trim; a lower load
    /// now means memory was freed.
    load_at_trim: usize,
    last_trim: std::time::Instant,
}

/// At most one memory trim per this interval.
const TRIM_INTERVAL: Duration = Duration::from_secs(10);

/// Run the start-up sweep now; replies with how many containers were removed.
#[derive(Message)]
#[rtype(result = "Result<usize, String>")]
pub struct SweepNow;

impl ReaperActor {
    pub fn new(settings: ReaperSettings, host: Arc<SandboxHost>, sessions: SessionTable) -> Self {
        ReaperActor {
            settings,
            host,
            sessions,
            startup_done: false,
            sweeping: false,
            retrying: false,
            load_at_trim: 0,
            last_trim: std::time::Instant::now(),
        }
    }

    /// Hands memory freed by ended sessions back to the kernel. glibc keeps freed heap
    /// pages in its per-thread arenas; on a host that runs for weeks with load that comes
    /// and goes, that retention looks like growth. Done only after sessions ended.
    fn trim_memory(&mut self) {
        // Containers count too: a session's memory is only all freed once its container's
        // removal has finished, which can be many seconds after the session ended.
        let now = self.sessions.len() + self.host.inventory.len();
        if now < self.load_at_trim && self.last_trim.elapsed() >= TRIM_INTERVAL {
            #[cfg(all(target_os = "linux", target_env = "gnu"))]
            // SAFETY: malloc_trim only releases free memory inside glibc's allocator; it
            // takes no pointers and is safe to call from any thread at any time.
            unsafe {
                libc::malloc_trim(0);
            }
            self.last_trim = std::time::Instant::now();
            self.load_at_trim = now;
        } else if now > self.load_at_trim {
            self.load_at_trim = now;
        }
    }

    fn enforce_limits(&self) {
        for entry in self.sessions.iter() {
            let stats = &entry.stats;
            let reason = if stats.started.elapsed() >= self.settings.max_lifetime {
                Some(EndReason::MaxLifetime)
            } else if stats.idle() >= self.settings.idle_timeout {
                Some(EndReason::IdleTimeout)
            } else {
                None
            };
            if let Some(reason) = reason {
                self.host.metrics.reaped(reason.label());
                entry.addr.do_send(End(reason));
            }
        }
    }

    fn retry_doomed(&mut self, ctx: &mut Context<Self>) {
        let doomed = self.host.inventory.doomed();
        if doomed.is_empty() || self.retrying {
            return;
        }
        self.retrying = true;
        let host = self.host.clone();
        let retry = async move {
            futures_util::stream::iter(doomed)
                .for_each_concurrent(REMOVAL_CONCURRENCY, |(suffix, name)| {
                    let host = host.clone();
                    async move {
                        if host.remove(&suffix, &name).await.is_ok() {
                            log::info!("container {name}: removed on retry");
                        }
                    }
                })
                .await;
        };
        ctx.spawn(retry.into_actor(self).map(|_, act, _| act.retrying = false));
    }

    fn sweep(&mut self, ctx: &mut Context<Self>) {
        if self.sweeping {
            return;
        }
        self.sweeping = true;
        let host = self.host.clone();
        let startup = !self.startup_done;
        ctx.spawn(sweep(host, startup).into_actor(self).map(move |result, act, _| {
            act.sweeping = false;
            match result {
                Ok(n) => {
                    if startup {
                        act.startup_done = true;
                        log::info!("start-up sweep: removed {n} container(s) left by an earlier run");
                    }
                }
                Err(e) => log::warn!("container sweep failed ({e}); will retry"),
            }
        }));
    }
}

impl Actor for ReaperActor {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Context<Self>) {
        self.sweep(ctx);
        ctx.run_interval(self.settings.tick(), |act, ctx| {
            act.enforce_limits();
            act.trim_memory();
            act.retry_doomed(ctx);
            if !act.startup_done {
                act.sweep(ctx);
            }
        });
        ctx.run_interval(SWEEP_INTERVAL, |act, ctx| act.sweep(ctx));
    }
}

impl Handler<SweepNow> for ReaperActor {
    type Result = ResponseFuture<Result<usize, String>>;

    fn handle(&mut self, _: SweepNow, _: &mut Context<Self>) -> Self::Result {
        let host = self.host.clone();
        Box::pin(async move { sweep(host, true).await.map_err(|e| e.to_string()) })
    }
}

/// Decides whether a listed container is ours to remove.
fn is_orphan(host: &SandboxHost, c: &ContainerSummary, startup: bool, now: i64) -> bool {
    match c.labels.get(label::SERVICE).map(String::as_str) {
        Some("sandterm") => {
            if c.labels.get(label::SERVER) != Some(&host.server) {
                return false;
            }
            if c.labels.get(label::INSTANCE) != Some(&host.instance) {
                // An earlier run of this server.
                return true;
            }
            let owned = suffix_of(&c.name).is_some_and(|s| host.inventory.contains(s));
            !owned && now - c.created > ORPHAN_GRACE_SECS
        }
        Some(_) => false,
        // Unlabelled: only at start-up, and only with exactly our naming scheme.
        None => startup && is_sandterm_name(&c.name),
    }
}

/// Lists candidate containers and removes the orphans among them, concurrently.
async fn sweep(host: Arc<SandboxHost>, startup: bool) -> Result<usize, crate::docker::DockerError> {
    let mut found = host
        .docker
        .list_labelled(&[(label::SERVICE, "sandterm"), (label::SERVER, &host.server)])
        .await?;
    if startup {
        for prefix in [crate::docker::SESSION_PREFIX, crate::docker::WARM_PREFIX] {
            found.extend(host.docker.list_named(prefix).await?);
        }
    }
    found.sort_by(|a, b| a.id.cmp(&b.id));
    found.dedup_by(|a, b| a.id == b.id);
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0);
    let orphans: Vec<ContainerSummary> = found
        .into_iter()
        .filter(|c| is_orphan(&host, c, startup, now))
        .collect();
    let removed = futures_util::stream::iter(orphans)
        .map(|c| {
            let host = host.clone();
            async move {
                match host.docker.remove(&c.id).await {
                    Ok(()) => {
                        log::info!(
                            "removed orphaned container {} ({})",
                            c.name,
                            &c.id[..c.id.len().min(12)]
                        );
                        host.metrics.orphans_removed.inc();
                        1
                    }
                    Err(e) => {
                        host.metrics.docker_error("remove", e.kind());
                        log::warn!("could not remove orphaned container {}: {e}", c.name);
                        0
                    }
                }
            }
        })
        .buffer_unordered(REMOVAL_CONCURRENCY)
        .fold(0usize, |acc, n| async move { acc + n })
        .await;
    Ok(removed)
}
