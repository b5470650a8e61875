"""Clicks that must not be lost: commands the browser sends again until this server acknowledges them.

Reflex sends an event at most once: a frame written into a socket that died silently is lost. So the
dashboard's controls and the team board's moves are not Reflex events of their own. The browser's outbox
(cardsort_outbox.jsx) gives each click an id, keeps it (sessionStorage: a reload keeps it too) and sends it
to `send_commands` until `command_acks` names it, as the board's change queue does with its changes. Each
id is applied once: the tab remembers the answers it gave, and the event a command writes carries the
command's id, which the log stores once, so a repeat after a reload, or served by another worker, finds
it there and changes nothing.

`send_commands` is an endpoint like any other: the batch and every command are checked field by field,
and each state runs only the commands it lists, after proving who the tab is.
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import reflex as rx

from cardsort_app.service.runtime import get_runtime
from cardsort_app.ui.guard import MALFORMED, BadArgument

#: At most this many commands per `send_commands` call (the outbox sends its oldest first).
MAX_COMMANDS = 20
MAX_ARGS = 8
#: How many answers a tab remembers (ids older than these are still found in the log).
REMEMBERED = 100
UNREADABLE_COMMAND = "That action could not be read; it was dropped"
_ID = re.compile(r"^[A-Za-z0-9-]{8,64}$")
_NAME = re.compile(r"^[a-z_]{1,32}$")


def well_formed_id(value: Any) -> bool:
    """An id a browser chose (a uuid): the log's dedup key, so it must be one the log can store."""
    return isinstance(value, str) and _ID.match(value) is not None


def read_batch(batch: Any, field: str, limit: int) -> tuple[str, list[Any]] | None:
    """{"batch": id, field: [1..limit items]} as the browser sends it; None when malformed."""
    if not isinstance(batch, dict) or not isinstance(batch.get("batch"), str) or len(batch["batch"]) > 64:
        return None
    items = batch.get(field)
    if not isinstance(items, list) or not 0 < len(items) <= limit:
        return None
    return batch["batch"], items


def ack(item_id: str, reason: str = "") -> dict[str, Any]:
    """A change's or command's answer: done (`ok`), or refused with the reason."""
    return {"id": item_id, "ok": not reason, "reason": reason}


@dataclass(frozen=True)
class Command:
    id: str
    name: str
    args: tuple[Any, ...]


def read_command(raw: Any) -> Command | None:
    """{"id", "name", "args": [...]} checked field by field (the values are checked by the command)."""
    if not isinstance(raw, dict) or not well_formed_id(raw.get("id")):
        return None
    name, args = raw.get("name"), raw.get("args", [])
    if (
        not isinstance(name, str)
        or not _NAME.match(name)
        or not isinstance(args, list)
        or len(args) > MAX_ARGS
    ):
        return None
    return Command(raw["id"], name, tuple(args))


@dataclass(frozen=True)
class Then:
    """What a command does after the tab was shown its effect: `finish()` -> "" or the refusal's reason."""

    finish: Callable[[], Awaitable[str]]


class ResentCommands(rx.State, mixin=True):
    """`send_commands` for a page's outbox. A state using it says who may run commands (`_command_sender`),
    which ones with how many arguments (`_command_arity`), and runs each as `_do_<name>(command_id, *args)`,
    which returns "" when done or the reason it was refused (and raises BadArgument on a malformed one), or
    a `Then`: the tab is shown its state now (an optimistic view) and the command finishes after that."""

    # The answer to the browser's last `send_commands`: {"batch": id, "results": [{"id", "ok", "reason"}]}.
    command_acks: dict[str, Any] = {"batch": "", "results": []}
    _answered: dict[str, str] = {}

    def _command_sender(self) -> tuple[str, str] | None:
        """(session code, the sender id its events carry) once this tab proved who it is, else None."""
        raise NotImplementedError

    def _command_arity(self) -> dict[str, int]:
        """The commands this page runs: name -> number of arguments."""
        raise NotImplementedError

    async def _commands_done(self) -> None:
        """After a batch (e.g. render the new state)."""

    @rx.event
    async def send_commands(self, batch: dict):
        """From the page's outbox: {"batch": id, "commands": [{"id", "name", "args"}]}, oldest first.
        Every command is answered in `command_acks`; none while this tab has not proved who it is (the
        outbox keeps them and sends them again once it has)."""
        read = read_batch(batch, "commands", MAX_COMMANDS)
        if read is None:
            self._refuse_malformed(MALFORMED)
            return
        sender = self._command_sender()
        if sender is None:
            return
        batch_id, raws = read
        results = []
        for raw in raws:
            command = read_command(raw)
            if command is None:
                if isinstance(raw, dict) and well_formed_id(raw.get("id")):
                    results.append(ack(raw["id"], UNREADABLE_COMMAND))
                continue
            reason = self._answered.get(command.id)
            if reason is None:
                answer = await self._answer(sender, command)
                if isinstance(answer, Then):
                    yield  # the tab shows the command's effect now, before the round trip to the log
                    answer = await answer.finish()
                reason = answer
                kept = list(self._answered.items())[-(REMEMBERED - 1) :]
                self._answered = {**dict(kept), command.id: reason}
            results.append(ack(command.id, reason))
        self.command_acks = {"batch": batch_id, "results": results}
        await self._commands_done()

    async def _answer(self, sender: tuple[str, str], command: Command) -> str | Then:
        code, sender_id = sender
        if await get_runtime().service.landed(code, command.id, sender_id):
            return ""  # done before (by an earlier copy of this tab's state, or on another worker)
        try:
            if self._command_arity().get(command.name) != len(command.args):
                raise BadArgument(f"no command {command.name} with {len(command.args)} arguments")
            return await getattr(self, f"_do_{command.name}")(command.id, *command.args)
        except BadArgument:
            self._refuse_malformed(MALFORMED)
            return UNREADABLE_COMMAND
