#!/usr/bin/python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""Batches (issue 5) against the real jetond: SoftHSM tokens behind the
fixture module in 12 vicc readers of one pcscd, each keygen slowed to a
real card's 2 s, a private bus and polkit.

Batch 1 initialises 8 tokens (random user PINs to a PIN-mailer file) in
two waves of 4 readers and provisions 8 orders; checked with independent
tools: openssl (every request verifies), pkcs11-tool (each mailer PIN
opens its token and shows the key the manifest names), tar (the archive),
the store's bytes, the log and /proc/*/cmdline (no PIN anywhere else).
Batch 2 (one user PIN by fd) loses a card mid-keygen (the order goes to
another token) and the daemon mid-keygen (SIGKILL: back paused, Resume
with the PIN, finished), and no order ever has keys on two tokens.
InstallCertificates matches CA-signed certificates to their orders."""

import csv
import json
import os
import re
import signal
import sys
import threading
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import jetondtest as jt  # noqa: E402
from jetondtest import tb, Gio, GLib  # noqa: E402

SO_PIN = 'so-5c2b91ab'
OLD_PIN = 'old-8d1e22'
USER_PIN = 'batch-pin-40c7'      # batch 2's one PIN, searched for too
BATCH = 'org.jeton.Jeton1.Batch'
ORDER = 'org.jeton.Jeton1.Order'
TIMEOUT = jt.TIMEOUT * 4
PROFILE = 'batch-p256'


def orders_csv(refs):
    lines = ['reference,profile,validity_years,holder.given_name,holder.surname,holder.email,'
             'organisation.name,organisation.siret']
    for i, ref in enumerate(refs):
        lines.append(f'{ref},{PROFILE},1,Jeanne{i},Durand,j{i}@example.fr,Société Test,12345678200002')
    return ('\n'.join(lines) + '\n').encode()


def secret_file(name, data=b''):
    f = bed.dir / name
    fd = os.open(f, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    os.write(fd, data)
    os.close(fd)
    return f


def call_fds(c, path, iface, method, fmt, args, fds, timeout=jt.TIMEOUT):
    fdlist = Gio.UnixFDList.new_from_array(fds)        # takes the fds over
    res, _ = c.conn.call_with_unix_fd_list_sync(jt.BUS_NAME, path, iface, method, GLib.Variant(fmt, args),
                                                 None, Gio.DBusCallFlags.NONE, int(timeout * 1000), fdlist, None)
    return res.unpack()


def start_batch(c, refs, options, files):
    """options: {key: value}; files: {key: (path, flags)} passed as fds."""
    r, w = os.pipe()
    os.write(w, orders_csv(refs))
    os.close(w)
    fds = [r]
    opts = {k: GLib.Variant('s' if isinstance(v, str) else 'b', v) for k, v in options.items()}
    for key, (path, flags) in files.items():
        opts[key] = GLib.Variant('h', len(fds))
        fds.append(os.open(path, flags))
    return call_fds(c, jt.ROOT, jt.MANAGER, 'StartBatch', '(hsa{sv})', (0, 'csv', opts), fds)[0]


def resume(c, batch, files):
    fds, opts = [], {}
    for key, (path, flags) in files.items():
        opts[key] = GLib.Variant('h', len(fds))
        fds.append(os.open(path, flags))
    return call_fds(c, batch, BATCH, 'Resume', '(a{sv})', (opts,), fds)


def dbus_error(fn, *args):
    try:
        fn(*args)
    except GLib.Error as e:
        return Gio.DBusError.get_remote_error(e), e.message
    raise AssertionError(f'{fn.__name__} did not fail')


def wait_batch(c, batch, check, what, timeout=TIMEOUT):
    tb.wait_for(lambda: check(c.get_all(batch, BATCH)), timeout, what, interval=0.1)
    return c.get_all(batch, BATCH)


def orders_of(props):
    return [a for a in props['Assignments'] if a[0]]


def p11(label, pin, *args):
    env = bed.env({'JETON_TEST_PIN': pin}, tool=True)
    return tb.run(['pkcs11-tool', '--module', tb.SOFTHSM_MODULE, '--token-label', label, '--login',
                   '--pin', 'env:JETON_TEST_PIN', *args], env=env, check=False)


def private_keys(label, pin):
    res = p11(label, pin, '-O', '--type', 'privkey')
    assert res.returncode == 0, (label, res.stderr)
    keys = []
    for block in res.stdout.split('Private Key Object')[1:]:
        lab = re.search(r'label:\s*(.*)', block)
        ident = re.search(r'ID:\s*([0-9a-f]+)', block)
        keys.append((lab.group(1).strip() if lab else '', ident.group(1) if ident else ''))
    return keys


def cmdline_watch(stop, secrets, found):
    while not stop.is_set():
        for p in Path('/proc').iterdir():
            if p.name.isdigit():
                try:
                    line = (p / 'cmdline').read_bytes()
                except OSError:
                    continue
                found.extend(p.name for s in list(secrets) if s in line)
        stop.wait(0.005)


with tb.Testbed(nreaders=12, bus=True, polkit=True) as bed:
    for i in range(8):
        bed.softhsm.create_token(f'blank-{i}', SO_PIN, OLD_PIN)
        bed.fixture.bind(bed.pcscd.readers[i], f'blank-{i}')
    for i in range(3):
        bed.softhsm.create_token(f'fix-{i}', SO_PIN, USER_PIN)
        bed.fixture.bind(bed.pcscd.readers[8 + i], f'fix-{i}')
    bed.fixture.latency('C_GenerateKeyPair', 2000)
    profiles = bed.dir / 'profiles'
    profiles.mkdir()
    text = (jt.TOP / 'daemon/profiles/certigna-rgs2.profile').read_text()
    (profiles / f'{PROFILE}.profile').write_text(
        text.replace('name = certigna-rgs2', f'name = {PROFILE}').replace('algorithm = rsa3072', 'algorithm = p256'))
    CA_KEY, CA_PEM = bed.dir / 'ca.key', bed.dir / 'ca.pem'
    tb.run(['openssl', 'req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', CA_KEY, '-out', CA_PEM,
            '-subj', '/C=FR/O=Jeton Test CA/CN=Jeton Test CA', '-days', '30'])

    secrets = [SO_PIN.encode(), USER_PIN.encode()]
    argv_hits = []
    stop_watch = threading.Event()
    watcher = threading.Thread(target=cmdline_watch, args=(stop_watch, secrets, argv_hits), daemon=True)
    watcher.start()

    jetond = jt.Jetond(bed.dir, bed.env(), [tb.FIXTURE_MODULE], extra=f'ProfileDirectories={profiles}\n')
    jetond.start(bed.bus)
    c = jt.Client(bed.bus.address)
    outbox = Path(c.manager('Outbox'))
    cards = [bed.card(i) for i in range(11)]

    so_file = secret_file('so-pin', SO_PIN.encode() + b'\n')
    mailer = secret_file('pin-mailer')
    refs1 = [f'BATCH{i:04d}' for i in range(1, 9)]
    files1 = {'so-pin-fd': (so_file, os.O_RDONLY), 'pin-mailer-fd': (mailer, os.O_WRONLY | os.O_APPEND)}
    options1 = {'profile': PROFILE, 'initialize': True, 'user-pin': 'random', 'name': 'first'}

    # -- polkit: no initialize action, no batch (and no order imported)
    bed.polkit.set_allowed(['org.jeton.Jeton1.provision', 'org.jeton.Jeton1.manage-orders'])
    err, msg = dbus_error(start_batch, c, refs1, options1, files1)
    assert err == 'org.jeton.Jeton1.Error.PermissionDenied' and 'initialize' in msg, (err, msg)
    assert c.manager('Batches') == [], c.manager('Batches')
    bed.polkit.set_allowed(['org.jeton.Jeton1.provision', 'org.jeton.Jeton1.manage-orders',
                            'org.jeton.Jeton1.initialize', 'org.jeton.Jeton1.install'])
    err, msg = dbus_error(start_batch, c, refs1, dict(options1, **{'user-pin': 'fd'}), files1)
    assert err == 'org.jeton.Jeton1.Error.InvalidArgument', (err, msg)
    print('ok: StartBatch refused without the initialize action, and without a user PIN')

    # -- batch 1: 8 orders, 8 tokens initialised with random PINs, two waves of 4 readers
    batch1 = start_batch(c, refs1, options1, files1)
    props = c.get_all(batch1, BATCH)
    assert props['State'] == 'running' and props['Total'] == 8 and props['Remaining'] == 8, props
    assert c.manager('Batches') == [batch1]
    err, _ = dbus_error(start_batch, c, ['OTHER0001'], options1, files1)
    assert err == 'org.jeton.Jeton1.Error.Busy', err
    for i in range(4):
        cards[i].insert()
    props = wait_batch(c, batch1, lambda p: p['Done'] + p['Failed'] >= 4, '4 tokens done')
    assert props['Failed'] == 0, props['Assignments']
    for i in range(4):
        cards[i].remove()
    for i in range(4, 8):
        cards[i].insert()
    props = wait_batch(c, batch1, lambda p: p['State'] == 'done', 'batch 1 done')
    assert props['Done'] == 8 and props['Failed'] == 0 and props['Remaining'] == 0, props
    assert props['Operator'] == 'root' and props['Finished'] > 0, props
    serial_of = {bed.softhsm.token_serial(f'{r}'): r for r in refs1}       # labels are the references now
    got = {a[0]: a[1] for a in orders_of(props)}
    assert sorted(got) == refs1 and all(serial_of[s] == ref for ref, s in got.items()), (got, serial_of)
    assert len(set(got.values())) == 8
    print('ok: batch 1: 8 tokens initialised and provisioned, labelled with their orders, one order each')

    # PIN mailer: one line per token, each PIN opens its token and shows its key
    lines = mailer.read_text().splitlines()
    assert len(lines) == 8, lines
    assert oct(mailer.stat().st_mode & 0o777) == '0o600'
    manifest = list(csv.DictReader(open(props['ManifestCsv'], newline='')))
    manifest_json = json.loads(Path(props['ManifestJson']).read_text())
    assert [m['reference'] for m in manifest] == [m['reference'] for m in manifest_json]
    assert sorted(m['reference'] for m in manifest) == refs1
    by_ref = {m['reference']: m for m in manifest}
    random_pins = []
    for line in lines:
        ref, serial, label, pin = line.split(';')
        assert re.fullmatch(r'[0-9]{8}', pin), 'random PIN not 8 digits'
        assert got[ref] == serial and label == ref, (line.split(';')[:3], got)
        random_pins.append(pin)
        secrets.append(pin.encode())
        keys = private_keys(label, pin)
        assert keys == [(ref, by_ref[ref]['key_id'])], (keys, by_ref[ref])
        assert p11(label, OLD_PIN, '-O').returncode != 0, 'the old PIN still opens the token'
        m, mj = by_ref[ref], next(x for x in manifest_json if x['reference'] == ref)
        assert m['token_serial'] == serial and m['token_label'] == label and m['operator'] == 'root', m
        assert m['local'] == m['always_sensitive'] == m['never_extractable'] == 'true', m
        assert mj['evidence'] == {'local': True, 'always_sensitive': True, 'never_extractable': True}, mj
        assert mj['key_id'] == m['key_id'] and mj['csr_file'] == m['csr_file'], (m, mj)
        assert re.fullmatch(r'\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ', m['time']), m
        res = tb.run(['openssl', 'req', '-in', m['csr_file'], '-verify', '-noout'], check=False)
        assert res.returncode == 0 and 'verify OK' in res.stdout + res.stderr, res.stderr
        assert Path(m['csr_file']).read_text() == c.get(jt.ROOT + '/order/' + ref, ORDER, 'Csr')
    assert len(set(random_pins)) == 8
    listing = tb.run(['tar', '-tvf', props['Archive']]).stdout.split('\n')
    assert sorted(line.split()[-1] for line in listing if line) == sorted(f'{r}.csr' for r in refs1), listing
    assert Path(props['Archive']).parent == outbox / 'batch-1'
    print('ok: PIN mailer (one 8-digit PIN per token, each opens it), manifest CSV/JSON = tokens, '
          'requests verify, archive')

    # -- InstallCertificates: each CA-signed certificate finds its order, installed on its token.
    # C_InitToken moved the fixture's bindings to the new labels in jetond's
    # instance only: the config says so too before its next re-initialisation.
    label_of_reader = {a[2]: a[0] for a in orders_of(props)}
    bed.fixture.bindings = [(r, label_of_reader.get(r, t)) for r, t in bed.fixture.bindings]
    bed.fixture.write()
    for i in range(4, 8):
        cards[i].remove()
    certs = []
    for ref in refs1:
        out = bed.dir / f'{ref}.pem'
        tb.run(['openssl', 'x509', '-req', '-in', by_ref[ref]['csr_file'], '-CA', CA_PEM, '-CAkey', CA_KEY,
                '-CAcreateserial', '-days', '30', '-copy_extensions', 'copy', '-out', out])
        certs.append(out)
    junk = bed.dir / 'junk.pem'
    junk.write_bytes(CA_PEM.read_bytes())           # a certificate of no order
    results = call_fds(c, jt.ROOT, jt.MANAGER, 'InstallCertificates', '(aha{sv})',
                       (list(range(9)), {}), [os.open(f, os.O_RDONLY) for f in certs + [junk]])[0]
    for ref, (rref, path, outcome) in zip(refs1, results[:8]):
        assert (rref, path, outcome) == (ref, jt.ROOT + '/order/' + ref, 'waiting-for-token'), (ref, rref, path,
                                                                                                 outcome)
    assert results[8][0] == '' and results[8][2].startswith('org.jeton.Jeton1.Error.CertificateMismatch'), results[8]
    for i in range(8):
        cards[i].insert()
    for ref in refs1:
        tb.wait_for(lambda: c.get(jt.ROOT + '/order/' + ref, ORDER, 'State') == 'installed', TIMEOUT,
                    f'{ref} installed', interval=0.1)
    print('ok: InstallCertificates: every certificate matched to its order and installed; a stray one refused')

    # -- batch 2: one user PIN; a card pulled mid-keygen, then jetond killed mid-keygen
    jetond.stop(bed.bus)
    bed.fixture.hold('C_GenerateKeyPair')
    jetond.start(bed.bus)
    pin_file = secret_file('user-pin', USER_PIN.encode() + b'\n')
    refs2 = ['LATER0001', 'LATER0002', 'LATER0003']
    batch2 = start_batch(c, refs2, {'profile': PROFILE, 'user-pin': 'fd'}, {'user-pin-fd': (pin_file, os.O_RDONLY)})
    held = len(bed.fixture.calls('C_GenerateKeyPair', pid=jetond.pid))
    cards[8].insert()
    cards[9].insert()
    bed.fixture.wait_call('C_GenerateKeyPair', held + 2, pid=jetond.pid, timeout=TIMEOUT)
    props = c.get_all(batch2, BATCH)
    pulled = next(a for a in orders_of(props) if a[1] == bed.softhsm.token_serial('fix-0'))
    cards[8].remove()
    bed.fixture.release('C_GenerateKeyPair')
    props = wait_batch(c, batch2, lambda p: p['Done'] == 1, 'one order of batch 2 done')
    skipped = {a[1] for a in props['Assignments'] if not a[0] and a[4].endswith(': not used')}
    assert skipped == set(got.values()), (skipped, props['Assignments'])   # batch 1's tokens, still in
    notes = [a for a in props['Assignments'] if a[0] == pulled[0] and 'pulled during the key generation' in a[4]]
    assert notes, props['Assignments']
    assert [a for a in orders_of(props) if a[0] == pulled[0]][0][3] == 'queued', props['Assignments']
    print('ok: a card pulled mid-keygen: its order back in the queue, the operator told')

    bed.fixture.hold('C_GenerateKeyPair')
    held = len(bed.fixture.calls('C_GenerateKeyPair', pid=jetond.pid))
    cards[10].insert()
    bed.fixture.wait_call('C_GenerateKeyPair', held + 1, pid=jetond.pid, timeout=TIMEOUT)
    jetond.process.stop(signal.SIGKILL)
    bed.fixture.release('C_GenerateKeyPair')
    tb.wait_for(lambda: not bed.bus.has_name(jt.BUS_NAME), jt.TIMEOUT, 'the name to go')
    jetond.start(bed.bus)
    props = c.get_all(batch2, BATCH)
    assert props['State'] == 'paused' and 'PIN' in props['Detail'], props
    fix2 = bed.softhsm.token_serial('fix-2')
    cut = [a for a in orders_of(props) if a[1] == fix2]
    assert cut and cut[0][3] == 'failed' and f'reinsert token {fix2}' in cut[0][4], props['Assignments']
    err, _ = dbus_error(resume, c, batch2, {})
    assert err == 'org.jeton.Jeton1.Error.InvalidArgument', err
    resume(c, batch2, {'user-pin-fd': (pin_file, os.O_RDONLY)})
    props = wait_batch(c, batch2, lambda p: p['Done'] == 2, 'the cut order finished on its token')
    cards[8].insert()
    props = wait_batch(c, batch2, lambda p: p['State'] == 'done', 'batch 2 done')
    assert props['Done'] == 3 and props['Failed'] == 0, props['Assignments']
    print('ok: jetond killed mid-keygen: batch back paused, Resume with the PIN, finished on the same token')

    # -- no order has keys on two tokens
    holders = {}
    for ref in refs1:
        line = next(x for x in lines if x.startswith(ref + ';'))
        for label, _ in private_keys(ref, line.split(';')[3]):
            holders.setdefault(label, []).append(ref)
    for i in range(3):
        for label, _ in private_keys(f'fix-{i}', USER_PIN):
            holders.setdefault(label, []).append(f'fix-{i}')
    assert sorted(holders) == sorted(refs1 + refs2), holders
    assert all(len(v) == 1 for v in holders.values()), holders
    print('ok: every order has its key on exactly one token')

    stop_watch.set()
    watcher.join()
    rc = jetond.stop(bed.bus)
    c.close()
    assert not argv_hits, f'a PIN on the command line of {argv_hits}'
    log = jetond.log.read_bytes()
    for f in list(jetond.dir.glob(f'{jetond.name}-state/**/*')):
        if f.is_file():
            data = f.read_bytes()
            for s in secrets:
                assert s not in data, f'a PIN in {f}'
    for s in secrets:
        assert s not in log, 'a PIN in the log'
    assert rc == 0, f'jetond exited with {rc}'
    print('ok: no PIN in the store, the outbox, the log or any command line')
