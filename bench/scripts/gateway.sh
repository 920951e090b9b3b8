#!/usr/bin/env bash
# Issue #13 benchmark: ProxyJump through ward-gateway vs through a stock
# OpenSSH sshd used as the jump host, side by side in one run, every
# component real (release builds):
#   1. `ssh -J JUMP root@TARGET true` login time (RUNS each, interleaved;
#      median and p90);
#   2. bytes/s of SIZE_MIB MiB piped through `ssh -J JUMP root@TARGET
#      'cat >/dev/null'` (REPEATS each, interleaved; best and median);
#   3. terminating mode (`ssh -o User=root%web-01 GATEWAY`) vs a direct
#      `ssh root@TARGET`: login time (RUNS each) and SIZE_MIB MiB piped
#      through (REPEATS each), interleaved; the throughput also vs a stock
#      terminating bastion (ssh into the stock sshd, ssh on from there);
#      both again with AES-GCM chosen on every leg, and ward-gateway's CPU
#      seconds per GiB. The target presents a host
#      certificate from ward's SSH host CA (the gateway requires one);
#   4. memory per idle open session: IDLE (500) `ssh -W sink-01:PORT JUMP`
#      sessions held open at once to a TCP sink (what `ssh -J` runs
#      underneath, without a target sshd's cost), ward-gateway's RSS
#      before and after (one process) vs the stock jump sshd's per-session
#      processes (sum of their PSS: shared pages counted once);
#   5. new sessions/s: NEW (300) `ssh -W sinkc-01:PORT JUMP` to a sink that
#      closes at once, 8 at a time, ward-gateway vs the stock jump sshd.
# The same stock sshd on loopback is the target in both cases (and the
# stock jump host); the client authenticates with the same ward
# certificate everywhere; the client picks the same cipher for both
# (OpenSSH's default order: chacha20-poly1305 first, which ward-gateway
# also prefers). Needs root (sshd).
#
#   bench/scripts/gateway.sh [RUNS] [SIZE_MIB] [REPEATS] [IDLE] [NEW]
#   defaults:                30     1024       3         500    300
set -euo pipefail
cd "$(dirname "$0")/../.."
RUNS=${1:-30}
SIZE_MIB=${2:-1024}
REPEATS=${3:-3}
IDLE=${4:-500}
NEW=${5:-300}
# Each idle session holds a few descriptors in each process involved.
ulimit -n "$(( $(ulimit -Hn) < 65536 ? $(ulimit -Hn) : 65536 ))"
[ "$(id -u)" = 0 ] || { echo "gateway.sh: needs root (sshd)" >&2; exit 1; }
cargo build --release -q -p ward-ca -p ward-cli -p ward-gateway
REL=$(realpath "${CARGO_TARGET_DIR:-target}/release")
DIR=$(mktemp -d /tmp/ward-bench-gw.XXXXXX)
PIDS=()
cleanup() {
  for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; wait "$p" 2>/dev/null || true; done
  rm -rf "$DIR"
}
trap cleanup EXIT
mkdir -p /run/sshd "$DIR"/{home,keys,state,sshd}
export HOME=$DIR/home
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
echo "machine: $(nproc) cores; load at start: $(cut -d' ' -f1-3 /proc/loadavg)"

# --- ward-ca, a user, a policy allowing host:Connect.
CA_PORT=$(free_port)
"$REL/ward-ca" serve --dev --data-dir "$DIR/ca" --listen "127.0.0.1:$CA_PORT" >"$DIR/ca.out" 2>"$DIR/ca.log" &
PIDS+=($!)
for _ in $(seq 1 300); do grep -q WARD_SECRET_ACCESS_KEY "$DIR/ca.out" 2>/dev/null && break; sleep 0.1; done
eval "$(grep '^ *export WARD_' "$DIR/ca.out")"
W="$REL/ward"
for _ in $(seq 1 100); do "$W" user list >/dev/null 2>&1 && break; sleep 0.2; done
cat >"$DIR/connect.json" <<'JSON'
{"Version":"2012-10-17","Statement":[
 {"Effect":"Allow","Action":"host:Connect","Resource":"arn:ward:host::*:host/*",
  "Condition":{"StringEquals":{"ward:ResourceTag/env":"bench"}}},
 {"Effect":"Allow","Action":"host:Login","Resource":"arn:ward:host::*:host/*",
  "Condition":{"StringEquals":{"ward:ResourceTag/env":"bench","host:Service":"gateway"}}},
 {"Effect":"Allow","Action":"ca:IssueSshUserCertificate","Resource":"*"}]}
