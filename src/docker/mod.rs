//! The Docker backend: every call sandterm makes to the Docker engine lives here.
//!
//! Control calls go through bollard, each bounded by a timeout and mapped onto one error
//! type. The TTY attach stream is the exception (see `attach`): bollard's attach decoder
//! sniffs the first byte of each chunk for a multiplexing header, which lets a program in
//! the container that prints `\x01\0\0\0...` make the server buffer gigabytes. A second
//! backend (Kubernetes, another runtime) would implement the same handful of calls.

mod attach;
mod spec;

pub use attach::{AttachReader, AttachWriter};
pub use spec::{Labels, container_spec};

use bollard::errors::Error as BollardError;
use bollard::query_parameters::{
    CreateContainerOptionsBuilder, ListContainersOptionsBuilder, RemoveContainerOptionsBuilder,
    RenameContainerOptionsBuilder, ResizeContainerTTYOptionsBuilder, StatsOptionsBuilder,
    WaitContainerOptionsBuilder,
};
use futures_util::StreamExt;
use std::collections::HashMap;
use std::future::Future;
use std::sync::RwLock;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use crate::policy::Policy;

/// Label keys that mark a container as ours.
pub mod label {
    /// Always "sandterm".
    pub const SERVICE: &str = "sandterm.service";
    /// The `--server-name` of the server that created it.
    pub const SERVER: &str = "sandterm.server";
    /// The run (process lifetime) that created it.
    pub const INSTANCE: &str = "sandterm.instance";
    /// The session it serves ("" while it waits in the warm pool).
    pub const SESSION: &str = "sandterm.session";
    /// The policy it was created from.
    pub const POLICY: &str = "sandterm.policy";
}

/// Session containers are `terminal-<12 hex>`; warm-pool containers `sandterm-warm-<12 hex>`
/// until a session claims one and it is renamed.
pub const SESSION_PREFIX: &str = "terminal-";
pub const WARM_PREFIX: &str = "sandterm-warm-";

/// A fresh container suffix: 12 lowercase hex characters.
pub fn new_container_suffix() -> String {
    uuid::Uuid::new_v4().simple().to_string()[..12].to_string()
}

/// True for names of the exact shape sandterm gives its containers.
pub fn is_sandterm_name(name: &str) -> bool {
    let name = name.trim_start_matches('/');
    let suffix = name
        .strip_prefix(SESSION_PREFIX)
        .or_else(|| name.strip_prefix(WARM_PREFIX));
    matches!(suffix, Some(s) if s.len() == 12 && s.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')))
}

#[derive(Debug, Clone, thiserror::Error)]
pub enum DockerError {
    #[error("Docker is not reachable at {0}")]
    Unavailable(String),
    #[error("image '{0}' is not on the Docker host; build it with: sudo hardening/build-image.sh")]
    ImageMissing(String),
    #[error("no such container: {0}")]
    NotFound(String),
    #[error("Docker did not answer {op} within {secs} s")]
    Timeout { op: &'static str, secs: u64 },
    #[error("Docker refused {op}: {message}")]
    Api { op: &'static str, message: String },
}

impl DockerError {
    /// Coarse kind, for metrics labels.
    pub fn kind(&self) -> &'static str {
        match self {
            DockerError::Unavailable(_) => "unavailable",
            DockerError::ImageMissing(_) => "image_missing",
            DockerError::NotFound(_) => "not_found",
            DockerError::Timeout { .. } => "timeout",
            DockerError::Api { .. } => "api",
        }
    }

    fn from_bollard(
        op: &'static str,
        host: &str,
        timeout_secs: u64,
        err: BollardError,
    ) -> DockerError {
        match err {
            BollardError::DockerResponseServerError {
                status_code: 404,
                message,
            } => {
                if message.contains("image") {
                    DockerError::ImageMissing(message)
                } else {
                    DockerError::NotFound(message)
                }
            }
            BollardError::DockerResponseServerError { message, .. } => {
                DockerError::Api { op, message }
            }
            BollardError::SocketNotFoundError(_)
            | BollardError::IOError { .. }
            | BollardError::HyperResponseError { .. }
            | BollardError::HyperLegacyError { .. }
            | BollardError::HttpClientError { .. } => DockerError::Unavailable(host.to_string()),
            BollardError::RequestTimeoutError => DockerError::Timeout {
                op,
                secs: timeout_secs,
            },
            other => DockerError::Api {
                op,
                message: other.to_string(),
            },
        }
    }
}

/// How the container's main process ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ExitStatus {
    pub code: i64,
    pub oom_killed: bool,
}

/// A container as the reaper sees it.
#[derive(Debug, Clone)]
pub struct ContainerSummary {
    pub id: String,
    pub name: String,
    pub labels: HashMap<String, String>,
    /// Unix seconds.
    pub created: i64,
}

/// Live resource usage, for the operator API.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct Usage {
    pub memory_bytes: Option<u64>,
    pub memory_limit_bytes: Option<u64>,
    pub cpu_total_ns: Option<u64>,
    pub pids: Option<u64>,
    pub pids_limit: Option<u64>,
}

