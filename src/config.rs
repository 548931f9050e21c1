//! Server configuration: command-line flags, each with a matching environment variable.
//!
//! Defaults are chosen so that `sandterm` with no arguments is a safe localhost demo:
//! loopback only, the default policy, generous but finite limits.

use clap::{Parser, ValueEnum};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

pub const DEFAULT_POLICY_PATH: &str = "policies/default.toml";

/// Who may open a terminal.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum AccessMode {
    /// Anyone who can reach the page (and passes the Origin check).
    Open,
    /// Only clients holding a single-use token from `POST /api/sessions`.
    Token,
}

#[derive(Debug, Clone, Parser)]
#[command(
    name = "sandterm",
    version,
    about = "One disposable, locked-down Docker container with a real TTY per WebSocket client.",
    long_about = "sandterm serves a terminal page at / and a WebSocket at /ws. Every WebSocket \
gets its own container, created from the sandbox policy, running a shell on a TTY; the \
container is removed when the session ends for any reason. Operators use /api (bearer \
token), /metrics, /healthz and /readyz. Every option can also be set by the environment \
variable shown."
)]
pub struct Config {
    /// Address and port to listen on.
    #[arg(long, env = "SANDTERM_LISTEN", default_value = "127.0.0.1:3000")]
    pub listen: SocketAddr,

    /// Sandbox policy file (TOML). The built-in default is used when the default path is absent.
    #[arg(long, env = "SANDTERM_POLICY", default_value = DEFAULT_POLICY_PATH)]
    pub policy: PathBuf,

    /// Docker endpoint: unix:///path/to/docker.sock or tcp://host:port.
    #[arg(
        long,
        env = "DOCKER_HOST",
        default_value = "unix:///var/run/docker.sock"
    )]
    pub docker_host: String,

    /// End a session after this long without input (e.g. 90s, 15m, 1h).
    #[arg(long, env = "SANDTERM_IDLE_TIMEOUT", default_value = "15m", value_parser = parse_duration)]
    pub idle_timeout: Duration,

    /// End a session this long after it started, whatever it is doing.
    #[arg(long, env = "SANDTERM_MAX_LIFETIME", default_value = "2h", value_parser = parse_duration)]
    pub max_lifetime: Duration,

    /// How often the server pings each client.
    #[arg(long, env = "SANDTERM_HEARTBEAT_INTERVAL", default_value = "10s", value_parser = parse_duration)]
    pub heartbeat_interval: Duration,

    /// A client that sends nothing (not even a pong) for this long is considered gone.
    #[arg(long, env = "SANDTERM_CLIENT_TIMEOUT", default_value = "30s", value_parser = parse_duration)]
    pub client_timeout: Duration,

    /// Name of this server on the Docker host. Containers are labelled with it, and at start-up
    /// the server removes containers left behind by an earlier run of the same name. Give each
    /// server sharing a Docker host its own name.
    #[arg(long, env = "SANDTERM_SERVER_NAME", default_value = "default", value_parser = parse_server_name)]
    pub server_name: String,

    /// Most live sessions (warm pool included). Default: as many as the policy's memory limit
    /// fits into 80% of the host's memory.
    #[arg(long, env = "SANDTERM_MAX_SESSIONS")]
    pub max_sessions: Option<usize>,

    /// Most live sessions per client address.
    #[arg(long, env = "SANDTERM_MAX_SESSIONS_PER_IP", default_value_t = 8)]
    pub max_sessions_per_ip: usize,

    /// New sessions allowed per client address per minute (bursts up to this many).
    #[arg(long, env = "SANDTERM_SESSION_RATE", default_value_t = 30)]
    pub session_rate: u32,

    /// Input frames a session may send per second (bursts up to twice this).
    #[arg(long, env = "SANDTERM_INPUT_RATE", default_value_t = 200)]
    pub input_rate: u32,

    /// Who may open a terminal: `open` (anyone who can reach the page) or `token` (only with a
    /// token from POST /api/sessions).
    #[arg(long, env = "SANDTERM_ACCESS", value_enum, default_value_t = AccessMode::Open)]
    pub access: AccessMode,

    /// Bearer token for /api. When unset, a random one is generated and logged once at start.
    #[arg(long, env = "SANDTERM_ADMIN_TOKEN", hide_env_values = true)]
    pub admin_token: Option<String>,

    /// Origins allowed to open a WebSocket (comma-separated, e.g. https://play.example.com).
    /// Default: only the page's own origin (the request's Host). `*` allows any origin.
    #[arg(long, env = "SANDTERM_ALLOWED_ORIGINS", value_delimiter = ',')]
    pub allowed_origins: Vec<String>,

    /// Reverse proxies whose X-Forwarded-For is believed (comma-separated addresses or
    /// networks, e.g. 127.0.0.1,10.0.0.0/8). Behind them, per-address limits and logs use the
    /// client's address; by default the header is ignored and the TCP peer is the client.
    #[arg(long, env = "SANDTERM_TRUSTED_PROXIES", value_delimiter = ',', value_parser = crate::proxy::parse_network)]
    pub trusted_proxies: Vec<ipnet::IpNet>,

    /// How long a connect token from POST /api/sessions stays valid.
    #[arg(long, env = "SANDTERM_TOKEN_TTL", default_value = "60s", value_parser = parse_duration)]
    pub token_ttl: Duration,

    /// Containers kept created, started and attached ahead of demand (0 disables the pool).
    #[arg(long, env = "SANDTERM_POOL_SIZE", default_value_t = 2)]
    pub pool_size: usize,

    /// Container launches (create, attach, start) sent to Docker at once; more wait their
    /// turn. A burst of new sessions is served sooner this way than with every launch
    /// contending inside dockerd at the same time.
    #[arg(long, env = "SANDTERM_CONCURRENT_STARTS", default_value_t = 8, value_parser = clap::value_parser!(u32).range(1..=1024))]
    pub concurrent_starts: u32,

    /// Longest wait for any single Docker API call (create, start, remove, ...).
    #[arg(long, env = "SANDTERM_DOCKER_TIMEOUT", default_value = "30s", value_parser = parse_duration)]
    pub docker_timeout: Duration,

    /// On SIGTERM/SIGINT, longest wait for sessions to end and containers to be removed.
    #[arg(long, env = "SANDTERM_SHUTDOWN_TIMEOUT", default_value = "20s", value_parser = parse_duration)]
    pub shutdown_timeout: Duration,
}