JSON
"$W" user create alice >/dev/null
"$W" policy create connect --document "$DIR/connect.json" >/dev/null
"$W" policy attach connect --user alice >/dev/null
KEY_JSON=$("$W" --output json access-key create alice)
AK=$(python3 -c 'import json,sys; print(json.loads(sys.argv[1])["accessKeyId"])' "$KEY_JSON")
SK=$(python3 -c 'import json,sys; print(json.loads(sys.argv[1])["secretAccessKey"])' "$KEY_JSON")
WARD_ACCESS_KEY_ID=$AK WARD_SECRET_ACCESS_KEY=$SK "$W" ssh login --no-agent --extension permit-port-forwarding --out "$DIR/keys" >/dev/null

# --- the target (and stock jump host): one stock sshd trusting ward's user CA.
T_PORT=$(free_port)
ssh-keygen -q -t ed25519 -N '' -f "$DIR/sshd/host_key"
"$W" host register web-01 --tag env=bench >/dev/null
"$W" host certificate web-01 --public-key "$DIR/sshd/host_key.pub" --out "$DIR/sshd/host_key-cert.pub" >/dev/null
"$W" ssh trusted-user-ca-keys >"$DIR/sshd/ca.pub"
mkdir -p "$DIR/sshd/principals"; echo alice >"$DIR/sshd/principals/root"
cat >"$DIR/sshd/sshd_config" <<CFG
ListenAddress 127.0.0.1
HostKey $DIR/sshd/host_key
HostCertificate $DIR/sshd/host_key-cert.pub
PidFile $DIR/sshd/pid
TrustedUserCAKeys $DIR/sshd/ca.pub
AuthorizedPrincipalsFile $DIR/sshd/principals/%u
AuthorizedKeysFile none
PasswordAuthentication no
KbdInteractiveAuthentication no
UsePAM no
StrictModes no
PermitRootLogin prohibit-password
AllowTcpForwarding yes
PrintMotd no
PrintLastLog no
UseDNS no
MaxStartups 200:30:400
MaxSessions 100
CFG
/usr/sbin/sshd -D -f "$DIR/sshd/sshd_config" -p "$T_PORT" -E "$DIR/sshd/log" &
SSHD_PID=$!
PIDS+=($SSHD_PID)

# --- a TCP sink: HOLD_PORT keeps connections open (idle sessions),
# CLOSE_PORT closes them at once (new sessions/s); it writes how many it
# holds to $DIR/sink.count.
HOLD_PORT=$(free_port); CLOSE_PORT=$(free_port)
cat >"$DIR/sink.py" <<'PY'
import asyncio, sys
hold, close, count_file = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
held = 0
def write():
    with open(count_file + ".tmp", "w") as f:
        f.write(str(held))
    import os; os.replace(count_file + ".tmp", count_file)
async def keep(r, w):
    global held
    held += 1; write()
    while await r.read(65536):
        pass
    held -= 1; write(); w.close()
async def shut(r, w):
    w.close()
async def main():
    a = await asyncio.start_server(keep, "127.0.0.1", hold, backlog=1024)
    b = await asyncio.start_server(shut, "127.0.0.1", close, backlog=1024)
    write()
    await asyncio.gather(a.serve_forever(), b.serve_forever())
asyncio.run(main())
PY
python3 "$DIR/sink.py" "$HOLD_PORT" "$CLOSE_PORT" "$DIR/sink.count" &
PIDS+=($!)
"$W" host register sink-01 --tag env=bench >/dev/null
"$W" host update sink-01 --address "127.0.0.1:$HOLD_PORT" >/dev/null
"$W" host register sinkc-01 --tag env=bench >/dev/null
"$W" host update sinkc-01 --address "127.0.0.1:$CLOSE_PORT" >/dev/null

