#!/usr/bin/env bash
# Host snapshot size and build time at 10,000 users / 1,000 groups (issue
# #11): a dev ward-ca, one host enrolled through the real join route
# (openssl CSR, ssh-keygen host key), then the IAM tables filled directly in
# SQLite (the API would take minutes to create them one mutation at a time):
# every user with 2 tags, 1 SSH key, 3 group memberships, half with a login
# profile; every group with 1 inline policy and 1 of 50 managed policies.
# Reports the snapshot's JSON size (raw and gzip -6) and the time of
# `GET /v1/host/snapshot` over mTLS (build in one read transaction,
# serialise, send on loopback), median and max of RUNS.
#
# Then, with HOSTS hosts enrolled (default 20): the cost of every host
# fetching after one change (one user added to a group; all at once, gzip,
# If-None-Match), and of one host fetching 10 times back to back without
# If-None-Match — as ward-ca's CPU time (utime+stime from /proc) and wall
# time — and the bytes one change costs a host: the full snapshot vs a
# delta (Accept: application/vnd.ward.snapshot-delta+json), raw and gzip.
# With WARD_CA_BIN_BEFORE set (an older ward-ca), everything runs against
# it too, in the same run, and both are printed side by side.
#   bench/scripts/host_snapshot.sh [USERS] [GROUPS] [RUNS]
set -euo pipefail
cd "$(dirname "$0")/../.."
USERS=${1:-10000}
NGROUPS=${2:-1000}
RUNS=${3:-7}
HOSTS=${HOSTS:-20}
if [ -z "${WARD_CA_BIN:-}" ]; then cargo build --release -q -p ward-ca; WARD_CA_BIN=${CARGO_TARGET_DIR:-target}/release/ward-ca; fi
DIRS=()
PIDS=()
RESULTS=$(mktemp /tmp/ward-bench-snapshot-results.XXXXXX)
cleanup() { for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done; rm -rf "${DIRS[@]}" "$RESULTS"; }
trap cleanup EXIT

