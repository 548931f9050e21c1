//! Test harness: starts the real `sandterm` binary against the real Docker engine.
//!
//! Each server gets its own `--server-name`, so tests running in parallel never see (or
//! reap) each other's containers, and every container check lists Docker's containers by
//! that label rather than trusting the server.

#![allow(dead_code)]

use std::collections::BTreeMap;
use std::io::Read;
use std::path::PathBuf;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

#[allow(unused_imports)]
pub use sandterm::client::{Client, Event};

pub const IMAGE: &str = "sandterm/sandbox:latest";
/// Generous: CI machines are small and Docker create+start takes ~0.2-1 s under load.
pub const WAIT: Duration = Duration::from_secs(30);
pub const ADMIN_TOKEN: &str = "test-admin-token-0123456789";

pub fn docker(args: &[&str]) -> (bool, String) {
    let out = Command::new("docker")
        .args(args)
        .output()
        .expect("the docker CLI runs");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success(), text)
}

pub fn ensure_image() {
    let (ok, _) = docker(&["image", "inspect", IMAGE]);
    assert!(
        ok,
        "the sandbox image {IMAGE} is missing: build it with `sudo hardening/build-image.sh` (CI does this in .ci/run)"
    );
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

fn artifacts() -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("integration/artifacts");
    let _ = std::fs::create_dir_all(&dir);
    dir
}

/// Options for a test server; each key is a `--flag` without the dashes.
pub struct Options {
    args: BTreeMap<String, String>,
    env: Vec<(String, String)>,
    name: String,
}

impl Default for Options {
    fn default() -> Self {
        Options::new()
    }
}

impl Options {
    pub fn new() -> Options {
        let name = format!("test-{}", &uuid::Uuid::new_v4().simple().to_string()[..10]);
        let mut args = BTreeMap::new();
        args.insert("server-name".into(), name.clone());
        args.insert("admin-token".into(), ADMIN_TOKEN.into());
        args.insert("pool-size".into(), "0".into());
        args.insert("max-sessions-per-ip".into(), "100".into());
        args.insert("session-rate".into(), "1000".into());
        args.insert("shutdown-timeout".into(), "20s".into());
        Options {
            args,
            env: Vec::new(),
            name,
        }
    }

    pub fn arg(mut self, key: &str, value: &str) -> Options {
        if key == "server-name" {
            self.name = value.to_string();
        }
        self.args.insert(key.into(), value.into());
        self
    }

    pub fn env(mut self, key: &str, value: &str) -> Options {
        self.env.push((key.into(), value.into()));
        self
    }

    pub fn name(&self) -> &str {
        &self.name
    }
}

pub struct Server {
    child: Option<Child>,
    pub port: u16,
    pub name: String,
    pub log: PathBuf,
}

impl Server {
    pub fn start(options: Options) -> Server {
        ensure_image();
        for _ in 0..3 {
            if let Some(server) = Server::try_start(&options) {
                return server;
            }
        }
        panic!("the server did not start; see the logs in integration/artifacts/");
    }

    /// Starts the binary and returns it once /healthz answers; None if the port was taken.
    fn try_start(options: &Options) -> Option<Server> {
        let port = free_port();
        let log = artifacts().join(format!("{}-{port}.log", options.name));
        let file = std::fs::File::create(&log).expect("log file");
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_sandterm"));
        cmd.arg("--listen").arg(format!("127.0.0.1:{port}"));
        for (k, v) in &options.args {
            cmd.arg(format!("--{k}")).arg(v);
        }
        cmd.env("RUST_LOG", "info,sandterm=debug")
            .envs(options.env.iter().map(|(k, v)| (k, v)))
            .stdout(Stdio::null())
            .stderr(file);
        let child = cmd.spawn().expect("sandterm starts");
        let mut server = Server {
            child: Some(child),
            port,
            name: options.name.clone(),
            log,
        };
        let deadline = Instant::now() + Duration::from_secs(15);
        while Instant::now() < deadline {
            if let Some(status) = server
                .child
                .as_mut()
                .and_then(|c| c.try_wait().ok().flatten())
            {
                let log = server.log_text();
                server.child = None;
                if log.contains("cannot listen") {
                    return None;
                }
                panic!("sandterm exited early ({status}):\n{log}");
            }
            if let Ok((200, _)) = server.get("/healthz") {
                return Some(server);
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        panic!("sandterm did not answer /healthz:\n{}", server.log_text());
    }

    pub fn url(&self) -> String {
        format!("ws://127.0.0.1:{}/ws", self.port)
    }

    pub fn http_url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.port)
    }

    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    fn agent() -> ureq::Agent {
        ureq::Agent::config_builder()
            .http_status_as_error(false)
            .timeout_global(Some(Duration::from_secs(30)))
            .build()
            .into()
    }

    /// GET with no auth: (status, body).
    pub fn get(&self, path: &str) -> Result<(u16, String), String> {
        self.request("GET", path, None, None)
    }

    /// A request with an optional bearer token and body: (status, body).
    pub fn request(
        &self,
        method: &str,
        path: &str,
        bearer: Option<&str>,
        body: Option<&str>,
    ) -> Result<(u16, String), String> {
        self.request_with(
            method,
            path,
            &bearer
                .map(|t| ("Authorization", format!("Bearer {t}")))
                .into_iter()
                .collect::<Vec<_>>(),
            body,
        )
    }

    pub fn request_with(
        &self,
        method: &str,
        path: &str,
        headers: &[(&str, String)],
        body: Option<&str>,
    ) -> Result<(u16, String), String> {
        let agent = Server::agent();
        let url = self.http_url(path);
        let mut builder = ureq::http::Request::builder().method(method).uri(url);
        for (k, v) in headers {
            builder = builder.header(*k, v.as_str());
        }
        let request = builder
            .body(body.unwrap_or("").to_string())
            .map_err(|e| e.to_string())?;
        let mut response = agent.run(request).map_err(|e| e.to_string())?;
        let status = response.status().as_u16();
        let mut text = String::new();
        let _ = response.body_mut().as_reader().read_to_string(&mut text);
        Ok((status, text))
    }

