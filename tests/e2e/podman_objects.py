"""The podman objects of a studio, found by its label (their names hold the id of the
installation that made them)."""

from __future__ import annotations

import json
import subprocess


def studio_objects(kind: str, name: str) -> list[str]:
    """The podman objects (pod, network, image) labelled as studio ``name``'s, of any home."""
    label = f"label=blockc.dev/studio={name}"
    args = {
        "pod": ["pod", "ps", "--filter", label, "--format", "{{.Name}}"],
        "network": ["network", "ls", "--filter", label, "--format", "{{.Name}}"],
        "image": ["images", "--filter", label, "--format", "{{.Id}}"],
    }[kind]
    return subprocess.run(["podman", *args], capture_output=True, text=True).stdout.split()


def remove_studio_objects(name: str) -> None:
    for pod in studio_objects("pod", name):
        subprocess.run(["podman", "pod", "rm", "-f", "-t", "0", pod], capture_output=True)
    for network in studio_objects("network", name):
        subprocess.run(["podman", "network", "rm", "-f", network], capture_output=True)
    for image in studio_objects("image", name):
        subprocess.run(["podman", "image", "rm", "-f", image], capture_output=True)


def studio_pod(name: str) -> dict:
    """``podman pod inspect`` of the one pod labelled as studio ``name``'s."""
    pods = studio_objects("pod", name)
    assert len(pods) == 1, pods
    info = json.loads(
        subprocess.run(
            ["podman", "pod", "inspect", pods[0]], capture_output=True, text=True, check=True
        ).stdout
    )
    return info[0] if isinstance(info, list) else info
