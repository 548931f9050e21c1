//! Faults, hostile clients and load: the server survives, tells clients what happened, and
//! leaks no container, descriptor or memory.
//!
//! The default run is short enough for CI. `SANDTERM_LONG_TESTS=1` runs the full-size
//! versions (minutes of fuzzing, a 200-session soak over several minutes).

mod common;

use common::*;
use futures_util::SinkExt;
use sandterm::client::connect_socket;
use std::io::Write;
use std::time::{Duration, Instant};
use tokio_tungstenite::tungstenite::Message;

fn long() -> bool {
    std::env::var("SANDTERM_LONG_TESTS").as_deref() == Ok("1")
}

/// A small deterministic PRNG (xorshift64*), seeded and printed so a run can be repeated.
struct Rng(u64);

impl Rng {
    fn seeded() -> Rng {
        let seed = std::env::var("SANDTERM_FUZZ_SEED")
            .ok()
            .and_then(|s| s.parse().ok())
            .unwrap_or_else(|| {
                std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .map(|d| d.as_nanos() as u64)
                    .unwrap_or(1)
            });
        eprintln!("seed {seed} (SANDTERM_FUZZ_SEED to repeat)");
        Rng(seed | 1)
    }
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545F4914F6CDD1D)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }
    fn bytes(&mut self, n: usize) -> Vec<u8> {
        (0..n).map(|_| self.next() as u8).collect()
    }
    fn bytes_upto(&mut self, max: u64) -> Vec<u8> {
        let n = self.below(max) as usize;
        self.bytes(n)
    }
    fn string_upto(&mut self, max: u64) -> String {
        let n = self.below(max) as usize;
        self.string(n)
    }
    fn fork(&mut self) -> Rng {
        Rng(self.next() | 1)
    }
    fn string(&mut self, n: usize) -> String {
        let pool = [
            "a", "é", "🎉", "\u{0}", "\r", "\u{1b}[", "\"", "\\", "$(", "日本", "\u{fffd}",
        ];
        (0..n)
            .map(|_| pool[self.below(pool.len() as u64) as usize])
            .collect()
    }
    fn json(&mut self, depth: u32) -> serde_json::Value {
        use serde_json::{Value, json};
        match self.below(if depth > 3 { 4 } else { 7 }) {
            0 => Value::Null,
            1 => json!(self.next() as i64),
            2 => {
                let v = self.next() as f64 / 3.0;
                json!(v)
            }
            3 => {
                let n = self.below(20) as usize;
                json!(self.string(n))
            }
            4 => {
                let n = self.below(5);
                Value::Array((0..n).map(|_| self.json(depth + 1)).collect())
            }
            _ => {
                let mut map = serde_json::Map::new();
                let kinds = [
                    "input", "resize", "pause", "resume", "output", "exit", "", "INPUT",
                ];
                if self.below(4) > 0 {
                    let kind = kinds[self.below(kinds.len() as u64) as usize];
                    map.insert("type".into(), json!(kind));
                }
                for key in ["data", "cols", "rows", "x"] {
                    if self.below(2) == 0 {
                        let value = self.json(depth + 1);
                        map.insert(key.into(), value);
                    }
                }
                Value::Object(map)
            }
        }
    }
}

fn load_options() -> Options {
    Options::new()
        .arg("max-sessions", "250")
        .arg("max-sessions-per-ip", "1000")
        .arg("session-rate", "100000")
}

#[tokio::test(flavor = "multi_thread")]
async fn after_kill_9_with_20_live_sessions_a_restart_removes_them_all_within_5_s() {
    let options = load_options();
    let name = options.name().to_string();
    let mut server = Server::start(options);
    let mut clients = Vec::new();
    for _ in 0..20 {
        let url = server.url();
        clients.push(tokio::spawn(
            async move { Client::connect(&url, WAIT).await },
        ));
    }
    let mut live = Vec::new();
    for c in clients {
        let mut c = c.await.unwrap().expect("session");
        c.run("true", WAIT).await.unwrap();
        live.push(c);
    }
    server.kill9();
    assert_eq!(containers_of(&name).len(), 20);
    drop(live);
    let suffix = &uuid::Uuid::new_v4().simple().to_string()[..8];
    let bystander = format!("not-ours-{suffix}");
    assert!(docker(&["create", "--name", &bystander, IMAGE, "true"]).0);
    let began = Instant::now();
    let restarted = Server::start(load_options().arg("server-name", &name));
    restarted.assert_no_containers(Duration::from_secs(5));
    eprintln!(
        "20 leftovers removed {:?} after the restart began",
        began.elapsed()
    );
    assert!(container_exists(&bystander));
    docker(&["rm", "-f", &bystander]);
}

