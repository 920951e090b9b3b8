#!/usr/bin/env bash
# Issue #12 PAM benchmark, every component real, every figure side by side
# with pam_unix measured in the same run:
#   1. `pamtester SERVICE USER acct_mgmt`, one process each, interleaved:
#      pam_ward (alice, host:Login decided by the agent) vs pam_unix (a
#      local user with a yescrypt hash); ratio of means;
#   2. `pamtester SERVICE USER authenticate` (password on stdin): pam_ward
#      online (the agent asks ward-ca), pam_ward offline (ward-ca stopped;
#      the agent's own Argon2id verifier), pam_unix (yescrypt);
#   3. sustained account checks/s from CLIENTS concurrent processes, each a
#      PAM application (python ctypes → libpam) looping pam_start /
#      pam_acct_mgmt / pam_end for SECONDS: pam_ward vs pam_unix.
#
# Runs as root inside `unshare --mount`: a tmpfs over /run (the agent at
# /run/ward/agent.sock), a copy of /etc bind-mounted over the machine's
# (the service files /etc/pam.d/ward-bench-* and the local user exist only
# there; the user is deleted again at the end). Nothing outside changes.
#
#   bench/scripts/pam.sh [RUNS] [AUTH_RUNS] [CLIENTS] [SECONDS]
#   defaults:            300    50          8         5
set -euo pipefail
cd "$(dirname "$0")/../.."
RUNS=${1:-300}
AUTH_RUNS=${2:-50}
CLIENTS=${3:-8}
SECONDS_PER_KIND=${4:-5}

if [ -z "${WARD_PAM_BENCH_INNER:-}" ]; then
  [ "$(id -u)" = 0 ] || { echo "pam.sh: needs root (mount namespace, /etc/pam.d)" >&2; exit 1; }
  command -v pamtester >/dev/null || { echo "pam.sh: needs pamtester" >&2; exit 1; }
  cargo build --release -q -p ward-ca -p ward-cli -p ward-agent -p pam_ward
  echo "machine: $(nproc) cores; load at start: $(cut -d' ' -f1-3 /proc/loadavg)"
  WARD_PAM_BENCH_INNER=1 unshare --mount --propagation private -- "$0" "$@"
  echo "load at end: $(cut -d' ' -f1-3 /proc/loadavg)"
  exit 0
fi

REL=$(realpath "${CARGO_TARGET_DIR:-target}/release")
DIR=$(mktemp -d /tmp/ward-bench-pam.XXXXXX)
PIDS=()
cleanup() {
  userdel benchlocal 2>/dev/null || true
  for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; wait "$p" 2>/dev/null || true; done
  rm -rf "$DIR"
}
trap cleanup EXIT
mount -t tmpfs -o mode=0755 tmpfs /run
mkdir -p /run/ward "$DIR"/{home,state,ssh}
cp -a /etc "$DIR/etc"
mount --bind "$DIR/etc" /etc
export HOME=$DIR/home
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

# A local user with a yescrypt hash (pam_unix's side).
useradd -M -d /nonexistent -s /usr/sbin/nologin benchlocal
echo 'benchlocal:local-Passw0rd-1' | chpasswd -c YESCRYPT
grep -q '^benchlocal:\$y\$' /etc/shadow || { echo "pam.sh: benchlocal has no yescrypt hash"; exit 1; }

# ---------------------------------------------------------------- ward-ca
CA_PORT=$(free_port)
WARD_LOG=warn "$REL/ward-ca" serve --dev --data-dir "$DIR/data" --listen "127.0.0.1:$CA_PORT" > "$DIR/banner" 2> "$DIR/ca.log" &
CA_PID=$!
PIDS+=("$CA_PID")
for _ in $(seq 100); do grep -q WARD_SECRET_ACCESS_KEY "$DIR/banner" 2>/dev/null && break; sleep 0.1; done
eval "$(grep '^ *export WARD_' "$DIR/banner")"
for _ in $(seq 100); do curl -sf --cacert "$WARD_CA_BUNDLE" "$WARD_ENDPOINT/healthz" >/dev/null && break; sleep 0.1; done
W="$REL/ward"
cat > "$DIR/login.json" <<'EOF'
{"Version":"2012-10-17","Statement":[
 {"Effect":"Allow","Action":"host:Login","Resource":"arn:ward:host::*:host/*",
  "Condition":{"StringLike":{"host:Principal":"${ward:username}"}}}]}
EOF
"$W" group create ops >/dev/null
"$W" policy create login --document "$DIR/login.json" >/dev/null
"$W" policy attach login --group ops >/dev/null
"$W" user create alice >/dev/null
"$W" group add-user ops alice >/dev/null
echo 'Tangerine-Orbit-Lantern-73' | "$W" user set-password alice --password-stdin >/dev/null
TOKEN=$("$W" --output json host join-token web-01 --tag env=test | python3 -c 'import json,sys; print(json.load(sys.stdin)["token"])')

