#!/usr/bin/env bash
# Issue #11 host-side benchmark, every component real and every figure side
# by side with a baseline measured in the same run:
#   1. `getent passwd alice` through libnss_ward vs `getent passwd root` and
#      `getent passwd deploy` (first and last line of the files database),
#      one process each, interleaved;
#   2. agent socket latency (p50/p99, one request per connection) and
#      sustained requests/s from CLIENTS concurrent clients: `status` and an
#      NSS lookup (no decision) vs `authorize` and `ssh_principals` (a
#      decision, durably audited in the agent's spool) — bench/src/bin/
#      agent_load.rs; then again with the agent's state on tmpfs, to show
#      what the audit fsync costs (that run is not durable; measurement only);
#   3. `ssh deploy@127.0.0.1 true` with a plain authorized_keys key vs with a
#      ward certificate through `AuthorizedPrincipalsCommand` (the agent), to
#      the same sshd and the same local account, plus the certificate into
#      alice's own NSS-served account; interleaved; controls on the same
#      sshd: the certificate with a static AuthorizedPrincipalsFile, and with
#      `AuthorizedPrincipalsCommand /bin/echo alice` (what any command costs);
#   4. `ward group remove-user ops alice` / `add-user` → the agent's snapshot
#      generation changes (socket `status` polled every 10 ms), p50/p99;
#   5. snapshot size / sync bytes per change at 10,000 users and 1,000
#      groups (bench/scripts/host_snapshot.sh; skip with HOSTS_SNAPSHOT=0).
#
# Runs as root inside `unshare --mount`: a tmpfs over /run (the agent's
# socket at /run/ward/agent.sock, where libnss_ward looks), copies of
# /etc/passwd, /etc/group and /etc/nsswitch.conf bind-mounted over the
# machine's, libnss_ward.so.2 found through LD_LIBRARY_PATH. Nothing
# outside the namespace changes; everything lives in one temp dir.
#
#   bench/scripts/hosts.sh [GETENT_RUNS] [SSH_RUNS] [CHANGES] [AGENT_SAMPLES] [CLIENTS] [SECONDS]
#   defaults:               500           50         20        500             16        3
set -euo pipefail
cd "$(dirname "$0")/../.."
GETENT_RUNS=${1:-500}
SSH_RUNS=${2:-50}
CHANGES=${3:-20}
AGENT_SAMPLES=${4:-500}
CLIENTS=${5:-16}
SECONDS_PER_KIND=${6:-3}

if [ -z "${WARD_HOSTS_BENCH_INNER:-}" ]; then
  [ "$(id -u)" = 0 ] || { echo "hosts.sh: needs root (mount namespace, sshd)" >&2; exit 1; }
  command -v /usr/sbin/sshd >/dev/null || { echo "hosts.sh: needs /usr/sbin/sshd (openssh-server)" >&2; exit 1; }
  cargo build --release -q -p ward-ca -p ward-cli -p ward-agent -p nss_ward -p ward-bench --bin agent_load
  echo "machine: $(nproc) cores; load at start: $(cut -d' ' -f1-3 /proc/loadavg)"
  WARD_HOSTS_BENCH_INNER=1 unshare --mount --propagation private -- "$0" "$@"
  echo "load at end: $(cut -d' ' -f1-3 /proc/loadavg)"
  if [ "${HOSTS_SNAPSHOT:-1}" != 0 ]; then
    echo
    echo "== 5. snapshot size and sync bytes per change (10,000 users / 1,000 groups)"
    WARD_CA_BIN=${CARGO_TARGET_DIR:-target}/release/ward-ca bench/scripts/host_snapshot.sh 10000 1000 5
    echo "(no deltas: every change costs each host the whole snapshot above; an unchanged long-poll costs a 304)"
  fi
  exit 0
fi

