"""The browser's identities, kept in localStorage: a reload, a second tab or a later visit of the same
browser is the same participant (and the same facilitator), never a new one."""

from __future__ import annotations

import json

import reflex as rx

from cardsort_app.service.sessions import Identity


def _load(raw: str) -> dict[str, dict[str, str]]:
    try:
        data = json.loads(raw or "{}")
    except ValueError:
        return {}
    return data if isinstance(data, dict) else {}


class IdentityState(rx.State):
    # {code: {"pid": ..., "secret": ...}} — the secret proves the id to the server.
    identities: str = rx.LocalStorage("{}", name="cardsort_identities", sync=True)
    # {code: facilitator key}
    facilitator_keys: str = rx.LocalStorage("{}", name="cardsort_facilitator_keys", sync=True)

    def identity_for(self, code: str) -> Identity | None:
        entry = _load(self.identities).get(code)
        if not isinstance(entry, dict) or not entry.get("pid") or not entry.get("secret"):
            return None
        return Identity(str(entry["pid"]), str(entry["secret"]))

    def remember_identity(self, code: str, identity: Identity) -> None:
        data = _load(self.identities)
        data[code] = {"pid": identity.participant_id, "secret": identity.secret}
        self.identities = json.dumps(data)

    def facilitator_key_for(self, code: str) -> str | None:
        key = _load(self.facilitator_keys).get(code)
        return key if isinstance(key, str) else None

    def remember_facilitator_key(self, code: str, key: str) -> None:
        data = _load(self.facilitator_keys)
        data[code] = key
        self.facilitator_keys = json.dumps(data)
