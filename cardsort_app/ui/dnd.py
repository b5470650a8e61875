"""Reflex wrappers of the local drag-and-drop components (cardsort_dnd.jsx, on @dnd-kit/core)."""

from __future__ import annotations

import reflex as rx

_LIBRARY = "$/public" + rx.asset("cardsort_dnd.jsx", shared=True)
_DND_KIT = "@dnd-kit/core@6.3.1"


class _Dnd(rx.Component):
    library = _LIBRARY
    lib_dependencies: list[str] = [_DND_KIT]


class DndBoard(_Dnd):
    tag = "DndBoard"
    on_drop: rx.EventHandler[lambda payload: [payload]]


class DroppablePile(_Dnd):
    tag = "DroppablePile"
    pile: rx.Var[str]
    disabled: rx.Var[bool]


class DraggableCard(_Dnd):
    tag = "DraggableCard"
    card_id: rx.Var[str]
    pile: rx.Var[str]
    disabled: rx.Var[bool]


dnd_board = DndBoard.create
droppable_pile = DroppablePile.create
draggable_card = DraggableCard.create


# --- the team board (cardsort_team_dnd.jsx): drops carry the shown index and view version --------------
_TEAM_LIBRARY = "$/public" + rx.asset("cardsort_team_dnd.jsx", shared=True)


class _TeamDnd(rx.Component):
    library = _TEAM_LIBRARY
    lib_dependencies: list[str] = [_DND_KIT]


class TeamDndBoard(_TeamDnd):
    tag = "TeamDndBoard"
    version: rx.Var[int]
    on_drop: rx.EventHandler[lambda payload: [payload]]


class TeamPileDrop(_TeamDnd):
    tag = "TeamPileDrop"
    pile: rx.Var[str]
    disabled: rx.Var[bool]


class TeamCard(_TeamDnd):
    tag = "TeamCard"
    card_id: rx.Var[str]
    pile: rx.Var[str]
    index: rx.Var[int]
    disabled: rx.Var[bool]


team_dnd_board = TeamDndBoard.create
team_pile_drop = TeamPileDrop.create
team_card = TeamCard.create