# ---------------------------------------------------------------- namespace
REL=$(realpath "${CARGO_TARGET_DIR:-target}/release")
DIR=$(mktemp -d /tmp/ward-bench-hosts.XXXXXX)
PIDS=()
cleanup() {
  for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; wait "$p" 2>/dev/null || true; done
  rm -rf "$DIR"
}
trap cleanup EXIT
mount -t tmpfs -o mode=0755 tmpfs /run
mkdir -p /run/sshd /run/ward "$DIR"/{etc,lib,home,keys,state,ssh,ak}
# A copy of all of /etc (a bind mount on one file is bypassed when another
# process replaces that file by rename, e.g. useradd).
rmdir "$DIR/etc"; cp -a /etc "$DIR/etc"
printf 'deploy:*:1400:1400:local deploy:/:/bin/sh\ncertfile:*:1401:1401:local, static principals file:/:/bin/sh\ncertcmd:*:1402:1402:local, trivial principals command:/:/bin/sh\n' >> "$DIR/etc/passwd"
printf 'deploy:x:1400:\ncertfile:x:1401:\ncertcmd:x:1402:\n' >> "$DIR/etc/group"
printf 'passwd: files ward\ngroup: files ward\nshadow: files\nhosts: files\n' > "$DIR/etc/nsswitch.conf"
mount --bind "$DIR/etc" /etc
cp "$REL/libnss_ward.so" "$DIR/lib/libnss_ward.so.2"
export LD_LIBRARY_PATH=$DIR/lib
export HOME=$DIR/home
getent passwd deploy >/dev/null || { echo "hosts.sh: the bind-mounted passwd copy is not in effect"; tail -3 /etc/passwd; exit 1; }
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

# ---------------------------------------------------------------- ward-ca
CA_PORT=$(free_port)
WARD_LOG=warn "$REL/ward-ca" serve --dev --data-dir "$DIR/data" --listen "127.0.0.1:$CA_PORT" > "$DIR/banner" 2> "$DIR/ca.log" &
PIDS+=($!)
for _ in $(seq 100); do grep -q WARD_SECRET_ACCESS_KEY "$DIR/banner" 2>/dev/null && break; sleep 0.1; done
eval "$(grep '^ *export WARD_' "$DIR/banner")"
for _ in $(seq 100); do curl -sf --cacert "$WARD_CA_BUNDLE" "$WARD_ENDPOINT/healthz" >/dev/null && break; sleep 0.1; done
W="$REL/ward"
cat > "$DIR/login.json" <<'EOF'
{"Version":"2012-10-17","Statement":[
 {"Effect":"Allow","Action":"host:Login","Resource":"arn:ward:host::*:host/*",
  "Condition":{"StringEquals":{"ward:ResourceTag/env":"test"},
               "StringLike":{"host:Principal":["${ward:username}","deploy"]}}},
 {"Effect":"Allow","Action":"ca:IssueSshUserCertificate","Resource":"*"}]}
EOF
"$W" group create ops >/dev/null
"$W" policy create login --document "$DIR/login.json" >/dev/null
"$W" policy attach login --group ops >/dev/null
"$W" user create alice >/dev/null
"$W" group add-user ops alice >/dev/null
KEY=$("$W" --output json access-key create alice)
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
# Room for every event the throughput runs record (default 16 MiB), so that
# none is dropped (a dropped event skips the fsync and would flatter the rate).
audit_spool_max_bytes = 805306368
EOF
AGENT=("$REL/ward-agent" --config "$DIR/agent.toml")
echo "$TOKEN" | "${AGENT[@]}" join "$WARD_ENDPOINT" - --ca-bundle "$WARD_CA_BUNDLE" > "$DIR/join.log" 2>&1
start_agent() {
  "${AGENT[@]}" run > /dev/null 2>> "$DIR/agent.log" &
  AGENT_PID=$!
  PIDS+=("$AGENT_PID")
  for _ in $(seq 300); do "${AGENT[@]}" status 2>/dev/null | grep -q 'sync: *online' && return 0; sleep 0.1; done
  echo "the agent never came online"; cat "$DIR/agent.log"; exit 1
}
start_agent

