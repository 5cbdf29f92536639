# Shared helpers of the project's scripts (sourced, not run).

require_docker() {
  if ! docker info >/dev/null 2>&1; then
    echo "Docker is not reachable: start the Docker Engine (and make sure this user may use its socket)" >&2
    exit 1
  fi
}

# Install a Debian package (as root), or say how when not root.
apt_install() {
  local package="$1" otherwise="$2"
  if [ "$(id -u)" -ne 0 ]; then
    echo "$package is missing: run 'sudo apt-get install $package'$otherwise" >&2
    exit 1
  fi
  echo "installing $package from Debian's packages..." >&2
  apt-get update -qq >&2
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$package" >&2
}

# mmdebstrap builds the default sandbox image without a registry.
ensure_mmdebstrap() {
  command -v mmdebstrap >/dev/null 2>&1 && return 0
  apt_install mmdebstrap " (or set SOCKT_SANDBOX_IMAGE to an image you have)"
}

# The server isolates sandboxes with iptables rules (see README, Isolation):
# it needs iptables, ip and nsenter, and the right to use them.
ensure_iptables() {
  if [ "${SOCKT_SANDBOX_NETWORK:-isolated}" != isolated ]; then
    return 0
  fi
  if [ "$(id -u)" -ne 0 ]; then
    echo "sandbox isolation installs iptables rules: run as root (or set SOCKT_SANDBOX_NETWORK=none)" >&2
    exit 1
  fi
  # Sandboxes' routed links are made with ip (iproute2) and nsenter (util-linux).
  command -v ip >/dev/null 2>&1 || apt_install iproute2 " (sandbox network links)"
  command -v nsenter >/dev/null 2>&1 || apt_install util-linux " (sandbox network links)"
  command -v iptables-restore >/dev/null 2>&1 && return 0
  apt_install iptables ""
}

# gVisor (Debian's `runsc`) registered with Docker as the runtime "runsc",
# for the tests that run sandboxes under it (SOCKT_TIER_RUNTIMES). Installs
# the package and adds the runtime to /etc/docker/daemon.json when missing
# (the engine reloads its runtimes on SIGHUP). Where gVisor's own network
# stack cannot start (it refuses "the root network namespace" inside some
# VMs), the runtime is registered with --network=host: under Docker that is
# the container's own network namespace, so Sockt's iptables rules still
# apply (README, Isolation).
ensure_gvisor() {
  local image="$1"
  command -v runsc >/dev/null 2>&1 || apt_install runsc " (gVisor)"
  if ! docker info --format '{{json .Runtimes}}' | grep -q '"runsc"'; then
    register_runsc
  fi
  local probe
  if ! probe="$(docker run --rm --runtime=runsc --network none "$image" true 2>&1)"; then
    if printf '%s' "$probe" | grep -q "root network namespace"; then
      echo "gVisor's network stack cannot start here: registering runsc with --network=host (the container's namespace)" >&2
      register_runsc --network=host
      docker run --rm --runtime=runsc --network none "$image" true >&2
    else
      echo "gVisor (runsc) does not run containers here: $probe" >&2
      exit 1
    fi
  fi
}

# Register (or re-register) /usr/bin/runsc as Docker's runtime "runsc",
# with the given runsc flags, and wait until the engine knows it.
register_runsc() {
  local config=/etc/docker/daemon.json
  python3 - "$config" "$@" <<'PY'
import json, os, sys
path, args = sys.argv[1], sys.argv[2:]
config = json.load(open(path)) if os.path.exists(path) else {}
runtime = {"path": "/usr/bin/runsc"}
if args:
    runtime["runtimeArgs"] = args
config.setdefault("runtimes", {})["runsc"] = runtime
with open(path + ".sockt-new", "w") as f:
    json.dump(config, f, indent=2)
os.replace(path + ".sockt-new", path)
PY
  kill -HUP "$(pidof dockerd)"
  for _ in $(seq 50); do
    docker info --format '{{json .Runtimes}}' | grep -q '"runsc"' && return 0
    sleep 0.2
  done
  echo "Docker did not pick up the runsc runtime from $config" >&2
  exit 1
}
