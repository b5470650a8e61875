// The session's shared rows (participants, reveals) in the browser: the snapshot a tab got when it loaded,
// merged with the live frames the server emits once per change to every socket of the session.
// Every row carries a stamp (w: server process, ps: its counter, seq: log position); a row replaces the
// shown one only if it is newer, so a late or repeated frame can never bring an older value back.
import { useCallback, useSyncExternalStore } from "react";
import { Socket } from "socket.io-client";

const LIVE_EVENT = "cardsort_live";
// The keyed lists a feed may carry, and the field that keys their rows. A feed is a session's audience:
// the participants' one (code) or the facilitator's (code/facilitator, which adds `selections` and the
// event `log`, keyed by seq and placed newest first).
const LISTS = { rows: "id", reveals: "key", selections: "id", log: "id" };
const EMPTY = { rows: [], reveals: [], selections: [], log: [] };
const sessions = new Map();

function session(code) {
  let s = sessions.get(code);
  if (!s) {
    s = { lists: {}, view: EMPTY, listeners: new Set() };
    for (const name in LISTS) s.lists[name] = new Map();
    sessions.set(code, s);
  }
  return s;
}

// Whether stamp `a` is at least as new as `b`: counters compare within one server process; across
// processes (a reconnect to another worker) the log position decides.
function newer(a, b) {
  if (!b) return true;
  if (a.w === b.w) return a.ps >= b.ps;
  return a.seq >= b.seq;
}

// The row to show given the shown one and an incoming one.
function merged(shown, row) {
  if (!shown || newer(row, shown)) return row;
  // From another worker whose projection lags behind the one the shown row came from (a reconnect):
  // the log's newer data stays, but presence is not in the log, so the connected worker's flag wins.
  if (row.w !== shown.w && !row.gone && !shown.gone && row.online !== shown.online) {
    return { ...shown, online: row.online };
  }
  return shown;
}

function mergeRows(target, rows, key) {
  let changed = false;
  for (const row of rows || []) {
    const k = row[key];
    const shown = target.get(k);
    if (shown && shown.ps === row.ps && shown.w === row.w) continue;
    const next = merged(shown, row);
    if (next !== shown) {
      target.set(k, next);
      changed = true;
    }
  }
  return changed;
}

// A snapshot is the whole list at `seq`: rows it lacks that are no newer than it are gone.
function dropMissing(target, rows, key, snapshot) {
  const present = new Set((rows || []).map((r) => r[key]));
  let changed = false;
  for (const [k, row] of target) {
    if (!present.has(k) && !row.gone && newer(snapshot, row)) {
      target.set(k, { ...row, gone: true, w: snapshot.w, ps: snapshot.ps, seq: snapshot.seq });
      changed = true;
    }
  }
  return changed;
}

function rebuild(s) {
  const visible = (m) => [...m.values()].filter((r) => !r.gone).sort((a, b) => a.n - b.n);
  const view = {};
  for (const name in LISTS) view[name] = visible(s.lists[name]);
  s.view = view;
}

function apply(frame, snapshot) {
  if (!frame || !frame.code) return false;
  const s = session(frame.code);
  let changed = false;
  for (const [name, key] of Object.entries(LISTS)) {
    // A frame carries only the lists that changed; a snapshot carries every list of its feed.
    if (!frame[name]) continue;
    changed = mergeRows(s.lists[name], frame[name], key) || changed;
    if (snapshot) changed = dropMissing(s.lists[name], frame[name], key, frame) || changed;
  }
  if (changed) rebuild(s);
  return changed;
}

// Reflex owns the socket and exposes no hook for other events: route ours before its dispatch.
const PATCHED = Symbol.for("cardsort.live");
if (!Socket.prototype[PATCHED]) {
  const emitEvent = Socket.prototype.emitEvent;
  Socket.prototype.emitEvent = function (args) {
    if (args && args[0] === LIVE_EVENT) {
      try {
        const frame = args[1];
        if (apply(frame, false)) session(frame.code).listeners.forEach((notify) => notify());
      } catch (error) {
        console.error("cardsort live frame", error);
      }
      return;
    }
    return emitEvent.call(this, args);
  };
  Socket.prototype[PATCHED] = true;
}

export function useCardsortLive(snapshot) {
  const code = (snapshot && snapshot.code) || "";
  // Merging is idempotent and only moves forward, so doing it while rendering is safe; every component
  // using this hook renders with the same snapshot, so none needs notifying.
  if (code) apply(snapshot, true);
  const subscribe = useCallback(
    (notify) => {
      const s = session(code);
      s.listeners.add(notify);
      return () => s.listeners.delete(notify);
    },
    [code],
  );
  const view = useCallback(() => (code ? session(code).view : EMPTY), [code]);
  return useSyncExternalStore(subscribe, view, view);
}
