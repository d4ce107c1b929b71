#!/usr/bin/env bash
# Builds deploy/Dockerfile with podman and runs the image: `--version`, then a replay of the bundled
# examples whose invocation requests and summary must equal, byte for byte, those of the same
# replay on the host. CI runs it; exits non-zero with the reason when the build or a check fails.
#
#   deploy/build-image.sh
#
# Installs podman, runc and debootstrap with apt-get when missing (root needed). The Dockerfile's
# default base image is used when it can be pulled; otherwise a stand-in with the same Debian
# release and Python minor version is made from Debian's packages (debootstrap), imported as
# localhost/trigger-engine-base:<release> and kept in podman's store for the next run.
#
# Environment: IMAGE (tag of the built image, default trigger-engine:local), DEBIAN_MIRROR (for
# debootstrap, default http://deb.debian.org/debian), PYTHON (host interpreter with the project's
# dependencies for the reference replay, default python3).
set -euo pipefail

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$repo"
image="${IMAGE:-trigger-engine:local}"
mirror="${DEBIAN_MIRROR:-http://deb.debian.org/debian}"
python="${PYTHON:-python3}"
default_base="$(sed -n 's/^ARG PYTHON_IMAGE=//p' deploy/Dockerfile)"
# Spelt out as Docker reads a short name, since podman may have no registry to search for one.
[[ $default_base == */* ]] || default_base="docker.io/library/$default_base"
debian_release="${default_base##*-}"
python_minor="${default_base#*python:}"
python_minor="${python_minor%%-*}"
standin_base="localhost/trigger-engine-base:$debian_release"
# The stand-in's interpreter: Debian's python3 (3.11 in bookworm), `python` and `venv` as in the
# official image, and the certificate authorities pip needs to reach the package index.
standin_packages="python3,python3-venv,python-is-python3,ca-certificates"
# runc rather than podman's default crun: crun refuses hosts whose cgroups are mounted in hybrid
# mode (v1 controllers beside a v2 hierarchy), and runc runs on both layouts.
podman=(podman --runtime runc)
# Explicit limits within the host's hard limits: as root, podman asks for higher ones by default,
# which a host without CAP_SYS_RESOURCE refuses. Processes: at most podman build's own default.
nofile="$(ulimit -Hn)"
[[ $nofile == unlimited ]] && nofile=1048576
nproc="$(ulimit -Hu)"
[[ $nproc == unlimited || $nproc -gt 32768 ]] && nproc=32768
limits=(--ulimit "nofile=$nofile:$nofile" --ulimit "nproc=$nproc:$nproc")

work="$(mktemp -d "${TMPDIR:-/tmp}/trigger-engine-image.XXXXXX")"
trap 'rm -rf "$work"' EXIT

die() {
  echo "build-image.sh: $*" >&2
  exit 1
}

step() {
  echo "build-image.sh: $* (${SECONDS}s)" >&2
}

install_tools() {
  local missing=()
  command -v podman >/dev/null || missing+=(podman)
  command -v runc >/dev/null || missing+=(runc)
  command -v debootstrap >/dev/null || missing+=(debootstrap)
  ((${#missing[@]} == 0)) && return
  [[ $(id -u) == 0 ]] || die "needs ${missing[*]}: install them, or run as root so apt-get can"
  step "installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get -qq update >"$work/apt.log" 2>&1 \
    && apt-get -qq install -y "${missing[@]}" >>"$work/apt.log" 2>&1 \
    || { cat "$work/apt.log" >&2; die "apt-get could not install ${missing[*]}"; }
}

# A root file system of Debian's packages, imported as an image: what the official image provides
# to the Dockerfile (python, venv, pip through ensurepip, groupadd/useradd), from another source.
make_standin_base() {
  [[ $(id -u) == 0 ]] || die "debootstrap needs root to make the stand-in base image"
  step "making $standin_base with debootstrap from $mirror"
  local rootfs="$work/rootfs"
  debootstrap --variant=minbase --include="$standin_packages" "$debian_release" "$rootfs" \
    "$mirror" >"$work/debootstrap.log" 2>&1 \
    || { tail -n 30 "$work/debootstrap.log" >&2; die "debootstrap of $debian_release failed"; }
  # The downloaded packages and indexes are not part of a slim base.
  rm -rf "$rootfs"/var/cache/apt/archives/*.deb "$rootfs"/var/lib/apt/lists/*
  tar --numeric-owner -C "$rootfs" -c . \
    | "${podman[@]}" import -q --change 'CMD ["python3"]' - "$standin_base" >/dev/null \
    || die "podman import of the stand-in base failed"
  rm -rf "$rootfs"
}

# The Dockerfile's base image if it can be pulled, else the stand-in (made once).
choose_base() {
  if "${podman[@]}" image exists "$default_base" \
    || timeout 120 "${podman[@]}" pull -q "$default_base" >"$work/pull.log" 2>&1; then
    echo "$default_base"
    return
  fi
  step "cannot pull $default_base: $(tail -n 1 "$work/pull.log")"
  "${podman[@]}" image exists "$standin_base" || make_standin_base
  local python_version
  python_version="$(run_in_image "$standin_base" python -c 'import sys; print(sys.version)')" \
    || die "python does not run in $standin_base"
  [[ $python_version == "$python_minor".* ]] \
    || die "$standin_base has Python $python_version, $default_base has $python_minor"
  echo "$standin_base"
}

build() {
  local base="$1"
  step "building $image from deploy/Dockerfile on $base"
  # The host's certificate authorities, mounted for the build only, so pip trusts the package
  # index also where HTTPS passes through an inspecting proxy the host trusts.
  local trust=()
  if [[ -f /etc/ssl/certs/ca-certificates.crt ]]; then
    printf '[global]\ncert = /etc/ssl/certs/ca-certificates.crt\n' >"$work/pip.conf"
    trust=(-v /etc/ssl/certs/ca-certificates.crt:/etc/ssl/certs/ca-certificates.crt:ro
      -v "$work/pip.conf:/etc/pip.conf:ro")
  fi
  # Docker's image format keeps the HEALTHCHECK, which the OCI format has no field for.
  "${podman[@]}" build -f deploy/Dockerfile --ignorefile deploy/Dockerfile.dockerignore \
    --build-arg "PYTHON_IMAGE=$base" --pull=never --format docker --network host \
    "${limits[@]}" "${trust[@]}" -t "$image" . >"$work/build.log" 2>&1 \
    || { tail -n 40 "$work/build.log" >&2; die "podman build of deploy/Dockerfile failed"; }
}

# One-shot commands: the image's HEALTHCHECK probes the service, which these do not start.
run_in_image() {
  "${podman[@]}" run --rm --network none --no-healthcheck "${limits[@]}" "$@"
}

check_version() {
  local version expected actual
  version="$(sed -n 's/^version = "\(.*\)"$/\1/p' pyproject.toml)"
  expected="trigger-engine $version"
  actual="$(run_in_image "$image" --version)" || die "trigger-engine --version failed in $image"
  [[ $actual == "$expected" ]] || die "$image reports '$actual', pyproject.toml '$expected'"
  step "$image: $actual"
}

check_replay() {
  local args=(replay examples/events.jsonl --triggers examples/triggers.yaml
    --actions examples/actions)
  mkdir "$work/host" "$work/image"
  "$python" -m engine "${args[@]}" >"$work/host/invocations.jsonl" 2>"$work/host/stderr" \
    || { cat "$work/host/stderr" >&2; die "the replay of the examples failed on the host"; }
  run_in_image -v "$repo/examples:/srv/examples:ro" -w /srv "$image" "${args[@]}" \
    >"$work/image/invocations.jsonl" 2>"$work/image/stderr" \
    || { cat "$work/image/stderr" >&2; die "the replay of the examples failed in $image"; }
  [[ -s $work/host/invocations.jsonl ]] || die "the replay of the examples requested no invocation"
  cmp -s "$work/host/invocations.jsonl" "$work/image/invocations.jsonl" \
    || die "the replay's invocation requests in $image differ from the host's (< host, > image):" \
      "$(diff "$work/host/invocations.jsonl" "$work/image/invocations.jsonl" | head -n 20)"
  # The summary line only: podman may add its own messages to the container's stderr.
  local host_summary image_summary
  host_summary="$(grep '^replay summary:' "$work/host/stderr")" || die "no summary on the host"
  image_summary="$(grep '^replay summary:' "$work/image/stderr")" || die "no summary in $image"
  [[ $image_summary == "$host_summary" ]] \
    || die "the replay's summary in $image differs from the host's: '$image_summary'"
  step "$image: the replay of the examples equals the host's"
}

install_tools
base="$(choose_base)"
build "$base"
check_version
check_replay
step "done"
