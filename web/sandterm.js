/**
 * sandterm.js — an embeddable browser client for a sandterm server.
 *
 * Each mount opens one WebSocket (protocol v1); the server gives that socket its own
 * disposable container with a shell on a TTY, and this module shows it in xterm.js.
 *
 *   import { mount } from "/sandterm.js";
 *
 *   const t = mount(document.getElementById("term"), {
 *     token,                      // token mode: a string, or an async function returning one
 *     onStatus: (s) => console.log(s.state, s.text),
 *   });
 *   t.addEventListener("exit", (e) => console.log("exit code", e.detail.code));
 *
 * Options (all optional):
 *   url         WebSocket URL. Default: "ws" next to this module (ws: for http, wss: for
 *               https), so a server mounted under a path prefix works unchanged.
 *   token       Connect token from `POST /api/sessions`, appended as `?token=`. A function
 *               (sync or async) is called for every new session, since tokens are single-use.
 *   fontSize, fontFamily, theme, scrollback   passed to xterm.js.
 *   terminalOptions   any other xterm.js options.
 *   restartOnEnter    after a session ended, Enter starts a new one (default true).
 *   onSession, onStatus, onExit, onError, onClose   shorthand for the events below;
 *               each receives the event's `detail`.
 *
 * The returned Sandterm object is an EventTarget. Events are CustomEvents; see `detail`:
 *   "session" {id, container}                 the server created the session
 *   "status"  {state, text, sessionId, container}
 *             state is "connecting" | "connected" | "ended"; text is a sentence for people
 *   "exit"    {code, reason}                  the shell ended (reason: exited|oom_killed|killed)
 *   "error"   {code, message, fatal, text}    a protocol error; fatal ones end the session
 *   "close"   {code, reason, wasClean}        the WebSocket closed
 * Methods: close() ends the session (the server removes the container), restart() starts a
 * new session in the same terminal, dispose() also removes the terminal, focus(), fit(),
 * copySelection(). Properties: sessionId, container, state, statusText, terminal (the
 * xterm.js Terminal).
 *
 * Copy and paste: selecting text copies it; Ctrl+Shift+C / Ctrl+Shift+V (Cmd+C / Cmd+V on
 * macOS, Ctrl+Insert / Shift+Insert) copy and paste. Pastes are split into input frames of
 * at most 16 KiB because the server refuses frames above 64 KiB.
 *
 * Flow control: output is counted from arrival until xterm.js has processed it; above
 * HIGH_WATERMARK the server is asked to pause, below LOW_WATERMARK to resume, so a flood
 * (`yes`, `cat` of a big file) cannot queue up unbounded work and freeze the tab.
 */

import { Terminal } from "./vendor/xterm/xterm.mjs";
import { FitAddon } from "./vendor/xterm/addon-fit/addon-fit.mjs";

/** Largest input frame payload we send, in bytes of JSON-encoded text. */
export const MAX_INPUT_CHUNK = 16 * 1024;
/** Unprocessed output above which we send `pause`. */
export const HIGH_WATERMARK = 512 * 1024;
/** Unprocessed output below which we send `resume` again. */
export const LOW_WATERMARK = 128 * 1024;

const RESIZE_DEBOUNCE_MS = 80;
const IS_MAC = /Mac|iPhone|iPad/.test(globalThis.navigator?.platform ?? "");

export const DEFAULT_THEME = {
  background: "#0f1318",
  foreground: "#d5dae0",
  cursor: "#e8ecf0",
  cursorAccent: "#0f1318",
  selectionBackground: "#3b5070",
  scrollbarSliderBackground: "rgba(200, 210, 225, 0.14)",
  scrollbarSliderHoverBackground: "rgba(200, 210, 225, 0.26)",
  scrollbarSliderActiveBackground: "rgba(200, 210, 225, 0.34)",
  black: "#1c2128",
  red: "#f47067",
  green: "#8ddb8c",
  yellow: "#e0b75d",
  blue: "#6cb6ff",
  magenta: "#dcbdfb",
  cyan: "#76e3ea",
  white: "#c5cdd6",
  brightBlack: "#636e7b",
  brightRed: "#ff938a",
  brightGreen: "#b4f1b4",
  brightYellow: "#f2d27a",
  brightBlue: "#96d0ff",
  brightMagenta: "#eedcff",
  brightCyan: "#b3f0ff",
  brightWhite: "#f0f3f6",
};

