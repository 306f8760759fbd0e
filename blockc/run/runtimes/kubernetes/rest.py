"""The API server over plain HTTPS and WebSocket: every call of the kubernetes runtime.

What a user waits on repeatedly (``exec``, ``sync``, ``status``, ``forward``) needs a TLS
connection and a request or two, while importing the official client costs ~0.6 s of CPU
before the first one (kubernetes 37 builds ~280 pydantic models at import; ``blockc exec
NAME -- true`` took 0.76 s with it against kubectl's 0.10 s, hyperfine, 20 runs). Its
``stream()`` was also measured: 100 MB out of an exec took 120 s and lost the last 3 MB
(benchmarks/kubernetes.py --part stream). So requests, watches and streams are made here, and
the official client is what loads the configurations this module does not read itself.

Credentials come from the kubeconfig as the official client reads it: the current context's
cluster (server, CA, TLS server name, insecure-skip-tls-verify) and user (client certificate
and key, token, token file), read here; a user of another kind (an exec plugin, an auth
provider), several files in ``KUBECONFIG``, or none at all (in-cluster), and the official
client's loader is asked instead (it may write a key given as data to a temporary file of its
own; read here, keys are loaded from memory, a memfd). Impersonation, basic auth and proxies
are refused with a clear error rather than half honoured: no environment proxy is used.
"""

from __future__ import annotations

import base64
import http.client
import json
import os
import ssl
import threading
from urllib.parse import quote, urlencode, urlsplit

from ....errors import BlockcError
from ...settings import Settings

FIELD_MANAGER = "blockc"  # (server-side apply, as kubectl --server-side --field-manager=blockc)
_USER_KEYS = {"token", "tokenFile", "client-certificate", "client-certificate-data"}
_USER_KEYS |= {"client-key", "client-key-data"}
# half honoured by the official client (impersonation ignored, basic auth sent as a bearer)
_REFUSED = {"as", "as-groups", "as-uid", "as-user-extra", "username", "password"}


class ApiError(Exception):
    """The API server's answer other than 2xx (``status``, ``body``), or no answer."""

    def __init__(self, status: int | None, body: str, reason: str = ""):
        super().__init__(f"{status or ''} {reason}".strip())
        self.status = status
        self.body = body
        self.reason = reason


class Endpoint:
    """Where the API server is, and how to prove who we are to it."""

    def __init__(
        self,
        server: str,
        context: ssl.SSLContext,
        token: str | None,
        hostname: str,
        ca: bytes | None = None,
    ):
        self.server = server.rstrip("/")
        self.context = context
        self.token = token
        self.hostname = hostname  # (the name its certificate is checked against)
        self.ca = ca  # the cluster's own certificate authority (PEM), when it has one

    def cluster_id(self) -> str:
        """The cluster as its certificate authority names it ("ca-sha256:" and 16 hex digits:
        the same from any address the API server is reached at, in or outside the cluster),
        or "" when the system's trust store vouches for it."""
        if not self.ca:
            return ""
        import hashlib
        import re

        text = self.ca.decode("ascii", "replace")
        blocks = re.findall(r"-----BEGIN CERTIFICATE-----.+?-----END CERTIFICATE-----", text, re.S)
        try:  # (as DER: the same whatever the PEM's line breaks)
            ders = sorted(ssl.PEM_cert_to_DER_cert(b) for b in blocks) or [self.ca]
        except ValueError:
            ders = [self.ca]
        return "ca-sha256:" + hashlib.sha256(b"".join(ders)).hexdigest()[:16]


def kubeconfig_path(settings: Settings) -> str:
    """The kubeconfig in use: the site's setting, else ``KUBECONFIG`` (maybe several files),
    else ``~/.kube/config`` when there is one; "" for none (in-cluster)."""
    path = os.path.expanduser(settings.kubeconfig or os.environ.get("KUBECONFIG") or "")
    default = os.path.expanduser("~/.kube/config")
    return path or (default if os.path.exists(default) else "")


