"""Lifecycle operations run for the API: one ``blockc`` command each, in the background.

A task is the CLI's own command (``blockc start|stop|sync|rm``) in a process of its own,
so that it does exactly what a user at a shell gets: the studio's lock (one operation per
studio at a time, whoever starts it), the same messages, the same failures. Its output goes
to a file in ``$BLOCKC_HOME/tasks/``, not a pipe: a client that goes away, or the server
itself ending, never cuts an operation short (the command writes on, and finishes). The
server reads the file as it grows and hands each line to whoever follows the task (server-
sent events), from the start or from the last event a client saw.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import secrets
import sys
import time
from collections.abc import Callable

from ..home import private_home
from ..value import Value

BLOCKC = (sys.executable, "-m", "blockc")  # (the CLI, as the server runs it)
KEEP_LINES = 5000  # a task's lines kept for its followers (the file has all of them)
KEEP_ENDED = 200  # ended tasks remembered


def command_env() -> dict[str, str]:
    """The environment of a ``blockc`` command the server runs: in a process of its own, on
    this home (not through a front door), its progress in plain lines."""
    env = dict(os.environ, BLOCKC_RESIDENT="0", NO_COLOR="1", TERM="dumb")
    env.pop("BLOCKC_SERVER", None)
    return env


async def output(*argv: str, timeout: float | None = None) -> tuple[int, bytes, bytes]:
    """A short ``blockc`` command's exit code, stdout and stderr (``blockc logs``,
    ``validate``...); killed if the caller goes away first (a browser that left)."""
    proc = await asyncio.create_subprocess_exec(
        *BLOCKC,
        *argv,
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        env=command_env(),
    )
    try:
        out, err = await asyncio.wait_for(proc.communicate(), timeout)
    finally:
        if proc.returncode is None:
            proc.kill()
    return proc.returncode or 0, out, err


class Event(Value):
    id: int
    kind: str  # "line" or "end"
    data: dict


class Task:
    def __init__(
        self, action: str, studio: str, user: str, template: str = "", creates: bool = False
    ) -> None:
        self.id = secrets.token_hex(8)
        self.action, self.studio, self.user = action, studio, user
        self.template = template  # (a start's or a build's)
        self.creates = creates  # (a start that makes the studio: it has no record until then)
        self.state = "running"  # running, succeeded, failed
        self.returncode: int | None = None
        self.started_at: float = time.time()
        self.ended_at: float | None = None
        self.events: list[Event] = []
        self._changed = asyncio.Event()

    def add(self, kind: str, data: dict) -> None:
        next_id = self.events[-1].id + 1 if self.events else 1
        self.events.append(Event(next_id, kind, data))
        if len(self.events) > KEEP_LINES:
            del self.events[: len(self.events) - KEEP_LINES]
        self._changed.set()
        self._changed = asyncio.Event()

    def json(self) -> dict:
        return {
            "id": self.id,
            "action": self.action,
            "studio": self.studio,
            "user": self.user,
            "state": self.state,
            "returncode": self.returncode,
            "started_at": self.started_at,
            "ended_at": self.ended_at,
            "lines": self.lines()[-20:],
        }

    def lines(self) -> list[str]:
        """What its command printed (the lines kept)."""
        return [e.data["text"] for e in self.events if e.kind == "line"]

    async def follow(self, after: int = 0):
        """Every event after the one numbered ``after``, as they come, until the end."""
        while True:
            changed = self._changed
            for event in [e for e in self.events if e.id > after]:
                yield event
                after = event.id
                if event.kind == "end":
                    return
            if self.state != "running":
                return
            await changed.wait()


class Tasks:
    def __init__(self) -> None:
        self.tasks: dict[str, Task] = {}
        self._procs: set[asyncio.Task] = set()
        self.on_change: Callable[[], None] | None = None  # (a task began or ended)

    def running_for(self, studio: str) -> Task | None:
        return next(
            (t for t in self.tasks.values() if t.studio == studio and t.state == "running"),
            None,
        )

    def get(self, task_id: str) -> Task | None:
        return self.tasks.get(task_id)

    def start(
        self,
        action: str,
        studio: str,
        user: str,
        argv: list[str],
        template: str = "",
        creates: bool = False,
    ) -> Task:
        task = Task(action, studio, user, template, creates)
        self.tasks[task.id] = task
        ended = [t for t in self.tasks.values() if t.state != "running"]
        for old in ended[: max(0, len(ended) - KEEP_ENDED)]:
            del self.tasks[old.id]
            with contextlib.suppress(OSError):  # (its log goes with it)
                os.unlink(os.path.join(private_home(), "tasks", f"{old.id}.log"))
        if self.on_change is not None:
            self.on_change()
        runner = asyncio.ensure_future(self._run(task, argv))
        self._procs.add(runner)
        runner.add_done_callback(self._procs.discard)
        return task

    async def _run(self, task: Task, argv: list[str]) -> None:
        logs = os.path.join(private_home(), "tasks")
        os.makedirs(logs, mode=0o700, exist_ok=True)
        path = os.path.join(logs, f"{task.id}.log")
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, 0o600)
        try:
            proc = await asyncio.create_subprocess_exec(
                *BLOCKC,
                *argv,
                stdin=asyncio.subprocess.DEVNULL,
                stdout=fd,
                stderr=fd,
                env=command_env(),
                start_new_session=True,  # (not ended with the server, nor by its signals)
            )
        except OSError as exc:
            os.close(fd)
            task.add("line", {"text": f"cannot run blockc: {exc}"})
            self._end(task, 1)
            return
        os.close(fd)
        with open(path, "rb") as log:
            pending = b""
            while True:
                done = proc.returncode is not None
                chunk = log.read(65536)
                if chunk:
                    pending += chunk
                    *lines, pending = pending.split(b"\n")
                    for line in lines:
                        text = line.decode("utf-8", "replace").rstrip("\r")
                        task.add("line", {"text": text.rsplit("\r", 1)[-1]})
                    continue
                if done:
                    break
                with contextlib.suppress(asyncio.TimeoutError):
                    await asyncio.wait_for(proc.wait(), 0.2)
            if pending:
                task.add("line", {"text": pending.decode("utf-8", "replace")})
        self._end(task, proc.returncode or 0)

    def _end(self, task: Task, returncode: int) -> None:
        task.returncode = returncode
        task.state = "succeeded" if returncode == 0 else "failed"
        task.ended_at = time.time()
        task.add("end", {"state": task.state, "returncode": returncode})
        if self.on_change is not None:
            self.on_change()

    async def close(self) -> None:
        """Stop following (the commands themselves run on to their end)."""
        for runner in list(self._procs):
            runner.cancel()
        await asyncio.gather(*self._procs, return_exceptions=True)
