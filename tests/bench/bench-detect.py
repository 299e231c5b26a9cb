#!/usr/bin/python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""Benchmark of jetond's detection. Prints figures, asserts nothing about time.

- Latency from pcscd's event to jetond's signal: another PC/SC client
  (the test bed's pcsc-readers) stamps the moment pcscd reports the card
  in or out; a GDBus client stamps InterfacesAdded / InterfacesRemoved on
  arrival (same clock, time.monotonic()). Median, 90th percentile and max
  over JETON_BENCH_CYCLES insert/remove cycles (default 50).
- Wake-ups while idle: voluntary + involuntary context switches summed over
  every thread of jetond (/proc/PID/task/*/status) across
  JETON_BENCH_IDLE seconds (default 60) with a token present and nothing
  happening, per minute and per thread.
- Memory: VmRSS and VmHWM with the modules loaded: the fixture (which
  loads SoftHSM) after the cycles; then a second jetond that also loads
  OpenSC, idle with no card (OpenSC must not meet a vicc card: probing one
  hangs in SCardTransmit on this test bed, with or without jetond).

Run through build/tests/bench/bench-detect (`make bench`); JETOND picks
another daemon binary.
"""

import os
import statistics
import sys
import time
from pathlib import Path

sys.dont_write_bytecode = True      # no __pycache__ in the source tree
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / 'integration'))
import jetondtest as jt  # noqa: E402
from jetondtest import tb  # noqa: E402

CYCLES = int(os.environ.get('JETON_BENCH_CYCLES', '50'))
IDLE_SECONDS = float(os.environ.get('JETON_BENCH_IDLE', '60'))
MULTIARCH = tb.run(['dpkg-architecture', '-qDEB_HOST_MULTIARCH']).stdout.strip()
OPENSC = f'/usr/lib/{MULTIARCH}/opensc-pkcs11.so'


def ms(seconds):
    return f'{seconds * 1000:7.1f} ms'


def summary(name, samples):
    q = statistics.quantiles(samples, n=10, method='inclusive')
    print(f'{name:<28} median {ms(statistics.median(samples))}   p90 {ms(q[8])}   '
          f'max {ms(max(samples))}   min {ms(min(samples))}   (n={len(samples)})')


def threads(pid):
    """{thread name: context switches}."""
    out = {}
    for task in Path(f'/proc/{pid}/task').iterdir():
        try:
            name = (task / 'comm').read_text().strip()
            st = jt.proc_status(f'{pid}/task/{task.name}')
        except FileNotFoundError:
            continue
        out[name] = out.get(name, 0) + int(st['voluntary_ctxt_switches']) + \
            int(st['nonvoluntary_ctxt_switches'])
    return out


def main():
    with tb.Testbed(nreaders=2, bus=True) as bed:
        serial = bed.softhsm.create_token('bench', '87654321', '123456')
        bed.fixture.bind(bed.pcscd.readers[0], 'bench')
        modules = [bed.fixture.module_path]
        path = jt.token_path('SoftHSM project', serial)

        j = jt.Jetond(bed.dir, bed.env(), modules)
        t0 = time.monotonic()
        j.start(bed.bus)
        startup = time.monotonic() - t0
        c = jt.Client(bed.bus.address)
        card = bed.card(0)

        inserted, removed = [], []
        for _ in range(CYCLES):
            mark = c.mark()
            with bed.pcscd.watch(card.reader) as w:
                card.insert()
            inserted.append(c.wait_added(path, mark).time - w.when)
            mark = c.mark()
            with bed.pcscd.watch(card.reader) as w:
                card.remove()
            removed.append(c.wait_removed(path, mark).time - w.when)

        mark = c.mark()
        card.insert()
        c.wait_added(path, mark)
        # The protocol: 2 s for the insert's aftermath (OpenSC probing the
        # card), then the idle window. Both are the measurement, not a wait.
        time.sleep(2)
        mark = c.mark()
        before, before_threads = jt.context_switches(j.pid), threads(j.pid)
        time.sleep(IDLE_SECONDS)
        after, after_threads = jt.context_switches(j.pid), threads(j.pid)
        status = jt.proc_status(j.pid)
        events = len(c.events) - mark

        print(f'jetond {jt.JETOND}')
        print(f'modules: {" ".join(modules)}')
        print(f'start until the bus name (first scan published): {ms(startup)}')
        summary('pcscd insert -> InterfacesAdded', inserted)
        summary('pcscd remove -> InterfacesRemoved', removed)
        per_minute = (after - before) * 60 / IDLE_SECONDS
        print(f'idle wake-ups: {after - before} context switches in {IDLE_SECONDS:g} s '
              f'= {per_minute:.1f}/min (bus signals meanwhile: {events})')
        for name in sorted(after_threads):
            print(f'    thread {name:<16} {after_threads[name] - before_threads.get(name, 0)}')
        print(f'memory: VmRSS {status["VmRSS"]}, VmHWM {status["VmHWM"]}, '
              f'threads {status["Threads"]}')

        c.close()
        rc = j.stop(bed.bus)
        if rc != 0:
            print(f'jetond exited with status {rc}:\n{j.log_text()}', file=sys.stderr)
            return 1

        card.remove()
        if os.path.exists(OPENSC):
            j = jt.Jetond(bed.dir, bed.env(), [bed.fixture.module_path, OPENSC], name='jetond-opensc')
            j.start(bed.bus)
            status = jt.proc_status(j.pid)
            print(f'memory with OpenSC too, no card: VmRSS {status["VmRSS"]}, VmHWM {status["VmHWM"]}')
            rc = j.stop(bed.bus)
            if rc != 0:
                print(f'jetond exited with status {rc}:\n{j.log_text()}', file=sys.stderr)
                return 1
    return 0


if __name__ == '__main__':
    sys.exit(main())
