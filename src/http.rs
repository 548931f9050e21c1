//! HTTP surface: the WebSocket endpoint, the page, probes and metrics; `/api` is in `api`.
//!
//! Checks that can be made before a WebSocket exists happen here (the Origin allowlist,
//! refused with 403 so a cross-site page never gets a socket); admission proper (caps,
//! rates, tokens) is the registry's, answered with a protocol `error` frame that a browser
//! can show.

use actix::Addr;
use actix_web::http::header;
use actix_web::{HttpRequest, HttpResponse, web};
use serde::Deserialize;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::Mutex;

use crate::actors::registry::{RegistryActor, SessionStats, SessionTable};
use crate::actors::session::{SessionActor, SessionSettings};
use crate::protocol::ErrorCode;
use crate::proxy::TrustedProxies;
use crate::sandbox::SandboxHost;

/// How long a readiness answer is reused; /readyz may be polled hard.
const READINESS_CACHE: Duration = Duration::from_secs(1);

/// Which page origins may open a WebSocket.
#[derive(Debug, Clone)]
pub enum OriginPolicy {
    /// Only the origin the page was served from (Origin host equals the Host header).
    SameOrigin,
    Any,
    List(Vec<String>),
}

impl OriginPolicy {
    pub fn from_config(origins: &[String]) -> OriginPolicy {
        let origins: Vec<String> = origins
            .iter()
            .map(|o| o.trim().trim_end_matches('/').to_ascii_lowercase())
            .filter(|o| !o.is_empty())
            .collect();
        if origins.iter().any(|o| o == "*") {
            OriginPolicy::Any
        } else if origins.is_empty() {
            OriginPolicy::SameOrigin
        } else {
            OriginPolicy::List(origins)
        }
    }

    /// Requests without an Origin come from programs, not browsers: a cross-site page
    /// cannot open a WebSocket without the browser adding its Origin.
    pub fn allows(&self, origin: Option<&str>, host: Option<&str>) -> bool {
        let Some(origin) = origin else { return true };
        let origin = origin.trim().trim_end_matches('/').to_ascii_lowercase();
        match self {
            OriginPolicy::Any => true,
            OriginPolicy::List(list) => list.contains(&origin),
            OriginPolicy::SameOrigin => {
                let origin_host = origin
                    .strip_prefix("http://")
                    .or_else(|| origin.strip_prefix("https://"));
                match (origin_host, host) {
                    (Some(o), Some(h)) => o.eq_ignore_ascii_case(h.trim()),
                    _ => false,
                }
            }
        }
    }
}

/// Shared state of every HTTP worker.
pub struct AppState {
    pub registry: Addr<RegistryActor>,
    pub sessions: SessionTable,
    pub host: Arc<SandboxHost>,
    pub settings: Arc<SessionSettings>,
    pub origins: OriginPolicy,
    pub proxies: TrustedProxies,
    pub admin_token: String,
    readiness: Mutex<Option<(Instant, Result<(), String>)>>,
}

impl AppState {
    pub fn new(
        registry: Addr<RegistryActor>,
        sessions: SessionTable,
        host: Arc<SandboxHost>,
        settings: Arc<SessionSettings>,
        origins: OriginPolicy,
        proxies: TrustedProxies,
        admin_token: String,
    ) -> AppState {
        AppState {
            registry,
            sessions,
            host,
            settings,
            origins,
            proxies,
            admin_token,
            readiness: Mutex::new(None),
        }
    }

    /// Docker reachable, the policy's image present, and what the policy names (runtime,
    /// AppArmor) available on the Docker host; cached briefly.
    pub async fn readiness(&self) -> Result<(), String> {
        let mut cached = self.readiness.lock().await;
        if let Some((at, result)) = cached.as_ref()
            && at.elapsed() < READINESS_CACHE
        {
            return result.clone();
        }
        let result = self.check_readiness().await;
        *cached = Some((Instant::now(), result.clone()));
        result
    }

