"""The names of a studio (SPEC §6): the checks of a studio's and an owner's name, its main
container, and the labels on every object it creates."""

from __future__ import annotations

import re

from .errors import BlockcError

CONTAINER = "studio"  # the main container of every studio pod (the apps, the sync agent)
LABEL_STUDIO = "blockc.dev/studio"
LABEL_OWNER = "blockc.dev/owner"
LABEL_TEMPLATE = "blockc.dev/template"

DNS_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")  # RFC 1123, as Kubernetes has it
_LABEL_VALUE = re.compile(r"^[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?$")


def check_studio(name: str) -> str:
    if not DNS_LABEL.match(name) or len(name) > 40:
        raise BlockcError(
            f"studio name {name!r} must be a DNS-1123 label of at most 40 "
            f"characters (lowercase letters, digits, '-')"
        )
    return name


def check_owner(owner: str) -> str:
    if not _LABEL_VALUE.match(owner) or len(owner) > 63:
        raise BlockcError(
            f"owner {owner!r} must be a Kubernetes label value (letters, digits, "
            f"'-', '_', '.', at most 63 characters)"
        )
    return owner