# ---------------------------------------------------------------- ward-agent
cat > "$DIR/agent.toml" <<EOF
state_dir = "$DIR/state"
socket = "/run/ward/agent.sock"
poll_wait_seconds = 30
trusted_user_ca_keys_file = "$DIR/ssh/ward_user_ca.pub"
revoked_keys_file = "$DIR/ssh/ward_revoked.krl"
ssh_host_key = "$DIR/ssh/ssh_host_ed25519_key"
passwd_file = "/etc/passwd"
group_file = "/etc/group"
audit_spool_max_bytes = 805306368
EOF
AGENT=("$REL/ward-agent" --config "$DIR/agent.toml")
echo "$TOKEN" | "${AGENT[@]}" join "$WARD_ENDPOINT" - --ca-bundle "$WARD_CA_BUNDLE" > "$DIR/join.log" 2>&1
"${AGENT[@]}" run > /dev/null 2>> "$DIR/agent.log" &
PIDS+=($!)
for _ in $(seq 300); do "${AGENT[@]}" status 2>/dev/null | grep -q 'sync: *online' && break; sleep 0.1; done
"${AGENT[@]}" status | grep -q 'sync: *online' || { echo "the agent never came online"; cat "$DIR/agent.log"; exit 1; }

# ---------------------------------------------------------------- stacks
cat > /etc/pam.d/ward-bench-ward <<EOF
auth     [success=done new_authtok_reqd=done user_unknown=ignore ignore=ignore default=die] $REL/libpam_ward.so
auth     required pam_unix.so try_first_pass
account  [success=1 new_authtok_reqd=done user_unknown=ignore ignore=ignore default=die] $REL/libpam_ward.so
account  required pam_unix.so
account  required pam_permit.so
EOF
cat > /etc/pam.d/ward-bench-unix <<EOF
auth     required pam_unix.so
account  required pam_unix.so
EOF
export RUNS AUTH_RUNS CLIENTS SECONDS_PER_KIND DIR
# Sanity: each case does what it claims before it is timed.
pamtester ward-bench-ward alice acct_mgmt >/dev/null
pamtester ward-bench-unix benchlocal acct_mgmt >/dev/null
if pamtester ward-bench-ward nobody-here acct_mgmt >/dev/null 2>&1; then echo "an unknown user passed acct_mgmt"; exit 1; fi

if [ "${PAM_BENCH_STRACE:-0}" = 1 ]; then
  # Where an acct_mgmt's time goes: the agent's syscalls (strace -f -T)
  # over 100 checks, and pamtester's wait for the answer (its read of the
  # agent's reply, from the request written to the answer read). strace
  # slows what it traces: the shares matter, not the absolute figures.
  echo "== 0. where the time goes (strace; not the timed runs below)"
  AGENT_PID=${PIDS[-1]}
  strace -f -T -qq -o "$DIR/strace.agent" -p "$AGENT_PID" \
    -e trace=accept4,read,write,fdatasync,fsync,clone3,setsockopt,getsockopt,recvfrom,sendto &
  ST=$!
  sleep 1
  for _ in $(seq 100); do pamtester ward-bench-ward alice acct_mgmt >/dev/null; done
  strace -f -T -qq -o "$DIR/strace.pam" -e trace=connect,write,read pamtester ward-bench-ward alice acct_mgmt >/dev/null
  sleep 0.5
  kill "$ST"; wait "$ST" 2>/dev/null || true
  python3 - "$DIR/strace.agent" "$DIR/strace.pam" <<'PY2'
import collections, re, sys
tot, cnt = collections.Counter(), collections.Counter()
for line in open(sys.argv[1]):
    m = re.match(r"\d+\s+(\w+)\(.*<([\d.]+)>$", line.strip())
    if m:
        tot[m.group(1)] += float(m.group(2)); cnt[m.group(1)] += 1
print("agent syscalls over 100 acct_mgmt (strace -f -T): name, calls, total ms, ms per check")
for k, v in tot.most_common():
    print("  %-12s %6d %9.2f %7.3f" % (k, cnt[k], v * 1e3, v * 10))
for line in open(sys.argv[2]):
    if "read(" in line and '"\\0\\0' in line:
        m = re.search(r"<([\d.]+)>$", line.strip())
        if m:
            print("pamtester: waiting for the agent's answer: %.3f ms" % (float(m.group(1)) * 1e3))
        break
PY2
  echo
fi

echo "== 1. pamtester acct_mgmt, one process each, $RUNS runs each, interleaved"
python3 - <<'PY'
import os, statistics, subprocess, time
n = int(os.environ["RUNS"])
cases = [("pam_ward: alice, host:Login by the agent", ["ward-bench-ward", "alice"]),
         ("pam_unix: benchlocal (files + shadow)", ["ward-bench-unix", "benchlocal"])]
