"""Issue 13, points 1 and 10 without containers: the names of a studio's objects (per
installation, valid for podman and Kubernetes), the ownership check on their labels, and no
lock file for a studio that does not exist."""

from __future__ import annotations

import pytest

from blockc.errors import BlockcError
from blockc.names import (
    DNS_LABEL,
    LABEL_INSTALLATION,
    LABEL_OWNER,
    LABEL_STUDIO,
    check_ownership,
    object_name,
)
from blockc.run import state


@pytest.mark.parametrize("args", [("stop", "nosuch"), ("stop", "--force", "nosuch"),
                                  ("rm", "nosuch"), ("sync", "nosuch"), ("logs", "nosuch"),
                                  ("exec", "nosuch", "--", "true")])  # fmt: skip
def test_no_lock_file_for_a_studio_that_does_not_exist(cli, tmp_path, args):
    proc = cli(*args)
    assert proc.returncode == 1 and "no studio named 'nosuch'" in proc.stderr, proc.stderr
    locks = tmp_path / "blockc-home" / "locks"
    assert not locks.exists() or not list(locks.iterdir())


def test_a_lock_taken_for_a_new_studio_is_gone_when_it_was_not_made(tmp_path, monkeypatch):
    monkeypatch.setenv("BLOCKC_HOME", str(tmp_path / "home"))
    with state.lock("fresh", create=True):
        assert (tmp_path / "home" / "locks" / "fresh.lock").exists()
    assert not (tmp_path / "home" / "locks" / "fresh.lock").exists()
    with pytest.raises(BlockcError, match="no studio named 'other'"):
        with state.lock("other"):
            pass
    assert not (tmp_path / "home" / "locks" / "other.lock").exists()


def test_the_installation_id_is_made_once_per_home(tmp_path, monkeypatch):
    monkeypatch.setenv("BLOCKC_HOME", str(tmp_path / "a"))
    first = state.installation_id()
    assert first == state.installation_id() and DNS_LABEL.fullmatch(first) and len(first) == 8
    assert (tmp_path / "a" / "installation").stat().st_mode & 0o077 == 0
    monkeypatch.setenv("BLOCKC_HOME", str(tmp_path / "b"))
    assert state.installation_id() != first


def test_a_damaged_installation_id_is_an_error_not_replaced(tmp_path, monkeypatch):
    """A new id would orphan every studio of the home: refuse instead."""
    monkeypatch.setenv("BLOCKC_HOME", str(tmp_path))
    state.installation_id()
    (tmp_path / "installation").write_text("Not-An-Id\n")
    with pytest.raises(BlockcError, match="installation"):
        state.installation_id()


def test_object_names_fit_podman_and_kubernetes():
    longest = object_name("s" * 40, "abcdefgh")
    assert DNS_LABEL.fullmatch(longest) and longest[0].isalpha()
    assert len(longest + "-pod-0") <= 63  # podman's pod name (and the pod's hostname)
    assert object_name("a1", "abcdefgh") != object_name("a1", "abcdefgi")
    assert object_name("0x", "abcdefgh")[0].isalpha()  # a DNS-1035 label (Service names)


OURS = {LABEL_INSTALLATION: "abcdefgh", LABEL_STUDIO: "s", LABEL_OWNER: "alice"}


@pytest.mark.parametrize(
    "labels, why",
    [
        (None, "no labels"),
        ({}, "not created by this blockc"),
        ({**OURS, LABEL_INSTALLATION: "zzzzzzzz"}, "not created by this blockc"),
        ({**OURS, LABEL_STUDIO: "t"}, "studio 't'"),
        ({**OURS, LABEL_OWNER: "bob"}, "owner 'bob'"),
        ({k: v for k, v in OURS.items() if k != LABEL_OWNER}, "no owner"),
    ],
)
def test_an_object_is_ours_only_with_all_three_labels(labels, why):
    with pytest.raises(BlockcError) as info:
        check_ownership("pod", "studio-s-abcdefgh-pod-0", labels, OURS)
    message = str(info.value)
    assert "studio-s-abcdefgh-pod-0" in message and "leaves it alone" in message
    assert why in message or why == "no labels" and "not created by this blockc" in message


def test_an_object_with_all_three_labels_is_ours():
    check_ownership("pod", "p", {**OURS, "blockc.dev/template": "t", "other": "x"}, OURS)


def test_a_removed_studio_leaves_no_sync_locks(tmp_path, monkeypatch):
    """Its zones' sync locks go with it; another studio's, even one whose name starts alike
    (`a` and `a-b`), stay."""
    from blockc.sync.engine import zone_lock_name

    monkeypatch.setenv("BLOCKC_HOME", str(tmp_path / "home"))
    for name in ("a", "a-b"):
        state.save(state.Studio(name=name, owner="o", template="t", template_path="-",
                                artifact_hash="0" * 64, image="i", runtime="podman",
                                state="STOPPED"))  # fmt: skip
    locks = tmp_path / "home" / "locks"
    locks.mkdir(exist_ok=True)
    for studio, zone in (("a", "b-c"), ("a", "w"), ("a-b", "c")):
        (locks / zone_lock_name(studio, zone)).touch()
    assert zone_lock_name("a", "b-c") != zone_lock_name("a-b", "c")
    with state.lock("a"):
        state.delete("a")
    assert sorted(p.name for p in locks.iterdir()) == [zone_lock_name("a-b", "c")]
