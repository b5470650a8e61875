"""Session codes, facilitator keys and participant secrets.

Secrets are stored only as SHA-256 hashes: they are long random tokens, so a slow password hash buys nothing.
"""

import hashlib
import hmac
import re
import secrets

# No 0/O, 1/I/L: codes are read aloud and typed on phones.
_CODE_ALPHABET = "ABCDEFGHJKMNPQRSTUVWXYZ23456789"
CODE_LENGTH = 6


def new_code() -> str:
    return "".join(secrets.choice(_CODE_ALPHABET) for _ in range(CODE_LENGTH))


def normalize_code(code: str) -> str:
    return code.strip().upper()


def new_secret() -> str:
    return secrets.token_urlsafe(24)


def new_participant_id() -> str:
    return "p_" + secrets.token_hex(8)


#: A join token: the secret a browser makes for itself (128 random bits, ui/cardsort_join.jsx) and keeps
#: before it first asks to join a session, so that a join sent again resumes the identity it made.
_JOIN_TOKEN = re.compile(r"[A-Za-z0-9_-]{32,64}")


def is_join_token(value: object) -> bool:
    return isinstance(value, str) and _JOIN_TOKEN.fullmatch(value) is not None


def participant_id_for(code: str, token: str) -> str:
    """The participant id a join token stands for in a session. One-way: the id is shown to everyone,
    the token proves it (its hash is what the store keeps), and another session's id is unrelated."""
    return "p_" + hashlib.sha256(f"cardsort:participant:{code}:{token}".encode()).hexdigest()[:16]


def hash_secret(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def matches(secret: str | None, stored_hash: str | None) -> bool:
    if not secret or not stored_hash:
        return False
    return hmac.compare_digest(hash_secret(secret), stored_hash)
