// Client-side pieces of the facilitator's workshop: a countdown that ticks in the browser towards an end
// instant the server decided (so every tab shows the same time), and keyboard shortcuts for focus sorting.
import React, { useEffect, useState } from "react";

function remaining(endsAt) {
  return Math.max(0, Math.ceil((Number(endsAt) - Date.now()) / 1000));
}

function clock(seconds) {
  const m = Math.floor(seconds / 60);
  const s = seconds % 60;
  return `${m}:${String(s).padStart(2, "0")}`;
}

export function Countdown({ endsAt, doneText, ...rest }) {
  const [left, setLeft] = useState(() => remaining(endsAt));
  useEffect(() => {
    setLeft(remaining(endsAt));
    const timer = setInterval(() => setLeft(remaining(endsAt)), 250);
    return () => clearInterval(timer);
  }, [endsAt]);
  const done = left <= 0;
  return (
    <span data-done={done ? "true" : "false"} role="timer" aria-live="off" {...rest}>
      {done ? doneText || "Time is up" : clock(left)}
    </span>
  );
}

// Calls onKey(key) for the listed keys, unless the person is typing in a field or holds a modifier
// (Ctrl/Cmd+Z is reported as "undo").
export function KeyShortcuts({ keys, onKey }) {
  useEffect(() => {
    const wanted = new Set((keys || []).map(String));
    const handler = (e) => {
      const t = e.target;
      const typing = t && (t.isContentEditable || ["INPUT", "TEXTAREA", "SELECT"].includes(t.tagName));
      if (typing || e.altKey || e.repeat) return;
      let key = e.key;
      if ((e.ctrlKey || e.metaKey) && (key === "z" || key === "Z")) key = "undo";
      else if (e.ctrlKey || e.metaKey) return;
      if (!wanted.has(key)) return;
      e.preventDefault();
      if (onKey) onKey(key);
    };
    window.addEventListener("keydown", handler);
    return () => window.removeEventListener("keydown", handler);
  }, [keys, onKey]);
  return null;
}

// Opens the browser's print dialog (no inline script: the pages run under a strict CSP).
export function PrintButton({ children, ...rest }) {
  return (
    <button type="button" onClick={() => window.print()} {...rest}>
      {children}
    </button>
  );
}