# ---------------------------------------------------------------- keys, sshd
(
  export WARD_ACCESS_KEY_ID WARD_SECRET_ACCESS_KEY
  WARD_ACCESS_KEY_ID=$(python3 -c 'import json,sys; print(json.loads(sys.argv[1])["accessKeyId"])' "$KEY")
  WARD_SECRET_ACCESS_KEY=$(python3 -c 'import json,sys; print(json.loads(sys.argv[1])["secretAccessKey"])' "$KEY")
  "$W" ssh login --no-agent --out "$DIR/keys" > /dev/null
)
ssh-keygen -q -t ed25519 -N '' -f "$DIR/keys/plain"
cp "$DIR/keys/plain.pub" "$DIR/ak/deploy"
# sshd reads authorized_keys as the account (uid 1400).
chmod 755 "$DIR" "$DIR/ak"; chmod 644 "$DIR/ak/deploy"
SSHD_PORT=$(free_port)
cat > "$DIR/sshd_config" <<EOF
ListenAddress 127.0.0.1
HostKey $DIR/ssh/ssh_host_ed25519_key
HostCertificate $DIR/ssh/ssh_host_ed25519_key-cert.pub
TrustedUserCAKeys $DIR/ssh/ward_user_ca.pub
RevokedKeys $DIR/ssh/ward_revoked.krl
AuthorizedPrincipalsFile none
AuthorizedPrincipalsCommand $REL/ward-agent --config $DIR/agent.toml ssh-authorized-principals -- %u %i %s %k
AuthorizedPrincipalsCommandUser root
AuthorizedKeysFile $DIR/ak/%u
PidFile $DIR/sshd.pid
PubkeyAuthentication yes
PasswordAuthentication no
KbdInteractiveAuthentication no
UsePAM no
StrictModes no
PermitRootLogin prohibit-password
X11Forwarding no
PrintMotd no
PrintLastLog no
UseDNS no
MaxStartups 64:30:128
LogLevel INFO
# Control: the same certificate checked against a static principals file,
# without the agent (separates the certificate's cost from the command's).
Match User certfile
  AuthorizedPrincipalsCommand none
  AuthorizedPrincipalsFile $DIR/principals/%u
# Control: a trivial principals command (what running any command costs sshd).
Match User certcmd
  AuthorizedPrincipalsCommand /bin/echo alice
EOF
mkdir -p "$DIR/principals"; echo alice > "$DIR/principals/certfile"; chmod 755 "$DIR/principals"; chmod 644 "$DIR/principals/certfile"
/usr/sbin/sshd -D -E "$DIR/sshd.log" -f "$DIR/sshd_config" -p "$SSHD_PORT" < /dev/null &
PIDS+=($!)
for _ in $(seq 100); do grep -q "Server listening" "$DIR/sshd.log" 2>/dev/null && break; sleep 0.1; done

export DIR SSHD_PORT REL GETENT_RUNS SSH_RUNS CHANGES KEY_ID SERIAL CERT_B64
KEY_ID=$(ssh-keygen -Lf "$DIR/keys/ward-cert.pub" | awk '/Key ID/ {gsub(/"/, "", $3); print $3}')
SERIAL=$(ssh-keygen -Lf "$DIR/keys/ward-cert.pub" | awk '/Serial:/ {print $2}')
CERT_B64=$(awk '{print $2}' "$DIR/keys/ward-cert.pub")

echo "== 1. getent passwd: libnss_ward vs files (one process each, $GETENT_RUNS runs each, interleaved)"
python3 - <<'PY'
import os, statistics, subprocess, time
n = int(os.environ["GETENT_RUNS"])
cases = [("alice (files miss, then nss_ward over the socket)", "alice"),
         ("root (files, first line)", "root"),
         ("deploy (files, last line)", "deploy")]
t = {c: [] for c, _ in cases}
for c, name in cases:  # sanity and warm-up
    out = subprocess.run(["getent", "passwd", name], capture_output=True, text=True)
    assert out.returncode == 0 and out.stdout.startswith(name + ":"), (name, out)
for _ in range(n):
    for c, name in cases:
        s = time.perf_counter()
        subprocess.run(["getent", "passwd", name], stdout=subprocess.DEVNULL, check=True)
        t[c].append((time.perf_counter() - s) * 1e3)
base = statistics.mean(t[cases[1][0]])
print("| lookup | mean | median | p99 | mean / root |")
print("|---|---:|---:|---:|---:|")
for c, _ in cases:
    v = sorted(t[c])
    print("| %s | %.2f ms | %.2f ms | %.2f ms | %.2f× |" % (c, statistics.mean(v), statistics.median(v), v[int(0.99 * (len(v) - 1))], statistics.mean(v) / base))
PY

