#!/usr/bin/env bash
# Temporary credentials (issue #14), side by side in one run:
#  - AssumeRole/s (each one a new role session row, audited);
#  - authorized GetUser/s signed with the role session's ASIA key and
#    x-amz-security-token, vs the same GetUser signed with a long-term
#    AKIA key (target: equal within 10%).
#   bench/scripts/sts.sh [SECONDS] [CONNECTIONS]
# Needs wrk, curl and python3 with botocore; requests are signed once by
# botocore and replayed by wrk (SigV4 has no nonce), as api.sh does.
set -euo pipefail
cd "$(dirname "$0")/../.."
SECS=${1:-10}
CONNS=${2:-32}
command -v wrk >/dev/null || { apt-get update -qq && apt-get install -y -qq wrk; }
python3 -c 'import botocore' 2>/dev/null || python3 -m pip install --quiet botocore
if [ -z "${WARD_CA_BIN:-}" ]; then cargo build --release -q -p ward-ca; WARD_CA_BIN=target/release/ward-ca; fi
DIR=$(mktemp -d /tmp/ward-bench-sts.XXXXXX)
PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
WARD_LOG=warn "$WARD_CA_BIN" serve --dev --data-dir "$DIR/data" --listen "127.0.0.1:$PORT" > "$DIR/banner" 2> "$DIR/log" &
PID=$!
trap 'kill $PID 2>/dev/null; wait $PID 2>/dev/null; rm -rf "$DIR"' EXIT
for _ in $(seq 100); do grep -q WARD_SECRET_ACCESS_KEY "$DIR/banner" 2>/dev/null && break; sleep 0.1; done
eval "$(grep '^ *export WARD_' "$DIR/banner")"
for _ in $(seq 100); do curl -sf --cacert "$WARD_CA_BUNDLE" "$WARD_ENDPOINT/healthz" >/dev/null && break; sleep 0.1; done
root=(--cacert "$WARD_CA_BUNDLE" --aws-sigv4 "aws:amz:local:ward" --user "$WARD_ACCESS_KEY_ID:$WARD_SECRET_ACCESS_KEY" -sf -H 'content-type: application/json')

# alice may read users; role "reader" trusts alice and may read users too.
curl "${root[@]}" -d '{"name":"alice"}' "$WARD_ENDPOINT/v1/users" >/dev/null
ACCT=$(curl "${root[@]}" "$WARD_ENDPOINT/v1/whoami" | python3 -c 'import json,sys; print(json.load(sys.stdin)["account"])')
READ='{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":["iam:Get*","iam:List*"],"Resource":"*"}]}'
python3 -c 'import json,sys; print(json.dumps({"document": sys.argv[1]}))' "$READ" \
  | curl "${root[@]}" -X PUT --data-binary @- "$WARD_ENDPOINT/v1/users/alice/policies/read" >/dev/null
TRUST="{\"Version\":\"2012-10-17\",\"Statement\":[{\"Effect\":\"Allow\",\"Principal\":{\"AWS\":\"arn:ward:iam::$ACCT:user/alice\"},\"Action\":\"sts:AssumeRole\"}]}"
python3 -c 'import json,sys; print(json.dumps({"name": "reader", "assumeRolePolicyDocument": json.loads(sys.argv[1])}))' "$TRUST" \
  | curl "${root[@]}" --data-binary @- "$WARD_ENDPOINT/v1/roles" >/dev/null
python3 -c 'import json,sys; print(json.dumps({"document": sys.argv[1]}))' "$READ" \
  | curl "${root[@]}" -X PUT --data-binary @- "$WARD_ENDPOINT/v1/roles/reader/policies/read" >/dev/null