bench() { # LABEL BIN
LABEL=$1
BIN=$2
echo "== $LABEL: $BIN"
DIR=$(mktemp -d /tmp/ward-bench-snapshot.XXXXXX)
DIRS+=("$DIR")
PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
WARD_LOG=warn "$BIN" serve --dev --data-dir "$DIR/data" --listen "127.0.0.1:$PORT" > "$DIR/banner" 2> "$DIR/log" &
PID=$!
PIDS+=("$PID")
for _ in $(seq 100); do grep -q WARD_SECRET_ACCESS_KEY "$DIR/banner" 2>/dev/null && break; sleep 0.1; done
eval "$(grep '^ *export WARD_' "$DIR/banner")"
for _ in $(seq 100); do curl -sf --cacert "$WARD_CA_BUNDLE" "$WARD_ENDPOINT/healthz" >/dev/null && break; sleep 0.1; done
root=(--cacert "$WARD_CA_BUNDLE" --aws-sigv4 "aws:amz:local:ward" --user "$WARD_ACCESS_KEY_ID:$WARD_SECRET_ACCESS_KEY" -sf -H 'content-type: application/json')

# Enrol hosts as the agent would.
enrol() { # NAME -> $DIR/NAME/{tls.key,tls.pem}
  local h=$DIR/$1; mkdir -p "$h"
  local token
  token=$(curl "${root[@]}" -d '{}' "$WARD_ENDPOINT/v1/hosts/$1/join-tokens" | python3 -c 'import json,sys; print(json.load(sys.stdin)["token"])')
  openssl genpkey -algorithm ed25519 -out "$h/tls.key" 2>/dev/null
  openssl req -new -key "$h/tls.key" -subj "/CN=$1" -out "$h/tls.csr" 2>/dev/null
  ssh-keygen -q -t ed25519 -N '' -f "$h/host"
  python3 - "$token" "$h" <<'PY' > "$h/join.json"
import json, sys
d = sys.argv[2]
print(json.dumps({"token": sys.argv[1], "csrPem": open(d + "/tls.csr").read(),
                  "sshHostPublicKey": open(d + "/host.pub").read().strip()}))
PY
  curl -sf --cacert "$WARD_CA_BUNDLE" -H 'content-type: application/json' --data-binary @"$h/join.json" \
    "$WARD_ENDPOINT/v1/host/join" | python3 -c 'import json,sys; print(json.load(sys.stdin)["certificatePem"], end="")' > "$h/tls.pem"
}
for i in $(seq 0 "$HOSTS"); do enrol "bench-$(printf %02d "$i")"; done
cp "$DIR/bench-00/tls.key" "$DIR/tls.key"; cp "$DIR/bench-00/tls.pem" "$DIR/tls.pem"

# Fill the IAM tables.
python3 - "$DIR/data/ward.db" "$USERS" "$NGROUPS" <<'PY'
import base64, json, os, sqlite3, sys, time
db, nu, ng = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
c = sqlite3.connect(db, timeout=30)
now = int(time.time())
def uid(prefix, i): return "%s%017d" % (prefix, i)
pol = '{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"host:Login","Resource":"arn:ward:host::*:host/*","Condition":{"StringEquals":{"ward:ResourceTag/env":"prod"}}}]}'
for p in range(50):
    pid = uid("ANPA", p)
    c.execute("INSERT INTO policies (id,name,name_lc,path,description,default_version,next_version,created_at,updated_at) VALUES (?,?,?,?,?,1,2,?,?)",
              (pid, "login-%d" % p, "login-%d" % p, "/", "", now, now))
    c.execute("INSERT INTO policy_versions (policy_id,version,document,created_at) VALUES (?,1,?,?)", (pid, pol, now))
for g in range(ng):
    gid = uid("AGPA", g)
    c.execute("INSERT INTO iam_groups (id,name,name_lc,path,gid,created_at) VALUES (?,?,?,?,?,?)",
              (gid, "team-%d" % g, "team-%d" % g, "/", 900000 + g, now))
    c.execute("INSERT INTO attachments (policy_id,principal_type,principal_id) VALUES (?,?,?)", (uid("ANPA", g % 50), "group", gid))
    c.execute("INSERT INTO inline_policies (principal_type,principal_id,name,name_lc,document) VALUES ('group',?,'sudo','sudo',?)",
              (gid, pol.replace("host:Login", "host:Sudo")))
for u in range(nu):
    i = uid("AIDA", u)
    name = "user%05d" % u
    c.execute("INSERT INTO users (id,name,name_lc,path,uid,gid,created_at,gecos) VALUES (?,?,?,?,?,?,?,?)",
              (i, name, name, "/staff/", 300000 + u, 300000 + u, now, "User %d" % u))
    for k, v in (("team", "t%d" % (u % 97)), ("env", "prod")):
        c.execute("INSERT INTO user_tags (user_id,tag_key,key_lc,tag_value) VALUES (?,?,?,?)", (i, k, k, v))
    blob = base64.b64encode(b"\x00\x00\x00\x0bssh-ed25519\x00\x00\x00\x20" + os.urandom(32)).decode()
    c.execute("INSERT INTO ssh_keys (id,user_id,public_key,fingerprint,status,uploaded_at) VALUES (?,?,?,?,?,?)",
              (uid("APKA", u), i, "ssh-ed25519 %s %s@laptop" % (blob, name), "SHA256:%d" % u, "Active", now))
    for g in (u % ng, (u * 7 + 1) % ng, (u * 13 + 2) % ng):
        c.execute("INSERT OR IGNORE INTO group_members (group_id,user_id) VALUES (?,?)", (uid("AGPA", g), i))
    if u % 2 == 0:
        c.execute("INSERT INTO login_profiles (user_id,password_hash,reset_required,created_at,updated_at) VALUES (?,?,0,?,?)",
                  (i, "$argon2id$v=19$m=19456,t=2,p=1$c2FsdHNhbHQ$aGFzaGhhc2hoYXNoaGFzaA", now, now))
c.execute("UPDATE audit_head SET iam_seq = iam_seq + 1 WHERE id = 1")
c.commit()
PY

mt=(--cacert "$WARD_CA_BUNDLE" --cert "$DIR/tls.pem" --key "$DIR/tls.key" -sf)
TIMES=()
for _ in $(seq "$RUNS"); do
  TIMES+=("$(curl "${mt[@]}" -o "$DIR/snap.json" -w '%{time_total}' "$WARD_ENDPOINT/v1/host/snapshot")")
done
if grep -q 'argon2' "$DIR/snap.json"; then echo "bench: a password hash is in the snapshot" >&2; exit 1; fi
ETAG=$(curl "${mt[@]}" -D - -o /dev/null "$WARD_ENDPOINT/v1/host/snapshot" | awk -F': ' 'tolower($1)=="etag" {print $2}' | tr -d '\r')
NM=$(curl "${mt[@]}" -H "if-none-match: $ETAG" -o /dev/null -w '%{http_code} %{size_download}' "$WARD_ENDPOINT/v1/host/snapshot" || true)
python3 - "$DIR/snap.json" "$USERS" "$NGROUPS" "$NM" "${TIMES[@]}" <<'PY'
import gzip, json, statistics, sys
raw = open(sys.argv[1], "rb").read()
s = json.loads(raw)
times = sorted(float(t) for t in sys.argv[5:])
print("users=%s groups=%s (snapshot: %d users, %d groups, %d policies)" % (sys.argv[2], sys.argv[3], len(s["users"]), len(s["groups"]), len(s["policies"])))
print("snapshot JSON: %d bytes (%.1f MiB); gzip -6: %d bytes" % (len(raw), len(raw) / 2**20, len(gzip.compress(raw, 6))))
print("GET /v1/host/snapshot (build + serialise + loopback TLS): median %.0f ms, max %.0f ms over %d runs" % (statistics.median(times) * 1000, times[-1] * 1000, len(times)))
print("unchanged (If-None-Match): %s bytes" % sys.argv[4])
PY

TCK=$(getconf CLK_TCK)
cpu_ms() { awk -v t="$TCK" '{print int(($14 + $15) * 1000 / t)}' "/proc/$PID/stat"; }
now_ms() { date +%s%3N; }
etag_of() { curl --cacert "$WARD_CA_BUNDLE" --cert "$DIR/$1/tls.pem" --key "$DIR/$1/tls.key" -sf -D - -o /dev/null "$WARD_ENDPOINT/v1/host/snapshot" | awk -F': ' 'tolower($1)=="etag" {print $2}' | tr -d '\r'; }
CHANGE=0
change() { # one user added to a group it is not in
  CHANGE=$((CHANGE + 1))
  curl "${root[@]}" -X PUT -o /dev/null "$WARD_ENDPOINT/v1/groups/team-$(( (CHANGE * 37 + 500) % NGROUPS ))/users/user0000$((CHANGE % 10))"
}

# Every host holds the current generation; one change; all fetch at once.
ETAG=$(etag_of bench-01)
change
c0=$(cpu_ms); t0=$(now_ms)
CURLS=()
for i in $(seq 1 "$HOSTS"); do
  h=$DIR/bench-$(printf %02d "$i")
  curl --cacert "$WARD_CA_BUNDLE" --cert "$h/tls.pem" --key "$h/tls.key" -sf -H "if-none-match: $ETAG" \
    -H 'accept-encoding: gzip' -o /dev/null "$WARD_ENDPOINT/v1/host/snapshot" &
  CURLS+=("$!")
done
for c in "${CURLS[@]}"; do wait "$c" || echo "bench: a host's fetch failed" >&2; done
t1=$(now_ms); c1=$(cpu_ms)
FAN="$((c1 - c0)) $((t1 - t0))"

# One host, 10 fetches back to back without If-None-Match (gzip).
c0=$(cpu_ms); t0=$(now_ms)
for _ in $(seq 10); do
  curl "${mt[@]}" -H 'accept-encoding: gzip' -o /dev/null "$WARD_ENDPOINT/v1/host/snapshot"
done
t1=$(now_ms); c1=$(cpu_ms)
B2B="$((c1 - c0)) $((t1 - t0))"

# Bytes one change costs a host: full vs delta, raw and gzip.
bytes() { # ETAG ACCEPT ENCODING -> "bytes content-type"
  curl "${mt[@]}" -H "if-none-match: $1" -H "accept: $2" -H "accept-encoding: $3" -o /dev/null \
    -w '%{size_download} %{content_type}' "$WARD_ENDPOINT/v1/host/snapshot"
}
DA='application/json, application/vnd.ward.snapshot-delta+json'
E=$(etag_of bench-00); change; FULL_RAW=$(bytes "$E" application/json identity)
E=$(etag_of bench-00); change; FULL_GZ=$(bytes "$E" application/json gzip)
E=$(etag_of bench-00); change; DELTA_RAW=$(bytes "$E" "$DA" identity)
E=$(etag_of bench-00); change; DELTA_GZ=$(bytes "$E" "$DA" gzip)
echo "$LABEL|$FAN|$B2B|$FULL_RAW|$FULL_GZ|$DELTA_RAW|$DELTA_GZ" >> "$RESULTS"
kill "$PID"; wait "$PID" 2>/dev/null || true
}

if [ -n "${WARD_CA_BIN_BEFORE:-}" ]; then bench before "$WARD_CA_BIN_BEFORE"; fi
bench after "$WARD_CA_BIN"
python3 - "$RESULTS" "$HOSTS" <<'PY'
import sys
rows = [l.rstrip("\n").split("|") for l in open(sys.argv[1])]
hosts = sys.argv[2]
print()
print("| ward-ca | %s hosts fetch after one change: CPU / wall | 1 host x10 without If-None-Match: CPU / wall | full raw | full gzip | delta raw | delta gzip |" % hosts)
print("|---|---|---|---|---|---|---|")
for label, fan, b2b, fr, fg, dr, dg in rows:
    f = fan.split(); b = b2b.split()
    cell = lambda x: "%s B (%s)" % (x.split()[0], "delta" if "delta" in x else "full")
    print("| %s | %s ms / %s ms | %s ms / %s ms | %s | %s | %s | %s |" % (label, f[0], f[1], b[0], b[1], cell(fr), cell(fg), cell(dr), cell(dg)))
PY
