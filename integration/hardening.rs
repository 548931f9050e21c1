//! hardening/setup-host.sh and hardening/check-host.sh, run for real against files in a
//! temporary directory: every path they touch is redirected through their SANDTERM_*
//! variables, and `--config-only` keeps them away from the running Docker daemon.
//! AppArmor is not in this machine's kernel, so the kernel's AppArmor files and
//! `apparmor_parser` are stand-ins that record what the script asked of them.
//!
//! setup-host.sh wants root (it writes /etc); the test command runs as root.

use sandterm::policy::Policy;
use serde_json::{Value, json};
use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

const PROFILE: &str = "sandterm-sandbox";

struct Host {
    dir: PathBuf,
}

impl Host {
    fn new(name: &str) -> Host {
        let dir = std::env::temp_dir().join(format!(
            "sandterm-hardening-{name}-{}",
            uuid::Uuid::new_v4().simple()
        ));
        fs::create_dir_all(&dir).unwrap();
        let policy = fs::read_to_string(repo().join("policies/default.toml")).unwrap();
        // A checkout whose policy setup-host.sh already edited on an AppArmor host starts
        // the test from the shipped state again.
        let policy = policy.replace(
            &format!("apparmor_profile = \"{PROFILE}\""),
            "apparmor_profile = \"\"",
        );
        fs::write(dir.join("default.toml"), policy).unwrap();
        Host { dir }
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.join(name)
    }

    /// A kernel with AppArmor: the `enabled` flag, an empty loaded-profiles list, and a
    /// parser that logs its arguments and "loads" the profile into that list.
    fn with_apparmor(&self) {
        fs::write(self.path("aa-enabled"), "Y\n").unwrap();
        fs::write(self.path("aa-profiles"), "docker-default (enforce)\n").unwrap();
        let parser = self.path("apparmor_parser");
        fs::write(
            &parser,
            format!(
                "#!/bin/sh\necho \"$@\" >> {log}\necho '{PROFILE} (enforce)' >> {profiles}\n",
                log = self.path("parser.log").display(),
                profiles = self.path("aa-profiles").display()
            ),
        )
        .unwrap();
        fs::set_permissions(&parser, fs::Permissions::from_mode(0o755)).unwrap();
    }

    fn script(&self, name: &str, args: &[&str]) -> Output {
        let mut cmd = Command::new("bash");
        cmd.arg(repo().join("hardening").join(name))
            .args(args)
            .env("SANDTERM_DAEMON_JSON", self.path("daemon.json"))
            .env("SANDTERM_APPARMOR_DIR", self.path("apparmor.d"))
            .env("SANDTERM_APPARMOR_ENABLED", self.path("aa-enabled"))
            .env("SANDTERM_APPARMOR_PROFILES", self.path("aa-profiles"))
            .env("SANDTERM_APPARMOR_PARSER", self.path("apparmor_parser"))
            .env("SANDTERM_POLICY_FILE", self.path("default.toml"))
            .env("SANDTERM_DOCKER_PIDFILE", self.path("docker.pid"))
            .env("SANDTERM_NO_RESTART", "1");
        let out = cmd.output().expect("run bash");
        eprintln!(
            "--- {name} {args:?}: {}\n{}{}",
            out.status,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        out
    }

    fn setup(&self, args: &[&str]) -> String {
        let mut all = vec!["--config-only"];
        all.extend_from_slice(args);
        let out = self.script("setup-host.sh", &all);
        assert!(out.status.success(), "setup-host.sh failed: {out:?}");
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    fn daemon_json(&self) -> Value {
        serde_json::from_str(&fs::read_to_string(self.path("daemon.json")).unwrap()).unwrap()
    }

    fn backups(&self) -> Vec<PathBuf> {
        fs::read_dir(&self.dir)
            .unwrap()
            .map(|e| e.unwrap().path())
            .filter(|p| {
                p.file_name()
                    .unwrap()
                    .to_string_lossy()
                    .starts_with("daemon.json.sandterm-backup-")
            })
            .collect()
    }

    fn policy(&self) -> Policy {
        Policy::load(&self.path("default.toml"), false).expect("the edited policy is valid")
    }
}

impl Drop for Host {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.dir);
    }
}

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn mode(path: &Path) -> u32 {
    fs::metadata(path).unwrap().permissions().mode() & 0o777
}

