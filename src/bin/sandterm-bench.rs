//! `sandterm-bench`: measures a running sandterm server against raw Docker on the same host.
//!
//! Every figure is taken twice, once through sandterm's WebSocket and once through Docker's
//! own attach API with the same policy, so each row is also a ratio. Run it against a server
//! started with generous admission limits (see `integration/bench/run.sh`, which starts the
//! servers, runs this and prints the table).

use clap::Parser;
use futures_util::StreamExt;
use sandterm::client::{Client, Event};
use sandterm::docker::{Docker, Labels, label};
use sandterm::policy::Policy;
use serde::Serialize;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio_tungstenite::tungstenite::Message;

const WAIT: Duration = Duration::from_secs(120);
const RAW_SERVER_LABEL: &str = "sandterm-bench-raw";

#[derive(Parser, Debug)]
#[command(
    name = "sandterm-bench",
    about = "Benchmark a sandterm server against raw Docker attach"
)]
struct Args {
    /// WebSocket URL of a server for cold starts (warm pool 0).
    #[arg(long, default_value = "ws://127.0.0.1:3000/ws")]
    url: String,
    /// WebSocket URL of a server with a warm pool, for warm-start figures.
    #[arg(long)]
    warm_url: Option<String>,
    /// PID of the server behind --url, for its RSS and CPU time.
    #[arg(long)]
    server_pid: Option<u32>,
    /// `--server-name` of the server behind --url (to count its containers).
    #[arg(long, default_value = "default")]
    server_name: String,
    /// Policy for the raw-Docker baseline (the server's policy).
    #[arg(long, default_value = "policies/default.toml")]
    policy: PathBuf,
    #[arg(
        long,
        env = "DOCKER_HOST",
        default_value = "unix:///var/run/docker.sock"
    )]
    docker_host: String,
    /// Sessions for the start-latency figures.
    #[arg(long, default_value_t = 20)]
    starts: usize,
    /// Pause between sequential starts (lets a warm pool refill, as real arrivals would).
    #[arg(long, default_value_t = 400)]
    gap_ms: u64,
    /// Keystrokes for the echo round-trip figures.
    #[arg(long, default_value_t = 300)]
    keys: usize,
    /// Bytes of output for the throughput figures.
    #[arg(long, default_value_t = 64_000_000)]
    stream_bytes: u64,
    /// Throughput runs each (alternating sandterm and raw); the median is reported. The
    /// sandbox's CPU quota makes single runs noisy.
    #[arg(long, default_value_t = 5)]
    stream_runs: usize,
    /// Sessions opened at once for the concurrency figures (0 skips). Two bursts each, in
    /// the order sandterm, raw, raw, sandterm; the means are reported.
    #[arg(long, default_value_t = 200)]
    concurrent: usize,
    /// Also write the figures as JSON here.
    #[arg(long)]
    json: Option<PathBuf>,
}

#[derive(Debug, Default, Serialize)]
struct Report {
    start_ms: Pair<Percentiles>,
    warm_start_ms: Option<Percentiles>,
    echo_ms: Pair<Percentiles>,
    throughput_mb_s: Pair<f64>,
    server_cpu_s_per_stream: Option<f64>,
    docker_cpu_s_per_stream: Pair<Option<f64>>,
    idle_rss_mib: Option<f64>,
    concurrent: Option<Concurrency>,
}

#[derive(Debug, Default, Serialize)]
struct Pair<T> {
    sandterm: T,
    raw: T,
}

#[derive(Debug, Default, Clone, Serialize)]
struct Percentiles {
    p50: f64,
    p90: f64,
    p99: f64,
    n: usize,
}

impl Percentiles {
    fn of(mut samples: Vec<f64>) -> Percentiles {
        samples.sort_by(|a, b| a.total_cmp(b));
        let at = |q: f64| {
            if samples.is_empty() {
                return f64::NAN;
            }
            let i = ((samples.len() as f64 - 1.0) * q).round() as usize;
            samples[i]
        };
        Percentiles {
            p50: at(0.5),
            p90: at(0.9),
            p99: at(0.99),
            n: samples.len(),
        }
    }
}