/// Where the engine listens.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Endpoint {
    Unix(String),
    Tcp(String),
}

impl Endpoint {
    pub fn parse(host: &str) -> Result<Endpoint, String> {
        if let Some(path) = host.strip_prefix("unix://") {
            Ok(Endpoint::Unix(path.to_string()))
        } else if let Some(addr) = host
            .strip_prefix("tcp://")
            .or_else(|| host.strip_prefix("http://"))
        {
            Ok(Endpoint::Tcp(addr.trim_end_matches('/').to_string()))
        } else if host.starts_with('/') {
            Ok(Endpoint::Unix(host.to_string()))
        } else {
            Err(format!(
                "DOCKER_HOST '{host}' is not supported; use unix:///path or tcp://host:port (TLS is not supported)"
            ))
        }
    }
}

/// A handle on the Docker engine, shared by every actor.
pub struct Docker {
    host: String,
    endpoint: Endpoint,
    timeout: Duration,
    client: RwLock<Option<bollard::Docker>>,
    negotiated: AtomicBool,
}

impl Docker {
    /// Prepares a client; nothing is contacted yet, so Docker may come up later.
    pub fn new(host: &str, timeout: Duration) -> Result<Docker, String> {
        Ok(Docker {
            host: host.to_string(),
            endpoint: Endpoint::parse(host)?,
            timeout,
            client: RwLock::new(None),
            negotiated: AtomicBool::new(false),
        })
    }

    pub fn host(&self) -> &str {
        &self.host
    }

    /// The bollard client, version-negotiated with the engine once it is reachable.
    async fn client(&self) -> Result<bollard::Docker, DockerError> {
        let existing = self.client.read().ok().and_then(|c| c.clone());
        let client = match existing {
            Some(client) => client,
            None => {
                let secs = self.timeout.as_secs().max(1);
                let version = bollard::API_DEFAULT_VERSION;
                let made = match &self.endpoint {
                    Endpoint::Unix(path) => bollard::Docker::connect_with_unix(path, secs, version),
                    Endpoint::Tcp(addr) => bollard::Docker::connect_with_http(addr, secs, version),
                }
                .map_err(|_| DockerError::Unavailable(self.host.clone()))?;
                if let Ok(mut slot) = self.client.write() {
                    *slot = Some(made.clone());
                }
                made
            }
        };
        if !self.negotiated.load(Ordering::Acquire) {
            // negotiate_version lowers the shared version in place for every clone.
            self.bounded("version", client.clone().negotiate_version())
                .await?;
            self.negotiated.store(true, Ordering::Release);
        }
        Ok(client)
    }

    /// A bollard error from `op`, in this client's terms.
    fn error(&self, op: &'static str, e: BollardError) -> DockerError {
        DockerError::from_bollard(op, &self.host, self.timeout.as_secs(), e)
    }

    /// Runs one Docker call under the configured timeout.
    async fn bounded<T>(
        &self,
        op: &'static str,
        call: impl Future<Output = Result<T, BollardError>>,
    ) -> Result<T, DockerError> {
        match tokio::time::timeout(self.timeout, call).await {
            Ok(result) => result.map_err(|e| self.error(op, e)),
            Err(_) => Err(DockerError::Timeout {
                op,
                secs: self.timeout.as_secs(),
            }),
        }
    }

