"""Run one sync in its own process (tests kill it mid-way, or measure its memory).

    python sync_runner.py DB WORKSPACE CONTAINER ZONE_JSON MODE

Prints one JSON line per progress event ({"progress": bytes_done, "total": bytes_total}),
then the report as JSON, then its peak RSS in MB.
"""

import json
import sys

from blockc.sync import Baseline, PodmanTransport, sync_zone
from blockc.types import Zone


def main():
    db, ws, container, zone_json, mode = sys.argv[1:6]
    z = json.loads(zone_json)
    zone = Zone(
        z["name"],
        z["host"],
        z["container"],
        z.get("direction", "both"),
        tuple(z.get("exclude", ())),
    )

    def progress(p):
        if p.phase in ("push", "pull"):
            print(json.dumps({"progress": p.bytes_done, "total": p.bytes_total}), flush=True)

    r = sync_zone(
        PodmanTransport(container, user=1000),
        studio="t",
        zone=zone,
        workspace=ws,
        mode=mode,
        baseline=Baseline(db),
        progress=progress,
    )
    print(
        json.dumps(
            {
                "report": {
                    "pushed": len(r.pushed),
                    "pulled": len(r.pulled),
                    "conflicts": len(r.conflicts),
                    "problems": [p.reason for p in r.problems],
                    "bytes_pushed": r.bytes_pushed,
                    "bytes_pulled": r.bytes_pulled,
                }
            }
        )
    )
    # VmHWM: this process image's peak RSS (ru_maxrss would include the parent's at fork)
    hwm = next(
        int(line.split()[1]) for line in open("/proc/self/status") if line.startswith("VmHWM:")
    )
    print(json.dumps({"rss_mb": hwm / 1024}), flush=True)


if __name__ == "__main__":
    main()
