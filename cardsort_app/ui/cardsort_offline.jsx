// The participant's own changes (card moves, step changes), kept until the server confirms each one.
//
// Reflex's client sends an event at most once: a frame written into a socket that is already dead is lost.
// So every change made on the board goes through this queue instead:
// * it shows on the board at once: the board renders `useBoardView()` = the server's confirmed piles and
//   step with the queued changes folded on top (a queued change that no longer applies is left out);
// * it is kept in localStorage (`cardsort_pending:<code>`, shared by the tabs of this browser, so a reload
//   or a crash of the tab loses nothing) with an event id chosen here: the server's log dedupes by that
//   id, so sending it again can never double it;
// * it is sent, in order, whenever the connection is up, and sent again until the server acknowledges it
//   (`acks`: confirmed, or rejected with the reason), through the sender every queue shares
//   (cardsort_outbox.jsx). A rejected change is rolled back with a notice.
import React, { useEffect, useLayoutEffect, useSyncExternalStore } from "react";
// Where Reflex copies the outbox's asset (ui/outbox.py); stateless helpers only, so a second copy is harmless.
import { amberNotice, createSender, newId, secondClick, useConnection } from "$/public/external/cardsort_app/ui/outbox/cardsort_outbox.jsx";
import { forgetJoinToken } from "$/public/external/cardsort_app/ui/join/cardsort_join.jsx";

const MAX_BATCH = 50; // the server refuses bigger batches
const STORAGE_PREFIX = "cardsort_pending:";
// A refused change's notice for another tab of this browser (the queue is shared: any tab may send it).
const NOTICE_PREFIX = "cardsort_notice:";
// Changes that carry nothing but their id: the server decides what they mean when it stores them.
const SIMPLE_KINDS = ["reveal", "leave", "erase"];
const PILES = ["unsorted", "very-important", "important", "not-important", "top8", "top3"];

const store = {
  code: "",
  // [{id, kind: "move", cardId, fromPile, toPile, toIndex?} | {id, kind: "step", fromStep, toStep}
  //  | {id, kind: "reveal" | "leave" | "erase"}]
  queue: [],
  confirmed: null, // {piles: {pile: [{id, name, meaning}]}, step}
  rules: { allowed: {}, labels: {} }, // from domain/rules.py, via the component's props
  deckSize: 0,
  ready: false, // the server loaded this tab's participant: changes can be sent
  online: typeof navigator === "undefined" ? true : navigator.onLine,
  socketErrors: 0, // Reflex's failed (re)connection attempts since the last connect
  send: null,
  sender: createSender(MAX_BATCH),
  waiting: false,
  notice: null, // {kind: "conflict" | "refused", message, key}
  view: null,
  listeners: new Set(),
  focusMoves: [], // focus mode: [cardId, pile] of this tab's focus moves, newest last (for undo)
  leaveAsked: false, // this tab asked to leave: it goes to the landing page once the leave is stored
};
const MAX_FOCUS_UNDO = 100;

// --- ids and storage ----------------------------------------------------------------------------------
// This tab, so a refused change's notice reaches the tab where it was made, whichever tab sent it.
const TAB_ID = newId();

function wellFormed(e) {
  if (!e || typeof e !== "object" || typeof e.id !== "string" || !e.id) return false;
  if (e.kind === "move")
    return (
      [e.cardId, e.fromPile, e.toPile].every((v) => typeof v === "string") &&
      (e.toIndex === undefined || (Number.isInteger(e.toIndex) && e.toIndex >= 0))
    );
  if (SIMPLE_KINDS.includes(e.kind)) return true;
  return e.kind === "step" && Number.isInteger(e.fromStep) && Number.isInteger(e.toStep);
}

// The stored queue, or null when localStorage cannot be read (then this tab's memory is all there is).
function readStored(code) {
  if (!code) return [];
  try {
    const q = JSON.parse(window.localStorage.getItem(STORAGE_PREFIX + code) || "[]");
    return Array.isArray(q) ? q.filter(wellFormed) : [];
  } catch (_) {
    return null;
  }
}

function writeStored(code, queue) {
  if (!code) return;
  try {
    if (queue.length) window.localStorage.setItem(STORAGE_PREFIX + code, JSON.stringify(queue));
    else window.localStorage.removeItem(STORAGE_PREFIX + code);
  } catch (_) {
    // storage full or disabled: the queue still lives in memory for this tab
  }
}

// Read-modify-write on the stored queue, so two tabs of this browser never overwrite each other's changes.
function updateQueue(change) {
  store.queue = change(readStored(store.code) ?? store.queue);
  writeStored(store.code, store.queue);
}

// --- the rules the board applies locally (the server decides; see domain/rules.py) ---------------------
function allowedAt(step) {
  return store.rules.allowed[String(step)] || [];
}