# --- ward-gateway, enrolled with a --gateway token; web-01 registered.
"$W" host update web-01 --address "127.0.0.1:$T_PORT" >/dev/null
GW_PORT=$(free_port)
cat >"$DIR/gateway.toml" <<TOML
listen = "127.0.0.1:$GW_PORT"
state_dir = "$DIR/state"
dangerous_allow_loopback_targets = true
max_sessions_per_user = 10000
max_connections = 10000
idle_timeout_seconds = 3600
TOML
TOKEN=$("$W" --output json host join-token gw-01 --gateway | python3 -c 'import json,sys; print(json.load(sys.stdin)["token"])')
echo "$TOKEN" | "$REL/ward-gateway" --config "$DIR/gateway.toml" join "$WARD_ENDPOINT" - --ca-bundle "$WARD_CA_BUNDLE" >/dev/null
"$REL/ward-gateway" --config "$DIR/gateway.toml" run 2>"$DIR/gateway.log" &
GW_PID=$!
PIDS+=($GW_PID)
for _ in $(seq 1 300); do [ -e "$DIR/state/snapshot.json" ] && grep -q listening "$DIR/gateway.log" && break; sleep 0.1; done

cat >"$DIR/ssh_config" <<CFG
Host gw
  HostName 127.0.0.1
  Port $GW_PORT
  User alice
Host stockjump
  HostName 127.0.0.1
  Port $T_PORT
  User root
Host target
  HostName 127.0.0.1
  Port $T_PORT
  User root
Host *
  IdentityFile $DIR/keys/ward
  CertificateFile $DIR/keys/ward-cert.pub
  IdentitiesOnly yes
  IdentityAgent none
  UserKnownHostsFile /dev/null
  GlobalKnownHostsFile /dev/null
  StrictHostKeyChecking no
  BatchMode yes
  LogLevel ERROR
  ControlMaster no
  ControlPath none
CFG
via_gw()    { ssh -F "$DIR/ssh_config" -J gw root@web-01 "$@"; }
via_stock() { ssh -F "$DIR/ssh_config" -J stockjump target "$@"; }
via_term()  { ssh -F "$DIR/ssh_config" -o User=root%web-01 gw "$@"; }
via_direct() { ssh -F "$DIR/ssh_config" target "$@"; }
# A stock terminating bastion: ssh into the stock sshd, and from there ssh
# on to the target (the same two decrypt/encrypt legs terminating mode has).
via_twohop() { ssh -F "$DIR/ssh_config" target "ssh -F $DIR/ssh_config target '$*'"; }
via_term true || { echo "terminating path fails:"; tail -20 "$DIR/gateway.log"; exit 1; }
via_gw true || { echo "gateway path fails:"; tail -20 "$DIR/gateway.log"; exit 1; }
via_stock true || { echo "stock jump path fails:"; tail -20 "$DIR/sshd/log"; exit 1; }

now_ns() { date +%s%N; }
echo "== 1. ssh -J … true login time ($RUNS runs each, interleaved)"
: >"$DIR/t_gw"; : >"$DIR/t_stock"
for _ in $(seq 1 "$RUNS"); do
  a=$(now_ns); via_gw true; b=$(now_ns); echo $(( (b-a)/1000 )) >>"$DIR/t_gw"
  a=$(now_ns); via_stock true; b=$(now_ns); echo $(( (b-a)/1000 )) >>"$DIR/t_stock"
done
stats() { sort -n "$1" | awk '{v[NR]=$1} END {printf "%.1f %.1f", v[int((NR+1)/2)]/1000, v[int(NR*0.9+0.5)]/1000}'; }
read -r GW_P50 GW_P90 <<<"$(stats "$DIR/t_gw")"
read -r ST_P50 ST_P90 <<<"$(stats "$DIR/t_stock")"
printf "%-28s p50 %8s ms   p90 %8s ms\n" "via ward-gateway" "$GW_P50" "$GW_P90"
printf "%-28s p50 %8s ms   p90 %8s ms\n" "via stock sshd jump" "$ST_P50" "$ST_P90"
python3 -c "import sys; print('login time ratio gateway/stock (p50): %.2f' % (float(sys.argv[1])/float(sys.argv[2])))" "$GW_P50" "$ST_P50"

