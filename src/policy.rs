//! Sandbox policies: what a container may use and do, read from a TOML file.
//!
//! A policy is validated once, at start-up, into typed values; a bad value stops the server
//! with a message that names the field. The docker module maps a validated policy onto
//! Docker's create options, so nothing downstream re-checks these numbers.

use bytesize::ByteSize;
use serde::Deserialize;
use std::collections::BTreeMap;
use std::path::Path;

/// The default policy, compiled in so that a copied binary still runs without the file.
pub const DEFAULT_POLICY_TOML: &str = include_str!("../policies/default.toml");
/// sandterm's seccomp profile (`security.seccomp = "sandterm"`): Docker's default allowlist
/// without ptrace, process_vm_*, io_uring, namespaces and the other calls listed in it.
pub const SANDTERM_SECCOMP_JSON: &str = include_str!("../policies/seccomp/sandterm.json");

/// Below this a shell, its init and a couple of tools do not fit.
const MIN_MEMORY: u64 = 16 * 1024 * 1024;
/// bash, its init and a pipeline need a few processes; fewer than this breaks ordinary use.
const MIN_PIDS: i64 = 16;
/// Far above any interactive need; higher values make a fork bomb a host problem again.
const MAX_PIDS: i64 = 32_768;
/// A shell needs stdio plus a few files; the kernel's own default hard cap is 1<<20.
const MIN_NOFILE: u64 = 64;
const MAX_NOFILE: u64 = 1 << 20;

#[derive(Debug, thiserror::Error)]
pub enum PolicyError {
    #[error("cannot read policy file {path}: {source}")]
    Read {
        path: String,
        source: std::io::Error,
    },
    #[error("policy {path} is not valid: {message}")]
    Parse { path: String, message: String },
    #[error("policy {path}: field `{field}` {problem}")]
    Invalid {
        path: String,
        field: &'static str,
        problem: String,
    },
}

/// A validated sandbox policy.
#[derive(Debug, Clone, PartialEq)]
pub struct Policy {
    /// Where the policy came from (a path, or "built-in default").
    pub source: String,
    pub name: String,
    pub image: String,
    pub command: Vec<String>,
    pub uid: u32,
    pub gid: u32,
    pub working_dir: String,
    pub hostname: String,
    pub env: Vec<String>,
    /// OCI runtime, e.g. `runc` or `runsc` (gVisor); `None` uses the daemon's default.
    pub runtime: Option<String>,
    pub network: String,
    pub memory_bytes: i64,
    pub memory_swap_bytes: i64,
    pub nano_cpus: i64,
    pub pids_limit: i64,
    pub nofile: i64,
    /// RLIMIT_NPROC, when set. Only meaningful per sandbox under gVisor, whose kernel counts
    /// processes per sandbox; under runc the kernel counts them per uid across the host.
    pub nproc: Option<i64>,
    pub shm_bytes: i64,
    pub read_only_root: bool,
    pub tmpfs: Vec<Tmpfs>,
    pub cap_drop: Vec<String>,
    pub cap_add: Vec<String>,
    pub no_new_privileges: bool,
    pub init: bool,
    pub apparmor_profile: Option<String>,
    pub seccomp: Seccomp,
    pub log: LogPolicy,
}

/// Which seccomp filter confines the sandbox's system calls.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Seccomp {
    /// Docker's built-in default profile.
    DockerDefault,
    /// A profile given as JSON (sandterm's built-in one or a file).
    Profile { name: String, json: String },
}

/// A size-capped tmpfs mount.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tmpfs {
    pub path: String,
    pub size_bytes: u64,
    pub mode: u32,
    /// Owned by the sandbox user (for $HOME) rather than root.
    pub owned_by_user: bool,
    pub exec: bool,
}

impl Tmpfs {
    /// Docker's tmpfs option string: always nosuid and nodev.
    pub fn options(&self, uid: u32, gid: u32) -> String {
        let mut opts = format!(
            "rw,nosuid,nodev,size={},mode={:o}",
            self.size_bytes, self.mode
        );
        // Docker adds noexec to tmpfs mounts unless told otherwise.
        opts.push_str(if self.exec { ",exec" } else { ",noexec" });
        if self.owned_by_user {
            opts.push_str(&format!(",uid={uid},gid={gid}"));
        }
        opts
    }
}

