#!/usr/bin/env bash
# Build a local stand-in for the Docker Hub image `python:3.11-slim`.
#
# Why: the Dockerfiles nb2svc generates start FROM python:3.11-slim, and the
# end-to-end tests build them. Our machines reach no Docker registry, so the
# image cannot be pulled; instead we debootstrap a minimal Debian bookworm
# (whose python3 is 3.11, like the real image) and `docker import` it under the
# same tag, shaped like the real image where it matters (python/pip on PATH in
# /usr/local/bin, `pip install` works as root, CMD python3).
#
# Usage: scripts/build-standin-base.sh [--verify-only] [TAG]   (TAG defaults to python:3.11-slim)
#   --verify-only  only run the checks against an existing TAG
#
# Refuses to overwrite an existing TAG that is not one of our stand-ins (no
# `nb2svc.standin` label): whoever has the real image keeps it.
# Needs root (debootstrap), a running Docker engine and debootstrap.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# shellcheck source=scripts/lib.sh
source "$here/lib.sh"
NB2SVC_LOG_TAG="standin"

verify_only=0
tag=""
for arg in "$@"; do
    case "$arg" in
        --verify-only) verify_only=1 ;;
        -h|--help) sed -n '2,17p' "${BASH_SOURCE[0]}"; exit 0 ;;
        -*) nb2svc_die "unknown option: $arg" ;;
        *) [ -z "$tag" ] || nb2svc_die "only one TAG allowed"; tag="$arg" ;;
    esac
done
tag="${tag:-python:3.11-slim}"
# bookworm is the Debian release whose python3 is 3.11; keep it in step with the tag.
suite="${NB2SVC_STANDIN_SUITE:-bookworm}"

# Checks that a built image is usable the way the generated Dockerfiles use it:
# python with ssl/venv runs, and a `docker build` can pip-install from PyPI
# (which needs the host network for builds and the host's CA bundle inside).
verify_image() {
    local t0 ctx vtag="nb2svc-standin-verify:$$"
    t0=$(nb2svc_now)
    docker run --rm --network none "$tag" python -c 'import ssl, venv; print(1)' | grep -qx 1 \
        || { nb2svc_log "verify: python -c 'import ssl, venv' failed in $tag"; return 1; }
    ctx=$(mktemp -d)
    printf 'FROM %s\nRUN pip install --no-cache-dir six && python -c "import six"\n' "$tag" >"$ctx/Dockerfile"
    # DOCKER_BUILDKIT=0: BuildKit does not work with this engine on overlay2
    # (see provision.sh); the classic builder does, and honours --network host.
    if ! DOCKER_BUILDKIT=0 docker build -q --network host --force-rm -t "$vtag" "$ctx" >"$ctx/build.log" 2>&1; then
        nb2svc_log "verify: pip install inside 'docker build --network host' FROM $tag failed:"
        tail -n 30 "$ctx/build.log" >&2
        rm -rf "$ctx"; docker rmi -f "$vtag" >/dev/null 2>&1 || true
        return 1
    fi
    rm -rf "$ctx"
    docker rmi -f "$vtag" >/dev/null
    nb2svc_log "verify: $tag runs python (ssl, venv) and pip-installs from PyPI in a build ($(nb2svc_elapsed "$t0"))"
}

[ "$(id -u)" -eq 0 ] || nb2svc_die "must run as root (debootstrap); try: sudo $0 $*"
nb2svc_docker_up || nb2svc_die "no Docker engine answers 'docker info' (run scripts/provision.sh first)"

if [ "$verify_only" -eq 1 ]; then
    nb2svc_image_exists "$tag" || nb2svc_die "image $tag does not exist"
    verify_image || nb2svc_die "image $tag failed verification"
    exit 0
fi

if nb2svc_image_exists "$tag"; then
    if [ "$(nb2svc_image_standin_label "$tag")" != "1" ]; then
        nb2svc_die "$tag exists and is not an nb2svc stand-in (no ${NB2SVC_STANDIN_LABEL}=1 label); refusing to overwrite it"
    fi
    nb2svc_log "$tag is an existing stand-in; rebuilding it"
fi
command -v debootstrap >/dev/null || nb2svc_die "debootstrap is not installed (apt-get install debootstrap)"

mirror="$(nb2svc_debian_mirror "$suite")"

# /var/tmp, not /tmp: /tmp may be a tmpfs or mounted nodev, and debootstrap
# must create device nodes; the tree is a few hundred MB.
rootfs="$(mktemp -d /var/tmp/nb2svc-standin.XXXXXX)"
cleanup() {
    # A failed debootstrap can leave proc/sys (and more) mounted inside the
    # tree; unmount them (deepest first) before deleting, or `rm -rf` would
    # walk into the host's /proc and /sys. --one-file-system as a second guard.
    local m
    if [ -d "$rootfs" ]; then
        awk -v r="$rootfs" 'index($2, r "/") == 1 { print $2 }' /proc/mounts | sort -r |
            while read -r m; do umount -l "$m" 2>/dev/null || true; done
        rm -rf --one-file-system "$rootfs"
    fi
    rm -f "$rootfs.log"
}
trap cleanup EXIT

