"""The front door's users and tokens (blockc/serve/accounts.py; SPEC §9's `blockc users` and
`blockc tokens`), through the CLI as an admin runs it and through the module the server
uses."""

from __future__ import annotations

import json
import os
import sqlite3

import pytest
from compiler_support import run_cli, studio_row

from blockc.errors import BlockcError

PASSWORD = "correct horse battery"


@pytest.fixture
def home(tmp_path, monkeypatch):
    home = tmp_path / "home"
    monkeypatch.setenv("BLOCKC_HOME", str(home))
    return home


def blockc(home, *args, input=None):
    return run_cli(*args, home=home, input=input)


def test_users_add_list_passwd_rm(home):
    from blockc.serve import accounts

    out = blockc(home, "users", "add", "alice", "--group", "ml", "--group", "data", input=PASSWORD)
    assert out.returncode == 0 and "user alice: added, groups data, ml" in out.stdout
    assert blockc(home, "users", "add", "root-ish", "--admin", "--no-password").returncode == 0
    listed = json.loads(blockc(home, "users", "list", "--format", "json").stdout)
    assert [(u["name"], u["admin"], u["groups"], u["password"]) for u in listed] == [
        ("alice", False, ["data", "ml"], True),
        ("root-ish", True, [], False),
    ]
    text = blockc(home, "users", "list").stdout
    assert "alice" in text and "admin" in text

    assert accounts.check_password("alice", PASSWORD).name == "alice"
    assert accounts.check_password("alice", PASSWORD + "x") is None
    assert accounts.check_password("root-ish", "") is None  # no password: no sign-in by one
    assert accounts.check_password("nobody", PASSWORD) is None

    assert blockc(home, "users", "passwd", "alice", input="another password\n").returncode == 0
    assert accounts.check_password("alice", PASSWORD) is None
    assert accounts.check_password("alice", "another password").name == "alice"

    out = blockc(home, "users", "rm", "alice")
    assert out.returncode == 0 and accounts.get_user("alice") is None


def test_passwords_are_stored_as_argon2id_hashes_in_a_private_file(home):
    blockc(home, "users", "add", "alice", input=PASSWORD)
    db = home / "state.db"
    assert oct(db.stat().st_mode & 0o777) == "0o600" and oct(home.stat().st_mode & 0o777) == "0o700"
    with sqlite3.connect(db) as conn:
        (stored,) = conn.execute("SELECT password FROM users WHERE name = 'alice'").fetchone()
    assert stored.startswith("$argon2id$") and PASSWORD not in stored
    raw = b"".join(p.read_bytes() for p in home.iterdir() if p.name.startswith("state.db"))
    assert PASSWORD.encode() not in raw


def test_a_hash_of_older_parameters_is_upgraded_at_sign_in(home):
    from argon2 import PasswordHasher

    from blockc.serve import accounts

    accounts.add_user("alice", PASSWORD)
    weak = PasswordHasher(time_cost=1, memory_cost=8192, parallelism=1).hash(PASSWORD)
    with sqlite3.connect(home / "state.db") as conn:
        conn.execute("UPDATE users SET password = ? WHERE name = 'alice'", (weak,))
    assert accounts.check_password("alice", PASSWORD).name == "alice"
    with sqlite3.connect(home / "state.db") as conn:
        (now,) = conn.execute("SELECT password FROM users WHERE name = 'alice'").fetchone()
    assert now != weak and not PasswordHasher().check_needs_rehash(now)


