"""The front door's API fuzzed from its OpenAPI document (schemathesis): every operation of
/api/v1/, as a user, as an admin and with no credentials, with valid and invalid requests;
no answer is a 5xx, and every one has a documented status, content type and body.

The document is the one ``blockc serve`` serves at /api/v1/openapi.json (the first test says
so), read in-process, so that pytest makes a test of each operation when it collects them
(``schemathesis.pytest.from_fixture``, which would read it from the running server, sets
``request.node._nodeid``, which pytest 9.2 does not have); the requests go to a real
``blockc serve`` (tests/serve_support.py). Generation is deterministic (derandomized, a fixed
seed, no example database): CI sends the same requests at every run.

No container is ever started. No template is registered here, so making a studio
(POST /api/v1/studios) ends at 404 before anything runs. Of the operations that run a
``blockc`` command in the background, only ``sync`` is sent the name of a recorded studio,
where that is harmless: a stopped studio that has no sync zones ("studio 'idle-s' has no
sync zones", no container asked). Start, stop and DELETE of a studio are fuzzed with the
names the schema gives, which name no studio (404), and are never sent a recorded one with
credentials (they would run ``blockc start|stop|rm`` against podman). The tasks the fuzzing starts end before
the server does; the tokens the requests are sent with are never revoked by them.
"""

from __future__ import annotations

import json
import time

import hypothesis.strategies as st
import pytest
import schemathesis
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)
from serve_support import Site

from blockc.serve.openapi import document

SEED = 20250611
MAX_EXAMPLES = 25
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
]
USER, ADMIN = "alice", "root"
STUDIOS = ("alice-s", "bob-s", "idle-s")  # (idle-s: alice's, stopped, with no sync zones)

schema = schemathesis.openapi.from_dict(
    document(),
    config=schemathesis.Config.from_dict(
        {
            "seed": SEED,
            "generation": {
                "mode": "all",  # (valid requests and invalid ones)
                "max-examples": MAX_EXAMPLES,
                "deterministic": True,
                "database": "none",
            },
            "phases": {"stateful": {"enabled": False}},
            "operations": [
                {  # (the one that reads a file of the host, named in its body: more of those)
                    "include-name": "PUT /api/v1/templates/{template}",
                    "generation": {"max-examples": 4 * MAX_EXAMPLES},
                }
            ],
            "request-timeout": 30,
        }
    ),
)

# Path parameters: those the schema gives (names of no studio, ids of no task or token), and now
# and then one that is there, so that the operations get past their 404 (set by the fixture).
KNOWN: dict[tuple[str, str], tuple[str, tuple[str, ...]]] = {}
# What a request must never name: a studio, to start, stop or remove it (see above); the token
# it is sent with, to revoke it (every request after would be a 401)
RUNS_COMMANDS = {
    ("POST", "/api/v1/studios/{name}/start"),
    ("POST", "/api/v1/studios/{name}/stop"),
    ("DELETE", "/api/v1/studios/{name}"),
}


@schema.hook
def flatmap_path_parameters(context, path_parameters):
    operation = context.operation
    found = KNOWN.get((operation.method.upper(), operation.path))
    if found is None or not isinstance(path_parameters, dict):
        return st.just(path_parameters)
    param, values = found
    return st.one_of(
        st.just(path_parameters),
        st.sampled_from(values).map(lambda value: {**path_parameters, param: value}),
    )


