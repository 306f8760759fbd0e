#!/bin/sh
# blockc base setup (run as root at build time): the studio user, its Python environment,
# the supervisor's own environment and the log directory.
# usage: studio-setup.sh USER UID GID WORKDIR SUPERVISOR_REQUIREMENT
set -eu
user=$1 uid=$2 gid=$3 workdir=$4 supervisor=$5
if ! getent group "$gid" >/dev/null; then groupadd --gid "$gid" "$user"; fi
if getent passwd "$uid" >/dev/null; then
    old=$(getent passwd "$uid" | cut -d: -f1)
    [ "$old" = "$user" ] || usermod --login "$user" --home "/home/$user" --move-home "$old"
else
    useradd --uid "$uid" --gid "$gid" --create-home --home-dir "/home/$user" --shell /bin/bash "$user"
fi
python3 -m venv /opt/blockc/venv
/opt/blockc/venv/bin/pip install --no-cache-dir --disable-pip-version-check --quiet -- "$supervisor"
python3 -m venv /opt/studio/venv
mkdir -p "$workdir" /var/log/blockc /etc/blockc
chown "$uid:$gid" /opt/studio/venv /opt/studio/venv/bin /opt/studio/venv/lib /var/log/blockc "$workdir"
chown -R "$uid:$gid" /opt/studio/venv "/home/$user"
