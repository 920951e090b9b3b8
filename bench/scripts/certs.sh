#!/usr/bin/env bash
# Certificate issuance throughput (SPEC §8: SSH user certificates via the
# API with a durable inventory record, >= 5,000/s on 2 cores), and X.509
# client certificates. A user's signed request (botocore, once) is replayed
# by wrk over HTTPS keep-alive: every request is verified, authorized, signed
# with a fresh random serial and committed (inventory row + audit event).
# The in-process baseline (raw Ed25519 signing of the same certificate,
# `cargo bench -p ward-bench --bench sshcert`) runs in the same script run,
# before and after the API runs, and the script prints the ratio of SSH
# issuance to it (WARD_BENCH_BASELINE=0 skips it, e.g. for compare.sh).
# The script fails if any response is not 2xx or any socket error occurs.
#   bench/scripts/certs.sh [SECONDS] [CONNECTIONS]
set -euo pipefail
cd "$(dirname "$0")/../.."
SECS=${1:-10}
CONNS=${2:-32}
command -v wrk >/dev/null || { apt-get update -qq && apt-get install -y -qq wrk; }
python3 -c 'import botocore' 2>/dev/null || python3 -m pip install --quiet botocore

# WARD_CA_BIN runs another build (e.g. the previous commit's, for a
# side-by-side comparison: bench/scripts/compare.sh).
if [ -z "${WARD_CA_BIN:-}" ]; then cargo build --release -q -p ward-ca; WARD_CA_BIN=target/release/ward-ca; fi
DIR=$(mktemp -d /tmp/ward-bench-certs.XXXXXX)
PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
WARD_LOG=warn "$WARD_CA_BIN" serve --dev --data-dir "$DIR/data" --listen "127.0.0.1:$PORT" > "$DIR/banner" 2> "$DIR/log" &
PID=$!
trap 'kill $PID 2>/dev/null; wait $PID 2>/dev/null; rm -rf "$DIR"' EXIT
for _ in $(seq 100); do grep -q WARD_SECRET_ACCESS_KEY "$DIR/banner" 2>/dev/null && break; sleep 0.1; done
eval "$(grep '^ *export WARD_' "$DIR/banner")"
for _ in $(seq 100); do curl -sf --cacert "$WARD_CA_BUNDLE" "$WARD_ENDPOINT/healthz" >/dev/null && break; sleep 0.1; done
root=(--cacert "$WARD_CA_BUNDLE" --aws-sigv4 "aws:amz:local:ward" --user "$WARD_ACCESS_KEY_ID:$WARD_SECRET_ACCESS_KEY" -sf -H 'content-type: application/json')
curl "${root[@]}" -d '{"name":"alice"}' "$WARD_ENDPOINT/v1/users" >/dev/null
doc='{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":["ca:IssueSshUserCertificate","ca:IssueX509Certificate"],"Resource":"*","Condition":{"NumericLessThanEquals":{"ca:ValiditySeconds":"86400"},"ForAllValues:StringEquals":{"ca:Principals":["${ward:username}"]}}}]}'
python3 -c 'import json,sys; print(json.dumps({"document": sys.argv[1]}))' "$doc" | curl "${root[@]}" -X PUT --data-binary @- "$WARD_ENDPOINT/v1/users/alice/policies/ca" >/dev/null
KEY=$(curl "${root[@]}" -X POST "$WARD_ENDPOINT/v1/users/alice/access-keys")
AK=$(python3 -c 'import json,sys; print(json.loads(sys.argv[1])["accessKeyId"])' "$KEY")
SK=$(python3 -c 'import json,sys; print(json.loads(sys.argv[1])["secretAccessKey"])' "$KEY")
ssh-keygen -q -t ed25519 -N '' -f "$DIR/id"
openssl genpkey -algorithm ed25519 -out "$DIR/c.key" 2>/dev/null
openssl req -new -key "$DIR/c.key" -subj /CN=alice -out "$DIR/c.csr" 2>/dev/null
python3 -c 'import json,sys; print(json.dumps({"publicKey": open(sys.argv[1]).read()}))' "$DIR/id.pub" > "$DIR/ssh.json"
python3 -c 'import json,sys; print(json.dumps({"csr": open(sys.argv[1]).read()}))' "$DIR/c.csr" > "$DIR/x509.json"

