// What a click sends to the server, sent again until the server acknowledges it.
//
// Reflex's client sends an event at most once: a frame written into a socket that died silently (the
// browser still believes it is connected) is lost. Two queues therefore send through `createSender`:
// * the participant's board (cardsort_offline.jsx): card moves, steps, reveal, leave;
// * the page's command outbox below (`CommandOutbox`, `sendCommand`): the dashboard's controls and the
//   team board's moves. Each command gets an id here and is kept in sessionStorage (a reload keeps it)
//   until `acks` names it; the server applies an id once (ui/resend.py), so sending it again is safe.
import React, { useEffect, useLayoutEffect, useSyncExternalStore } from "react";

export const RESEND_AFTER_MS = 4000; // no acknowledgement by then: the frame (or the socket) was lost
const PENDING_NOTICE_MS = 1500; // a command unacknowledged this long is shown as waiting
const MAX_COMMANDS = 20; // the server refuses bigger batches (ui/resend.py)
const COMMANDS_PREFIX = "cardsort_commands:";

export function newId() {
  const c = typeof crypto !== "undefined" ? crypto : null;
  if (c && typeof c.randomUUID === "function") return c.randomUUID();
  // randomUUID needs a secure context (https or localhost); getRandomValues does not.
  const b = new Uint8Array(16);
  c.getRandomValues(b);
  b[6] = (b[6] & 0x0f) | 0x40;
  b[8] = (b[8] & 0x3f) | 0x80;
  const h = Array.from(b, (x) => x.toString(16).padStart(2, "0")).join("");
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`;
}

// The amber notice of every queue: changes that wait, a move that did not go through.
export const amberNotice = {
  display: "flex",
  alignItems: "center",
  gap: "10px",
  padding: "10px 14px",
  borderRadius: "10px",
  background: "var(--amber-3)",
  border: "1px solid var(--amber-7)",
  color: "var(--amber-12)",
  fontSize: "14px",
  marginBottom: "12px",
};

/**
 * Sends a queue's oldest entries as one batch, and again if no acknowledgement of that batch came within
 * RESEND_AFTER_MS (or at once after a reconnect: `lost()`). `settle(acks)` takes the server's answer.
 */
export function createSender(maxBatch) {
  const s = {
    inflight: null, // {batch, at, entries}: the batch sent last and not yet acknowledged
    holdUntil: 0, // the server asked to wait (its rate limit) until then
    lastAcks: null,
    pump(entries, send) {
      if (!entries.length || Date.now() < s.holdUntil) return;
      if (s.inflight && Date.now() - s.inflight.at < RESEND_AFTER_MS) return;
      const batch = newId();
      const sent = entries.slice(0, maxBatch);
      s.inflight = { batch, at: Date.now(), entries: sent };
      send(batch, sent);
    },
    // A new answer: {results: Map id -> {id, ok, reason}, sent: the entries of the batch it answers}.
    settle(acks) {
      if (!acks || acks === s.lastAcks || !Array.isArray(acks.results)) return null;
      s.lastAcks = acks;
      const answered = s.inflight && s.inflight.batch === acks.batch;
      const sent = answered ? s.inflight.entries : [];
      if (answered) s.inflight = null;
      if (acks.retryAfter > 0) s.holdUntil = Date.now() + acks.retryAfter * 1000;
      return { results: new Map(acks.results.map((r) => [r.id, r])), sent };
    },
    lost() {
      s.inflight = null; // it went down with the old socket: send again now
    },
  };
  return s;
}

/**
 * A queue's connection (`queue.online`, `queue.socketErrors`, `queue.sender`): after a reconnect, or when the
 * network returns, what was in flight is sent again at once; `pump` also runs every second.
 */
export function useConnection(queue, socketErrors, pump, changed = () => {}) {
  useLayoutEffect(() => {
    const errors = Number(socketErrors) || 0;
    if (queue.socketErrors > 0 && errors === 0) queue.sender.lost(); // it went down with the old socket
    queue.socketErrors = errors;
    changed();
    pump();
  }, [socketErrors]);
  useEffect(() => {
    const onNetwork = () => {
      queue.online = navigator.onLine;
      if (queue.online) queue.sender.lost();
      changed();
      pump();
    };
    window.addEventListener("online", onNetwork);
    window.addEventListener("offline", onNetwork);
    const timer = window.setInterval(pump, 1000);
    return () => {
      window.removeEventListener("online", onNetwork);
      window.removeEventListener("offline", onNetwork);
      window.clearInterval(timer);
    };
  }, []);
}

// --- the page's command outbox -------------------------------------------------------------------------
const outbox = {
  key: "",
  entries: [], // [{id, name, args, at}]
  sender: createSender(MAX_COMMANDS),
  send: null,
  ready: false,
  online: typeof navigator === "undefined" ? true : navigator.onLine,
  socketErrors: 0,
  listeners: new Set(),
};

function wellFormed(e) {
  return e && typeof e.id === "string" && typeof e.name === "string" && Array.isArray(e.args);
}

function load(key) {
  try {
    const stored = JSON.parse(window.sessionStorage.getItem(key) || "[]");
    return Array.isArray(stored) ? stored.filter(wellFormed) : [];
  } catch (_) {
    return [];
  }
}

function save() {
  try {
    if (outbox.entries.length) window.sessionStorage.setItem(outbox.key, JSON.stringify(outbox.entries));
    else window.sessionStorage.removeItem(outbox.key);
  } catch (_) {
    // storage full or disabled: the commands still live in memory for this page
  }
}

function notify() {
  outbox.listeners.forEach((listener) => listener());
}

function pumpCommands() {
  if (!outbox.ready || !outbox.send || !outbox.online || outbox.socketErrors > 0) return;
  outbox.sender.pump(outbox.entries, (batch, sent) =>
    outbox.send({ batch, commands: sent.map(({ id, name, args }) => ({ id, name, args })) }),
  );
}

// The second click of a double click (the click event's `detail` counts them; a key press is 0) is not a
// second command: the first one already asked for it. `window.event` is the click being handled (these
// handlers get no event of their own); a drop or a key press is never one.
export function secondClick() {
  const e = typeof window !== "undefined" ? window.event : null;
  return !!e && e.type === "click" && e.detail > 1;
}

/** A click's command (`name`, `args` as the page's state lists it in ui/resend.py), sent until acknowledged. */
export function sendCommand(name, ...args) {
  if (secondClick()) return;
  outbox.entries = [...outbox.entries, { id: newId(), name, args, at: Date.now() }];
  save();
  notify();
  pumpCommands();
}

/** The value of an input now, for a command that needs what was typed (e.g. the timer's minutes). */
export function inputValue(id) {
  const el = typeof document === "undefined" ? null : document.getElementById(id);
  return el ? String(el.value) : "";
}

function settleCommands(acks) {
  const settled = outbox.sender.settle(acks);
  if (!settled) return;
  outbox.entries = outbox.entries.filter((e) => !settled.results.has(e.id));
  save();
  notify();
  pumpCommands();
}

function subscribe(listener) {
  outbox.listeners.add(listener);
  return () => outbox.listeners.delete(listener);
}

function useNow(ms) {
  const [now, setNow] = React.useState(Date.now());
  useEffect(() => {
    const timer = window.setInterval(() => setNow(Date.now()), ms);
    return () => window.clearInterval(timer);
  }, [ms]);
  return now;
}

/**
 * Feeds the outbox (where to send, acknowledgements, connection state) and says when commands wait.
 * Props: scope (the page), code, ready (the state proved who this tab is), acks ({batch, results}),
 * socketErrors, onSend(batch).
 */
export function CommandOutbox({ scope, code, ready, acks, socketErrors, onSend }) {
  useLayoutEffect(() => {
    outbox.send = onSend;
    window.__cardsortOutbox = outbox; // diagnostics (tests, devtools)
  });
  useLayoutEffect(() => {
    const key = `${COMMANDS_PREFIX}${scope}:${code}`;
    if (code && key !== outbox.key) {
      outbox.key = key;
      outbox.entries = load(key);
      outbox.sender.lost();
      notify();
    }
  }, [scope, code]);
  useLayoutEffect(() => {
    outbox.ready = !!ready;
    pumpCommands();
  }, [ready]);
  useLayoutEffect(() => settleCommands(acks), [acks]);
  useConnection(outbox, socketErrors, pumpCommands);
  const entries = useSyncExternalStore(subscribe, () => outbox.entries, () => outbox.entries);
  const now = useNow(500);
  const waiting = entries.filter((e) => now - e.at >= PENDING_NOTICE_MS).length;
  if (!waiting) return null;
  const what = waiting === 1 ? "1 action has" : `${waiting} actions have`;
  return (
    <div role="status" data-testid="commands-pending" data-pending={String(entries.length)} style={amberNotice}>
      <strong>Not confirmed yet.</strong>
      <span>{what} not reached the server; sent again until it confirms (the connection may have dropped).</span>
    </div>
  );
}
