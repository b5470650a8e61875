"""Which tabs of this process show which participant (shared by the in-process and Ably presence)."""

from __future__ import annotations

from collections import defaultdict


class LocalTabs:
    """This process's tabs, per participant: a participant's presence here changes only when their first
    tab arrives or their last tab goes, whatever the tabs do in between (reloads, second tabs)."""

    def __init__(self) -> None:
        self._tabs: defaultdict[tuple[str, str], set[str]] = defaultdict(set)
        self._where: dict[str, tuple[str, str]] = {}  # client token -> (session, participant)

    def enter(self, client_token: str, code: str, participant_id: str) -> tuple[tuple[str, str] | None, bool]:
        """Returns (the (session, participant) this tab's move left without a tab, or None; whether this
        is the participant's first tab here)."""
        previous = self._where.get(client_token)
        if previous == (code, participant_id):
            return None, False
        left = self.leave(client_token) if previous is not None else None
        self._where[client_token] = (code, participant_id)
        tabs = self._tabs[(code, participant_id)]
        tabs.add(client_token)
        return left, len(tabs) == 1

    def leave(self, client_token: str) -> tuple[str, str] | None:
        """Returns (session, participant) when this was their last tab here."""
        where = self._where.pop(client_token, None)
        if where is None or (tabs := self._tabs.get(where)) is None:
            return None
        tabs.discard(client_token)
        if tabs:
            return None
        del self._tabs[where]
        return where

    def participants(self, code: str) -> set[str]:
        return {pid for (c, pid) in self._tabs if c == code}

    def counts(self) -> dict[tuple[str, str], int]:
        return {where: len(tabs) for where, tabs in self._tabs.items()}
