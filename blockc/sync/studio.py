"""File sync for studios: the sync engine (``blockc.sync``) wired to studio state.

``start`` pushes in, ``stop`` pulls back out, ``blockc sync`` does either or both on demand;
``rm`` asks :func:`pending` whether removing the studio would lose data.
"""

from __future__ import annotations

from ..errors import BlockcError
from ..run import state
from ..run.progress import Progress
from ..run.settings import Settings

TYPE_CHECKING = False
if TYPE_CHECKING:
    from ..types import Zone


def zones(studio_json: dict) -> list[Zone]:
    """The sync zones of a studio.json (``state.Studio.studio_json()``)."""
    from ..types import Zone  # after the agent's start: blockc.types imports re, enum, typing

    return [
        Zone(z["name"], z["host"], z["container"], z["direction"], tuple(z["exclude"]))
        for z in studio_json.get("zones", [])
    ]


def _transport(studio: state.Studio, studio_json: dict, settings: Settings):
    from ..run.runtimes import get_runtime
    from . import PodmanTransport

    rt = get_runtime(studio.runtime, settings)
    return PodmanTransport(
        rt.container(studio.name), user=studio_json["image"]["uid"], env=rt.env()
    )


def _progress_callback(progress: Progress):
    def report(p):
        mb = p.bytes_done / 1e6
        total = f"/{p.bytes_total / 1e6:.1f}" if p.bytes_total else ""
        progress.update(
            f"sync {p.zone}: {p.phase} {p.files_done}/{p.files_total} files, {mb:.1f}{total} MB"
        )

    return report


def sync_studio(
    studio: state.Studio,
    settings: Settings,
    *,
    mode: str,
    progress: Progress,
    allow_mass_delete: bool = False,
    done_file: str | None = None,
) -> list:
    """Sync every zone of the studio; print a summary per zone; return the reports (none
    when the studio has no zones). ``done_file`` is created in the studio once every zone
    synced without errors (by the last zone's agent: no exec of its own)."""
    from .session import start_agent

    studio_json = studio.studio_json()
    if not studio_json.get("zones"):
        return []
    if not studio.workspace:
        raise BlockcError(f"studio '{studio.name}' has no workspace to sync with")
    transport = _transport(studio, studio_json, settings)
    # each zone is one agent exec, slow to start: the first starts before anything else is
    # done (even importing the engine), each next one while the zone before it syncs
    first = start_agent(transport)
    try:
        zs = zones(studio_json)
        from . import Baseline, format_report, sync_zones

        baseline = Baseline(state.db_path())
    except BaseException:
        first.close()
        raise
    with baseline:
        return sync_zones(
            transport,
            studio=studio.name,
            zones=zs,
            workspace=studio.workspace,
            mode=mode,
            baseline=baseline,
            allow_mass_delete=allow_mass_delete,
            progress=_progress_callback(progress),
            agent=first,
            done_file=done_file,
            on_report=lambda report: progress.line(format_report(report)),
        )


def sync_command(
    studio: state.Studio,
    settings: Settings,
    *,
    mode: str,
    progress: Progress,
    allow_mass_delete: bool = False,
) -> int:
    from ..run.runtimes import get_runtime

    # No up-front state check (a podman call of its own, as slow as the sync's exec): a studio
    # that is not running fails to start the agent, and only then is its state asked for.
    try:
        reports = sync_studio(
            studio, settings, mode=mode, progress=progress, allow_mass_delete=allow_mass_delete
        )
    except BlockcError as exc:
        from . import MassDeletionRefused, SyncError

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
    from . import Baseline, pending_changes

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
            if report.unsynced_in_studio:
                lost += [
                    f"{zone.name}: {c.kind} {c.path}" for c in report.pulled if c.kind != "deleted"
                ]
                lost += [f"{zone.name}: conflict {c.path}" for c in report.conflicts]
    return lost


def forget(studio: state.Studio) -> None:
    from . import Baseline

    with Baseline(state.db_path()) as baseline:
        baseline.forget(studio.name)
