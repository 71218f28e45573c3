#!/usr/bin/env bash
# Decode+resize throughput, ours vs Pillow, the same work on the same machine, alternating so
# that other load on a shared machine hits both alike: ROUNDS rounds of
#   ours (full decode, then fast_decode), then Pillow (full decode, then draft),
# PASSES timed passes each, then every figure, the medians and the ratios, of wall-clock
# images/s and of images per CPU second (which other load on the machine disturbs less).
#
#   ci/bench/compare.sh [ROUNDS=3] [THREADS=2] [SIZE=160] [PASSES=1] [DIR]
#
# Pillow comes from $PILLOW_PYTHON, else /tmp/pillow-venv (made here if missing).
set -euo pipefail
cd "$(dirname "$0")/../.."
rounds=${1:-3} threads=${2:-2} size=${3:-160} passes=${4:-1}
dir=${5:-$PWD/../shared/data/cats_and_dogs}
py=${PILLOW_PYTHON:-/tmp/pillow-venv/bin/python}
if ! "$py" -c "import PIL" 2>/dev/null; then
  python3 -m venv /tmp/pillow-venv
  /tmp/pillow-venv/bin/pip install -q pillow
  py=/tmp/pillow-venv/bin/python
fi
cargo bench --features turbojpeg --bench data_decode --no-run -q
log=$(mktemp)
for r in $(seq "$rounds"); do
  echo "== round $r"
  cargo bench -q --features turbojpeg --bench data_decode -- "$dir" "$threads" "$size" "$passes" | tee -a "$log"
  "$py" ci/bench/pillow_decode.py "$dir" "$threads" "$size" "$passes" | tee -a "$log"
done
awk '
  / pass [0-9]+:/ {
    split($0, a, ", pass"); m = a[1]; n[m]++
    w[m, n[m]] = $(NF - 1)
    for (i = 1; i < NF; i++) if ($i == "per" && $(i - 1) == "images") c[m, n[m]] = $(i - 2)
    if (!(m in seen)) { seen[m] = 1; order[++k] = m }
  }
  function median(arr, m,   i, j, t, s, q) {
    q = n[m]; for (i = 1; i <= q; i++) s[i] = arr[m, i]
    for (i = 1; i <= q; i++) for (j = i + 1; j <= q; j++) if (s[j] < s[i]) { t = s[i]; s[i] = s[j]; s[j] = t }
    return q % 2 ? s[(q + 1) / 2] : (s[q / 2] + s[q / 2 + 1]) / 2
  }
  function row(arr, m,   i, line) { for (i = 1; i <= n[m]; i++) line = line " " arr[m, i]; return line }
  function ratios(arr, what,   of, oq, pf, pd) {
    of = median(arr, "ours full decode"); oq = median(arr, "ours fast_decode")
    pf = median(arr, "pillow full decode"); pd = median(arr, "pillow draft")
    printf "== ratios of the medians, %s\n", what
    printf "ours full decode / pillow full decode: %.2fx (same work)\n", of / pf
    printf "ours fast_decode / pillow draft:       %.2fx (same work)\n", oq / pd
    printf "ours fast_decode / pillow full decode: %.2fx\n", oq / pf
  }
  END {
    print "== images/s, wall clock (every pass, in order), median"
    for (i = 1; i <= k; i++) printf "%-20s%s   median %d\n", order[i], row(w, order[i]), median(w, order[i])
    print "== images per CPU second (every pass, in order), median"
    for (i = 1; i <= k; i++) printf "%-20s%s   median %d\n", order[i], row(c, order[i]), median(c, order[i])
    ratios(w, "wall clock")
    ratios(c, "per CPU second")
  }' "$log"
rm -f "$log"
