// Browser test: drives the real page in headless Chromium against a running sandterm server
// and checks what a person would see, plus the containers Docker reports.
//
//   SANDTERM_URL=http://127.0.0.1:3900/ SANDTERM_SERVER_NAME=webdev node terminal.test.mjs
//
// Prints one line per step; exits non-zero on the first failure.

import { chromium } from "playwright-core";
import { execFileSync } from "node:child_process";
import http from "node:http";
import net from "node:net";
import { mkdirSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const BASE = process.env.SANDTERM_URL ?? "http://127.0.0.1:3000/";
const SERVER_NAME = process.env.SANDTERM_SERVER_NAME;
const CHROMIUM = process.env.CHROMIUM ?? "/usr/bin/chromium";
const ARTIFACTS = join(dirname(fileURLToPath(import.meta.url)), "..", "artifacts");
const WAIT = 30_000; // generous: container start-up on a small CI machine

if (!SERVER_NAME) {
  console.log("FAIL setup: set SANDTERM_SERVER_NAME to the server's --server-name");
  process.exit(2);
}

let current = "";
async function step(name, fn) {
  current = name;
  const started = Date.now();
  const note = await fn();
  console.log(`ok   ${name} (${Date.now() - started} ms)${note ? ` — ${note}` : ""}`);
}

function check(condition, message) {
  if (!condition) throw new Error(message);
}

async function until(what, fn, timeout = WAIT, interval = 100) {
  const deadline = Date.now() + timeout;
  for (;;) {
    const value = await fn();
    if (value) return value;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeout} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, interval));
  }
}

function containers() {
  const out = execFileSync("docker", ["ps", "-a", "--filter", `label=sandterm.server=${SERVER_NAME}`,
    "--format", "{{.Names}}"], { encoding: "utf8" });
  return out.split("\n").filter(Boolean);
}

// A fresh profile every run, so no cache or permission carries over.
const userDataDir = mkdtempSync(join(tmpdir(), "sandterm-chromium-"));
let context;
let page;
try {
  context = await chromium.launchPersistentContext(userDataDir, {
    executablePath: CHROMIUM,
    args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
      "--disable-background-networking", "--disable-component-update", "--disable-sync"],
    viewport: { width: 1100, height: 700 },
  });
  await run();
  console.log("all browser checks passed");
} catch (err) {
  console.log(`FAIL ${current || "launch chromium"}: ${err.message.split("\n")[0]}`);
  process.exitCode = 1;
  // What the page showed, for whoever reads the CI log.
  if (page && !page.isClosed()) {
    const status = await page.locator("#status-text").textContent({ timeout: 1000 }).catch(() => "?");
    console.log(`     status bar: ${status}`);
    await page.screenshot({ path: join(mkdirp(ARTIFACTS), "browser-failure.png") }).catch(() => {});
  }
} finally {
  await context?.close().catch(() => {});
  rmSync(userDataDir, { recursive: true, force: true });
}

