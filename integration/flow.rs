//! Backpressure and flow control: a client that stops reading cannot grow the server's
//! memory, and one that speaks pause/resume gets output only while it wants it.

mod common;

use common::*;
use std::time::{Duration, Instant};

#[tokio::test(flavor = "multi_thread")]
async fn a_client_that_stops_reading_keeps_server_memory_flat_while_yes_runs() {
    let server = Server::start(Options::new());
    let mut client = server.client().await;
    client.run("true", WAIT).await.unwrap();
    let before = rss_kib(server.pid());
    client.input("yes sandterm-flood-line\r").await.unwrap();
    // Read a little so the flood is surely running, then stop reading entirely.
    client
        .expect("sandterm-flood-line\r\nsandterm-flood-line", WAIT)
        .await
        .unwrap();
    let mut samples = Vec::new();
    for _ in 0..10 {
        tokio::time::sleep(Duration::from_secs(1)).await;
        samples.push(rss_kib(server.pid()));
    }
    let peak = *samples.iter().max().unwrap();
    eprintln!("server RSS before {before} KiB, while stalled {samples:?} KiB");
    // The budget is 256 KiB per session plus socket buffers; allow generous slack for
    // allocator noise, far below what ten seconds of `yes` would be (hundreds of MB).
    assert!(
        peak < before + 16 * 1024,
        "RSS grew from {before} KiB to {peak} KiB"
    );
    // The last two samples are flat: nothing accumulates.
    let last = &samples[samples.len() - 3..];
    assert!(
        last.iter().max().unwrap() - last.iter().min().unwrap() < 4 * 1024,
        "{samples:?}"
    );
    // The session is alive: resume reading, stop the flood and run a command.
    client.input("\x03").await.unwrap();
    let out = client
        .run("echo after-$((1+1))", Duration::from_secs(60))
        .await
        .unwrap();
    assert!(
        out.ends_with("after-2"),
        "{}",
        &out[out.len().saturating_sub(100)..]
    );
    client.close().await;
    server.assert_no_containers(WAIT);
}

#[tokio::test(flavor = "multi_thread")]
async fn pause_stops_output_and_resume_restarts_it() {
    let server = Server::start(Options::new());
    let mut client = server.client().await;
    client.run("true", WAIT).await.unwrap();
    client
        .input("while true; do echo tick; sleep 0.05; done\r")
        .await
        .unwrap();
    client.expect("tick\r\ntick", WAIT).await.unwrap();
    client
        .send_json(serde_json::json!({"type": "pause"}))
        .await
        .unwrap();
    // Drain what was already on its way, then expect silence.
    let settle = Instant::now() + Duration::from_millis(500);
    while Instant::now() < settle {
        let _ = client.next_event(Duration::from_millis(100)).await;
    }
    let quiet_from = client.transcript.len();
    let until = Instant::now() + Duration::from_millis(1500);
    while Instant::now() < until {
        let _ = client.next_event(Duration::from_millis(100)).await;
    }
    assert_eq!(
        client.transcript.len(),
        quiet_from,
        "output arrived while paused"
    );
    client
        .send_json(serde_json::json!({"type": "resume"}))
        .await
        .unwrap();
    // Output held in the TTY while paused arrives after resume, then more ticks.
    let resumed_at = client.transcript.len();
    let deadline = Instant::now() + WAIT;
    while client.transcript[resumed_at..].matches("tick").count() < 5 {
        assert!(Instant::now() < deadline, "no output after resume");
        let _ = client.next_event(Duration::from_millis(200)).await;
    }
    client.input("\x03").await.unwrap();
    client.close().await;
    server.assert_no_containers(WAIT);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_flood_reaches_a_reading_client_in_few_large_frames() {
    let server = Server::start(Options::new());
    let mut client = server.client().await;
    client.run("true", WAIT).await.unwrap();
    let frames_before = client.frames;
    let out = client
        .run(
            "head -c 4000000 /dev/zero | tr '\\0' z",
            Duration::from_secs(60),
        )
        .await
        .unwrap();
    assert_eq!(out.matches('z').count(), 4_000_000);
    let frames = client.frames - frames_before;
    // Coalescing: 4 MB in at most a few hundred frames (32 KiB each when flooding), not
    // thousands of tiny ones.
    assert!(frames < 1000, "{frames} frames for 4 MB");
    client.close().await;
}
