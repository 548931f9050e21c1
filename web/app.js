// The bundled page: one full-window terminal, a status bar and a "New session" button,
// built on the same mount() API that embedders use.

import { mount } from "./sandterm.js";

const $ = (id) => document.getElementById(id);
const status = $("status");
const statusText = $("status-text");
const notice = $("notice");

// Token mode: a playground backend can send people to `…/?token=<token>`.
const token = new URLSearchParams(location.search).get("token") ?? undefined;

if (/Mac|iPhone|iPad/.test(navigator.platform)) {
  $("hint").innerHTML = "<kbd>⌘</kbd>+<kbd>C</kbd> copy · <kbd>⌘</kbd>+<kbd>V</kbd> paste";
}

const term = mount($("terminal"), {
  token,
  onStatus: showStatus,
  onError: (e) => {
    if (!e.fatal) showNotice(e.text); // fatal errors show up as the ended status
  },
});

// Handy for debugging and for the browser test: window.sandterm.terminal is the xterm.js
// Terminal.
window.sandterm = term;

term.terminal.onTitleChange((title) => {
  document.title = title ? `${title} — sandterm` : "sandterm";
});

$("new-session").addEventListener("click", () => {
  term.restart();
  term.focus();
});

term.focus();

function showStatus({ state, text, sessionId, container }) {
  status.dataset.state = state;
  status.title = container ? `container ${container}` : "";
  if (state === "connected") {
    statusText.replaceChildren("Connected", span(" · session "), span(sessionId, "id"));
    hideNotice();
  } else if (state === "ended") {
    statusText.textContent = `Session ended: ${text}`;
    document.title = "sandterm (ended)";
  } else {
    statusText.textContent = "Connecting…";
    hideNotice();
  }
}

let noticeTimer = 0;
function showNotice(text) {
  notice.textContent = text;
  notice.hidden = false;
  clearTimeout(noticeTimer);
  noticeTimer = setTimeout(hideNotice, 6000);
}

function hideNotice() {
  notice.hidden = true;
}

function span(text, className) {
  const el = document.createElement("span");
  el.textContent = text;
  if (className) el.className = className;
  return el;
}