#[test]
fn setup_host_merges_daemon_json_keeps_the_operators_values_and_twice_changes_nothing() {
    let host = Host::new("merge");
    let original = serde_json::to_string_pretty(&json!({
        "icc": true,
        "debug": true,
        "runtimes": {"custom": {"path": "/usr/local/bin/custom-runtime"}},
        "log-opts": {"max-size": "50m"}
    }))
    .unwrap();
    fs::write(host.path("daemon.json"), &original).unwrap();
    fs::set_permissions(host.path("daemon.json"), fs::Permissions::from_mode(0o600)).unwrap();

    let first = host.setup(&[]);
    let merged = host.daemon_json();
    // The operator's values win, and keys sandterm does not know survive.
    assert_eq!(merged["icc"], json!(true), "{first}");
    assert!(first.contains("kept       icc = true"), "{first}");
    assert_eq!(merged["debug"], json!(true));
    assert_eq!(
        merged["runtimes"]["custom"]["path"],
        json!("/usr/local/bin/custom-runtime")
    );
    assert_eq!(merged["log-opts"]["max-size"], json!("50m"));
    // What the operator had not set is added.
    assert_eq!(merged["userns-remap"], json!("default"));
    assert_eq!(merged["no-new-privileges"], json!(true));
    assert_eq!(merged["live-restore"], json!(true));
    assert_eq!(merged["log-opts"]["max-file"], json!("3"));
    // log-opts written for Docker's default driver: the driver is not switched under them.
    assert!(merged.get("log-driver").is_none(), "{merged}");
    assert_eq!(
        mode(&host.path("daemon.json")),
        0o600,
        "the file's mode is kept"
    );
    let backups = host.backups();
    assert_eq!(backups.len(), 1, "one backup: {backups:?}");
    assert_eq!(fs::read_to_string(&backups[0]).unwrap(), original);
    assert!(
        first.contains("restart needed") && first.contains("skipped"),
        "{first}"
    );

    let written = fs::read(host.path("daemon.json")).unwrap();
    let second = host.setup(&[]);
    assert!(second.contains("daemon.json unchanged"), "{second}");
    assert!(!second.contains("added"), "{second}");
    assert_eq!(fs::read(host.path("daemon.json")).unwrap(), written);
    assert_eq!(host.backups().len(), 1, "no second backup");
}

#[test]
fn setup_host_on_a_host_without_daemon_json_writes_the_hardened_settings() {
    let host = Host::new("fresh");
    host.setup(&["--no-userns"]);
    let written = host.daemon_json();
    assert_eq!(
        written,
        json!({
            "icc": false,
            "no-new-privileges": true,
            "live-restore": true,
            "log-driver": "local",
            "log-opts": {"max-size": "10m", "max-file": "3"}
        })
    );
    assert_eq!(mode(&host.path("daemon.json")), 0o644);
    assert!(host.backups().is_empty(), "nothing to back up");
}

#[test]
fn setup_host_refuses_a_daemon_json_it_cannot_parse_and_leaves_it_alone() {
    let host = Host::new("broken");
    for broken in ["{\"icc\": false,", "[1, 2]", "{\"log-opts\": \"10m\"}"] {
        fs::write(host.path("daemon.json"), broken).unwrap();
        let out = host.script("setup-host.sh", &["--config-only"]);
        assert!(!out.status.success(), "{broken}: accepted");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(
            stderr.contains("refusing to touch") && stderr.contains("Nothing was changed"),
            "{broken}: {stderr}"
        );
        assert_eq!(
            fs::read_to_string(host.path("daemon.json")).unwrap(),
            broken
        );
        assert!(host.backups().is_empty());
    }
}

