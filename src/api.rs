//! The operator REST API under `/api`, behind a bearer token.
//!
//! Reads come from the registry's shared session table; changes (reserve, terminate) go
//! through the RegistryActor so that admission stays in one place. The token is compared in
//! constant time and never logged.

use actix_web::dev::Payload;
use actix_web::http::header;
use actix_web::{FromRequest, HttpRequest, HttpResponse, ResponseError, web};
use serde::Serialize;
use std::future::{Ready, ready};
use subtle::ConstantTimeEq;

use crate::actors::registry::{Reserve, SessionEntry, SessionState, Terminate};
use crate::docker::Usage;
use crate::http::{AppState, error_body};

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/sessions", web::get().to(list_sessions))
        .route("/sessions", web::post().to(reserve_session))
        .route("/sessions/{id}", web::get().to(get_session))
        .route("/sessions/{id}", web::delete().to(delete_session))
        .default_service(web::to(not_found));
}

/// Proof that the request carried the admin bearer token.
pub struct Admin;

#[derive(Debug)]
pub struct Unauthorized;

impl std::fmt::Display for Unauthorized {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("missing or wrong bearer token")
    }
}

impl ResponseError for Unauthorized {
    fn error_response(&self) -> HttpResponse {
        HttpResponse::Unauthorized()
            .insert_header((header::WWW_AUTHENTICATE, "Bearer realm=\"sandterm\""))
            .json(error_body(
                "unauthorized",
                "send the admin token as 'Authorization: Bearer <token>'",
            ))
    }
}

impl FromRequest for Admin {
    type Error = Unauthorized;
    type Future = Ready<Result<Admin, Unauthorized>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let Some(state) = req.app_data::<web::Data<AppState>>() else {
            return ready(Err(Unauthorized));
        };
        let presented = req
            .headers()
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| {
                let (scheme, token) = v.trim().split_once(' ')?;
                scheme.eq_ignore_ascii_case("bearer").then(|| token.trim())
            });
        let ok =
            presented.is_some_and(|t| bool::from(t.as_bytes().ct_eq(state.admin_token.as_bytes())));
        ready(if ok { Ok(Admin) } else { Err(Unauthorized) })
    }
}

/// A session as the API shows it.
#[derive(Serialize)]
pub struct SessionView {
    pub id: String,
    pub container: String,
    pub state: SessionState,
    pub created: String,
    pub last_input: String,
    pub idle_seconds: u64,
    pub age_seconds: u64,
    pub client_address: String,
    pub bytes_in: u64,
    pub bytes_out: u64,
}

impl From<&SessionEntry> for SessionView {
    fn from(entry: &SessionEntry) -> SessionView {
        use std::sync::atomic::Ordering::Relaxed;
        let s = &entry.stats;
        SessionView {
            id: entry.id.clone(),
            container: s.container(),
            state: s.state(),
            created: humantime::format_rfc3339_millis(s.created).to_string(),
            last_input: humantime::format_rfc3339_millis(s.last_input()).to_string(),
            idle_seconds: s.idle().as_secs(),
            age_seconds: s.started.elapsed().as_secs(),
            client_address: s.peer.to_string(),
            bytes_in: s.bytes_in.load(Relaxed),
            bytes_out: s.bytes_out.load(Relaxed),
        }
    }
}

#[derive(Serialize)]
struct SessionDetail {
    #[serde(flatten)]
    session: SessionView,
    usage: Option<Usage>,
    usage_error: Option<String>,
}

async fn list_sessions(_: Admin, state: web::Data<AppState>) -> HttpResponse {
    let mut sessions: Vec<SessionView> = state
        .sessions
        .iter()
        .map(|e| SessionView::from(&*e))
        .collect();
    sessions.sort_by(|a, b| a.created.cmp(&b.created).then(a.id.cmp(&b.id)));
    HttpResponse::Ok().json(serde_json::json!({ "sessions": sessions }))
}

async fn get_session(_: Admin, state: web::Data<AppState>, id: web::Path<String>) -> HttpResponse {
    let Some(entry) = state.sessions.get(id.as_str()).map(|e| e.clone()) else {
        return session_not_found(&id);
    };
    let view = SessionView::from(&entry);
    let (usage, usage_error) = if view.container.is_empty() {
        (None, Some("the container is still starting".to_string()))
    } else {
        match state.host.docker.usage(&view.container).await {
            Ok(u) => (Some(u), None),
            Err(e) => (None, Some(e.to_string())),
        }
    };
    HttpResponse::Ok().json(SessionDetail {
        session: view,
        usage,
        usage_error,
    })
}

async fn delete_session(
    _: Admin,
    state: web::Data<AppState>,
    id: web::Path<String>,
) -> HttpResponse {
    match state.registry.send(Terminate { id: id.clone() }).await {
        Ok(true) => {
            log::info!("session {id}: ended by an operator");
            HttpResponse::Accepted().json(serde_json::json!({ "id": id.as_str(), "ending": true }))
        }
        Ok(false) => session_not_found(&id),
        Err(_) => registry_unavailable(),
    }
}

async fn reserve_session(_: Admin, req: HttpRequest, state: web::Data<AppState>) -> HttpResponse {
    match state.registry.send(Reserve).await {
        Ok(Ok(reservation)) => {
            let info = req.connection_info();
            let scheme = if info.scheme() == "https" {
                "wss"
            } else {
                "ws"
            };
            let url = format!("{scheme}://{}/ws?token={}", info.host(), reservation.token);
            HttpResponse::Created().json(serde_json::json!({
                "session_id": reservation.session_id,
                "token": reservation.token,
                "expires_in_seconds": reservation.expires_in_seconds,
                "url": url,
            }))
        }
        Ok(Err(refusal)) => {
            let status = match refusal.code {
                crate::protocol::ErrorCode::Shutdown => HttpResponse::ServiceUnavailable(),
                _ => HttpResponse::TooManyRequests(),
            };
            let mut builder = status;
            builder
                .insert_header((header::RETRY_AFTER, "5"))
                .json(error_body(refusal.code.as_str(), &refusal.message))
        }
        Err(_) => registry_unavailable(),
    }
}

async fn not_found(_: Admin) -> HttpResponse {
    HttpResponse::NotFound().json(error_body("not_found", "no such API endpoint"))
}

fn session_not_found(id: &str) -> HttpResponse {
    let shown: String = id.chars().take(64).collect();
    HttpResponse::NotFound().json(error_body(
        "not_found",
        &format!("no live session with id '{shown}'"),
    ))
}

fn registry_unavailable() -> HttpResponse {
    HttpResponse::ServiceUnavailable().json(error_body(
        "internal",
        "the session registry is not answering; the server may be shutting down",
    ))
}