@schema.hook
def flatmap_body(context, body):
    """A template's path is now and then an absolute one (a file of the server's host), alone,
    so that registering a template gets past the checks of its body to the template file's."""
    operation = context.operation
    if (operation.method.upper(), operation.path) != ("PUT", "/api/v1/templates/{template}"):
        return st.just(body)
    if not isinstance(body, dict) or not isinstance(body.get("path"), str):
        return st.just(body)
    absolute = {**body, "path": "/" + body["path"].lstrip("/")}
    return st.sampled_from([body, absolute, {"path": absolute["path"]}])


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    site = Site(tmp_path_factory.mktemp("serve-fuzz") / "home")
    try:
        site.users()
        site.start()
        app = site.backend()
        site.studio("alice-s", USER, app)
        site.studio("bob-s", "bob", app)
        site.studio("idle-s", USER, app, state="STOPPED", gated=False)
        site.tokens = {u: site.token(u) for u in (USER, ADMIN)}
        spare = [site.token(u).split("_")[1] for u in (USER, USER, "bob")]  # (to revoke)
        site.url = f"http://127.0.0.1:{site.port}"
        # a task that ended, for the task operations to find
        started = site.request("POST", "/api/v1/studios/idle-s/sync", token=site.tokens[USER])
        assert started.status == 202, started
        task = started.json()["id"]
        ended = site.request("GET", f"/api/v1/tasks/{task}/events", token=site.tokens[USER])
        assert ended.status == 200 and b"event: end" in ended.body, ended
        KNOWN.update(
            {
                ("GET", "/api/v1/studios/{name}"): ("name", STUDIOS),
                ("GET", "/api/v1/studios/{name}/logs"): ("name", STUDIOS),
                ("POST", "/api/v1/studios/{name}/sync"): ("name", ("idle-s",)),
                ("GET", "/api/v1/tasks/{id}"): ("id", (task,)),
                ("GET", "/api/v1/tasks/{id}/events"): ("id", (task,)),
                ("DELETE", "/api/v1/tokens/{id}"): ("id", tuple(spare)),
            }
        )
        yield site
        wait_for_tasks(site)
    finally:
        KNOWN.clear()
        site.close()


def wait_for_tasks(site: Site, timeout: float = 60.0) -> None:
    """Until no studio has a task running (none outlives the test)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        answer = site.request("GET", "/api/v1/studios", token=site.tokens[ADMIN])
        assert answer.status == 200, answer
        if not any(s["task"] for s in answer.json()["studios"]):
            return
        time.sleep(0.1)
    raise AssertionError("tasks still run after the fuzzing")


def sent_safely(case, site) -> bool:
    """Whether the case may be sent (see RUNS_COMMANDS)."""
    key = (case.method.upper(), case.operation.path)
    params = case.path_parameters or {}
    if key in RUNS_COMMANDS and params.get("name") in STUDIOS:
        return False
    used = {token.split("_")[1] for token in site.tokens.values()}
    return not (key == ("DELETE", "/api/v1/tokens/{id}") and params.get("id") in used)


def call_as(case, site, user: str) -> None:
    if not sent_safely(case, site):
        return
    token = site.tokens[user]
    response = case.call_and_validate(
        base_url=site.url, headers={"Authorization": f"Bearer {token}"}, checks=CHECKS
    )
    # (a valid token is never refused, whatever else the request carries)
    assert response.status_code != 401, (response.status_code, response.text[:300])


def test_the_document_fuzzed_is_the_one_served(site):
    served = site.request("GET", "/api/v1/openapi.json")
    assert served.status == 200 and served.json() == json.loads(json.dumps(document()))


@schema.parametrize()
def test_api_as_a_user(case, site):
    call_as(case, site, USER)


@schema.parametrize()
def test_api_as_an_admin(case, site):
    call_as(case, site, ADMIN)


@schema.parametrize()
def test_api_without_credentials(case, site):
    """The credentials generated (a bearer token, a session cookie) are no one's: 401, with
    an Error, everywhere but at the document itself (every operation: nothing runs)."""
    response = case.call_and_validate(base_url=site.url, checks=CHECKS)
    if case.method.upper() != case.operation.method.upper():
        return  # (a method the path does not take: 405, before anything else)
    if case.operation.path == "/api/v1/openapi.json":
        assert response.status_code == 200
        return
    assert response.status_code == 401, (response.status_code, response.text[:300])
    assert set(json.loads(response.text)) == {"error"}