    async fn check_readiness(&self) -> Result<(), String> {
        let problems = self
            .host
            .docker
            .cannot_run(&self.host.policy)
            .await
            .map_err(|e| e.to_string())?;
        if problems.is_empty() {
            Ok(())
        } else {
            Err(problems.join("; "))
        }
    }
}

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/ws", web::get().to(websocket))
        .route("/healthz", web::get().to(healthz))
        .route("/readyz", web::get().to(readyz))
        .route("/metrics", web::get().to(metrics))
        .service(web::scope("/api").configure(crate::api::routes))
        .configure(crate::web::routes);
}

#[derive(Deserialize)]
struct WsQuery {
    token: Option<String>,
}

async fn websocket(
    req: HttpRequest,
    payload: web::Payload,
    state: web::Data<AppState>,
) -> Result<HttpResponse, actix_web::Error> {
    let origin = req
        .headers()
        .get(header::ORIGIN)
        .and_then(|v| v.to_str().ok());
    let host = req
        .headers()
        .get(header::HOST)
        .and_then(|v| v.to_str().ok());
    let peer = req
        .peer_addr()
        .map(|a| a.ip())
        .unwrap_or(std::net::IpAddr::from([127, 0, 0, 1]));
    // Behind a trusted reverse proxy, the client it forwarded: limits and logs are per client.
    let forwarded_for = req
        .headers()
        .get_all(header::X_FORWARDED_FOR)
        .filter_map(|v| v.to_str().ok());
    let peer = state.proxies.client_address(peer, forwarded_for);
    if !state.origins.allows(origin, host) {
        state.host.metrics.refused("forbidden_origin");
        log::info!(
            "refused WebSocket from {peer}: origin {} not allowed",
            origin.unwrap_or("-")
        );
        return Ok(HttpResponse::Forbidden().json(error_body(
            ErrorCode::ForbiddenOrigin.as_str(),
            "this page's origin may not open terminals on this server",
        )));
    }
    let token = web::Query::<WsQuery>::from_query(req.query_string())
        .ok()
        .and_then(|q| q.into_inner().token)
        .filter(|t| !t.is_empty() && t.len() <= 256);
    let (response, outbound, inbound) = crate::ws::accept(&req, payload)?;
    let stats = Arc::new(SessionStats::new(peer));
    actix::Actor::start(SessionActor::new(
        outbound,
        inbound,
        stats,
        token,
        state.registry.clone(),
        state.host.clone(),
        state.settings.clone(),
    ));
    Ok(response)
}

async fn healthz() -> HttpResponse {
    HttpResponse::Ok().json(serde_json::json!({ "status": "ok" }))
}

async fn readyz(state: web::Data<AppState>) -> HttpResponse {
    match state.readiness().await {
        Ok(()) => HttpResponse::Ok().json(serde_json::json!({ "ready": true })),
        Err(reason) => HttpResponse::ServiceUnavailable()
            .json(serde_json::json!({ "ready": false, "reason": reason })),
    }
}

async fn metrics(state: web::Data<AppState>) -> HttpResponse {
    HttpResponse::Ok()
        .content_type("application/openmetrics-text; version=1.0.0; charset=utf-8")
        .body(state.host.metrics.render())
}

/// An error as an HTTP JSON body: the same stable codes as protocol `error` frames.
pub fn error_body(code: &str, message: &str) -> serde_json::Value {
    serde_json::json!({ "error": code, "message": message })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_origin_compares_origin_host_with_host_header() {
        let p = OriginPolicy::SameOrigin;
        assert!(p.allows(Some("http://localhost:3000"), Some("localhost:3000")));
        assert!(p.allows(Some("https://Play.Example.com"), Some("play.example.com")));
        assert!(!p.allows(Some("http://evil.example"), Some("localhost:3000")));
        assert!(!p.allows(Some("http://localhost:3001"), Some("localhost:3000")));
        assert!(!p.allows(Some("null"), Some("localhost:3000")));
        assert!(p.allows(None, Some("localhost:3000")));
    }

    #[test]
    fn configured_origins_are_an_allowlist() {
        let p = OriginPolicy::from_config(&["https://play.example.com/".into()]);
        assert!(p.allows(Some("https://play.example.com"), Some("api.example.com")));
        assert!(!p.allows(Some("https://evil.example.com"), Some("api.example.com")));
        let any = OriginPolicy::from_config(&["*".into()]);
        assert!(any.allows(Some("http://anything"), None));
    }
}
