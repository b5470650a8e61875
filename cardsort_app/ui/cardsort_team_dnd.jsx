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

// A move goes to `onDrop`: the page's command outbox (cardsort_outbox.jsx), which sends it again until the
// server acknowledges it, so a move made into a silently dead connection lands once it reconnects.
export function TeamDndBoard({ children, onDrop, version, ...rest }) {
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
      <div {...rest}>{children}</div>
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