t0=$(nb2svc_now)
nb2svc_log "debootstrap $suite (minbase + python3) from $mirror into $rootfs"
if ! debootstrap --variant=minbase \
        --include=python3,python3-venv,python3-pip,ca-certificates \
        "$suite" "$rootfs" "$mirror" >"$rootfs.log" 2>&1; then
    tail -n 40 "$rootfs.log" >&2
    [ -f "$rootfs/debootstrap/debootstrap.log" ] && tail -n 40 "$rootfs/debootstrap/debootstrap.log" >&2
    rm -f "$rootfs.log"
    nb2svc_die "debootstrap failed (mirror $mirror)"
fi
rm -f "$rootfs.log"
nb2svc_log "debootstrap done ($(nb2svc_elapsed "$t0"))"

t0=$(nb2svc_now)
# This machine's outbound TLS is re-signed by a local CA that only the host's
# bundle trusts; without it pip inside a build fails certificate checks.
# Debian's pip uses the system bundle, and pip.conf below points at it too.
if [ -r /etc/ssl/certs/ca-certificates.crt ]; then
    install -m 0644 /etc/ssl/certs/ca-certificates.crt "$rootfs/etc/ssl/certs/ca-certificates.crt"
    # Also as a local CA source, so an `update-ca-certificates` run in a
    # derived image (e.g. after `apt-get install`) keeps trusting it.
    install -D -m 0644 /etc/ssl/certs/ca-certificates.crt \
        "$rootfs/usr/local/share/ca-certificates/nb2svc-host-bundle.crt"
fi
# PEP 668: Debian marks its python "externally managed" and pip then refuses
# to install as root outside a venv. The real image has no such marker, and
# generated Dockerfiles run a plain `pip install`.
rm -f "$rootfs"/usr/lib/python3*/EXTERNALLY-MANAGED
# The real image has python/pip in /usr/local/bin; match its names.
mkdir -p "$rootfs/usr/local/bin"
ln -sf /usr/bin/python3 "$rootfs/usr/local/bin/python"
ln -sf /usr/bin/python3 "$rootfs/usr/local/bin/python3"
ln -sf /usr/bin/pip3 "$rootfs/usr/local/bin/pip"
ln -sf /usr/bin/pip3 "$rootfs/usr/local/bin/pip3"
# Debian's python installs to /usr/local/lib/python3.11/dist-packages; the
# real image uses .../site-packages, and multi-stage Dockerfiles copy that
# path by name. Alias it so such a COPY finds (and fills) the right place.
pyminor="$(chroot "$rootfs" python3 -c 'import sys; print("python%d.%d" % sys.version_info[:2])')"
mkdir -p "$rootfs/usr/local/lib/$pyminor/dist-packages"
ln -sfn dist-packages "$rootfs/usr/local/lib/$pyminor/site-packages"
cat >"$rootfs/etc/pip.conf" <<'EOF'
# nb2svc stand-in for python:3.11-slim (see scripts/build-standin-base.sh)
[global]
cert = /etc/ssl/certs/ca-certificates.crt
disable-pip-version-check = true
root-user-action = ignore
EOF
# Slim it like the real image: no package caches, lists, docs or man pages.
rm -rf "$rootfs"/var/cache/apt/archives/*.deb "$rootfs"/var/lib/apt/lists/* \
       "$rootfs"/usr/share/doc/* "$rootfs"/usr/share/man/* "$rootfs"/usr/share/info/* \
       "$rootfs"/var/log/* "$rootfs"/debootstrap
py_version="$(chroot "$rootfs" python3 -c 'import platform; print(platform.python_version())')"

# A previous stand-in keeps its tag until the import below retags, so a failed
# build leaves it usable; its untagged remains are removed afterwards.
old_id="$(docker image inspect --format '{{.Id}}' "$tag" 2>/dev/null || true)"
nb2svc_log "importing as $tag (python $py_version)"
tar --numeric-owner -C "$rootfs" -c . | docker import \
    --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
    --change 'ENV LANG=C.UTF-8' \
    --change "ENV PYTHON_VERSION=$py_version" \
    --change "LABEL ${NB2SVC_STANDIN_LABEL}=1" \
    --change "LABEL ${NB2SVC_STANDIN_LABEL}.suite=$suite" \
    --change 'CMD ["python3"]' \
    --message "nb2svc stand-in for $tag" \
    - "$tag" >/dev/null
if [ -n "$old_id" ] && [ "$old_id" != "$(docker image inspect --format '{{.Id}}' "$tag")" ]; then
    docker rmi "$old_id" >/dev/null 2>&1 || true   # fails harmlessly if still in use
fi
nb2svc_log "import done ($(nb2svc_elapsed "$t0")); size $(docker image inspect --format '{{.Size}}' "$tag" | awk '{ printf "%.0f MB", $1 / 1e6 }')"

if ! verify_image; then
    # Never leave a broken image behind: provision.sh only builds when the tag
    # is missing, so a bad one would otherwise stick.
    docker rmi -f "$tag" >/dev/null 2>&1 || true
    nb2svc_die "the new $tag failed verification and was removed"
fi
nb2svc_log "stand-in $tag ready"
