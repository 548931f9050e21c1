//! The operator API, admission control and service security, over real HTTP against a real
//! server and Docker.

mod common;

use common::*;
use sandterm::client::{ClientError, connect_socket, connect_socket_with_headers};
use std::time::Duration;

fn json(body: &str) -> serde_json::Value {
    serde_json::from_str(body).unwrap_or_else(|e| panic!("not JSON ({e}): {body}"))
}

/// Connects and returns the first error code the server sends (None if a session started).
async fn refused_code(url: &str, origin: Option<&str>) -> Option<String> {
    let socket = connect_socket(url, origin).await.ok()?;
    match Client::from_socket(socket, WAIT).await {
        Ok(client) => {
            client.close().await;
            None
        }
        Err(e) => Some(e.to_string()),
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn every_api_endpoint_requires_the_bearer_token() {
    let server = Server::start(Options::new());
    let id = "00000000-0000-0000-0000-000000000000";
    for (method, path) in [
        ("GET", "/api/sessions".to_string()),
        ("POST", "/api/sessions".to_string()),
        ("GET", format!("/api/sessions/{id}")),
        ("DELETE", format!("/api/sessions/{id}")),
        ("GET", "/api/nonexistent".to_string()),
    ] {
        let none = server.request(method, &path, None, None).unwrap();
        assert_eq!(none.0, 401, "{method} {path} without a token: {}", none.1);
        assert_eq!(json(&none.1)["error"], "unauthorized");
        let wrong = server
            .request(method, &path, Some("not-the-token"), None)
            .unwrap();
        assert_eq!(wrong.0, 401, "{method} {path} with a wrong token");
        let prefix = server
            .request(method, &path, Some(&ADMIN_TOKEN[..10]), None)
            .unwrap();
        assert_eq!(prefix.0, 401, "{method} {path} with a prefix of the token");
        let basic = server
            .request_with(
                method,
                &path,
                &[("Authorization", format!("Basic {ADMIN_TOKEN}"))],
                None,
            )
            .unwrap();
        assert_eq!(basic.0, 401, "{method} {path} with another scheme");
        let other_header = server
            .request_with(
                method,
                &path,
                &[("X-Api-Key", ADMIN_TOKEN.to_string())],
                None,
            )
            .unwrap();
        assert_eq!(other_header.0, 401, "{method} {path} with another header");
    }
    assert_eq!(
        server
            .request("GET", "/api/sessions", Some(ADMIN_TOKEN), None)
            .unwrap()
            .0,
        200
    );
    // The token is never written to the log when it was configured.
    assert!(!server.log_text().contains(ADMIN_TOKEN));
}

#[tokio::test(flavor = "multi_thread")]
async fn a_generated_admin_token_is_logged_once_and_works() {
    let server = Server::start(Options::new().arg("admin-token", ""));
    let log = server.log_text();
    let line = log
        .lines()
        .find(|l| l.contains("the /api token for this run is:"))
        .expect("the generated token is logged");
    let token = line.rsplit(' ').next().unwrap().trim();
    assert!(token.len() >= 32, "{token}");
    assert_eq!(
        server
            .request("GET", "/api/sessions", Some(token), None)
            .unwrap()
            .0,
        200
    );
    let mut c = server.client().await;
    c.run("true", WAIT).await.unwrap();
    c.close().await;
    assert_eq!(server.log_text().matches(token).count(), 1);
}

#[tokio::test(flavor = "multi_thread")]
async fn sessions_are_listed_inspected_with_usage_and_deleted() {
    let server = Server::start(Options::new());
    let mut client = server.client().await;
    client.run("echo hi", WAIT).await.unwrap();

    let (status, body) = server
        .request("GET", "/api/sessions", Some(ADMIN_TOKEN), None)
        .unwrap();
    assert_eq!(status, 200);
    let list = json(&body);
    let sessions = list["sessions"].as_array().unwrap();
    assert_eq!(sessions.len(), 1, "{body}");
    let s = &sessions[0];
    assert_eq!(s["id"], client.session_id.as_str());
    assert_eq!(s["container"], client.container.as_str());
    assert_eq!(s["state"], "running");
    assert_eq!(s["client_address"], "127.0.0.1");
    assert!(s["bytes_in"].as_u64().unwrap() > 0);
    assert!(s["bytes_out"].as_u64().unwrap() > 0);
    for field in ["created", "last_input"] {
        assert!(s[field].as_str().unwrap().ends_with('Z'), "{field}: {s}");
    }

    let path = format!("/api/sessions/{}", client.session_id);
    let (status, body) = server
        .request("GET", &path, Some(ADMIN_TOKEN), None)
        .unwrap();
    assert_eq!(status, 200, "{body}");
    let detail = json(&body);
    assert_eq!(detail["id"], client.session_id.as_str());
    let usage = &detail["usage"];
    assert!(usage["memory_bytes"].as_u64().unwrap() > 0, "{body}");
    assert_eq!(usage["memory_limit_bytes"], 268435456, "{body}");
    assert!(usage["pids"].as_u64().unwrap() >= 2, "{body}");
    assert_eq!(usage["pids_limit"], 256, "{body}");

    let (status, _) = server
        .request("DELETE", &path, Some(ADMIN_TOKEN), None)
        .unwrap();
    assert_eq!(status, 202);
    let events = client.until_closed(WAIT).await.unwrap();
    assert!(
        events.iter().any(|e| matches!(e, Event::Error { code, message } if code.as_str() == "terminated" && message.contains("operator"))),
        "{events:?}"
    );
    server.assert_no_containers(WAIT);
    let (status, body) = server
        .request("GET", &path, Some(ADMIN_TOKEN), None)
        .unwrap();
    assert_eq!(status, 404, "{body}");
    assert_eq!(json(&body)["error"], "not_found");
    assert_eq!(
        server
            .request("DELETE", &path, Some(ADMIN_TOKEN), None)
            .unwrap()
            .0,
        404
    );
    assert!(server.log_text().contains("ended: terminated"));
}

#[tokio::test(flavor = "multi_thread")]
async fn token_mode_admits_only_single_use_unexpired_tokens() {
    let server = Server::start(Options::new().arg("access", "token").arg("token-ttl", "2s"));
    // No token: refused before any container exists.
    let refused = refused_code(&server.url(), None).await.expect("refused");
    assert!(refused.contains("unauthorized"), "{refused}");
    let bogus = refused_code(&format!("{}?token=bogus", server.url()), None)
        .await
        .expect("refused");
    assert!(bogus.contains("unauthorized"), "{bogus}");
    assert!(server.containers().is_empty());

    let (status, body) = server
        .request("POST", "/api/sessions", Some(ADMIN_TOKEN), Some(""))
        .unwrap();
    assert_eq!(status, 201, "{body}");
    let r = json(&body);
    let token = r["token"].as_str().unwrap().to_string();
    assert!(token.len() >= 32);
    assert_eq!(r["expires_in_seconds"], 2);
    let url = r["url"].as_str().unwrap().to_string();
    assert!(
        url.starts_with("ws://127.0.0.1:") && url.ends_with(&format!("/ws?token={token}")),
        "{url}"
    );

    let mut client = Client::connect(&url, WAIT).await.expect("token admits");
    assert_eq!(client.session_id, r["session_id"].as_str().unwrap());
    assert_eq!(client.run("echo in", WAIT).await.unwrap(), "in");
    // Single use.
    let again = refused_code(&url, None)
        .await
        .expect("a used token is refused");
    assert!(again.contains("unauthorized"), "{again}");
    client.close().await;

    // Expiry.
    let (_, body) = server
        .request("POST", "/api/sessions", Some(ADMIN_TOKEN), None)
        .unwrap();
    let late = json(&body)["url"].as_str().unwrap().to_string();
    tokio::time::sleep(Duration::from_millis(2500)).await;
    let expired = refused_code(&late, None)
        .await
        .expect("an expired token is refused");
    assert!(expired.contains("unauthorized"), "{expired}");
    server.assert_no_containers(WAIT);
    // Connect tokens never reach the log.
    assert!(!server.log_text().contains(&token));
}

#[tokio::test(flavor = "multi_thread")]
async fn a_foreign_origin_is_refused_with_403_before_any_container_exists() {
    let server = Server::start(Options::new());
    let err = connect_socket(&server.url(), Some("http://evil.example"))
        .await
        .expect_err("refused");
    assert!(err.to_string().contains("403"), "{err}");
    assert!(server.containers().is_empty());
    // The page's own origin is fine.
    let own = format!("http://127.0.0.1:{}", server.port);
    assert!(refused_code(&server.url(), Some(&own)).await.is_none());
    let metrics = server.get("/metrics").unwrap().1;
    assert!(
        metrics.contains("sandterm_admission_refused_total{reason=\"forbidden_origin\"} 1"),
        "{metrics}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn configured_origins_replace_the_same_origin_rule() {
    let server = Server::start(Options::new().arg("allowed-origins", "https://play.example.com"));
    assert!(
        refused_code(&server.url(), Some("https://play.example.com"))
            .await
            .is_none()
    );
    let own = format!("http://127.0.0.1:{}", server.port);
    assert!(connect_socket(&server.url(), Some(&own)).await.is_err());
}

#[tokio::test(flavor = "multi_thread")]
async fn the_session_cap_refuses_the_next_session_without_creating_a_container() {
    let server = Server::start(Options::new().arg("max-sessions", "2"));
    let mut a = server.client().await;
    let mut b = server.client().await;
    a.run("true", WAIT).await.unwrap();
    b.run("true", WAIT).await.unwrap();
    let refused = refused_code(&server.url(), None)
        .await
        .expect("third is refused");
    assert!(refused.contains("capacity"), "{refused}");
    assert_eq!(server.containers().len(), 2);
    let (status, body) = server
        .request("POST", "/api/sessions", Some(ADMIN_TOKEN), None)
        .unwrap();
    assert_eq!(status, 429, "{body}");
    assert_eq!(json(&body)["error"], "capacity");
    a.close().await;
    // Room again once one leaves.
    let mut c = server.client_when_room().await;
    c.run("true", WAIT).await.unwrap();
    c.close().await;
    b.close().await;
    server.assert_no_containers(WAIT);
}

/// A burst of exactly as many sessions as the cap allows is admitted in full: a session
/// holds one slot from admission until its container is removed, never two. (A cold
/// session used to count twice between its container's lease and the registry hearing of
/// it, so 200 sessions at once under a cap of 260 were sometimes refused.)
#[tokio::test(flavor = "multi_thread")]
async fn a_burst_up_to_the_session_cap_is_admitted_in_full() {
    const CAP: usize = 40;
    let server = Server::start(
        Options::new()
            .arg("max-sessions", &CAP.to_string())
            .arg("max-sessions-per-ip", "1000")
            .arg("session-rate", "100000"),
    );
    let tasks: Vec<_> = (0..CAP)
        .map(|_| {
            let url = server.url();
            tokio::spawn(async move { Client::connect(&url, WAIT).await })
        })
        .collect();
    let mut clients = Vec::new();
    for task in tasks {
        match task.await.unwrap() {
            Ok(c) => clients.push(c),
            Err(e) => panic!("session {} of {CAP} refused: {e}", clients.len() + 1),
        }
    }
    for c in &mut clients {
        c.run("true", WAIT).await.unwrap();
    }
    assert_eq!(server.containers().len(), CAP);
    let refused = refused_code(&server.url(), None)
        .await
        .expect("one more is refused");
    assert!(refused.contains("capacity"), "{refused}");
    futures_util::future::join_all(clients.into_iter().map(|c| c.close())).await;
    server.assert_no_containers(WAIT);
}

/// Most of this server's containers Docker shows as created but not yet started, sampled
/// until `stop` is set.
fn most_created_at_once(server_name: &str, stop: &std::sync::atomic::AtomicBool) -> usize {
    let filter = format!("label=sandterm.server={server_name}");
    let mut most = 0;
    while !stop.load(std::sync::atomic::Ordering::Relaxed) {
        let (ok, out) = docker(&[
            "ps",
            "-a",
            "-q",
            "--filter",
            &filter,
            "--filter",
            "status=created",
        ]);
        if ok {
            most = most.max(out.lines().filter(|l| !l.trim().is_empty()).count());
        }
    }
    most
}

#[tokio::test(flavor = "multi_thread")]
async fn launches_beyond_concurrent_starts_wait_their_turn_and_all_succeed() {
    const BURST: usize = 12;
    let server = Server::start(Options::new().arg("concurrent-starts", "1"));
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let sampler = {
        let (name, stop) = (server.name.clone(), stop.clone());
        std::thread::spawn(move || most_created_at_once(&name, &stop))
    };
    let mut clients = futures_util::future::join_all((0..BURST).map(|_| server.client())).await;
    for c in &mut clients {
        assert_eq!(c.run("echo up", WAIT).await.unwrap(), "up");
    }
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    // One launch at a time: never two containers created and waiting for their start.
    let most = sampler.join().unwrap();
    assert!(
        most <= 1,
        "{most} containers were between create and start at once"
    );
    futures_util::future::join_all(clients.into_iter().map(|c| c.close())).await;
    server.assert_no_containers(WAIT);
}

/// A session opened through a proxy that says it forwards `client`.
async fn connect_forwarded_for(url: &str, client: &str) -> Result<Client, ClientError> {
    let socket = connect_socket_with_headers(url, &[("X-Forwarded-For", client)]).await?;
    Client::from_socket(socket, WAIT).await
}

fn listed_addresses(server: &Server) -> Vec<String> {
    let (status, body) = server
        .request("GET", "/api/sessions", Some(ADMIN_TOKEN), None)
        .unwrap();
    assert_eq!(status, 200, "{body}");
    let mut addresses: Vec<String> = json(&body)["sessions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["client_address"].as_str().unwrap().to_string())
        .collect();
    addresses.sort();
    addresses
}

#[tokio::test(flavor = "multi_thread")]
async fn behind_a_trusted_proxy_the_forwarded_client_is_limited_and_listed() {
    let server = Server::start(
        Options::new()
            .arg("trusted-proxies", "10.0.0.0/8,127.0.0.1")
            .arg("max-sessions-per-ip", "1"),
    );
    let url = server.url();
    // The leftmost entry is what a client could forge; the proxy appended the real one.
    let mut a = connect_forwarded_for(&url, "198.51.100.1, 203.0.113.7")
        .await
        .unwrap();
    let mut b = connect_forwarded_for(&url, "203.0.113.8").await.unwrap();
    a.run("true", WAIT).await.unwrap();
    b.run("true", WAIT).await.unwrap();
    let again = connect_forwarded_for(&url, "203.0.113.7")
        .await
        .err()
        .expect("the same client again is over its per-address cap");
    assert!(again.to_string().contains("capacity"), "{again}");
    assert_eq!(listed_addresses(&server), ["203.0.113.7", "203.0.113.8"]);
    a.close().await;
    b.close().await;
    server.assert_no_containers(WAIT);
    drop(server);

    // Without --trusted-proxies the header is only a claim: the client is the TCP peer.
    let server = Server::start(Options::new().arg("max-sessions-per-ip", "1"));
    let url = server.url();
    let mut a = connect_forwarded_for(&url, "203.0.113.7").await.unwrap();
    a.run("true", WAIT).await.unwrap();
    assert_eq!(listed_addresses(&server), ["127.0.0.1"]);
    let other = connect_forwarded_for(&url, "203.0.113.8")
        .await
        .err()
        .expect("a second session from the same peer is refused");
    assert!(other.to_string().contains("capacity"), "{other}");
    a.close().await;
    server.assert_no_containers(WAIT);
}

#[tokio::test(flavor = "multi_thread")]
async fn per_address_cap_and_rate_limit_refuse_with_stable_codes() {
    let server = Server::start(Options::new().arg("max-sessions-per-ip", "1"));
    let mut a = server.client().await;
    // The session frame can come before the container exists: wait for the shell.
    a.run("true", WAIT).await.unwrap();
    let refused = refused_code(&server.url(), None).await.expect("refused");
    assert!(refused.contains("capacity"), "{refused}");
    assert_eq!(server.containers().len(), 1);
    a.close().await;
    drop(server);

    let server = Server::start(Options::new().arg("session-rate", "2"));
    for _ in 0..2 {
        let c = server.client().await;
        c.close().await;
    }
    let limited = refused_code(&server.url(), None).await.expect("refused");
    assert!(limited.contains("rate_limited"), "{limited}");
    server.assert_no_containers(WAIT);
}

/// Checks every sample line of the exposition format and returns name{labels} → value.
fn parse_metrics(text: &str) -> std::collections::HashMap<String, f64> {
    assert!(
        text.ends_with("# EOF\n"),
        "OpenMetrics text ends with # EOF"
    );
    let mut samples = std::collections::HashMap::new();
    for line in text.lines() {
        if line.starts_with('#') || line.is_empty() {
            assert!(
                line.is_empty()
                    || line.starts_with("# HELP ")
                    || line.starts_with("# TYPE ")
                    || line.starts_with("# UNIT ")
                    || line == "# EOF",
                "bad comment line: {line}"
            );
            continue;
        }
        let (key, value) = line
            .rsplit_once(' ')
            .unwrap_or_else(|| panic!("bad sample: {line}"));
        let name_end = key.find('{').unwrap_or(key.len());
        let name = &key[..name_end];
        assert!(
            name.chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == ':'),
            "bad metric name: {line}"
        );
        if name_end < key.len() {
            assert!(key.ends_with('}'), "bad labels: {line}");
        }
        let value: f64 = value
            .parse()
            .unwrap_or_else(|_| panic!("bad value: {line}"));
        samples.insert(key.to_string(), value);
    }
    samples
}

#[tokio::test(flavor = "multi_thread")]
async fn metrics_parse_and_move_as_sessions_come_and_go() {
    let server = Server::start(Options::new().arg("max-sessions", "1"));
    let before = parse_metrics(&server.get("/metrics").unwrap().1);
    assert_eq!(before["sandterm_sessions_active"], 0.0);
    assert_eq!(before["sandterm_sessions_created_total"], 0.0);

    let mut c = server.client().await;
    c.run("echo metrics", WAIT).await.unwrap();
    assert!(refused_code(&server.url(), None).await.is_some());
    let during = parse_metrics(&server.get("/metrics").unwrap().1);
    assert_eq!(during["sandterm_sessions_active"], 1.0);
    assert_eq!(during["sandterm_sessions_created_total"], 1.0);
    assert_eq!(
        during["sandterm_admission_refused_total{reason=\"capacity\"}"],
        1.0
    );
    assert!(during["sandterm_input_bytes_total"] > 0.0);
    assert!(during["sandterm_output_bytes_total"] > 0.0);
    assert_eq!(
        during["sandterm_container_start_seconds_count{source=\"cold\"}"],
        1.0
    );

    c.input("exit\r").await.unwrap();
    c.until_closed(WAIT).await.unwrap();
    server.assert_no_containers(WAIT);
    let after = parse_metrics(&server.get("/metrics").unwrap().1);
    assert_eq!(after["sandterm_sessions_active"], 0.0);
    assert_eq!(after["sandterm_sessions_ended_total{reason=\"exit\"}"], 1.0);
}

#[tokio::test(flavor = "multi_thread")]
async fn health_and_readiness_answer() {
    let server = Server::start(Options::new());
    let (status, body) = server.get("/healthz").unwrap();
    assert_eq!((status, json(&body)["status"].as_str()), (200, Some("ok")));
    let (status, body) = server.get("/readyz").unwrap();
    assert_eq!(status, 200, "{body}");
    assert_eq!(json(&body)["ready"], true);
}

#[tokio::test(flavor = "multi_thread")]
async fn the_warm_pool_serves_sessions_and_is_cleaned_up() {
    let mut server = Server::start(Options::new().arg("pool-size", "2"));
    // The pool fills in the background with containers that are not (yet) terminals.
    let deadline = std::time::Instant::now() + WAIT;
    loop {
        let names = server.containers();
        if names.len() == 2 && names.iter().all(|n| n.starts_with("sandterm-warm-")) {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "pool did not fill: {names:?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let metrics = parse_metrics(&server.get("/metrics").unwrap().1);
    assert_eq!(metrics["sandterm_pool_ready"], 2.0);
    let mut a = server.client().await;
    assert!(a.container.starts_with("terminal-"), "{}", a.container);
    // The first prompt printed while the container waited in the pool is not lost.
    a.expect("$ ", WAIT).await.unwrap();
    assert_eq!(a.run("echo warm", WAIT).await.unwrap(), "warm");
    assert!(container_exists(&a.container));
    let info = inspect(&a.container);
    assert_eq!(info["Name"], format!("/{}", a.container));
    let b = server.client().await;
    assert_ne!(a.container, b.container);
    let used = [a.container.clone(), b.container.clone()];
    a.close().await;
    b.close().await;
    for name in &used {
        let deadline = std::time::Instant::now() + WAIT;
        while container_exists(name) {
            assert!(std::time::Instant::now() < deadline, "{name} not removed");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
    // Refilled, and nothing named like a session container is left.
    let deadline = std::time::Instant::now() + WAIT;
    while server.containers().len() != 2 {
        assert!(
            std::time::Instant::now() < deadline,
            "pool not refilled: {:?}",
            server.containers()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(
        server
            .containers()
            .iter()
            .all(|n| n.starts_with("sandterm-warm-"))
    );
    server.signal("TERM");
    assert!(server.wait_exit(WAIT).success());
    assert!(server.containers().is_empty(), "{:?}", server.containers());
}

/// A session that claims a warm container while its create/start is still under way gets a
/// working shell, and no container is left behind under either of its names. (A claim used
/// to rename the container between its create and its start; the start, by the old name,
/// failed and the removal, by the old name too, missed the renamed container.)
#[tokio::test(flavor = "multi_thread")]
async fn claiming_a_warm_container_mid_launch_leaks_nothing() {
    let server = Server::start(Options::new().arg("pool-size", "1"));
    // Staggered pairs: the first session takes the ready warm container and the pool starts
    // refilling; the second arrives at a different point of that refill's launch each time.
    for delay_ms in [0u64, 5, 10, 10, 15, 20, 25, 30, 40, 60, 90, 150] {
        let first = server.client();
        let second = async {
            tokio::time::sleep(Duration::from_millis(delay_ms)).await;
            server.client().await
        };
        let (mut a, mut b) = tokio::join!(first, second);
        for (c, word) in [(&mut a, "one"), (&mut b, "two")] {
            let said = c.run(&format!("echo {word}"), WAIT).await;
            assert_eq!(
                said.as_deref().ok(),
                Some(word),
                "delay {delay_ms} ms: {said:?}\n{}",
                server.log_text()
            );
        }
        a.close().await;
        b.close().await;
    }
    // Well inside the orphan sweep's grace period: only the removal on session end counts.
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    loop {
        let left: Vec<String> = server
            .containers()
            .into_iter()
            .filter(|n| !n.starts_with("sandterm-warm-"))
            .collect();
        if left.is_empty() {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "left behind: {left:?}\n{}",
            server.log_text()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let warm = server.containers();
    assert!(
        warm.len() <= 1,
        "more warm containers than the pool: {warm:?}"
    );
}