# Sign a POST with botocore; write a wrk Lua script that replays it (run
# signs afresh before each chunk of a run).
sign() { # URL BODYFILE OUT.lua
python3 - "$AK" "$SK" "$1" "$2" "$3" <<'PY'
import json, sys
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials
body = open(sys.argv[4], "rb").read()
req = AWSRequest(method="POST", url=sys.argv[3], data=body, headers={"Content-Type": "application/json"})
SigV4Auth(Credentials(sys.argv[1], sys.argv[2]), "ward", "local").add_auth(req)
p = req.prepare()
with open(sys.argv[5], "w") as f:
    f.write('wrk.method = "POST"\n')
    f.write("wrk.body = %s\n" % json.dumps(body.decode()))
    for k, v in p.headers.items():
        v = v if isinstance(v, str) else v.decode()
        f.write("wrk.headers[%s] = %s\n" % (json.dumps(k), json.dumps(v)))
    f.write('done = function(summary, latency, requests)\n  io.write(string.format("non2xx-or-errors %d\\n", summary.errors.status + summary.errors.connect + summary.errors.read + summary.errors.write + summary.errors.timeout))\nend\n')
PY
}

# run URL BODYFILE LUA: wrk for SECS seconds in chunks of at most CHUNK
# (a signature is good for 15 minutes), signing afresh before each chunk;
# prints requests/s over all chunks (total requests / total seconds).
CHUNK=${WARD_BENCH_CHUNK:-600}
run() {
  local left=$SECS reqs=0 secs=0 d n t
  while [ "$left" -gt 0 ]; do
    d=$(( left < CHUNK ? left : CHUNK ))
    left=$(( left - d ))
    sign "$1" "$2" "$3"
    wrk -t2 -c"$CONNS" -d"${d}s" --latency -s "$3" "$1" > "$DIR/wrk.txt"
    cat "$DIR/wrk.txt" >&2
    # Only 2xx counts as throughput: a run that answered errors (e.g. a
    # replayed signature past the 15-minute window) or lost connections
    # fails instead.
    if grep -q -e 'Non-2xx or 3xx responses' -e 'Socket errors' "$DIR/wrk.txt" \
       || ! grep -q '^non2xx-or-errors 0$' "$DIR/wrk.txt"; then
      echo "bench: some responses were not 2xx (or connections failed); refusing to report throughput" >&2; exit 1
    fi
    read -r n t < <(awk '/requests in/ {n=$1; t=$4; sub(/,$/, "", t); print n, t}' "$DIR/wrk.txt")
    reqs=$(( reqs + n ))
    secs=$(python3 -c 'import sys; t=sys.argv[2]; f={"ms":0.001,"s":1,"m":60}; u="ms" if t.endswith("ms") else t[-1]; print(float(sys.argv[1]) + float(t[:-len(u)])*f[u])' "$secs" "$t")
  done
  python3 -c 'import sys; print(f"{int(sys.argv[1]) / float(sys.argv[2]):.2f}")' "$reqs" "$secs"
}
# Raw in-process signing, the ceiling: median certificates/s of one run.
baseline() {
  cargo bench -q -p ward-bench --bench sshcert 2>/dev/null | tee /dev/stderr \
    | awk '/^median/ {print $2}'
}
BASELINE=${WARD_BENCH_BASELINE:-1}
if [ "$BASELINE" != 0 ]; then
  echo "== raw Ed25519 signing (baseline, before)" >&2
  RAW1=$(baseline)
fi
echo "== SSH user certificates" >&2
SSH=$(run "$WARD_ENDPOINT/v1/ssh/user-certificates" "$DIR/ssh.json" "$DIR/ssh.lua")
echo "== X.509 client certificates" >&2
X509=$(run "$WARD_ENDPOINT/v1/x509/client-certificates" "$DIR/x509.json" "$DIR/x509.lua")
ISSUED=$(curl "${root[@]}" "$WARD_ENDPOINT/v1/certificates?limit=1" >/dev/null && echo ok)
N=$(python3 - "$DIR/data/ward.db" <<'PY'
import sqlite3, sys
c = sqlite3.connect(sys.argv[1])
print(c.execute("select kind, count(*) from certificates group by kind").fetchall())
PY
)
curl -sf --cacert "$WARD_CA_BUNDLE" "$WARD_ENDPOINT/metrics" | grep 'class=' >&2
echo "SSH user certificates: $SSH/s; X.509 client certificates: $X509/s (inventory: $N; $CONNS connections, $SECS s, wrk -t2, 2 cores shared with the client)"
if [ "$BASELINE" != 0 ]; then
  echo "== raw Ed25519 signing (baseline, after)" >&2
  RAW2=$(baseline)
  python3 - "$RAW1" "$RAW2" "$SSH" "$X509" <<'PY'
import sys
raw1, raw2, ssh, x509 = map(float, sys.argv[1:])
raw = (raw1 + raw2) / 2
print(f"raw Ed25519 signing (1 core, same run): {raw1:,.0f}/s before, {raw2:,.0f}/s after, mean {raw:,.0f}/s; "
      f"SSH issuance through the API / raw signing = {ssh / raw:.2f}; X.509 / raw SSH signing = {x509 / raw:.2f}")
PY
fi
