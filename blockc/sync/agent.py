"""The container-side sync agent, and the wire helpers both sides share.

This module is standard-library only: it is sent to the studio over the transport (on the
stdin of ``python3 -I -S -c BOOT``, see ``session.py``) and runs there as the studio user, one
process per zone sync. The host imports the same module for the framing and the confined-write
helpers, so both ends speak exactly one protocol.

Wire protocol (one session = one exec; version ``PROTOCOL``):

* a *message* is one JSON line (``\\n``-terminated, ASCII: non-UTF-8 file names travel as
  surrogate escapes);
* a *stream* is a sequence of chunks ``[4-byte big-endian length][data]`` ended by a
  zero-length chunk; it carries a tar archive (GNU format, regular files only) or JSON
  lines; a length with its top bit set is a run of that many zero bytes, with no data
  after it (a hole of a sparse file: see ``ExactReader.span``);
* the host sends a request message (some requests are followed by a stream); the agent
  answers with one message (some answers are preceded by a stream).

Paths are zone-relative, ``/``-separated, never empty, absolute, ``.`` or ``..``.
The host trusts nothing the agent says: it re-checks every name, type and size.
"""

import errno
import json
import os
import stat
import struct
import sys
import time

PROTOCOL = 3
MARKER = ".blockc-sync-id"  # zone identity, at the zone root; never synced
TMP_PREFIX = ".blockc-tmp."  # in-flight temp files; never synced, cleaned up when found
CHUNK = 1 << 18  # stream chunk size on the wire
MAX_CHUNK = 1 << 24  # largest chunk a reader accepts
ZERO_RUN = 1 << 31  # the top bit of a chunk's length: a run of zeros (no data follows)
MAX_ZERO_RUN = 1 << 30
IO = 1 << 20  # file read size
ZERO_IO = bytes(IO)  # what a run of zeros reads as, IO bytes at a time (write_sparse knows it)
SMALL = 1 << 18  # a put writes files up to this size from memory, in writer threads
PUT_THREADS_MIN = 64  # ... when it has at least this many files
# ... and, in a put, once PROBE_FILES small files in a row took more than SLOW_WRITE each one by
# one: where creating a file is quick, the threads only cost CPU (measured in a studio on 2
# cores: a full push of 10,000 files 1.19x a tar pipe one by one, 1.29x with the threads, per
# round medians of 12), where it is slow they save most of it (4.6 s one by one, 2.9 s)
PROBE_FILES = 32
SLOW_WRITE = 100e-6  # seconds (~40-60 us each where it was quick, 200-400 us where slow)
MODE_MASK = 0o777  # permissions kept; setuid, setgid and sticky bits never are
HOLE = 1 << 16  # a block of this many zeros is written as a hole (write_at)
ZEROS = bytes(HOLE)
OPEN_DIR = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC


class ProtocolError(Exception):
    """The other side broke the protocol (or the stream ended early)."""


class PathRefused(Exception):
    """A path that is not a plain zone-relative path, or that would leave the zone."""


# --------------------------------------------------------------------------- framing
# JSON, compact and ASCII, strict: no NaN or Infinity, the whole text one value.

_encoder = json.JSONEncoder(separators=(",", ":"), allow_nan=False)


def _no_constant(name):
    raise ValueError("%s is not JSON" % name)


_decoder = json.JSONDecoder(parse_constant=_no_constant)
dumps = _encoder.encode


def loads(data):
    """The one JSON value ``data`` holds (UTF-8 bytes or a str), nothing around it."""
    text = data.decode("utf-8") if isinstance(data, (bytes, bytearray)) else data
    try:
        obj, end = _decoder.raw_decode(text)
    except RecursionError:  # nested too deep
        raise ValueError("not JSON (nested too deep)") from None
    if end != len(text):
        raise ValueError("extra data after the JSON value")
    return obj


def send(out, obj):
    out.write(dumps(obj).encode("ascii") + b"\n")
    out.flush()


def recv(inp, limit=1 << 26):
    line = inp.readline(limit + 1)
    if not line:
        raise EOFError("stream closed")
    if not line.endswith(b"\n"):
        raise ProtocolError("message too long or truncated")
    return loads(line[:-1])


class ChunkWriter:
    """A write-only file object framing its data into chunks; ``close`` ends the stream."""

    def __init__(self, out, size=CHUNK):
        self.out = out
        self.size = size
        self.buf = bytearray()
        self.closed = False

    def write(self, data):
        n = len(data)
        if not self.buf and n >= self.size:
            self.out.write(struct.pack(">I", n))
            self.out.write(data)
            return n
        self.buf += data
        if len(self.buf) >= self.size:
            self._flush()
        return n

    def _flush(self):
        if self.buf:
            self.out.write(struct.pack(">I", len(self.buf)))
            self.out.write(self.buf)
            self.buf = bytearray()

    def flush(self):
        pass  # chunks go out when full or at close; flushing small ones would only cost

    def zeros(self, n):
        """``n`` zero bytes, sent as runs (a few bytes on the wire, whatever ``n``)."""
        self._flush()
        while n:
            k = min(n, MAX_ZERO_RUN)
            self.out.write(struct.pack(">I", ZERO_RUN | k))
            n -= k

    def close(self):
        if not self.closed:
            self.closed = True
            self._flush()
            self.out.write(b"\0\0\0\0")
            self.out.flush()