export const DEFAULT_FONT_FAMILY =
  '"JetBrains Mono", "Cascadia Mono", "Fira Code", "SF Mono", Menlo, Consolas, ' +
  '"DejaVu Sans Mono", "Liberation Mono", monospace';

/**
 * The WebSocket URL for a page or module at `base`: "ws" in the same directory, with the
 * scheme switched to ws:/wss:. https://h/sandbox/index.html → wss://h/sandbox/ws.
 */
export function websocketUrl(base = import.meta.url, token) {
  return socketUrl("ws", base, token);
}

// Resolves `url` against `base` and switches http(s): to ws(s):, so relative URLs work.
function socketUrl(url, base, token) {
  const u = new URL(url, base);
  if (u.protocol === "https:") u.protocol = "wss:";
  else if (u.protocol === "http:") u.protocol = "ws:";
  if (token) u.searchParams.set("token", token);
  u.hash = "";
  return u.href;
}

// Error codes after which the server closes the socket. `rate_limited` is fatal only
// before the session exists (too many new sessions); later it is about input.
const FATAL_ERRORS = new Set([
  "capacity", "rate_limited", "forbidden_origin", "unauthorized", "image_missing",
  "docker_unavailable", "sandbox_failed", "idle_timeout", "max_lifetime", "terminated",
  "shutdown", "internal", "frame_too_large", "timeout",
]);

const ERROR_TEXT = {
  capacity: "server at capacity, try again in a moment",
  rate_limited: "too many new sessions, try again in a minute",
  forbidden_origin: "this page is not allowed to open terminals on that server",
  unauthorized: "not authorized: the access token is missing, used or expired",
  image_missing: "the sandbox image is missing on the server",
  docker_unavailable: "Docker is unavailable on the server",
  sandbox_failed: "the sandbox could not be started",
  idle_timeout: "idle timeout",
  max_lifetime: "maximum session time reached",
  terminated: "ended by an operator",
  shutdown: "server shutting down",
  timeout: "connection timed out",
  internal: "internal server error",
  frame_too_large: "a message was too large for the server",
  // These do not end the session; they are shown as a passing notice.
  bad_message: "the server rejected a malformed message",
  unknown_type: "the server rejected an unknown message",
  invalid_size: "the server rejected the terminal size",
  unsupported_frame: "the server rejected a binary message",
  input_overflow: "the shell is not reading input fast enough; some input was dropped",
};
const INPUT_RATE_TEXT = "typing or pasting too fast; some input was dropped";

/** Words for a protocol error code (`message` is the fallback for codes we do not know). */
export function describeError(code, message, { fatal = true } = {}) {
  if (code === "rate_limited" && !fatal) return INPUT_RATE_TEXT;
  return ERROR_TEXT[code] ?? message ?? `error: ${code}`;
}

/** Words for an `exit` frame. */
export function describeExit(code, reason) {
  if (reason === "oom_killed") return "shell ran out of memory and was killed";
  if (reason === "killed") return `shell was killed (code ${code})`;
  return `shell exited with code ${code}`;
}

/** Words for a WebSocket close that no exit or error frame explained. */
export function describeClose(code, opened) {
  switch (code) {
    case 1000: return "session closed";
    case 1001: return "server shutting down";
    case 1008: return "not allowed by the server's policy";
    case 1009: return "a message was too large for the server";
    case 1011: return "server error";
    case 1013: return "server busy, try again later";
    default: return opened ? "connection lost" : "could not connect to the server";
  }
}