echo "== 2. $SIZE_MIB MiB through the jump ($REPEATS runs each, interleaved)"
: >"$DIR/b_gw"; : >"$DIR/b_stock"
for _ in $(seq 1 "$REPEATS"); do
  for kind in gw stock; do
    a=$(now_ns)
    head -c $((SIZE_MIB*1024*1024)) /dev/zero | "via_$kind" 'cat >/dev/null'
    b=$(now_ns)
    python3 -c "import sys; print('%.1f' % (float(sys.argv[1])*1e9/float(sys.argv[2])))" "$SIZE_MIB" "$((b-a))" >>"$DIR/b_$kind"
  done
done
bstats() { sort -n "$1" | awk '{v[NR]=$1} END {printf "%s %s", v[NR], v[int((NR+1)/2)]}'; }
read -r GW_BEST GW_MED <<<"$(bstats "$DIR/b_gw")"
read -r ST_BEST ST_MED <<<"$(bstats "$DIR/b_stock")"
printf "%-28s best %8s MiB/s   median %8s MiB/s\n" "via ward-gateway" "$GW_BEST" "$GW_MED"
printf "%-28s best %8s MiB/s   median %8s MiB/s\n" "via stock sshd jump" "$ST_BEST" "$ST_MED"
python3 -c "import sys; print('throughput ratio gateway/stock (median): %.2f' % (float(sys.argv[1])/float(sys.argv[2])))" "$GW_MED" "$ST_MED"

echo "== 3. terminating mode vs direct ssh: login ($RUNS runs each) and $SIZE_MIB MiB ($REPEATS runs each), interleaved"
: >"$DIR/t_term"; : >"$DIR/t_direct"
for _ in $(seq 1 "$RUNS"); do
  a=$(now_ns); via_term true; b=$(now_ns); echo $(( (b-a)/1000 )) >>"$DIR/t_term"
  a=$(now_ns); via_direct true; b=$(now_ns); echo $(( (b-a)/1000 )) >>"$DIR/t_direct"
done
read -r TE_P50 TE_P90 <<<"$(stats "$DIR/t_term")"
read -r DI_P50 DI_P90 <<<"$(stats "$DIR/t_direct")"
printf "%-28s p50 %8s ms   p90 %8s ms\n" "terminating via gateway" "$TE_P50" "$TE_P90"
printf "%-28s p50 %8s ms   p90 %8s ms\n" "direct ssh" "$DI_P50" "$DI_P90"
python3 -c "import sys; print('login time ratio terminating/direct (p50): %.2f' % (float(sys.argv[1])/float(sys.argv[2])))" "$TE_P50" "$DI_P50"
# The same two with AES-GCM chosen by the client on every leg (what a
# gateway with `ciphers = [AES-GCM only]` gets from stock clients), and
# ward-gateway's own CPU seconds per GiB in each terminating run.
via_term_aes()   { via_term -c aes128-gcm@openssh.com "$@"; }
via_direct_aes() { via_direct -c aes128-gcm@openssh.com "$@"; }
gw_cpu() { awk '{print $14 + $15}' "/proc/$GW_PID/stat"; }
: >"$DIR/b_term"; : >"$DIR/b_direct"; : >"$DIR/b_twohop"; : >"$DIR/b_term_aes"; : >"$DIR/b_direct_aes"
: >"$DIR/cpu_term"; : >"$DIR/cpu_term_aes"
for _ in $(seq 1 "$REPEATS"); do
  for kind in term direct twohop term_aes direct_aes; do
    c0=$(gw_cpu)
    a=$(now_ns)
    head -c $((SIZE_MIB*1024*1024)) /dev/zero | "via_$kind" 'cat >/dev/null'
    b=$(now_ns)
    c1=$(gw_cpu)
    python3 -c "import sys; print('%.1f' % (float(sys.argv[1])*1e9/float(sys.argv[2])))" "$SIZE_MIB" "$((b-a))" >>"$DIR/b_$kind"
    case $kind in term|term_aes)
      python3 -c "import sys; print('%.2f' % ((float(sys.argv[1])/float(sys.argv[2]))/(float(sys.argv[3])/1024)))" "$((c1-c0))" "$(getconf CLK_TCK)" "$SIZE_MIB" >>"$DIR/cpu_$kind" ;;
    esac
  done
