#!/usr/bin/python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""Figures of the test bed (printed, never asserted): pcscd's start until its
reader list is complete, and card insert/remove as another PC/SC client sees
them (from vicc's start or death to pcscd's event). Run by `make bench`."""

import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import jetontestbed as tb  # noqa: E402

CYCLES = int(sys.argv[1]) if len(sys.argv) > 1 else 20


def summary(name, samples):
    ms = sorted(s * 1000 for s in samples)
    print(f'{name:40s} n={len(ms):3d}  min {ms[0]:6.0f}  median {statistics.median(ms):6.0f}  '
          f'max {ms[-1]:6.0f} ms')


def main():
    ready, restart, inserted, removed = [], [], [], []
    with tb.TempDir() as tmp:
        for nreaders in (2, 8, 16):
            with tb.Pcscd(tmp.path / f'n{nreaders}', nreaders) as pcscd:
                ready.append((nreaders, pcscd.ready_seconds))
        with tb.Pcscd(tmp.path / 'cards', 4) as pcscd:
            for i in range(5):
                t0 = time.monotonic()
                pcscd.restart()
                restart.append(time.monotonic() - t0)
            with tb.Card(pcscd, 1) as card:
                for i in range(CYCLES):
                    with pcscd.watch(card.reader) as watch:
                        t0 = time.monotonic()
                        card.insert()
                    inserted.append(watch.when - t0)
                    with pcscd.watch(card.reader) as watch:
                        t0 = time.monotonic()
                        card.remove()
                    removed.append(watch.when - t0)
    for n, s in ready:
        print(f'pcscd spawn -> {n:2d} readers listed{"":18s} {s * 1000:6.0f} ms')
    summary('pcscd restart (SIGTERM, back, listed)', restart)
    summary('vicc start -> PC/SC client sees card', inserted)
    summary('vicc killed -> PC/SC client sees none', removed)
    return 0


if __name__ == '__main__':
    sys.exit(main())
