# shellcheck shell=bash
# Shared helpers for scripts/provision.sh and scripts/build-standin-base.sh.
# Source it; it defines functions and a few variables, and runs nothing.

# shellcheck disable=SC2034  # variables used by the scripts that source this
# Label that marks our locally-built stand-in base image. Tests read it to
# know they are not running against the real Docker Hub python image, and
# build-standin-base.sh reads it to never overwrite a real image.
NB2SVC_STANDIN_LABEL="nb2svc.standin"

# Where provision.sh sends a dockerd it starts itself.
NB2SVC_DOCKERD_LOG="/var/log/nb2svc-dockerd.log"

nb2svc_log() { printf '[%s] %s\n' "${NB2SVC_LOG_TAG:-nb2svc}" "$*" >&2; }
nb2svc_die() { nb2svc_log "ERROR: $*"; exit 1; }

# Monotonic-ish seconds with millisecond resolution, for step timings.
nb2svc_now() { date +%s.%N; }
nb2svc_elapsed() { awk -v a="$1" -v b="$(nb2svc_now)" 'BEGIN { printf "%.1fs", b - a }'; }

# True when a Docker engine answers. `docker info` is the only reliable test:
# the client binary exists on these machines even when no engine runs.
nb2svc_docker_up() { docker info >/dev/null 2>&1; }

nb2svc_image_exists() { docker image inspect "$1" >/dev/null 2>&1; }

# Prints the stand-in label value of an image ("" when unlabelled).
nb2svc_image_standin_label() {
    docker image inspect --format "{{ index .Config.Labels \"${NB2SVC_STANDIN_LABEL}\" }}" "$1" 2>/dev/null || true
}

# The Debian mirror apt already uses on this host, for debootstrap.
# debootstrap does not read apt's sources, and this machine may only reach a
# mirror that apt is configured for, so reuse the first URI that serves the
# requested suite from the main archive (not -security/-updates). Handles
# both the one-line format (sources.list, *.list) and deb822 (*.sources).
# Falls back to deb.debian.org.
nb2svc_debian_mirror() {
    local suite="${1:-bookworm}" f uri
    for f in /etc/apt/sources.list /etc/apt/sources.list.d/*.list; do
        [ -r "$f" ] || continue
        # deb [options] URI suite components...
        uri=$(awk -v s="$suite" '
            $1 == "deb" {
                i = 2
                if ($i ~ /^\[/) { while (i <= NF && $i !~ /\]$/) i++; i++ }
                if ($(i + 1) == s) { print $i; exit }
            }' "$f")
        if [ -n "$uri" ]; then echo "${uri%/}"; return 0; fi
    done
    for f in /etc/apt/sources.list.d/*.sources; do
        [ -r "$f" ] || continue
        # deb822: stanzas separated by blank lines; Types/URIs/Suites fields.
        uri=$(awk -v s="$suite" '
            function flush() {
                if (types ~ /(^| )deb( |$)/ && (" " suites " ") ~ (" " s " ") && uris != "") {
                    split(uris, u, " "); print u[1]; found = 1
                }
                types = ""; uris = ""; suites = ""
            }
            /^[ \t]*#/ { next }
            /^[ \t]*$/ { flush(); if (found) exit; next }
            tolower($1) == "types:"  { $1 = ""; types = $0 }
            tolower($1) == "uris:"   { $1 = ""; uris = $0 }
            tolower($1) == "suites:" { $1 = ""; suites = $0 }
            END { if (!found) flush() }' "$f" | head -n1)
        uri="${uri# }"
        if [ -n "$uri" ]; then echo "${uri%/}"; return 0; fi
    done
    echo "http://deb.debian.org/debian"
}
