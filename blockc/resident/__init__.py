"""A resident blockc: a process that has imported blockc once and forks a copy of itself for
each ``blockc exec``, ``sync``, ``status`` or ``logs`` (as Android's zygote does apps).

The command's own process (:mod:`.client`) stays small: it hands its argv, environment,
working directory, umask and standard streams (the descriptors themselves) to the resident
process over a Unix socket in ``$BLOCKC_HOME/run`` and waits for the exit status, forwarding
the signals it gets. The fork (:mod:`.zygote`) takes them over and runs the command as
``blockc`` would, from a fresh copy of an interpreter that has run no command: nothing of one
command reaches the next. What is saved is the interpreter's start and the imports (~45 ms of
a ~130 ms ``blockc exec`` on Kubernetes).

The first eligible command runs in its own process and starts the resident one for the next;
it exits after ``BLOCKC_RESIDENT_IDLE`` seconds (default 600) without a command, when its
socket is taken over or removed, and as soon as any file of the code it has loaded changes
(the next command runs in its own process again and starts a new one). ``BLOCKC_RESIDENT=0``
turns it off; ``=require``: fail rather than run in-process (tests and benchmarks).

This module is imported by every ``blockc`` command: it imports nothing.
"""

COMMANDS = frozenset({"exec", "sync", "status", "logs"})

# what the interpreter's start depends on, beyond its executable: a resident process started
# with other values is not used (the streams' encoding, the locale, Python's own settings)
_STARTUP = ("PYTHON", "LANG", "LC_")


def eligible(argv: list[str]) -> bool:
    """Whether the command may run in the resident process (global options before it: no)."""
    return bool(argv) and argv[0] in COMMANDS and "--help" not in argv and "-h" not in argv


def startup_key(environ, executable: str) -> list:
    return [executable, sorted([k, v] for k, v in environ.items() if k.startswith(_STARTUP))]


def socket_path(environ) -> str | None:
    """The resident process's socket (None: no home can be told, or its path is longer than
    a Unix socket's may be)."""
    import os

    home = environ.get("BLOCKC_HOME")
    if not home:
        user_home = os.path.expanduser("~")
        if user_home == "~":
            return None
        home = os.path.join(user_home, ".local/share/blockc")
    path = os.path.join(os.path.abspath(home), "run", "resident.sock")
    return path if len(os.fsencode(path)) < 100 else None
