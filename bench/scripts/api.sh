#!/usr/bin/env bash
# API throughput, SPEC §8: SigV4-signed, authorized GetUser over HTTPS
# keep-alive with concurrent clients, and in the same run the
# unauthenticated /healthz over the same TLS stack as the ceiling.
#   bench/scripts/api.sh [SECONDS] [CONNECTIONS]
# Needs wrk (apt-get install wrk), curl and python3 with botocore (the
# request is signed once by botocore and replayed by wrk: SigV4 has no nonce,
# so ward-ca does the full verification and authorization on every request).
set -euo pipefail
cd "$(dirname "$0")/../.."
SECS=${1:-10}
CONNS=${2:-32}
command -v wrk >/dev/null || { apt-get update -qq && apt-get install -y -qq wrk; }
python3 -c 'import botocore' 2>/dev/null || python3 -m pip install --quiet botocore

# WARD_CA_BIN runs another build (e.g. the previous commit's, for a
# side-by-side comparison: bench/scripts/compare.sh).
if [ -z "${WARD_CA_BIN:-}" ]; then cargo build --release -q -p ward-ca; WARD_CA_BIN=target/release/ward-ca; fi
DIR=$(mktemp -d /tmp/ward-bench-api.XXXXXX)
PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
WARD_LOG=warn "$WARD_CA_BIN" serve --dev --data-dir "$DIR/data" --listen "127.0.0.1:$PORT" > "$DIR/banner" 2> "$DIR/log" &
PID=$!
trap 'kill $PID 2>/dev/null; wait $PID 2>/dev/null; rm -rf "$DIR"' EXIT
for _ in $(seq 100); do grep -q WARD_SECRET_ACCESS_KEY "$DIR/banner" 2>/dev/null && break; sleep 0.1; done
eval "$(grep '^ *export WARD_' "$DIR/banner")"
for _ in $(seq 100); do curl -sf --cacert "$WARD_CA_BUNDLE" "$WARD_ENDPOINT/healthz" >/dev/null && break; sleep 0.1; done
root=(--cacert "$WARD_CA_BUNDLE" --aws-sigv4 "aws:amz:local:ward" --user "$WARD_ACCESS_KEY_ID:$WARD_SECRET_ACCESS_KEY" -sf -H 'content-type: application/json')

# A user in 3 groups, each with a managed policy, plus an inline one.
curl "${root[@]}" -d '{"name":"alice","tags":[{"key":"team","value":"db"}]}' "$WARD_ENDPOINT/v1/users" >/dev/null
for g in ops dev staff; do
  curl "${root[@]}" -d "{\"name\":\"$g\"}" "$WARD_ENDPOINT/v1/groups" >/dev/null
  curl "${root[@]}" -X PUT "$WARD_ENDPOINT/v1/groups/$g/users/alice" >/dev/null
  doc=$(printf '{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":["iam:Get*","iam:List*"],"Resource":"arn:ward:iam::*:user/${ward:username}","Condition":{"IpAddress":{"ward:SourceIp":["127.0.0.0/8","10.0.0.0/8"]},"Bool":{"ward:SecureTransport":"true"}}},{"Effect":"Deny","Action":"iam:Delete*","Resource":"*"},{"Effect":"Allow","Action":"host:Login","Resource":"arn:ward:host::*:host/%s-*"}]}' "$g")
  python3 -c 'import json,sys; print(json.dumps({"name": sys.argv[1], "document": sys.argv[2]}))' "$g-policy" "$doc" \
    | curl "${root[@]}" --data-binary @- "$WARD_ENDPOINT/v1/policies" >/dev/null
  curl "${root[@]}" -X PUT "$WARD_ENDPOINT/v1/groups/$g/attached-policies/$g-policy" >/dev/null
done
KEY=$(curl "${root[@]}" -X POST "$WARD_ENDPOINT/v1/users/alice/access-keys")
AK=$(python3 -c 'import json,sys; print(json.loads(sys.argv[1])["accessKeyId"])' "$KEY")
SK=$(python3 -c 'import json,sys; print(json.loads(sys.argv[1])["secretAccessKey"])' "$KEY")

