#!/usr/bin/env bash
# Build the local Debian+Python base image used by blockc builds, if it is absent.
#
#   scripts/make-base-image.sh [IMAGE]      (default: localhost/blockc-base/debian-python:bookworm)
#
# No container registry is reachable, so the base is made with debootstrap from the
# Debian mirror and imported with `podman import`. Idempotent: does nothing if the
# image already exists. Env: DEBIAN_MIRROR (default http://deb.debian.org/debian),
# SUITE (default bookworm), CONTAINERS_CONF (defaults to the project's etc/containers.conf).
set -euo pipefail

IMAGE="${1:-localhost/blockc-base/debian-python:bookworm}"
SUITE="${SUITE:-bookworm}"
MIRROR="${DEBIAN_MIRROR:-http://deb.debian.org/debian}"
PACKAGES="python3,python3-venv,python3-pip,ca-certificates"
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
export CONTAINERS_CONF="${CONTAINERS_CONF:-$HERE/etc/containers.conf}"

log() { printf '[make-base-image] %s\n' "$*" >&2; }
die() { log "ERROR: $*"; exit 1; }

for tool in podman debootstrap tar; do
  command -v "$tool" >/dev/null 2>&1 || die "'$tool' not found (apt-get install -y podman buildah runc debootstrap)"
done
[ "$(id -u)" = 0 ] || die "debootstrap needs root"

# Serialise concurrent runs (e.g. parallel test jobs) so only one debootstraps.
LOCK="/var/tmp/blockc-base-image.lock"
exec 9>"$LOCK"
if command -v flock >/dev/null 2>&1; then
  flock 9 || die "cannot lock $LOCK"
fi

if podman image exists "$IMAGE"; then
  log "image $IMAGE already exists; nothing to do"
  exit 0
fi

WORK="$(mktemp -d /var/tmp/blockc-base.XXXXXX)"
cleanup() { log "removing $WORK"; rm -rf --one-file-system "$WORK"; }
trap cleanup EXIT
ROOTFS="$WORK/rootfs"

start=$(date +%s)
log "debootstrap --variant=minbase --include=$PACKAGES $SUITE $ROOTFS $MIRROR"
if ! debootstrap --variant=minbase --include="$PACKAGES" "$SUITE" "$ROOTFS" "$MIRROR" >"$WORK/debootstrap.log" 2>&1; then
  tail -n 40 "$WORK/debootstrap.log" >&2 || true
  [ -f "$ROOTFS/debootstrap/debootstrap.log" ] && tail -n 40 "$ROOTFS/debootstrap/debootstrap.log" >&2
  die "debootstrap failed"
fi
log "debootstrap done in $(( $(date +%s) - start ))s"

# Trim: apt caches/lists (re-creatable with apt-get update), and make sure
# nothing host-specific leaks into the image.
rm -rf "$ROOTFS"/var/lib/apt/lists/* "$ROOTFS"/var/cache/apt/*.bin \
       "$ROOTFS"/var/cache/apt/archives/*.deb "$ROOTFS"/debootstrap
: > "$ROOTFS/etc/resolv.conf" || true
rm -f "$ROOTFS/etc/hostname"
"$ROOTFS/usr/bin/python3" --version >/dev/null 2>&1 || chroot "$ROOTFS" python3 --version >/dev/null \
  || die "python3 missing from rootfs"

log "importing into $IMAGE"
t=$(date +%s)
tar -C "$ROOTFS" --numeric-owner -c . | podman import --quiet \
  --change 'CMD ["/bin/bash"]' \
  --change 'ENV LANG=C.UTF-8' \
  --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
  - "$IMAGE" >/dev/null
log "import done in $(( $(date +%s) - t ))s"

podman image exists "$IMAGE" || die "import reported success but $IMAGE is missing"
log "created $IMAGE ($(podman image inspect --format '{{.Size}}' "$IMAGE") bytes) in $(( $(date +%s) - start ))s total"
