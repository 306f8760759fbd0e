"""What a studio pod's status says: running, ready, or why it cannot be (one line each, in a
user's words), read from the pod, its Deployment and the main container's log."""

from __future__ import annotations

from ....names import CONTAINER

# a container waiting for one of these will not get better by waiting
_PULL = ("ErrImagePull", "ImagePullBackOff", "InvalidImageName", "ErrImageNeverPull")
_CONFIG = ("CreateContainerConfigError", "CreateContainerError", "RunContainerError")


def main_status(pod):
    for c in pod.status.container_statuses or ():
        if c.name == CONTAINER:
            return c
    return None


def is_running(pod) -> bool:
    c = main_status(pod)
    return bool(
        pod.status.phase == "Running"
        and not pod.metadata.deletion_timestamp
        and c is not None
        and c.state is not None
        and c.state.running is not None
    )


def is_ready(pod) -> bool:
    conds = {c.type: c.status for c in pod.status.conditions or ()}
    return is_running(pod) and conds.get("Ready") == "True"


def problem(pod, image: str, log_tail) -> str:
    """Why the pod will not run (a line, or a line and a log's tail); "" while it may still.
    ``log_tail()`` gives the last lines of the main container's previous run."""
    status = pod.status
    for cond in status.conditions or ():
        if (
            cond.type == "PodScheduled"
            and cond.status == "False"
            and cond.reason == "Unschedulable"
        ):
            return f"the pod cannot be scheduled: {cond.message}"
    if status.phase == "Failed":
        return f"the pod failed: {status.reason or ''} {status.message or ''}".rstrip()
    c = main_status(pod)
    if c is None or c.state is None:
        return ""
    waiting = c.state.waiting
    if waiting is not None and waiting.reason in _PULL:
        registry = image.split("/", 1)[0] if "/" in image else "docker.io"
        return (
            f"the node cannot pull the image {image} from {registry} ({waiting.reason}): "
            f"{waiting.message or 'no message'}"
        )
    if waiting is not None and waiting.reason in _CONFIG:
        return f"the studio's container cannot be created ({waiting.reason}): {waiting.message}"
    ended = c.state.terminated or (c.last_state.terminated if c.last_state else None)
    if (waiting is not None and waiting.reason == "CrashLoopBackOff") or (
        ended is not None and c.restart_count >= 1
    ):
        code = ended.exit_code if ended is not None else "?"
        tail = log_tail()
        return (
            f"the studio's main container keeps crashing (exit code {code}, restarted "
            f"{c.restart_count} time(s)); last lines of its log:\n"
            + "\n".join(f"    {ln}" for ln in tail.splitlines()[-20:])
        )
    return ""


def deployment_problem(deployment) -> str:
    """Why a Deployment makes no pod (quota, admission), "" if it says nothing of it."""
    for cond in (deployment.status.conditions if deployment.status else None) or ():
        if cond.type == "ReplicaFailure" and cond.status == "True":
            return f"the cluster does not create the studio's pod: {cond.message}"
    return ""
