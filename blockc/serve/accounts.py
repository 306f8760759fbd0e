"""The site's users, their groups and their API tokens (SPEC §9), in the home's ``state.db``
beside the studios (a user's name is the owner of the studios they start).

- Passwords are stored as argon2id hashes (argon2-cffi's parameters: RFC 9106's second
  recommended set, 64 MiB), rehashed at a successful check when the parameters changed. A
  user may have none (they sign in through a token or a trusted proxy's header).
- A token is ``blockc_<id>_<secret>``: the id is public (listed, revoked by it), the secret
  32 random bytes stored only as their SHA-256 (a random secret needs no slow hash, and every
  API request checks one). The whole token is shown once, when it is made.
"""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import re
import secrets
import sqlite3
import time

from ..errors import BlockcError, did_you_mean
from ..run import state
from ..value import Value

_SCHEMA = """
CREATE TABLE IF NOT EXISTS users (
    name TEXT PRIMARY KEY,
    admin INTEGER NOT NULL DEFAULT 0,
    password TEXT,
    created_at REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS user_groups (
    user TEXT NOT NULL,
    grp TEXT NOT NULL,
    PRIMARY KEY (user, grp)
);
CREATE TABLE IF NOT EXISTS tokens (
    id TEXT PRIMARY KEY,
    user TEXT NOT NULL,
    digest TEXT NOT NULL,
    created_at REAL NOT NULL,
    expires_at REAL,
    last_used REAL,
    note TEXT NOT NULL DEFAULT ''
);
"""

# user and group names: lowercase (no two users told apart by case alone), a Kubernetes label
# value (a user's name is the owner label of their studios)
NAME = re.compile(r"[a-z0-9](?:[a-z0-9._-]{0,61}[a-z0-9])?")
TOKEN = re.compile(r"blockc_([0-9a-f]{12})_([A-Za-z0-9_-]{43})")
MIN_PASSWORD, MAX_PASSWORD = 8, 1024
DAY = 86400.0
MAX_DAYS = 36500  # a token's longest lifetime (a century: "until revoked" is None)


class User(Value):
    name: str
    admin: bool = False
    groups: tuple[str, ...] = ()
    has_password: bool = False
    created_at: float = 0.0


class Token(Value):
    id: str
    user: str
    created_at: float
    expires_at: float | None = None
    last_used: float | None = None
    note: str = ""

    def json(self) -> dict:
        return {
            "id": self.id,
            "user": self.user,
            "created_at": self.created_at,
            "expires_at": self.expires_at,
            "last_used": self.last_used,
            "note": self.note,
        }

    def expired(self, now: float | None = None) -> bool:
        return self.expires_at is not None and (time.time() if now is None else now) >= (
            self.expires_at
        )


def check_name(kind: str, name: str) -> str:
    if not isinstance(name, str) or not NAME.fullmatch(name):
        raise BlockcError(
            f"{kind} name {name!r} must be 1-63 lowercase letters, digits, '.', '_' or '-', "
            f"starting and ending with a letter or digit"
        )
    return name


def check_new_password(password: str) -> str:
    if len(password) < MIN_PASSWORD:
        raise BlockcError(f"the password must have at least {MIN_PASSWORD} characters")
    try:
        size = len(password.encode("utf-8"))
    except UnicodeEncodeError:  # (bytes of no text in the locale's encoding, read as escapes)
        raise BlockcError("the password is not valid text (UTF-8)") from None
    if size > MAX_PASSWORD:
        raise BlockcError(f"the password must have at most {MAX_PASSWORD} bytes")
    return password


def _hasher():
    from argon2 import PasswordHasher

    return PasswordHasher()


@contextlib.contextmanager
def _db():
    with contextlib.closing(state.connect()) as conn:
        conn.executescript(_SCHEMA)
        yield conn


# --- users --------------------------------------------------------------------------------