/// How Docker keeps the container's output on the host.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogPolicy {
    pub driver: String,
    pub max_size: Option<u64>,
    pub max_files: Option<u32>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawPolicy {
    name: Option<String>,
    image: String,
    command: Vec<String>,
    user: String,
    working_dir: String,
    #[serde(default = "default_hostname")]
    hostname: String,
    #[serde(default)]
    env: BTreeMap<String, String>,
    runtime: Option<String>,
    limits: RawLimits,
    filesystem: RawFilesystem,
    security: RawSecurity,
    logging: RawLogging,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawLimits {
    memory: String,
    memory_swap: String,
    cpus: f64,
    pids: i64,
    nofile: u64,
    nproc: Option<u64>,
    #[serde(default = "default_shm")]
    shm_size: String,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawFilesystem {
    read_only_root: bool,
    #[serde(default)]
    tmpfs: Vec<RawTmpfs>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawTmpfs {
    path: String,
    size: String,
    mode: String,
    #[serde(default)]
    owner: RawOwner,
    #[serde(default = "yes")]
    exec: bool,
}

#[derive(Debug, Default, Deserialize, PartialEq)]
#[serde(rename_all = "lowercase")]
enum RawOwner {
    #[default]
    Root,
    User,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawSecurity {
    network: String,
    cap_drop: Vec<String>,
    #[serde(default)]
    cap_add: Vec<String>,
    no_new_privileges: bool,
    init: bool,
    apparmor_profile: Option<String>,
    #[serde(default = "default_seccomp")]
    seccomp: String,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawLogging {
    driver: String,
    max_size: Option<String>,
    max_files: Option<u32>,
}

fn default_hostname() -> String {
    "sandbox".into()
}
fn default_shm() -> String {
    "16MiB".into()
}
fn yes() -> bool {
    true
}
fn default_seccomp() -> String {
    "sandterm".into()
}

impl Policy {
    /// Loads a policy file; the default path falls back to the built-in copy when absent.
    pub fn load(path: &Path, is_default_path: bool) -> Result<Policy, PolicyError> {
        match std::fs::read_to_string(path) {
            Ok(text) => Policy::parse_in(
                &text,
                &path.display().to_string(),
                path.parent().unwrap_or(Path::new(".")),
            ),
            Err(e) if is_default_path && e.kind() == std::io::ErrorKind::NotFound => {
                log::info!(
                    "{} not found; using the built-in default policy",
                    path.display()
                );
                Policy::parse(DEFAULT_POLICY_TOML, "built-in default")
            }
            Err(source) => Err(PolicyError::Read {
                path: path.display().to_string(),
                source,
            }),
        }
    }

    /// Parses and validates policy text; `source` names it in errors. Relative paths in it
    /// (a seccomp profile file) are taken from the working directory.
    pub fn parse(text: &str, source: &str) -> Result<Policy, PolicyError> {
        Policy::parse_in(text, source, Path::new("."))
    }

    /// Parses and validates policy text whose relative paths are taken from `dir`.
    fn parse_in(text: &str, source: &str, dir: &Path) -> Result<Policy, PolicyError> {
        let raw: RawPolicy = toml::from_str(text).map_err(|e| PolicyError::Parse {
            path: source.into(),
            message: e.to_string(),
        })?;
        Validator { source, dir }.validate(raw)
    }

    /// Memory a session may use at most, for sizing the default session cap.
    pub fn memory_bytes(&self) -> u64 {
        self.memory_bytes as u64
    }
}

struct Validator<'a> {
    source: &'a str,
    /// Where relative paths in the policy are resolved.
    dir: &'a Path,
}

impl Validator<'_> {
    fn err(&self, field: &'static str, problem: impl Into<String>) -> PolicyError {
        PolicyError::Invalid {
            path: self.source.into(),
            field,
            problem: problem.into(),
        }
    }

    fn size(&self, field: &'static str, value: &str) -> Result<u64, PolicyError> {
        value
            .trim()
            .parse::<ByteSize>()
            .map(|b| b.as_u64())
            .map_err(|e| self.err(field, format!("is not a size like \"256MiB\": {e}")))
    }

    fn validate(&self, raw: RawPolicy) -> Result<Policy, PolicyError> {
        if raw.image.trim().is_empty() {
            return Err(self.err("image", "must name an image"));
        }
        if raw.command.is_empty() || raw.command[0].trim().is_empty() {
            return Err(self.err("command", "must name a program to run"));
        }
        let (uid, gid) = self.user(&raw.user)?;
        if !raw.working_dir.starts_with('/') {
            return Err(self.err("working_dir", "must be an absolute path"));
        }
        if raw.hostname.is_empty()
            || raw.hostname.len() > 63
            || !raw
                .hostname
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-')
        {
            return Err(self.err("hostname", "must be 1-63 letters, digits or '-'"));
        }
        let env = self.env(raw.env)?;
        let runtime = match raw.runtime {
            Some(r) if r.trim().is_empty() => return Err(self.err("runtime", "must not be empty")),
            other => other,
        };
        let limits = self.limits(&raw.limits)?;
        let tmpfs = raw
            .filesystem
            .tmpfs
            .iter()
            .map(|t| self.tmpfs(t, limits.memory))
            .collect::<Result<Vec<_>, _>>()?;
        let mut paths: Vec<&str> = tmpfs.iter().map(|t| t.path.as_str()).collect();
        paths.sort_unstable();
        if paths.windows(2).any(|w| w[0] == w[1]) {
            return Err(self.err("filesystem.tmpfs", "lists the same path twice"));
        }
        let security = &raw.security;
        if security.network.trim().is_empty() {
            return Err(self.err("security.network", "must be \"none\" or a network name"));
        }
        if security.network == "host" {
            return Err(self.err(
                "security.network",
                "\"host\" would give sandboxes the host's network; use \"none\"",
            ));
        }
        for cap in security.cap_drop.iter().chain(&security.cap_add) {
            if cap.is_empty() || !cap.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
                return Err(self.err(
                    "security.cap_drop",
                    format!("has an invalid capability '{cap}'"),
                ));
            }
        }
        let log = self.logging(&raw.logging)?;
        let seccomp = self.seccomp(&security.seccomp)?;
        Ok(Policy {
            source: self.source.into(),
            name: raw.name.unwrap_or_else(|| "default".into()),
            image: raw.image,
            command: raw.command,
            uid,
            gid,
            working_dir: raw.working_dir,
            hostname: raw.hostname,
            env,
            runtime,
            network: security.network.clone(),
            memory_bytes: limits.memory as i64,
            memory_swap_bytes: limits.memory_swap as i64,
            nano_cpus: limits.nano_cpus,
            pids_limit: raw.limits.pids,
            nofile: raw.limits.nofile as i64,
            nproc: raw.limits.nproc.map(|n| n as i64),
            shm_bytes: limits.shm as i64,
            read_only_root: raw.filesystem.read_only_root,
            tmpfs,
            cap_drop: security.cap_drop.clone(),
            cap_add: security.cap_add.clone(),
            no_new_privileges: security.no_new_privileges,
            init: security.init,
            apparmor_profile: security.apparmor_profile.clone().filter(|p| !p.is_empty()),
            seccomp,
            log,
        })
    }

    fn user(&self, user: &str) -> Result<(u32, u32), PolicyError> {
        let (uid, gid) = user
            .split_once(':')
            .ok_or_else(|| self.err("user", "must be numeric \"uid:gid\", e.g. \"1000:1000\""))?;
        let parse = |s: &str| s.parse::<u32>().ok();
        match (parse(uid), parse(gid)) {
            (Some(0), _) | (_, Some(0)) => Err(self.err(
                "user",
                "must not be root (uid or gid 0): sandboxes run as an unprivileged user",
            )),
            (Some(uid), Some(gid)) => Ok((uid, gid)),
            _ => Err(self.err("user", "must be numeric \"uid:gid\", e.g. \"1000:1000\"")),
        }
    }

    fn env(&self, env: BTreeMap<String, String>) -> Result<Vec<String>, PolicyError> {
        env.into_iter()
            .map(|(k, v)| {
                if k.is_empty() || k.contains('=') || k.contains('\0') || v.contains('\0') {
                    Err(self.err("env", format!("has an invalid variable '{k}'")))
                } else {
                    Ok(format!("{k}={v}"))
                }
            })
            .collect()
    }

    fn limits(&self, raw: &RawLimits) -> Result<Limits, PolicyError> {
        let memory = self.size("limits.memory", &raw.memory)?;
        if memory < MIN_MEMORY {
            return Err(self.err("limits.memory", "must be at least 16MiB"));
        }
        let memory_swap = self.size("limits.memory_swap", &raw.memory_swap)?;
        if memory_swap < memory {
            return Err(self.err(
                "limits.memory_swap",
                "must be at least limits.memory (equal means no swap)",
            ));
        }
        let cpus = raw.cpus;
        if !cpus.is_finite() || !(0.01..=1024.0).contains(&cpus) {
            return Err(self.err("limits.cpus", "must be between 0.01 and 1024"));
        }
        if !(MIN_PIDS..=MAX_PIDS).contains(&raw.pids) {
            return Err(self.err(
                "limits.pids",
                format!("must be between {MIN_PIDS} and {MAX_PIDS}"),
            ));
        }
        if !(MIN_NOFILE..=MAX_NOFILE).contains(&raw.nofile) {
            return Err(self.err(
                "limits.nofile",
                format!("must be between {MIN_NOFILE} and {MAX_NOFILE}"),
            ));
        }
        if raw
            .nproc
            .is_some_and(|n| !(8..=MAX_PIDS as u64).contains(&n))
        {
            return Err(self.err("limits.nproc", format!("must be between 8 and {MAX_PIDS}")));
        }
        let shm = self.size("limits.shm_size", &raw.shm_size)?;
        if shm == 0 || shm > memory {
            return Err(self.err(
                "limits.shm_size",
                "must be above 0 and at most limits.memory",
            ));
        }
        Ok(Limits {
            memory,
            memory_swap,
            nano_cpus: (cpus * 1e9).round() as i64,
            shm,
        })
    }

    fn tmpfs(&self, raw: &RawTmpfs, memory: u64) -> Result<Tmpfs, PolicyError> {
        if !raw.path.starts_with('/') || raw.path == "/" || raw.path.contains(',') {
            return Err(self.err(
                "filesystem.tmpfs.path",
                format!("'{}' must be an absolute path other than /", raw.path),
            ));
        }
        let size = self.size("filesystem.tmpfs.size", &raw.size)?;
        if size == 0 || size > memory {
            return Err(self.err(
                "filesystem.tmpfs.size",
                format!(
                    "for {} must be above 0 and at most limits.memory (tmpfs pages count as memory)",
                    raw.path
                ),
            ));
        }
        let mode = u32::from_str_radix(&raw.mode, 8)
            .ok()
            .filter(|m| *m <= 0o7777)
            .ok_or_else(|| {
                self.err(
                    "filesystem.tmpfs.mode",
                    format!("'{}' is not an octal mode", raw.mode),
                )
            })?;
        Ok(Tmpfs {
            path: raw.path.clone(),
            size_bytes: size,
            mode,
            owned_by_user: raw.owner == RawOwner::User,
            exec: raw.exec,
        })
    }

    fn seccomp(&self, value: &str) -> Result<Seccomp, PolicyError> {
        let field = "security.seccomp";
        let (name, json) = match value {
            "docker-default" => return Ok(Seccomp::DockerDefault),
            "unconfined" | "" => {
                return Err(self.err(
                    field,
                    "must name a profile: \"sandterm\", \"docker-default\" or a JSON file; sandboxes never run unconfined",
                ));
            }
            "sandterm" => ("sandterm".to_string(), SANDTERM_SECCOMP_JSON.to_string()),
            path => {
                let full = self.dir.join(path);
                let json = std::fs::read_to_string(&full)
                    .map_err(|e| self.err(field, format!("cannot read {}: {e}", full.display())))?;
                (path.to_string(), json)
            }
        };
        let parsed: serde_json::Value = serde_json::from_str(&json)
            .map_err(|e| self.err(field, format!("'{name}' is not valid JSON: {e}")))?;
        if parsed
            .get("defaultAction")
            .and_then(|a| a.as_str())
            .is_none()
        {
            return Err(self.err(field, format!("'{name}' has no defaultAction")));
        }
        // Docker takes the profile inline; compact it.
        Ok(Seccomp::Profile {
            name,
            json: parsed.to_string(),
        })
    }

    fn logging(&self, raw: &RawLogging) -> Result<LogPolicy, PolicyError> {
        match raw.driver.as_str() {
            "none" => Ok(LogPolicy {
                driver: "none".into(),
                max_size: None,
                max_files: None,
            }),
            "json-file" | "local" => {
                let max_size = raw.max_size.as_deref().ok_or_else(|| {
                    self.err(
                        "logging.max_size",
                        "is required for a file log driver: an unbounded log lets a TTY flood fill the host disk",
                    )
                })?;
                let max_size = self.size("logging.max_size", max_size)?;
                if max_size == 0 || max_size > 100 * 1024 * 1024 {
                    return Err(self.err("logging.max_size", "must be above 0 and at most 100MiB"));
                }
                let max_files = raw.max_files.unwrap_or(1);
                if !(1..=10).contains(&max_files) {
                    return Err(self.err("logging.max_files", "must be between 1 and 10"));
                }
                Ok(LogPolicy {
                    driver: raw.driver.clone(),
                    max_size: Some(max_size),
                    max_files: Some(max_files),
                })
            }
            other => Err(self.err(
                "logging.driver",
                format!("'{other}' is not supported; use \"none\", \"local\" or \"json-file\""),
            )),
        }
    }
}

struct Limits {
    memory: u64,
    memory_swap: u64,
    nano_cpus: i64,
    shm: u64,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn default_policy() -> Policy {
        Policy::parse(DEFAULT_POLICY_TOML, "default.toml").expect("default policy is valid")
    }

    fn with(replace: &str, by: &str) -> Result<Policy, PolicyError> {
        assert!(DEFAULT_POLICY_TOML.contains(replace), "{replace}");
        Policy::parse(&DEFAULT_POLICY_TOML.replacen(replace, by, 1), "test.toml")
    }

    fn field_of(err: PolicyError) -> String {
        match err {
            PolicyError::Invalid { field, .. } => field.to_string(),
            PolicyError::Parse { message, .. } => message,
            other => other.to_string(),
        }
    }

    #[test]
    fn default_policy_holds_the_prototype_guarantees_and_closes_its_gaps() {
        let p = default_policy();
        assert_eq!(p.network, "none");
        assert_eq!(p.memory_bytes, 256 * 1024 * 1024);
        assert_eq!(p.memory_swap_bytes, p.memory_bytes, "no swap beyond memory");
        assert_eq!(p.nano_cpus, 500_000_000);
        assert!(p.pids_limit <= 1024);
        assert!(p.read_only_root);
        assert_eq!(p.cap_drop, vec!["ALL".to_string()]);
        assert!(p.cap_add.is_empty());
        assert!(p.no_new_privileges);
        assert!(p.init);
        assert_ne!(p.uid, 0);
        assert!(p.nofile <= 4096);
        assert_eq!(p.log.driver, "none");
        let tmp = p
            .tmpfs
            .iter()
            .find(|t| t.path == "/tmp")
            .expect("/tmp tmpfs");
        assert!(tmp.options(p.uid, p.gid).contains("nosuid,nodev"));
        assert!(
            p.tmpfs
                .iter()
                .any(|t| t.path == p.working_dir && t.owned_by_user)
        );
    }

    #[test]
    fn bad_values_name_their_field() {
        let cases = [
            (
                r#"memory = "256MiB""#,
                r#"memory = "lots""#,
                "limits.memory",
            ),
            (
                r#"memory = "256MiB""#,
                r#"memory = "1MiB""#,
                "limits.memory",
            ),
            (
                r#"memory_swap = "256MiB""#,
                r#"memory_swap = "128MiB""#,
                "limits.memory_swap",
            ),
            ("cpus = 0.5", "cpus = 0.0", "limits.cpus"),
            ("pids = 256", "pids = 0", "limits.pids"),
            ("pids = 256", "pids = 100000", "limits.pids"),
            ("nofile = 1024", "nofile = 1", "limits.nofile"),
            (r#"user = "1000:1000""#, r#"user = "0:0""#, "user"),
            (r#"user = "1000:1000""#, r#"user = "sandbox""#, "user"),
            (
                r#"network = "none""#,
                r#"network = "host""#,
                "security.network",
            ),
            (
                r#"driver = "none""#,
                r#"driver = "json-file""#,
                "logging.max_size",
            ),
            (
                r#"driver = "none""#,
                r#"driver = "syslog""#,
                "logging.driver",
            ),
            (
                r#"size = "64MiB""#,
                r#"size = "1TiB""#,
                "filesystem.tmpfs.size",
            ),
        ];
        for (from, to, field) in cases {
            let err = with(from, to).expect_err(to);
            assert_eq!(field_of(err), field, "{to}");
        }
    }

    #[test]
    fn unknown_fields_are_refused_by_name() {
        let err = Policy::parse(&format!("{DEFAULT_POLICY_TOML}\nmemroy = 1\n"), "t").unwrap_err();
        assert!(err.to_string().contains("memroy"), "{err}");
    }

    #[test]
    fn wrong_types_are_refused_with_the_field() {
        let err = with("pids = 256", r#"pids = "many""#).unwrap_err();
        assert!(err.to_string().contains("pids"), "{err}");
    }

    #[test]
    fn missing_file_falls_back_only_for_the_default_path() {
        let missing = Path::new("/nonexistent/sandterm/policy.toml");
        assert!(Policy::load(missing, true).is_ok());
        assert!(matches!(
            Policy::load(missing, false),
            Err(PolicyError::Read { .. })
        ));
    }

    #[test]
    fn the_default_seccomp_profile_is_sandterms_and_unconfined_is_refused() {
        let p = default_policy();
        assert!(
            matches!(&p.seccomp, Seccomp::Profile { name, json } if name == "sandterm" && json.contains("SCMP_ACT_ERRNO"))
        );
        let err = with(r#"seccomp = "sandterm""#, r#"seccomp = "unconfined""#).unwrap_err();
        assert_eq!(field_of(err), "security.seccomp");
        let err = with(
            r#"seccomp = "sandterm""#,
            r#"seccomp = "/nonexistent.json""#,
        )
        .unwrap_err();
        assert_eq!(field_of(err), "security.seccomp");
        let p = with(r#"seccomp = "sandterm""#, r#"seccomp = "docker-default""#).unwrap();
        assert_eq!(p.seccomp, Seccomp::DockerDefault);
    }

    #[test]
    fn the_built_in_seccomp_profile_denies_ptrace_and_namespaces() {
        let v: serde_json::Value = serde_json::from_str(SANDTERM_SECCOMP_JSON).unwrap();
        assert_eq!(v["defaultAction"], "SCMP_ACT_ERRNO");
        let allowed: Vec<&str> = v["syscalls"][0]["names"]
            .as_array()
            .unwrap()
            .iter()
            .map(|n| n.as_str().unwrap())
            .collect();
        for denied in [
            "ptrace",
            "process_vm_readv",
            "unshare",
            "setns",
            "mount",
            "keyctl",
            "bpf",
            "io_uring_setup",
            "syslog",
        ] {
            assert!(!allowed.contains(&denied), "{denied} must not be allowed");
        }
        for needed in ["read", "write", "execve", "statx", "rseq", "getrandom"] {
            assert!(allowed.contains(&needed), "{needed} must be allowed");
        }
    }

    #[test]
    fn json_file_logging_with_a_cap_is_accepted() {
        let p = with(
            r#"driver = "none""#,
            "driver = \"json-file\"\nmax_size = \"1MiB\"",
        )
        .unwrap();
        assert_eq!(p.log.max_size, Some(1024 * 1024));
        assert_eq!(p.log.max_files, Some(1));
    }
}