t = {c: [] for c, _ in cases}
for _ in range(n):
    for c, a in cases:
        s = time.perf_counter()
        subprocess.run(["pamtester"] + a + ["acct_mgmt"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=True)
        t[c].append((time.perf_counter() - s) * 1e3)
base = statistics.mean(t[cases[1][0]])
print("| acct_mgmt | mean | median | p99 | mean / pam_unix |")
print("|---|---:|---:|---:|---:|")
for c, _ in cases:
    v = sorted(t[c])
    print("| %s | %.2f ms | %.2f ms | %.2f ms | %.2f× |" % (c, statistics.mean(v), statistics.median(v), v[int(0.99 * (len(v) - 1))], statistics.mean(v) / base))
PY

echo
echo "== 3. sustained account checks/s: $CLIENTS concurrent PAM applications (ctypes → libpam), $SECONDS_PER_KIND s each"
python3 - <<'PY'
import ctypes, multiprocessing, os, time
CLIENTS, SECS = int(os.environ["CLIENTS"]), float(os.environ["SECONDS_PER_KIND"])
class Conv(ctypes.Structure):
    _fields_ = [("conv", ctypes.c_void_p), ("appdata_ptr", ctypes.c_void_p)]
CONV = ctypes.CFUNCTYPE(ctypes.c_int, ctypes.c_int, ctypes.c_void_p, ctypes.c_void_p, ctypes.c_void_p)
def worker(args):
    svc, user, secs = args
    pam = ctypes.CDLL("libpam.so.0")
    noconv = CONV(lambda n, m, r, a: 19)  # no prompts expected in acct_mgmt
    conv = Conv(ctypes.cast(noconv, ctypes.c_void_p), None)
    n, bad = 0, 0
    end = time.perf_counter() + secs
    while time.perf_counter() < end:
        h = ctypes.c_void_p()
        assert pam.pam_start(svc.encode(), user.encode(), ctypes.byref(conv), ctypes.byref(h)) == 0
        rc = pam.pam_acct_mgmt(h, 0)
        pam.pam_end(h, rc)
        n += 1
        bad += rc != 0
    return n, bad
for label, svc, user in (("pam_ward (alice)", "ward-bench-ward", "alice"), ("pam_unix (benchlocal)", "ward-bench-unix", "benchlocal")):
    with multiprocessing.Pool(CLIENTS) as p:
        t0 = time.perf_counter()
        res = p.map(worker, [(svc, user, SECS)] * CLIENTS)
        dt = time.perf_counter() - t0
    total, bad = sum(r[0] for r in res), sum(r[1] for r in res)
    print("%s: %d checks in %.1f s = %.0f /s (%d not PAM_SUCCESS)" % (label, total, dt, total / dt, bad))
PY

if [ "${PAM_BENCH_AUTH:-1}" = 0 ]; then echo; echo "(authenticate skipped: PAM_BENCH_AUTH=0)"; exit 0; fi

auth_bench() {
python3 - "$@" <<'PY'
import os, statistics, subprocess, sys, time
n = int(os.environ["AUTH_RUNS"])
cases = []
for spec in sys.argv[1:]:
    label, svc, user, pw = spec.split("|")
    cases.append((label, svc, user, pw))
def run(svc, user, pw):
    return subprocess.run(["pamtester", svc, user, "authenticate"], input=(pw + "\n").encode(),
                          stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
for label, svc, user, pw in cases:
    out = run(svc, user, pw)
    assert out.returncode == 0, (label, out.stderr)
t = {c[0]: [] for c in cases}
for _ in range(n):
    for label, svc, user, pw in cases:
        s = time.perf_counter()
        out = run(svc, user, pw)
        t[label].append((time.perf_counter() - s) * 1e3)
        assert out.returncode == 0, (label, out.stderr)
base = statistics.mean(t[cases[-1][0]])
print("| authenticate | mean | median | p99 | mean / pam_unix |")
print("|---|---:|---:|---:|---:|")
for label, *_ in cases:
    v = sorted(t[label])
    print("| %s | %.1f ms | %.1f ms | %.1f ms | %.2f× |" % (label, statistics.mean(v), statistics.median(v), v[int(0.99 * (len(v) - 1))], statistics.mean(v) / base))
PY
}
echo
echo "== 2a. pamtester authenticate, ward-ca up, $AUTH_RUNS runs each, interleaved"
auth_bench "pam_ward online: alice (agent → ward-ca verify)|ward-bench-ward|alice|Tangerine-Orbit-Lantern-73" \
           "pam_unix: benchlocal, yescrypt|ward-bench-unix|benchlocal|local-Passw0rd-1"

echo
echo "== 2b. pamtester authenticate, ward-ca stopped (offline verifier), $AUTH_RUNS runs each, interleaved"
kill "$CA_PID"; wait "$CA_PID" 2>/dev/null || true
for _ in $(seq 600); do "${AGENT[@]}" status 2>/dev/null | grep -q 'sync: *offline' && break; sleep 0.1; done
"${AGENT[@]}" status | grep 'sync:'
auth_bench "pam_ward offline: alice (agent's Argon2id verifier)|ward-bench-ward|alice|Tangerine-Orbit-Lantern-73" \
           "pam_unix: benchlocal, yescrypt|ward-bench-unix|benchlocal|local-Passw0rd-1"