// Bytes a character costs inside a JSON string, never underestimated.
function jsonCost(ch) {
  const c = ch.codePointAt(0);
  if (c < 0x20 || (c >= 0xd800 && c <= 0xdfff)) return 6; // \u00XX, lone surrogates
  if (c === 0x22 || c === 0x5c) return 2; // \" and \\
  if (c < 0x80) return 1;
  if (c < 0x800) return 2;
  return c < 0x10000 ? 3 : 4;
}

/**
 * Splits terminal input into pieces whose JSON-encoded size is at most `max` bytes, never
 * inside a surrogate pair. Typing gives one piece; a big paste gives several.
 */
export function splitInput(text, max = MAX_INPUT_CHUNK) {
  if (text.length * 6 <= max) return [text]; // fast path: even all-escapes fits
  const chunks = [];
  let start = 0;
  let at = 0;
  let size = 0;
  for (const ch of text) {
    const cost = jsonCost(ch);
    if (size + cost > max) {
      chunks.push(text.slice(start, at));
      start = at;
      size = 0;
    }
    size += cost;
    at += ch.length;
  }
  chunks.push(text.slice(start));
  return chunks;
}

/** Mounts a terminal in `element` and starts a session. */
export function mount(element, options = {}) {
  return new Sandterm(element, options);
}

export class Sandterm extends EventTarget {
  #options;
  #element;
  #fit = new FitAddon();
  #resizeObserver;
  #resizeTimer = 0;
  #socket = null;
  #pendingInput = []; // typed before the session frame; the server would drop it
  #generation = 0;
  #domListeners = new AbortController(); // removes our DOM listeners on dispose()

  sessionId = null;
  container = null;
  state = "connecting";
  statusText = "";

