"""File sync between a host workspace and a studio (SPEC §7). See docs/sync.md.

Public API::

    from blockc.sync import Baseline, PodmanTransport, sync_zone, pending_changes, format_report

    baseline = Baseline(state_db_path)
    transport = PodmanTransport("demo-pod-studio", user=1000)
    report = sync_zone(transport, studio="demo", zone=zone, workspace=ws, mode="push",
                       baseline=baseline, progress=callback)
    print(format_report(report)); sys.exit(report.exit_code)

``limits=Limits(max_file=..., max_total=..., min_free=..., max_entries=...)`` bounds what a
pull writes on the host (default: ``Limits()``); ``shown(text)`` is studio text made safe to
print.

Names are imported on first use (``blockc sync`` starts the studio-side agent before it
imports the engine).
"""

from importlib import import_module

_WHERE = {
    "Baseline": "baseline",
    "Entry": "baseline",
    "ZoneState": "baseline",
    "sync_zone": "engine",
    "sync_zones": "engine",
    "pending_changes": "engine",
    "conflict_name": "engine",
    "start_agent": "session",
    "Session": "session",
    "SyncReport": "report",
    "SyncProgress": "report",
    "Change": "report",
    "Conflict": "report",
    "Problem": "report",
    "format_report": "report",
    "shown": "report",
    "Limits": "limits",
    "SyncError": "report",
    "MassDeletionRefused": "report",
    "Transport": "transport",
    "PodmanTransport": "transport",
    "LocalTransport": "transport",
}

__all__ = list(_WHERE)


def __getattr__(name):
    where = _WHERE.get(name)
    if where is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(import_module(f"{__name__}.{where}"), name)
    globals()[name] = value
    return value


def __dir__():
    return sorted(set(globals()) | set(__all__))