def load_endpoint(settings: Settings) -> Endpoint:
    path = kubeconfig_path(settings)
    if path and os.pathsep not in path:
        found = _from_kubeconfig(path)
        if found is not None:
            return found
    return _from_official_client(settings)


def _from_kubeconfig(path: str) -> Endpoint | None:
    import yaml

    from ....readfile import read_regular

    try:
        cfg = yaml.load(
            read_regular(path, 4 << 20), Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader)
        )
    except (OSError, yaml.YAMLError) as exc:
        raise BlockcError(f"cannot read the kubeconfig {path}: {exc}") from None
    if not isinstance(cfg, dict):
        return None
    base = os.path.dirname(os.path.abspath(path))

    def named(kind: str, name) -> dict:
        for item in cfg.get(kind) or ():
            if isinstance(item, dict) and item.get("name") == name:
                return item.get(kind[:-1]) or {}
        return {}

    context = named("contexts", cfg.get("current-context"))
    cluster = named("clusters", context.get("cluster"))
    user = named("users", context.get("user"))
    refused = sorted(set(user) & _REFUSED)
    if refused or cluster.get("proxy-url"):
        what = ", ".join(refused) if refused else "proxy-url"
        raise BlockcError(
            f"the kubeconfig {path}: {what} is not supported by blockc's kubernetes runtime",
            hint="give blockc a kubeconfig of its own (a ServiceAccount's token: "
            "docs/kubernetes.md)",
        )
    if not cluster.get("server") or set(user) - _USER_KEYS:
        return None  # (the official client's loader knows the rest)

    def data_or_file(key: str) -> bytes | None:
        data = user.get(f"{key}-data") or cluster.get(f"{key}-data")
        if data:
            return base64.b64decode(str(data))
        name = user.get(key) or cluster.get(key)
        if name:
            with open(os.path.join(base, os.path.expanduser(name)), "rb") as f:
                return f.read()
        return None

    try:
        ca = data_or_file("certificate-authority")
        if ca is not None and not ca.strip():
            raise ValueError("its certificate authority is empty")
        cert = data_or_file("client-certificate")
        key = data_or_file("client-key")
        token = user.get("token")
        if not token and user.get("tokenFile"):
            name = os.path.expanduser(str(user["tokenFile"]))
            with open(os.path.join(base, name), encoding="utf-8") as f:
                token = f.read().strip()
    except (OSError, ValueError) as exc:
        raise BlockcError(f"cannot read the credentials of the kubeconfig {path}: {exc}") from None
    ctx = _context(ca, cert, key, insecure=cluster.get("insecure-skip-tls-verify") is True)
    host = cluster.get("tls-server-name") or urlsplit(cluster["server"]).hostname or ""
    return Endpoint(cluster["server"], ctx, token, host, ca)


def _context(ca: bytes | None, cert: bytes | None, key: bytes | None, *, insecure: bool):
    try:
        ctx = ssl.create_default_context(cadata=ca.decode("ascii", "replace") if ca else None)
    except ssl.SSLError as exc:
        raise BlockcError(f"the kubeconfig's certificate authority: {exc}") from None
    if insecure:
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
    if cert and key:
        fds = [_memfd(cert), _memfd(key)]
        try:
            ctx.load_cert_chain(f"/proc/self/fd/{fds[0]}", f"/proc/self/fd/{fds[1]}")
        except (OSError, ssl.SSLError) as exc:
            raise BlockcError(f"the kubeconfig's client certificate or key: {exc}") from None
        finally:
            for fd in fds:
                os.close(fd)
    return ctx


def _memfd(data: bytes) -> int:
    fd = os.memfd_create("blockc-kube", os.MFD_CLOEXEC)
    os.write(fd, data)
    return fd


