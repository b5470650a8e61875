// Drag and drop for the team board, on @dnd-kit/core: drop a card on a pile (its end) or on a team-values
// card (take that card's place). The drop reports where the card was *shown* (pile, index) and the
// version of the view it was shown in, so a move made on an outdated view loses to the move it missed.
import React from "react";
import {
  DndContext,
  PointerSensor,
  TouchSensor,
  pointerWithin,
  rectIntersection,
  useDraggable,
  useDroppable,
  useSensor,
  useSensors,
} from "@dnd-kit/core";

// The drop target is what is under the pointer. (The default compares the dragged card's rectangle, which
// jumps when a live update re-renders the held card in another pile.)
const underPointer = (args) => {
  const hits = pointerWithin(args);
  return hits.length ? hits : rectIntersection(args);
};

// A move the server has not counted (`moveAck` = TeamState.move_ack, "{load}:{n}") this long after it was
// sent went down with the connection (Reflex sends an event at most once): say so rather than lose it
// silently. A move Reflex held back while disconnected is counted by the reloaded state ({load} changes).
const LOST_AFTER_MS = 10000;
const LOST_MESSAGE =
  "Your last move did not reach the team board (the connection dropped): check the board and make it again if it is missing.";

function parseAck(ack) {
  const [load, n] = String(ack || "").split(":");
  return { load, n: Number(n) || 0 };
}

// Tracks the moves this tab sent against the server's count of the moves it received.
function useLostMoves(moveAck) {
  const ack = React.useRef(parseAck(moveAck));
  const pending = React.useRef(null); // {load, upTo, at}: the count that confirms every sent move
  const [lost, setLost] = React.useState(false);
  const check = React.useCallback(() => {
    const p = pending.current;
    if (!p) return;
    if (ack.current.n >= p.upTo && ack.current.load === p.load) {
      pending.current = null;
      setLost(false);
    } else if (Date.now() - p.at > LOST_AFTER_MS) {
      setLost(true); // kept pending: if it is counted after all, the notice goes
    }
  }, []);
  React.useEffect(() => {
    const next = parseAck(moveAck);
    const p = pending.current;
    if (p && next.load !== p.load) {
      // The state reloaded (a reconnect): what the old count had not confirmed may still come, counted anew.
      const before = ack.current.load === p.load ? ack.current.n : 0;
      pending.current = { ...p, load: next.load, upTo: Math.max(1, p.upTo - before) };
    }
    ack.current = next;
    check();
  }, [moveAck, check]);
  React.useEffect(() => {
    const timer = window.setInterval(check, 1000);
    return () => window.clearInterval(timer);
  }, [check]);
  const sent = React.useCallback(() => {
    const p = pending.current || { load: ack.current.load, upTo: ack.current.n };
    pending.current = { load: p.load, upTo: p.upTo + 1, at: Date.now() };
  }, []);
  const dismiss = React.useCallback(() => {
    pending.current = null;
    setLost(false);
  }, []);
  return { lost, sent, dismiss };
}

const lostStyle = {
  padding: "10px 14px",
  borderRadius: "10px",
  background: "var(--amber-3)",
  border: "1px solid var(--amber-7)",
  color: "var(--amber-12)",
  fontSize: "14px",
  marginBottom: "12px",
  cursor: "pointer",
};