KEY=$(curl "${root[@]}" -X POST "$WARD_ENDPOINT/v1/users/alice/access-keys")
AK=$(python3 -c 'import json,sys; print(json.loads(sys.argv[1])["accessKeyId"])' "$KEY")
SK=$(python3 -c 'import json,sys; print(json.loads(sys.argv[1])["secretAccessKey"])' "$KEY")
ASSUME_BODY='{"roleArn":"reader","roleSessionName":"bench","durationSeconds":3600}'
SESSION=$(curl --cacert "$WARD_CA_BUNDLE" --aws-sigv4 "aws:amz:local:ward" --user "$AK:$SK" -sf \
  -H 'content-type: application/json' -d "$ASSUME_BODY" "$WARD_ENDPOINT/v1/sts/assume-role")
TAK=$(python3 -c 'import json,sys; print(json.loads(sys.argv[1])["credentials"]["accessKeyId"])' "$SESSION")
TSK=$(python3 -c 'import json,sys; print(json.loads(sys.argv[1])["credentials"]["secretAccessKey"])' "$SESSION")
TTK=$(python3 -c 'import json,sys; print(json.loads(sys.argv[1])["credentials"]["sessionToken"])' "$SESSION")

# sign METHOD URL AK SK [TOKEN] [BODY]: a wrk Lua script replaying the
# botocore-signed request.
sign() {
python3 - "$@" <<'PY' > "$DIR/req.lua"
import json, sys
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials
method, url, ak, sk = sys.argv[1:5]
token = sys.argv[5] if len(sys.argv) > 5 and sys.argv[5] else None
body = sys.argv[6] if len(sys.argv) > 6 else None
req = AWSRequest(method=method, url=url, data=body, headers={"content-type": "application/json"} if body else {})
SigV4Auth(Credentials(ak, sk, token), "ward", "local").add_auth(req)
print(f"wrk.method = {json.dumps(method)}")
if body:
    print(f"wrk.body = {json.dumps(body)}")
for k, v in req.prepare().headers.items():
    v = v if isinstance(v, str) else v.decode()
    print(f"wrk.headers[{json.dumps(k)}] = {json.dumps(v)}")
PY
}

# run URL: wrk for SECS seconds with the current script; requests/s.
run() {
  wrk -t2 -c"$CONNS" -d"${SECS}s" --latency -s "$DIR/req.lua" "$1" > "$DIR/wrk.txt"
  cat "$DIR/wrk.txt" >&2
  if grep -q -e 'Non-2xx or 3xx responses' -e 'Socket errors' "$DIR/wrk.txt"; then
    echo "bench: some responses were not 2xx; refusing to report throughput" >&2; exit 1
  fi
  awk '/^Requests\/sec/ {print $2}' "$DIR/wrk.txt"
}
U="$WARD_ENDPOINT/v1/users/alice"
echo "== GetUser, long-term AKIA key" >&2
sign GET "$U" "$AK" "$SK"; LONG=$(run "$U")
echo "== GetUser, role session (ASIA + x-amz-security-token)" >&2
sign GET "$U" "$TAK" "$TSK" "$TTK"; TEMP=$(run "$U")
echo "== AssumeRole (alice's AKIA key)" >&2
sign POST "$WARD_ENDPOINT/v1/sts/assume-role" "$AK" "$SK" "" "$ASSUME_BODY"; ASSUME=$(run "$WARD_ENDPOINT/v1/sts/assume-role")
curl -sf --cacert "$WARD_CA_BUNDLE" "$WARD_ENDPOINT/metrics" | grep 'class="5xx"' >&2
python3 - "$LONG" "$TEMP" "$ASSUME" "$CONNS" "$SECS" <<'PY'
import sys
l, t, a = (float(x) for x in sys.argv[1:4])
print(f"GetUser long-term key: {l:,.0f} req/s; role session: {t:,.0f} req/s "
      f"(temporary/long-term {t/l:.2f}); AssumeRole: {a:,.0f}/s "
      f"({sys.argv[4]} connections, {sys.argv[5]} s, wrk -t2, 2 cores shared with the client)")
PY
