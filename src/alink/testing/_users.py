"""Users of the fake SciCat server: passwords, groups, login answers and JWTs."""

from __future__ import annotations

import dataclasses
import hashlib
import hmac
import threading
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from typing import Any, Literal

from . import _jwt

__all__ = ["AuthResult", "User", "UserRegistry"]

AuthState = Literal["none", "valid", "invalid"]


@dataclasses.dataclass(frozen=True, slots=True)
class User:
    """One account. ``groups=None`` lets the user read every dataset (an admin)."""

    username: str
    password: str = dataclasses.field(repr=False)
    email: str
    groups: frozenset[str] | None
    id: str

    def document(self) -> dict[str, Any]:
        """The stored User document as SciCat returns it (no password)."""
        return {
            "_id": self.id,
            "username": self.username,
            "email": self.email,
            "authStrategy": "local",
            "__v": 0,
            "id": self.id,
        }


@dataclasses.dataclass(frozen=True, slots=True)
class AuthResult:
    """What the ``Authorization`` header of a request amounted to."""

    state: AuthState
    user: User | None = None


def _object_id(username: str) -> str:
    # A stable, Mongo-ObjectId-looking id (24 hex digits) per user name.
    return hashlib.sha256(b"alink-user:" + username.encode()).hexdigest()[:24]


def _iso_now(now: float) -> str:
    stamp = datetime.fromtimestamp(now, tz=UTC).isoformat(timespec="milliseconds")
    return stamp.removesuffix("+00:00") + "Z"


class UserRegistry:
    """Thread-safe user table that mints and checks the server's JWTs."""

    def __init__(self, secret: bytes) -> None:
        self._secret = secret
        self._lock = threading.Lock()
        self._by_name: dict[str, User] = {}
        self._by_id: dict[str, User] = {}

    def __repr__(self) -> str:
        return f"UserRegistry(users={sorted(self._by_name)})"

    def add(
        self,
        username: str,
        password: str,
        *,
        email: str | None = None,
        groups: Iterable[str] | None = None,
    ) -> User:
        """Add a user (``ValueError`` if the name is taken or a value is bad)."""
        if not isinstance(username, str) or not username:
            raise ValueError(f"a username must be a non-empty string, got {username!r}")
        if not isinstance(password, str):
            raise ValueError(f"the password of user {username!r} must be a string")
        if email is not None and not isinstance(email, str):
            raise ValueError(f"the email of user {username!r} must be a string")
        if isinstance(groups, str):
            raise ValueError(
                f"groups of user {username!r} must be a list of names, not a string"
            )
        group_set = None if groups is None else frozenset(groups)
        if group_set is not None and not all(isinstance(g, str) for g in group_set):
            raise ValueError(f"groups of user {username!r} must be strings")
        user = User(
            username=username,
            password=password,
            email=email if email is not None else f"{username}@your.site",
            groups=group_set,
            id=_object_id(username),
        )
        with self._lock:
            if username in self._by_name:
                raise ValueError(f"user {username!r} already exists")
            self._by_name[username] = user
            self._by_id[user.id] = user
        return user

    def add_from_spec(self, username: str, spec: str | Mapping[str, Any]) -> User:
        """Add a user given as a password or ``{"password", "email"?, "groups"?}``."""
        if isinstance(spec, str):
            return self.add(username, spec)
        if not isinstance(spec, Mapping):
            raise ValueError(
                f"user {username!r} must map to a password or a mapping"
                f" with 'password', got {type(spec).__name__}"
            )
        unknown = set(spec) - {"password", "email", "groups"}
        if unknown or "password" not in spec:
            raise ValueError(
                f"user {username!r}: expected keys 'password' (required), 'email',"
                f" 'groups'; got {sorted(spec)}"
            )
        return self.add(
            username,
            spec["password"],
            email=spec.get("email"),
            groups=spec.get("groups"),
        )

    def get(self, username: str) -> User:
        """The user with this name (``ValueError`` if there is none)."""
        with self._lock:
            user = self._by_name.get(username)
        if user is None:
            raise ValueError(f"no user {username!r} on this server")
        return user

    def __len__(self) -> int:
        return len(self._by_name)

    def check_password(self, username: object, password: object) -> User | None:
        """The user if the credentials are right, else ``None``."""
        if not isinstance(username, str) or not isinstance(password, str):
            return None
        with self._lock:
            user = self._by_name.get(username)
        if user is None:
            return None
        ok = hmac.compare_digest(
            user.password.encode("utf-8", "surrogatepass"),
            password.encode("utf-8", "surrogatepass"),
        )
        return user if ok else None

    def mint(self, user: User, *, lifetime: float, now: float) -> str:
        """A signed JWT for ``user`` valid for ``lifetime`` seconds from ``now``.

        A negative lifetime gives an already expired token.
        """
        payload = {**user.document(), "iat": int(now), "exp": int(now + lifetime)}
        return _jwt.encode(payload, self._secret)

    def login_response(
        self, user: User, *, lifetime: float, now: float
    ) -> dict[str, Any]:
        """The body of a successful ``POST /api/v3/auth/login``."""
        token = self.mint(user, lifetime=lifetime, now=now)
        ttl = int(lifetime)
        return {
            "access_token": token,
            "id": token,
            "expires_in": ttl,
            "ttl": ttl,
            "created": _iso_now(now),
            "userId": user.id,
            "user": user.document(),
        }

    def authenticate(self, authorization: str | None, *, now: float) -> AuthResult:
        """Interpret an ``Authorization`` header as SciCat's JWT guard does.

        Only ``Bearer <jwt>`` counts. A bad, expired or foreign token is
        ``"invalid"``; SciCat then treats the request as anonymous.
        """
        if not authorization:
            return AuthResult("none")
        scheme, _, token = authorization.strip().partition(" ")
        token = token.strip()
        if scheme.lower() != "bearer" or not token:
            return AuthResult("invalid")
        try:
            payload = _jwt.decode(token, self._secret, now=now)
        except ValueError:
            return AuthResult("invalid")
        with self._lock:
            user = self._by_id.get(str(payload.get("_id")))
        if user is None or payload.get("username") != user.username:
            return AuthResult("invalid")
        return AuthResult("valid", user)