#[derive(Debug, Default, Serialize)]
struct Concurrency {
    sessions: usize,
    sandterm_all_ready_s: f64,
    raw_all_ready_s: f64,
    server_rss_mib: Option<f64>,
    sandterm_all_removed_s: f64,
    leaked_containers: usize,
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.total_cmp(b));
    v.get(v.len() / 2).copied().unwrap_or(f64::NAN)
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

/// (utime + stime) in seconds from /proc/<pid>/stat.
fn cpu_seconds(pid: u32) -> Option<f64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let after = stat.rsplit_once(')')?.1;
    let fields: Vec<&str> = after.split_whitespace().collect();
    let utime: f64 = fields.get(11)?.parse().ok()?;
    let stime: f64 = fields.get(12)?.parse().ok()?;
    Some((utime + stime) / 100.0)
}

fn rss_mib(pid: u32) -> Option<f64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let kib: f64 = status
        .lines()
        .find(|l| l.starts_with("VmRSS:"))?
        .split_whitespace()
        .nth(1)?
        .parse()
        .ok()?;
    Some(kib / 1024.0)
}

fn pid_of(name: &str) -> Option<u32> {
    let out = std::process::Command::new("pidof")
        .arg(name)
        .output()
        .ok()?;
    String::from_utf8_lossy(&out.stdout)
        .split_whitespace()
        .next()?
        .parse()
        .ok()
}

/// Raw Docker: the same container, driven through Docker's attach API directly.
struct Raw {
    docker: Arc<Docker>,
    policy: Policy,
}

struct RawSession {
    name: String,
    reader: sandterm::docker::AttachReader,
    writer: sandterm::docker::AttachWriter,
}

impl Raw {
    async fn open(&self) -> Result<RawSession, String> {
        let name = format!("bench-raw-{}", sandterm::docker::new_container_suffix());
        let labels = Labels {
            server: RAW_SERVER_LABEL.into(),
            instance: "bench".into(),
            session: String::new(),
        };
        self.docker
            .create(&name, &self.policy, &labels)
            .await
            .map_err(|e| e.to_string())?;
        let (reader, writer) = self.docker.attach(&name).await.map_err(|e| e.to_string())?;
        self.docker.start(&name).await.map_err(|e| e.to_string())?;
        Ok(RawSession {
            name,
            reader,
            writer,
        })
    }

    async fn close(&self, s: RawSession) {
        let _ = self.docker.remove(&s.name).await;
    }
}

impl RawSession {
    async fn send(&mut self, data: &str) {
        let _ = self.writer.write_all(data.as_bytes()).await;
        let _ = self.writer.flush().await;
    }

    /// Reads until `needle` appears in what is read from now on; returns bytes read. Each
    /// read is searched once, so the baseline's client costs as little CPU as sandterm's.
    async fn until(&mut self, needle: &'static [u8]) -> Result<u64, String> {
        let mut watch = Needle::new(needle);
        let mut buf = vec![0u8; 64 * 1024];
        let mut total = 0u64;
        let deadline = Instant::now() + WAIT;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            let n = tokio::time::timeout(left, self.reader.read(&mut buf))
                .await
                .map_err(|_| "timeout".to_string())?
                .map_err(|e| e.to_string())?;
            if n == 0 {
                return Err("stream closed".into());
            }
            total += n as u64;
            if watch.found_in(&buf[..n]) {
                return Ok(total);
            }
        }
    }
}

async fn start_sandterm(url: &str) -> Result<(Duration, Client), String> {
    let began = Instant::now();
    let mut c = Client::connect(url, WAIT)
        .await
        .map_err(|e| e.to_string())?;
    c.input("echo $((40+2))\r")
        .await
        .map_err(|e| e.to_string())?;
    c.expect("42\r\n", WAIT).await.map_err(|e| e.to_string())?;
    Ok((began.elapsed(), c))
}

