#!/usr/bin/python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""Provisioning time through jetond (Order.Provision called -> the order's
State "key-generated" signal: PIN agent round trip, login, key generation,
request signed and verified, store commit, outbox) for RSA-2048, RSA-3072
and P-256 on SoftHSM behind the fixture module, median of N runs, beside
the raw key generation + CSR figures of the token library alone
(bench-keygen-csr). Prints figures; asserts nothing about time."""

import importlib.util
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / 'integration'))
import jetondtest as jt  # noqa: E402
from jetondtest import tb, GLib  # noqa: E402

spec = importlib.util.spec_from_file_location('tp', jt.TOP / 'tests/integration/test-provision.py')
RUNS = int(os.environ.get('JETON_BENCH_RUNS', '20'))
ALGORITHMS = ('rsa2048', 'rsa3072', 'p256')
SO_PIN, USER_PIN = 'so-1234', 'pin-123456'


def load_agent():
    """The PIN agent class of test-provision.py, without running that test."""
    src = (jt.TOP / 'tests/integration/test-provision.py').read_text()
    src = src[:src.index('\nwith tb.Testbed(')]
    ns = {'__name__': 'agent', '__file__': str(jt.TOP / 'tests/integration/test-provision.py')}
    exec(compile(src, 'test-provision.py', 'exec'), ns)  # noqa: S102 - our own file
    return ns


ns = load_agent()
with tb.Testbed(nreaders=2, bus=True, polkit=True) as bed:
    bed.softhsm.create_token('bench', SO_PIN, USER_PIN)
    bed.fixture.bind(bed.pcscd.readers[0], 'bench')
    bed.polkit.set_allowed(['org.jeton.Jeton1.provision', 'org.jeton.Jeton1.manage-orders'])
    profiles = bed.dir / 'profiles'
    profiles.mkdir()
    base = (jt.TOP / 'daemon/profiles/certigna-rgs2.profile').read_text()
    for alg in ALGORITHMS:
        text = base.replace('name = certigna-rgs2', f'name = bench-{alg}')
        text = text.replace('algorithm = rsa3072', f'algorithm = {alg}')
        (profiles / f'bench-{alg}.profile').write_text(text)

    jetond = jt.Jetond(bed.dir, bed.env(), [tb.FIXTURE_MODULE], extra=f'ProfileDirectories={profiles}\n')
    bed.card(0).insert()
    jetond.start(bed.bus)
    c = jt.Client(bed.bus.address)
    agent = ns['PinAgent'](bed.bus.address, USER_PIN)
    agent.register()
    serial = bed.softhsm.token_serial('bench')
    tb.wait_for(lambda: any(t['Serial'] == serial for t in c.tokens().values()), jt.TIMEOUT, 'token')

    print(f'jetond provisioning, Provision call -> order key-generated, {RUNS} runs each:')
    n = 0
    for alg in ALGORITHMS:
        times = []
        for _ in range(RUNS):
            n += 1
            ref = f'BENCH{n:06d}'
            path = ns['add_order'](c, ref, profile=f'bench-{alg}')
            mark = c.mark()
            t0 = time.monotonic()
            c.call(path, ns['ORDER'], 'Provision', GLib.Variant('(sa{sv})', (serial, {})))
            e = c.wait_event(lambda e: e.member == 'PropertiesChanged' and e.path == path
                             and e.args[1].get('State') == 'key-generated', mark, 120, f'{ref}')
            times.append(e.time - t0)
            # The job's end (and the rescan after it) before the next one.
            tb.wait_for(lambda: not any(t['State'] == 'busy' for t in c.tokens().values()), 60, 'idle')
        print(f'  {alg:8s} median {statistics.median(times) * 1000:8.1f} ms  '
              f'min {min(times) * 1000:8.1f}  max {max(times) * 1000:8.1f}')
    agent.close()
    c.close()
    jetond.stop(bed.bus)

print('token library alone (bench-keygen-csr):')
res = subprocess.run([str(tb.BUILDDIR / 'tests/bench/bench-keygen-csr')], capture_output=True, text=True)
print(res.stdout, res.stderr, end='')