    /// Names of Docker containers labelled with this server's name.
    pub fn containers(&self) -> Vec<String> {
        containers_of(&self.name)
    }

    /// Waits until Docker lists none of this server's session containers.
    pub fn assert_no_containers(&self, within: Duration) {
        let deadline = Instant::now() + within;
        loop {
            let left = self.containers();
            if left.is_empty() {
                return;
            }
            if Instant::now() > deadline {
                panic!(
                    "containers left behind after {within:?}: {left:?}\nserver log:\n{}",
                    self.log_text()
                );
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    pub fn pid(&self) -> u32 {
        self.child.as_ref().map(|c| c.id()).unwrap_or(0)
    }

    pub fn signal(&self, signal: &str) {
        let status = Command::new("kill")
            .args([format!("-{signal}"), self.pid().to_string()])
            .status()
            .expect("kill runs");
        assert!(status.success());
    }

    /// Waits for the process to exit.
    pub fn wait_exit(&mut self, within: Duration) -> ExitStatus {
        let deadline = Instant::now() + within;
        let child = self.child.as_mut().expect("server running");
        loop {
            if let Ok(Some(status)) = child.try_wait() {
                self.child = None;
                return status;
            }
            if Instant::now() > deadline {
                panic!(
                    "server did not exit within {within:?}:\n{}",
                    self.log_text()
                );
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// SIGKILL, leaving whatever the server had behind.
    pub fn kill9(&mut self) {
        self.signal("KILL");
        self.wait_exit(Duration::from_secs(5));
    }

    /// A session once capacity frees up: a slot is released only when Docker has confirmed
    /// the removal of the container that held it, a moment after `docker ps` stops
    /// listing it.
    pub async fn client_when_room(&self) -> Client {
        let deadline = Instant::now() + WAIT;
        loop {
            match Client::connect(&self.url(), WAIT).await {
                Ok(c) => return c,
                Err(e) if e.to_string().contains("capacity") && Instant::now() < deadline => {
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
                Err(e) => panic!("session failed: {e}\nserver log:\n{}", self.log_text()),
            }
        }
    }

    pub async fn client(&self) -> Client {
        Client::connect(&self.url(), WAIT)
            .await
            .unwrap_or_else(|e| panic!("session failed: {e}\nserver log:\n{}", self.log_text()))
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            // Stop it as an operator would: a graceful stop also removes the containers whose
            // create is still in flight (a test that fails mid-burst), which a SIGKILL and a
            // `docker ps` sweep miss. SIGKILL only if it hangs.
            let _ = Command::new("kill")
                .args(["-TERM", &child.id().to_string()])
                .status();
            let deadline = Instant::now() + Duration::from_secs(10);
            while matches!(child.try_wait(), Ok(None)) && Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(20));
            }
            let _ = child.kill();
            let _ = child.wait();
        }
        remove_containers_of(&self.name);
        remove_name_lock(&self.name);
    }
}

/// Removes the file a server claims its name with once no server holds it, so test runs,
/// with a new name per server, leave no files in the temp directory.
fn remove_name_lock(server_name: &str) {
    let path = sandterm::server::name_lock_path(server_name);
    if let Ok(file) = std::fs::File::open(&path)
        && file.try_lock().is_ok()
    {
        let _ = std::fs::remove_file(&path);
    }
}

pub fn containers_of(server_name: &str) -> Vec<String> {
    let filter = format!("label=sandterm.server={server_name}");
    let (ok, out) = docker(&["ps", "-a", "--filter", &filter, "--format", "{{.Names}}"]);
    assert!(ok, "docker ps failed: {out}");
    out.lines()
        .map(str::to_string)
        .filter(|l| !l.is_empty())
        .collect()
}

/// Test cleanup only: the assertions above are what check that the server cleans up.
pub fn remove_containers_of(server_name: &str) {
    for name in containers_of(server_name) {
        let _ = docker(&["rm", "-f", &name]);
    }
}

/// `docker inspect` of one container as JSON.
pub fn inspect(name: &str) -> serde_json::Value {
    let (ok, out) = docker(&["inspect", name]);
    assert!(ok, "docker inspect {name}: {out}");
    let mut list: Vec<serde_json::Value> = serde_json::from_str(&out).expect("inspect JSON");
    list.remove(0)
}

/// Opens a session the server is expected to end, and returns what it said: the error that
/// came instead of a `session` frame, or every event up to the close.
pub async fn ended_session_text(url: &str) -> String {
    let socket = sandterm::client::connect_socket(url, None)
        .await
        .expect("the WebSocket opens");
    match Client::from_socket(socket, WAIT).await {
        Err(e) => e.to_string(),
        Ok(mut c) => format!(
            "{:?}",
            c.until_closed(WAIT).await.expect("the session ends")
        ),
    }
}

/// Resident memory of a process, from /proc.
pub fn rss_kib(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmRSS:"))
                .and_then(|l| l.split_whitespace().nth(1).and_then(|v| v.parse().ok()))
        })
        .expect("VmRSS of a running process")
}

/// Open file descriptors of a process, from /proc.
pub fn open_fds(pid: u32) -> usize {
    std::fs::read_dir(format!("/proc/{pid}/fd"))
        .map(|d| d.count())
        .expect("/proc/<pid>/fd of a running process")
}

pub fn container_exists(name: &str) -> bool {
    docker(&["inspect", "--format", "{{.Id}}", name]).0
}
