"""File sync for studios: the sync engine wired to the studio state and its runtime.

``start`` pushes in, ``stop`` pulls back out, ``blockc sync`` does either or both on demand;
``rm`` asks :func:`pending` whether removing the studio would lose data.

An agent's exec takes ~0.2 s to start, and ``blockc sync`` races rsync: it starts the first
agent having imported only what that takes (the studio record, the runtime, the session), and
imports the engine while the exec starts (tests/test_imports.py holds it to that).
"""

from __future__ import annotations

from ..errors import BlockcError
from ..run import state
from ..run.progress import Progress
from ..run.runtimes import get_runtime
from ..run.settings import Settings
from .session import start_agent

TYPE_CHECKING = False
if TYPE_CHECKING:
    from ..types import Zone
    from .engine import Mode
    from .limits import Limits
    from .report import SyncProgress, SyncReport


def zones(studio_json: dict) -> list[Zone]:
    """The sync zones of a studio.json (``state.Studio.studio_json()``)."""
    from ..types import Zone

    return [
        Zone(z["name"], z["host"], z["container"], z["direction"], tuple(z["exclude"]))
        for z in studio_json.get("zones", [])
    ]


def zone_limits(studio_json: dict, settings: Settings) -> dict[str, Limits]:
    """What a pull may write on the host, per zone name: the site's limits (settings), and a
    zone's own ``limits`` (from its template's file-sync block) over them where studio.json
    has them."""
    from .limits import site_limits
    from .limits import zone_limits as of_zone

    site = site_limits(settings)
    return {z["name"]: of_zone(site, z) for z in studio_json.get("zones", [])}


def sync_studio(
    studio: state.Studio,
    settings: Settings,
    *,
    mode: Mode,
    progress: Progress,
    allow_mass_delete: bool = False,
    done_file: str | None = None,
) -> list[SyncReport]:
    """Sync every zone of the studio; print a summary per zone; return the reports (none
    when the studio has no zones). ``done_file`` is created in the studio once every zone
    synced without errors (by the last zone's agent: no exec of its own)."""
    studio_json = studio.studio_json()
    if not studio_json.get("zones"):
        return []
    if not studio.workspace:
        raise BlockcError(f"studio '{studio.name}' has no workspace to sync with")
    transport = _transport(studio, studio_json, settings)
    # the first agent starts now; the engine is imported, the baseline read and the host walked
    # while its exec starts (each next agent starts while the zone before it syncs)
    first = start_agent(transport)
    try:
        from .baseline import Baseline
        from .engine import sync_zones
        from .report import format_report

        zone_specs = zones(studio_json)
        limits = zone_limits(studio_json, settings)
        baseline = Baseline(state.db_path())
    except BaseException:
        first.close()
        raise
    with baseline:
        return sync_zones(
            transport,
            studio=studio.name,
            zones=zone_specs,
            workspace=studio.workspace,
            mode=mode,
            baseline=baseline,
            allow_mass_delete=allow_mass_delete,
            progress=_progress_callback(progress),
            agent=first,
            done_file=done_file,
            on_report=lambda report: progress.line(format_report(report)),
            limits=limits,
        )


def sync_command(
    studio: state.Studio,
    settings: Settings,
    *,
    mode: Mode,
    progress: Progress,
    allow_mass_delete: bool = False,
) -> int:
    """``blockc sync``: the exit code (1 when a zone had conflicts or unsynced paths)."""
    # No state check first (a podman call as slow as the sync's exec): a studio that is not
    # running fails to start the agent, and only then is its state asked for.
    try:
        reports = sync_studio(
            studio, settings, mode=mode, progress=progress, allow_mass_delete=allow_mass_delete
        )
    except BlockcError as exc:
        from .report import MassDeletionRefused, SyncError

        if not isinstance(exc, SyncError) or isinstance(exc, MassDeletionRefused):
            raise
        if get_runtime(studio.runtime, settings).state(studio.name) != "running":
            raise BlockcError(
                f"studio '{studio.name}' is not running (state {studio.state}); start it to sync"
            ) from None
        raise
    if not reports:
        progress.line(f"studio '{studio.name}' has no sync zones")
    return max((r.exit_code for r in reports), default=0)


def pending(studio: state.Studio, settings: Settings, *, running: bool) -> list[str]:
    """Studio-side changes the host does not have (what ``rm`` would lose)."""
    if not running or not studio.workspace:
        return []  # a studio that is not running holds no files: stop pulled them out
    from .baseline import Baseline
    from .engine import pending_changes
    from .report import quoted

    studio_json = studio.studio_json()
    transport = _transport(studio, studio_json, settings)
    lost = []
    with Baseline(state.db_path()) as baseline:
        for zone in zones(studio_json):
            report = pending_changes(
                transport,
                studio=studio.name,
                zone=zone,
                workspace=studio.workspace,
                baseline=baseline,
            )
            if report.unsynced_in_studio:  # (the names are the studio's: shown escaped)
                lost += [
                    f"{zone.name}: {c.kind} {quoted(c.path)}"
                    for c in report.pulled
                    if c.kind != "deleted"
                ]
                lost += [f"{zone.name}: conflict {quoted(c.path)}" for c in report.conflicts]
    return lost


def forget(studio: state.Studio) -> None:
    from .baseline import Baseline

    with Baseline(state.db_path()) as baseline:
        baseline.forget(studio.name)


def _transport(studio: state.Studio, studio_json: dict, settings: Settings):
    return get_runtime(studio.runtime, settings).transport(studio.name, studio_json["image"]["uid"])


def _progress_callback(progress: Progress):
    def report(p: SyncProgress) -> None:
        total = f"/{p.bytes_total / 1e6:.1f}" if p.bytes_total else ""
        progress.update(
            f"sync {p.zone}: {p.phase} {p.files_done}/{p.files_total} files, "
            f"{p.bytes_done / 1e6:.1f}{total} MB"
        )

    return report
