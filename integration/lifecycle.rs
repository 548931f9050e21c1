//! Every way a session can end leaves no container behind: checked by listing Docker's
//! containers, never by asking the server.

mod common;

use common::*;
use std::io::{Read, Write};
use std::time::{Duration, Instant};

#[tokio::test(flavor = "multi_thread")]
async fn client_close_removes_the_container() {
    let server = Server::start(Options::new());
    let mut client = server.client().await;
    client.run("true", WAIT).await.unwrap();
    let name = client.container.clone();
    assert!(container_exists(&name));
    client.close().await;
    server.assert_no_containers(WAIT);
}

#[tokio::test(flavor = "multi_thread")]
async fn dropping_the_tcp_connection_without_a_close_frame_removes_the_container() {
    let server = Server::start(Options::new());
    let mut client = server.client().await;
    client.run("true", WAIT).await.unwrap();
    drop(client);
    server.assert_no_containers(WAIT);
}

/// Opens a WebSocket by hand and then neither reads nor writes: a peer that vanished
/// (powered off, network gone) looks exactly like this to the server.
fn silent_websocket(port: u16) -> std::net::TcpStream {
    let mut stream = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
    write!(
        stream,
        "GET /ws HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
         Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
    )
    .unwrap();
    let mut head = [0u8; 12];
    stream.read_exact(&mut head).unwrap();
    assert_eq!(&head, b"HTTP/1.1 101");
    stream
}

#[tokio::test(flavor = "multi_thread")]
async fn a_vanished_client_is_detected_by_heartbeat_and_its_container_removed() {
    let server = Server::start(
        Options::new()
            .arg("heartbeat-interval", "1s")
            .arg("client-timeout", "3s"),
    );
    let _silent = silent_websocket(server.port);
    // The container appears...
    let deadline = Instant::now() + WAIT;
    while server.containers().is_empty() {
        assert!(Instant::now() < deadline, "no container was created");
        std::thread::sleep(Duration::from_millis(100));
    }
    // ...and goes once the heartbeat gives up, while the TCP connection is still open.
    server.assert_no_containers(Duration::from_secs(20));
    assert!(server.log_text().contains("client_timeout"));
}

#[tokio::test(flavor = "multi_thread")]
async fn disconnecting_while_the_container_is_created_leaves_no_container() {
    let server = Server::start(Options::new());
    for _ in 0..8 {
        let stream = silent_websocket(server.port);
        drop(stream);
    }
    // And once more with a few milliseconds' delay, landing mid-create or mid-start.
    for delay in [5u64, 20, 60, 120] {
        let stream = silent_websocket(server.port);
        std::thread::sleep(Duration::from_millis(delay));
        drop(stream);
    }
    server.assert_no_containers(WAIT);
    // The server still serves.
    let mut client = server.client().await;
    assert_eq!(client.run("echo alive", WAIT).await.unwrap(), "alive");
    client.close().await;
    server.assert_no_containers(WAIT);
}

#[tokio::test(flavor = "multi_thread")]
async fn idle_sessions_are_ended_with_a_reason() {
    let server = Server::start(Options::new().arg("idle-timeout", "2s"));
    let mut client = server.client().await;
    client.run("true", WAIT).await.unwrap();
    let began = Instant::now();
    let events = client.until_closed(WAIT).await.unwrap();
    assert!(began.elapsed() >= Duration::from_millis(1500));
    assert!(
        events
            .iter()
            .any(|e| matches!(e, Event::Error { code, .. } if code.as_str() == "idle_timeout")),
        "{events:?}"
    );
    server.assert_no_containers(WAIT);
}