/// Cold starts through sandterm and through raw Docker, alternating so that both see the
/// same Docker state (image cache, load) over the run.
async fn start_latency_pair(
    url: &str,
    raw: &Raw,
    n: usize,
    gap: Duration,
) -> Result<Pair<Percentiles>, String> {
    let (mut ours, mut theirs) = (Vec::new(), Vec::new());
    for _ in 0..n {
        let (took, c) = start_sandterm(url).await?;
        ours.push(ms(took));
        c.close().await;
        tokio::time::sleep(gap).await;
        let began = Instant::now();
        let mut s = raw.open().await?;
        s.send("echo $((40+2))\r").await;
        s.until(b"42\r\n").await?;
        theirs.push(ms(began.elapsed()));
        raw.close(s).await;
        tokio::time::sleep(gap).await;
    }
    Ok(Pair {
        sandterm: Percentiles::of(ours),
        raw: Percentiles::of(theirs),
    })
}

async fn start_latency(url: &str, n: usize, gap: Duration) -> Result<Percentiles, String> {
    let mut samples = Vec::new();
    for _ in 0..n {
        let (took, c) = start_sandterm(url).await?;
        samples.push(ms(took));
        c.close().await;
        tokio::time::sleep(gap).await;
    }
    Ok(Percentiles::of(samples))
}

/// Keystroke echo through sandterm and through raw Docker, one key each in turn (the order
/// swapping every key), so that both see the same moments of the machine's load: a p99 is
/// a handful of samples, and one scheduling hiccup on one side would otherwise decide it.
async fn echo_latency_pair(url: &str, raw: &Raw, keys: usize) -> Result<Pair<Percentiles>, String> {
    let (_, mut c) = start_sandterm(url).await?;
    c.expect("$ ", WAIT).await.map_err(|e| e.to_string())?;
    let mut s = raw.open().await?;
    s.until(b"$ ").await?;
    let (mut ours, mut theirs) = (Vec::new(), Vec::new());
    for i in 0..keys {
        if i % 2 == 0 {
            ours.push(sandterm_key(&mut c, i).await?);
            theirs.push(raw_key(&mut s, i).await?);
        } else {
            theirs.push(raw_key(&mut s, i).await?);
            ours.push(sandterm_key(&mut c, i).await?);
        }
    }
    c.close().await;
    raw.close(s).await;
    Ok(Pair {
        sandterm: Percentiles::of(ours),
        raw: Percentiles::of(theirs),
    })
}

/// Types one key into a sandterm session and returns the milliseconds until its echo.
async fn sandterm_key(c: &mut Client, i: usize) -> Result<f64, String> {
    if i % 50 == 49 {
        // Clear the line so it never wraps.
        c.input("\x15").await.map_err(|e| e.to_string())?;
        tokio::time::sleep(Duration::from_millis(50)).await;
        while let Ok(event) = c.next_event(Duration::from_millis(20)).await {
            still_open(event)?;
        }
    }
    let before = c.transcript.len();
    let began = Instant::now();
    c.input("x").await.map_err(|e| e.to_string())?;
    while !c.transcript[before..].contains('x') {
        still_open(c.next_event(WAIT).await.map_err(|e| e.to_string())?)?;
    }
    Ok(ms(began.elapsed()))
}

/// A session that ended or reported an error (say, input over the server's --input-rate)
/// cannot echo: stop measuring rather than wait on it.
fn still_open(event: Event) -> Result<(), String> {
    match event {
        Event::Closed(close) => Err(format!("the server closed the session: {close:?}")),
        Event::Exit { code, .. } => Err(format!("the shell exited with {code}")),
        Event::Error { code, message } => Err(format!(
            "the server reported {}: {message} (raise its --input-rate for the bench)",
            code.as_str()
        )),
        _ => Ok(()),
    }
}

/// Types one key into a raw Docker attach and returns the milliseconds until its echo.
async fn raw_key(s: &mut RawSession, i: usize) -> Result<f64, String> {
    if i % 50 == 49 {
        s.send("\x15").await;
        tokio::time::sleep(Duration::from_millis(50)).await;
        let mut buf = [0u8; 4096];
        while let Ok(Ok(n)) =
            tokio::time::timeout(Duration::from_millis(20), s.reader.read(&mut buf)).await
        {
            if n == 0 {
                break;
            }
        }
    }
    let began = Instant::now();
    s.send("x").await;
    s.until(b"x").await?;
    Ok(ms(began.elapsed()))
}

/// What the shell prints when the stream is over (the command line itself shows `DONE$((1+1))`).
const DONE: &[u8] = b"DONE2";

