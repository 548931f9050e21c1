//! A session end to end: protocol v1 over a real WebSocket, a real container, and every
//! guarantee of the default policy observed from inside the sandbox and from Docker.

mod common;

use common::*;
use std::time::Duration;

#[tokio::test(flavor = "multi_thread")]
async fn command_output_comes_back_after_a_session_frame() {
    let server = Server::start(Options::new());
    let mut client = server.client().await;
    assert!(
        client.container.starts_with("terminal-")
            && client.container.len() == "terminal-".len() + 12,
        "container name {}",
        client.container
    );
    assert!(
        client.container["terminal-".len()..]
            .bytes()
            .all(|b| b.is_ascii_hexdigit())
    );
    assert!(!client.session_id.is_empty());
    let out = client.run("echo $((6*7))", WAIT).await.unwrap();
    assert_eq!(out, "42");
    client.close().await;
    server.assert_no_containers(WAIT);
}

#[tokio::test(flavor = "multi_thread")]
async fn the_prototype_clients_exact_messages_work() {
    use futures_util::{SinkExt, StreamExt};
    use tokio_tungstenite::tungstenite::Message;
    let server = Server::start(Options::new());
    // Exactly what the seed's WebTerminal does: send {"type":"input"}, read msg.data of
    // every "output" message, ignore the rest.
    let (mut ws, _) = tokio_tungstenite::connect_async(server.url())
        .await
        .unwrap();
    ws.send(Message::text(
        r#"{"type":"input","data":"echo seed-$((20+3))\r"}"#,
    ))
    .await
    .unwrap();
    let mut screen = String::new();
    let deadline = std::time::Instant::now() + WAIT;
    while !screen.contains("seed-23\r\n") {
        let left = deadline.saturating_duration_since(std::time::Instant::now());
        let msg = tokio::time::timeout(left, ws.next())
            .await
            .expect("output in time");
        if let Some(Ok(Message::Text(text))) = msg {
            let msg: serde_json::Value = serde_json::from_str(text.as_str()).unwrap();
            if msg["type"] == "output" {
                screen.push_str(msg["data"].as_str().unwrap());
            }
        }
    }
    ws.close(None).await.unwrap();
    server.assert_no_containers(WAIT);
}

#[tokio::test(flavor = "multi_thread")]
async fn typing_before_the_container_is_ready_is_kept_in_order() {
    let server = Server::start(Options::new());
    let mut client = Client::connect(&server.url(), WAIT).await.unwrap();
    // Forty lines typed the moment the session frame arrives, while the container is still
    // being created: none may be lost, and the start-up must not stall behind them.
    for i in 0..40 {
        client
            .input(&format!("echo early-$(({i}+1000))\r"))
            .await
            .unwrap();
    }
    client.expect("early-1039\r\n", WAIT).await.unwrap();
    for i in 1000..1040 {
        assert!(
            client.transcript.contains(&format!("early-{i}\r\n")),
            "early-{i} missing"
        );
    }
    client.close().await;
    server.assert_no_containers(WAIT);
}