#[tokio::test(flavor = "multi_thread")]
async fn docker_kill_from_outside_gives_an_exit_frame_within_2_s() {
    let server = Server::start(Options::new());
    let mut c = server.client().await;
    c.run("true", WAIT).await.unwrap();
    let killed_at = Instant::now();
    assert!(docker(&["kill", &c.container]).0);
    let events = c.until_closed(WAIT).await.unwrap();
    let took = killed_at.elapsed();
    assert!(
        events.iter().any(|e| matches!(
            e,
            Event::Exit {
                code: 137,
                reason: Some(sandterm::protocol::ExitReason::Killed)
            }
        )),
        "{events:?}"
    );
    assert!(took < Duration::from_secs(2), "exit frame after {took:?}");
    server.assert_no_containers(WAIT);
}

#[tokio::test(flavor = "multi_thread")]
async fn an_oom_killed_shell_gives_an_exit_frame_with_the_reason() {
    let server = Server::start(Options::new());
    let mut c = server.client().await;
    c.run("true", WAIT).await.unwrap();
    // The interactive shell itself grows past the 256 MiB limit: it is the OOM victim.
    c.input("x=$(head -c 400000000 /dev/zero | tr '\\0' a)\r")
        .await
        .unwrap();
    let events = c.until_closed(Duration::from_secs(60)).await.unwrap();
    assert!(
        events.iter().any(|e| matches!(
            e,
            Event::Exit {
                code: 137,
                reason: Some(sandterm::protocol::ExitReason::OomKilled)
            }
        )),
        "{events:?}"
    );
    server.assert_no_containers(WAIT);
    assert_eq!(server.get("/healthz").unwrap().0, 200);
}

#[tokio::test(flavor = "multi_thread")]
async fn an_allocation_past_the_limit_kills_only_the_allocator() {
    let server = Server::start(Options::new());
    let mut c = server.client().await;
    let out = c
        .run(
            "perl -e '$x = \"a\" x 400000000; print \"survived\\n\"'; echo status=$?",
            Duration::from_secs(60),
        )
        .await
        .unwrap();
    assert!(
        out.contains("status=137") || out.contains("Killed"),
        "{out}"
    );
    assert_eq!(
        c.run("echo shell-alive", WAIT).await.unwrap(),
        "shell-alive"
    );
    c.close().await;
}