  constructor(element, options = {}) {
    super();
    this.#element = element;
    this.#options = { restartOnEnter: true, ...options };
    for (const [event, key] of [["session", "onSession"], ["status", "onStatus"],
      ["exit", "onExit"], ["error", "onError"], ["close", "onClose"]]) {
      if (typeof options[key] === "function") {
        this.addEventListener(event, (e) => options[key](e.detail));
      }
    }

    this.terminal = new Terminal({
      fontFamily: options.fontFamily ?? DEFAULT_FONT_FAMILY,
      fontSize: options.fontSize ?? 14,
      lineHeight: 1.15,
      theme: { ...DEFAULT_THEME, ...options.theme },
      scrollback: options.scrollback ?? 5000,
      cursorBlink: true,
      macOptionIsMeta: true,
      ...options.terminalOptions,
    });
    this.terminal.loadAddon(this.#fit);
    ensureStylesheet();
    this.terminal.open(element);
    // xterm.css paints the viewport black; it shows around the cell grid (padding, the
    // part of a row or column that does not fit), so give it the theme's background.
    const viewport = element.querySelector(".xterm-viewport");
    if (viewport) viewport.style.backgroundColor = this.terminal.options.theme.background ?? "";
    this.terminal.attachCustomKeyEventHandler((e) => this.#onKey(e));
    this.terminal.onData((data) => this.#onData(data));
    this.terminal.onResize(({ cols, rows }) => this.#send({ type: "resize", cols, rows }));
    // Copy on select, like X terminals. Mouseup is a user gesture, so the fallback works too.
    element.addEventListener("mouseup", () => {
      if (this.terminal.hasSelection()) this.copySelection();
    }, { signal: this.#domListeners.signal });

    // Follow the element's size (window resizes, layout changes), debounced: a drag fires
    // dozens of events and each resize makes the shell redraw.
    this.#resizeObserver = new ResizeObserver(() => {
      clearTimeout(this.#resizeTimer);
      this.#resizeTimer = setTimeout(() => this.fit(), RESIZE_DEBOUNCE_MS);
    });
    this.#resizeObserver.observe(element);
    this.fit();
    document.fonts?.ready.then(() => this.fit());

    this.restart();
  }

  /** Resizes the terminal to fill its element; the server hears about it via onResize. */
  fit() {
    const el = this.#element;
    if (!el.isConnected || el.clientWidth === 0 || el.clientHeight === 0) return;
    try {
      this.#fit.fit();
    } catch {
      // Not rendered yet (e.g. display:none); the ResizeObserver will call again.
    }
  }

  focus() {
    this.terminal.focus();
  }

  /** Copies the selection to the clipboard. */
  copySelection() {
    const text = this.terminal.getSelection();
    if (!text) return;
    if (navigator.clipboard && window.isSecureContext) {
      navigator.clipboard.writeText(text).catch(() => {});
    } else {
      // Plain http off localhost has no Clipboard API; xterm.js answers the copy event.
      document.execCommand("copy");
    }
  }

  /** Ends the current session and starts a new one in the same terminal. */
  async restart() {
    this.#disconnect();
    const generation = ++this.#generation;
    this.sessionId = null;
    this.container = null;
    this.terminal.reset();
    this.#setStatus("connecting", "connecting…");

    let token = this.#options.token;
    try {
      if (typeof token === "function") token = await token();
    } catch (err) {
      if (generation === this.#generation) this.#end(`could not get an access token: ${err}`);
      return;
    }
    // Restarted or closed while waiting for the token.
    if (generation !== this.#generation || this.state === "ended") return;

    const url = this.#options.url
      ? socketUrl(this.#options.url, location.href, token)
      : websocketUrl(import.meta.url, token);
    this.#connect(url, generation);
  }

  /** Ends the session: the server removes the container when the socket closes. */
  close() {
    if (this.state !== "ended") this.#end("session closed");
    this.#disconnect();
  }

  /** Ends the session and removes the terminal from the page. */
  dispose() {
    this.close();
    this.#generation++; // silences callbacks still pending on the old socket or terminal
    clearTimeout(this.#resizeTimer);
    this.#resizeObserver.disconnect();
    this.#domListeners.abort();
    this.terminal.dispose();
  }

  #connect(url, generation) {
    let socket;
    try {
      socket = new WebSocket(url);
    } catch (err) {
      this.#end(`bad server address: ${err.message}`);
      return;
    }
    // Watermark state belongs to this socket, so late write callbacks cannot misfire.
    const flow = { written: 0, paused: false };
    this.#socket = socket;
    let opened = false;
    let ended = null; // the words for why, once an exit or fatal error frame said so
    const current = () => generation === this.#generation;

    socket.onopen = () => {
      opened = true;
    };
    socket.onmessage = (event) => {
      // After close() or restart() this socket's late frames are not ours to show.
      if (!current() || socket !== this.#socket || typeof event.data !== "string") return;
      let msg;
      try {
        msg = JSON.parse(event.data);
      } catch {
        return; // not ours to crash on; the server only sends JSON
      }
      switch (msg.type) {
        case "output":
          this.#write(String(msg.data ?? ""), flow, socket);
          break;
        case "session":
          this.sessionId = msg.id;
          this.container = msg.container;
          this.dispatchEvent(new CustomEvent("session", { detail: { id: msg.id, container: msg.container } }));
          this.#setStatus("connected", "connected");
          // The server drops frames that arrive before the container exists, so the size
          // and anything typed early are sent now.
          this.fit();
          this.#send({ type: "resize", cols: this.terminal.cols, rows: this.terminal.rows });
          for (const data of this.#pendingInput.splice(0)) this.#sendInput(data);
          break;
        case "exit":
          ended = describeExit(msg.code, msg.reason);
          this.dispatchEvent(new CustomEvent("exit", { detail: { code: msg.code, reason: msg.reason ?? "exited" } }));
          break;
        case "error": {
          const fatal = FATAL_ERRORS.has(msg.code) && !(msg.code === "rate_limited" && this.sessionId);
          const text = describeError(msg.code, msg.message, { fatal });
          this.dispatchEvent(new CustomEvent("error", { detail: { code: msg.code, message: msg.message, fatal, text } }));
          if (fatal) ended = text;
          break;
        }
        default:
          break; // newer servers may add message types; ignore them
      }
    };
    socket.onclose = (event) => {
      if (!current()) return;
      this.#socket = null;
      this.dispatchEvent(new CustomEvent("close", {
        detail: { code: event.code, reason: event.reason, wasClean: event.wasClean },
      }));
      this.#end(ended ?? describeClose(event.code, opened));
    };
  }

  // xterm.js flow control: count output from arrival until its write callback says it was
  // parsed; pause the server above the high watermark and resume below the low one.
  #write(data, flow, socket) {
    flow.written += data.length;
    this.terminal.write(data, () => {
      flow.written -= data.length;
      if (flow.paused && flow.written < LOW_WATERMARK) {
        flow.paused = false;
        if (socket === this.#socket) this.#send({ type: "resume" });
      }
    });
    if (!flow.paused && flow.written > HIGH_WATERMARK) {
      flow.paused = true;
      this.#send({ type: "pause" });
    }
  }

  #onData(data) {
    if (this.state === "ended") {
      if (this.#options.restartOnEnter && data === "\r") this.restart();
      return;
    }
    if (!this.sessionId) {
      this.#pendingInput.push(data);
      return;
    }
    this.#sendInput(data);
  }

  #sendInput(data) {
    for (const chunk of splitInput(data)) this.#send({ type: "input", data: chunk });
  }

  // Returns false for keys the browser should handle (xterm.js then leaves them alone).
  #onKey(e) {
    const key = e.key.toLowerCase();
    const copy = (e.ctrlKey && e.shiftKey && key === "c") || (e.ctrlKey && key === "insert");
    const paste = (e.ctrlKey && e.shiftKey && key === "v") || (e.shiftKey && key === "insert");
    if (copy) {
      if (e.type === "keydown") {
        this.copySelection();
        e.preventDefault(); // keep Ctrl+Shift+C from opening the browser's inspector
      }
      return false;
    }
    // Paste keys and Cmd+C/V: let the browser fire its native copy/paste event, which
    // xterm.js handles (paste text arrives through onData, with bracketed paste if on).
    if (paste || (IS_MAC && e.metaKey && (key === "c" || key === "v"))) return false;
    return true;
  }

  #send(message) {
    const socket = this.#socket;
    if (socket?.readyState === WebSocket.OPEN) socket.send(JSON.stringify(message));
  }

  #disconnect() {
    const socket = this.#socket;
    this.#socket = null;
    this.#pendingInput = [];
    if (socket && socket.readyState <= WebSocket.OPEN) socket.close(1000);
  }

  #end(text) {
    if (this.state === "ended") return;
    this.#setStatus("ended", text);
    const hint = this.#options.restartOnEnter ? " · press Enter for a new session" : "";
    const generation = this.#generation;
    // An empty write's callback runs once earlier output is parsed, so the cursor column
    // tells whether the shell left a partial line.
    this.terminal.write("", () => {
      if (generation !== this.#generation) return; // a new session already started
      const newline = this.terminal.buffer.active.cursorX > 0 ? "\r\n" : "";
      // Dim note, then hide the cursor: nothing typed here goes anywhere.
      this.terminal.write(`\x1b[0m${newline}\x1b[2m[session ended: ${text}${hint}]\x1b[0m\r\n\x1b[?25l`);
    });
  }

  #setStatus(state, text) {
    this.state = state;
    this.statusText = text;
    this.dispatchEvent(new CustomEvent("status", {
      detail: { state, text, sessionId: this.sessionId, container: this.container },
    }));
  }
}

// xterm.js needs its stylesheet; add it once unless the page already links it.
function ensureStylesheet() {
  const href = new URL("./vendor/xterm/xterm.css", import.meta.url).href;
  const linked = [...document.querySelectorAll('link[rel="stylesheet"]')].some((l) => l.href === href);
  if (linked) return;
  const link = document.createElement("link");
  link.rel = "stylesheet";
  link.href = href;
  document.head.append(link);
}
