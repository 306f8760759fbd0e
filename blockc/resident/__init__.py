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
_LIMITS = (
    "RLIMIT_NOFILE",
    "RLIMIT_NPROC",
    "RLIMIT_CORE",
    "RLIMIT_STACK",
    "RLIMIT_AS",
    "RLIMIT_CPU",
    "RLIMIT_FSIZE",
    "RLIMIT_DATA",
)


def eligible(argv: list[str]) -> bool:
    """Whether the command may run in the resident process (global options before it, or a
    request for help: no)."""
    if not argv or argv[0] not in COMMANDS:
        return False
    own = argv[: argv.index("--")] if "--" in argv else argv
    return "--help" not in own and "-h" not in own


def startup_key(environ, path: list[str]) -> list:
    """What a command's process has that a fork of the resident process must have too: the
    interpreter, its module path, the environment it started with, and the process's
    credentials, limits, priority, CPUs, control group, root and mount namespace."""
    import os
    import resource
    import sys

    def read(name: str) -> str:
        try:
            with open(name) as f:
                return f.read()
        except OSError:
            return ""

    try:
        mounts = os.readlink("/proc/self/ns/mnt")
        root = list(os.stat("/")[1:3])
    except OSError:
        mounts, root = "", []
    return [
        sys.executable,
        path,  # (the module path: the command's without its script's directory)
        sorted([k, v] for k, v in environ.items() if k.startswith(_STARTUP)),
        [os.getuid(), os.getgid(), sorted(os.getgroups())],
        [list(resource.getrlimit(getattr(resource, n))) for n in _LIMITS],
        os.getpriority(os.PRIO_PROCESS, 0),
        sorted(os.sched_getaffinity(0)),
        read("/proc/self/cgroup"),
        root,
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


def socket_path(key: list) -> str | None:
    """The socket of the resident process for commands started as ``key`` says (one per
    key: two terminals with different settings each have theirs); None when no home can be
    told, or the path is longer than a Unix socket's may be."""
    import os
    import zlib

    from ..errors import BlockcError
    from ..home import home_dir

    try:
        home = home_dir()
    except BlockcError:
        return None
    name = f"resident-{zlib.crc32(repr(key).encode()):08x}.sock"  # (repr: as marshal is not)
    path = os.path.join(os.path.abspath(home), "run", name)
    return path if len(os.fsencode(path)) < 100 else None
