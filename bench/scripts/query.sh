#!/usr/bin/env bash
# AWS Query API vs JSON API (issue #16): GetUser requests/s in the same run,
# same daemon, same user and policies, same wrk settings. The Query request
# is `GET /?Action=GetUser&UserName=alice&Version=2010-05-08` signed for
# `iam`; the JSON one `GET /v1/users/alice` signed for `ward`. Each is
# signed once by botocore and replayed by wrk (SigV4 has no nonce: the full
# verification and authorization run on every request).
#   bench/scripts/query.sh [SECONDS] [CONNECTIONS]
set -euo pipefail
cd "$(dirname "$0")/../.."
SECS=${1:-10}
CONNS=${2:-32}
command -v wrk >/dev/null || { apt-get update -qq && apt-get install -y -qq wrk; }
python3 -c 'import botocore' 2>/dev/null || python3 -m pip install --quiet botocore
if [ -z "${WARD_CA_BIN:-}" ]; then cargo build --release -q -p ward-ca; WARD_CA_BIN=target/release/ward-ca; fi
DIR=$(mktemp -d /tmp/ward-bench-query.XXXXXX)
PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
WARD_LOG=warn "$WARD_CA_BIN" serve --dev --data-dir "$DIR/data" --listen "127.0.0.1:$PORT" > "$DIR/banner" 2> "$DIR/log" &
PID=$!
trap 'kill $PID 2>/dev/null; wait $PID 2>/dev/null; rm -rf "$DIR"' EXIT
for _ in $(seq 100); do grep -q WARD_SECRET_ACCESS_KEY "$DIR/banner" 2>/dev/null && break; sleep 0.1; done
eval "$(grep '^ *export WARD_' "$DIR/banner")"
for _ in $(seq 100); do curl -sf --cacert "$WARD_CA_BUNDLE" "$WARD_ENDPOINT/healthz" >/dev/null && break; sleep 0.1; done
root=(--cacert "$WARD_CA_BUNDLE" --aws-sigv4 "aws:amz:local:ward" --user "$WARD_ACCESS_KEY_ID:$WARD_SECRET_ACCESS_KEY" -sf -H 'content-type: application/json')

# alice, in a group with a managed policy allowing her own Get*/List*.
curl "${root[@]}" -d '{"name":"alice"}' "$WARD_ENDPOINT/v1/users" >/dev/null
curl "${root[@]}" -d '{"name":"ops"}' "$WARD_ENDPOINT/v1/groups" >/dev/null
curl "${root[@]}" -X PUT "$WARD_ENDPOINT/v1/groups/ops/users/alice" >/dev/null
curl "${root[@]}" -d '{"name":"self","document":{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":["iam:Get*","iam:List*"],"Resource":"arn:ward:iam::*:user/${ward:username}"}]}}' "$WARD_ENDPOINT/v1/policies" >/dev/null
curl "${root[@]}" -X PUT "$WARD_ENDPOINT/v1/groups/ops/attached-policies/self" >/dev/null
KEY=$(curl "${root[@]}" -X POST "$WARD_ENDPOINT/v1/users/alice/access-keys")
AK=$(python3 -c 'import json,sys; print(json.loads(sys.argv[1])["accessKeyId"])' "$KEY")
SK=$(python3 -c 'import json,sys; print(json.loads(sys.argv[1])["secretAccessKey"])' "$KEY")

# headers URL SERVICE REGION: botocore's signed headers, one per line.
headers() {
python3 - "$AK" "$SK" "$1" "$2" "$3" <<'PY'
import sys
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials
req = AWSRequest(method="GET", url=sys.argv[3])
SigV4Auth(Credentials(sys.argv[1], sys.argv[2]), sys.argv[4], sys.argv[5]).add_auth(req)
for k, v in req.prepare().headers.items():
    print(f"{k}: {v if isinstance(v, str) else v.decode()}")
PY
}

# rps URL SERVICE REGION: checks one signed request answers 200, then
# prints wrk's requests/s (failing on any non-2xx).
rps() {
  local h=() line
  while IFS= read -r line; do h+=(-H "$line"); done <<< "$(headers "$1" "$2" "$3")"
  code=$(curl -s -o /dev/null -w '%{http_code}' --cacert "$WARD_CA_BUNDLE" "${h[@]}" "$1")
  [ "$code" = 200 ] || { echo "$1 returned $code" >&2; exit 1; }
  local c0 c1
  c0=$(cpu_ticks)
  wrk -t2 -c"$CONNS" -d"${SECS}s" --latency "${h[@]}" "$1" > "$DIR/wrk.txt"
  c1=$(cpu_ticks)
  cat "$DIR/wrk.txt" >&2
  if grep -q -e 'Non-2xx or 3xx responses' -e 'Socket errors' "$DIR/wrk.txt"; then
    echo "non-2xx answers or socket errors in the run" >&2; exit 1
  fi
  # requests/s, and ward-ca's CPU time (user + system) per request in µs:
  # the second is what the front end costs, whatever else the machine runs.
  awk -v d=$((c1 - c0)) -v hz="$(getconf CLK_TCK)" \
    '/requests in/ {n=$1} /Requests\/sec/ {r=$2} END {printf "%s %.1f\n", r, d*1e6/hz/n}' "$DIR/wrk.txt"
}
# ward-ca's user + system CPU time so far, in clock ticks.
cpu_ticks() { awk '{print $14 + $15}' "/proc/$PID/stat"; }

read -r JSON JCPU <<<"$(rps "$WARD_ENDPOINT/v1/users/alice" ward local)"
read -r QUERY QCPU <<<"$(rps "$WARD_ENDPOINT/?Action=GetUser&UserName=alice&Version=2010-05-08" iam us-east-1)"
read -r JSON2 JCPU2 <<<"$(rps "$WARD_ENDPOINT/v1/users/alice" ward local)"
echo "load: $(cut -d' ' -f1-3 /proc/loadavg)"
echo "JSON GetUser:  $JSON req/s ($JCPU µs CPU/request), again after the Query run: $JSON2 req/s ($JCPU2 µs)"
echo "Query GetUser: $QUERY req/s ($QCPU µs CPU/request)"
python3 -c 'import sys; a=list(map(float,sys.argv[1:])); j=(a[0]+a[2])/2; jc=(a[3]+a[5])/2; print(f"Query/JSON: {a[1]/j:.2f}x requests/s, {jc/a[4]:.2f}x (JSON CPU/request over Query CPU/request)")' "$JSON" "$QUERY" "$JSON2" "$JCPU" "$QCPU" "$JCPU2"
