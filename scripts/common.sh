# Shared helpers of the project's scripts (sourced, not run).

require_docker() {
  if ! docker info >/dev/null 2>&1; then
    echo "Docker is not reachable: start the Docker Engine (and make sure this user may use its socket)" >&2
    exit 1
  fi
}

# mmdebstrap builds the default sandbox image without a registry.
ensure_mmdebstrap() {
  command -v mmdebstrap >/dev/null 2>&1 && return 0
  if [ "$(id -u)" -ne 0 ]; then
    echo "mmdebstrap is missing: run 'sudo apt-get install mmdebstrap' (or set SOCKT_SANDBOX_IMAGE to an image you have)" >&2
    exit 1
  fi
  echo "installing mmdebstrap from Debian's packages..." >&2
  apt-get update -qq >&2
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq mmdebstrap >&2
}

# The server isolates sandboxes with iptables rules (see README, Isolation):
# it needs iptables and the right to change it.
ensure_iptables() {
  if [ "${SOCKT_SANDBOX_NETWORK:-isolated}" != isolated ]; then
    return 0
  fi
  if [ "$(id -u)" -ne 0 ]; then
    echo "sandbox isolation installs iptables rules: run as root (or set SOCKT_SANDBOX_NETWORK=none)" >&2
    exit 1
  fi
  command -v iptables-restore >/dev/null 2>&1 && return 0
  echo "installing iptables from Debian's packages..." >&2
  apt-get update -qq >&2
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq iptables >&2
}