export function TeamDndBoard({ children, onDrop, version, moveAck, ...rest }) {
  const moves = useLostMoves(moveAck);
  // The card menus' move items (rendered in portals, but inside this component's React tree).
  const onClickCapture = (e) => {
    const item = e.target && e.target.closest ? e.target.closest('[data-testid^="move-"]') : null;
    if (item && !item.hasAttribute("data-disabled")) moves.sent();
  };
  const sensors = useSensors(
    useSensor(PointerSensor, { activationConstraint: { distance: 6 } }),
    useSensor(TouchSensor, { activationConstraint: { delay: 180, tolerance: 8 } }),
  );
  // What the card was when it was picked up: if somebody else's move re-renders it elsewhere mid-drag,
  // the drop still says where *this* person saw it, so the server can tell them who moved it first.
  // Likewise the last drop target seen: a re-render mid-drag can leave the final hit test empty.
  const picked = React.useRef(null);
  const lastOver = React.useRef(null);
  const handleDragStart = ({ active }) => {
    picked.current = { ...(active.data.current || {}), version: Number(version) };
    lastOver.current = null;
  };
  const handleDragOver = ({ over }) => {
    if (over) lastOver.current = { id: over.id, data: { ...(over.data.current || {}) } };
  };
  const handleDragEnd = ({ active, over }) => {
    const from = picked.current || { ...(active.data.current || {}), version: Number(version) };
    const hit = over ? { id: over.id, data: over.data.current || {} } : lastOver.current;
    picked.current = null;
    lastOver.current = null;
    if (window.__cardsortDebugDnd) window.__cardsortDebugDnd.push({ from, hit: hit && hit.id });
    if (!hit || !onDrop) return;
    const target = hit.data || {};
    const toPile = String(target.pile || hit.id);
    const toIndex = target.index === undefined ? -1 : Number(target.index);
    if (toPile === from.pile && (toIndex === -1 || toIndex === from.index)) return;
    moves.sent();
    onDrop({
      cardId: String(active.id),
      fromPile: String(from.pile),
      fromIndex: Number(from.index),
      toPile,
      toIndex,
      version: from.version,
    });
  };
  return (
    <DndContext
      sensors={sensors}
      collisionDetection={underPointer}
      onDragStart={handleDragStart}
      onDragOver={handleDragOver}
      onDragEnd={handleDragEnd}
      onDragCancel={() => (picked.current = null)}
    >
      <div {...rest} onClickCapture={onClickCapture}>
        {moves.lost && (
          <div role="alert" data-testid="conflict-notice" style={lostStyle} onClick={moves.dismiss}>
            {LOST_MESSAGE}
          </div>
        )}
        {children}
      </div>
    </DndContext>
  );
}

export function TeamPileDrop({ pile, disabled, children, ...rest }) {
  const { setNodeRef, isOver } = useDroppable({ id: pile, data: { pile }, disabled: !!disabled });
  return (
    <div ref={setNodeRef} data-over={isOver ? "true" : "false"} {...rest}>
      {children}
    </div>
  );
}

// A card is draggable; a team-values card is also a drop slot (dropping on it takes its place).
export function TeamCard({ cardId, pile, index, disabled, children, style, ...rest }) {
  const drag = useDraggable({ id: cardId, data: { pile, index }, disabled: !!disabled });
  const slot = useDroppable({
    id: `${pile}:${cardId}`,
    data: { pile, index },
    disabled: !!disabled || pile !== "team-values",
  });
  const setRef = (node) => {
    drag.setNodeRef(node);
    slot.setNodeRef(node);
  };
  const { transform, isDragging } = drag;
  const moved = transform ? `translate3d(${transform.x}px, ${transform.y}px, 0)` : undefined;
  return (
    <div
      ref={setRef}
      {...drag.attributes}
      {...drag.listeners}
      {...rest}
      data-dragging={isDragging ? "true" : "false"}
      data-over={slot.isOver && !isDragging ? "true" : "false"}
      style={{
        ...(style || {}),
        transform: moved,
        zIndex: isDragging ? 50 : undefined,
        position: "relative",
        touchAction: "manipulation",
        cursor: disabled ? "default" : isDragging ? "grabbing" : "grab",
        boxShadow: isDragging ? "0 12px 28px rgba(0,0,0,0.18)" : undefined,
        outline: slot.isOver && !isDragging ? "2px solid var(--amber-8)" : undefined,
      }}
    >
      {children}
    </div>
  );
}