    pub async fn ping(&self) -> Result<(), DockerError> {
        let client = self.client().await?;
        self.bounded("ping", client.ping()).await.map(|_| ())
    }

    /// The API version in use, e.g. "1.41".
    pub async fn api_version(&self) -> Result<String, DockerError> {
        Ok(self.client().await?.client_version().to_string())
    }

    /// The Docker host's security options (e.g. `name=apparmor`) and its OCI runtimes.
    pub async fn host_features(&self) -> Result<HostFeatures, DockerError> {
        let client = self.client().await?;
        let info = self.bounded("info", client.info()).await?;
        Ok(HostFeatures {
            security_options: info.security_options.unwrap_or_default(),
            runtimes: info
                .runtimes
                .map(|r| r.into_keys().collect())
                .unwrap_or_default(),
        })
    }

    /// Why this Docker host cannot run the policy's sandboxes (its image missing, its runtime
    /// or AppArmor unavailable), each as a sentence; empty when it can. Asked at start-up and
    /// by /readyz.
    pub async fn cannot_run(&self, policy: &Policy) -> Result<Vec<String>, DockerError> {
        let mut problems = Vec::new();
        if !self.image_present(&policy.image).await? {
            problems.push(format!(
                "sandbox image '{}' is missing; build it with: sudo hardening/build-image.sh",
                policy.image
            ));
        }
        problems.extend(self.host_features().await?.missing_for(policy));
        Ok(problems)
    }

    pub async fn image_present(&self, image: &str) -> Result<bool, DockerError> {
        let client = self.client().await?;
        match self
            .bounded("inspect image", client.inspect_image(image))
            .await
        {
            Ok(_) => Ok(true),
            Err(DockerError::ImageMissing(_) | DockerError::NotFound(_)) => Ok(false),
            Err(e) => Err(e),
        }
    }

    /// Creates the container (not started).
    pub async fn create(
        &self,
        name: &str,
        policy: &Policy,
        labels: &Labels,
    ) -> Result<(), DockerError> {
        let client = self.client().await?;
        let options = CreateContainerOptionsBuilder::default().name(name).build();
        let body = container_spec(policy, labels);
        let result = self
            .bounded("create", client.create_container(Some(options), body))
            .await;
        match result {
            Ok(_) => Ok(()),
            Err(DockerError::NotFound(m) | DockerError::ImageMissing(m)) if m.contains("image") => {
                Err(DockerError::ImageMissing(policy.image.clone()))
            }
            Err(e) => Err(e),
        }
    }

    pub async fn start(&self, name: &str) -> Result<(), DockerError> {
        let client = self.client().await?;
        self.bounded("start", client.start_container(name, None))
            .await
    }

    /// Attaches to the container's TTY: raw bytes out, raw bytes in.
    pub async fn attach(&self, name: &str) -> Result<(AttachReader, AttachWriter), DockerError> {
        let version = self.api_version().await?;
        match tokio::time::timeout(self.timeout, attach::attach(&self.endpoint, &version, name))
            .await
        {
            Ok(Ok(io)) => Ok(io),
            Ok(Err(attach::AttachError::Connect(_))) => {
                Err(DockerError::Unavailable(self.host.clone()))
            }
            Ok(Err(attach::AttachError::Status(404, _))) => {
                Err(DockerError::NotFound(name.to_string()))
            }
            Ok(Err(e)) => Err(DockerError::Api {
                op: "attach",
                message: e.to_string(),
            }),
            Err(_) => Err(DockerError::Timeout {
                op: "attach",
                secs: self.timeout.as_secs(),
            }),
        }
    }

    pub async fn resize(&self, name: &str, cols: u16, rows: u16) -> Result<(), DockerError> {
        let client = self.client().await?;
        let options = ResizeContainerTTYOptionsBuilder::default()
            .w(i32::from(cols))
            .h(i32::from(rows))
            .build();
        self.bounded("resize", client.resize_container_tty(name, options))
            .await
    }

    pub async fn rename(&self, from: &str, to: &str) -> Result<(), DockerError> {
        let client = self.client().await?;
        let options = RenameContainerOptionsBuilder::default().name(to).build();
        self.bounded("rename", client.rename_container(from, options))
            .await
    }

