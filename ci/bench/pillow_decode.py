#!/usr/bin/env python3
"""Decode+resize throughput with Pillow, to compare with `cargo bench --bench data_decode`.

Same work as the Rust benchmark: open each JPEG/PNG, convert to RGB, bilinear resize to
SIZE x SIZE, into a numpy-free bytes buffer; PROCS worker processes (Python threads would
be serialised by the GIL for part of the work). Three passes, images/s for each.

    python3 -m venv /tmp/pillow-venv && /tmp/pillow-venv/bin/pip install pillow
    /tmp/pillow-venv/bin/python ci/bench/pillow_decode.py [DIR] [PROCS] [SIZE]
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
        return len(im.tobytes())


def init(size):
    global SIZE
    SIZE = size


def main():
    here = os.path.dirname(os.path.abspath(__file__))
    root = sys.argv[1] if len(sys.argv) > 1 else os.path.join(here, "../../../shared/data/cats_and_dogs")
    procs = int(sys.argv[2]) if len(sys.argv) > 2 else 2
    size = int(sys.argv[3]) if len(sys.argv) > 3 else 160
    paths = sorted(
        os.path.join(d, f)
        for d, _, fs in os.walk(root)
        for f in fs
        if f.lower().endswith((".jpg", ".jpeg", ".png"))
    )
    print(f"{len(paths)} files in {root}, {procs} processes, {size}x{size} bilinear")
    with Pool(procs, initializer=init, initargs=(size,)) as pool:
        for p in range(1, 4):
            t = time.perf_counter()
            n = sum(1 for _ in pool.imap_unordered(work, paths, chunksize=32))
            dt = time.perf_counter() - t
            print(f"pass {p}: {n} images in {dt:.3f}s = {n / dt:.0f} images/s")


if __name__ == "__main__":
    main()