async function run() {
  const origin = new URL(BASE).origin;
  await context.grantPermissions(["clipboard-read", "clipboard-write"], { origin });
  page = context.pages()[0] ?? await context.newPage();

  const pageErrors = [];
  page.on("pageerror", (err) => pageErrors.push(err.message));
  page.on("console", (msg) => {
    if (msg.type() === "error") pageErrors.push(msg.text());
  });

  // Every frame the page sends, to check message shapes and sizes.
  const sockets = [];
  const sent = [];
  page.on("websocket", (ws) => {
    sockets.push(ws.url());
    ws.on("framesent", ({ payload }) => sent.push(String(payload)));
  });
  const sentOfType = (type) => sent.filter((f) => JSON.parse(f).type === type);

  // Buffer helpers over xterm.js's buffer API (the page exposes window.sandterm).
  const screen = () => page.evaluate(() => {
    const buffer = window.sandterm.terminal.buffer.active;
    const lines = [];
    for (let i = 0; i < buffer.length; i++) lines.push(buffer.getLine(i).translateToString(true));
    return lines.join("\n");
  });
  const lineBeforeCursor = () => page.evaluate(() => {
    const buffer = window.sandterm.terminal.buffer.active;
    return buffer.getLine(buffer.baseY + buffer.cursorY)?.translateToString(false, 0, buffer.cursorX) ?? "";
  });
  const waitForPrompt = () => until("the shell prompt ($ )", async () => (await lineBeforeCursor()).endsWith("$ "));
  const waitForText = (pattern, timeout) => until(`${pattern} in the terminal`, async () => {
    const text = await screen();
    return typeof pattern === "string" ? text.includes(pattern) && text : text.match(pattern);
  }, timeout);
  const status = () => page.locator("#status-text").textContent();
  const type = async (text) => {
    await page.keyboard.type(text);
    await page.keyboard.press("Enter");
  };
  const termSize = () => page.evaluate(() => [window.sandterm.terminal.rows, window.sandterm.terminal.cols]);

  let session;
  await step("page loads and a session starts", async () => {
    const response = await page.goto(BASE);
    check(response.ok(), `GET ${BASE} answered ${response.status()}`);
    await page.waitForFunction(() => window.sandterm?.sessionId, null, { timeout: WAIT });
    session = await page.evaluate(() => ({ id: window.sandterm.sessionId, container: window.sandterm.container }));
    check(/^terminal-/.test(session.container), `unexpected container name ${session.container}`);
    const expected = new URL("ws", BASE).href.replace(/^http/, "ws");
    check(sockets[0] === expected, `page opened ${sockets[0]}, expected ${expected}`);
    return `session ${session.id}, ${session.container}`;
  });

  await step("status bar shows connected with the session id", async () => {
    await until("connected status", async () => (await status()).includes(session.id));
    return await status();
  });

  await step("shell prompt appears, docker ps lists the container", async () => {
    await waitForPrompt();
    check(containers().includes(session.container), `docker ps does not list ${session.container}`);
    return JSON.stringify((await lineBeforeCursor()).trim());
  });

  await step("typed command runs (echo hello-$((6*7)) → hello-42)", async () => {
    await page.locator("#terminal").click();
    await type("echo hello-$((6*7))");
    await waitForText(/^hello-42$/m);
    await waitForPrompt();
  });

  await step("TERM, Unicode and 256 colours", async () => {
    await type("echo term=$TERM; printf 'uni-\\u00fc\\u6f22-end \\033[38;5;208mcolour208\\033[0m\\n'");
    await waitForText("term=xterm-256color");
    await waitForText("uni-ü漢-end colour208");
    const cell = await page.evaluate(() => {
      const buffer = window.sandterm.terminal.buffer.active;
      for (let i = buffer.length - 1; i >= 0; i--) {
        const line = buffer.getLine(i);
        const at = line.translateToString(true).indexOf("colour208");
        // Column differs from string index: 漢 is two cells wide.
        if (at >= 0 && !line.translateToString(true).includes("printf")) {
          const cell = line.getCell(at + 1);
          return { chars: cell.getChars(), palette: cell.isFgPalette(), fg: cell.getFgColor() };
        }
      }
      return null;
    });
    check(cell && cell.chars === "c" && cell.palette && cell.fg === 208,
      `expected 'c' in palette colour 208, got ${JSON.stringify(cell)}`);
    await waitForPrompt();
  });

  await page.screenshot({ path: join(mkdirp(ARTIFACTS), "browser.png") });

  // `size=R C` cannot match the echoed command line, only its output.
  const sttySize = async () => {
    const before = (await screen()).match(/^size=\d+ \d+$/gm)?.length ?? 0;
    await type("echo size=$(stty size)");
    await until("stty size output", async () => ((await screen()).match(/^size=\d+ \d+$/gm)?.length ?? 0) > before);
    const all = (await screen()).match(/^size=(\d+) (\d+)$/gm);
    const [, rows, cols] = all.at(-1).match(/(\d+) (\d+)/);
    await waitForPrompt();
    return [Number(rows), Number(cols)];
  };
  const sttyMatches = async () => {
    // The pty resize and the command race inside the server; ask again until they agree.
    let last;
    await until("stty size to match the terminal", async () => {
      const want = await termSize();
      last = [await sttySize(), want];
      return last[0][0] === want[0] && last[0][1] === want[1];
    }, 10_000, 200).catch(() => {
      throw new Error(`stty size says ${last[0].join("x")}, terminal is ${last[1].join("x")}`);
    });
    return last[0];
  };

  await step("stty size matches the fitted terminal", async () => {
    const [rows, cols] = await sttyMatches();
    check(sentOfType("resize").length > 0, "no resize frame was sent");
    return `${rows} rows x ${cols} cols`;
  });

  await step("window resize reaches the shell", async () => {
    const before = await termSize();
    await page.setViewportSize({ width: 760, height: 460 });
    await until("the terminal to refit", async () => {
      const now = await termSize();
      return now[0] < before[0] && now[1] < before[1];
    });
    const [rows, cols] = await sttyMatches();
    return `${before.join("x")} → ${rows}x${cols}`;
  });

  await step("selecting with the mouse copies", async () => {
    await page.evaluate(() => navigator.clipboard.writeText("nothing yet"));
    // Double-click the word "hello-42" on the screen: find its cell, then its pixels.
    const at = await page.evaluate(() => {
      const terminal = window.sandterm.terminal;
      const buffer = terminal.buffer.active;
      for (let y = 0; y < terminal.rows; y++) {
        const line = buffer.getLine(buffer.viewportY + y)?.translateToString(true);
        if (line === "hello-42") {
          const screen = document.querySelector(".xterm-screen").getBoundingClientRect();
          const w = screen.width / terminal.cols;
          const h = screen.height / terminal.rows;
          return { x: screen.left + 3.5 * w, y: screen.top + (y + 0.5) * h };
        }
      }
      return null;
    });
    check(at, "hello-42 is not on the screen");
    await page.mouse.dblclick(at.x, at.y);
    await until("the clipboard to hold the selected word", async () =>
      (await page.evaluate(() => navigator.clipboard.readText())) === "hello-42", 5000);
    await page.evaluate(() => window.sandterm.terminal.clearSelection());
  });

  await step("selection copies with Ctrl+Shift+C", async () => {
    await page.evaluate(() => navigator.clipboard.writeText("nothing yet"));
    await page.evaluate(() => window.sandterm.terminal.selectAll());
    await page.keyboard.press("Control+Shift+C");
    const copied = await until("the clipboard to hold the selection", async () => {
      const text = await page.evaluate(() => navigator.clipboard.readText());
      return text.includes("hello-42") && text;
    }, 5000);
    await page.evaluate(() => window.sandterm.terminal.clearSelection());
    return `${copied.length} characters copied`;
  });

  await step("Ctrl+Shift+V pastes the clipboard", async () => {
    await page.evaluate(() => navigator.clipboard.writeText("echo pasted-$((40+2))"));
    await page.keyboard.press("Control+Shift+V");
    await until("the pasted command line", async () => (await lineBeforeCursor()).includes("echo pasted-$((40+2))"), 5000);
    await page.keyboard.press("Enter");
    await waitForText(/^pasted-42$/m);
    await waitForPrompt();
  });

  await step("a 100 KB paste arrives whole, split into small frames", async () => {
    const size = 100_000;
    sent.length = 0;
    // Raw mode without echo, so the shell's line limit and redraw do not get in the way.
    await type("stty -icanon -echo; head -c 100000 | wc -c; stty sane");
    await page.waitForTimeout(300);
    await page.evaluate((size) => {
      const data = new DataTransfer();
      data.setData("text/plain", "x".repeat(size - 1) + "\"");
      const textarea = document.querySelector(".xterm-helper-textarea");
      textarea.dispatchEvent(new ClipboardEvent("paste", { clipboardData: data, bubbles: true, cancelable: true }));
    }, size);
    await waitForText(new RegExp(`^${size}$`, "m"));
    await waitForPrompt();
    const sizes = sentOfType("input").map((f) => new TextEncoder().encode(f).length);
    const largest = Math.max(...sizes);
    check(largest <= 16 * 1024 + 64, `an input frame was ${largest} bytes`);
    const pasted = sizes.filter((n) => n > 1024).length; // the rest are keystrokes
    check(pasted >= Math.ceil(size / (16 * 1024)), `only ${pasted} large input frames`);
    return `${pasted} paste frames, largest ${largest} bytes`;
  });

  await step("a flood into a slow terminal pauses and resumes output", async () => {
    // xterm.js in headless Chromium parses faster than the sandbox prints, so simulate a
    // slow machine: acknowledge each write 300 ms late. The watermarks must then pause
    // the server and resume it, and the page must stay usable afterwards.
    await page.evaluate(() => {
      const terminal = window.sandterm.terminal;
      const write = terminal.write.bind(terminal);
      window.slowWrites = { outstanding: 0, max: 0 };
      terminal.write = (data, callback) => {
        const stats = window.slowWrites;
        stats.outstanding += data.length;
        stats.max = Math.max(stats.max, stats.outstanding);
        write(data, () => setTimeout(() => {
          stats.outstanding -= data.length;
          callback?.();
        }, 300));
      };
    });
    sent.length = 0;
    await type("yes 'flood flood flood flood flood flood flood flood' | head -n 100000; echo flood-done-$((2*3))");
    await waitForText(/^flood-done-6$/m, 120_000);
    await waitForPrompt();
    await until("every write to be acknowledged", () => page.evaluate(() => window.slowWrites.outstanding === 0), 10_000);
    const max = await page.evaluate(() => {
      delete window.sandterm.terminal.write; // back to the prototype's method
      return window.slowWrites.max;
    });
    const pauses = sentOfType("pause").length;
    const resumes = sentOfType("resume").length;
    check(pauses > 0, "no pause frame was sent");
    check(pauses === resumes, `${pauses} pause but ${resumes} resume frames`);
    await type("echo after-$((3*3))");
    await waitForText(/^after-9$/m, 10_000);
    return `${pauses} pause/resume pairs, at most ${(max / 1024 / 1024).toFixed(1)} MiB unprocessed`;
  });

  await step("full-screen programs: vi edits a file, top draws and quits", async () => {
    const bufferType = () => page.evaluate(() => window.sandterm.terminal.buffer.active.type);
    await type("vi /tmp/notes.txt");
    await until("vi on the alternate screen", async () => (await bufferType()) === "alternate");
    await waitForText("/tmp/notes.txt");
    await page.keyboard.type("ihello from vi");
    await page.keyboard.press("Escape");
    await page.screenshot({ path: join(ARTIFACTS, "browser-vi.png") });
    await type(":wq");
    await until("back on the normal screen", async () => (await bufferType()) === "normal");
    await waitForPrompt();
    await type("cat /tmp/notes.txt");
    await waitForText(/^hello from vi$/m);
    await waitForPrompt();
    // procps top redraws the normal screen in place (no alternate screen).
    await type("clear; top -d 0.5");
    await waitForText(/Tasks:\s+\d+ total/);
    await waitForText(/PID\s+USER/);
    await page.keyboard.press("q");
    await waitForPrompt();
  });

  await step("exit ends the session with the exit code in the status bar", async () => {
    await type("exit 3");
    await until("the ended status", async () => (await status()).includes("shell exited with code 3"), WAIT);
    const state = await page.evaluate(() => window.sandterm.state);
    check(state === "ended", `state is ${state}`);
    return await status();
  });

  await step("the session's container is removed", async () => {
    await until(`${session.container} to disappear from docker ps`, () => !containers().includes(session.container), 10_000, 250);
  });

  await page.screenshot({ path: join(ARTIFACTS, "browser-ended.png") });

  await step("New session starts a fresh container", async () => {
    await page.locator("#new-session").click();
    await page.waitForFunction((old) => window.sandterm.sessionId && window.sandterm.sessionId !== old, session.id, { timeout: WAIT });
    const next = await page.evaluate(() => ({ id: window.sandterm.sessionId, container: window.sandterm.container }));
    check(next.container !== session.container, "the new session reused the old container");
    await waitForPrompt();
    await page.keyboard.type("echo again-$((5*5))");
    await page.keyboard.press("Enter");
    await waitForText(/^again-25$/m);
    session = next;
    return next.container;
  });

  await step("closing the page removes the container", async () => {
    await page.close();
    await until(`${session.container} to disappear from docker ps`, () => !containers().includes(session.container), 10_000, 250);
  });

  await step("the page works under a path prefix (/sandbox/ behind a proxy)", async () => {
    const proxy = await prefixProxy("/sandbox", new URL(BASE));
    try {
      const prefixed = await context.newPage();
      const urls = [];
      prefixed.on("websocket", (ws) => urls.push(ws.url()));
      const front = `http://127.0.0.1:${proxy.address().port}/sandbox/`;
      await prefixed.goto(front);
      await prefixed.waitForFunction(() => window.sandterm?.sessionId, null, { timeout: WAIT });
      const container = await prefixed.evaluate(() => window.sandterm.container);
      check(urls[0] === front.replace(/^http/, "ws") + "ws", `page opened ${urls[0]}`);
      await prefixed.waitForFunction(() => {
        const b = window.sandterm.terminal.buffer.active;
        return b.getLine(b.baseY + b.cursorY).translateToString(false, 0, b.cursorX).endsWith("$ ");
      }, null, { timeout: WAIT });
      await prefixed.close();
      await until(`${container} to disappear from docker ps`, () => !containers().includes(container), 10_000, 250);
      return urls[0];
    } finally {
      proxy.close();
    }
  });

  const probe = await context.newPage();
  await step("URL derivation and input splitting (unit checks in the page)", async () => {
    await probe.goto(new URL("style.css", BASE).href); // any same-origin page will do
    const results = await probe.evaluate(async (moduleUrl) => {
      const m = await import(moduleUrl);
      const quotes = '"'.repeat(40_000);
      const chunks = m.splitInput(quotes + "🙂".repeat(10_000));
      return {
        prefixed: m.websocketUrl("https://h/sandbox/index.html"),
        directory: m.websocketUrl("https://h/sandbox/"),
        plain: m.websocketUrl("http://h:8080/", "a b"),
        rejoined: chunks.join("") === quotes + "🙂".repeat(10_000),
        largest: Math.max(...chunks.map((c) => new TextEncoder().encode(JSON.stringify({ type: "input", data: c })).length)),
        typing: m.splitInput("ls\r").length,
      };
    }, new URL("sandterm.js", BASE).href);
    check(results.prefixed === "wss://h/sandbox/ws", `https://h/sandbox/index.html → ${results.prefixed}`);
    check(results.directory === "wss://h/sandbox/ws", `https://h/sandbox/ → ${results.directory}`);
    check(results.plain === "ws://h:8080/ws?token=a+b", `http://h:8080/ with a token → ${results.plain}`);
    check(results.rejoined, "split input does not rejoin to the original");
    check(results.largest <= 16 * 1024 + 64, `a split input frame is ${results.largest} bytes`);
    check(results.typing === 1, "a keystroke was split");
    return `${results.prefixed}, largest frame ${results.largest} bytes`;
  });

  await step("no JavaScript errors on the page", async () => {
    check(pageErrors.length === 0, pageErrors.join(" | "));
  });
}

