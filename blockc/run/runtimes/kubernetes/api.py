"""The connection to a cluster (kubeconfig from the site's ``kubeconfig`` setting,
``KUBECONFIG``, ``~/.kube/config``, or the pod's service account in-cluster) and the API's
errors in a user's words.

The official ``kubernetes`` client loads every configuration :mod:`.rest` does not read
itself (exec plugins, auth providers, in-cluster service accounts, several kubeconfig
files): :func:`official_configuration`.
"""

from __future__ import annotations

import json
import os
from typing import Any

from ....errors import BlockcError
from ...settings import Settings
from .rest import ApiError, Rest, kubeconfig_path, load_endpoint


def official_configuration(settings: Settings) -> Any:
    """The official client's configuration, as it loads it."""
    from kubernetes import client, config

    cfg = client.Configuration()
    where = kubeconfig_path(settings)
    try:
        if where:
            kubeconfig = os.path.expanduser(settings.kubeconfig) if settings.kubeconfig else None
            config.load_kube_config(config_file=kubeconfig, client_configuration=cfg)
        else:
            where = "the pod's service account (in-cluster)"
            config.load_incluster_config(client_configuration=cfg)
    except (config.ConfigException, OSError, ValueError, TypeError) as exc:
        raise BlockcError(
            f"cannot load the Kubernetes configuration from {where}: {exc}",
            hint="set the site setting 'kubeconfig' (config.toml or BLOCKC_KUBECONFIG), "
            "or KUBECONFIG",
        ) from None
    return cfg


class Cluster:
    """One cluster and the site's namespace in it."""

    def __init__(self, settings: Settings):
        self.namespace = settings.namespace
        self.where = kubeconfig_path(settings) or "the pod's service account (in-cluster)"
        self.rest = Rest(load_endpoint(settings))

    @property
    def host(self) -> str:
        return self.rest.endpoint.server

    def error(self, exc: BaseException, doing: str) -> BlockcError:
        """The API's answer (or the connection's failure) to ``doing`` in a user's words."""
        if isinstance(exc, BlockcError):
            return exc
        status = exc.status if isinstance(exc, ApiError) else None
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
        if status == 404 and message.startswith("namespaces ") and "not found" in message:
            return BlockcError(
                f"the namespace {self.namespace!r} does not exist in the cluster at {self.host}",
                hint="create it (`kubectl create namespace ...`) or set the site setting "
                "'namespace'",
            )
        if status is None:
            return BlockcError(f"cannot reach the Kubernetes API at {self.host} to {doing}: {exc}")
        return BlockcError(f"the Kubernetes API refused to {doing} (HTTP {status}): {message}")


def _message(exc: BaseException) -> str:
    body = getattr(exc, "body", None)
    if body:
        try:
            return str(json.loads(body).get("message") or body)[:500]
        except (ValueError, AttributeError):
            return str(body)[:500]
    return str(getattr(exc, "reason", "") or exc)[:500]


def not_found(exc: BaseException) -> bool:
    """A 404 of the object itself (not of its namespace)."""
    return (
        isinstance(exc, ApiError)
        and exc.status == 404
        and not _message(exc).startswith("namespaces ")
    )