function sizes() {
  const top8 = Math.min(8, store.deckSize);
  return [top8, Math.min(3, top8)];
}

const ALREADY_MOVED = "That card has already moved";

function moveError(piles, step, m) {
  const allowed = allowedAt(step);
  if (step >= 4) return "You have finished; go back a step to change your cards";
  if (m.fromPile === m.toPile) return `That card is already in ${store.rules.labels[m.toPile] || m.toPile}`;
  if (!allowed.includes(m.fromPile) || !allowed.includes(m.toPile)) {
    const names = allowed.map((p) => store.rules.labels[p] || p);
    return `In step ${step} cards can only move between ${names.slice(0, -1).join(", ")} and ${names.slice(-1)}`;
  }
  if (!(piles[m.fromPile] || []).some((c) => c.id === m.cardId)) return ALREADY_MOVED;
  const [top8, top3] = sizes();
  if (m.toPile === "top8" && (piles.top8 || []).length >= top8) return "Your top 8 is full: move a card out first";
  if (m.toPile === "top3" && (piles.top3 || []).length >= top3) return "Your top 3 is full: move a card out first";
  return null;
}

function stepError(piles, step, s) {
  if (s.fromStep !== step) return `Your step changed in another tab (you are on step ${step} now); try again`;
  if (s.toStep === step - 1 && s.toStep >= 1) return null;
  if (s.toStep !== step + 1) return "You can only move one step forward or back";
  const [top8, top3] = sizes();
  const count = (p) => (piles[p] || []).length;
  if (step === 1 && count("unsorted"))
    return `Sort all ${store.deckSize} cards before finishing step 1 (${count("unsorted")} left)`;
  if (step === 2 && count("top8") !== top8)
    return `Pick exactly ${top8} cards for your top 8 (you have ${count("top8")})`;
  if (step === 3 && count("top3") !== top3)
    return `Pick exactly ${top3} cards for your top 3 (you have ${count("top3")})`;
  if (step >= 4) return "You have already finished";
  return null;
}

// As domain/reducer.py: a card goes to the end of its new pile (or to `toIndex`); going back dissolves the
// later piles.
function applyChange(piles, step, e) {
  if (e.kind === "move") {
    const card = piles[e.fromPile].find((c) => c.id === e.cardId);
    piles[e.fromPile] = piles[e.fromPile].filter((c) => c.id !== e.cardId);
    const to = [...piles[e.toPile]];
    to.splice(e.toIndex === undefined ? to.length : Math.min(e.toIndex, to.length), 0, card);
    piles[e.toPile] = to;
    return step;
  }
  if (e.toStep < step) {
    if (e.toStep <= 2) {
      piles.top8 = [...piles.top8, ...piles.top3];
      piles.top3 = [];
    }
    if (e.toStep <= 1) {
      piles["very-important"] = [...piles["very-important"], ...piles.top8];
      piles.top8 = [];
    }
  }
  return e.toStep;
}

// --- the view -----------------------------------------------------------------------------------------
function offline() {
  return !store.online || store.socketErrors > 0;
}

function computeView() {
  const base = {
    ready: false,
    offline: offline(),
    pending: store.queue.length,
    leaving: store.queue.some((e) => e.kind === "leave" || e.kind === "erase"),
    notice: store.notice,
    step: 1,
    piles: Object.fromEntries(PILES.map((p) => [p, []])),
    allowed: [],
    shown: [],
    counts: Object.fromEntries(PILES.map((p) => [p, 0])),
    focus: { card: {}, hasCard: false, sorted: 0, undos: 0 },
  };
  const c = store.confirmed;
  if (!c) return base;
  const piles = Object.fromEntries(PILES.map((p) => [p, [...((c.piles || {})[p] || [])]]));
  let step = c.step;
  for (const e of store.queue) {
    if (SIMPLE_KINDS.includes(e.kind)) continue; // shows nothing until the server stores it (and checks it)
    const error = e.kind === "move" ? moveError(piles, step, e) : stepError(piles, step, e);
    if (!error) step = applyChange(piles, step, e); // else: it will be rejected; show what will hold
  }
  const allowed = allowedAt(step);
  return {
    ...base,
    ready: true,
    step,
    piles,
    allowed,
    shown: allowed.length ? allowed : ["top8", "top3"],
    counts: Object.fromEntries(PILES.map((p) => [p, piles[p].length])),
    // Focus mode sorts the first unsorted card of this view, so it follows the queue, online or not.
    focus: {
      card: piles.unsorted[0] || {},
      hasCard: piles.unsorted.length > 0,
      sorted: store.deckSize - piles.unsorted.length,
      undos: store.focusMoves.length,
    },
  };
}

function changed() {
  store.view = computeView();
  store.listeners.forEach((listener) => listener());
}
store.view = computeView();
if (typeof window !== "undefined") window.__cardsortQueue = store; // diagnostics (tests, devtools)