def _user(conn: sqlite3.Connection, row) -> User:
    groups = tuple(
        r[0]
        for r in conn.execute("SELECT grp FROM user_groups WHERE user = ? ORDER BY grp", (row[0],))
    )
    return User(row[0], bool(row[1]), groups, row[2] is not None, row[3])


def get_user(name: str) -> User | None:
    with _db() as conn:
        row = conn.execute(
            "SELECT name, admin, password, created_at FROM users WHERE name = ?", (name,)
        ).fetchone()
        return _user(conn, row) if row else None


def users() -> list[User]:
    with _db() as conn:
        rows = conn.execute(
            "SELECT name, admin, password, created_at FROM users ORDER BY name"
        ).fetchall()
        return [_user(conn, r) for r in rows]


def require_user(name: str) -> User:
    user = get_user(name)
    if user is None:
        raise BlockcError(
            f"no user named {name!r}",
            hint=did_you_mean(name, [u.name for u in users()]) or "see `blockc users list`",
        )
    return user


def add_user(
    name: str, password: str | None, *, admin: bool = False, groups: tuple[str, ...] = ()
) -> User:
    """A new user (``password`` None: none; they sign in by token or a trusted header)."""
    check_name("user", name)
    for g in groups:
        check_name("group", g)
    digest = None if password is None else _hasher().hash(check_new_password(password))
    with _db() as conn:
        try:
            conn.execute("BEGIN IMMEDIATE")
            conn.execute(
                "INSERT INTO users (name, admin, password, created_at) VALUES (?, ?, ?, ?)",
                (name, int(admin), digest, time.time()),
            )
            conn.executemany(
                "INSERT OR IGNORE INTO user_groups (user, grp) VALUES (?, ?)",
                [(name, g) for g in groups],
            )
            conn.execute("COMMIT")
        except sqlite3.IntegrityError:
            conn.execute("ROLLBACK")
            raise BlockcError(f"user {name!r} exists already") from None
    return require_user(name)


def update_user(
    name: str, *, admin: bool | None = None, groups: tuple[str, ...] | None = None
) -> User:
    """Make the user an admin or not, and give them these groups (None: left as they are)."""
    for g in groups or ():
        check_name("group", g)
    require_user(name)
    with _db() as conn:
        conn.execute("BEGIN IMMEDIATE")
        if admin is not None:
            conn.execute("UPDATE users SET admin = ? WHERE name = ?", (int(admin), name))
        if groups is not None:
            conn.execute("DELETE FROM user_groups WHERE user = ?", (name,))
            conn.executemany(
                "INSERT OR IGNORE INTO user_groups (user, grp) VALUES (?, ?)",
                [(name, g) for g in groups],
            )
        conn.execute("COMMIT")
    return require_user(name)


def remove_user(name: str) -> User:
    """Remove a user with their tokens; refused while they own studios (whose files only
    they may decide about). One transaction: no studio or token of theirs made meanwhile."""
    user = require_user(name)
    with _db() as conn:
        conn.execute("BEGIN IMMEDIATE")
        try:
            owned = [
                r[0]
                for r in conn.execute(
                    "SELECT name FROM studios WHERE owner = ? ORDER BY name", (name,)
                )
            ]
            if owned:
                raise BlockcError(
                    f"user {name!r} owns studios: {', '.join(owned)}",
                    hint="`blockc rm` them first (their files would have no owner left)",
                )
            for table, column in (("tokens", "user"), ("user_groups", "user"), ("users", "name")):
                conn.execute(f"DELETE FROM {table} WHERE {column} = ?", (name,))
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        conn.execute("COMMIT")
    return user


def set_password(name: str, password: str) -> None:
    require_user(name)
    digest = _hasher().hash(check_new_password(password))
    with _db() as conn:
        conn.execute("UPDATE users SET password = ? WHERE name = ?", (digest, name))


# a hash checked when the user does not exist or has no password: as slow as a real check, so
# the answer's time does not tell which names exist (made at the first check, whoever it is
# for: the first check is not slower for an unknown name either)
_DUMMY: list[str] = []


