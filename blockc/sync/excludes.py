"""Excludes: gitignore patterns (pathspec's ``GitIgnoreSpec``), applied on both sides of a
zone, so that an excluded path is never copied, never deleted, and never looked into."""

from __future__ import annotations

import pathspec


class Excludes:
    """gitignore patterns (pathspec's GitIgnoreSpec), applied to files and directories.

    A path is excluded if it, or any directory above it, matches (git does not look into
    an excluded directory), so both sides agree whatever they prune.
    """

    def __init__(self, patterns):
        self.patterns = [p for p in patterns if p.strip()]
        self.spec = pathspec.GitIgnoreSpec.from_lines(self.patterns) if self.patterns else None
        self._dirs: dict[str, bool] = {}

    def _match(self, path: str) -> bool:
        return self.spec is not None and self.spec.match_file(path)

    def _dir(self, rel: str) -> bool:
        hit = self._dirs.get(rel)
        if hit is None:
            parent = rel.rpartition("/")[0]
            hit = (bool(parent) and self._dir(parent)) or self._match(rel + "/")
            self._dirs[rel] = hit
        return hit

    def __call__(self, rel: str, is_dir: bool = False) -> bool:
        if self.spec is None:
            return False
        if is_dir:
            return self._dir(rel)
        parent = rel.rpartition("/")[0]
        return (bool(parent) and self._dir(parent)) or self._match(rel)

    def prune(self, rel: str, is_dir: bool) -> bool:
        """For a walk that descends: parents were already checked."""
        if is_dir:
            hit = self._dirs[rel] = self._match(rel + "/")
            return hit
        return self._match(rel)

    def agent_patterns(self) -> list | None:
        """Regexes the agent may prune with: only without negations (then last-match-wins
        over plain regexes is exactly gitignore). The host filters again in any case."""
        if self.spec is None:
            return None
        patterns = [p for p in self.spec.patterns if p.include is not None]
        if any(not p.include for p in patterns):
            return None
        return [[p.regex.pattern, True] for p in patterns if p.regex is not None]