fn stream_command(bytes: u64) -> String {
    format!("head -c {bytes} /dev/zero | tr '\\0' a; echo DONE$((1+1))\r")
}

/// Finds a needle in a stream that arrives in pieces. A piece may end anywhere, even inside
/// the needle: the shell's `echo` can meet a full pty and be written a few bytes at a time.
struct Needle {
    finder: memchr::memmem::Finder<'static>,
    /// The last bytes seen, short of a whole needle.
    tail: Vec<u8>,
}

impl Needle {
    fn new(needle: &'static [u8]) -> Needle {
        Needle {
            finder: memchr::memmem::Finder::new(needle),
            tail: Vec::new(),
        }
    }

    fn found_in(&mut self, piece: &[u8]) -> bool {
        let keep = self.finder.needle().len() - 1;
        // The needle may straddle: the old tail plus the start of this piece.
        self.tail.extend_from_slice(&piece[..piece.len().min(keep)]);
        if self.finder.find(&self.tail).is_some() || self.finder.find(piece).is_some() {
            return true;
        }
        if piece.len() >= keep {
            self.tail.clear();
            self.tail.extend_from_slice(&piece[piece.len() - keep..]);
        } else {
            let over = self.tail.len().saturating_sub(keep);
            self.tail.drain(..over);
        }
        false
    }
}

/// Returns (MB/s, server CPU s, dockerd CPU s).
async fn throughput(
    url: &str,
    bytes: u64,
    server_pid: Option<u32>,
) -> Result<(f64, Option<f64>, Option<f64>), String> {
    let (_, mut c) = start_sandterm(url).await?;
    c.expect("$ ", WAIT).await.map_err(|e| e.to_string())?;
    let dockerd = pid_of("dockerd");
    let cpu0 = server_pid.and_then(cpu_seconds);
    let d0 = dockerd.and_then(cpu_seconds);
    let began = Instant::now();
    c.input(&stream_command(bytes))
        .await
        .map_err(|e| e.to_string())?;
    // A lean read loop: the client must cost as little CPU as the raw baseline's does.
    let mut received = 0u64;
    let mut done = Needle::new(DONE);
    loop {
        let next = tokio::time::timeout(Duration::from_secs(600), c.socket().next())
            .await
            .map_err(|_| "throughput: timeout".to_string())?;
        match next {
            Some(Ok(Message::Text(text))) => {
                // Count the stream's bytes in the output's data only ("data" has two a's).
                if let Some(data) = text.as_str().strip_prefix(r#"{"type":"output","data":"#) {
                    received += data.bytes().filter(|b| *b == b'a').count() as u64;
                    if done.found_in(data.as_bytes()) {
                        break;
                    }
                }
            }
            Some(Ok(_)) => {}
            _ => return Err("throughput: connection closed".into()),
        }
    }
    let took = began.elapsed();
    let cpu = server_pid
        .and_then(cpu_seconds)
        .zip(cpu0)
        .map(|(a, b)| a - b);
    let docker_cpu = dockerd.and_then(cpu_seconds).zip(d0).map(|(a, b)| a - b);
    c.close().await;
    if received < bytes {
        return Err(format!("received {received} of {bytes} bytes"));
    }
    Ok((bytes as f64 / 1e6 / took.as_secs_f64(), cpu, docker_cpu))
}

async fn raw_throughput(raw: &Raw, bytes: u64) -> Result<(f64, Option<f64>), String> {
    let mut s = raw.open().await?;
    s.until(b"$ ").await?;
    let dockerd = pid_of("dockerd");
    let d0 = dockerd.and_then(cpu_seconds);
    let began = Instant::now();
    s.send(&stream_command(bytes)).await;
    let got = s.until(DONE).await?;
    let took = began.elapsed();
    let docker_cpu = dockerd.and_then(cpu_seconds).zip(d0).map(|(a, b)| a - b);
    raw.close(s).await;
    if got < bytes {
        return Err(format!("received {got} of {bytes} bytes"));
    }
    Ok((bytes as f64 / 1e6 / took.as_secs_f64(), docker_cpu))
}

