#!/bin/sh
# The local base image every tka image starts FROM: Debian bookworm made by debootstrap (minbase,
# plus python3, python3-venv, ca-certificates, and bookworm's security updates), imported into
# podman. No registry is contacted: only Debian's package mirror. Cached: skipped when the image
# exists (`podman rmi localhost/tka-base:bookworm` to rebuild, e.g. for newer security updates).
#
#   deploy/base.sh [IMAGE]      (root; CONTAINERS_CONF=deploy/containers.conf on hosts like ours)
#   TKA_DEBIAN_MIRROR=http://deb.debian.org/debian   the mirror (default: that one)
set -eu

image=${1:-localhost/tka-base:bookworm}
mirror=${TKA_DEBIAN_MIRROR:-http://deb.debian.org/debian}
security=${TKA_DEBIAN_SECURITY_MIRROR:-http://deb.debian.org/debian-security}

if podman image exists "$image"; then
    echo "base image $image: cached" >&2
    exit 0
fi
command -v debootstrap >/dev/null ||
    { echo "deploy/base.sh needs debootstrap (apt-get install debootstrap)" >&2; exit 1; }

started=$(date +%s)
rootfs=$(mktemp -d /var/tmp/tka-base.XXXXXX)
chmod 755 "$rootfs"  # it becomes the image's /
cleanup() {
    # debootstrap or a failed chroot step may leave these mounted; never rm -rf through a mount.
    for m in proc sys dev/pts dev; do umount -l "$rootfs/$m" 2>/dev/null || true; done
    rm -rf --one-file-system "$rootfs"
}
trap cleanup EXIT INT TERM

echo "base image $image: debootstrap bookworm from $mirror" >&2
debootstrap --variant=minbase --include=python3,python3-venv,ca-certificates \
    bookworm "$rootfs" "$mirror" >"$rootfs.log" 2>&1 || { tail -30 "$rootfs.log" >&2; rm -f "$rootfs.log"; exit 1; }
rm -f "$rootfs.log"

# bookworm's point-release updates and security fixes, then nothing apt needs at build time only.
cat >"$rootfs/etc/apt/sources.list" <<EOF
deb $mirror bookworm main
deb $mirror bookworm-updates main
deb $security bookworm-security main
EOF
chroot "$rootfs" /usr/bin/env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin DEBIAN_FRONTEND=noninteractive \
    sh -c 'apt-get -q update && apt-get -q -y upgrade && apt-get clean' >&2
rm -rf "$rootfs"/var/lib/apt/lists/* "$rootfs"/var/cache/apt/*.bin "$rootfs"/var/log/* \
    "$rootfs"/usr/share/doc/* "$rootfs"/usr/share/man/* "$rootfs"/usr/share/info/* \
    "$rootfs"/usr/share/locale/* "$rootfs"/tmp/* "$rootfs"/var/tmp/*
# The container runtime provides /dev, /proc and /sys; the host's resolver settings are not for images.
rm -rf "$rootfs"/dev/* "$rootfs"/proc/* "$rootfs"/sys/*
: >"$rootfs/etc/resolv.conf"; : >"$rootfs/etc/hostname"

tar --numeric-owner -C "$rootfs" -c . |
    podman import --change 'CMD ["/bin/bash"]' --message "debootstrap --variant=minbase bookworm" - "$image" >/dev/null
echo "base image $image: built in $(( $(date +%s) - started )) s" >&2
