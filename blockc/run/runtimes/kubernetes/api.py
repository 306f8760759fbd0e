"""The connection to a cluster: the official ``kubernetes`` client, configured from the site's
``kubeconfig`` setting, ``KUBECONFIG`` (``~/.kube/config``), or the pod's service account
(in-cluster); and the API's errors in a user's words."""

from __future__ import annotations

import json
import os
from typing import Any

from ....errors import BlockcError
from ...settings import Settings

# server-side apply, as kubectl does it with --server-side --field-manager=blockc
FIELD_MANAGER = "blockc"
APPLY: dict[str, Any] = {
    "field_manager": FIELD_MANAGER,
    "force": True,
    "_content_type": "application/apply-patch+yaml",
}


class Cluster:
    """One cluster and the site's namespace in it."""

    def __init__(self, settings: Settings):
        from kubernetes import client, config

        cfg = client.Configuration()
        path = settings.kubeconfig or os.environ.get("KUBECONFIG")
        where = path or "~/.kube/config"
        try:
            if path or os.path.exists(os.path.expanduser("~/.kube/config")):
                config.load_kube_config(config_file=settings.kubeconfig, client_configuration=cfg)
            else:
                where = "the pod's service account (in-cluster)"
                config.load_incluster_config(client_configuration=cfg)
        except (config.ConfigException, OSError, ValueError, TypeError) as exc:
            raise BlockcError(
                f"cannot load the Kubernetes configuration from {where}: {exc}",
                hint="set the site setting 'kubeconfig' (config.toml or BLOCKC_KUBECONFIG), "
                "or KUBECONFIG",
            ) from None
        cfg.retries = 0  # (a refused connection is reported, not retried for a minute)
        self.configuration = cfg
        self.where = where
        self.namespace = settings.namespace
        self.api = client.ApiClient(cfg)
        self.core = client.CoreV1Api(self.api)
        self.apps = client.AppsV1Api(self.api)

    @property
    def host(self) -> str:
        return str(self.configuration.host)

    def websocket(self, path: str, query: list[tuple[str, str]], protocols: list[str]):
        """A WebSocket to the API (exec, port-forward), authenticated as the client is."""
        from urllib.parse import urlencode

        from kubernetes.stream.ws_client import create_websocket

        url = self.host.replace("https://", "wss://", 1).replace("http://", "ws://", 1)
        headers = {"sec-websocket-protocol": ",".join(protocols)}
        token = self.configuration.get_api_key_with_prefix("BearerToken", alias="authorization")
        if token:
            headers["authorization"] = token
        try:
            return create_websocket(
                self.configuration, f"{url}{path}?{urlencode(query)}", headers=headers
            )
        except Exception as exc:
            raise self.error(exc, f"open {path.rsplit('/', 1)[-1]} stream") from None

    def error(self, exc: BaseException, doing: str) -> BlockcError:
        """The API's answer (or the connection's failure) to ``doing`` in a user's words."""
        status = getattr(exc, "status", None)
        if status is None:  # websocket-client's handshake error
            status = getattr(exc, "status_code", None)
        message = _message(exc)
        if status == 403:
            return BlockcError(
                f"the cluster forbids it: {message}",
                hint="`blockc manifests --rbac` prints the Role blockc needs in the namespace "
                f"{self.namespace!r}",
            )
        if status == 401:
            return BlockcError(
                f"the cluster refused blockc's credentials (from {self.where}) to {doing}: "
                f"{message}"
            )
        if status == 404 and "namespaces" in message and "not found" in message:
            return BlockcError(
                f"the namespace {self.namespace!r} does not exist in the cluster at {self.host}",
                hint="create it (`kubectl create namespace ...`) or set the site setting "
                "'namespace'",
            )
        if status is None:
            return BlockcError(f"cannot reach the Kubernetes API at {self.host} to {doing}: {exc}")
        return BlockcError(f"the Kubernetes API refused to {doing} (HTTP {status}): {message}")


def _message(exc: BaseException) -> str:
    body = getattr(exc, "body", None) or getattr(exc, "resp_body", None)
    if isinstance(body, bytes):
        body = body.decode("utf-8", "replace")
    if body:
        try:
            return str(json.loads(body).get("message") or body)[:500]
        except (ValueError, AttributeError):
            return str(body)[:500]
    return str(getattr(exc, "reason", "") or exc)[:500]


def not_found(exc: BaseException) -> bool:
    return getattr(exc, "status", None) == 404