def check_password(name: str, password: str) -> User | None:
    """The user, if ``password`` is theirs (None otherwise, however it failed)."""
    from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

    ph = _hasher()
    if not _DUMMY:
        _DUMMY.append(ph.hash(secrets.token_hex(16)))
    with _db() as conn:
        row = conn.execute("SELECT password FROM users WHERE name = ?", (name,)).fetchone()
    digest = row[0] if row else None
    if digest is None:
        with contextlib.suppress(VerificationError):
            ph.verify(_DUMMY[0], password)
        return None
    try:
        ph.verify(digest, password)
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return None
    if ph.check_needs_rehash(digest):
        with _db() as conn:  # (only if nobody changed it meanwhile)
            conn.execute(
                "UPDATE users SET password = ? WHERE name = ? AND password = ?",
                (ph.hash(password), name, digest),
            )
    return get_user(name)


# --- tokens -------------------------------------------------------------------------------


def _digest(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def _token(row) -> Token:
    return Token(*row)


_TOKEN_COLUMNS = "id, user, created_at, expires_at, last_used, note"


def create_token(user: str, *, days: float | None, note: str = "") -> tuple[Token, str]:
    """A new token of ``user`` valid for ``days`` (None: until revoked), and the token itself
    (shown once: only its secret's hash is kept)."""
    require_user(user)
    if days is not None and not 0 < days <= MAX_DAYS:
        raise BlockcError(
            f"a token's lifetime must be more than 0 and at most {MAX_DAYS} days, not {days}"
        )
    if len(note) > 200 or not note.isprintable():
        raise BlockcError("a token's note must be printable and at most 200 characters")
    token_id, secret = secrets.token_hex(6), secrets.token_urlsafe(32)
    now = time.time()
    expires = None if days is None else now + days * DAY
    with _db() as conn:  # (only for a user still there: one removed meanwhile has none)
        made = conn.execute(
            f"INSERT INTO tokens ({_TOKEN_COLUMNS}, digest) SELECT ?, ?, ?, ?, NULL, ?, ? "
            "WHERE EXISTS (SELECT 1 FROM users WHERE name = ?)",
            (token_id, user, now, expires, note, _digest(secret), user),
        ).rowcount
    if not made:
        raise BlockcError(f"no user named {user!r}")
    return Token(token_id, user, now, expires, None, note), f"blockc_{token_id}_{secret}"


def tokens(user: str | None = None) -> list[Token]:
    where, args = ("WHERE user = ?", (user,)) if user is not None else ("", ())
    with _db() as conn:
        rows = conn.execute(
            f"SELECT {_TOKEN_COLUMNS} FROM tokens {where} ORDER BY user, created_at", args
        ).fetchall()
    return [_token(r) for r in rows]


def revoke_token(token_id: str) -> Token:
    with _db() as conn:
        row = conn.execute(
            f"SELECT {_TOKEN_COLUMNS} FROM tokens WHERE id = ?", (token_id,)
        ).fetchone()
        if row is None:
            raise BlockcError(f"no token with id {token_id!r}", hint="see `blockc tokens list`")
        conn.execute("DELETE FROM tokens WHERE id = ?", (token_id,))
    return _token(row)


def user_for_token(raw: str, *, now: float | None = None) -> User | None:
    """The user a presented token stands for (None: malformed, unknown, wrong secret, expired,
    or its user removed), its last use recorded."""
    m = TOKEN.fullmatch(raw)
    if not m:
        return None
    token_id, secret = m.groups()
    now = time.time() if now is None else now
    with _db() as conn:
        row = conn.execute(
            "SELECT user, digest, expires_at FROM tokens WHERE id = ?", (token_id,)
        ).fetchone()
        if row is None or not hmac.compare_digest(row[1], _digest(secret)):
            return None
        if row[2] is not None and now >= row[2]:
            return None
        conn.execute("UPDATE tokens SET last_used = ? WHERE id = ?", (now, token_id))
    return get_user(row[0])
