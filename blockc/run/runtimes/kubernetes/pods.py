"""What a studio pod's status says (the pod as the API gives it, JSON): running, ready, or
why it cannot be, in one line (or a line and a log's tail)."""

from __future__ import annotations

from ....names import CONTAINER

# a container waiting for one of these will not get better by waiting
_PULL = ("ErrImagePull", "ImagePullBackOff", "InvalidImageName", "ErrImageNeverPull")
_CONFIG = ("CreateContainerConfigError", "CreateContainerError", "RunContainerError")


def main_status(pod: dict) -> dict:
    for c in pod.get("status", {}).get("containerStatuses") or ():
        if c.get("name") == CONTAINER:
            return dict(c)
    return {}


def is_running(pod: dict) -> bool:
    return bool(
        pod.get("status", {}).get("phase") == "Running"
        and not pod["metadata"].get("deletionTimestamp")
        and "running" in (main_status(pod).get("state") or {})
    )


def is_ready(pod: dict) -> bool:
    conds = {c.get("type"): c.get("status") for c in pod["status"].get("conditions") or ()}
    return is_running(pod) and conds.get("Ready") == "True"


def ended(pod: dict) -> bool:
    return bool(pod["metadata"].get("deletionTimestamp")) or pod.get("status", {}).get("phase") in (
        "Succeeded",
        "Failed",
    )


def problem(pod: dict, image: str, log_tail) -> str:
    """Why the pod will not run; "" while it may still. ``log_tail()`` gives the last lines of
    the main container's log."""
    status = pod.get("status") or {}
    for cond in status.get("conditions") or ():
        if (
            cond.get("type") == "PodScheduled"
            and cond.get("status") == "False"
            and cond.get("reason") == "Unschedulable"
        ):
            return f"the pod cannot be scheduled: {cond.get('message')}"
    if status.get("phase") == "Failed":
        return f"the pod failed: {status.get('reason', '')} {status.get('message', '')}".rstrip()
    c = main_status(pod)
    state = c.get("state") or {}
    waiting = state.get("waiting") or {}
    reason = waiting.get("reason")
    if reason in _PULL:
        registry = image.split("/", 1)[0] if "/" in image else "docker.io"
        return (
            f"the node cannot pull the image {image} from {registry} ({reason}): "
            f"{waiting.get('message') or 'no message'}"
        )
    if reason in _CONFIG:
        return f"the studio's container cannot be created ({reason}): {waiting.get('message')}"
    # crashing: now (a run that ended, after one before it) or between restarts; a container
    # that crashed once and runs again is not (the kubelet keeps its last end forever)
    restarts = c.get("restartCount", 0)
    if reason == "CrashLoopBackOff" or (state.get("terminated") and restarts >= 1):
        done = state.get("terminated") or (c.get("lastState") or {}).get("terminated")
        code = done.get("exitCode", "?") if done else "?"
        tail = log_tail()
        return (
            f"the studio's main container keeps crashing (exit code {code}, restarted "
            f"{restarts} time(s)); last lines of its log:\n"
            + "\n".join(f"    {ln}" for ln in tail.splitlines()[-20:])
        )
    return ""


def deployment_problem(deployment: dict) -> str:
    """Why a Deployment makes no pod (quota, admission); "" if it says nothing of it."""
    for cond in (deployment.get("status") or {}).get("conditions") or ():
        if cond.get("type") == "ReplicaFailure" and cond.get("status") == "True":
            return f"the cluster does not create the studio's pod: {cond.get('message')}"
    return ""
