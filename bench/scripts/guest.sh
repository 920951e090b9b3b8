#!/usr/bin/env bash
# Guest credentials from an identity pool (issue #14 item 4), side by side
# in one run with AssumeRole:
#  - AssumeRole/s (alice's AKIA key; a role session row, audited);
#  - GetCredentialsForIdentity/s for a guest (unauthenticated POST; two
#    trust decisions — the audience-pin probe and the real one — a role
#    session row, its pool row, audited).
#   bench/scripts/guest.sh [SECONDS] [CONNECTIONS]
# The guest limiter is raised in the config (it is per source address and
# wrk is one source). Needs wrk, curl and python3 with botocore; the
# AssumeRole request is signed once by botocore and replayed by wrk, as
# sts.sh does.
set -euo pipefail
cd "$(dirname "$0")/../.."
SECS=${1:-10}
CONNS=${2:-32}
command -v wrk >/dev/null || { apt-get update -qq && apt-get install -y -qq wrk; }
python3 -c 'import botocore' 2>/dev/null || python3 -m pip install --quiet botocore
if [ -z "${WARD_CA_BIN:-}" ]; then cargo build --release -q -p ward-ca; WARD_CA_BIN=target/release/ward-ca; fi
DIR=$(mktemp -d /tmp/ward-bench-guest.XXXXXX)
PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
cat > "$DIR/ca.toml" <<TOML
data_dir = "$DIR/data"
listen = "127.0.0.1:$PORT"
[limits]
guest_requests_per_minute = 600000
guest_burst = 100000
guest_identities_per_source = 1000000
TOML
"$WARD_CA_BIN" init --config "$DIR/ca.toml" > "$DIR/banner"
WARD_LOG=warn "$WARD_CA_BIN" serve --config "$DIR/ca.toml" > /dev/null 2> "$DIR/log" &
PID=$!
trap 'kill $PID 2>/dev/null; wait $PID 2>/dev/null; rm -rf "$DIR"' EXIT
eval "$(grep '^ *export WARD_' "$DIR/banner")"
for _ in $(seq 100); do curl -sf --cacert "$WARD_CA_BUNDLE" "$WARD_ENDPOINT/healthz" >/dev/null && break; sleep 0.1; done
root=(--cacert "$WARD_CA_BUNDLE" --aws-sigv4 "aws:amz:local:ward" --user "$WARD_ACCESS_KEY_ID:$WARD_SECRET_ACCESS_KEY" -sf -H 'content-type: application/json')
j() { python3 -c 'import json,sys; v=json.loads(sys.argv[1]); [v:=v[k] for k in sys.argv[2:]]; print(v)' "$@"; }

curl "${root[@]}" -d '{"name":"alice"}' "$WARD_ENDPOINT/v1/users" >/dev/null
ACCT=$(j "$(curl "${root[@]}" "$WARD_ENDPOINT/v1/whoami")" account)
READ='{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":["iam:Get*","iam:List*"],"Resource":"*"}]}'
# reader: assumed by alice (AssumeRole); guest: by pool guests.
TRUST="{\"Version\":\"2012-10-17\",\"Statement\":[{\"Effect\":\"Allow\",\"Principal\":{\"AWS\":\"arn:ward:iam::$ACCT:user/alice\"},\"Action\":\"sts:AssumeRole\"}]}"
OPEN='{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"Federated":"identity.ward"},"Action":"sts:AssumeRoleWithWebIdentity"}]}'
for r in "reader:$TRUST" "guest:$OPEN"; do
  python3 -c 'import json,sys; n,t=sys.argv[1].split(":",1); print(json.dumps({"name": n, "assumeRolePolicyDocument": json.loads(t)}))' "$r" \
    | curl "${root[@]}" --data-binary @- "$WARD_ENDPOINT/v1/roles" >/dev/null
  python3 -c 'import json,sys; print(json.dumps({"document": sys.argv[1]}))' "$READ" \
    | curl "${root[@]}" -X PUT --data-binary @- "$WARD_ENDPOINT/v1/roles/${r%%:*}/policies/read" >/dev/null
done
POOL=$(j "$(python3 -c 'import json,sys; print(json.dumps({"identityPoolName": "bench", "allowUnauthenticatedIdentities": True, "unauthenticatedRoleArn": "arn:ward:iam::%s:role/guest" % sys.argv[1], "guestSessionPolicy": {"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"iam:GetUser","Resource":"*"}]}}))' "$ACCT" \
  | curl "${root[@]}" --data-binary @- "$WARD_ENDPOINT/v1/identity-pools")" identityPoolId)
