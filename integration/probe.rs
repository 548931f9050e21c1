//! `sandterm-probe`: an attacker's-eye check of a sandterm deployment.
//!
//! It opens real sessions through the public WebSocket, exactly as a visitor would, and
//! tries from inside the sandbox what an attacker would try: reach the network, exhaust
//! memory, CPU, processes and files, write the filesystem, gain privileges, touch the
//! kernel, reach Docker, and reach another tenant. Each probe prints PASS or FAIL with a
//! one-line reason; a summary table follows; the exit code is 1 if anything failed.
//!
//!   sandterm-probe --url ws://127.0.0.1:3000/ws [--policy policies/default.toml]
//!
//! The policy file gives the limits to expect. Under gVisor (detected from inside) some
//! probes check the equivalent guarantee: gVisor has no host cgroup files, answers dmesg
//! with its own log, and counts processes itself. Host-side probes (the container's log
//! file) need the Docker CLI on the same host and report SKIP otherwise.

use clap::Parser;
use futures_util::StreamExt;
use sandterm::client::Client;
use sandterm::policy::Policy;
use std::path::PathBuf;
use std::time::{Duration, Instant};
use tokio_tungstenite::tungstenite::Message;

const WAIT: Duration = Duration::from_secs(60);

#[derive(Parser, Debug)]
#[command(
    name = "sandterm-probe",
    about = "Probe a sandterm deployment from inside its sandboxes"
)]
struct Args {
    /// WebSocket URL of the server.
    #[arg(long, default_value = "ws://127.0.0.1:3000/ws")]
    url: String,
    /// The server's policy: the limits the probes expect.
    #[arg(long, default_value = "policies/default.toml")]
    policy: PathBuf,
    /// Admin token, for servers in token mode: each session is reserved via POST /api/sessions.
    #[arg(long, env = "SANDTERM_ADMIN_TOKEN", hide_env_values = true)]
    admin_token: Option<String>,
    /// Skip the host-disk probe (needs the Docker CLI on the server's host).
    #[arg(long)]
    no_docker: bool,
    /// Bytes for the output-flood probe.
    #[arg(long, default_value_t = 200_000_000)]
    flood_bytes: u64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Status {
    Pass,
    Fail,
    Skip,
}

struct Outcome {
    area: &'static str,
    name: &'static str,
    status: Status,
    reason: String,
}

/// What a probe concludes.
type Verdict = Result<(Status, String), String>;

fn pass(reason: impl Into<String>) -> Verdict {
    Ok((Status::Pass, reason.into()))
}
fn fail(reason: impl Into<String>) -> Verdict {
    Ok((Status::Fail, reason.into()))
}
fn skip(reason: impl Into<String>) -> Verdict {
    Ok((Status::Skip, reason.into()))
}

struct Probes {
    args: Args,
    policy: Policy,
    client: Option<Client>,
    gvisor: bool,
    cgroup_v1: bool,
    /// Whether the sandbox sees its cgroup files at all (gVisor shows none).
    cgroups: bool,
    outcomes: Vec<Outcome>,
}

impl Probes {
    async fn connect(&self) -> Result<Client, String> {
        let url = match &self.args.admin_token {
            None => self.args.url.clone(),
            Some(token) => reserve(&self.args.url, token).await?,
        };
        let mut c = Client::connect(&url, WAIT)
            .await
            .map_err(|e| e.to_string())?;
        c.run("true", WAIT).await.map_err(|e| e.to_string())?;
        Ok(c)
    }

    /// The current session, reconnecting if a probe ended the last one.
    async fn session(&mut self) -> Result<&mut Client, String> {
        if self.client.as_ref().is_none_or(|c| c.closed.is_some()) {
            self.client = Some(self.connect().await?);
        }
        self.client.as_mut().ok_or_else(|| "no session".to_string())
    }

    /// Runs a command in the current session.
    async fn sh(&mut self, command: &str) -> Result<String, String> {
        let c = self.session().await?;
        c.run(command, WAIT).await.map_err(|e| e.to_string())
    }

    fn record(&mut self, area: &'static str, name: &'static str, verdict: Verdict) {
        let (status, reason) =
            verdict.unwrap_or_else(|e| (Status::Fail, format!("probe error: {e}")));
        let tag = match status {
            Status::Pass => "PASS",
            Status::Fail => "FAIL",
            Status::Skip => "SKIP",
        };
        println!("{tag}  {area:<10} {name:<28} {reason}");
        self.outcomes.push(Outcome {
            area,
            name,
            status,
            reason,
        });
    }

