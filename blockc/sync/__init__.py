"""File sync between a host workspace and a studio (SPEC §7). See docs/sync.md.

Public API::

    from blockc.sync import Baseline, PodmanTransport, sync_zone, pending_changes, format_report

    baseline = Baseline(state_db_path)
    transport = PodmanTransport("demo-pod-studio", user=1000)
    report = sync_zone(transport, studio="demo", zone=zone, workspace=ws, mode="push",
                       baseline=baseline, progress=callback)
    print(format_report(report)); sys.exit(report.exit_code)
"""

from .baseline import Baseline, Entry, ZoneState
from .engine import conflict_name, pending_changes, sync_zone, sync_zones
from .report import (Change, Conflict, MassDeletionRefused, Problem, SyncError, SyncProgress,
                     SyncReport, format_report)
from .transport import LocalTransport, PodmanTransport, Process, Transport

__all__ = [
    "Baseline", "Entry", "ZoneState",
    "sync_zone", "sync_zones", "pending_changes", "conflict_name",
    "SyncReport", "SyncProgress", "Change", "Conflict", "Problem", "format_report",
    "SyncError", "MassDeletionRefused",
    "Transport", "Process", "PodmanTransport", "LocalTransport",
]
