#!/usr/bin/env bash
# Start a real LNbits (PyPI `lnbits`, FakeWallet funding source: real signed
# BOLT11 invoices, payments settle between its own wallets) for the Lightning
# tests, offline. Installs it into a virtual environment on first use, starts
# it with a fresh data folder, claims the super user, and prints shell
# assignments: SOCKT_TEST_LNBITS_URL, SOCKT_TEST_LNBITS_TOKEN (super user) and
# SOCKT_TEST_LNBITS_PID, SOCKT_TEST_LNBITS_RUN (its folder). With
# SOCKT_TEST_LNBITS_RUN and SOCKT_TEST_LNBITS_PORT set, it starts that
# LNbits again on its data (a restart) and prints only the URL and the PID.
set -euo pipefail

# A free port unless one is asked for (a fresh LNbits every run).
port="${SOCKT_TEST_LNBITS_PORT:-$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')}"
venv="${SOCKT_TEST_LNBITS_VENV:-/var/tmp/sockt-lnbits-venv}"
restart=false
if [ -n "${SOCKT_TEST_LNBITS_RUN:-}" ] && [ -d "${SOCKT_TEST_LNBITS_RUN}/data" ]; then
  run="$SOCKT_TEST_LNBITS_RUN"
  restart=true
else
  run="$(mktemp -d /tmp/sockt-lnbits.XXXXXX)"
fi

if [ ! -x "$venv/bin/uvicorn" ] || ! "$venv/bin/python" -c "import lnbits" 2>/dev/null; then
  echo "installing LNbits 1.6.2 into $venv..." >&2
  python3 -m venv "$venv"
  "$venv/bin/pip" install -q "lnbits==1.6.2" "bitstring<5" >&2
fi
if [ "$restart" = false ]; then
  site="$("$venv/bin/python" -c 'import lnbits, os; print(os.path.dirname(lnbits.__file__))')"
  ln -s "$site" "$run/lnbits"   # LNbits mounts lnbits/static relative to its working directory
  mkdir -p "$run/data" "$run/extensions"
fi

base="http://127.0.0.1:$port"
# No price aggregator and no exchange-rate providers: LNbits would otherwise
# ask outside hosts for a Bitcoin price on every invoice (seconds each when
# name resolution times out, which delayed top-up invoices in CI).
(
  cd "$run"
  LNBITS_DATA_FOLDER="$run/data" LNBITS_EXTENSIONS_PATH="$run/extensions" \
  LNBITS_BACKEND_WALLET_CLASS=FakeWallet LNBITS_BASEURL="$base/" AUTH_HTTPS_ONLY=false \
  LNBITS_LN_ADDRESS_MODE=core_first LNBITS_LNURL_ALLOW_PRIVATE_IPS=true \
  LNBITS_CALLBACK_ALLOW_PRIVATE_IPS=true LNBITS_CALLBACK_URL_RULES='http://127\.0\.0\.1:\d+' \
  LNBITS_PRICE_AGGREGATOR_ENABLED=false LNBITS_EXCHANGE_RATE_PROVIDERS="[]" LNBITS_RATE_LIMIT_NO=100000 \
  exec "$venv/bin/uvicorn" lnbits.__main__:app --host 127.0.0.1 --port "$port" >>"$run/lnbits.log" 2>&1
) &
pid=$!
for _ in $(seq 150); do
  curl -s -o /dev/null "$base/api/v1/health" && break
  kill -0 "$pid" 2>/dev/null || { cat "$run/lnbits.log" >&2; exit 1; }
  sleep 0.2
done
if [ "$restart" = true ]; then
  echo "SOCKT_TEST_LNBITS_URL=$base"
  echo "SOCKT_TEST_LNBITS_PID=$pid"
  exit 0
fi
password="$(head -c 18 /dev/urandom | base64 | tr -d '/+=')"
token="$(curl -fsS -X PUT "$base/api/v1/auth/first_install" -H 'content-type: application/json' \
  -d "{\"username\":\"admin\",\"password\":\"$password\",\"password_repeat\":\"$password\"}" \
  | python3 -c 'import json,sys; print(json.load(sys.stdin)["access_token"])')"
echo "SOCKT_TEST_LNBITS_URL=$base"
echo "SOCKT_TEST_LNBITS_TOKEN=$token"
echo "SOCKT_TEST_LNBITS_PID=$pid"
echo "SOCKT_TEST_LNBITS_RUN=$run"