class ChunkReader:
    """A read-only file object over a chunked stream; EOF at the end-of-stream chunk."""

    def __init__(self, inp):
        self.inp = inp
        self.left = 0
        self.eof = False
        self.zero = False  # the chunk being read is a run of zeros

    def _next(self):
        head = self.inp.read(4)
        if len(head) != 4:
            raise ProtocolError("stream ended early")
        n = struct.unpack(">I", head)[0]
        self.zero = bool(n & ZERO_RUN)
        if self.zero:
            n &= ~ZERO_RUN
            if not n or n > MAX_ZERO_RUN:
                raise ProtocolError("bad run of zeros")
        elif n > MAX_CHUNK:
            raise ProtocolError("chunk too large")
        elif n == 0:
            self.eof = True
        self.left = n

    def read(self, n=-1):
        if self.eof:
            return b""
        if self.left == 0:
            self._next()
            if self.eof:
                return b""
        if self.zero:  # at most IO bytes at a time: a run costs no memory
            n = IO if n is None or n < 0 or n > IO else n
            n = min(n, self.left)
            self.left -= n
            return ZERO_IO if n == IO else bytes(n)
        if n is None or n < 0 or n > self.left:
            n = self.left
        data = self.inp.read(n)
        if len(data) != n:
            raise ProtocolError("stream ended early")
        self.left -= n
        return data

    def readinto(self, b):
        data = self.read(len(b))
        b[: len(data)] = data
        return len(data)

    def readable(self):
        return True

    def drain(self):
        while self.read(MAX_CHUNK):
            pass

    def lines(self, limit=1 << 20):
        """JSON values, one per line (each line at most ``limit`` bytes)."""
        pending = b""
        while True:
            data = self.read()
            if not data:
                break
            pending += data
            *full, pending = pending.split(b"\n")
            for line in full:
                yield loads(line)
            if len(pending) > limit:
                raise ProtocolError("line too long")
        if pending:
            raise ProtocolError("truncated line")


# ------------------------------------------------------------------------------- tar
# A minimal GNU tar writer/reader: regular files only (anything else in a stream is a
# protocol error), long names via GNU 'L' records, sizes >= 8 GiB in base-256. The
# stdlib tarfile module is general and several times slower per member.

ZERO_BLOCK = bytes(512)


def _num(n, width):
    if n < 8 ** (width - 1):
        return b"%0*o\0" % (width - 1, n)
    return b"\x80" + n.to_bytes(width - 1, "big")


def _header_template(typ):
    h = bytearray(512)
    h[108:116] = _num(0, 8)  # uid
    h[116:124] = _num(0, 8)  # gid
    h[148:156] = b"        "  # the checksum counts as spaces
    h[156:157] = typ
    h[257:265] = b"ustar  \0"
    return bytes(h)


_HEADER = {b"0": _header_template(b"0"), b"L": _header_template(b"L")}


def tar_header(name, size, mode, mtime, typ=b"0"):
    """512-byte header(s) for a regular file; ``name`` is a str (UTF-8, surrogateescape)."""
    raw = name.encode("utf-8", "surrogateescape") if isinstance(name, str) else name
    out = b""
    if len(raw) > 100:
        long = raw + b"\0"
        out = tar_header(b"././@LongLink", len(long), 0, 0, b"L") + long + bytes(-len(long) % 512)
        raw = raw[:100]
    h = bytearray(_HEADER[typ])
    h[0 : len(raw)] = raw
    h[100:108] = _num(mode & MODE_MASK, 8)
    h[124:136] = _num(size, 12)
    h[136:148] = _num(max(0, mtime), 12)
    h[148:156] = b"%06o\0 " % sum(h)
    return out + bytes(h)


def tar_file(out, name, size, src, mode, mtime, tick=None):
    """Header, exactly ``size`` bytes read from ``src.read(n)``, padding. The holes of a
    sparse ``src`` (an ExactReader that looks for them) go out as runs of zeros, when ``out``
    is a chunked stream."""
    out.write(tar_header(name, size, mode, mtime))
    left = size
    span = src.span if getattr(src, "sparse", False) and hasattr(out, "zeros") else None
    while left:
        want = min(IO, left)
        if span is not None:
            hole, n = span(left)
            if hole:
                out.zeros(n)
                left -= n
                if tick:
                    tick(n)
                continue
            want = min(want, n)
        data = src.read(want)
        if not data:
            raise ProtocolError("short read")
        out.write(data)
        left -= len(data)
        if tick:
            tick(len(data))
    if size % 512:
        out.write(bytes(512 - size % 512))


def tar_end(out):
    out.write(ZERO_BLOCK * 2)


def _parse_num(field):
    if field[:1] in (b"\x80", b"\xff"):
        if field[:1] == b"\xff":
            raise ProtocolError("negative number in tar header")
        return int.from_bytes(field[1:], "big")
    field = field.split(b"\0", 1)[0].strip()
    try:
        return int(field, 8) if field else 0
    except ValueError:
        raise ProtocolError("bad number in tar header") from None


def read_exact(f, n):
    data = f.read(n)
    if len(data) == n:
        return data
    parts = [data]
    got = len(data)
    while got < n:
        more = f.read(n - got)
        if not more:
            raise ProtocolError("tar stream ended early")
        parts.append(more)
        got += len(more)
    return b"".join(parts)


