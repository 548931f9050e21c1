//! Wiring and lifecycle: start the actors and the HTTP server, and shut down in order.
//!
//! Shutdown on SIGTERM/SIGINT: stop admitting, tell every client why (`shutdown`), wait for
//! every container removal, sweep anything still labelled with this run, then stop HTTP.
//! actix's own signal handling is disabled because it would stop the workers first and
//! drop sessions without removing their containers.

use actix::Actor;
use actix_web::{App, HttpServer, web};
use dashmap::DashMap;
use futures_util::StreamExt;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio_util::task::TaskTracker;

use crate::actors::reaper::{ReaperActor, ReaperSettings};
use crate::actors::registry::{AdmissionLimits, RegistryActor, SessionTable, Shutdown};
use crate::actors::session::SessionSettings;
use crate::config::Config;
use crate::docker::{Docker, label};
use crate::http::{AppState, OriginPolicy};
use crate::metrics::Metrics;
use crate::policy::Policy;
use crate::proxy::TrustedProxies;
use crate::sandbox::{Inventory, SandboxHost};

/// Runs the service until a signal asks it to stop.
pub async fn run(config: Config, policy: Policy) -> std::io::Result<()> {
    let _claim = claim_server_name(&config.server_name)?;
    let docker =
        Docker::new(&config.docker_host, config.docker_timeout).map_err(std::io::Error::other)?;
    check_docker(&docker, &policy).await;

    let configured = config.admin_token.clone().filter(|t| !t.trim().is_empty());
    if configured.as_ref().is_some_and(|t| t.len() < 16) {
        log::warn!(
            "the configured admin token is shorter than 16 characters; use a long random one"
        );
    }
    let admin_token = configured.unwrap_or_else(|| {
        let token = uuid::Uuid::new_v4().simple().to_string();
        log::warn!("no --admin-token configured; the /api token for this run is: {token}");
        token
    });
    let max_sessions = config.session_cap(policy.memory_bytes());
    let host = Arc::new(SandboxHost {
        docker: Arc::new(docker),
        policy: Arc::new(policy),
        metrics: Metrics::new(),
        inventory: Inventory::default(),
        tracker: TaskTracker::new(),
        server: config.server_name.clone(),
        instance: uuid::Uuid::new_v4().simple().to_string(),
        launches: tokio::sync::Semaphore::new(config.concurrent_starts as usize),
    });
    let sessions: SessionTable = Arc::new(DashMap::new());
    let limits = AdmissionLimits {
        max_sessions,
        max_per_ip: config.max_sessions_per_ip,
        sessions_per_minute: config.session_rate,
        access: config.access,
        token_ttl: config.token_ttl,
        pool_size: config.pool_size.min(max_sessions),
    };
    log::info!(
        "policy '{}' from {} (image {}); at most {} sessions, {} per address; warm pool {}; access {:?}",
        host.policy.name,
        host.policy.source,
        host.policy.image,
        limits.max_sessions,
        limits.max_per_ip,
        limits.pool_size,
        limits.access
    );
    let registry = RegistryActor::new(limits, host.clone(), sessions.clone()).start();
    ReaperActor::new(
        ReaperSettings {
            idle_timeout: config.idle_timeout,
            max_lifetime: config.max_lifetime,
        },
        host.clone(),
        sessions.clone(),
    )
    .start();

    let state = web::Data::new(AppState::new(
        registry.clone(),
        sessions,
        host.clone(),
        Arc::new(SessionSettings {
            heartbeat_interval: config.heartbeat_interval,
            client_timeout: config.client_timeout,
            input_rate: config.input_rate,
        }),
        OriginPolicy::from_config(&config.allowed_origins),
        TrustedProxies::new(config.trusted_proxies.clone()),
        admin_token,
    ));
    let server = HttpServer::new(move || {
        App::new()
            .app_data(state.clone())
            .app_data(web::PayloadConfig::new(64 * 1024))
            .app_data(web::JsonConfig::default().limit(64 * 1024))
            .configure(crate::http::routes)
    })
    // Terminal traffic is many small writes: without TCP_NODELAY, Nagle's algorithm and the
    // peer's delayed ACKs hold a keystroke echo or a prompt back by up to 40 ms.
    .on_connect(|conn, _| {
        if let Some(tcp) = conn.downcast_ref::<actix_web::rt::net::TcpStream>() {
            let _ = tcp.set_nodelay(true);
        }
    })
    .disable_signals()
    .shutdown_timeout(2)
    .bind(config.listen)
    .map_err(|e| std::io::Error::new(e.kind(), format!("cannot listen on {}: {e}", config.listen)))?
    .run();
    log::info!("listening on http://{}", config.listen);

    let handle = server.handle();
    let shutdown_timeout = config.shutdown_timeout;
    actix_web::rt::spawn(async move {
        wait_for_signal().await;
        shutdown(&registry, &host, shutdown_timeout).await;
        handle.stop(true).await;
    });
    server.await
}

