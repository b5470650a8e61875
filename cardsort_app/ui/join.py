"""Reflex side of the join forms' request (cardsort_join.jsx): a join that is safe to send again.

The browser stores a token of its own for the session before the join is sent, and sends it with every
join; the service derives the participant from it, so a join whose answer was lost resumes, when sent
again, the participant its first copy made (SessionService.join).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import reflex as rx
from reflex.vars import Var

from cardsort_app.ui.guard import MAX_CODE_CHARS, MAX_TYPED_CHARS, BadArgument, text_arg
from cardsort_app.ui.outbox import js_function

LIBRARY = "$/public" + rx.asset("cardsort_join.jsx", shared=True)
MAX_TOKEN_CHARS = 64  # the service checks the token's form (service/secrets.py)


def join_request(name_input: str, *, code_input: str = "", page_code: Var | str = "") -> Var:
    """`{code, name, token}` as the browser sees them when Join is clicked (element ids of the inputs)."""
    return js_function(LIBRARY, "joinRequest").call(code_input, name_input, page_code)


@dataclass(frozen=True)
class JoinRequest:
    code: str | None  # None: not sent (use the state's copy)
    name: str | None
    token: str | None  # None: an older client without one (the server makes the secret)


def read_join_request(form: Any) -> JoinRequest:
    """A join form's request, checked field by field (any websocket may send anything); BadArgument when
    malformed."""
    if form is None:
        form = {}
    if not isinstance(form, dict):
        raise BadArgument("The join request must be an object")
    code, name, token = form.get("code"), form.get("name"), form.get("token")
    return JoinRequest(
        code=None if code is None else text_arg(code, "The code", MAX_CODE_CHARS),
        name=None if name is None else text_arg(name, "The name", MAX_TYPED_CHARS),
        token=None if token is None else text_arg(token, "The join token", MAX_TOKEN_CHARS),
    )