    /// Waits (up to `within`) for the main process to end and reports how it ended. Called
    /// when the TTY stream closed: a container still running after that means the stream
    /// broke (Docker restarted with live-restore), reported as a timeout.
    pub async fn exit_status(
        &self,
        name: &str,
        within: Duration,
    ) -> Result<ExitStatus, DockerError> {
        let client = self.client().await?;
        let options = WaitContainerOptionsBuilder::default()
            .condition("not-running")
            .build();
        let mut wait = client.wait_container(name, Some(options));
        let waited = tokio::time::timeout(within.min(self.timeout), wait.next()).await;
        let code = match waited {
            Ok(Some(Ok(resp))) => resp.status_code,
            Ok(Some(Err(BollardError::DockerContainerWaitError { code, .. }))) => code,
            Ok(Some(Err(e))) => return Err(self.error("wait", e)),
            Ok(None) => return Err(DockerError::Unavailable(self.host.clone())),
            Err(_) => {
                return Err(DockerError::Timeout {
                    op: "wait",
                    secs: self.timeout.as_secs(),
                });
            }
        };
        let inspect = self
            .bounded("inspect", client.inspect_container(name, None))
            .await?;
        let oom_killed = inspect.state.and_then(|s| s.oom_killed).unwrap_or(false);
        Ok(ExitStatus { code, oom_killed })
    }

    /// Kills and removes the container; one that is already gone counts as removed.
    pub async fn remove(&self, name: &str) -> Result<(), DockerError> {
        self.remove_existing(name).await.map(|_| ())
    }

    /// Kills and removes the container. `Ok(false)`: Docker has no container by that name
    /// (never created, already removed, or renamed).
    pub async fn remove_existing(&self, name: &str) -> Result<bool, DockerError> {
        let client = self.client().await?;
        let options = RemoveContainerOptionsBuilder::default()
            .force(true)
            .v(true)
            .build();
        match self
            .bounded("remove", client.remove_container(name, Some(options)))
            .await
        {
            Ok(()) => Ok(true),
            Err(DockerError::NotFound(_)) => Ok(false),
            // "removal of container ... is already in progress"
            Err(DockerError::Api { message, .. }) if message.contains("already in progress") => {
                Ok(true)
            }
            Err(e) => Err(e),
        }
    }

    /// Containers (running or not) carrying all of the given labels.
    pub async fn list_labelled(
        &self,
        labels: &[(&str, &str)],
    ) -> Result<Vec<ContainerSummary>, DockerError> {
        let filter: Vec<String> = labels.iter().map(|(k, v)| format!("{k}={v}")).collect();
        self.list(HashMap::from([("label", filter)])).await
    }

    /// Containers whose name contains `fragment` (Docker's name filter is a substring match).
    pub async fn list_named(&self, fragment: &str) -> Result<Vec<ContainerSummary>, DockerError> {
        self.list(HashMap::from([("name", vec![fragment.to_string()])]))
            .await
    }

    async fn list(
        &self,
        filters: HashMap<&str, Vec<String>>,
    ) -> Result<Vec<ContainerSummary>, DockerError> {
        let client = self.client().await?;
        let options = ListContainersOptionsBuilder::default()
            .all(true)
            .filters(&filters)
            .build();
        let found = self
            .bounded("list", client.list_containers(Some(options)))
            .await?;
        Ok(found
            .into_iter()
            .map(|c| ContainerSummary {
                id: c.id.unwrap_or_default(),
                name: c
                    .names
                    .and_then(|n| n.into_iter().next())
                    .unwrap_or_default()
                    .trim_start_matches('/')
                    .to_string(),
                labels: c.labels.unwrap_or_default(),
                created: c.created.unwrap_or_default(),
            })
            .collect())
    }

