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


class Resolved(Value):
    """Stage 3 (resolve): each block's contributions."""

    template: Template
    contributions: tuple[tuple[BlockSpec, Contributions], ...]


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


class Line(Value):
    """One line of the Containerfile and the block that wrote it ("blockc" for its own)."""

    owner: str
    text: str
    instruction: bool = False  # the first line of an instruction: what buildah counts as a STEP


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