done
read -r TE_BEST TE_MED <<<"$(bstats "$DIR/b_term")"
read -r DI_BEST DI_MED <<<"$(bstats "$DIR/b_direct")"
printf "%-28s best %8s MiB/s   median %8s MiB/s\n" "terminating via gateway" "$TE_BEST" "$TE_MED"
printf "%-28s best %8s MiB/s   median %8s MiB/s\n" "direct ssh" "$DI_BEST" "$DI_MED"
python3 -c "import sys; print('throughput ratio terminating/direct (median): %.2f' % (float(sys.argv[1])/float(sys.argv[2])))" "$TE_MED" "$DI_MED"
read -r TH_BEST TH_MED <<<"$(bstats "$DIR/b_twohop")"
printf "%-28s best %8s MiB/s   median %8s MiB/s\n" "stock bastion, ssh in ssh" "$TH_BEST" "$TH_MED"
python3 -c "import sys; print('throughput ratio terminating/stock two-hop (median): %.2f' % (float(sys.argv[1])/float(sys.argv[2])))" "$TE_MED" "$TH_MED"
read -r TA_BEST TA_MED <<<"$(bstats "$DIR/b_term_aes")"
read -r DA_BEST DA_MED <<<"$(bstats "$DIR/b_direct_aes")"
printf "%-28s best %8s MiB/s   median %8s MiB/s\n" "terminating, AES-GCM" "$TA_BEST" "$TA_MED"
printf "%-28s best %8s MiB/s   median %8s MiB/s\n" "direct ssh, AES-GCM" "$DA_BEST" "$DA_MED"
python3 -c "import sys; print('throughput ratio terminating/direct, both AES-GCM (median): %.2f' % (float(sys.argv[1])/float(sys.argv[2])))" "$TA_MED" "$DA_MED"
python3 -c "import sys; print('throughput ratio terminating AES-GCM / direct default cipher (median): %.2f' % (float(sys.argv[1])/float(sys.argv[2])))" "$TA_MED" "$DI_MED"
echo "ward-gateway CPU seconds per GiB, terminating: client leg chacha20-poly1305 $(sort -n "$DIR/cpu_term" | tr '\n' ' ')/ AES-GCM $(sort -n "$DIR/cpu_term_aes" | tr '\n' ' ')"

