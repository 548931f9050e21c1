//! The terminal page in a real headless Chromium against a real server (the steps are in
//! integration/browser/terminal.test.mjs; run.sh installs Chromium and playwright-core).

mod common;

use common::*;
use std::process::Command;

#[test]
fn the_page_works_in_a_real_browser() {
    if std::env::var("SANDTERM_SKIP_BROWSER").as_deref() == Ok("1") {
        eprintln!("SANDTERM_SKIP_BROWSER=1: browser test not run");
        return;
    }
    let server = Server::start(Options::new());
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/integration/browser/run.sh");
    let status = Command::new("bash")
        .arg(script)
        .env("SANDTERM_URL", server.http_url("/"))
        .env("SANDTERM_SERVER_NAME", &server.name)
        .status()
        .expect("bash runs");
    assert!(
        status.success(),
        "browser test failed ({status}); screenshot in integration/artifacts/, server log:\n{}",
        server.log_text()
    );
    server.assert_no_containers(WAIT);
}