/// One burst of `args.concurrent` sandterm sessions: (all ready, server RSS with them open,
/// all removed after close, containers left after 120 s).
async fn sandterm_burst(
    args: &Args,
    docker: &Docker,
) -> Result<(Duration, Option<f64>, Duration, usize), String> {
    let began = Instant::now();
    let tasks: Vec<_> = (0..args.concurrent)
        .map(|_| {
            let url = args.url.clone();
            tokio::spawn(async move { start_sandterm(&url).await })
        })
        .collect();
    let mut clients = Vec::new();
    for t in tasks {
        let (_, c) = t.await.map_err(|e| e.to_string())??;
        clients.push(c);
    }
    let all_ready = began.elapsed();
    tokio::time::sleep(Duration::from_millis(500)).await;
    let rss = args.server_pid.and_then(rss_mib);
    let closing = Instant::now();
    futures_util::stream::iter(clients)
        .for_each_concurrent(64, |c| c.close())
        .await;
    let ours = [
        (label::SERVICE, "sandterm"),
        (label::SERVER, args.server_name.as_str()),
    ];
    let mut leaked = usize::MAX;
    while closing.elapsed() < Duration::from_secs(120) {
        let left = docker
            .list_labelled(&ours)
            .await
            .map_err(|e| e.to_string())?;
        leaked = left
            .iter()
            .filter(|c| c.name.starts_with("terminal-"))
            .count();
        if leaked == 0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    Ok((all_ready, rss, closing.elapsed(), leaked))
}

/// One burst of `n` raw create+attach+start sessions: all ready. They are removed after.
async fn raw_burst(raw: &Arc<Raw>, n: usize) -> Result<Duration, String> {
    let began = Instant::now();
    let tasks: Vec<_> = (0..n)
        .map(|_| {
            let raw = raw.clone();
            tokio::spawn(async move {
                let mut s = raw.open().await?;
                s.send("echo $((40+2))\r").await;
                s.until(b"42\r\n").await?;
                Ok::<_, String>(s)
            })
        })
        .collect();
    let mut sessions = Vec::new();
    for t in tasks {
        sessions.push(t.await.map_err(|e| e.to_string())??);
    }
    let ready = began.elapsed();
    futures_util::stream::iter(sessions)
        .for_each_concurrent(32, |s| raw.close(s))
        .await;
    Ok(ready)
}

/// Bursts in the order sandterm, raw, raw, sandterm, so that a machine that speeds up or
/// slows down during the run favours neither side; times are the means of the two.
async fn concurrency(args: &Args, raw: &Arc<Raw>, docker: &Docker) -> Result<Concurrency, String> {
    let mut ours = Vec::new();
    let mut theirs = Vec::new();
    let mut report = Concurrency {
        sessions: args.concurrent,
        ..Concurrency::default()
    };
    for sandterm_first in [true, false] {
        for sandterm in [sandterm_first, !sandterm_first] {
            if sandterm {
                let (ready, rss, removed, leaked) = sandterm_burst(args, docker).await?;
                eprintln!("  sandterm all ready in {:.2} s", ready.as_secs_f64());
                ours.push(ready.as_secs_f64());
                report.server_rss_mib = match (report.server_rss_mib, rss) {
                    (Some(a), Some(b)) => Some(a.max(b)),
                    (a, b) => a.or(b),
                };
                report.sandterm_all_removed_s =
                    report.sandterm_all_removed_s.max(removed.as_secs_f64());
                report.leaked_containers += leaked;
            } else {
                let ready = raw_burst(raw, args.concurrent).await?;
                eprintln!("  raw all ready in {:.2} s", ready.as_secs_f64());
                theirs.push(ready.as_secs_f64());
            }
        }
    }
    report.sandterm_all_ready_s = ours.iter().sum::<f64>() / ours.len() as f64;
    report.raw_all_ready_s = theirs.iter().sum::<f64>() / theirs.len() as f64;
    Ok(report)
}

fn ratio(a: f64, b: f64) -> String {
    if b > 0.0 && a.is_finite() {
        format!("{:.2}", a / b)
    } else {
        "-".into()
    }
}

fn opt(v: Option<f64>, digits: usize) -> String {
    v.map(|v| format!("{v:.digits$}"))
        .unwrap_or_else(|| "-".into())
}

fn print_table(r: &Report) {
    println!(
        "{:<44} {:>12} {:>12} {:>8}",
        "measure", "sandterm", "raw docker", "ratio"
    );
    println!("{}", "-".repeat(79));
    let row = |name: &str, s: f64, raw: f64| {
        println!("{name:<44} {s:>12.2} {raw:>12.2} {:>8}", ratio(s, raw));
    };
    row(
        &format!("cold start p50 (ms, n={})", r.start_ms.sandterm.n),
        r.start_ms.sandterm.p50,
        r.start_ms.raw.p50,
    );
    row(
        "cold start p90 (ms)",
        r.start_ms.sandterm.p90,
        r.start_ms.raw.p90,
    );
    if let Some(w) = &r.warm_start_ms {
        row(
            &format!("warm-pool start p50 (ms, n={})", w.n),
            w.p50,
            r.start_ms.raw.p50,
        );
        row("warm-pool start p90 (ms)", w.p90, r.start_ms.raw.p90);
    }
    row(
        &format!("keystroke echo p50 (ms, n={})", r.echo_ms.sandterm.n),
        r.echo_ms.sandterm.p50,
        r.echo_ms.raw.p50,
    );
    row(
        "keystroke echo p99 (ms)",
        r.echo_ms.sandterm.p99,
        r.echo_ms.raw.p99,
    );
    row(
        "output throughput (MB/s)",
        r.throughput_mb_s.sandterm,
        r.throughput_mb_s.raw,
    );
    println!(
        "{:<44} {:>12} {:>12} {:>8}",
        "CPU s for the stream (sandterm / dockerd)",
        opt(r.server_cpu_s_per_stream, 2),
        opt(r.docker_cpu_s_per_stream.sandterm, 2),
        match (
            r.server_cpu_s_per_stream,
            r.docker_cpu_s_per_stream.sandterm
        ) {
            (Some(a), Some(b)) => ratio(a, b),
            _ => "-".into(),
        }
    );
    println!(
        "{:<44} {:>12} {:>12}",
        "dockerd CPU s for the raw stream",
        "",
        opt(r.docker_cpu_s_per_stream.raw, 2)
    );
    println!(
        "{:<44} {:>12}",
        "server RSS idle (MiB)",
        opt(r.idle_rss_mib, 1)
    );
    if let Some(c) = &r.concurrent {
        row(
            &format!("{} at once: all ready (s, mean of 2)", c.sessions),
            c.sandterm_all_ready_s,
            c.raw_all_ready_s,
        );
        println!(
            "{:<44} {:>12}",
            format!("server RSS with {} sessions (MiB)", c.sessions),
            opt(c.server_rss_mib, 1)
        );
        println!(
            "{:<44} {:>12.2}",
            "all containers removed after close (s)", c.sandterm_all_removed_s
        );
        println!("{:<44} {:>12}", "containers leaked", c.leaked_containers);
    }
}

#[tokio::main]
async fn main() {
    let args = Args::parse();
    let result = match Docker::new(&args.docker_host, Duration::from_secs(60)) {
        Ok(docker) => {
            let docker = Arc::new(docker);
            // What an interrupted earlier run left, then what this run leaves on any error.
            remove_raw_containers(&docker).await;
            let result = run(args, docker.clone()).await;
            remove_raw_containers(&docker).await;
            result
        }
        Err(e) => Err(e.to_string()),
    };
    if let Err(e) = result {
        eprintln!("sandterm-bench: {e}");
        std::process::exit(1);
    }
}

/// Removes the raw-baseline containers (the raw sessions remove theirs as they go).
async fn remove_raw_containers(docker: &Docker) {
    if let Ok(left) = docker
        .list_labelled(&[(label::SERVER, RAW_SERVER_LABEL)])
        .await
    {
        for c in left {
            let _ = docker.remove(&c.id).await;
        }
    }
}

async fn run(args: Args, docker: Arc<Docker>) -> Result<(), String> {
    let policy = Policy::load(&args.policy, true).map_err(|e| e.to_string())?;
    let raw = Arc::new(Raw {
        docker: docker.clone(),
        policy,
    });
    let gap = Duration::from_millis(args.gap_ms);
    let mut report = Report {
        idle_rss_mib: args.server_pid.and_then(rss_mib),
        ..Report::default()
    };
    eprintln!("start latency ({} sessions each)...", args.starts);
    report.start_ms = start_latency_pair(&args.url, &raw, args.starts, gap).await?;
    if let Some(warm) = &args.warm_url {
        // Let the pool fill first.
        tokio::time::sleep(Duration::from_secs(2)).await;
        report.warm_start_ms = Some(start_latency(warm, args.starts, gap).await?);
    }
    eprintln!("keystroke echo ({} keys each)...", args.keys);
    report.echo_ms = echo_latency_pair(&args.url, &raw, args.keys).await?;
    eprintln!(
        "throughput ({} x {} bytes each)...",
        args.stream_runs, args.stream_bytes
    );
    let (mut ours, mut theirs, mut cpus, mut dcpus, mut raw_dcpus) =
        (vec![], vec![], vec![], vec![], vec![]);
    for _ in 0..args.stream_runs.max(1) {
        let (mbs, cpu, dcpu) = throughput(&args.url, args.stream_bytes, args.server_pid).await?;
        ours.push(mbs);
        cpus.extend(cpu);
        dcpus.extend(dcpu);
        let (raw_mbs, raw_dcpu) = raw_throughput(&raw, args.stream_bytes).await?;
        eprintln!("  sandterm {mbs:.2} MB/s, raw {raw_mbs:.2} MB/s");
        theirs.push(raw_mbs);
        raw_dcpus.extend(raw_dcpu);
    }
    report.throughput_mb_s.sandterm = median(ours);
    report.throughput_mb_s.raw = median(theirs);
    report.server_cpu_s_per_stream = (!cpus.is_empty()).then(|| median(cpus));
    report.docker_cpu_s_per_stream.sandterm = (!dcpus.is_empty()).then(|| median(dcpus));
    report.docker_cpu_s_per_stream.raw = (!raw_dcpus.is_empty()).then(|| median(raw_dcpus));
    if args.concurrent > 0 {
        eprintln!("{} sessions at once...", args.concurrent);
        report.concurrent = Some(concurrency(&args, &raw, &docker).await?);
    }
    print_table(&report);
    if let Some(path) = &args.json {
        let text = serde_json::to_string_pretty(&report).map_err(|e| e.to_string())?;
        std::fs::write(path, text).map_err(|e| format!("{}: {e}", path.display()))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::Needle;

    /// Feeds `text` in pieces cut at `cuts` and says whether the needle was found, and in
    /// which piece.
    fn search(text: &[u8], cuts: &[usize]) -> Option<usize> {
        let mut watch = Needle::new(b"DONE2");
        let mut from = 0;
        for (i, &to) in cuts.iter().chain([text.len()].iter()).enumerate() {
            if watch.found_in(&text[from..to]) {
                return Some(i);
            }
            from = to;
        }
        None
    }

    #[test]
    fn a_needle_is_found_however_the_stream_is_cut() {
        let text = b"aaaaaaaaDONE2\r\n$ ";
        let at = 8;
        for a in 0..=text.len() {
            // One cut anywhere: found in the piece where the needle ends.
            let expected = usize::from(a > at + 4);
            assert_eq!(search(text, &[a]), Some(1 - expected), "cut at {a}");
            // Two cuts anywhere, so that pieces of one byte or none come up too.
            for b in a..=text.len() {
                let end = at + 5;
                let expected = if end <= a {
                    0
                } else if end <= b {
                    1
                } else {
                    2
                };
                assert_eq!(search(text, &[a, b]), Some(expected), "cuts at {a}, {b}");
            }
        }
    }

    #[test]
    fn a_needle_split_by_other_bytes_is_not_found() {
        for cut in 0..=12 {
            assert_eq!(search(b"aaDONaE2DONE", &[cut]), None, "cut at {cut}");
        }
        // Byte by byte, in one-byte pieces.
        let text = b"xxDONE2";
        let cuts: Vec<usize> = (1..text.len()).collect();
        assert_eq!(search(text, &cuts), Some(text.len() - 1));
    }
}