@pytest.mark.parametrize(
    "args, stdin, message",
    [
        (("users", "add", "Alice"), PASSWORD, "user name 'Alice' must be"),
        (("users", "add", "a;rm -rf /"), PASSWORD, "user name 'a;rm -rf /' must be"),
        (("users", "add", "../x"), PASSWORD, "user name '../x' must be"),
        (("users", "add", "--", "-x"), PASSWORD, "user name '-x' must be"),
        (("users", "add", "a" * 64), PASSWORD, "must be 1-63"),
        (("users", "add", "bob", "--group", "Bad Group"), PASSWORD, "group name 'Bad Group'"),
        (("users", "add", "bob"), "", "at least 8 characters"),
        (("users", "add", "bob"), "short\n", "at least 8 characters"),
        (("users", "add", "bob"), f"{PASSWORD}\nsecond line\n", "more than one line"),
        (("users", "add", "bob"), "x" * 2000, "at most 1024 bytes"),
        (("users", "add", "alice"), PASSWORD, "user 'alice' exists already"),
        (("users", "rm", "alcie"), None, "no user named 'alcie' (did you mean 'alice'?)"),
        (("users", "passwd", "nobody"), PASSWORD, "no user named 'nobody'"),
        (("tokens", "create", "--user", "nobody"), None, "no user named 'nobody'"),
        (("tokens", "create", "--user", "alice", "--note", "a\x1b[2Jb"), None, "printable"),
        (("tokens", "revoke", "0123456789ab"), None, "no token with id '0123456789ab'"),
        (("tokens", "list", "--user", "nobody"), None, "no user named 'nobody'"),
    ],
)
def test_bad_input_is_refused_with_a_clear_message_and_changes_nothing(home, args, stdin, message):
    blockc(home, "users", "add", "alice", input=PASSWORD)
    before = blockc(home, "users", "list", "--format", "json").stdout
    out = blockc(home, *args, input=stdin)
    assert out.returncode == 1 and message in out.stderr, out.stderr
    assert blockc(home, "users", "list", "--format", "json").stdout == before
    assert json.loads(blockc(home, "tokens", "list", "--format", "json").stdout) == []


def test_bad_expiry_is_a_usage_error(home):
    blockc(home, "users", "add", "alice", input=PASSWORD)
    for days in ("-1", "soon", "nan", "1e9"):
        out = blockc(home, "tokens", "create", "--user", "alice", "--expires", days)
        assert out.returncode == 2 and "--expires" in out.stderr, (days, out.stderr)


def test_a_user_who_owns_studios_is_not_removed(home):
    from blockc.run import state

    blockc(home, "users", "add", "alice", input=PASSWORD)
    state.save(studio_row("s1", owner="alice"))
    out = blockc(home, "users", "rm", "alice")
    assert out.returncode == 1 and "owns studios: s1" in out.stderr
    assert "alice" in blockc(home, "users", "list").stdout


def test_a_token_is_shown_once_and_stands_for_its_user_until_revoked(home):
    from blockc.serve import accounts

    blockc(home, "users", "add", "alice", input=PASSWORD)
    out = blockc(home, "tokens", "create", "--user", "alice", "--note", "ci")
    token = out.stdout.strip()
    assert out.returncode == 0 and token.startswith("blockc_") and "\n" not in token
    token_id = token.split("_")[1]
    assert f"token {token_id} of alice" in out.stderr and "shown once" in out.stderr
    listed = blockc(home, "tokens", "list")
    assert token_id in listed.stdout and "(ci)" in listed.stdout
    secret = token.rsplit("_", 1)[1]
    assert secret not in listed.stdout + blockc(home, "tokens", "list", "--format", "json").stdout
    raw = b"".join(p.read_bytes() for p in home.iterdir() if p.name.startswith("state.db"))
    assert secret.encode() not in raw  # only its hash is kept

    assert accounts.user_for_token(token).name == "alice"
    (used,) = accounts.tokens("alice")
    assert used.last_used is not None
    for wrong in (token[:-1] + ("A" if token[-1] != "A" else "B"), token + "x", "", "blockc_"):
        assert accounts.user_for_token(wrong) is None, wrong
    assert blockc(home, "tokens", "revoke", token_id).returncode == 0
    assert accounts.user_for_token(token) is None
    assert blockc(home, "tokens", "list").stdout.strip() == "no tokens"


