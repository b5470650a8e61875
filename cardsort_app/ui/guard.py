"""Every public method of a Reflex State is an endpoint any websocket can call, with any arguments.

Reflex calls a handler as `fn(state, **payload)` with whatever names the client sent: unknown or missing
names would raise before our code runs (the browser's generic "An error occurred"). `guarded` wraps every
handler of our states (IdentityState installs it for itself and all its substates) so such a call is
answered with a clear message and changes nothing. The handlers themselves validate the values
(`text_arg`, `int_arg`): a value of the wrong type or size is refused the same way.
"""

from __future__ import annotations

import functools
import inspect
import logging
from collections.abc import Callable
from typing import Any
from urllib.parse import unquote

from cardsort_app.service.secrets import normalize_code

log = logging.getLogger(__name__)

MALFORMED = "That request was malformed and was ignored."
#: A session code taken from an address or an argument is cut to this before anything looks it up.
MAX_CODE_CHARS = 32
#: What a typed field may hold as typed; the rules then allow 40 (names) and 120 (titles).
MAX_TYPED_CHARS = 200


class BadArgument(ValueError):
    """An event argument of the wrong type or size (raised inside handlers, answered by `guarded`)."""


def _refuse(state: Any, fn: Callable, why: str) -> None:
    log.info("refused a malformed call of %s: %s", fn.__qualname__, why)
    refuse = getattr(state, "_refuse_malformed", None)
    if refuse is not None:
        refuse(MALFORMED)


def guarded(fn: Callable) -> Callable:
    """`fn` with its arguments bound and type-checked by name before it runs; same kind (sync, async,
    async generator) and same signature, so Reflex compiles and calls it as the original."""
    if getattr(fn, "_cardsort_guarded", False):
        return fn
    signature = inspect.signature(fn)
    params = list(signature.parameters.values())[1:]  # after `self`
    by_name = all(p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY) for p in params)
    names = frozenset(p.name for p in params)
    required = frozenset(p.name for p in params if p.default is p.empty)

    def malformed(self: Any, args: tuple, kwargs: dict) -> bool:
        if by_name and not args and required <= kwargs.keys() <= names:
            return False  # the common call (Reflex passes names): the same answer as bind, cheaper
        try:
            signature.bind(self, *args, **kwargs)
        except TypeError as exc:
            _refuse(self, fn, str(exc))
            return True
        return False

    if inspect.isasyncgenfunction(fn):

        @functools.wraps(fn)
        async def agen_wrapper(self: Any, *args: Any, **kwargs: Any):
            if malformed(self, args, kwargs):
                return
            try:
                async for update in fn(self, *args, **kwargs):
                    yield update
            except BadArgument as exc:
                _refuse(self, fn, str(exc))

        wrapper: Callable = agen_wrapper
    elif inspect.iscoroutinefunction(fn):

        @functools.wraps(fn)
        async def async_wrapper(self: Any, *args: Any, **kwargs: Any):
            if malformed(self, args, kwargs):
                return None
            try:
                return await fn(self, *args, **kwargs)
            except BadArgument as exc:
                _refuse(self, fn, str(exc))
                return None

        wrapper = async_wrapper
    else:

        @functools.wraps(fn)
        def sync_wrapper(self: Any, *args: Any, **kwargs: Any):
            if malformed(self, args, kwargs):
                return None
            try:
                return fn(self, *args, **kwargs)
            except BadArgument as exc:
                _refuse(self, fn, str(exc))
                return None

        wrapper = sync_wrapper
    wrapper._cardsort_guarded = True  # type: ignore[attr-defined]
    return wrapper


def overrides_reflex(fn: Callable) -> Callable:
    """Mark a method that deliberately replaces one of Reflex's own State methods (Reflex refuses an
    unmarked one, to catch accidental shadowing)."""
    fn.__override_base_method__ = True  # type: ignore[attr-defined]
    return fn


def text_arg(value: Any, name: str, max_length: int) -> str:
    """A string argument of at most `max_length` characters, or BadArgument."""
    if not isinstance(value, str):
        raise BadArgument(f"{name} must be text")
    if len(value) > max_length:
        raise BadArgument(f"{name} is longer than {max_length} characters")
    return value


def int_arg(value: Any, name: str, low: int, high: int) -> int:
    """An integer argument within [low, high] (a bool is not one), or BadArgument."""
    if not isinstance(value, int) or isinstance(value, bool) or not low <= value <= high:
        raise BadArgument(f"{name} must be a whole number from {low} to {high}")
    return value


def page_code(router: Any) -> str:
    """The session code the page's address names (`/s/<code>/...`, `/join/<code>`), normalised; "" when
    it names none. Read from ``router.url``: Reflex deprecates ``RouterData.page``."""
    parts = router.url.path.split("/")
    code = unquote(parts[2]) if len(parts) > 2 and parts[1] in ("s", "join") else ""
    return normalize_code(code[:MAX_CODE_CHARS])