#[tokio::test(flavor = "multi_thread")]
async fn resize_changes_what_stty_size_prints() {
    let server = Server::start(Options::new());
    let mut client = server.client().await;
    client.resize(123, 45).await.unwrap();
    // The resize is applied asynchronously; poll until the shell sees it.
    let mut seen = String::new();
    for _ in 0..50 {
        seen = client.run("stty size", WAIT).await.unwrap();
        if seen == "45 123" {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(seen, "45 123");
    client.resize(80, 24).await.unwrap();
    for _ in 0..50 {
        seen = client.run("stty size", WAIT).await.unwrap();
        if seen == "24 80" {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(seen, "24 80");
    client.close().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn utf8_split_across_docker_chunks_arrives_intact() {
    let server = Server::start(Options::new());
    let mut client = server.client().await;
    // One ASCII byte, then 100k two-byte characters and 50k four-byte ones: with 32 KiB
    // reads nearly every chunk boundary falls inside a character.
    let out = client
        .run(
            "printf a; head -c 100000 /dev/zero | tr '\\0' x | sed 's/x/é/g'; head -c 50000 /dev/zero | tr '\\0' y | sed 's/y/🎉/g'; echo",
            WAIT,
        )
        .await
        .unwrap();
    assert!(
        !out.contains('\u{FFFD}'),
        "a replacement character appeared"
    );
    assert_eq!(out.chars().filter(|c| *c == 'é').count(), 100_000);
    assert_eq!(out.chars().filter(|c| *c == '🎉').count(), 50_000);
    assert!(
        client.frames > 3,
        "the output should have spanned several frames"
    );
    client.close().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn typing_exit_sends_exit_closes_and_removes_the_container() {
    let server = Server::start(Options::new());
    let mut client = server.client().await;
    let name = client.container.clone();
    client.expect("$ ", WAIT).await.unwrap();
    client.input("exit 3\r").await.unwrap();
    let events = client.until_closed(WAIT).await.unwrap();
    assert!(
        events
            .iter()
            .any(|e| matches!(e, Event::Exit { code: 3, .. })),
        "{events:?}"
    );
    assert!(
        matches!(events.last(), Some(Event::Closed(Some((1000, _))))),
        "{events:?}"
    );
    server.assert_no_containers(WAIT);
    assert!(!container_exists(&name));
}

/// Runs `command` in the sandbox and returns its output.
async fn sh(client: &mut Client, command: &str) -> String {
    client.run(command, WAIT).await.unwrap()
}

#[tokio::test(flavor = "multi_thread")]
async fn default_policy_guarantees_hold_inside_the_sandbox() {
    let server = Server::start(Options::new());
    let mut c = server.client().await;
    // Network: only the loopback interface.
    assert_eq!(sh(&mut c, "ls --color=never /sys/class/net").await, "lo");
    // Identity: not root.
    assert_eq!(sh(&mut c, "id -u").await, "1000");
    // Capabilities: none effective, permitted or bounding; no new privileges.
    let status = sh(
        &mut c,
        "command grep -E '^(CapEff|CapPrm|CapBnd|NoNewPrivs|Seccomp):' /proc/self/status",
    )
    .await;
    for line in [
        "CapEff:\t0000000000000000",
        "CapPrm:\t0000000000000000",
        "CapBnd:\t0000000000000000",
        "NoNewPrivs:\t1",
        "Seccomp:\t2",
    ] {
        assert!(status.contains(line), "{line} missing in:\n{status}");
    }
    // Read-only root filesystem; writable, size-capped /tmp and home.
    assert!(
        sh(
            &mut c,
            "touch /probe 2>&1; touch /usr/probe 2>&1; touch /etc/probe 2>&1"
        )
        .await
        .matches("Read-only file system")
        .count()
            == 3
    );
    assert_eq!(sh(&mut c, "echo ok > /tmp/f && cat /tmp/f").await, "ok");
    assert_eq!(sh(&mut c, "echo ok > ~/f && cat ~/f").await, "ok");
    let tmp = sh(
        &mut c,
        "command grep -E ' (/tmp|/home/sandbox) ' /proc/mounts",
    )
    .await;
    assert!(tmp.contains("/tmp tmpfs rw,nosuid,nodev"), "{tmp}");
    assert!(tmp.contains("size=65536k"), "{tmp}");
    assert!(tmp.contains("/home/sandbox tmpfs rw,nosuid,nodev"), "{tmp}");
    // Memory 256 MiB with no swap on top, 0.5 CPU, pids limit (cgroup v1 or v2 paths).
    let cg = sh(
        &mut c,
        "cat /sys/fs/cgroup/memory/memory.limit_in_bytes /sys/fs/cgroup/memory/memory.memsw.limit_in_bytes \
         /sys/fs/cgroup/cpu/cpu.cfs_quota_us /sys/fs/cgroup/cpu/cpu.cfs_period_us /sys/fs/cgroup/pids/pids.max 2>/dev/null \
         || cat /sys/fs/cgroup/memory.max /sys/fs/cgroup/memory.swap.max /sys/fs/cgroup/cpu.max /sys/fs/cgroup/pids.max",
    )
    .await;
    let values: Vec<&str> = cg.split_whitespace().collect();
    if values.len() == 5 && values[0] == "268435456" {
        assert_eq!(
            values,
            ["268435456", "268435456", "50000", "100000", "256"],
            "{cg}"
        );
    } else {
        assert_eq!(values, ["268435456", "0", "50000", "100000", "256"], "{cg}");
    }
    // Open files capped; an init process is PID 1 and the shell is not.
    assert_eq!(sh(&mut c, "ulimit -n; ulimit -Hn").await, "1024\n1024");
    assert_eq!(sh(&mut c, "cat /proc/1/comm").await, "docker-init");
    c.close().await;
    server.assert_no_containers(WAIT);
}

#[tokio::test(flavor = "multi_thread")]
async fn default_policy_guarantees_hold_in_docker_inspect() {
    let server = Server::start(Options::new());
    let mut client = server.client().await;
    // The session frame names the container as soon as its creation begins; wait for the
    // shell before asking Docker about it.
    client.run("true", WAIT).await.unwrap();
    let info = inspect(&client.container);
    let host = &info["HostConfig"];
    assert_eq!(host["NetworkMode"], "none");
    assert_eq!(host["Memory"], 268435456);
    assert_eq!(host["MemorySwap"], 268435456);
    assert_eq!(host["NanoCpus"], 500000000);
    assert_eq!(host["PidsLimit"], 256);
    assert_eq!(host["ReadonlyRootfs"], true);
    assert_eq!(host["CapDrop"], serde_json::json!(["ALL"]));
    assert_eq!(host["Privileged"], false);
    assert_eq!(host["Init"], true);
    assert!(
        host["SecurityOpt"]
            .as_array()
            .unwrap()
            .contains(&serde_json::json!("no-new-privileges:true"))
    );
    assert_eq!(host["LogConfig"]["Type"], "none");
    assert_eq!(host["Ulimits"][0]["Name"], "nofile");
    assert_eq!(host["Ulimits"][0]["Hard"], 1024);
    assert!(
        host["Tmpfs"]["/tmp"]
            .as_str()
            .unwrap()
            .contains("nosuid,nodev,size=67108864")
    );
    assert_eq!(info["Config"]["User"], "1000:1000");
    let labels = &info["Config"]["Labels"];
    assert_eq!(labels["sandterm.service"], "sandterm");
    assert_eq!(labels["sandterm.server"], server.name.as_str());
    assert_eq!(labels["sandterm.session"], client.session_id.as_str());
    assert!(
        labels["sandterm.instance"]
            .as_str()
            .is_some_and(|s| !s.is_empty())
    );
    client.close().await;
    server.assert_no_containers(WAIT);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_flood_of_output_does_not_write_a_container_log() {
    let server = Server::start(Options::new());
    let mut client = server.client().await;
    let out = client
        .run("head -c 20000000 /dev/zero | tr '\\0' a | wc -c; head -c 5000000 /dev/zero | tr '\\0' b", Duration::from_secs(120))
        .await
        .unwrap();
    assert!(
        out.starts_with("20000000"),
        "{}",
        &out[..out.len().min(100)]
    );
    let info = inspect(&client.container);
    let log_path = info["LogPath"].as_str().unwrap_or("");
    let size = if log_path.is_empty() {
        0
    } else {
        std::fs::metadata(log_path).map(|m| m.len()).unwrap_or(0)
    };
    assert!(
        size < 1024 * 1024,
        "container log grew to {size} bytes at {log_path}"
    );
    client.close().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn two_sessions_get_two_isolated_containers() {
    let server = Server::start(Options::new());
    let mut a = server.client().await;
    let mut b = server.client().await;
    assert_ne!(a.container, b.container);
    sh(&mut a, "echo secret-a > /tmp/mine").await;
    assert!(
        sh(&mut b, "cat /tmp/mine 2>&1")
            .await
            .contains("No such file or directory")
    );
    let procs = sh(&mut b, "ps -eo comm= | sort -u | tr '\\n' ' '").await;
    assert!(!procs.contains("sleep"), "{procs}");
    a.close().await;
    b.close().await;
    server.assert_no_containers(WAIT);
}
