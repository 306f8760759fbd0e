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

# the environment the interpreter's start depends on (the streams' encoding, the locale,
# Python's own settings, the dynamic loader's): a resident process started with other values
# is not used
_STARTUP = ("PYTHON", "LANG", "LC_", "LD_")
_LIMITS = ("RLIMIT_NOFILE", "RLIMIT_NPROC", "RLIMIT_CORE", "RLIMIT_STACK", "RLIMIT_AS")


def eligible(argv: list[str]) -> bool:
    """Whether the command may run in the resident process (global options before it: no)."""
    return bool(argv) and argv[0] in COMMANDS and "--help" not in argv and "-h" not in argv


def startup_key(environ) -> list:
    """What a command's process has that a fork of the resident process must have too: the
    interpreter, its module path, the environment it started with, and the process's
    credentials, limits, priority and mount namespace."""
    import os
    import resource
    import sys

    try:
        mounts = os.readlink("/proc/self/ns/mnt")
    except OSError:
        mounts = ""
    return [
        sys.executable,
        sys.path[1:],  # ([0] is the script's directory, or the resident's)
        sorted([k, v] for k, v in environ.items() if k.startswith(_STARTUP)),
        [os.getuid(), os.getgid(), sorted(os.getgroups())],
        [list(resource.getrlimit(getattr(resource, n))) for n in _LIMITS],
        os.getpriority(os.PRIO_PROCESS, 0),
        mounts,
    ]


def run_dir_ok(path: str) -> bool:
    """Whether the directory holding the socket is this user's own and nobody else's to
    write to (a socket someone else placed there would be handed the command)."""
    import os
    import stat

    try:
        st = os.lstat(path)
    except OSError:
        return False
    return stat.S_ISDIR(st.st_mode) and st.st_uid == os.getuid() and not st.st_mode & 0o022


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
