#!/bin/sh
# Install Debian packages in one layer: update, install, clean. Honours the site's apt mirror
# when the builder mounts one at /run/blockc-site/apt/sources.list.
# usage: apt-install.sh PACKAGE[=VERSION]...
set -eu
export DEBIAN_FRONTEND=noninteractive
site=""
if [ -s /run/blockc-site/apt/sources.list ]; then
    site="-o Dir::Etc::SourceList=/run/blockc-site/apt/sources.list -o Dir::Etc::SourceParts=-"
fi
# shellcheck disable=SC2086  # $site is a fixed list of words
apt-get $site update
# shellcheck disable=SC2086
apt-get $site install -y --no-install-recommends -o Dpkg::Use-Pty=0 -- "$@"
apt-get clean
rm -rf /var/lib/apt/lists/*
