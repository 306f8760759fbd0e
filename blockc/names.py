"""The names of a studio (SPEC §6): the checks of a studio's and an owner's name, its main
container, the names and labels of every object it creates, and the check that an object
carries this installation's, studio's and owner's labels before blockc acts on it."""

from __future__ import annotations

import re

from .errors import BlockcError

CONTAINER = "studio"  # the main container of every studio pod (the apps, the sync agent)
LABEL_STUDIO = "blockc.dev/studio"
LABEL_OWNER = "blockc.dev/owner"
LABEL_TEMPLATE = "blockc.dev/template"
# the blockc installation (one $BLOCKC_HOME) that made the object: studio names are unique
# per installation only, and one podman (or cluster) may serve several installations
LABEL_INSTALLATION = "blockc.dev/installation"
OWNERSHIP = (LABEL_INSTALLATION, LABEL_STUDIO, LABEL_OWNER)
GATE_PORT = 7750  # a studio's gate, in the studio (blockc/run/gate.py); no app may use it
# the pods of the front door (`blockc serve --manifests`): on Kubernetes, the only pods a
# studio's NetworkPolicy admits. A blockc.dev/ label: no template may set one on its pods
FRONT_DOOR_LABELS = {"blockc.dev/role": "front-door"}

# RFC 1123, as Kubernetes has it. Always fullmatch: `$` would let a final newline through
DNS_LABEL = re.compile(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?")
_LABEL_VALUE = re.compile(r"[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?")


def check_studio(name: str) -> str:
    if not DNS_LABEL.fullmatch(name) or len(name) > 40:
        raise BlockcError(
            f"studio name {name!r} must be a DNS-1123 label of at most 40 "
            f"characters (lowercase letters, digits, '-')"
        )
    return name


def check_owner(owner: str) -> str:
    if not _LABEL_VALUE.fullmatch(owner) or len(owner) > 63:
        raise BlockcError(
            f"owner {owner!r} must be a Kubernetes label value (letters, digits, "
            f"'-', '_', '.', at most 63 characters)"
        )
    return owner


# 8 characters of base32 (40 random bits): made once per installation (blockc.run.state)
INSTALLATION_ID = re.compile(r"[a-z2-7]{8}")


def object_name(studio: str, installation: str) -> str:
    """The name of a studio's objects (Deployment, Service, podman network; podman's pod is
    this plus ``-pod-0``): a DNS-1035 label of at most 56 characters (a studio name has 40),
    so that podman's pod name (and the pod's hostname) stays within 63. Two installations
    never share one: the installation's id is part of it."""
    return f"studio-{studio}-{installation}"


class NotOurs(BlockcError):
    """An object of a studio's name that this installation did not make for this studio and
    owner: blockc acts on it in no way."""


def check_ownership(
    kind: str, name: str, labels: dict[str, str] | None, expected: dict[str, str]
) -> None:
    """Raise unless the object ``name`` (a ``kind``: pod, container, network) carries the
    ``expected`` values of :data:`OWNERSHIP`: made by this installation, for this studio and
    this owner. Other labels do not matter."""
    labels = labels or {}
    studio = expected[LABEL_STUDIO]
    alone = "blockc leaves it alone (remove it yourself if nobody needs it)"
    if labels.get(LABEL_INSTALLATION) != expected[LABEL_INSTALLATION]:
        raise NotOurs(
            f"studio '{studio}': a {kind} named '{name}' exists that was not created by this "
            f"blockc installation (its label {LABEL_INSTALLATION} is "
            f"{labels.get(LABEL_INSTALLATION)!r}, not {expected[LABEL_INSTALLATION]!r}); {alone}"
        )
    if labels.get(LABEL_STUDIO) != studio:
        raise NotOurs(
            f"studio '{studio}': the {kind} '{name}' belongs to studio "
            f"'{labels.get(LABEL_STUDIO)}', not '{studio}'; {alone}"
        )
    if LABEL_OWNER not in labels:
        raise NotOurs(
            f"studio '{studio}': the {kind} '{name}' carries no owner label "
            f"({LABEL_OWNER}); {alone}"
        )
    if labels[LABEL_OWNER] != expected[LABEL_OWNER]:
        raise NotOurs(
            f"studio '{studio}': the {kind} '{name}' belongs to owner '{labels[LABEL_OWNER]}', "
            f"not '{expected[LABEL_OWNER]}'; {alone}"
        )


_COMPONENT = re.compile(r"[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*")
_TAG = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}")


# the template schema's spec.image.base pattern (a test holds the two equal)
IMAGE_REFERENCE = re.compile(
    r"[a-z0-9]+(([._]|__|-+)[a-z0-9]+)*(:[0-9]+)?(/[a-z0-9]+(([._]|__|-+)[a-z0-9]+)*)*"
    r"(:[A-Za-z0-9_][A-Za-z0-9_.-]{0,127})?(@sha256:[a-f0-9]{64})?"
)


def image_reference_problem(ref: str) -> str:
    """What is wrong with an image reference (``[host[:port]/]path[:tag][@sha256:digest]``),
    in a user's words; "" when nothing is."""
    if len(ref) <= 255 and IMAGE_REFERENCE.fullmatch(ref):
        return ""
    if not ref:
        return "it is empty"
    if len(ref) > 255:
        return "it is longer than 255 characters"
    bad = next((c for c in ref if c.isspace() or not c.isprintable()), None)
    if bad is not None:
        return f"it contains {bad!r}"
    name, _, digest = ref.partition("@")
    if digest and not re.fullmatch(r"sha256:[a-f0-9]{64}", digest):
        return f"the digest {digest!r} is not sha256: and 64 lowercase hex digits"
    slash = name.rfind("/")
    colon = name.rfind(":")
    tag = ""
    if colon > slash:
        name, tag = name[:colon], name[colon + 1 :]
        if not _TAG.fullmatch(tag):
            return (
                f"the tag {tag!r} may hold only letters, digits, '_', '.' and '-' (not first), "
                f"at most 128"
            )
    parts = name.split("/")
    if len(parts) > 1 and re.fullmatch(r"[A-Za-z0-9.-]+(:[0-9]+)?|localhost(:[0-9]+)?", parts[0]):
        host, parts = parts[0], parts[1:]
        if host != host.lower():
            return f"write the registry host in lowercase: {host.lower()!r}"
    for part in parts:
        if not part:
            return "it has an empty path component ('//', or '/' at an end)"
        if part != part.lower():
            return f"repository names are lowercase: {part!r} (write {part.lower()!r})"
        if not _COMPONENT.fullmatch(part):
            odd = next((c for c in part if not (c.isalnum() or c in "._-")), None)
            if odd is not None:
                return f"{odd!r} is not allowed in a repository name ({part!r})"
            return (
                f"{part!r}: a path component starts and ends with a letter or digit, with "
                f"'.', '_', '__' or dashes between"
            )
    return "it does not match [host[:port]/]path[:tag][@sha256:digest]"