def test_tokens_expire_and_go_with_their_user(home):
    from blockc.serve import accounts

    accounts.add_user("alice", None)
    made, token = accounts.create_token("alice", days=1)
    assert accounts.user_for_token(token, now=made.created_at + 86399).name == "alice"
    assert accounts.user_for_token(token, now=made.created_at + 86401) is None
    forever, token2 = accounts.create_token("alice", days=None)
    assert forever.expires_at is None
    assert accounts.user_for_token(token2, now=made.created_at + 1e9).name == "alice"
    accounts.remove_user("alice")
    assert accounts.tokens() == [] and accounts.user_for_token(token2) is None
    accounts.add_user("bob", None)
    for days in (0, -1, 36501, float("inf"), float("nan")):
        with pytest.raises(BlockcError, match="more than 0 and at most 36500 days"):
            accounts.create_token("bob", days=days)


def test_tokens_create_defaults_to_the_login_users_account(home, monkeypatch):
    import getpass

    from blockc.serve.accounts import NAME

    me = getpass.getuser()
    if not NAME.fullmatch(me):
        pytest.skip(f"the login name {me!r} cannot be a blockc user's")
    out = blockc(home, "tokens", "create")
    assert out.returncode == 1 and f"no blockc user named {me!r} (you)" in out.stderr
    blockc(home, "users", "add", me, "--no-password")
    out = blockc(home, "tokens", "create", "--expires", "0")
    assert out.returncode == 0 and f"of {me}, expires never" in out.stderr


def test_the_home_state_of_studios_is_untouched_by_accounts(home):
    """Users live beside the studios in state.db: adding them keeps the studios' table."""
    from blockc.run import state

    state.save(studio_row("s1"))
    blockc(home, "users", "add", "alice", "--no-password")
    assert [s.name for s in state.all_studios()] == ["s1"]
    assert os.path.exists(home / "state.db")


def test_users_set_changes_admin_and_groups(home):
    assert blockc(home, "users", "add", "zed", "--no-password", "--group", "a").returncode == 0
    out = blockc(home, "users", "set", "zed", "--admin", "--group", "b", "--group", "c")
    assert out.returncode == 0 and "user zed: admin, groups b, c" in out.stdout
    listed = json.loads(blockc(home, "users", "list", "--format", "json").stdout)
    assert (listed[0]["admin"], listed[0]["groups"]) == (True, ["b", "c"])
    out = blockc(home, "users", "set", "zed", "--no-admin", "--no-groups")
    assert "not an admin, groups (none)" in out.stdout
    assert blockc(home, "users", "set", "zed").returncode == 2  # (nothing to change)
    bad = blockc(home, "users", "set", "zed", "--group", "Bad Group")
    assert bad.returncode == 1 and "group name 'Bad Group'" in bad.stderr
    missing = blockc(home, "users", "set", "nobody", "--admin")
    assert missing.returncode == 1 and "no user named 'nobody'" in missing.stderr


def test_templates_add_list_rm(home):
    from compiler_support import EXAMPLES

    out = blockc(home, "templates", "add", "mini", EXAMPLES / "minimal.yaml", "--group", "ml")
    assert out.returncode == 0 and "template mini: " in out.stdout and "groups ml" in out.stdout
    listed = json.loads(blockc(home, "templates", "list", "--format", "json").stdout)
    assert listed == [{"name": "mini", "path": str(EXAMPLES / "minimal.yaml"), "groups": ["ml"]}]
    bad = blockc(home, "templates", "add", "bad", home / "none.yaml")
    assert bad.returncode == 1 and "none.yaml" in bad.stderr
    assert blockc(home, "templates", "add", "Bad_Name", EXAMPLES / "minimal.yaml").returncode == 1
    assert blockc(home, "templates", "rm", "mini").returncode == 0
    gone = blockc(home, "templates", "rm", "mini")
    assert gone.returncode == 1 and "no template named 'mini'" in gone.stderr
