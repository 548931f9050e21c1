//! The attacker's-eye probe suite (integration/probe.rs, the `sandterm-probe` binary)
//! against a real server, once per policy tier. Any FAIL fails the test.

mod common;

use common::*;
use std::process::Command;

fn run_probes(policy: &str) {
    let server = Server::start(Options::new().arg("policy", policy));
    let output = Command::new(env!("CARGO_BIN_EXE_sandterm-probe"))
        .args(["--url", &server.url(), "--policy", policy])
        .output()
        .expect("sandterm-probe runs");
    let report = String::from_utf8_lossy(&output.stdout);
    eprintln!("{report}{}", String::from_utf8_lossy(&output.stderr));
    assert!(
        output.status.success(),
        "probes failed against {policy}:\n{report}\nserver log:\n{}",
        server.log_text()
    );
    assert!(
        report.contains(" fail") && report.contains("total"),
        "no summary table:\n{report}"
    );
    server.assert_no_containers(WAIT);
}

#[test]
fn the_default_tier_passes_every_probe() {
    run_probes(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/policies/default.toml"
    ));
}

#[test]
fn the_strict_gvisor_tier_passes_every_probe() {
    let (ok, runtimes) = docker(&["info", "--format", "{{json .Runtimes}}"]);
    assert!(
        ok && runtimes.contains("runsc"),
        "the strict tier needs gVisor: hardening/setup-host.sh --with-gvisor registers it ({runtimes})"
    );
    run_probes(concat!(env!("CARGO_MANIFEST_DIR"), "/policies/strict.toml"));
}