#[test]
fn setup_host_loads_the_apparmor_profile_and_the_default_policy_uses_it() {
    let host = Host::new("apparmor");
    host.with_apparmor();
    assert_eq!(host.policy().apparmor_profile, None);

    let first = host.setup(&["--no-userns"]);
    let installed = host.path("apparmor.d").join(PROFILE);
    let profile = fs::read_to_string(&installed).expect("profile installed");
    assert!(profile.contains(&format!("profile {PROFILE}")), "{profile}");
    // No abi/3.0 in this stand-in apparmor.d: the ABI line is left out for an older parser.
    assert!(!profile.contains("abi <abi/3.0>"), "{profile}");
    assert_eq!(
        fs::read_to_string(host.path("parser.log")).unwrap(),
        format!("-r -W {}\n", installed.display())
    );
    assert_eq!(
        host.policy().apparmor_profile.as_deref(),
        Some(PROFILE),
        "{first}"
    );

    // Twice: nothing reloaded, nothing edited.
    let policy_text = fs::read_to_string(host.path("default.toml")).unwrap();
    let second = host.setup(&["--no-userns"]);
    assert!(second.contains("unchanged"), "{second}");
    assert_eq!(
        fs::read_to_string(host.path("parser.log"))
            .unwrap()
            .lines()
            .count(),
        1,
        "loaded once"
    );
    assert_eq!(
        fs::read_to_string(host.path("default.toml")).unwrap(),
        policy_text
    );

    // check-host.sh sees the profile loaded and the policy using it.
    let check = host.script("check-host.sh", &[]);
    let report = String::from_utf8_lossy(&check.stdout);
    assert!(
        report.contains(&format!(
            "PASS  AppArmor profile     {PROFILE} loaded (enforce)"
        )),
        "{report}"
    );
    assert!(report.contains("PASS  AppArmor policy"), "{report}");
}

#[test]
fn setup_host_keeps_an_operators_policy_choices() {
    let host = Host::new("apparmor-keep");
    host.with_apparmor();
    let out = host.setup(&["--no-userns", "--no-apparmor-policy"]);
    assert!(out.contains("left as it is"), "{out}");
    assert_eq!(host.policy().apparmor_profile, None);

    // A profile name the operator chose is not replaced.
    let text = fs::read_to_string(host.path("default.toml"))
        .unwrap()
        .replace(
            "apparmor_profile = \"\"",
            "apparmor_profile = \"my-profile\"",
        );
    fs::write(host.path("default.toml"), &text).unwrap();
    let out = host.setup(&["--no-userns"]);
    assert!(out.contains("kept"), "{out}");
    assert_eq!(fs::read_to_string(host.path("default.toml")).unwrap(), text);
}

#[test]
fn without_apparmor_in_the_kernel_nothing_is_loaded_and_both_scripts_say_so() {
    let host = Host::new("no-apparmor");
    let policy_text = fs::read_to_string(host.path("default.toml")).unwrap();
    let out = host.setup(&["--no-userns"]);
    assert!(out.contains("this kernel has no AppArmor"), "{out}");
    assert!(!host.path("apparmor.d").exists());
    assert_eq!(
        fs::read_to_string(host.path("default.toml")).unwrap(),
        policy_text,
        "a policy naming a profile that cannot load would stop every sandbox"
    );

    let check = host.script("check-host.sh", &[]);
    assert!(check.status.success());
    let report = String::from_utf8_lossy(&check.stdout);
    assert!(
        report.contains("INFO  AppArmor             not in this kernel: cannot be checked here"),
        "{report}"
    );
    // Every line is a verdict with a name and a reason.
    for line in report.lines().filter(|l| !l.ends_with("warning(s)")) {
        assert!(
            ["PASS  ", "WARN  ", "INFO  "]
                .iter()
                .any(|p| line.starts_with(p)),
            "{line}"
        );
    }
}