echo
echo "== 2. agent socket: decisions vs lookups"
"$REL/agent_load" /run/ward/agent.sock alice deploy "$KEY_ID" "$SERIAL" "$CERT_B64" "$AGENT_SAMPLES" "$CLIENTS" "$SECONDS_PER_KIND"
spool_report() {
  echo "audit spool after the run: $(grep -o '"auditBacklog":[0-9]*' <<<"$(python3 -c 'import json,socket,struct
s=socket.socket(socket.AF_UNIX); s.connect("/run/ward/agent.sock"); b=b"{\"v\":1,\"op\":\"status\"}"
s.sendall(struct.pack(">I",len(b))+b); import time; time.sleep(0.2); print(s.recv(65536)[4:].decode())')") waiting for delivery; state dir on $(findmnt -no FSTYPE -T "$1"); agent log lines about a full spool (events dropped): $(grep -c 'is full' "$DIR/agent.log" || true)"
}
spool_report "$DIR/state"

echo
echo "== 3. ssh deploy@127.0.0.1 true: plain authorized_keys vs ward certificate (AuthorizedPrincipalsCommand), same sshd, $SSH_RUNS each, interleaved"
python3 - <<'PY'
import os, statistics, subprocess, time
d, port, n = os.environ["DIR"], os.environ["SSHD_PORT"], int(os.environ["SSH_RUNS"])
common = ["-F", "/dev/null", "-o", "IdentitiesOnly=yes", "-o", "IdentityAgent=none",
          "-o", "UserKnownHostsFile=/dev/null", "-o", "GlobalKnownHostsFile=/dev/null",
          "-o", "StrictHostKeyChecking=no", "-o", "UpdateHostKeys=no", "-o", "BatchMode=yes",
          "-o", "ControlMaster=no", "-o", "ControlPath=none", "-o", "PreferredAuthentications=publickey",
          "-o", "LogLevel=ERROR", "-p", port]
cases = [
    ("plain key, authorized_keys → deploy", ["-i", d + "/keys/plain", "-o", "CertificateFile=none"], "deploy"),
    ("ward certificate, static AuthorizedPrincipalsFile → certfile (control, no agent)", ["-i", d + "/keys/ward", "-o", "CertificateFile=" + d + "/keys/ward-cert.pub"], "certfile"),
    ("ward certificate, principals command /bin/echo alice → certcmd (control, no agent)", ["-i", d + "/keys/ward", "-o", "CertificateFile=" + d + "/keys/ward-cert.pub"], "certcmd"),
    ("ward certificate, principals command → deploy", ["-i", d + "/keys/ward", "-o", "CertificateFile=" + d + "/keys/ward-cert.pub"], "deploy"),
    ("ward certificate → alice (account from libnss_ward)", ["-i", d + "/keys/ward", "-o", "CertificateFile=" + d + "/keys/ward-cert.pub"], "alice"),
]
def run(args, who):
    return subprocess.run(["ssh"] + args + common + [who + "@127.0.0.1", "true"], stdin=subprocess.DEVNULL, capture_output=True, timeout=30)
for c, a, who in cases:
    out = run(a, who)
    assert out.returncode == 0, (c, out.stderr, open(d + "/sshd.log").read()[-2000:])
# The certificate must not be accepted through authorized_keys, nor the plain key through the agent.
assert run(["-i", d + "/keys/plain", "-o", "CertificateFile=none"], "alice").returncode != 0
t = {c: [] for c, _, _ in cases}
for _ in range(n):
    for c, a, who in cases:
        s = time.perf_counter()
        out = run(a, who)
        t[c].append((time.perf_counter() - s) * 1e3)
        assert out.returncode == 0, (c, out.stderr)
base = statistics.mean(t[cases[0][0]])
print("| login | mean | median | p99 | mean / plain |")
print("|---|---:|---:|---:|---:|")
for c, _, _ in cases:
    v = sorted(t[c])
    print("| %s | %.1f ms | %.1f ms | %.1f ms | %.3f× |" % (c, statistics.mean(v), statistics.median(v), v[int(0.99 * (len(v) - 1))], statistics.mean(v) / base))

# Where the difference goes: the principals command as a process on its own
# (vs /bin/true), and how many times sshd runs it per login (decisions that
# reach ward-ca's audit log for one login).
cmd = [os.environ["REL"] + "/ward-agent", "--config", d + "/agent.toml", "ssh-authorized-principals", "--",
       "deploy", os.environ["KEY_ID"], os.environ["SERIAL"], os.environ["CERT_B64"]]
out = subprocess.run(cmd, capture_output=True, text=True)
assert out.stdout == "alice\n", out
pt = {"ward-agent ssh-authorized-principals": [], "/bin/true": []}
for _ in range(n):
    for c, a in (("ward-agent ssh-authorized-principals", cmd), ("/bin/true", ["/bin/true"])):
        s = time.perf_counter()
        subprocess.run(a, stdout=subprocess.DEVNULL, check=True)
        pt[c].append((time.perf_counter() - s) * 1e3)
for c, v in pt.items():
    print("process alone, %s: mean %.1f ms, median %.1f ms" % (c, statistics.mean(v), statistics.median(v)))
import datetime, json as _json
time.sleep(1.1)
since = int(time.time())
assert run(cases[3][1], "deploy").returncode == 0
time.sleep(3)
out = subprocess.run([os.environ["REL"] + "/ward", "--output", "json", "audit", "list", "--action", "host:Login",
                      "--since", str(since), "--all"], capture_output=True, text=True)
print("host:Login decisions recorded by ward-ca for one certificate login: %s" % (out.stdout.count('"host:Login"') if out.returncode == 0 else "unknown (" + out.stderr.strip() + ")"))
PY

echo
echo "== 4. change → enforced: ward group remove-user/add-user ops alice → agent generation changes (status polled every 10 ms)"
python3 - <<'PY'
import json, os, socket, statistics, struct, subprocess, time
rel, n = os.environ["REL"], int(os.environ["CHANGES"])
def ask(req):
    s = socket.socket(socket.AF_UNIX)
    s.settimeout(5)
    s.connect("/run/ward/agent.sock")
    b = json.dumps(dict(v=1, **req)).encode()
    s.sendall(struct.pack(">I", len(b)) + b)
    buf = b""
    while len(buf) < 4 or len(buf) < 4 + struct.unpack(">I", buf[:4])[0]:
        chunk = s.recv(65536)
        assert chunk, "agent closed"
        buf += chunk
    s.close()
    return json.loads(buf[4:])
def gen(): return ask({"op": "status"})["generation"]
def decide(): return ask({"op": "authorize", "action": "host:Login", "user": "alice", "principal": "deploy",
                          "service": "sshd", "sourceIp": None, "authMethod": "ssh-certificate"})["outcome"]
res = {"remove-user": [], "add-user": []}
cli = []
assert decide() == "allowed"
for i in range(n):
    for op, want in (("remove-user", "denied"), ("add-user", "allowed")):
        g0 = gen()
        t0 = time.perf_counter()
        subprocess.run([rel + "/ward", "group", op, "ops", "alice"], stdout=subprocess.DEVNULL, check=True)
        t1 = time.perf_counter()
        while gen() == g0:
            if time.perf_counter() - t0 > 30: raise SystemExit("generation did not change within 30 s")
            time.sleep(0.01)
        t2 = time.perf_counter()
        assert decide() == want, (op, want)
        res[op].append(((t2 - t0) * 1e3, (t2 - t1) * 1e3))
        cli.append((t1 - t0) * 1e3)
def p(v, q): v = sorted(v); return v[int(round(q * (len(v) - 1)))]
print("| change | n | from CLI start: p50 | p99 | max | after CLI returned: p50 | p99 |")
print("|---|---:|---:|---:|---:|---:|---:|")
for op, v in list(res.items()) + [("both", res["remove-user"] + res["add-user"])]:
    a = [x[0] for x in v]; b = [x[1] for x in v]
    print("| %s | %d | %.0f ms | %.0f ms | %.0f ms | %.0f ms | %.0f ms |" % (op, len(v), p(a, .5), p(a, .99), max(a), p(b, .5), p(b, .99)))
print("the ward CLI call itself (process start, SigV4, mutation): median %.0f ms" % statistics.median(cli))
print("after each change the agent's own decision was checked: denied after remove-user, allowed after add-user")
PY

echo
echo "== 2b. the same socket bench with the agent's state on tmpfs (no fsync cost; NOT durable, measurement only)"
kill "$AGENT_PID"; wait "$AGENT_PID" 2>/dev/null || true
mkdir -p /run/ward-state && cp -a "$DIR/state/." /run/ward-state/
sed -i "s|^state_dir = .*|state_dir = \"/run/ward-state\"|" "$DIR/agent.toml"
start_agent
"$REL/agent_load" /run/ward/agent.sock alice deploy "$KEY_ID" "$SERIAL" "$CERT_B64" "$AGENT_SAMPLES" "$CLIENTS" "$SECONDS_PER_KIND"
spool_report /run/ward-state
