#!/usr/bin/env bash
# Shared set-up for scripts/run, scripts/test, scripts/chaos: installs what is missing and
# manages a throwaway local PostgreSQL cluster. Source it; don't run it.
set -euo pipefail

QUARRY_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
export PATH="/opt/swift/usr/bin:$PATH"
APT_PACKAGES=(libpq-dev libcurl4-openssl-dev libxml2-dev zlib1g-dev pkg-config postgresql postgresql-contrib
              poppler-utils util-linux curl python3 python3-venv chromium wrk)

log() { printf '\033[1m[quarry]\033[0m %s\n' "$*" >&2; }

ensure_packages() {
    local missing=()
    for p in "${APT_PACKAGES[@]}"; do
        dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p")
    done
    if ((${#missing[@]})); then
        log "installing: ${missing[*]}"
        local sudo=""; [ "$(id -u)" = 0 ] || sudo="sudo"
        $sudo apt-get update -qq
        DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${missing[@]}" >/dev/null
    fi
    command -v swift >/dev/null || { log "swift toolchain not found (expected /opt/swift)"; exit 1; }
}

pg_bindir() {
    local d
    for d in /usr/lib/postgresql/*/bin; do [ -x "$d/initdb" ] && echo "$d"; done | sort -V | tail -1
}

free_port() {
    python3 - <<'PY'
import socket
s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()
PY
}

# pg_data_dir: where scripts/run keeps its cluster (QUARRY_PGDATA_DIR overrides). $QUARRY_ROOT/.pgdata
# when the server can reach it. As root the server runs as `postgres`, which cannot enter a clone
# below a private directory (e.g. /root, mode 700; initdb: "could not access directory"): then
# /var/tmp/quarry-<first 12 hex of sha256(repo path)>/pgdata, one cluster per clone, kept like .pgdata.
pg_data_dir() {
    if [ -n "${QUARRY_PGDATA_DIR:-}" ]; then echo "$QUARRY_PGDATA_DIR"; return; fi
    if [ "$(id -u)" != 0 ] || runuser -u postgres -- test -x "$QUARRY_ROOT" 2>/dev/null; then
        echo "$QUARRY_ROOT/.pgdata"
        return
    fi
    echo "/var/tmp/quarry-$(printf '%s' "$QUARRY_ROOT" | sha256sum | cut -c1-12)/pgdata"
}

# pg_start DATADIR PORT: initdb (if needed) and start a cluster; exports DATABASE_URL and PG_* helpers.
pg_start() {
    local data="$1" port="$2" bin; bin="$(pg_bindir)"
    [ -n "$bin" ] || { log "PostgreSQL server binaries not found"; exit 1; }
    local as=()
    if [ "$(id -u)" = 0 ]; then as=(runuser -u postgres --); fi
    mkdir -p "$data"
    [ "$(id -u)" = 0 ] && chown postgres:postgres "$data"
    if [ ! -f "$data/PG_VERSION" ]; then
        "${as[@]}" "$bin/initdb" -D "$data" -U postgres --auth=trust -E UTF8 --locale=C.UTF-8 >/dev/null
        cat >>"$data/postgresql.conf" <<CONF
listen_addresses = '127.0.0.1'
port = $port
unix_socket_directories = '$data'
max_connections = 300
shared_buffers = 256MB
fsync = ${PG_FSYNC:-on}
synchronous_commit = ${PG_SYNCHRONOUS_COMMIT:-on}
full_page_writes = ${PG_FSYNC:-on}
max_wal_size = 2GB
log_min_messages = warning
CONF
    fi
    "${as[@]}" "$bin/pg_ctl" -D "$data" -l "$data/server.log" -w -t 60 -o "-p $port" start >/dev/null
    export PGDATA_DIR="$data" PG_PORT="$port" PG_BIN="$bin"
    export PG_CTL_AS="${as[*]:-}"
    "$bin/psql" -h 127.0.0.1 -p "$port" -U postgres -d postgres -qtAc \
        "SELECT 1 FROM pg_database WHERE datname='quarry'" | grep -q 1 ||
        "$bin/psql" -h 127.0.0.1 -p "$port" -U postgres -d postgres -qc "CREATE DATABASE quarry" >/dev/null
    export DATABASE_URL="postgresql://postgres@127.0.0.1:$port/quarry"
    log "PostgreSQL on port $port ($data)"
}

pg_stop() {
    [ -n "${PGDATA_DIR:-}" ] || return 0
    local as=(); [ "$(id -u)" = 0 ] && as=(runuser -u postgres --)
    "${as[@]}" "$PG_BIN/pg_ctl" -D "$PGDATA_DIR" -m fast -w stop >/dev/null 2>&1 || true
}

# QUARRY_PREBUILT_BIN=DIR: use the executables in DIR instead (scripts/test hands its own build to
# the private-clone smoke run rather than compiling everything a second time).
build_release() {
    if [ -n "${QUARRY_PREBUILT_BIN:-}" ]; then
        [ -x "$QUARRY_PREBUILT_BIN/api" ] || { log "QUARRY_PREBUILT_BIN=$QUARRY_PREBUILT_BIN has no api executable"; exit 1; }
        log "using the executables in $QUARRY_PREBUILT_BIN (QUARRY_PREBUILT_BIN)"
        export QUARRY_BIN="$QUARRY_PREBUILT_BIN"
        return
    fi
    log "building (release)…"
    (cd "$QUARRY_ROOT" && swift build -c release 2>&1 | grep -Ev '^\[[0-9]+/[0-9]+\]' | tail -5)
    export QUARRY_BIN="$(cd "$QUARRY_ROOT" && swift build -c release --show-bin-path)"
}

# --- Containers (scripts/image, scripts/kube-smoke) ------------------------------------------------
# Debian's podman/buildah with runc; installed on first use, not by ensure_packages (scripts/run
# and the tests do not need them).
CONTAINER_APT_PACKAGES=(podman buildah runc debootstrap slirp4netns)

ensure_container_tools() {
    [ "$(id -u)" = 0 ] || { log "building and playing images needs root (podman, debootstrap): run with sudo"; exit 1; }
    local missing=()
    for p in "${CONTAINER_APT_PACKAGES[@]}"; do
        dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p")
    done
    if ((${#missing[@]})); then
        log "installing: ${missing[*]}"
        apt-get update -qq
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
    fi
    # runc, no rlimits above the hard limits, cgroupfs: see deploy/podman/containers.conf.
    export CONTAINERS_CONF="${CONTAINERS_CONF:-$QUARRY_ROOT/deploy/podman/containers.conf}"
}

# Image names (all local: localhost/ is never pulled).
QUARRY_IMAGE="${QUARRY_IMAGE:-localhost/quarry:latest}"
QUARRY_BASE_IMAGE="${QUARRY_BASE_IMAGE:-localhost/quarry-base:bookworm}"

# kubectl with an embedded kustomize >= v5 (components, labels[].includeTemplates): the machine's, or
# Debian's kubernetes-client when there is none (bookworm's is 1.20, too old: then say so and fail).
ensure_kubectl() {
    if ! command -v kubectl >/dev/null 2>&1; then
        if command -v apt-get >/dev/null 2>&1 && [ "$(id -u)" = 0 ]; then
            log "kubectl not found; installing Debian's kubernetes-client"
            apt-get update -qq
            DEBIAN_FRONTEND=noninteractive apt-get install -y -qq kubernetes-client >/dev/null ||
                { log "apt-get install kubernetes-client failed; install kubectl >= 1.27"; return 1; }
        else
            log "kubectl not found; install kubectl >= 1.27"
            return 1
        fi
    fi
    KUSTOMIZE_VERSION="$(kubectl version --client -o json 2>/dev/null |
        sed -n 's/.*"kustomizeVersion": *"v\{0,1\}\([0-9][0-9.]*\).*/\1/p' | head -n1)"
    if [ -z "$KUSTOMIZE_VERSION" ] || [ "${KUSTOMIZE_VERSION%%.*}" -lt 5 ]; then
        log "kubectl at $(command -v kubectl) embeds kustomize '${KUSTOMIZE_VERSION:-unknown (too old)}'; need kustomize >= v5" \
            "(kubectl >= 1.27). Debian bookworm's kubernetes-client (1.20) is too old: install a current kubectl."
        return 1
    fi
    export KUSTOMIZE_VERSION
}

# A python3 that imports yaml: the system's, else a throwaway virtualenv with PyYAML (reused).
yaml_python() {
    if python3 -c 'import yaml' 2>/dev/null; then command -v python3; return; fi
    local venv="${TMPDIR:-/tmp}/quarry-venv-yaml"
    [ -x "$venv/bin/python" ] && "$venv/bin/python" -c 'import yaml' 2>/dev/null ||
        { python3 -m venv "$venv" >&2 && "$venv/bin/pip" install -q --disable-pip-version-check pyyaml >&2; }
    echo "$venv/bin/python"
}