/// One hostile connection of a random kind.
async fn hostile(port: u16, url: String, mut rng: Rng) {
    match rng.below(7) {
        0 => {
            // Random bytes instead of HTTP.
            if let Ok(mut s) = std::net::TcpStream::connect(("127.0.0.1", port)) {
                let _ = s.write_all(&rng.bytes_upto(4096));
            }
        }
        1 => {
            // Random JSON and random text.
            if let Ok(mut ws) = connect_socket(&url, None).await {
                for _ in 0..rng.below(40) {
                    let frame = if rng.below(3) == 0 {
                        rng.string_upto(200)
                    } else {
                        rng.json(0).to_string()
                    };
                    if ws.send(Message::text(frame)).await.is_err() {
                        break;
                    }
                }
                if rng.below(2) == 0 {
                    let _ = ws.close(None).await;
                }
            }
        }
        2 => {
            // Huge frames, text and binary.
            if let Ok(mut ws) = connect_socket(&url, None).await {
                let size = 64 * 1024 + rng.below(1 << 20) as usize;
                let _ = if rng.below(2) == 0 {
                    ws.send(Message::text("x".repeat(size))).await
                } else {
                    ws.send(Message::binary(rng.bytes(size))).await
                };
            }
        }
        3 => {
            // A flood of tiny frames.
            if let Ok(mut ws) = connect_socket(&url, None).await {
                for _ in 0..(500 + rng.below(2000)) {
                    if ws
                        .send(Message::text(r#"{"type":"input","data":"a"}"#))
                        .await
                        .is_err()
                    {
                        break;
                    }
                }
            }
        }
        4 => {
            // Half-open: a WebSocket that is never read or written, held a while.
            if let Ok(mut s) = std::net::TcpStream::connect(("127.0.0.1", port)) {
                let _ = write!(
                    s,
                    "GET /ws HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
                     Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
                );
                tokio::time::sleep(Duration::from_millis(rng.below(3000))).await;
            }
        }
        5 => {
            // Connect/disconnect storm.
            for _ in 0..20 {
                if let Ok(ws) = connect_socket(&url, None).await {
                    drop(ws);
                }
            }
        }
        _ => {
            // Random bytes after a valid handshake (not WebSocket framing).
            if let Ok(mut s) = std::net::TcpStream::connect(("127.0.0.1", port)) {
                let _ = write!(
                    s,
                    "GET /ws HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
                     Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
                );
                let _ = s.write_all(&rng.bytes_upto(8192));
            }
        }
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn hostile_clients_do_not_hurt_the_server() {
    let server = Server::start(
        load_options()
            .arg("max-sessions", "40")
            .arg("heartbeat-interval", "1s")
            .arg("client-timeout", "4s"),
    );
    let mut rng = Rng::seeded();
    let duration = if long() {
        Duration::from_secs(300)
    } else {
        Duration::from_secs(20)
    };
    let began = Instant::now();
    let mut rounds = 0;
    while began.elapsed() < duration {
        let tasks: Vec<_> = (0..8)
            .map(|_| tokio::spawn(hostile(server.port, server.url(), rng.fork())))
            .collect();
        for t in tasks {
            let _ = tokio::time::timeout(Duration::from_secs(30), t).await;
        }
        rounds += 1;
    }
    eprintln!(
        "{rounds} rounds of 8 hostile connections in {:?}",
        began.elapsed()
    );
    assert_eq!(
        server.get("/healthz").unwrap().0,
        200,
        "server died:\n{}",
        server.log_text()
    );
    server.assert_no_containers(Duration::from_secs(60));
    let mut c = server.client().await;
    assert_eq!(c.run("echo unharmed", WAIT).await.unwrap(), "unharmed");
    c.close().await;
    server.assert_no_containers(WAIT);
    assert!(
        !server.log_text().contains("panicked"),
        "a panic was logged"
    );
}

/// One soak client: random typing, resizes, reconnects, exits, for `duration`.
async fn soak_client(url: String, mut rng: Rng, duration: Duration) -> usize {
    let began = Instant::now();
    let mut sessions = 0;
    while began.elapsed() < duration {
        let Ok(mut c) = Client::connect(&url, WAIT).await else {
            tokio::time::sleep(Duration::from_millis(200)).await;
            continue;
        };
        sessions += 1;
        let actions = 1 + rng.below(10);
        let mut ended = false;
        for _ in 0..actions {
            if began.elapsed() >= duration {
                break;
            }
            let step = match rng.below(10) {
                0..=4 => {
                    let n = rng.below(1000);
                    c.run(&format!("echo soak-{n}"), WAIT).await.map(|_| ())
                }
                5 | 6 => {
                    c.resize(1 + rng.below(300) as u16, 1 + rng.below(100) as u16)
                        .await
                }
                7 => c.input(&rng.string_upto(30)).await,
                8 => {
                    let _ = c.input("\x03exit\r").await;
                    let _ = c.until_closed(WAIT).await;
                    ended = true;
                    break;
                }
                _ => {
                    // Vanish without a close frame.
                    ended = true;
                    break;
                }
            };
            if step.is_err() {
                ended = true;
                break;
            }
            tokio::time::sleep(Duration::from_millis(rng.below(500))).await;
        }
        if !ended {
            c.close().await;
        }
    }
    sessions
}

#[tokio::test(flavor = "multi_thread")]
async fn a_soak_leaves_no_containers_memory_or_descriptors_behind() {
    let (clients, duration) = if long() {
        (200, Duration::from_secs(240))
    } else {
        (30, Duration::from_secs(25))
    };
    let server = Server::start(load_options().arg("input-rate", "1000"));
    let pid = server.pid();
    // Warm up the allocator and the runtime with one round as wide as the soak,
    // then take the baseline: high-water capacity is not a leak, growth after it is.
    let warmup: Vec<_> = (0..clients)
        .map(|_| {
            let url = server.url();
            tokio::spawn(async move { Client::connect(&url, WAIT).await })
        })
        .collect();
    for c in warmup {
        if let Ok(Ok(c)) = c.await {
            c.close().await;
        }
    }
    // Docker on two cores can take a while to remove dozens of containers at once (the
    // server retries removals that time out); what matters is that they all go.
    server.assert_no_containers(Duration::from_secs(180));
    tokio::time::sleep(Duration::from_secs(2)).await;
    let (rss_before, fds_before) = (rss_kib(pid), open_fds(pid));

    let mut rng = Rng::seeded();
    let tasks: Vec<_> = (0..clients)
        .map(|_| tokio::spawn(soak_client(server.url(), rng.fork(), duration)))
        .collect();
    let mut sessions = 0;
    let mut peak_rss = 0;
    for t in tasks {
        peak_rss = peak_rss.max(rss_kib(pid));
        sessions += t.await.unwrap();
    }
    eprintln!("{sessions} sessions by {clients} clients in {duration:?}");
    server.assert_no_containers(Duration::from_secs(180));
    let (status, body) = server
        .request("GET", "/api/sessions", Some(ADMIN_TOKEN), None)
        .unwrap();
    assert_eq!(status, 200);
    assert_eq!(body, r#"{"sessions":[]}"#, "the registry is not empty");
    // Give closing connections and the allocator a moment to settle.
    let deadline = Instant::now() + Duration::from_secs(30);
    let (mut rss_after, mut fds_after) = (rss_kib(pid), open_fds(pid));
    while Instant::now() < deadline
        && (fds_after > fds_before || rss_after > rss_before + rss_before / 10)
    {
        tokio::time::sleep(Duration::from_millis(500)).await;
        rss_after = rss_kib(pid);
        fds_after = open_fds(pid);
    }
    eprintln!(
        "RSS {rss_before} KiB before, peak {peak_rss} KiB, {rss_after} KiB after; fds {fds_before} -> {fds_after}"
    );
    assert!(
        fds_after <= fds_before,
        "descriptors leaked: {fds_before} -> {fds_after}"
    );
    assert!(
        rss_after <= rss_before + rss_before / 10,
        "RSS {rss_before} KiB before the soak, {rss_after} KiB after"
    );
}
