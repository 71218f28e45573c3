#!/usr/bin/env python3
"""Decode+resize throughput with Pillow, to compare with `cargo bench --bench data_decode`.

Same work as the Rust benchmark: open each JPEG/PNG, apply the EXIF orientation, convert to
RGB, bilinear resize to SIZE x SIZE, into a bytes buffer; PROCS worker processes (Python
threads would be serialised by the GIL for part of the work). Two modes, as the Rust
benchmark's:

- "full decode": the JPEG is decoded at full size, then resized (the runner's default,
  `data.fast_decode: false`).
- "draft": `Image.draft("RGB", (SIZE, SIZE))` first, which lets libjpeg-turbo decode a JPEG at
  1/2, 1/4 or 1/8 of its size in the DCT domain, the smallest keeping both sides >= SIZE
  (the runner's `data.fast_decode: true` uses the same rule and the same library).

For each mode one untimed pass warms the page cache and the workers, then PASSES timed passes
print images/s and images per CPU second (workers and this process; less sensitive to other
load on the machine). Pillow's BILINEAR resize is antialiased (its kernel widens with the reduction),
the runner's is the fixed 2x2 kernel of `tf.image.resize`: the decode is the same work, the
resize is not quite.

    python3 -m venv /tmp/pillow-venv && /tmp/pillow-venv/bin/pip install pillow
    /tmp/pillow-venv/bin/python ci/bench/pillow_decode.py [DIR] [PROCS] [SIZE] [PASSES] [--full|--draft]
"""
import os
import sys
import time
from multiprocessing import Pool

from PIL import Image, ImageOps

SIZE = 160


def work(path):
    with Image.open(path) as im:
        im = ImageOps.exif_transpose(im)
        im = im.convert("RGB").resize((SIZE, SIZE), Image.BILINEAR)
        im.tobytes()
    # The worker's CPU time so far, to add up the CPU time of a pass.
    return os.getpid(), time.process_time()


def work_draft(path):
    with Image.open(path) as im:
        # Before exif_transpose, which loads the pixels. A square target needs no swap for a
        # rotated photo. draft() does nothing for a PNG.
        im.draft("RGB", (SIZE, SIZE))
        im = ImageOps.exif_transpose(im)
        im = im.convert("RGB").resize((SIZE, SIZE), Image.BILINEAR)
        im.tobytes()
    return os.getpid(), time.process_time()


def run(pool, fn, paths, last):
    """One pass. Keeps in `last` each worker's CPU time at its latest task; returns the
    number of images and this process's CPU time at the start."""
    own = time.process_time()
    n = 0
    for pid, cpu in pool.imap_unordered(fn, paths, chunksize=32):
        n += 1
        last[pid] = max(last.get(pid, 0.0), cpu)
    return n, own


def init(size):
    global SIZE
    SIZE = size


def main():
    here = os.path.dirname(os.path.abspath(__file__))
    flags = [a for a in sys.argv[1:] if a.startswith("--")]
    args = [a for a in sys.argv[1:] if not a.startswith("--")]
    root = args[0] if len(args) > 0 else os.path.join(here, "../../../shared/data/cats_and_dogs")
    procs = int(args[1]) if len(args) > 1 else 2
    size = int(args[2]) if len(args) > 2 else 160
    passes = int(args[3]) if len(args) > 3 else 3
    modes = []
    if "--draft" not in flags:
        modes.append((work, "full decode"))
    if "--full" not in flags:
        modes.append((work_draft, "draft"))
    paths = sorted(
        os.path.join(d, f)
        for d, _, fs in os.walk(root)
        for f in fs
        if f.lower().endswith((".jpg", ".jpeg", ".png"))
    )
    print(f"pillow {Image.__version__}: {len(paths)} files in {root}, {procs} processes, "
          f"{size}x{size} bilinear")
    with Pool(procs, initializer=init, initargs=(size,)) as pool:
        last = {}
        for fn, mode in modes:
            run(pool, fn, paths, last)
            for p in range(1, passes + 1):
                before = sum(last.values())
                t = time.perf_counter()
                n, own = run(pool, fn, paths, last)
                dt = time.perf_counter() - t
                cpu = sum(last.values()) - before + time.process_time() - own
                print(f"pillow {mode}, pass {p}: {n} images in {dt:.3f}s ({cpu:.2f} CPU s, "
                      f"{n / cpu:.0f} images per CPU s) = {n / dt:.0f} images/s")


if __name__ == "__main__":
    main()