# Sign GET /v1/users/alice with botocore; wrk replays the headers. A
# signature is good for 15 minutes, so a run is cut into chunks of at most
# CHUNK seconds, each with a fresh signature (sign is called before each).
CHUNK=${WARD_BENCH_CHUNK:-600}
sign() {
HEADERS=$(python3 - "$AK" "$SK" "$WARD_ENDPOINT/v1/users/alice" <<'PY'
import sys
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials
req = AWSRequest(method="GET", url=sys.argv[3])
SigV4Auth(Credentials(sys.argv[1], sys.argv[2]), "ward", "local").add_auth(req)
for k, v in req.prepare().headers.items():
    print(f"{k}: {v if isinstance(v, str) else v.decode()}")
PY
)
WRK_H=()
CURL_H=()
while IFS= read -r h; do WRK_H+=(-H "$h"); CURL_H+=(-H "$h"); done <<< "$HEADERS"
}
sign
code=$(curl -s -o /dev/null -w '%{http_code}' --cacert "$WARD_CA_BUNDLE" "${CURL_H[@]}" "$WARD_ENDPOINT/v1/users/alice")
[ "$code" = 200 ] || { echo "signed GetUser returned $code" >&2; exit 1; }

# run SIGNED URL: wrk for SECS seconds in chunks of at most CHUNK, signing
# afresh before each chunk when SIGNED is 1; prints requests/s over all
# chunks (total requests / total seconds).
run() {
  local signed=$1 url=$2 left=$SECS reqs=0 secs=0 d
  while [ "$left" -gt 0 ]; do
    d=$(( left < CHUNK ? left : CHUNK ))
    left=$(( left - d ))
    if [ "$signed" = 1 ]; then sign; set -- "${WRK_H[@]}"; else set --; fi
    wrk -t2 -c"$CONNS" -d"${d}s" --latency "$@" "$url" > "$DIR/wrk.txt"
    cat "$DIR/wrk.txt" >&2
    # Only 2xx counts as throughput: a run that answered errors (e.g. a
    # replayed signature past the 15-minute window) fails instead.
    if grep -q -e 'Non-2xx or 3xx responses' -e 'Socket errors' "$DIR/wrk.txt"; then
      echo "bench: some responses were not 2xx; refusing to report throughput" >&2; exit 1
    fi
    read -r n t < <(awk '/requests in/ {n=$1; t=$4; sub(/,$/, "", t); print n, t}' "$DIR/wrk.txt")
    reqs=$(( reqs + n ))
    secs=$(python3 -c 'import sys; t=sys.argv[2]; f={"ms":0.001,"s":1,"m":60}; u="ms" if t.endswith("ms") else t[-1]; print(float(sys.argv[1]) + float(t[:-len(u)])*f[u])' "$secs" "$t")
  done
  python3 -c 'import sys; print(f"{int(sys.argv[1]) / float(sys.argv[2]):.2f}")' "$reqs" "$secs"
}
echo "== signed, authorized GetUser (alice: 3 groups, 3 managed policies)" >&2
SIGNED=$(run 1 "$WARD_ENDPOINT/v1/users/alice")
echo "== /healthz (no auth), same TLS stack" >&2
HEALTH=$(run 0 "$WARD_ENDPOINT/healthz")
curl -sf --cacert "$WARD_CA_BUNDLE" "$WARD_ENDPOINT/metrics" | grep 'class="5xx"' >&2
python3 - "$SIGNED" "$HEALTH" "$CONNS" "$SECS" <<'PY'
import sys
s, h = float(sys.argv[1]), float(sys.argv[2])
print(f"signed GetUser: {s:,.0f} req/s; /healthz: {h:,.0f} req/s; ratio {s/h:.2f} "
      f"({sys.argv[3]} connections, {sys.argv[4]} s, wrk -t2, 2 cores shared with the client)")
PY
