#!/bin/sh
# Install Debian packages in one layer: update, install, clean. Honours the site's apt mirror
# (`apt_mirror`), which `blockc build` mounts at /run/blockc-site/apt-mirror.
# usage: apt-install PACKAGE[=VERSION]...
set -eu
export DEBIAN_FRONTEND=noninteractive
site=""
if [ -s /run/blockc-site/apt-mirror ]; then
    mirror=$(head -n 1 /run/blockc-site/apt-mirror)
    codename=$(. /etc/os-release && echo "$VERSION_CODENAME")
    printf 'deb %s %s main\ndeb %s %s-updates main\n' "$mirror" "$codename" "$mirror" "$codename" \
        > /tmp/blockc-sources.list
    site="-o Dir::Etc::SourceList=/tmp/blockc-sources.list -o Dir::Etc::SourceParts=-"
fi
# shellcheck disable=SC2086  # $site is a fixed list of words
apt-get $site update
# shellcheck disable=SC2086
apt-get $site install -y --no-install-recommends -o Dpkg::Use-Pty=0 -- "$@"
apt-get clean
rm -rf /var/lib/apt/lists/* /tmp/blockc-sources.list
