//! Maps a validated sandbox policy onto Docker's create options.

use bollard::models::{ContainerCreateBody, HostConfig, HostConfigLogConfig, ResourcesUlimits};
use std::collections::HashMap;

use super::label;
use crate::policy::{Policy, Seccomp};

/// The labels that identify a container as ours.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Labels {
    pub server: String,
    pub instance: String,
    pub session: String,
}

impl Labels {
    fn to_map(&self, policy: &Policy) -> HashMap<String, String> {
        HashMap::from([
            (label::SERVICE.to_string(), "sandterm".to_string()),
            (label::SERVER.to_string(), self.server.clone()),
            (label::INSTANCE.to_string(), self.instance.clone()),
            (label::SESSION.to_string(), self.session.clone()),
            (label::POLICY.to_string(), policy.name.clone()),
        ])
    }
}

/// The complete create request for one sandbox container.
pub fn container_spec(policy: &Policy, labels: &Labels) -> ContainerCreateBody {
    ContainerCreateBody {
        image: Some(policy.image.clone()),
        cmd: Some(policy.command.clone()),
        user: Some(format!("{}:{}", policy.uid, policy.gid)),
        working_dir: Some(policy.working_dir.clone()),
        hostname: Some(policy.hostname.clone()),
        env: Some(policy.env.clone()),
        labels: Some(labels.to_map(policy)),
        tty: Some(true),
        open_stdin: Some(true),
        stdin_once: Some(false),
        attach_stdin: Some(true),
        attach_stdout: Some(true),
        attach_stderr: Some(true),
        network_disabled: Some(policy.network == "none"),
        host_config: Some(host_config(policy)),
        ..Default::default()
    }
}

fn host_config(policy: &Policy) -> HostConfig {
    let mut security_opt = Vec::new();
    if policy.no_new_privileges {
        security_opt.push("no-new-privileges:true".to_string());
    }
    if let Some(profile) = &policy.apparmor_profile {
        security_opt.push(format!("apparmor={profile}"));
    }
    if let Seccomp::Profile { json, .. } = &policy.seccomp {
        // The API takes the profile itself, not a path.
        security_opt.push(format!("seccomp={json}"));
    }
    let tmpfs = policy
        .tmpfs
        .iter()
        .map(|t| (t.path.clone(), t.options(policy.uid, policy.gid)))
        .collect();
    HostConfig {
        memory: Some(policy.memory_bytes),
        memory_swap: Some(policy.memory_swap_bytes),
        nano_cpus: Some(policy.nano_cpus),
        pids_limit: Some(policy.pids_limit),
        ulimits: Some(ulimits(policy)),
        network_mode: Some(policy.network.clone()),
        readonly_rootfs: Some(policy.read_only_root),
        tmpfs: Some(tmpfs),
        shm_size: Some(policy.shm_bytes),
        cap_drop: Some(policy.cap_drop.clone()),
        cap_add: Some(policy.cap_add.clone()),
        security_opt: Some(security_opt),
        init: Some(policy.init),
        privileged: Some(false),
        ipc_mode: Some("private".into()),
        runtime: policy.runtime.clone(),
        log_config: Some(log_config(policy)),
        // sandterm removes containers itself; Docker must not restart or keep them.
        auto_remove: Some(false),
        ..Default::default()
    }
}

fn ulimits(policy: &Policy) -> Vec<ResourcesUlimits> {
    let limit = |name: &str, value: i64| ResourcesUlimits {
        name: Some(name.into()),
        soft: Some(value),
        hard: Some(value),
    };
    let mut limits = vec![limit("nofile", policy.nofile)];
    if let Some(nproc) = policy.nproc {
        limits.push(limit("nproc", nproc));
    }
    limits
}

fn log_config(policy: &Policy) -> HostConfigLogConfig {
    let mut config = HashMap::new();
    if let Some(size) = policy.log.max_size {
        config.insert("max-size".to_string(), size.to_string());
    }
    if let Some(files) = policy.log.max_files {
        config.insert("max-file".to_string(), files.to_string());
    }
    HostConfigLogConfig {
        typ: Some(policy.log.driver.clone()),
        config: Some(config),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::policy::DEFAULT_POLICY_TOML;

    #[test]
    fn default_policy_maps_onto_locked_down_create_options() {
        let policy = Policy::parse(DEFAULT_POLICY_TOML, "default").unwrap();
        let labels = Labels {
            server: "s".into(),
            instance: "i".into(),
            session: "x".into(),
        };
        let spec = container_spec(&policy, &labels);
        let host = spec.host_config.as_ref().unwrap();
        assert_eq!(host.network_mode.as_deref(), Some("none"));
        assert_eq!(host.memory, Some(256 << 20));
        assert_eq!(host.memory_swap, host.memory);
        assert_eq!(host.nano_cpus, Some(500_000_000));
        assert_eq!(host.readonly_rootfs, Some(true));
        assert_eq!(host.cap_drop.as_deref(), Some(&["ALL".to_string()][..]));
        assert!(
            host.security_opt
                .as_ref()
                .unwrap()
                .contains(&"no-new-privileges:true".to_string())
        );
        assert_eq!(host.init, Some(true));
        assert_eq!(host.privileged, Some(false));
        assert_eq!(
            host.log_config.as_ref().unwrap().typ.as_deref(),
            Some("none")
        );
        assert!(host.tmpfs.as_ref().unwrap()["/tmp"].contains("nosuid"));
        assert_eq!(spec.user.as_deref(), Some("1000:1000"));
        assert_eq!(spec.tty, Some(true));
        let l = spec.labels.as_ref().unwrap();
        assert_eq!(l[label::SERVICE], "sandterm");
        assert_eq!(l[label::SESSION], "x");
    }
}
