#!/usr/bin/env bash
# Where decode+resize time goes, per stage: samples the benchmark with `perf` (CPU time of all
# threads) and sums them by function into stages.
#
#   ci/bench/profile.sh [--full|--fast] [THREADS=2]      (needs perf: apt-get install linux-perf)
#
# Stages: file read (kernel, reading), JPEG headers, entropy (Huffman) decoding, inverse DCT,
# chroma upsampling, colour conversion, resize, memory (copies, zeroing, page faults, malloc:
# mostly decode buffers and the first write into the cache), other.
set -euo pipefail
cd "$(dirname "$0")/../.."
mode=${1:---full} threads=${2:-2}
data=$(mktemp)
# Line tables and symbols for perf: the profiling profile (Cargo.toml).
cargo bench --profile profiling --features turbojpeg --bench data_decode --no-run -q
perf record -q -o "$data" -- cargo bench --profile profiling -q --features turbojpeg --bench data_decode -- \
  "$PWD/../shared/data/cats_and_dogs" "$threads" 160 3 "$mode" >/dev/null 2>&1
perf report -i "$data" --no-children --sort dso,symbol --stdio 2>/dev/null | awk '
  /^ +[0-9.]+%/ {
    p = $1; sub("%", "", p); dso = $2; sym = $0
    if (dso ~ /^(cargo|rustc|libLLVM)/) next
    s = "other"
    if (sym ~ /fast_image_resize/) s = "resize"
    else if (sym ~ /[Hh]uffman|decode_headers|read_markers|get_sos|get_sof|get_dht|get_dqt|make_d_derived|jpeg_read_header|jinit|start_input_pass|master_selection|jpeg_core_output_dimensions/) s = "JPEG headers, tables"
    else if (sym ~ /decode_mcu|fill_bit_buffer|BitStream|process_restart|jpeg_huff_decode|consume_data|decompress_onepass|decode_mcu_ycbcr/) s = "entropy (Huffman) decoding"
    else if (sym ~ /idct/) s = "inverse DCT"
    else if (sym ~ /upsample/) s = "chroma upsampling"
    else if (sym ~ /color_convert|ycc_|ycbcr|rgb_convert|gray_rgb/) s = "colour conversion"
    else if (sym ~ /memmove|memcpy|memset|malloc|calloc|unlink_chunk|_int_free|cfree|free$|clear_page|page_fault|handle_mm|do_anonymous|alloc_pages|rmqueue|__mem_cgroup|memcg|zap_|unmap|lru|folio/) s = "memory (copies, zeroing, faults, malloc)"
    else if (dso ~ /kernel/) s = "kernel: file read, syscalls, scheduling"
    else if (sym ~ /runner::data::decode/) s = "runner decode.rs (format and truncation checks)"
    t[s] += p; all += p
  }
  END { for (s in t) printf "%6.1f%%  %s\n", 100 * t[s] / all, s }' | sort -rn
rm -f "$data"