def _from_official_client(settings: Settings) -> Endpoint:
    from .api import official_configuration

    cfg = official_configuration(settings)
    if cfg.proxy:
        raise BlockcError(
            "the kubeconfig's proxy-url is not supported by blockc's kubernetes runtime"
        )

    def read(path):
        if not path:
            return None
        with open(path, "rb") as f:
            return f.read()

    ca = read(cfg.ssl_ca_cert)
    ctx = _context(ca, read(cfg.cert_file), read(cfg.key_file), insecure=not cfg.verify_ssl)
    token = cfg.get_api_key_with_prefix("BearerToken", alias="authorization")
    if token and token.lower().startswith("bearer "):
        token = token[7:]
    host = cfg.tls_server_name or urlsplit(cfg.host).hostname or ""
    return Endpoint(cfg.host, ctx, token, host, ca)


class Rest:
    """JSON requests to the API server on one kept-alive connection, and WebSockets."""

    def __init__(self, endpoint: Endpoint):
        self.endpoint = endpoint
        url = urlsplit(endpoint.server)
        self._https = url.scheme == "https"
        self._netloc = url.netloc
        self._prefix = url.path.rstrip("/")
        self._conn: http.client.HTTPConnection | None = None
        # one request at a time on the kept-alive connection (forward's threads share it)
        self._lock = threading.Lock()

    def _connection(self) -> http.client.HTTPConnection:
        if self._conn is None:
            self._conn = self._new_connection(timeout=30)
        return self._conn

    def _new_connection(self, timeout: float) -> http.client.HTTPConnection:
        if self._https:
            return _HTTPS(self._netloc, self.endpoint, timeout=timeout)
        return http.client.HTTPConnection(self._netloc, timeout=timeout)

    def _headers(self) -> dict:
        h = {"Accept": "application/json", "User-Agent": "blockc"}
        if self.endpoint.token:
            h["Authorization"] = f"Bearer {self.endpoint.token}"
        return h

    def request(
        self,
        method: str,
        path: str,
        query: dict | None = None,
        body: bytes | None = None,
        content_type: str = "application/json",
    ) -> bytes:
        """The response body of a request (a 2xx), else :class:`ApiError`."""
        if query:
            path += "?" + urlencode(query)
        headers = self._headers()
        if body is not None:
            headers["Content-Type"] = content_type
        with self._lock:
            return self._request(method, path, body, headers)

    def _request(self, method: str, path: str, body: bytes | None, headers: dict) -> bytes:
        for attempt in (0, 1):  # (a kept-alive connection the server closed: once more)
            conn = self._connection()
            try:
                conn.request(method, self._prefix + path, body=body, headers=headers)
                resp = conn.getresponse()
                data = resp.read()
            except (http.client.RemoteDisconnected, BrokenPipeError, ConnectionResetError):
                self.close()
                if attempt:
                    raise ApiError(None, "", "the connection was closed") from None
                continue
            except (OSError, http.client.HTTPException) as exc:
                self.close()
                raise ApiError(None, "", str(exc)) from None
            if not 200 <= resp.status < 300:
                raise ApiError(resp.status, data.decode("utf-8", "replace"), resp.reason)
            return data
        raise AssertionError("unreachable")

    def get(self, path: str, **query) -> dict:
        return _json(self.request("GET", path, query))

    def apply(self, path: str, obj: dict) -> dict:
        """Server-side apply of ``obj`` at ``path`` (field manager ``blockc``, forced)."""
        query = {"fieldManager": FIELD_MANAGER, "force": "true"}
        body = json.dumps(obj).encode()  # (JSON is YAML)
        return _json(self.request("PATCH", path, query, body, "application/apply-patch+yaml"))

    def delete(self, path: str, uid: str, version: str, propagation: str = "Background") -> None:
        """Delete the object at ``path`` if it is still the one of ``uid`` at ``version`` (as
        it was when its labels were checked: one replaced or changed since is not: 409)."""
        options = {
            "kind": "DeleteOptions",
            "apiVersion": "v1",
            "propagationPolicy": propagation,
            "preconditions": {"uid": uid, "resourceVersion": version},
        }
        self.request("DELETE", path, body=json.dumps(options).encode())

    def watch(self, path: str, timeout: int, **query):
        """The events of a watch (``{"type", "object"}``) for up to ``timeout`` seconds, on a
        connection of its own."""
        query = {**query, "watch": "true", "timeoutSeconds": str(timeout)}
        conn = self._new_connection(timeout=timeout + 10)
        try:
            conn.request("GET", f"{self._prefix}{path}?{urlencode(query)}", headers=self._headers())
            resp = conn.getresponse()
            if resp.status != 200:
                raise ApiError(resp.status, resp.read().decode("utf-8", "replace"), resp.reason)
            while line := resp.readline():
                event = json.loads(line)
                if event.get("type") == "ERROR":
                    obj = event.get("object") or {}
                    raise ApiError(obj.get("code"), json.dumps(obj), obj.get("reason", ""))
                yield event
        except (OSError, http.client.HTTPException, ValueError) as exc:
            raise ApiError(None, "", str(exc)) from None
        finally:
            conn.close()

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None

    def websocket(self, path: str, query: list[tuple[str, str]], protocols: list[str]):
        from websocket import WebSocket, WebSocketException

        scheme = "wss" if self._https else "ws"
        url = f"{scheme}://{self._netloc}{self._prefix}{path}?{urlencode(query)}"
        header = [f"Sec-WebSocket-Protocol: {','.join(protocols)}", "User-Agent: blockc"]
        if self.endpoint.token:
            header.append(f"Authorization: Bearer {self.endpoint.token}")
        ws = WebSocket(
            sslopt={"context": self.endpoint.context, "server_hostname": self.endpoint.hostname},
            skip_utf8_validation=True,
            enable_multithread=True,
        )
        ws.settimeout(30)  # (for the connection and the upgrade; a stream has none)
        # the kept-alive connection of the requests before, if any: its TLS handshake is done
        # (one round trip less; the HTTP connection gives it up and makes a new one if asked)
        with self._lock:
            sock = self._conn.sock if self._conn is not None else None
            if sock is not None:
                assert self._conn is not None
                self._conn.sock = None
                self._conn = None
        try:
            ws.connect(url, header=header, suppress_origin=True, socket=sock, http_no_proxy=["*"])
            ws.settimeout(None)
        except WebSocketException as exc:
            status = getattr(exc, "status_code", None)
            body = getattr(exc, "resp_body", b"") or b""
            raise ApiError(status, body.decode("utf-8", "replace") if body else str(exc)) from None
        except OSError as exc:
            raise ApiError(None, "", str(exc)) from None
        return ws


class _HTTPS(http.client.HTTPConnection):
    """HTTPS with the endpoint's TLS context, its certificate checked against the endpoint's
    name (a kubeconfig's tls-server-name may differ from the server's host)."""

    default_port = 443

    def __init__(self, netloc: str, endpoint: Endpoint, timeout: float):
        super().__init__(netloc, timeout=timeout)
        self.endpoint = endpoint

    def connect(self) -> None:
        super().connect()
        self.sock = self.endpoint.context.wrap_socket(
            self.sock, server_hostname=self.endpoint.hostname
        )


def _json(body: bytes) -> dict:
    try:
        value = json.loads(body)
    except ValueError:
        raise ApiError(None, "", f"not a Kubernetes API (it answered: {body[:80]!r})") from None
    if not isinstance(value, dict):
        raise ApiError(None, "", "not a Kubernetes API (its answer is not an object)")
    return value


def pod_path(namespace: str, name: str = "") -> str:
    return f"/api/v1/namespaces/{quote(namespace)}/pods" + (f"/{quote(name)}" if name else "")