#[tokio::test(flavor = "multi_thread")]
async fn typing_keeps_a_session_alive_past_the_idle_timeout() {
    let server = Server::start(Options::new().arg("idle-timeout", "3s"));
    let mut client = server.client().await;
    for _ in 0..6 {
        tokio::time::sleep(Duration::from_secs(1)).await;
        client.run("true", WAIT).await.unwrap();
    }
    client.close().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn sessions_end_at_their_maximum_lifetime_even_when_busy() {
    let server = Server::start(Options::new().arg("max-lifetime", "3s"));
    let mut client = server.client().await;
    client
        .input("while true; do echo busy; sleep 0.2; done\r")
        .await
        .unwrap();
    let events = client.until_closed(WAIT).await.unwrap();
    assert!(
        events
            .iter()
            .any(|e| matches!(e, Event::Error { code, .. } if code.as_str() == "max_lifetime")),
        "{events:?}"
    );
    server.assert_no_containers(WAIT);
}

#[tokio::test(flavor = "multi_thread")]
async fn sigterm_tells_clients_and_removes_every_container_before_exiting() {
    let mut server = Server::start(Options::new());
    let mut clients = Vec::new();
    for _ in 0..3 {
        let mut c = server.client().await;
        c.run("true", WAIT).await.unwrap();
        clients.push(c);
    }
    assert_eq!(server.containers().len(), 3);
    server.signal("TERM");
    for c in clients.iter_mut() {
        let events = c.until_closed(WAIT).await.unwrap();
        assert!(
            events
                .iter()
                .any(|e| matches!(e, Event::Error { code, .. } if code.as_str() == "shutdown")),
            "{events:?}"
        );
    }
    let status = server.wait_exit(WAIT);
    assert!(status.success(), "exit status {status}");
    // Nothing left the moment the process is gone.
    assert!(server.containers().is_empty(), "{:?}", server.containers());
}

#[tokio::test(flavor = "multi_thread")]
async fn sigint_during_container_creation_leaves_nothing() {
    let mut server = Server::start(Options::new());
    let _pending: Vec<_> = (0..4).map(|_| silent_websocket(server.port)).collect();
    std::thread::sleep(Duration::from_millis(30));
    server.signal("INT");
    let status = server.wait_exit(WAIT);
    assert!(status.success(), "exit status {status}");
    // A create that Docker finishes after the sweep is still ours: give it a moment.
    std::thread::sleep(Duration::from_millis(500));
    assert!(
        server.containers().is_empty(),
        "{:?}\n{}",
        server.containers(),
        server.log_text()
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn after_kill_9_the_next_start_removes_leftovers_and_only_those() {
    let options = Options::new();
    let name = options.name().to_string();
    let mut server = Server::start(options);
    let mut clients = Vec::new();
    for _ in 0..5 {
        let mut c = server.client().await;
        c.run("true", WAIT).await.unwrap();
        clients.push(c);
    }
    server.kill9();
    drop(clients);
    let leftovers = containers_of(&name);
    assert_eq!(
        leftovers.len(),
        5,
        "kill -9 leaves the containers: {leftovers:?}"
    );

    // Bystanders: no labels and another name; another server's labelled container.
    let suffix = &uuid::Uuid::new_v4().simple().to_string()[..8];
    let plain = format!("bystander-{suffix}");
    let other = format!("terminal-otherserver-{suffix}");
    assert!(docker(&["create", "--name", &plain, IMAGE, "true"]).0);
    assert!(
        docker(&[
            "create",
            "--name",
            &other,
            "--label",
            "sandterm.service=sandterm",
            "--label",
            "sandterm.server=someone-else",
            IMAGE,
            "true"
        ])
        .0
    );

    let began = Instant::now();
    let restarted = Server::start(Options::new().arg("server-name", &name));
    restarted.assert_no_containers(Duration::from_secs(5));
    eprintln!("leftovers removed {:?} after restart", began.elapsed());
    assert!(
        container_exists(&plain),
        "an unrelated container was removed"
    );
    assert!(
        container_exists(&other),
        "another server's container was removed"
    );
    docker(&["rm", "-f", &plain, &other]);
    drop(restarted);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_second_server_with_the_same_name_refuses_to_start_and_the_first_keeps_its_sessions() {
    let options = Options::new();
    let name = options.name().to_string();
    let server = Server::start(options);
    let mut client = server.client().await;
    client.run("true", WAIT).await.unwrap();

    // Its start-up sweep would take the first server's containers for leftovers.
    let mut second = std::process::Command::new(env!("CARGO_BIN_EXE_sandterm"))
        .args(["--listen", "127.0.0.1:0", "--pool-size", "0"])
        .args(["--server-name", &name])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("sandterm starts");
    let deadline = Instant::now() + Duration::from_secs(15);
    let status = loop {
        if let Some(status) = second.try_wait().unwrap() {
            break status;
        }
        if Instant::now() > deadline {
            let _ = second.kill();
            panic!("a second server with --server-name {name} kept running");
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    let mut stderr = String::new();
    second
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut stderr)
        .unwrap();
    assert!(!status.success(), "{status}: {stderr}");
    assert!(
        stderr.contains(&format!(
            "another sandterm with --server-name {name} is running"
        )),
        "{stderr}"
    );

    assert_eq!(server.containers(), vec![client.container.clone()]);
    let out = client.run("echo still-$((40+2))", WAIT).await.unwrap();
    assert_eq!(out, "still-42");
}
