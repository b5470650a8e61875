// Drag and drop for the board, on @dnd-kit/core: mouse, touch (press and hold) and pen.
// Only the drop is reported to the server (one event per move); the card follows the pointer locally.
import React from "react";
import {
  DndContext,
  PointerSensor,
  TouchSensor,
  useDraggable,
  useDroppable,
  useSensor,
  useSensors,
} from "@dnd-kit/core";

export function DndBoard({ children, onDrop, ...rest }) {
  const sensors = useSensors(
    useSensor(PointerSensor, { activationConstraint: { distance: 6 } }),
    useSensor(TouchSensor, { activationConstraint: { delay: 180, tolerance: 8 } }),
  );
  const handleDragEnd = ({ active, over }) => {
    if (!over || !onDrop) return;
    const fromPile = active.data.current ? active.data.current.pile : "";
    if (fromPile === over.id) return;
    onDrop({ cardId: String(active.id), fromPile: String(fromPile), toPile: String(over.id) });
  };
  return (
    <DndContext sensors={sensors} onDragEnd={handleDragEnd}>
      <div {...rest}>{children}</div>
    </DndContext>
  );
}

export function DroppablePile({ pile, disabled, children, ...rest }) {
  const { setNodeRef, isOver } = useDroppable({ id: pile, disabled: !!disabled });
  return (
    <div ref={setNodeRef} data-over={isOver ? "true" : "false"} {...rest}>
      {children}
    </div>
  );
}

export function DraggableCard({ cardId, pile, disabled, children, style, ...rest }) {
  const { attributes, listeners, setNodeRef, transform, isDragging } = useDraggable({
    id: cardId,
    data: { pile },
    disabled: !!disabled,
  });
  const moved = transform ? `translate3d(${transform.x}px, ${transform.y}px, 0)` : undefined;
  // The card holds real buttons (its menu, the one-tap moves), which are how the keyboard moves it; the
  // card itself is a drag handle for pointers only, so it is not a focusable "button" around buttons.
  const { role: _role, tabIndex: _tabIndex, ...dragAttributes } = attributes;
  return (
    <div
      ref={setNodeRef}
      {...dragAttributes}
      role="group"
      {...listeners}
      {...rest}
      data-dragging={isDragging ? "true" : "false"}
      style={{
        ...(style || {}),
        transform: moved,
        zIndex: isDragging ? 50 : undefined,
        position: "relative",
        touchAction: "manipulation",
        cursor: disabled ? "default" : isDragging ? "grabbing" : "grab",
        boxShadow: isDragging ? "0 12px 28px rgba(0,0,0,0.18)" : undefined,
      }}
    >
      {children}
    </div>
  );
}
