//! Bad input and Docker trouble: each gets a clear answer, the server keeps serving, and
//! no container is left behind.

mod common;

use common::*;
use std::process::Command;
use std::time::Duration;
use tokio_tungstenite::tungstenite::Message;

async fn expect_error(client: &mut Client, code: &str) {
    loop {
        match client.next_event(WAIT).await.unwrap() {
            Event::Error { code: got, message } => {
                assert_eq!(got.as_str(), code, "{message}");
                assert!(!message.is_empty());
                return;
            }
            Event::Output(_) => {}
            other => panic!("expected error {code}, got {other:?}"),
        }
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn bad_frames_get_error_replies_and_the_session_keeps_working() {
    let server = Server::start(Options::new());
    let mut c = server.client().await;
    let cases: &[(&str, &str)] = &[
        ("{not json", "bad_message"),
        ("", "bad_message"),
        ("null", "bad_message"),
        ("[1,2,3]", "bad_message"),
        (r#"{"type":"input"}"#, "bad_message"),
        (r#"{"type":"input","data":42}"#, "bad_message"),
        (r#"{"type":"input","data":"x","extra":1}"#, "bad_message"),
        (r#"{"type":"launch-missiles"}"#, "unknown_type"),
        (r#"{"type":"resize","cols":0,"rows":24}"#, "invalid_size"),
        (
            r#"{"type":"resize","cols":80,"rows":100000}"#,
            "invalid_size",
        ),
        (r#"{"type":"resize","cols":-1,"rows":-1}"#, "invalid_size"),
        (r#"{"type":"resize","cols":"80","rows":24}"#, "bad_message"),
        (r#"{"type":"resize","cols":1e308,"rows":24}"#, "bad_message"),
    ];
    for (frame, code) in cases {
        c.send_raw(Message::text(*frame)).await.unwrap();
        expect_error(&mut c, code).await;
    }
    c.send_raw(Message::binary(vec![0u8, 1, 2, 255]))
        .await
        .unwrap();
    expect_error(&mut c, "unsupported_frame").await;
    assert_eq!(c.run("echo still-here", WAIT).await.unwrap(), "still-here");
    c.close().await;
    server.assert_no_containers(WAIT);
}

#[tokio::test(flavor = "multi_thread")]
async fn an_oversize_frame_closes_with_1009_and_removes_the_container() {
    let server = Server::start(Options::new());
    let mut c = server.client().await;
    let huge = format!(r#"{{"type":"input","data":"{}"}}"#, "x".repeat(200 * 1024));
    let _ = c.send_raw(Message::text(huge)).await;
    let events = c.until_closed(WAIT).await.unwrap();
    assert!(
        events
            .iter()
            .any(|e| matches!(e, Event::Closed(Some((1009, _))))),
        "{events:?}"
    );
    server.assert_no_containers(WAIT);
    let mut fresh = server.client().await;
    assert_eq!(fresh.run("echo ok", WAIT).await.unwrap(), "ok");
    fresh.close().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn garbage_bytes_on_the_socket_do_not_hurt_the_server() {
    use std::io::{Read, Write};
    let server = Server::start(Options::new());
    for payload in [
        &b"\x00\x01\x02\x03 not http at all\r\n\r\n"[..],
        &b"GET /ws HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\n\r\n"[..],
        &b"GET /ws HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff"[..],
    ] {
        let mut s = std::net::TcpStream::connect(("127.0.0.1", server.port)).unwrap();
        let _ = s.write_all(payload);
        s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        let mut sink = Vec::new();
        let _ = s.read_to_end(&mut sink);
    }
    server.assert_no_containers(WAIT);
    assert_eq!(server.get("/healthz").unwrap().0, 200);
    let mut c = server.client().await;
    assert_eq!(c.run("echo fine", WAIT).await.unwrap(), "fine");
    c.close().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_flood_of_tiny_frames_is_rate_limited_not_fatal() {
    let server = Server::start(Options::new().arg("input-rate", "50"));
    let mut c = server.client().await;
    for _ in 0..2000 {
        c.send_raw(Message::text(r#"{"type":"input","data":""}"#))
            .await
            .unwrap();
    }
    let mut codes = Vec::new();
    while !codes.contains(&"rate_limited") {
        match c.next_event(WAIT).await.unwrap() {
            Event::Error { code, .. } => codes.push(code.as_str()),
            Event::Output(_) => {}
            other => panic!("unexpected {other:?}"),
        }
    }
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(c.run("echo survived", WAIT).await.unwrap(), "survived");
    c.close().await;
    server.assert_no_containers(WAIT);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_missing_image_gives_image_missing_and_the_server_stays_up() {
    let policy = sandterm::policy::DEFAULT_POLICY_TOML
        .replace("sandterm/sandbox:latest", "sandterm/does-not-exist:never");
    let path = std::env::temp_dir().join(format!("missing-image-{}.toml", std::process::id()));
    std::fs::write(&path, policy).unwrap();
    let server = Server::start(Options::new().arg("policy", path.to_str().unwrap()));
    assert!(
        server.log_text().contains("hardening/build-image.sh"),
        "{}",
        server.log_text()
    );
    // The session frame may come first; either way the error names the image problem.
    let text = ended_session_text(&server.url()).await;
    assert!(
        text.contains("image_missing") || text.contains("ImageMissing"),
        "{text}"
    );
    assert_eq!(server.get("/healthz").unwrap().0, 200);
    let (status, body) = server.get("/readyz").unwrap();
    assert_eq!(status, 503, "{body}");
    assert!(body.contains("build-image.sh"), "{body}");
    server.assert_no_containers(WAIT);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_policy_docker_cannot_run_is_named_at_start_up_and_refused_creates_are_reported() {
    let policy = sandterm::policy::DEFAULT_POLICY_TOML
        .replace("# runtime = \"runsc\"", "runtime = \"no-such-runtime\"")
        .replace(
            "apparmor_profile = \"\"",
            "apparmor_profile = \"no-such-profile\"",
        );
    assert!(policy.contains("runtime = \"no-such-runtime\""));
    let path = std::env::temp_dir().join(format!("bad-runtime-{}.toml", std::process::id()));
    std::fs::write(&path, policy).unwrap();
    let server = Server::start(Options::new().arg("policy", path.to_str().unwrap()));
    let log = server.log_text();
    assert!(
        log.contains("runtime 'no-such-runtime' is not registered with Docker")
            && log.contains("every session would fail to start"),
        "{log}"
    );
    // This kernel has no AppArmor; on a host with it the profile line is not expected.
    let apparmor = std::path::Path::new("/sys/module/apparmor/parameters/enabled");
    if !matches!(std::fs::read_to_string(apparmor), Ok(s) if s.trim() == "Y") {
        assert!(
            log.contains("apparmor_profile 'no-such-profile' cannot apply"),
            "{log}"
        );
    }
    // A create that Docker refuses: the client is told, nothing is left, the server serves.
    for _ in 0..2 {
        let text = ended_session_text(&server.url()).await;
        assert!(text.contains("SandboxFailed"), "{text}");
    }
    // The client gets the stable code; the log gets Docker's reason.
    let log = server.log_text();
    assert!(
        log.contains("Docker refused create") && log.contains("no-such-runtime"),
        "{log}"
    );
    assert_eq!(server.get("/healthz").unwrap().0, 200);
    let (status, body) = server.get("/readyz").unwrap();
    assert_eq!(status, 503, "{body}");
    assert!(
        body.contains("'no-such-runtime' is not registered"),
        "{body}"
    );
    server.assert_no_containers(WAIT);
}

#[tokio::test(flavor = "multi_thread")]
async fn docker_unreachable_gives_docker_unavailable_and_the_server_stays_up() {
    let server =
        Server::start(Options::new().arg("docker-host", "unix:///nonexistent/docker.sock"));
    let text = ended_session_text(&server.url()).await;
    assert!(
        text.contains("docker_unavailable") || text.contains("DockerUnavailable"),
        "{text}"
    );
    assert_eq!(server.get("/healthz").unwrap().0, 200);
    assert_eq!(server.get("/readyz").unwrap().0, 503);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_connect_disconnect_storm_never_exceeds_the_container_cap() {
    let server = Server::start(Options::new().arg("max-sessions", "3"));
    let name = server.name.clone();
    let done = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let sampler = {
        let done = done.clone();
        std::thread::spawn(move || {
            let mut peak = 0;
            while !done.load(std::sync::atomic::Ordering::Relaxed) {
                peak = peak.max(containers_of(&name).len());
                std::thread::sleep(Duration::from_millis(20));
            }
            peak
        })
    };
    // Sessions that leave at once, faster than Docker creates and removes containers.
    for _ in 0..60 {
        if let Ok(ws) = sandterm::client::connect_socket(&server.url(), None).await {
            drop(ws);
        }
    }
    server.assert_no_containers(Duration::from_secs(60));
    done.store(true, std::sync::atomic::Ordering::Relaxed);
    let peak = sampler.join().unwrap();
    assert!(
        peak <= 3,
        "{peak} containers existed at once with --max-sessions 3"
    );
    let mut c = server.client_when_room().await;
    assert_eq!(c.run("echo ok", WAIT).await.unwrap(), "ok");
    c.close().await;
}

#[test]
fn an_invalid_policy_stops_start_up_naming_the_field() {
    let policy = sandterm::policy::DEFAULT_POLICY_TOML.replace("pids = 256", "pids = 0");
    let path = std::env::temp_dir().join(format!("bad-policy-{}.toml", std::process::id()));
    std::fs::write(&path, policy).unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_sandterm"))
        .args([
            "--policy",
            path.to_str().unwrap(),
            "--listen",
            "127.0.0.1:0",
        ])
        .output()
        .unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("limits.pids"), "{stderr}");
}

#[test]
fn help_documents_every_option() {
    let out = Command::new(env!("CARGO_BIN_EXE_sandterm"))
        .arg("--help")
        .output()
        .unwrap();
    assert!(out.status.success());
    let help = String::from_utf8_lossy(&out.stdout);
    for flag in [
        "--listen",
        "SANDTERM_LISTEN",
        "--policy",
        "SANDTERM_POLICY",
        "--docker-host",
        "DOCKER_HOST",
        "--idle-timeout",
        "--max-lifetime",
        "--admin-token",
        "--access",
        "--allowed-origins",
        "--trusted-proxies",
        "SANDTERM_TRUSTED_PROXIES",
        "--max-sessions",
        "--pool-size",
        "--concurrent-starts",
        "SANDTERM_CONCURRENT_STARTS",
    ] {
        assert!(help.contains(flag), "--help does not mention {flag}");
    }
}