fn parse_duration(s: &str) -> Result<Duration, String> {
    let d = humantime::parse_duration(s).map_err(|e| format!("'{s}': {e} (try 30s, 15m, 2h)"))?;
    if d.is_zero() {
        return Err(format!("'{s}' must be above zero"));
    }
    Ok(d)
}

fn parse_server_name(s: &str) -> Result<String, String> {
    let ok = !s.is_empty()
        && s.len() <= 63
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_' || c == '.');
    if ok {
        Ok(s.to_string())
    } else {
        Err("must be 1-63 letters, digits, '-', '_' or '.'".into())
    }
}

impl Config {
    pub fn is_default_policy_path(&self) -> bool {
        self.policy == std::path::Path::new(DEFAULT_POLICY_PATH)
    }

    /// The session cap: configured, or sized so that every session's memory limit fits into
    /// 80% of the host's memory (at least 1).
    pub fn session_cap(&self, policy_memory: u64) -> usize {
        self.max_sessions.unwrap_or_else(|| {
            let total = host_memory_bytes().unwrap_or(4 << 30);
            ((total as f64 * 0.8) / policy_memory.max(1) as f64)
                .floor()
                .max(1.0) as usize
        })
    }
}

/// Total memory from /proc/meminfo.
fn host_memory_bytes() -> Option<u64> {
    let text = std::fs::read_to_string("/proc/meminfo").ok()?;
    let line = text.lines().find(|l| l.starts_with("MemTotal:"))?;
    let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib * 1024)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_a_safe_localhost_demo() {
        let c = Config::try_parse_from(["sandterm"]).unwrap();
        assert_eq!(c.listen.to_string(), "127.0.0.1:3000");
        assert_eq!(c.idle_timeout, Duration::from_secs(15 * 60));
        assert_eq!(c.max_lifetime, Duration::from_secs(2 * 3600));
        assert_eq!(c.access, AccessMode::Open);
        assert!(c.is_default_policy_path());
    }

    #[test]
    fn durations_take_units_and_refuse_zero() {
        let c = Config::try_parse_from(["sandterm", "--idle-timeout", "3s"]).unwrap();
        assert_eq!(c.idle_timeout, Duration::from_secs(3));
        assert!(Config::try_parse_from(["sandterm", "--idle-timeout", "0s"]).is_err());
        assert!(Config::try_parse_from(["sandterm", "--idle-timeout", "soon"]).is_err());
    }

    #[test]
    fn concurrent_starts_default_to_eight_and_refuse_zero() {
        let c = Config::try_parse_from(["sandterm"]).unwrap();
        assert_eq!(c.concurrent_starts, 8);
        assert!(Config::try_parse_from(["sandterm", "--concurrent-starts", "0"]).is_err());
        let c = Config::try_parse_from(["sandterm", "--concurrent-starts", "1"]).unwrap();
        assert_eq!(c.concurrent_starts, 1);
    }

    #[test]
    fn server_name_is_label_safe() {
        assert!(Config::try_parse_from(["sandterm", "--server-name", "a b"]).is_err());
        assert!(Config::try_parse_from(["sandterm", "--server-name", "ci-1"]).is_ok());
    }

    #[test]
    fn session_cap_fits_policy_memory_into_host_memory() {
        let c = Config::try_parse_from(["sandterm"]).unwrap();
        assert!(c.session_cap(256 << 20) >= 1);
        let c = Config::try_parse_from(["sandterm", "--max-sessions", "5"]).unwrap();
        assert_eq!(c.session_cap(256 << 20), 5);
    }
}