class TarMember:
    """A regular file in a tar stream: ``read(n)`` its data (then the reader skips padding)."""

    def __init__(self, f, name, size, mode, mtime):
        self.f, self.name, self.size, self.mode, self.mtime = f, name, size, mode, mtime
        self.left = size

    def read(self, n=-1):
        if n is None or n < 0 or n > self.left:
            n = self.left
        if n == 0:
            return b""
        data = self.f.read(n)
        if not data:
            raise ProtocolError("tar stream ended early")
        self.left -= len(data)
        return data

    def skip(self):
        while self.left:
            self.read(min(IO, self.left))


def tar_members(f, max_name=4096):
    """Yield the regular-file members of a tar stream; ProtocolError on anything else."""
    longname = None
    while True:
        h = read_exact(f, 512)
        if h == ZERO_BLOCK:
            return
        chk = _parse_num(h[148:156])
        if chk != sum(h[:148]) + 256 + sum(h[156:]):
            raise ProtocolError("bad tar header checksum")
        typ = h[156:157]
        size = _parse_num(h[124:136])
        if typ == b"L":
            if size > max_name + 1:
                raise ProtocolError("tar long name too long")
            longname = read_exact(f, size + (-size % 512))[:size].rstrip(b"\0")
            continue
        if typ not in (b"0", b"\0"):
            raise ProtocolError("tar member of type %r refused (regular files only)" % typ)
        if longname is not None:
            raw, longname = longname, None
        else:
            raw = h[0:100].split(b"\0", 1)[0]
            if h[257:263] == b"ustar\0" and h[345]:
                raw = h[345:500].split(b"\0", 1)[0] + b"/" + raw
        m = TarMember(
            f,
            raw.decode("utf-8", "surrogateescape"),
            size,
            _parse_num(h[100:108]),
            _parse_num(h[136:148]),
        )
        yield m
        m.skip()
        if size % 512:
            read_exact(f, 512 - size % 512)


# ----------------------------------------------------------------- confined file access


def check_rel(rel):
    """The parts of a plain zone-relative path, or PathRefused."""
    if not isinstance(rel, str) or not rel or "\0" in rel or rel[0] == "/":
        raise PathRefused("not a relative path: %r" % (rel,))
    parts = rel.split("/")
    if "" in parts or "." in parts or ".." in parts:
        raise PathRefused("not a plain relative path: %r" % (rel,))
    if parts[0] == MARKER or (TMP_PREFIX in rel and any(p.startswith(TMP_PREFIX) for p in parts)):
        raise PathRefused("reserved name: %r" % (rel,))
    return parts


class Zone:
    """A directory tree reached only through directory fds opened with O_NOFOLLOW.

    Every path is resolved component by component from the zone root, so no symlink (a
    planted one, or one swapped in mid-sync) is ever followed: writes, deletes and reads
    stay inside the zone. Directory fds are cached (bounded) for speed.
    """

    def __init__(self, root, create=False):
        if create:
            os.makedirs(root, exist_ok=True)
        self.root = root
        self.root_fd = os.open(root, OPEN_DIR)
        self.fds = {}

    def close(self):
        for fd in self.fds.values():
            os.close(fd)
        self.fds.clear()
        os.close(self.root_fd)

    def forget(self, reldir=None):
        """Drop cached fds (of ``reldir`` and below, or all)."""
        for k in list(self.fds):
            if reldir is None or k == reldir or k.startswith(reldir + "/"):
                os.close(self.fds.pop(k))

    def dir_fd(self, parts, create=False, mode=0o755):
        """An fd for the directory ``parts`` (a list of components); '' is the root."""
        if not parts:
            return self.root_fd
        key = "/".join(parts)
        fd = self.fds.get(key)
        if fd is not None:
            return fd
        parent = self.dir_fd(parts[:-1], create, mode)
        name = parts[-1]
        try:
            fd = os.open(name, OPEN_DIR, dir_fd=parent)
        except FileNotFoundError:
            if not create:
                raise
            try:
                os.mkdir(name, mode | 0o700, dir_fd=parent)
            except FileExistsError:
                pass
            fd = os.open(name, OPEN_DIR, dir_fd=parent)
        except OSError as exc:
            if exc.errno in (errno.ELOOP, errno.ENOTDIR):
                why = "%s is not a directory (symlinks are not followed)" % key
                raise PathRefused(why) from None
            raise
        if len(self.fds) > 256:
            self.forget()
        self.fds[key] = fd
        return fd

    def lstat(self, rel):
        parts = check_rel(rel)
        try:
            return os.stat(parts[-1], dir_fd=self.dir_fd(parts[:-1]), follow_symlinks=False)
        except (FileNotFoundError, PathRefused):
            return None
        except NotADirectoryError:
            return None

    def open_read(self, rel):
        """(fd, stat) of a regular file, never following a link; PathRefused otherwise."""
        parts = check_rel(rel)
        dfd = self.dir_fd(parts[:-1])
        try:
            fd = os.open(
                parts[-1], os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC, dir_fd=dfd
            )
        except OSError as exc:
            if exc.errno == errno.ELOOP:
                raise PathRefused("%s is a symlink (not synced)" % rel) from None
            raise
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            os.close(fd)
            raise PathRefused("%s is not a regular file" % rel)
        return fd, st

    def write(self, rel, src, size, mode, mtime_ns, expect=False, progress=None, hash=True):
        """Write ``size`` bytes read from ``src`` to ``rel`` atomically (see :func:`write_at`).

        ``expect``: False = no check; None = the path must not exist (or be a file or dir
        about to be replaced only if listed); a stat tuple (type, size, mtime_ns) = the
        current file must still match it (else the write is abandoned: it changed since the
        scan). Returns (stat of the written file, sha256 hex) or raises.
        """
        parts = check_rel(rel)
        dfd = self.dir_fd(parts[:-1], create=True)
        return write_at(dfd, parts[-1], rel, src, size, mode, mtime_ns, expect, progress, hash)

    def mkdir(self, rel, mode, expect=None):
        parts = check_rel(rel)
        dfd = self.dir_fd(parts[:-1], create=True)
        try:
            os.mkdir(parts[-1], (mode & MODE_MASK) | 0o700, dir_fd=dfd)
        except FileExistsError:
            st = os.stat(parts[-1], dir_fd=dfd, follow_symlinks=False)
            if not stat.S_ISDIR(st.st_mode):
                raise
        fd = self.dir_fd(parts)
        os.fchmod(fd, (mode & MODE_MASK) | 0o700)
        return os.fstat(fd)

    def delete(self, rel, expect=False):
        """Delete a file or an (empty) directory if it still matches ``expect``."""
        parts = check_rel(rel)
        dfd = self.dir_fd(parts[:-1])
        name = parts[-1]
        st = os.stat(name, dir_fd=dfd, follow_symlinks=False)
        if expect is not False:
            _check_expect(rel, name, dfd, expect)
        if stat.S_ISDIR(st.st_mode):
            self.forget(rel)
            os.rmdir(name, dir_fd=dfd)
        else:
            os.unlink(name, dir_fd=dfd)


