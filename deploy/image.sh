#!/bin/sh
# `make image`: localhost/tka:latest from ./Containerfile and localhost/tka-postgres:15 from
# deploy/postgres/Containerfile, both FROM the local debootstrap base (deploy/base.sh, cached).
# The tka image gets the wheel built from this working tree (README "Deploy").
#
#   TKA_IMAGE, TKA_POSTGRES_IMAGE, TKA_BASE_IMAGE   other names (make image-test uses its own)
#   TKA_IMAGES=tka|postgres|all                    which to build (default all)
#   PY                                             the Python that builds the wheel (default python3)
set -eu
cd "$(dirname "$0")/.."
CONTAINERS_CONF=${CONTAINERS_CONF:-$PWD/deploy/containers.conf}
export CONTAINERS_CONF
image=${TKA_IMAGE:-localhost/tka:latest}
pg_image=${TKA_POSTGRES_IMAGE:-localhost/tka-postgres:15}
base=${TKA_BASE_IMAGE:-localhost/tka-base:bookworm}
which=${TKA_IMAGES:-all}
py=${PY:-python3}

deploy/host.sh
deploy/base.sh "$base"

# pip inside the build trusts what pip on the host trusts (a proxy's CA, say) and uses the same
# index: both handed in as build secrets, never kept in a layer.
ca=${PIP_CERT:-/etc/ssl/certs/ca-certificates.crt}
[ -f "$ca" ] || { echo "no CA bundle at $ca: set PIP_CERT to the bundle pip should trust" >&2; exit 1; }

work=$(mktemp -d /var/tmp/tka-image.XXXXXX)
trap 'rm -rf "$work"' EXIT INT TERM
size() { podman image inspect --format '{{.Size}}' "$1"; }
build() {  # podman build's output only when it fails
    podman build --format docker --pull=never --build-arg BASE="$base" "$@" >"$work/build.log" 2>&1 ||
        { tail -n 60 "$work/build.log" >&2; echo "podman build failed: podman build $*" >&2; exit 1; }
}

if [ "$which" != postgres ]; then
    started=$(date +%s)
    # The wheel, built from a clean export of the working tree (tracked and new files as they are
    # now, not ignored ones): an in-tree build could pick up stale files from an old build/.
    mkdir "$work/src" "$work/context"
    if git rev-parse --is-inside-work-tree >/dev/null 2>&1; then
        git ls-files -z --cached --others --exclude-standard |
            tar --null -T - --ignore-failed-read -cf - 2>/dev/null | tar -xf - -C "$work/src"
    else
        tar --exclude=./.venv --exclude=./build --exclude='*.egg-info' -cf - . | tar -xf - -C "$work/src"
    fi
    "$py" -m pip wheel --quiet --no-deps -w "$work/context" "$work/src"
    cp deploy/entrypoint.py deploy/healthcheck.py "$work/context/"
    "$py" - "$work/pip.conf" <<'PYEOF'
import os, subprocess, sys
lines = ["[global]"]
for key in ("index-url", "extra-index-url", "trusted-host", "proxy"):
    value = os.environ.get("PIP_" + key.upper().replace("-", "_"), "")
    if not value:
        got = subprocess.run([sys.executable, "-m", "pip", "config", "get", f"global.{key}"],
                             capture_output=True, text=True)
        value = got.stdout.strip() if got.returncode == 0 else ""
    if value:
        lines.append(f"{key} = {value}")
open(sys.argv[1], "w").write("\n".join(lines) + "\n")
PYEOF
    echo "building $image from $(basename "$work"/context/*.whl)" >&2
    # --layers=false: a cached layer would not notice a new wheel behind the bind mount.
    build --layers=false --secret id=ca,src="$ca" --secret id=pipconf,src="$work/pip.conf" \
        -f Containerfile -t "$image" "$work/context"
    echo "built $image in $(( $(date +%s) - started )) s, $(size "$image") bytes" >&2
fi

if [ "$which" != tka ]; then
    started=$(date +%s)
    build --layers=false -f deploy/postgres/Containerfile -t "$pg_image" deploy/postgres
    echo "built $pg_image in $(( $(date +%s) - started )) s, $(size "$pg_image") bytes" >&2
fi