PINNED="{\"Version\":\"2012-10-17\",\"Statement\":[{\"Effect\":\"Allow\",\"Principal\":{\"Federated\":\"identity.ward\"},\"Action\":\"sts:AssumeRoleWithWebIdentity\",\"Condition\":{\"StringEquals\":{\"identity:aud\":\"$POOL\",\"identity:amr\":\"unauthenticated\"}}}]}"
python3 -c 'import json,sys; print(json.dumps({"document": json.loads(sys.argv[1])}))' "$PINNED" \
  | curl "${root[@]}" -X PUT --data-binary @- "$WARD_ENDPOINT/v1/roles/guest/trust-policy" >/dev/null
IDENTITY=$(j "$(curl -sf --cacert "$WARD_CA_BUNDLE" -H 'content-type: application/json' -d "{\"identityPoolId\":\"$POOL\"}" "$WARD_ENDPOINT/v1/identity/guest/id")" identityId)
GUEST_BODY="{\"identityId\":\"$IDENTITY\"}"
# One guest issuance by hand: it must work before it is measured.
curl -sf --cacert "$WARD_CA_BUNDLE" -H 'content-type: application/json' -d "$GUEST_BODY" "$WARD_ENDPOINT/v1/identity/guest/credentials" >/dev/null
KEY=$(curl "${root[@]}" -X POST "$WARD_ENDPOINT/v1/users/alice/access-keys")
AK=$(j "$KEY" accessKeyId); SK=$(j "$KEY" secretAccessKey)
ASSUME_BODY='{"roleArn":"reader","roleSessionName":"bench","durationSeconds":3600}'

sign() {
python3 - "$@" <<'PY' > "$DIR/req.lua"
import json, sys
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials
method, url, ak, sk, body = sys.argv[1:6]
req = AWSRequest(method=method, url=url, data=body, headers={"content-type": "application/json"})
SigV4Auth(Credentials(ak, sk), "ward", "local").add_auth(req)
print(f"wrk.method = {json.dumps(method)}")
print(f"wrk.body = {json.dumps(body)}")
for k, v in req.prepare().headers.items():
    v = v if isinstance(v, str) else v.decode()
    print(f"wrk.headers[{json.dumps(k)}] = {json.dumps(v)}")
PY
}
unsigned() {
  printf 'wrk.method = "POST"\nwrk.body = %s\nwrk.headers["content-type"] = "application/json"\n' \
    "$(python3 -c 'import json,sys; print(json.dumps(sys.argv[1]))' "$1")" > "$DIR/req.lua"
}
run() {
  wrk -t2 -c"$CONNS" -d"${SECS}s" --latency -s "$DIR/req.lua" "$1" > "$DIR/wrk.txt"
  cat "$DIR/wrk.txt" >&2
  if grep -q -e 'Non-2xx or 3xx responses' -e 'Socket errors' "$DIR/wrk.txt"; then
    echo "bench: some responses were not 2xx; refusing to report throughput" >&2; exit 1
  fi
  awk '/^Requests\/sec/ {print $2}' "$DIR/wrk.txt"
}
echo "== AssumeRole (alice's AKIA key)" >&2
sign POST "$WARD_ENDPOINT/v1/sts/assume-role" "$AK" "$SK" "$ASSUME_BODY"; ASSUME=$(run "$WARD_ENDPOINT/v1/sts/assume-role")
echo "== GetCredentialsForIdentity, guest (no credentials)" >&2
unsigned "$GUEST_BODY"; GUEST=$(run "$WARD_ENDPOINT/v1/identity/guest/credentials")
curl -sf --cacert "$WARD_CA_BUNDLE" "$WARD_ENDPOINT/metrics" | grep 'class="5xx"' >&2
python3 - "$ASSUME" "$GUEST" "$CONNS" "$SECS" <<'PY'
import sys
a, g = (float(x) for x in sys.argv[1:3])
print(f"AssumeRole: {a:,.0f}/s; guest GetCredentialsForIdentity: {g:,.0f}/s "
      f"(guest/AssumeRole {g/a:.2f}; {sys.argv[3]} connections, {sys.argv[4]} s, "
      f"wrk -t2, SQLite, 2 cores shared with the client)")
PY