/// The file a server with this `--server-name` holds locked while it runs.
pub fn name_lock_path(name: &str) -> std::path::PathBuf {
    std::env::temp_dir().join(format!("sandterm-{name}.lock"))
}

/// Makes sure no other server with this `--server-name` runs on this host: it would take
/// this server's containers for an earlier run's leftovers and remove them (and this one
/// theirs). The claim is an exclusive lock on `sandterm-<name>.lock` in the temp directory,
/// held for the life of the process; the kernel drops it however the process ends, so a
/// crash never leaves a stale claim. The file itself stays (removing it would race).
fn claim_server_name(name: &str) -> std::io::Result<std::fs::File> {
    let path = name_lock_path(name);
    let opened = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&path)
        // Created by another user: flock needs only read access to the file.
        .or_else(|_| std::fs::File::open(&path))
        .map_err(|e| {
            std::io::Error::new(
                e.kind(),
                format!("cannot open the lock file {}: {e}", path.display()),
            )
        })?;
    match opened.try_lock() {
        Ok(()) => Ok(opened),
        Err(std::fs::TryLockError::WouldBlock) => Err(std::io::Error::new(
            std::io::ErrorKind::AddrInUse,
            format!(
                "another sandterm with --server-name {name} is running on this host (it holds \
                 {}); a second one would remove that server's containers. Give each server \
                 its own --server-name",
                path.display()
            ),
        )),
        Err(std::fs::TryLockError::Error(e)) => Err(std::io::Error::new(
            e.kind(),
            format!("cannot lock {}: {e}", path.display()),
        )),
    }
}

async fn check_docker(docker: &Docker, policy: &Policy) {
    match docker.cannot_run(policy).await {
        Ok(problems) if problems.is_empty() => {
            let version = docker.api_version().await.unwrap_or_default();
            log::info!(
                "Docker at {} (API {version}); image {} present",
                docker.host(),
                policy.image
            );
        }
        Ok(problems) => {
            for problem in problems {
                log::error!("every session would fail to start: {problem}");
            }
        }
        Err(e) => log::error!(
            "{e}: sessions will fail with 'docker_unavailable' until Docker is reachable \
             (start it, or point --docker-host / DOCKER_HOST at it)"
        ),
    }
}

async fn wait_for_signal() {
    use tokio::signal::unix::{SignalKind, signal};
    let (Ok(mut term), Ok(mut int)) = (
        signal(SignalKind::terminate()),
        signal(SignalKind::interrupt()),
    ) else {
        log::error!("cannot install signal handlers; stop the server with SIGKILL");
        std::future::pending::<()>().await;
        return;
    };
    tokio::select! {
        _ = term.recv() => log::info!("SIGTERM received"),
        _ = int.recv() => log::info!("SIGINT received"),
    }
}

/// Ends every session, waits for their containers to go, and sweeps what is left.
async fn shutdown(
    registry: &actix::Addr<RegistryActor>,
    host: &Arc<SandboxHost>,
    timeout: Duration,
) {
    let deadline = Instant::now() + timeout;
    let sessions = registry.send(Shutdown).await.unwrap_or(0);
    log::info!("shutting down: ending {sessions} session(s) and removing their containers");
    while !host.inventory.is_empty() && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    host.tracker.close();
    let _ = tokio::time::timeout(
        deadline.saturating_duration_since(Instant::now()),
        host.tracker.wait(),
    )
    .await;
    let left = host
        .docker
        .list_labelled(&[
            (label::SERVICE, "sandterm"),
            (label::INSTANCE, &host.instance),
        ])
        .await;
    match left {
        Ok(left) if !left.is_empty() => {
            log::warn!(
                "removing {} container(s) still present at shutdown",
                left.len()
            );
            futures_util::stream::iter(left)
                .for_each_concurrent(16, |c| {
                    let host = host.clone();
                    async move {
                        if let Err(e) = host.docker.remove(&c.id).await {
                            log::error!("container {} not removed at shutdown: {e}; the next start removes it", c.name);
                        }
                    }
                })
                .await;
        }
        Ok(_) => {}
        Err(e) => log::error!(
            "cannot list containers at shutdown ({e}); the next start removes any left behind"
        ),
    }
    log::info!("shutdown complete");
}