_tmp_seq = None


def _tmp_name():
    """A fresh temp file name: a random tag per process and a counter (O_EXCL guards the rest)."""
    global _tmp_seq
    if _tmp_seq is None:
        import itertools

        _tmp_seq = ("%s%s.%d." % (TMP_PREFIX, os.urandom(6).hex(), os.getpid()), itertools.count())
    return _tmp_seq[0] + str(next(_tmp_seq[1]))


def write_at(dfd, name, rel, src, size, mode, mtime_ns, expect=False, progress=None, hash=True):
    """:meth:`Zone.write` in the directory ``dfd`` (``name``: a plain name; ``rel``: the path
    for messages). Thread-safe: touches no shared state but ``dfd``, which it does not close.

    A new file (``expect`` None) is written to an unnamed file (O_TMPFILE) and linked in under
    its name once complete: the link fails if the name appeared meanwhile, and it is one
    directory operation where a temp file and a rename are two (a file's creation is the slow
    part of a big push on a container's overlay file system). Where O_TMPFILE is not there, and
    for a file that replaces another, a temp file renamed into place.

    Sparse files stay sparse: see :func:`write_sparse` (a hole at the end is made by setting
    the file's size)."""
    mode &= MODE_MASK
    fd, tmp = None, None
    if expect is None and _LINK_FD:
        try:  # created with its final mode: no chmod unless a umask or default ACL interferes
            fd = os.open(".", os.O_TMPFILE | os.O_WRONLY | os.O_CLOEXEC, mode, dir_fd=dfd)
        except OSError:  # not on this file system: a temp file, then
            fd = None
    if fd is None:
        tmp = _tmp_name()
        flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC
        fd = os.open(tmp, flags, mode, dir_fd=dfd)
    h = new_sha256() if hash else None
    try:
        try:
            left = size
            hole = 0  # zeros read and not written yet
            while left:
                data = src.read(min(IO, left))
                if not data:
                    raise ProtocolError("file data ended early: %s" % rel)
                n = len(data)
                left -= n
                if h is not None:
                    h.update(data)
                hole = write_sparse(fd, data, hole)
                if progress:
                    progress(n)
            if hole:
                os.ftruncate(fd, size)
            os.utime(fd, ns=(mtime_ns, mtime_ns))
            st = os.fstat(fd)
            if st.st_mode & 0o7777 != mode:
                os.fchmod(fd, mode)
                st = os.fstat(fd)
            if tmp is None:  # "must not exist": the link checks
                try:
                    os.link(_LINK_FD % fd, name, dst_dir_fd=dfd, follow_symlinks=True)
                except FileExistsError:
                    raise Changed("%s appeared since the scan" % rel) from None
        finally:
            os.close(fd)
        if tmp is not None:
            if expect is not False:
                _check_expect(rel, name, dfd, expect)
            os.rename(tmp, name, src_dir_fd=dfd, dst_dir_fd=dfd)
    except BaseException:
        if tmp is not None:
            try:
                os.unlink(tmp, dir_fd=dfd)
            except OSError:
                pass
        raise
    return st, h.hexdigest() if h is not None else None


