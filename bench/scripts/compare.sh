#!/usr/bin/env bash
# Side-by-side API and issuance throughput of two ward-ca builds in one run
# (the machine's speed varies from run to run; only same-run ratios count).
#   bench/scripts/compare.sh BASE_BIN NEW_BIN [SECONDS] [ROUNDS]
# Alternates base/new for ROUNDS rounds of api.sh (32 connections) and
# certs.sh (64 connections) and prints every figure plus the new/base ratios
# of the medians.
set -euo pipefail
cd "$(dirname "$0")/../.."
BASE=${1:?base ward-ca binary}
NEW=${2:?new ward-ca binary}
SECS=${3:-10}
ROUNDS=${4:-2}
OUT=$(mktemp -d /tmp/ward-bench-compare.XXXXXX)
for r in $(seq "$ROUNDS"); do
  for which in base new; do
    bin=$BASE; [ "$which" = new ] && bin=$NEW
    WARD_CA_BIN=$bin bench/scripts/api.sh "$SECS" 32 2>/dev/null | tee -a "$OUT/api.$which"
    WARD_CA_BIN=$bin bench/scripts/certs.sh "$SECS" 64 2>/dev/null | tee -a "$OUT/certs.$which"
  done
done
python3 - "$OUT" <<'PY'
import re, statistics, sys, pathlib
d = pathlib.Path(sys.argv[1])
def nums(f, pat):
    return [float(m.group(1).replace(",", "")) for m in re.finditer(pat, (d / f).read_text())]
rows = [("signed GetUser req/s", "api", r"signed GetUser: ([\d,]+) req/s"),
        ("/healthz req/s", "api", r"/healthz: ([\d,]+) req/s"),
        ("SSH user certs/s", "certs", r"SSH user certificates: ([\d.]+)/s"),
        ("X.509 client certs/s", "certs", r"X.509 client certificates: ([\d.]+)/s")]
for label, f, pat in rows:
    b, n = nums(f + ".base", pat), nums(f + ".new", pat)
    mb, mn = statistics.median(b), statistics.median(n)
    print(f"{label:24} base {mb:10,.0f} {b}  new {mn:10,.0f} {n}  new/base {mn/mb:.2f}")
PY