// A minimal reverse proxy that serves `upstream` under `prefix`, WebSockets included, like
// nginx's `location /sandbox/ { proxy_pass http://upstream/; }`.
function prefixProxy(prefix, upstream) {
  const strip = (path) => path.slice(prefix.length) || "/";
  const server = http.createServer((req, res) => {
    if (!req.url.startsWith(prefix + "/")) {
      res.writeHead(404).end();
      return;
    }
    const forward = http.request({ host: upstream.hostname, port: upstream.port, method: req.method,
      path: strip(req.url), headers: req.headers }, (answer) => {
      res.writeHead(answer.statusCode, answer.headers);
      answer.pipe(res);
    });
    forward.on("error", () => res.destroy());
    req.pipe(forward);
  });
  server.on("upgrade", (req, client, head) => {
    const backend = net.connect(upstream.port, upstream.hostname, () => {
      const headers = Object.entries(req.headers).map(([k, v]) => `${k}: ${v}\r\n`).join("");
      backend.write(`${req.method} ${strip(req.url)} HTTP/1.1\r\n${headers}\r\n`);
      backend.write(head);
      client.pipe(backend).pipe(client);
    });
    const drop = () => { client.destroy(); backend.destroy(); };
    backend.on("error", drop);
    client.on("error", drop);
  });
  return new Promise((resolve) => server.listen(0, "127.0.0.1", () => resolve(server)));
}

function mkdirp(dir) {
  mkdirSync(dir, { recursive: true });
  return dir;
}