def write_sparse(fd, data, hole=0):
    """Write ``data`` at the end of a new file being written, ``hole`` zeros after what is
    written so far; return the zeros left pending at its end.

    A block of HOLE zeros in ``data`` (blocks counted from its start: a stream brings the data
    of a big file 1 MiB at a time) is not written but skipped over: the file is new, so the
    hole reads back as zeros, and takes no space (a sparse file stays sparse, a studio's
    ``truncate -s 3G`` is not 3 GiB on the host). A block that holds data costs one or two
    byte lookups; only one that starts and ends with a zero is compared whole."""
    n = len(data)
    if data is ZERO_IO:  # (a run of zeros from the stream)
        return hole + n
    start = 0  # of what is not written yet
    for i in range(0, n, HOLE):
        j = i + HOLE if i + HOLE < n else n
        if data[i] or data[j - 1] or data[i:j] != (ZEROS if j - i == HOLE else bytes(j - i)):
            continue
        if i > start:
            if hole:
                os.lseek(fd, hole, os.SEEK_CUR)
                hole = 0
            _write_all(fd, memoryview(data)[start:i])
        hole += j - i
        start = j
    if start < n:
        if hole:
            os.lseek(fd, hole, os.SEEK_CUR)
            hole = 0
        _write_all(fd, memoryview(data)[start:] if start else data)
    return hole


def _write_all(fd, data):
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view) :]


# how an unnamed file (O_TMPFILE) gets its name: linkat() through /proc, which needs no
# privilege (AT_EMPTY_PATH does); without O_TMPFILE or /proc, new files take a temp name
_LINK_FD = "/proc/self/fd/%d" if hasattr(os, "O_TMPFILE") and os.path.isdir("/proc/self/fd") else ""


class _Bytes:
    """``read(n)`` over bytes already in memory."""

    def __init__(self, data):
        self.data = data
        self.pos = 0

    def read(self, n):
        data = self.data[self.pos : self.pos + n]
        self.pos += len(data)
        return data


class Writers:
    """Small files written by a few threads (the agent's put, the host's get): creating a file
    is the slow part (most of it in the kernel, without the GIL; on ext4 a rename over an
    existing file also starts writing the new data back), and the files of a batch are
    independent. At most ``depth`` files wait in memory (each at most SMALL bytes): memory stays
    bounded. ``results``: key -> what :func:`write_at` returned, or the exception it raised."""

    def __init__(self, threads=3, depth=16):
        import queue
        import threading

        self.results = {}
        self.q = queue.Queue(depth)
        self.threads = [threading.Thread(target=self._run, daemon=True) for _ in range(threads)]
        for t in self.threads:
            t.start()

    def submit(self, key, dfd, name, rel, data, mode, mtime_ns, expect, hash):
        """Write ``data`` as :func:`write_at` does, in ``dfd`` (which the worker closes)."""
        self.q.put((key, dfd, name, rel, data, mode, mtime_ns, expect, hash))

    def _run(self):
        while True:
            job = self.q.get()
            if job is None:
                return
            key, dfd, name, rel, data, mode, mtime_ns, expect, hash = job
            try:
                self.results[key] = write_at(
                    dfd, name, rel, _Bytes(data), len(data), mode, mtime_ns, expect, hash=hash
                )
            except Exception as exc:  # handed back to the caller: never lost with its worker
                self.results[key] = exc
            finally:
                os.close(dfd)

    def close(self):
        for _ in self.threads:
            self.q.put(None)
        for t in self.threads:
            t.join()


class Changed(Exception):
    """The target changed since it was scanned: the operation was not done."""


def ftype(mode):
    if stat.S_ISREG(mode):
        return "f"
    if stat.S_ISDIR(mode):
        return "d"
    if stat.S_ISLNK(mode):
        return "l"
    return "o"


def _check_expect(rel, name, dfd, expect):
    try:
        st = os.stat(name, dir_fd=dfd, follow_symlinks=False)
    except FileNotFoundError:
        st = None
    if expect is None:
        if st is not None:
            raise Changed("%s appeared since the scan" % rel)
        return
    if st is None:
        raise Changed("%s vanished since the scan" % rel)
    t = ftype(st.st_mode)
    if t != expect[0] or (t == "f" and (st.st_size != expect[1] or st.st_mtime_ns != expect[2])):
        raise Changed("%s changed since the scan" % rel)


def new_sha256():
    import hashlib  # here, not at the top: the agent's start-up need not load OpenSSL

    return hashlib.sha256()


def hash_fd(fd):
    h = new_sha256()
    while True:
        data = os.read(fd, IO)
        if not data:
            return h.hexdigest()
        h.update(data)


# ------------------------------------------------------------------------------ scan


def walk(root, prune=None, on_error=None):
    """Yield (rel, stat) for everything under root (not root itself), never following links.

    ``prune(rel, is_dir)`` True skips an entry (and a directory's subtree). Stale temp
    files are removed on the way.
    """
    stack = [("", root)]
    while stack:
        prefix, path = stack.pop()
        try:
            fd, it = scan_dir(path)
        except OSError as exc:
            if on_error:
                on_error(prefix, exc)
            continue
        try:
            for entry in it:
                name = entry.name
                if name.startswith(TMP_PREFIX):
                    try:
                        os.unlink(name, dir_fd=fd)
                    except OSError:
                        pass
                    continue
                if not prefix and name == MARKER:
                    continue
                rel = prefix + name
                try:
                    st = entry.stat(follow_symlinks=False)
                except OSError as exc:
                    if on_error:
                        on_error(rel, exc)
                    continue
                is_dir = stat.S_ISDIR(st.st_mode)
                if prune is not None and prune(rel, is_dir):
                    continue
                yield rel, st
                if is_dir:
                    stack.append((rel + "/", path + "/" + name))
        finally:
            it.close()
            os.close(fd)


