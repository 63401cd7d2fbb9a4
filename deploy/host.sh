#!/bin/sh
# What `make image` and `make image-test` need on the host, installed when missing (Debian, as root,
# the way tests/pg.py installs PostgreSQL): podman with runc, debootstrap, and podman-compose.
#
# podman-compose comes from PyPI (pinned, in a venv of its own: $TKA_PODMAN_COMPOSE, default
# /opt/podman-compose): Debian bookworm's 1.0.3 adds its project network to host-network
# services, which podman refuses ("cannot set multiple networks without bridge network mode").
set -eu
compose_venv=${TKA_PODMAN_COMPOSE:-/opt/podman-compose}
compose_version=1.6.0
py=${PY:-python3}

missing=
for tool in podman runc debootstrap; do
    command -v "$tool" >/dev/null 2>&1 || missing="$missing $tool"
done
if [ -n "$missing" ]; then
    if [ "$(id -u)" != 0 ] || ! command -v apt-get >/dev/null 2>&1; then
        echo "missing:$missing; install them (Debian: apt-get install$missing) or run as root on Debian" >&2
        exit 1
    fi
    echo "installing$missing" >&2
    export DEBIAN_FRONTEND=noninteractive
    apt-get -q update >/dev/null
    # runc first: with it present, podman does not pull in crun (which refuses hybrid cgroups).
    apt-get -q -y install --no-install-recommends runc >/dev/null
    apt-get -q -y install podman debootstrap >/dev/null
fi

if ! "$compose_venv/bin/podman-compose" --version 2>/dev/null | grep -q "podman-compose version $compose_version"; then
    echo "installing podman-compose $compose_version into $compose_venv" >&2
    rm -rf "$compose_venv"
    "$py" -m venv "$compose_venv"
    "$compose_venv/bin/pip" install --quiet --disable-pip-version-check "podman-compose==$compose_version"
fi