function subscribe(listener) {
  store.listeners.add(listener);
  return () => store.listeners.delete(listener);
}

/** The board as this participant should see it now: confirmed state + their queued changes. */
export function useBoardView() {
  return useSyncExternalStore(subscribe, () => store.view, () => store.view);
}

// --- sending --------------------------------------------------------------------------------------------
function toWire(e) {
  if (SIMPLE_KINDS.includes(e.kind)) return { id: e.id, kind: e.kind };
  if (e.kind === "step") return { id: e.id, kind: "step", fromStep: e.fromStep, toStep: e.toStep };
  const move = { id: e.id, kind: "move", cardId: e.cardId, fromPile: e.fromPile, toPile: e.toPile };
  return e.toIndex === undefined ? move : { ...move, toIndex: e.toIndex };
}

function pump() {
  if (!store.ready || !store.send || offline()) return;
  store.sender.pump(store.queue, (batch, changes) => store.send({ batch, changes: changes.map(toWire) }));
}

function onAcks(acks) {
  const settled = store.sender.settle(acks);
  if (!settled) return;
  // What this tab sent as well as what its queue holds: another tab's write to the shared queue, at the
  // same instant as this tab's own, can leave a sent change out of this tab's copy; its refusal must
  // still reach the tab where it was made.
  const { results, sent } = settled;
  const known = new Map([...sent, ...store.queue].map((e) => [e.id, e]));
  const rejected = [...known.values()].filter((e) => results.has(e.id) && !results.get(e.id).ok);
  updateQueue((q) => q.filter((e) => !results.has(e.id)));
  const mine = rejected.filter((e) => !e.origin || e.origin === TAB_ID);
  if (mine.length) {
    const last = results.get(mine[mine.length - 1].id);
    store.notice = { kind: "conflict", message: last.reason, key: newId() };
  }
  for (const e of rejected.filter((e) => e.origin && e.origin !== TAB_ID)) {
    tellTab(e.origin, results.get(e.id).reason);
  }
  changed();
  pump();
}

function tellTab(origin, message) {
  try {
    const notice = { origin, message, key: newId() };
    window.localStorage.setItem(NOTICE_PREFIX + store.code, JSON.stringify(notice));
  } catch (_) {
    // storage unavailable: that tab still sees its change rolled back
  }
}

function enqueue(entry) {
  entry = { ...entry, origin: TAB_ID };
  updateQueue((q) => [...q, entry]);
  store.notice = null;
  changed();
  pump();
}

function refuse(message, kind = "refused") {
  store.notice = { kind, message, key: newId() };
  changed();
}

// --- commands the board's controls call (card menu, one-tap buttons, drag and drop, step buttons) ------
export function moveCard(cardId, fromPile, toPile, toIndex) {
  const v = store.view;
  if (!v.ready) return false;
  const move = { cardId: String(cardId), fromPile: String(fromPile), toPile: String(toPile) };
  if (Number.isInteger(toIndex) && toIndex >= 0) move.toIndex = toIndex;
  const error = moveError(v.piles, v.step, move);
  if (error) {
    // Not where this tab showed it: another tab of this browser (or the server) moved it first. A conflict,
    // like a change the server rolls back, not a move the rules forbid.
    refuse(error, error === ALREADY_MOVED ? "conflict" : "refused");
    return false;
  }
  enqueue({ id: newId(), kind: "move", ...move });
  return true;
}

// Focus mode (ui/focus.py): the card in focus into one of step 1's piles, and back again, through the queue.
const FOCUS_KEYS = { 1: "very-important", 2: "important", 3: "not-important" };
const UNDO_KEYS = ["u", "U", "Backspace", "undo"];

export function focusSort(pile) {
  const v = store.view;
  if (!v.ready || v.step !== 1 || !v.focus.hasCard) return;
  const card = v.focus.card.id;
  if (moveCard(card, "unsorted", pile)) store.focusMoves = [...store.focusMoves, [card, pile]].slice(-MAX_FOCUS_UNDO);
  changed();
}

export function focusUndo() {
  const last = store.focusMoves[store.focusMoves.length - 1];
  if (!last || !store.view.ready) return;
  store.focusMoves = store.focusMoves.slice(0, -1);
  moveCard(last[0], last[1], "unsorted", 0); // to the front of `unsorted`: in focus again
  changed();
}

export function focusKey(key) {
  if (FOCUS_KEYS[key]) focusSort(FOCUS_KEYS[key]);
  else if (UNDO_KEYS.includes(key)) focusUndo();
}

export function dropCard(payload) {
  if (payload && typeof payload === "object") moveCard(payload.cardId, payload.fromPile, payload.toPile);
}