def scan_dir(path):
    """(fd, iterator) of a directory's entries, opened without following a link: each entry's
    stat is then looked up from the directory's fd (one name), not from its whole path
    again (~15% faster walks here, most on a container's overlay file system)."""
    fd = os.open(path, OPEN_DIR)
    try:
        return fd, os.scandir(fd)
    except BaseException:
        os.close(fd)
        raise


def make_pruner(patterns):
    """patterns: [(regex, include)] in gitignore order (last match wins); no negations."""
    if not patterns:
        return None
    import re

    compiled = [(re.compile(rx), inc) for rx, inc in patterns]

    def prune(rel, is_dir):
        p = rel + "/" if is_dir else rel
        hit = False
        for rx, inc in compiled:
            if rx.match(p):
                hit = inc
        return hit

    return prune


S_IFMT = 0o170000
S_IFREG = stat.S_IFREG
S_IFDIR = stat.S_IFDIR


def base_entry(type, size, mtime, mode):
    """One path of the baseline as ``op_scan`` takes it: ``[st_mode]`` for a directory,
    ``[st_mode, size, mtime_ns]`` for a file; -1 for what is not known (never equal)."""
    if type == "d":
        return [S_IFDIR | mode if mode >= 0 else -1]
    return [S_IFREG | mode if mode >= 0 else -1, size, mtime]


def entry_of(rel, st, h=None):
    t = ftype(st.st_mode)
    return [rel, t, st.st_size if t == "f" else 0, st.st_mtime_ns, st.st_mode & 0o7777, h]


# ---------------------------------------------------------------------------- agent


