#!/usr/bin/python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""A batch of 8 orders through jetond with N readers working at once
(N = 1, 2, 4, 8), each keygen slowed to a real card's 2 s by the fixture
module: wall time from StartBatch to Done = 8. A card goes in as soon as a
reader is free (a token done comes out first). Tokens are SoftHSM's behind
the fixture, P-256 keys, one user PIN given by fd. Prints figures; asserts
nothing about time."""

import concurrent.futures
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / 'integration'))
import jetondtest as jt  # noqa: E402
from jetondtest import tb, Gio, GLib  # noqa: E402

ORDERS = 8
LATENCY_MS = int(os.environ.get('JETON_BENCH_LATENCY_MS', '2000'))
SO_PIN, USER_PIN = 'so-1234', 'pin-123456'
PROFILE = 'bench-p256'
BATCH = 'org.jeton.Jeton1.Batch'


def run(n_readers):
    with tb.Testbed(nreaders=ORDERS, bus=True, polkit=True) as bed:
        for i in range(ORDERS):
            bed.softhsm.create_token(f'bench-{i}', SO_PIN, USER_PIN)
            bed.fixture.bind(bed.pcscd.readers[i], f'bench-{i}')
        bed.fixture.latency('C_GenerateKeyPair', LATENCY_MS)
        bed.polkit.set_allowed(['org.jeton.Jeton1.provision', 'org.jeton.Jeton1.manage-orders'])
        profiles = bed.dir / 'profiles'
        profiles.mkdir()
        text = (jt.TOP / 'daemon/profiles/certigna-rgs2.profile').read_text()
        (profiles / f'{PROFILE}.profile').write_text(text.replace('name = certigna-rgs2', f'name = {PROFILE}')
                                                     .replace('algorithm = rsa3072', 'algorithm = p256'))
        jetond = jt.Jetond(bed.dir, bed.env(), [tb.FIXTURE_MODULE], extra=f'ProfileDirectories={profiles}\n')
        jetond.start(bed.bus)
        c = jt.Client(bed.bus.address)
        cards = [bed.card(i) for i in range(ORDERS)]

        rows = ['reference,profile,validity_years,holder.given_name,holder.surname,organisation.name,'
                'organisation.siret']
        rows += [f'BENCH{i:04d},{PROFILE},1,Jean{i},Martin,ACME,12345678200002' for i in range(ORDERS)]
        r, w = os.pipe()
        os.write(w, ('\n'.join(rows) + '\n').encode())
        os.close(w)
        pin = bed.dir / 'pin'
        pin.write_text(USER_PIN + '\n')
        pin.chmod(0o600)
        fds = Gio.UnixFDList.new_from_array([r, os.open(pin, os.O_RDONLY)])
        opts = {'profile': GLib.Variant('s', PROFILE), 'user-pin': GLib.Variant('s', 'fd'),
                'user-pin-fd': GLib.Variant('h', 1)}

        t0 = time.monotonic()
        res, _ = c.conn.call_with_unix_fd_list_sync(jt.BUS_NAME, jt.ROOT, jt.MANAGER, 'StartBatch',
                                                     GLib.Variant('(hsa{sv})', (0, 'csv', opts)), None,
                                                     Gio.DBusCallFlags.NONE, -1, fds, None)
        batch = res.unpack()[0]
        serials = [bed.softhsm.token_serial(f'bench-{i}') for i in range(ORDERS)]
        inserted, removed, pending = [], set(), []
        # The operator's hands: cards go in at the same time on free readers
        # (threads that live as long as the cards, which die with them).
        with concurrent.futures.ThreadPoolExecutor(max_workers=ORDERS) as hands:
            while True:
                props = c.get_all(batch, BATCH)
                if props['Done'] + props['Failed'] == ORDERS:
                    break
                done_serials = {a[1] for a in props['Assignments'] if a[0] and a[3] in ('done', 'failed')}
                for i in inserted:
                    if i not in removed and serials[i] in done_serials:
                        pending.append(hands.submit(cards[i].remove))   # the reader is free again
                        removed.add(i)
                while len(inserted) < ORDERS and len(inserted) - len(removed) < n_readers:
                    pending.append(hands.submit(cards[len(inserted)].insert))
                    inserted.append(len(inserted))
                time.sleep(0.02)
            wall = time.monotonic() - t0
            for f in pending:
                f.result()
        failed = props['Failed']
        for a in props['Assignments']:
            if a[3] == 'failed':
                print(f'    failed: {a}', flush=True)
        c.close()
        jetond.stop(bed.bus)
        return wall, failed


print(f'jetond batch of {ORDERS} orders, keygen latency {LATENCY_MS} ms per card, P-256 on SoftHSM behind '
      f'the fixture; wall time StartBatch -> Done = {ORDERS}:')
print(f'  {"readers":>7}  {"wall s":>8}  {"speed-up":>8}  {"failed":>6}')
base = None
for n in [int(x) for x in os.environ.get('JETON_BENCH_READERS', '1 2 4 8').split()]:
    wall, failed = run(n)
    base = base or wall
    print(f'  {n:7d}  {wall:8.2f}  {base / wall:8.2f}  {failed:6d}', flush=True)
