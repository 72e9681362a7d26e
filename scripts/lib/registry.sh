# shellcheck shell=bash
# Local docker-registry instances (Debian's docker-registry, CNCF distribution) for the tests,
# the demo and the benchmarks. Sourced after common.sh.

registry_packages() {
  apt_install docker-registry skopeo openssl apache2-utils python3 curl ca-certificates
}

# Writes a registry config: registry_config FILE ADDR STORAGE [extra yaml lines...]
# registry_log_level (error unless set; give it as `registry_log_level=info registry_config …`)
# is distribution's log level; registry_accesslog=1 logs every request on the registry's stdout.
registry_config() {
  local file=$1 addr=$2 storage=$3
  shift 3
  {
    cat <<YAML
version: 0.1
log:
  level: ${registry_log_level:-error}
  accesslog:
    disabled: $([ "${registry_accesslog:-0}" = 1 ] && echo false || echo true)
storage:
  filesystem:
    rootdirectory: $storage
  delete:
    enabled: true
  maintenance:
    uploadpurging:
      enabled: false
http:
  addr: $addr
  secret: tagship-test-secret
YAML
    local line
    for line in "$@"; do printf '%s\n' "$line"; done
  } >"$file"
}

# Waits until URL answers (any HTTP status) or gives up after ~10 s.
wait_for_http() {
  local url=$1
  for _ in $(seq 1 100); do
    curl -sk -o /dev/null --max-time 1 "$url" && return 0
    sleep 0.1
  done
  echo "error: nothing answers at $url" >&2
  return 1
}

# Starts a plain-HTTP registry on 127.0.0.1:PORT storing into DIR (emptied first) in the
# background; prints its PID. For throwaway use: the demo and the benchmarks.
start_throwaway_registry() {
  local dir=$1 port=$2
  rm -rf "$dir"
  mkdir -p "$dir/data"
  registry_config "$dir/config.yml" "127.0.0.1:$port" "$dir/data"
  docker-registry serve "$dir/config.yml" >"$dir/registry.log" 2>&1 &
  local pid=$!
  if ! wait_for_http "http://127.0.0.1:$port/v2/"; then
    cat "$dir/registry.log" >&2
    kill "$pid" 2>/dev/null || true
    return 1
  fi
  echo "$pid"
}