function changeStep(direction) {
  const v = store.view;
  if (!v.ready) return;
  const s = { fromStep: v.step, toStep: Math.min(4, Math.max(1, v.step + direction)) };
  const error = stepError(v.piles, v.step, s);
  if (error) return refuse(error);
  enqueue({ id: newId(), kind: "step", ...s });
}

// Reveal goes through the queue too: resent until acknowledged (a send into a dead socket is not lost), and
// after this participant's queued moves, so it reveals the selection they made. A double click is one reveal.
export function revealSelection() {
  if (store.view.ready && !secondClick()) enqueue({ id: newId(), kind: "reveal" });
}

// Leaving (and erasing one's name) goes through the queue too, after the participant's queued changes.
// Whichever tab of this browser sends it, this tab goes to the landing page once the server says the
// participant left (`left`).
export function leaveSession() {
  if (!store.view.ready) return;
  store.leaveAsked = true;
  enqueue({ id: newId(), kind: "leave" });
}

export function eraseMe() {
  if (!store.view.ready) return;
  store.leaveAsked = true;
  forgetJoinToken(store.code);
  enqueue({ id: newId(), kind: "erase" });
}

export function completeStep() {
  if (secondClick()) return; // a double click is one step: the second would be refused for the next step
  if (!store.waiting) changeStep(+1); // facilitator-paced and ahead: the board says to wait
}

export function backStep() {
  if (!secondClick()) changeStep(-1);
}

export function dismissNotice() {
  store.notice = null;
  changed();
}

// --- feeding the store from the server's state ------------------------------------------------------------
function codeFromLocation() {
  const m = window.location.pathname.match(/^\/s\/([^/]+)/);
  return m ? decodeURIComponent(m[1]).trim().toUpperCase() : "";
}

function setCode(code) {
  code = code || codeFromLocation();
  if (code === store.code) return;
  store.code = code;
  store.sender.lost();
  store.focusMoves = [];
  store.queue = readStored(code) ?? [];
  changed();
}

function pendingText(n) {
  if (n === 0) return "Your changes are saved.";
  return n === 1
    ? "1 change waits and will be sent when the connection returns."
    : `${n} changes wait and will be sent when the connection returns.`;
}

/**
 * Feeds the store (confirmed state, acknowledgements, connection state) and shows the offline banner.
 * Props: code, ready, piles, step, deckSize, rules ({allowed: {step: [pile]}, labels}), acks
 * ({batch, results: [{id, ok, reason}]}), left (the server says this participant left), socketErrors,
 * onSend(batch).
 */
export function OfflineQueue({ code, ready, piles, step, deckSize, rules, acks, waiting, left, socketErrors, onSend }) {
  useLayoutEffect(() => {
    store.send = onSend;
    store.waiting = !!waiting;
  });
  useLayoutEffect(() => setCode(code), [code]);
  const rulesKey = JSON.stringify(rules || {});
  useLayoutEffect(() => {
    store.rules = { allowed: {}, labels: {}, ...JSON.parse(rulesKey) };
    store.deckSize = Number(deckSize) || 0;
    store.ready = !!ready;
    store.confirmed = ready && piles ? { piles, step: Number(step) || 1 } : null;
    changed();
    pump();
  }, [ready, piles, step, deckSize, rulesKey]);
  useLayoutEffect(() => onAcks(acks), [acks]);
  useEffect(() => {
    if (!left || !store.leaveAsked) return;
    store.leaveAsked = false;
    window.location.assign(`/?code=${encodeURIComponent(store.code)}`);
  }, [left]);
  useConnection(store, socketErrors, pump, changed);
  useEffect(() => {
    const onStorage = (e) => {
      if (e.key === STORAGE_PREFIX + store.code) {
        store.queue = readStored(store.code) ?? store.queue;
        changed();
        pump();
      } else if (e.key === NOTICE_PREFIX + store.code && e.newValue) {
        try {
          const notice = JSON.parse(e.newValue);
          if (notice.origin === TAB_ID && typeof notice.message === "string") {
            store.notice = { kind: "conflict", message: notice.message, key: notice.key };
            changed();
          }
        } catch (_) {
          // not ours to read
        }
      }
    };
    window.addEventListener("storage", onStorage);
    return () => window.removeEventListener("storage", onStorage);
  }, []);
  const view = useBoardView();
  if (!view.offline && view.leaving)
    return (
      <div role="status" data-testid="leaving" style={amberNotice}>
        <strong>Leaving the session…</strong>
        <span>Sent, and sent again until the server confirms it.</span>
      </div>
    );
  if (!view.offline) return null;
  return (
    <div role="status" data-testid="offline-banner" data-pending={String(view.pending)} style={amberNotice}>
      <strong>You are offline.</strong>
      <span>{pendingText(view.pending)}</span>
    </div>
  );
}
