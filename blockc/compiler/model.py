"""The immutable value each pipeline stage hands to the next."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from functools import cached_property
from typing import Any

from ..plugins import BlockTypeEntry, Registry
from ..types import App, ContextFile, Contributions, Step, StudioImage, Zone
from ..value import Value
from .load import Document


class BlockSpec(Value):
    index: int
    id: str
    type: str
    options: Mapping[str, Any]
    entry: BlockTypeEntry

    @property
    def path(self) -> tuple:
        return ("spec", "blocks", self.index)

    @property
    def plugin(self) -> str:
        p = self.entry.plugin
        return f"{p.name} ({p.dist} {p.version})"

    def who(self) -> dict:
        """Diagnostic fields naming this block."""
        return {"block_id": self.id, "block_type": self.type, "plugin": self.plugin}


class Template(Value):
    """Stage 2 (validate): the checked template."""

    doc: Document
    name: str
    description: str
    labels: Mapping[str, str]
    image: StudioImage
    env: Mapping[str, str]
    blocks: tuple[BlockSpec, ...]
    registry: Registry


class Override(Value):
    """A value an admin wrote in the template that replaced a plugin's (``blockc explain``,
    ``studio.json``'s provenance)."""

    field: str  # "env OMP_NUM_THREADS", "port", "Deployment.spec...nodeSelector.disk"
    value: Any  # the admin's
    replaced: Any  # the plugin's
    block: str  # the block whose value was replaced
    by: str  # where the admin's value was written: "spec.env", or a block id

    def to_json(self) -> dict:
        return self.as_dict()

    def describe(self) -> str:
        if self.field == "port":
            why = f"{self.replaced} is taken by block '{self.by}'"
        else:
            why = "set in spec.env" if self.by == "spec.env" else f"set by block '{self.by}'"
        return f"{self.field}: {self.value!r}, not the plugin's {self.replaced!r} ({why})"


class Resolved(Value):
    """Stage 3 (resolve): each block's contributions."""

    template: Template
    contributions: tuple[tuple[BlockSpec, Contributions], ...]
    overrides: tuple[Override, ...] = ()


class PlannedStep(Value):
    step: Step
    owner: str  # block id, or "blockc"


class Plan(Value):
    """Stage 4 (plan): ordered steps, merged manifests, no conflicts."""

    template: Template
    steps: tuple[PlannedStep, ...]
    files: tuple[tuple[ContextFile, str], ...]
    apps: tuple[tuple[App, BlockSpec], ...]
    zones: tuple[tuple[Zone, BlockSpec], ...]
    env: Mapping[str, tuple[str, str]]  # name -> (value, owner)
    manifests: tuple[dict, ...]
    manifest_owners: Mapping[str, str]
    overrides: tuple[Override, ...] = ()


class Line(Value):
    """One line of the Containerfile and the block that wrote it ("blockc" for its own)."""

    owner: str
    text: str
    instruction: bool = False  # the first line of an instruction: what buildah counts as a STEP
    user: str = ""  # who an instruction's commands run as ("root", "studio"), for `explain`


class Artifact(Value):
    """Stage 5 (render): the artifact in memory, and its content hash.

    ``files`` (relative path -> (content, mode)) is serialized on first use: validating a
    template never writes the YAML and JSON nobody reads.
    """

    name: str
    studio: Mapping[str, Any]  # studio.json
    hash: str
    manifests: tuple[dict, ...]
    containerfile: tuple[Line, ...]
    serialize: Callable[[], Mapping[str, tuple[bytes, int]]]

    @cached_property
    def files(self) -> Mapping[str, tuple[bytes, int]]:
        return self.serialize()

    @property
    def short_hash(self) -> str:
        return self.hash[:12]

    @property
    def image_ref(self) -> str:
        return f"localhost/blockc/{self.name}:{self.short_hash}"

    def steps(self) -> list[Line]:
        """The first line of each Containerfile instruction, in buildah's STEP order."""
        return [line for line in self.containerfile if line.instruction]