    /// One snapshot of the container's resource usage.
    pub async fn usage(&self, name: &str) -> Result<Usage, DockerError> {
        let client = self.client().await?;
        let options = StatsOptionsBuilder::default()
            .stream(false)
            .one_shot(true)
            .build();
        let mut stats = client.stats(name, Some(options));
        let first = tokio::time::timeout(self.timeout, stats.next()).await;
        let stats = match first {
            Ok(Some(Ok(s))) => s,
            Ok(Some(Err(e))) => return Err(self.error("stats", e)),
            Ok(None) => return Err(DockerError::NotFound(name.to_string())),
            Err(_) => {
                return Err(DockerError::Timeout {
                    op: "stats",
                    secs: self.timeout.as_secs(),
                });
            }
        };
        let memory = stats.memory_stats.as_ref();
        let pids = stats.pids_stats.as_ref();
        Ok(Usage {
            memory_bytes: memory.and_then(|m| m.usage),
            memory_limit_bytes: memory.and_then(|m| m.limit),
            cpu_total_ns: stats
                .cpu_stats
                .as_ref()
                .and_then(|c| c.cpu_usage.as_ref())
                .and_then(|u| u.total_usage),
            pids: pids.and_then(|p| p.current),
            pids_limit: pids.and_then(|p| p.limit),
        })
    }
}

/// What a Docker host can give a sandbox, from `docker info`.
#[derive(Debug, Clone, Default)]
pub struct HostFeatures {
    pub security_options: Vec<String>,
    pub runtimes: Vec<String>,
}

impl HostFeatures {
    /// What the policy asks for that this host cannot give: each one would make every
    /// sandbox fail to start, so the server says so at start-up rather than per session.
    pub fn missing_for(&self, policy: &Policy) -> Vec<String> {
        let mut missing = Vec::new();
        if let Some(runtime) = &policy.runtime
            && !self.runtimes.iter().any(|r| r == runtime)
        {
            let hint = if runtime == "runsc" {
                "; register gVisor with: sudo hardening/setup-host.sh --with-gvisor"
            } else {
                ""
            };
            missing.push(format!(
                "the policy's runtime '{runtime}' is not registered with Docker (it has: {}){hint}",
                self.runtimes.join(", ")
            ));
        }
        if let Some(profile) = &policy.apparmor_profile
            && !self.security_options.iter().any(|o| o == "name=apparmor")
        {
            missing.push(format!(
                "the policy's apparmor_profile '{profile}' cannot apply: the Docker host has no \
                 AppArmor; set apparmor_profile = \"\" in {}",
                policy.source
            ));
        }
        missing
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_have_the_documented_shape() {
        let suffix = new_container_suffix();
        assert_eq!(suffix.len(), 12);
        assert!(is_sandterm_name(&format!("terminal-{suffix}")));
        assert!(is_sandterm_name(&format!("/sandterm-warm-{suffix}")));
        assert!(!is_sandterm_name("terminal-notours"));
        assert!(!is_sandterm_name("terminal-ABCDEF123456"));
        assert!(!is_sandterm_name("my-terminal-0123456789ab"));
        assert!(!is_sandterm_name("postgres"));
    }

    #[test]
    fn endpoints_parse() {
        assert_eq!(
            Endpoint::parse("unix:///var/run/docker.sock").unwrap(),
            Endpoint::Unix("/var/run/docker.sock".into())
        );
        assert_eq!(
            Endpoint::parse("tcp://127.0.0.1:2375").unwrap(),
            Endpoint::Tcp("127.0.0.1:2375".into())
        );
        assert!(Endpoint::parse("ssh://host").is_err());
    }

    #[test]
    fn a_policy_the_host_cannot_run_is_named() {
        let mut policy = Policy::parse(crate::policy::DEFAULT_POLICY_TOML, "test.toml").unwrap();
        policy.runtime = None;
        policy.apparmor_profile = None;
        let runc_only = HostFeatures {
            security_options: vec!["name=seccomp,profile=default".into()],
            runtimes: vec!["runc".into(), "io.containerd.runc.v2".into()],
        };
        assert!(runc_only.missing_for(&policy).is_empty());

        policy.runtime = Some("runsc".into());
        policy.apparmor_profile = Some("sandterm-sandbox".into());
        let missing = runc_only.missing_for(&policy);
        assert_eq!(missing.len(), 2, "{missing:?}");
        assert!(missing[0].contains("'runsc' is not registered") && missing[0].contains("runc"));
        assert!(missing[1].contains("no AppArmor") && missing[1].contains("test.toml"));

        let full = HostFeatures {
            security_options: vec!["name=apparmor".into(), "name=seccomp".into()],
            runtimes: vec!["runc".into(), "runsc".into()],
        };
        assert!(full.missing_for(&policy).is_empty());
    }
}