class Agent:
    def __init__(self, inp, out):
        self.inp = inp
        self.out = out
        self.zone = None
        self.root = None
        self.zone_id = None

    def serve(self):
        while True:
            try:
                msg = recv(self.inp)
            except EOFError:
                return
            op = msg.get("op")
            if op == "bye":
                send(self.out, {"ok": True})
                return
            handler = getattr(self, "op_" + str(op), None)
            if handler is None:
                raise ProtocolError("unknown op %r" % op)
            handler(msg)

    def op_hello(self, msg):
        root = msg["root"]
        self.root = root
        info = {
            "ok": True,
            "protocol": PROTOCOL,
            "uid": os.getuid(),
            "exists": False,
            "zone_id": None,
        }
        try:
            st = os.lstat(root)
        except FileNotFoundError:
            st = None
        if st is None and msg.get("create"):
            try:
                os.makedirs(root)
            except OSError as exc:
                send(
                    self.out, {"ok": False, "error": "cannot create %s: %s" % (root, exc.strerror)}
                )
                return
            st = os.lstat(root)
        if st is not None and not stat.S_ISDIR(st.st_mode):
            send(self.out, {"ok": False, "error": "%s is not a directory" % root})
            return
        if st is not None:
            info["exists"] = True
            self.zone = Zone(root)
            zid = self._read_marker()
            if zid is None and msg.get("mark"):
                zid = "%s-%d" % (os.urandom(12).hex(), st.st_ino)
                fd = os.open(
                    MARKER + ".new",
                    os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW,
                    0o644,
                    dir_fd=self.zone.root_fd,
                )
                os.write(fd, zid.encode())
                os.close(fd)
                os.rename(
                    MARKER + ".new",
                    MARKER,
                    src_dir_fd=self.zone.root_fd,
                    dst_dir_fd=self.zone.root_fd,
                )
                info["created"] = True
            info["zone_id"] = zid
        self.zone_id = info["zone_id"]
        send(self.out, info)

    def _read_marker(self):
        try:
            fd = os.open(MARKER, os.O_RDONLY | os.O_NOFOLLOW, dir_fd=self.zone.root_fd)
        except OSError:
            return None
        try:
            data = os.read(fd, 200).decode("ascii", "replace").strip()
        finally:
            os.close(fd)
        return data or None

    def op_scan(self, msg):
        """Report what differs from the baseline: changed or new entries, and deletions.

        The baseline arrives as a stream: a JSON object path -> [st_mode] for a directory,
        [st_mode, size, mtime_ns] for a file (see :func:`base_entry`). A file whose size
        matches the baseline but whose mtime or mode does not is hashed (a touch is not a
        change). Baseline paths not met on the walk are checked one by one, so "deleted" is
        only ever said of a path whose absence was observed.
        """
        r = ChunkReader(self.inp)
        base = loads(b"".join(iter(r.read, b"")) or b"{}")
        if msg.get("zone_id") != self.zone_id:
            base = {}  # not the zone the baseline describes: report everything
        out = ChunkWriter(self.out)
        stats = {"entries": 0, "hashed": 0}
        if self.zone is None:
            out.close()
            send(self.out, {"ok": True, "exists": False, **stats})
            return
        prune = make_pruner(msg.get("prune"))
        errors = []
        write = out.write

        def emit(item):
            write(dumps(item).encode("ascii") + b"\n")

        def on_error(rel, exc):
            errors.append(rel.rstrip("/"))
            emit(["!", rel, exc.strerror or str(exc)])

        # the walk of walk(), inlined: this loop runs once per entry of the zone
        pop = base.pop
        n = 0
        stack = [("", self.root)]
        while stack:
            prefix, path = stack.pop()
            try:
                fd, it = scan_dir(path)
            except OSError as exc:
                on_error(prefix, exc)
                continue
            try:
                for entry in it:
                    name = entry.name
                    if name[0] == "." and (
                        name.startswith(TMP_PREFIX) or (not prefix and name == MARKER)
                    ):
                        if name != MARKER:
                            try:
                                os.unlink(name, dir_fd=fd)
                            except OSError:
                                pass
                        continue
                    rel = prefix + name
                    try:
                        st = entry.stat(follow_symlinks=False)
                    except OSError as exc:
                        on_error(rel, exc)
                        continue
                    m = st.st_mode
                    is_dir = m & S_IFMT == S_IFDIR
                    if prune is not None and prune(rel, is_dir):
                        continue
                    n += 1
                    if is_dir:
                        stack.append((rel + "/", path + "/" + name))
                    b = pop(rel, None)
                    if b is not None:
                        if m == b[0] and (
                            is_dir or (st.st_size == b[1] and st.st_mtime_ns == b[2])
                        ):
                            continue  # as the baseline says
                        if len(b) == 3 and st.st_size == b[1] and m & S_IFMT == S_IFREG:
                            emit(entry_of(rel, st, self._hash(rel, stats)))
                            continue
                    emit(entry_of(rel, st))
            finally:
                it.close()
                os.close(fd)
        stats["entries"] = n
        for rel, b in base.items():  # what the walk did not meet
            if errors and any(not e or e == rel or rel.startswith(e + "/") for e in errors):
                continue  # under an unreadable directory: not observed
            try:
                st = self.zone.lstat(rel)
            except OSError:
                continue
            if st is None:
                emit(["-", rel])
            else:  # excluded by the pruner, or raced: report it as it is
                h = None
                if len(b) == 3 and st.st_size == b[1] and stat.S_ISREG(st.st_mode):
                    h = self._hash(rel, stats)
                emit(entry_of(rel, st, h))
        out.close()
        send(self.out, {"ok": True, "exists": True, **stats})

    def _hash(self, rel, stats):
        try:
            fd, _ = self.zone.open_read(rel)
        except (OSError, PathRefused):
            return None
        try:
            stats["hashed"] += 1
            return hash_fd(fd)
        finally:
            os.close(fd)

    def op_touch(self, msg):
        """Create an empty file at an absolute path outside the zone: the signal a studio's
        launcher waits for before it starts the apps (blockc start: "the files are in")."""
        path = msg["path"]
        if not isinstance(path, str) or not path.startswith("/") or "\x00" in path:
            raise ProtocolError("touch needs an absolute path")
        try:
            os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC, 0o644))
        except OSError as exc:
            send(self.out, {"ok": False, "error": "cannot create %s: %s" % (path, exc.strerror)})
            return
        send(self.out, {"ok": True})

    def op_hash(self, msg):
        stats = {"hashed": 0}
        send(self.out, {"ok": True, "hashes": {p: self._hash(p, stats) for p in msg["paths"]}})

    def op_delete(self, msg):
        """items: [[path, expect]] in order (children before parents)."""
        results = {}
        for rel, expect in msg["items"]:
            results[rel] = _try(self.zone.delete, rel, _expect(expect))
        send(self.out, {"ok": True, "results": results})

    def op_mkdir(self, msg):
        results = {}
        for rel, mode in msg["items"]:
            r = _try(self.zone.mkdir, rel, mode)
            results[rel] = r if r[0] != "ok" else ["ok", entry_of(rel, r[1])]
        send(self.out, {"ok": True, "results": results})

    def op_put(self, msg):
        """files: {path: [mode, mtime_ns, expect]}, then a tar stream with their data.

        Files of at most SMALL bytes are handed, in memory, to writer threads when there are
        enough of them (PUT_THREADS_MIN) and writing them one by one turned out slow
        (PROBE_FILES, SLOW_WRITE); the others are written here, as they stream in."""
        files = msg["files"]
        results = {}
        reader = ChunkReader(self.inp)
        pool = None
        many = len(files) >= PUT_THREADS_MIN
        alone, took = 0, 0.0  # small files written here one by one, and how long they took
        seen = set()
        try:
            for m in tar_members(reader):
                rel = m.name
                spec = files.get(rel)
                if spec is None or rel in seen:
                    raise ProtocolError("unexpected tar member %r" % rel)
                seen.add(rel)
                try:
                    if pool is not None and m.size <= SMALL:
                        parts = check_rel(rel)
                        data = read_exact(
                            m, m.size
                        )  # before anything can fail: the stream moves on
                        dfd = os.dup(
                            self.zone.dir_fd(parts[:-1], create=True)
                        )  # the worker closes it
                        pool.submit(
                            rel,
                            dfd,
                            parts[-1],
                            rel,
                            data,
                            spec[0],
                            spec[1],
                            _expect(spec[2]),
                            False,
                        )
                        continue
                    t = time.monotonic()
                    st, _ = self.zone.write(
                        rel, m, m.size, spec[0], spec[1], _expect(spec[2]), hash=False
                    )
                    results[rel] = ["ok", entry_of(rel, st)]
                    if many and pool is None and m.size <= SMALL:
                        alone += 1
                        took += time.monotonic() - t
                        if alone == PROBE_FILES:  # (writes slow down as the page cache fills)
                            if took / alone > SLOW_WRITE:
                                pool = Writers()
                            alone, took = 0, 0.0
                except (OSError, PathRefused, Changed) as exc:
                    results[rel] = err_result(exc)
        finally:
            if pool is not None:
                pool.close()  # every write handed out is finished (or failed) before the answer
            reader.drain()
        for rel, r in pool.results.items() if pool is not None else ():
            if isinstance(r, BaseException):
                results[rel] = (
                    err_result(r)
                    if isinstance(r, (OSError, PathRefused, Changed))
                    else ["err", "%s: %s" % (type(r).__name__, r)]
                )
            else:
                results[rel] = ["ok", entry_of(rel, r[0])]
        send(self.out, {"ok": True, "results": results})

    def op_get(self, msg):
        """files: [[path, size]]: send those regular files as a tar stream, then a message with
        what failed. A file is sent only at the size its scan declared (the host writes no more
        than that): one whose size changed since is left for the next sync."""
        results = {}
        out = ChunkWriter(self.out)
        for rel, size in msg["files"]:
            try:
                fd, st = self.zone.open_read(rel)
            except (OSError, PathRefused) as exc:
                results[rel] = ["err", reason(exc)]
                continue
            try:
                if st.st_size != size:
                    results[rel] = err_result(Changed("%s changed since the scan" % rel))
                    continue
                f = ExactReader(fd, st.st_size, st.st_blocks * 512 < st.st_size)
                tar_file(out, rel, st.st_size, f, st.st_mode, st.st_mtime_ns // 1000000000)
                results[rel] = ["ok", st.st_mtime_ns, f.torn]
            finally:
                os.close(fd)
        tar_end(out)
        out.close()
        send(self.out, {"ok": True, "results": results})


_SEEK_DATA = getattr(os, "SEEK_DATA", None)  # (Linux, and most others)
_SEEK_HOLE = getattr(os, "SEEK_HOLE", None)


class ExactReader:
    """Exactly ``size`` bytes of an fd: padded with zeros if the file shrank meanwhile.

    ``sparse``: the file has holes (it uses fewer blocks than its size): :meth:`span` finds
    them, so that they are sent as runs of zeros, never read and sent as data (a studio's
    ``truncate -s 3G`` crosses in a moment, not in 3 GiB of zeros)."""

    def __init__(self, fd, size, sparse=False):
        self.fd = fd
        self.left = size
        self.torn = False
        self.sparse = sparse

    def span(self, limit):
        """(hole, n): the next ``n`` bytes (1 to ``limit``) are a hole (``hole`` True: they are
        skipped, and read as zeros), or data to :meth:`read`. From SEEK_DATA and SEEK_HOLE;
        where the file system does not tell, all is data."""
        if not self.sparse:
            return False, limit
        fd = self.fd
        pos = os.lseek(fd, 0, os.SEEK_CUR)
        try:
            data = os.lseek(fd, pos, _SEEK_DATA)
        except (OSError, TypeError) as exc:  # (TypeError: no SEEK_DATA on this system)
            if getattr(exc, "errno", None) != errno.ENXIO:  # nor on this file system
                self.sparse = False
                return False, limit
            data = pos + limit  # a hole to the end (or the file shrank: zeros, as read() pads)
        if data > pos:
            n = min(data - pos, limit)
            os.lseek(fd, pos + n, os.SEEK_SET)
            self.left -= n
            return True, n
        try:
            end = os.lseek(fd, pos, _SEEK_HOLE)
        except (OSError, TypeError):
            end = pos + limit
        os.lseek(fd, pos, os.SEEK_SET)
        return False, max(1, min(end - pos, limit))

    def read(self, n=-1):
        if n is None or n < 0 or n > self.left:
            n = self.left
        if n == 0:
            return b""
        data = os.read(self.fd, n)
        while len(data) < n:
            more = os.read(self.fd, n - len(data))
            if not more:
                self.torn = True
                data += bytes(n - len(data))
                break
            data += more
        self.left -= len(data)
        return data


def _expect(e):
    if e is False or e == "any":
        return False
    return e


def reason(exc):
    if isinstance(exc, OSError):
        return exc.strerror or str(exc)
    return str(exc)


def err_result(exc):
    """The answer for a path whose operation failed with ``exc`` (OSError, PathRefused or
    Changed): ``["err", why, changed since the scan]``."""
    return ["err", reason(exc), isinstance(exc, Changed)]


def _try(fn, *args):
    try:
        return ["ok", fn(*args)]
    except (OSError, PathRefused, Changed) as exc:
        return err_result(exc)


def big_pipes(*fds):
    """Ask for 1 MiB pipe buffers (from 64 KiB): fewer, larger reads and writes on both ends
    of a stream. Not a pipe, or not allowed: nothing changes."""
    try:
        import fcntl

        for fd in fds:
            fcntl.fcntl(fd, fcntl.F_SETPIPE_SZ, 1 << 20)
    except (ImportError, AttributeError, OSError):
        pass


def main():
    big_pipes(0, 1)
    inp = open(0, "rb", buffering=1 << 20, closefd=False)  # sys.stdin.buffer reads 8 KiB at a time
    out = sys.stdout.buffer
    try:
        Agent(inp, out).serve()
    except BrokenPipeError:
        pass
    except Exception as exc:  # report, then stop: the host sees the message or EOF
        try:
            send(out, {"ok": False, "error": "agent: %s: %s" % (type(exc).__name__, exc)})
        except Exception:
            pass
        sys.exit(3)


if __name__ == "__main__":
    main()