echo "== 4. memory per idle open session ($IDLE sessions held open at once)"
kb() { awk -v k="$2:" '$1==k {print $2}' "$1"; }
# Every sshd process under the listener (per-connection monitor + child).
sshd_pss() {
  local total=0 p
  for p in $(pgrep -P "$SSHD_PID") $(for c in $(pgrep -P "$SSHD_PID"); do pgrep -P "$c"; done); do
    total=$(( total + $(kb "/proc/$p/smaps_rollup" Pss 2>/dev/null || echo 0) ))
  done
  echo "$total"
}
mkfifo "$DIR/idle.fifo"
exec 3<>"$DIR/idle.fifo"   # held open for writing, never written: the sessions stay idle
hold_idle() { # $1: jump host (gw|stockjump), $2: -W destination; prints client pids
  local i pids=()
  for i in $(seq 1 "$IDLE"); do
    ssh -F "$DIR/ssh_config" -W "$2" "$1" <&3 >/dev/null 2>>"$DIR/idle.err" &
    pids+=($!)
    if (( i % 50 == 0 )); then
      for _ in $(seq 1 600); do [ "$(cat "$DIR/sink.count")" -ge "$i" ] && break; sleep 0.1; done
    fi
  done
  for _ in $(seq 1 600); do [ "$(cat "$DIR/sink.count")" -ge "$IDLE" ] && break; sleep 0.1; done
  echo "${pids[@]}"
}
release_idle() {
  local p
  for p in $1; do kill "$p" 2>/dev/null || true; done
  for p in $1; do wait "$p" 2>/dev/null || true; done
  for _ in $(seq 1 600); do [ "$(cat "$DIR/sink.count")" -eq 0 ] && break; sleep 0.1; done
}
GW_BEFORE=$(kb /proc/$GW_PID/status VmRSS)
CLIENTS=$(hold_idle gw "sink-01:$HOLD_PORT")
HELD=$(cat "$DIR/sink.count")
sleep 2
GW_AFTER=$(kb /proc/$GW_PID/status VmRSS)
release_idle "$CLIENTS"
ST_BEFORE=$(sshd_pss)
CLIENTS=$(hold_idle stockjump "127.0.0.1:$HOLD_PORT")
ST_HELD=$(cat "$DIR/sink.count")
sleep 2
ST_AFTER=$(sshd_pss)
release_idle "$CLIENTS"
python3 - "$GW_BEFORE" "$GW_AFTER" "$HELD" "$ST_BEFORE" "$ST_AFTER" "$ST_HELD" <<'PY'
import sys
gb, ga, gn, sb, sa, sn = map(float, sys.argv[1:])
g = (ga - gb) / gn / 1024; s = (sa - sb) / sn / 1024
print("%-28s RSS %7.1f -> %7.1f MiB with %d open: %.3f MiB per session" % ("ward-gateway", gb/1024, ga/1024, gn, g))
print("%-28s PSS %7.1f -> %7.1f MiB with %d open: %.3f MiB per session" % ("stock sshd jump", sb/1024, sa/1024, sn, s))
print("memory per idle session ratio gateway/stock: %.3f" % (g / s))
PY

echo "== 5. new sessions/s ($NEW sessions each, 8 at a time)"
new_sessions() { # $1 jump host, $2 -W destination; sessions/s of those that succeeded
  local a b ok
  : >"$DIR/new.ok"
  a=$(now_ns)
  seq 1 "$NEW" | xargs -P 8 -I{} sh -c 'ssh -F "$0" -W "$1" "$2" </dev/null >/dev/null 2>>"$3" && echo ok >>"$4" || true' \
    "$DIR/ssh_config" "$2" "$1" "$DIR/new.err" "$DIR/new.ok"
  b=$(now_ns)
  ok=$(wc -l <"$DIR/new.ok")
  [ "$ok" -eq "$NEW" ] || echo "$1: only $ok of $NEW sessions succeeded" >&2
  python3 -c "import sys; print('%.1f' % (float(sys.argv[1])*1e9/float(sys.argv[2])))" "$ok" "$((b-a))"
}
GW_RATE=$(new_sessions gw "sinkc-01:$CLOSE_PORT")
ST_RATE=$(new_sessions stockjump "127.0.0.1:$CLOSE_PORT")
GW_RATE2=$(new_sessions gw "sinkc-01:$CLOSE_PORT")
ST_RATE2=$(new_sessions stockjump "127.0.0.1:$CLOSE_PORT")
printf "%-28s %8s and %8s sessions/s\n" "via ward-gateway" "$GW_RATE" "$GW_RATE2"
printf "%-28s %8s and %8s sessions/s\n" "via stock sshd jump" "$ST_RATE" "$ST_RATE2"
python3 -c "import sys; a,b,c,d=map(float,sys.argv[1:]); print('new sessions/s ratio gateway/stock: %.2f' % ((a+c)/(b+d)))" "$GW_RATE" "$ST_RATE" "$GW_RATE2" "$ST_RATE2"
echo "client errors during 4-5: $(wc -l <"$DIR/idle.err") idle, $(wc -l <"$DIR/new.err" 2>/dev/null || echo 0) new (first: $(head -1 "$DIR/new.err" 2>/dev/null))"
echo "load at end: $(cut -d' ' -f1-3 /proc/loadavg)"