    fn mib(bytes: i64) -> i64 {
        bytes / (1024 * 1024)
    }
}

/// Reserves a session in token mode and returns its WebSocket URL.
async fn reserve(ws_url: &str, token: &str) -> Result<String, String> {
    let http = ws_url
        .replacen("ws://", "http://", 1)
        .replacen("wss://", "https://", 1);
    let api = match http.rfind("/ws") {
        Some(i) => format!("{}/api/sessions", &http[..i]),
        None => return Err(format!("cannot derive the API URL from {ws_url}")),
    };
    let out = tokio::process::Command::new("curl")
        .args(["-fsS", "-X", "POST", "-H"])
        .arg(format!("Authorization: Bearer {token}"))
        .arg(&api)
        .output()
        .await
        .map_err(|e| format!("curl: {e}"))?;
    let body: serde_json::Value = serde_json::from_slice(&out.stdout).map_err(|_| {
        format!(
            "POST {api} failed: {}",
            String::from_utf8_lossy(&out.stderr)
        )
    })?;
    let url = body["url"].as_str().ok_or("no url in the reservation")?;
    // Keep the scheme and host the operator gave us; take the token from the answer.
    let query = url.split_once('?').map(|(_, q)| q).unwrap_or("");
    Ok(format!("{ws_url}?{query}"))
}

fn field(status: &str, key: &str) -> Option<String> {
    status
        .lines()
        .find(|l| l.starts_with(key))
        .map(|l| l[key.len()..].trim().to_string())
}

// ---- network --------------------------------------------------------------------------

async fn network(p: &mut Probes) {
    let ifaces = p
        .sh("tail -n +3 /proc/net/dev | cut -d: -f1 | tr -d ' ' | tr '\\n' ' '")
        .await;
    let v = ifaces.map(|out| {
        let names: Vec<&str> = out.split_whitespace().collect();
        if names == ["lo"] {
            pass("only the loopback interface exists")
        } else {
            fail(format!("interfaces present: {names:?}"))
        }
    });
    p.record("network", "only loopback", v.and_then(|x| x));

    for (name, target) in [
        ("tcp to the internet", "1.1.1.1/443"),
        ("tcp to docker gateway", "172.17.0.1/2375"),
    ] {
        let v = p
            .sh(&format!(
                "timeout 5 bash -c 'exec 3<>/dev/tcp/{target}' 2>&1 | tail -n1; echo rc=${{PIPESTATUS[0]}}"
            ))
            .await
            .map(|out| {
                if out.contains("rc=0") {
                    fail(format!("connected to {target}"))
                } else {
                    pass(format!("{target}: {}", out.lines().next().unwrap_or("refused").trim()))
                }
            });
        p.record("network", name, v.and_then(|x| x));
    }
    let v = p
        .sh("getent hosts example.com >/dev/null 2>&1; echo rc=$?")
        .await
        .map(|out| {
            if out.contains("rc=0") {
                fail("example.com resolved")
            } else {
                pass("no name resolution")
            }
        });
    p.record("network", "dns", v.and_then(|x| x));
}

// ---- memory ---------------------------------------------------------------------------

async fn memory(p: &mut Probes) {
    let want = p.policy.memory_bytes;
    let want_swap = p.policy.memory_swap_bytes;
    let v = if p.gvisor {
        p.sh("command grep -E '^(MemTotal|SwapTotal):' /proc/meminfo | tr -s ' ' | tr '\\n' ' '")
            .await
            .map(|out| {
                let kib = |key: &str| {
                    out.split(key)
                        .nth(1)
                        .and_then(|r| r.split_whitespace().next())
                        .and_then(|v| v.parse::<i64>().ok())
                        .unwrap_or(-1)
                };
                let (total, swap) = (kib("MemTotal:") * 1024, kib("SwapTotal:"));
                if total == want && swap == 0 {
                    pass(format!(
                        "gVisor: the sandbox kernel has {} MiB and no swap",
                        Probes::mib(total)
                    ))
                } else {
                    fail(format!(
                        "gVisor reports {total} bytes, swap {swap} KiB; expected {want}"
                    ))
                }
            })
    } else if p.cgroup_v1 {
        p.sh("cat /sys/fs/cgroup/memory/memory.limit_in_bytes /sys/fs/cgroup/memory/memory.memsw.limit_in_bytes 2>&1 | tr '\\n' ' '")
            .await
            .map(|out| {
                let v: Vec<i64> = out.split_whitespace().filter_map(|x| x.parse().ok()).collect();
                match v.as_slice() {
                    [mem, memsw] if *mem == want && *memsw == want_swap => pass(format!(
                        "cgroup limit {} MiB, memory+swap {} MiB (no swap beyond it)",
                        Probes::mib(*mem),
                        Probes::mib(*memsw)
                    )),
                    [mem] if *mem == want => fail("memory limit set but swap accounting is missing"),
                    _ => fail(format!("cgroup says {out}; expected {want} and {want_swap}")),
                }
            })
    } else {
        p.sh("cat /sys/fs/cgroup/memory.max /sys/fs/cgroup/memory.swap.max 2>&1 | tr '\\n' ' '")
            .await
            .map(|out| {
                let parts: Vec<&str> = out.split_whitespace().collect();
                let swap_ok = want_swap == want && parts.get(1) == Some(&"0");
                if parts.first().and_then(|m| m.parse::<i64>().ok()) == Some(want) && swap_ok {
                    pass(format!(
                        "cgroup v2 memory.max {} MiB, swap.max 0",
                        Probes::mib(want)
                    ))
                } else {
                    fail(format!("cgroup v2 says {out}; expected {want}"))
                }
            })
    };
    p.record("memory", "limit and no swap", v.and_then(|x| x));

    let over = (want as u64) * 2;
    if p.gvisor {
        let v = gvisor_oom(p, over).await;
        p.record("memory", "overallocation killed", v);
        return;
    }
    let v = p
        .sh(&format!(
            "perl -e '$x = \"a\" x {over}; print \"allocated\\n\"' 2>&1 | tail -n1; echo rc=${{PIPESTATUS[0]}}"
        ))
        .await
        .map(|out| {
            if out.contains("allocated") {
                fail(format!("allocated {} MiB inside a {} MiB sandbox", over >> 20, want >> 20))
            } else if out.contains("rc=137") {
                pass(format!("allocating {} MiB got the allocator killed (137)", over >> 20))
            } else {
                pass(format!("allocation refused: {}", out.replace('\n', " ")))
            }
        });
    p.record("memory", "overallocation killed", v.and_then(|x| x));
    let v = p.sh("echo alive").await.map(|out| {
        if out == "alive" {
            pass("the shell and the server survived the OOM kill")
        } else {
            fail(format!("after the OOM kill: {out}"))
        }
    });
    p.record("memory", "session survives oom", v.and_then(|x| x));
}

/// gVisor has no per-process OOM killer in the release Debian ships: the host kills the
/// sandbox as a whole. The equivalent guarantee: only this session ends, the client is told
/// why, and the server serves the next session.
async fn gvisor_oom(p: &mut Probes, over: u64) -> Verdict {
    let c = p.session().await?;
    c.input(&format!(
        "perl -e '$x = \"a\" x {over}; print \"allocated\\n\"'\r"
    ))
    .await
    .map_err(|e| e.to_string())?;
    let events = c.until_closed(WAIT).await.map_err(|e| e.to_string())?;
    let exit = events.iter().find_map(|e| match e {
        sandterm::client::Event::Exit { code, reason } => Some((*code, *reason)),
        _ => None,
    });
    if c.transcript.contains("allocated\r\n") {
        return fail(format!("allocated {} MiB inside the sandbox", over >> 20));
    }
    p.client = None;
    let fresh = p.sh("echo alive").await?;
    match exit {
        Some((137, reason)) if fresh == "alive" => pass(format!(
            "gVisor: the sandbox was OOM-killed as a whole ({reason:?}); the client got its exit frame and the server serves new sessions"
        )),
        other => fail(format!(
            "after the allocation: exit {other:?}, next session said {fresh:?}"
        )),
    }
}

// ---- cpu ------------------------------------------------------------------------------

async fn cpu(p: &mut Probes) {
    let want = p.policy.nano_cpus as f64 / 1e9;
    if p.cgroups {
        let cmd = if p.cgroup_v1 {
            "cat /sys/fs/cgroup/cpu/cpu.cfs_quota_us /sys/fs/cgroup/cpu/cpu.cfs_period_us | tr '\\n' ' '"
        } else {
            "cat /sys/fs/cgroup/cpu.max"
        };
        let v = p.sh(cmd).await.map(|out| {
            let v: Vec<f64> = out
                .split_whitespace()
                .filter_map(|x| x.parse().ok())
                .collect();
            match v.as_slice() {
                [quota, period] if (quota / period - want).abs() < 0.01 => pass(format!(
                    "CFS quota {quota}/{period} = {:.2} CPU",
                    quota / period
                )),
                _ => fail(format!("cgroup cpu says '{out}'; expected {want} CPU")),
            }
        });
        p.record("cpu", "quota", v.and_then(|x| x));
    }
    if p.gvisor && docker_cli().await {
        let v = gvisor_cpu_share(p, want).await;
        p.record("cpu", "busy loop share", v);
        return;
    }
    // A busy loop that watches the clock: stretches where it was not running (throttled or
    // preempted) show up as gaps; its share of the wall time is what it got.
    let script = "s=${EPOCHREALTIME/./}; p=$s; g=0; e=$((s+3000000)); while :; do n=${EPOCHREALTIME/./}; d=$((n-p)); if ((d>2000)); then g=$((g+d)); fi; p=$n; ((n>e)) && break; done; echo $(( (n-s-g)*1000/(n-s) ))";
    let v = p
        .sh(&format!("bash -c '{script}'"))
        .await
        .map(|out| match out.trim().parse::<f64>() {
            Ok(permille) => {
                let share = permille / 1000.0;
                if share <= want * 1.25 + 0.05 {
                    pass(format!(
                        "a busy loop got {share:.2} of a CPU (policy {want})"
                    ))
                } else {
                    fail(format!(
                        "a busy loop got {share:.2} of a CPU, policy allows {want}"
                    ))
                }
            }
            Err(_) => fail(format!("measurement failed: {out}")),
        });
    p.record("cpu", "busy loop share", v.and_then(|x| x));
}

/// Under gVisor the sandbox cannot see its own throttling (its kernel accounts time itself),
/// so the busy loop's share is read where the quota is enforced: the host's cgroup
/// accounting, through `docker stats`.
async fn gvisor_cpu_share(p: &mut Probes, want: f64) -> Verdict {
    let c = p.session().await?;
    let name = c.container.clone();
    c.input("timeout 8 bash -c 'while :; do :; done' &\r")
        .await
        .map_err(|e| e.to_string())?;
    tokio::time::sleep(Duration::from_secs(2)).await;
    let mut peak: f64 = 0.0;
    for _ in 0..2 {
        let out = tokio::process::Command::new("docker")
            .args(["stats", "--no-stream", "--format", "{{.CPUPerc}}", &name])
            .output()
            .await
            .map_err(|e| e.to_string())?;
        let text = String::from_utf8_lossy(&out.stdout);
        let pct: f64 = text
            .trim()
            .trim_end_matches('%')
            .parse()
            .map_err(|_| format!("docker stats said {text:?}"))?;
        peak = peak.max(pct / 100.0);
    }
    let _ = p.sh("wait; true").await;
    if peak <= want * 1.25 + 0.05 {
        pass(format!(
            "gVisor: a busy loop kept the sandbox at {peak:.2} CPU on the host (policy {want})"
        ))
    } else {
        fail(format!(
            "gVisor: a busy loop drove the sandbox to {peak:.2} CPU, policy allows {want}"
        ))
    }
}

async fn docker_cli() -> bool {
    tokio::process::Command::new("docker")
        .args(["version", "--format", "{{.Server.Version}}"])
        .output()
        .await
        .is_ok_and(|o| o.status.success())
}

// ---- filesystem -----------------------------------------------------------------------

async fn filesystem(p: &mut Probes) {
    let v = p
        .sh("for d in / /usr /etc /bin /var; do if touch $d/.sandterm-probe 2>/dev/null; then echo WROTE:$d; rm -f $d/.sandterm-probe; fi; done; echo done")
        .await
        .map(|out| {
            if out.contains("WROTE:") {
                fail(format!("writable: {}", out.replace('\n', " ")))
            } else {
                pass("/, /usr, /etc, /bin, /var are read-only")
            }
        });
    p.record("filesystem", "read-only root", v.and_then(|x| x));
    let tmpfs = p.policy.tmpfs.clone();
    for mount in tmpfs {
        let cap = mount.size_bytes;
        let path = if mount.path == p.policy.working_dir {
            "~".to_string()
        } else {
            mount.path.clone()
        };
        let v = p
            .sh(&format!(
                "cd {path} && echo ok > .probe-small && cat .probe-small; head -c {} /dev/zero 2>&1 >.probe-fill | tail -n1; ls -l .probe-fill 2>/dev/null | wc -l; rm -f .probe-small .probe-fill; command grep ' {} ' /proc/mounts | cut -d' ' -f3,4",
                cap + 8 * 1024 * 1024,
                mount.path
            ))
            .await
            .map(|out| {
                let writable = out.starts_with("ok");
                let capped = out.contains("No space left on device");
                let options = out.lines().last().unwrap_or("");
                let flags_ok = p.gvisor || (options.contains("nosuid") && options.contains("nodev"));
                if writable && capped && options.starts_with("tmpfs") && flags_ok {
                    pass(format!("{} writable, capped at {} MiB: {options}", mount.path, cap >> 20))
                } else {
                    fail(format!("{}: writable={writable} capped={capped} mount='{options}'", mount.path))
                }
            });
        p.record("filesystem", "tmpfs writable + capped", v.and_then(|x| x));
    }
}

// ---- privilege ------------------------------------------------------------------------

async fn privilege(p: &mut Probes) {
    let status = p.sh("cat /proc/self/status").await;
    let v = status.as_ref().map(|s| {
        let caps: Vec<(String, Option<String>)> = ["CapEff:", "CapPrm:", "CapBnd:"]
            .iter()
            .map(|k| (k.to_string(), field(s, k)))
            .collect();
        if caps
            .iter()
            .all(|(_, v)| v.as_deref() == Some("0000000000000000"))
        {
            pass("CapEff, CapPrm and CapBnd are all zero")
        } else {
            fail(format!("{caps:?}"))
        }
    });
    p.record(
        "privilege",
        "capabilities",
        v.map_err(|e| e.clone()).and_then(|x| x),
    );
    let v = p
        .sh("perl -e 'print syscall(157, 39, 0, 0, 0, 0), \"\\n\"'")
        .await
        .map(|out| {
            if out.trim() == "1" {
                pass("no_new_privs is set (prctl PR_GET_NO_NEW_PRIVS = 1)")
            } else {
                fail(format!("PR_GET_NO_NEW_PRIVS = {out}"))
            }
        });
    p.record("privilege", "no new privileges", v.and_then(|x| x));
    let v = status.map(|s| match field(&s, "Seccomp:").as_deref() {
        Some("2") if p.gvisor => pass("seccomp filter mode inside gVisor's kernel (runsc --oci-seccomp), and gVisor itself between the sandbox and the host"),
        Some("2") => pass("seccomp filter mode (Seccomp: 2)"),
        _ if p.gvisor => pass("gVisor: system calls are answered by its user-space kernel, not the host's (no OCI seccomp filter inside)"),
        other => fail(format!("Seccomp: {other:?}")),
    });
    p.record("privilege", "seccomp", v.and_then(|x| x));
    let v = p.sh("id -u; id -g").await.map(|out| {
        if out.lines().all(|l| l.trim() != "0") {
            pass(format!("uid/gid {}", out.replace('\n', "/")))
        } else {
            fail(format!("running as {out}"))
        }
    });
    p.record("privilege", "not root", v.and_then(|x| x));
    let v = p
        .sh("find / -xdev \\( -perm -4000 -o -perm -2000 \\) -type f 2>/dev/null | head -5; su -c id root </dev/null 2>&1 | tail -n1")
        .await
        .map(|out| {
            let setuid: Vec<&str> = out.lines().filter(|l| l.starts_with('/')).collect();
            if out.contains("uid=0") {
                fail("su gave root")
            } else if setuid.is_empty() {
                pass("no setuid/setgid binaries; su fails")
            } else {
                pass(format!("setuid binaries exist but give nothing (no_new_privs): {setuid:?}"))
            }
        });
    p.record("privilege", "setuid gives nothing", v.and_then(|x| x));

    let denied =
        |out: &str| !out.contains("r=0 ") && !out.contains("r=0\n") && !out.ends_with("r=0");
    let syscalls: [(&'static str, &str); 4] = [
        (
            "mount",
            "mkdir -p /tmp/m; perl -e '($s, $t, $f) = (\"none\", \"/tmp/m\", \"tmpfs\"); $r = syscall(165, $s, $t, $f, 0, 0); print \"r=$r $!\"'",
        ),
        (
            "keyctl",
            "perl -e '$r = syscall(250, 0, -3, 1); print \"r=$r $!\"'",
        ),
        (
            "ptrace other process",
            "(sleep 30 & t=$!; perl -e \"\\$r = syscall(101, 16, $t, 0, 0); print qq(r=\\$r \\$!)\"; kill $t)",
        ),
        (
            "syslog (dmesg)",
            "perl -e '$b = \"\\0\" x 4096; $r = syscall(103, 3, $b, 4096); print \"r=$r $!\"'",
        ),
    ];
    for (name, cmd) in syscalls {
        let v = p.sh(cmd).await.map(|out| {
            let out = out.trim().to_string();
            if denied(&out) && out.contains("r=-1") {
                pass(format!("denied: {}", out.trim_start_matches("r=-1 ")))
            } else if p.gvisor && name == "syslog (dmesg)" {
                pass(format!(
                    "gVisor answers with its own synthetic log, not the host's ({out})"
                ))
            } else {
                fail(format!("allowed: {out}"))
            }
        });
        p.record("privilege", name, v.and_then(|x| x));
    }
    for (name, flag) in [("unshare user ns", "-U"), ("unshare mount ns", "-m")] {
        let v = p
            .sh(&format!("unshare {flag} true 2>&1; echo rc=$?"))
            .await
            .map(|out| {
                if out.contains("rc=0") {
                    fail(format!("unshare {flag} succeeded"))
                } else {
                    pass(format!(
                        "denied: {}",
                        out.lines().next().unwrap_or("").trim()
                    ))
                }
            });
        p.record("privilege", name, v.and_then(|x| x));
    }
    let v = p.sh("dmesg 2>&1 | head -n3").await.map(|out| {
        if p.gvisor && out.contains("gVisor") {
            pass("gVisor: dmesg shows only gVisor's own synthetic log")
        } else if out.contains("not permitted") || out.contains("denied") || out.is_empty() {
            pass(format!(
                "denied: {}",
                out.lines().next().unwrap_or("").trim()
            ))
        } else {
            fail(format!(
                "kernel log readable: {}",
                out.lines().next().unwrap_or("")
            ))
        }
    });
    p.record("privilege", "dmesg", v.and_then(|x| x));
    let v = p
        .sh("for f in /proc/sys/kernel/hostname /proc/sys/vm/drop_caches /proc/sysrq-trigger; do if (echo 1 > $f) 2>/dev/null; then echo WROTE:$f; fi; done; echo done")
        .await
        .map(|out| {
            if out.contains("WROTE:") {
                fail(out.replace('\n', " "))
            } else {
                pass("/proc/sys and /proc/sysrq-trigger are not writable")
            }
        });
    p.record("privilege", "/proc/sys, sysrq", v.and_then(|x| x));
    let v = p
        .sh("for f in /proc/kcore /proc/keys /proc/timer_list /proc/sched_debug; do [ -e $f ] && printf '%s:%s ' $f $(head -c 4096 $f 2>/dev/null | wc -c); done; echo")
        .await
        .map(|out| {
            let leaking: Vec<&str> = out
                .split_whitespace()
                .filter(|e| !e.ends_with(":0"))
                .collect();
            if leaking.is_empty() {
                pass("/proc/kcore, /proc/keys, timer_list, sched_debug absent or empty (masked)")
            } else {
                fail(format!("readable: {leaking:?}"))
            }
        });
    p.record("privilege", "masked /proc files", v.and_then(|x| x));
    let v = p
        .sh("ls -la /var/run/docker.sock /run/docker.sock 2>/dev/null; find / -xdev \\( -name 'docker.sock' -o -name 'containerd.sock' -o -name '*.sock' \\) 2>/dev/null | head -5; echo done")
        .await
        .map(|out| {
            let found: Vec<&str> = out.lines().filter(|l| *l != "done").collect();
            if found.is_empty() {
                pass("no Docker or containerd socket anywhere in the sandbox")
            } else {
                fail(format!("sockets found: {found:?}"))
            }
        });
    p.record("privilege", "no docker socket", v.and_then(|x| x));
    let v = p
        .sh("find /dev \\( -type b -o -type c \\) 2>/dev/null | sort | tr '\\n' ' '")
        .await
        .map(|out| {
            let standard = [
                "/dev/null",
                "/dev/zero",
                "/dev/full",
                "/dev/random",
                "/dev/urandom",
                "/dev/tty",
                "/dev/console",
                "/dev/ptmx",
                "/dev/pts/ptmx",
            ];
            // gVisor's /dev/fuse and /dev/net/tun are its own emulated devices, not the host's.
            let emulated: &[&str] = if p.gvisor {
                &["/dev/fuse", "/dev/net/tun"]
            } else {
                &[]
            };
            let extra: Vec<&str> = out
                .split_whitespace()
                .filter(|d| {
                    !standard.contains(d) && !emulated.contains(d) && !d.starts_with("/dev/pts/")
                })
                .collect();
            if extra.is_empty() {
                pass(format!("only standard devices: {}", out.trim()))
            } else {
                fail(format!("extra devices: {extra:?}"))
            }
        });
    p.record("privilege", "no host devices", v.and_then(|x| x));
}

// ---- processes and files --------------------------------------------------------------

async fn processes(p: &mut Probes) {
    let limit = if p.gvisor {
        p.policy.nproc.unwrap_or(p.policy.pids_limit)
    } else {
        p.policy.pids_limit
    };
    let attempts = limit + 100;
    // Each child execs sleep at once: a small process, so that the process limit answers
    // and not the memory limit (under gVisor 48 forked perl interpreters take ~80 MiB).
    let cmd = format!(
        "perl -e 'my @k; for (1..{attempts}) {{ my $p = fork(); last unless defined $p; if (!$p) {{ exec \"sleep\", \"20\"; exit 1 }} push @k, $p }} print scalar(@k), \" forked\\n\"; kill 9, @k; waitpid($_, 0) for @k'"
    );
    let v = p.sh(&cmd).await.map(|out| {
        let forked: i64 = out
            .split_whitespace()
            .next()
            .and_then(|n| n.parse().ok())
            .unwrap_or(-1);
        if forked >= 0 && forked < limit {
            pass(format!(
                "fork stopped after {forked} of {attempts} processes (limit {limit})"
            ))
        } else {
            fail(format!(
                "forked {forked} of {attempts} (limit {limit}): {out}"
            ))
        }
    });
    p.record("processes", "fork bomb bounded", v.and_then(|x| x));
    // The same session, not a new one: sh() would reconnect after a close.
    let ended = p.client.as_ref().and_then(|c| c.closed.clone());
    let v = match ended {
        Some(close) => Ok(fail(format!(
            "the session ended during the fork bomb: {close:?}"
        ))),
        None => p.sh("echo still-here").await.map(|out| {
            if out == "still-here" {
                pass("the session works after hitting the process limit")
            } else {
                fail(format!("after the fork bomb: {out}"))
            }
        }),
    };
    p.record("processes", "session survives", v.and_then(|x| x));

    let want = p.policy.nofile;
    let v = p
        .sh(&format!(
            "ulimit -n; perl -e 'my @f; for (1..{}) {{ open(my $h, \"<\", \"/dev/null\") or last; push @f, $h }} print scalar(@f), \"\\n\"'",
            want + 500
        ))
        .await
        .map(|out| {
            let nums: Vec<i64> = out.split_whitespace().filter_map(|x| x.parse().ok()).collect();
            match nums.as_slice() {
                [soft, opened] if *soft <= want && *opened < want => {
                    pass(format!("ulimit -n {soft}; opening files stopped at {opened}"))
                }
                _ => fail(format!("ulimit/open count: {out} (policy {want})")),
            }
        });
    p.record("files", "open files capped", v.and_then(|x| x));
}

// ---- host disk ------------------------------------------------------------------------

async fn host_disk(p: &mut Probes) {
    if p.args.no_docker {
        p.record("host disk", "output flood not logged", skip("--no-docker"));
        return;
    }
    if !docker_cli().await {
        p.record(
            "host disk",
            "output flood not logged",
            skip("no Docker CLI access to the server's host from here"),
        );
        return;
    }
    let bytes = p.args.flood_bytes;
    let v = async {
        let c = p.session().await?;
        let name = c.container.clone();
        c.input(&format!(
            "head -c {bytes} /dev/zero | tr '\\0' a; echo FLOOD$((1+1))DONE\r"
        ))
        .await
        .map_err(|e| e.to_string())?;
        let mut seen = 0u64;
        let deadline = Instant::now() + Duration::from_secs(600);
        loop {
            let next = tokio::time::timeout_at(deadline.into(), c.socket().next())
                .await
                .map_err(|_| "flood: timeout".to_string())?;
            match next {
                Some(Ok(Message::Text(t))) => {
                    seen += t.len() as u64;
                    if t.as_str().contains("FLOOD2DONE") {
                        break;
                    }
                }
                Some(Ok(_)) => {}
                _ => return Err("flood: the session closed".to_string()),
            }
        }
        let out = tokio::process::Command::new("docker")
            .args([
                "inspect",
                "--format",
                "{{.HostConfig.LogConfig.Type}} {{.LogPath}}",
                &name,
            ])
            .output()
            .await
            .map_err(|e| e.to_string())?;
        let text = String::from_utf8_lossy(&out.stdout).trim().to_string();
        let (driver, path) = text.split_once(' ').unwrap_or((text.as_str(), ""));
        let size = if path.is_empty() {
            0
        } else {
            std::fs::metadata(path).map(|m| m.len()).unwrap_or(0)
        };
        let bound = p.policy.log.max_size.unwrap_or(0)
            * u64::from(p.policy.log.max_files.unwrap_or(1))
            + (1 << 20);
        Ok(if size <= bound {
            (
                Status::Pass,
                format!(
                    "{} MB of output left a {size}-byte log on the host (driver {driver})",
                    seen / 1_000_000
                ),
            )
        } else {
            (
                Status::Fail,
                format!("the container log grew to {size} bytes ({path})"),
            )
        })
    }
    .await;
    p.record("host disk", "output flood not logged", v);
}

// ---- tenants --------------------------------------------------------------------------

async fn isolation(p: &mut Probes) {
    let marker = format!(
        "probe-marker-{}",
        &uuid::Uuid::new_v4().simple().to_string()[..8]
    );
    let mut other = match p.connect().await {
        Ok(c) => c,
        Err(e) => {
            p.record("tenants", "second session", Err(e));
            return;
        }
    };
    let setup = other
        .run(
            &format!("(exec -a {marker} sleep 600 &); echo secret > /tmp/{marker}; echo ready"),
            WAIT,
        )
        .await;
    if setup.is_err() {
        p.record(
            "tenants",
            "second session",
            fail("could not prepare the second session"),
        );
        return;
    }
    let v = p
        .sh(&format!(
            "ps -eo args | command grep -c '^{marker}'; ls /tmp/{marker} 2>&1 | tail -n1"
        ))
        .await
        .map(|out| {
            let seen: i64 = out
                .lines()
                .next()
                .and_then(|n| n.trim().parse().ok())
                .unwrap_or(-1);
            if seen == 0 && out.contains("No such file") {
                pass("the other tenant's processes and files are invisible")
            } else {
                fail(format!("visible: {out}"))
            }
        });
    p.record("tenants", "processes and files", v.and_then(|x| x));
    // Signal everything this tenant may signal, then look for the other's process.
    let _ = p.sh("kill -9 -1 2>/dev/null; echo sent").await;
    tokio::time::sleep(Duration::from_secs(1)).await;
    let v = other
        .run(&format!("ps -eo args | command grep -c '^{marker}'"), WAIT)
        .await
        .map_err(|e| e.to_string())
        .map(|out| {
            if out.trim() == "1" {
                pass("kill -9 -1 in one sandbox left the other's processes running")
            } else {
                fail(format!("the other tenant's process is gone ({out})"))
            }
        });
    p.record("tenants", "signals", v.and_then(|x| x));
    other.close().await;
}

fn summary(outcomes: &[Outcome]) -> bool {
    let count = |s| outcomes.iter().filter(|o| o.status == s).count();
    println!();
    println!("{:<12} {:>5} {:>5} {:>5}", "area", "pass", "fail", "skip");
    let mut areas: Vec<&str> = outcomes.iter().map(|o| o.area).collect();
    areas.dedup();
    for area in areas {
        let of = |s| {
            outcomes
                .iter()
                .filter(|o| o.area == area && o.status == s)
                .count()
        };
        println!(
            "{area:<12} {:>5} {:>5} {:>5}",
            of(Status::Pass),
            of(Status::Fail),
            of(Status::Skip)
        );
    }
    println!(
        "{:<12} {:>5} {:>5} {:>5}",
        "total",
        count(Status::Pass),
        count(Status::Fail),
        count(Status::Skip)
    );
    for o in outcomes.iter().filter(|o| o.status == Status::Fail) {
        println!("FAILED: {} / {}: {}", o.area, o.name, o.reason);
    }
    count(Status::Fail) == 0
}

#[tokio::main]
async fn main() {
    let args = Args::parse();
    let policy = match Policy::load(&args.policy, true) {
        Ok(p) => p,
        Err(e) => {
            eprintln!("sandterm-probe: {e}");
            std::process::exit(2);
        }
    };
    let mut p = Probes {
        args,
        policy,
        client: None,
        gvisor: false,
        cgroup_v1: true,
        cgroups: true,
        outcomes: Vec::new(),
    };
    // gVisor: its synthetic dmesg (when syslog is allowed) or its fixed fake kernel version.
    let detect = "{ dmesg 2>/dev/null; cat /proc/version; } | command grep -c -e gVisor -e 'Linux version 4.4.0 #1 SMP Sun Jan 10 15:06:54 PST 2016'; \
                  if [ -d /sys/fs/cgroup/memory ]; then echo v1; elif [ -e /sys/fs/cgroup/cgroup.controllers ]; then echo v2; else echo none; fi";
    let env = match p.sh(detect).await {
        Ok(out) => out,
        Err(e) => {
            eprintln!(
                "sandterm-probe: cannot open a session at {}: {e}",
                p.args.url
            );
            std::process::exit(2);
        }
    };
    p.gvisor = env
        .lines()
        .next()
        .and_then(|n| n.trim().parse::<u32>().ok())
        .unwrap_or(0)
        > 0;
    p.cgroup_v1 = env.contains("v1");
    p.cgroups = !env.contains("none");
    println!(
        "probing {} (policy '{}', {}, {})",
        p.args.url,
        p.policy.name,
        if p.gvisor { "gVisor detected" } else { "runc" },
        match (p.cgroups, p.cgroup_v1) {
            (false, _) => "no cgroup files visible",
            (true, true) => "cgroup v1",
            (true, false) => "cgroup v2",
        }
    );
    network(&mut p).await;
    memory(&mut p).await;
    cpu(&mut p).await;
    filesystem(&mut p).await;
    privilege(&mut p).await;
    processes(&mut p).await;
    host_disk(&mut p).await;
    isolation(&mut p).await;
    if let Some(c) = p.client.take() {
        c.close().await;
    }
    let ok = summary(&p.outcomes);
    std::process::exit(if ok { 0 } else { 1 });
}
