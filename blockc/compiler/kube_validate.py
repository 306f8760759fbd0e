"""Strict validation of generated manifests against the Kubernetes OpenAPI schemas
(kubernetes-validate), as ``blockc validate --strict`` and the tests run it."""

from __future__ import annotations

from ..errors import BlockcError, Diagnostic
from .model import Artifact

KUBERNETES_VERSION = "1.34.0"


def check_objects(objects: list[dict], where: str = "manifests.yaml") -> None:
    import kubernetes_validate
    from kubernetes_validate.utils import InvalidSchemaError, SchemaNotFoundError, ValidationError

    diags = []
    for obj in objects:
        name = f"{obj.get('kind')}/{obj.get('metadata', {}).get('name')}"
        try:
            kubernetes_validate.validate(obj, KUBERNETES_VERSION, strict=True)
        except ValidationError as exc:
            err = getattr(exc, "caused_by", exc)  # older releases wrapped the jsonschema error
            path = ".".join(str(p) for p in err.path)
            diags.append(Diagnostic(f"{where}: {name}: {path}: {err.message}"))
        except (SchemaNotFoundError, InvalidSchemaError) as exc:
            diags.append(Diagnostic(f"{where}: {name}: cannot validate: {exc}"))
    if diags:
        raise BlockcError(diags)


def check_manifests(artifact: Artifact) -> None:
    check_objects(list(artifact.manifests))
