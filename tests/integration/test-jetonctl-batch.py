#!/usr/bin/python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""jetonctl batch (issue 5) against the real jetond on the test bed: start
with --init and random user PINs (the PIN mailer jetonctl creates, 0600,
never overwritten), watch (plain lines when not a terminal, one per token
done), status (--json is busctl's view of the Batch object), pause,
resume, cancel, install DIR (good, bad and skipped files), and PIN files
with a bad mode refused before anything reaches jetond.

jetonctl never reads the PIN mailer nor a PIN file: the random PINs must
appear in the mailer only, never in jetonctl's output.

Run through build/tests/integration/test-jetonctl-batch (it sets
JETON_BUILDDIR); JETOND and JETONCTL override the programs."""

import json
import os
import pty
import re
import select
import shutil
import stat
import subprocess
import sys
import time
import unittest
from pathlib import Path

sys.dont_write_bytecode = True
sys.path.insert(0, str(Path(__file__).resolve().parent))
import jetondtest as jt  # noqa: E402
from jetondtest import tb  # noqa: E402

JETONCTL = os.environ.get('JETONCTL', str(tb.BUILDDIR / 'jetonctl'))
TIMEOUT = jt.TIMEOUT
BATCH = 'org.jeton.Jeton1.Batch'
ORDER = 'org.jeton.Jeton1.Order'
ALL_ACTIONS = ['org.jeton.Jeton1.manage-orders', 'org.jeton.Jeton1.provision', 'org.jeton.Jeton1.install',
               'org.jeton.Jeton1.initialize']
SHIPPED_PROFILES = jt.TOP / 'daemon/profiles'
PROFILE = 'eidas-natural-person'

# Test PINs, handed to jetonctl in files only.
SO_PIN = '87654321'
USER_PIN = '135792'
LABELS = ['batch-a', 'batch-b', 'batch-c']

bed = None
daemon = None
files = None


def setUpModule():
    global bed, daemon, files
    bed = tb.Testbed(nreaders=3, polkit=True)
    bed.__enter__()
    try:
        for i, label in enumerate(LABELS):
            bed.softhsm.create_token(label, SO_PIN, USER_PIN)
            bed.fixture.bind(bed.pcscd.readers[i], label)
        bed.polkit.set_allowed(ALL_ACTIONS)
        profiles = bed.dir / 'profiles'
        profiles.mkdir()
        for p in SHIPPED_PROFILES.glob('*.profile'):
            shutil.copy(p, profiles)
        files = bed.dir / 'files'
        files.mkdir()
        daemon = jt.Jetond(bed.dir, bed.env(), [bed.fixture.module_path],
                           f'ProfileDirectories={profiles}\n').start(bed.bus)
    except BaseException:
        tearDownModule()
        raise


def tearDownModule():
    if daemon:
        rc = daemon.stop(bed.bus)
        if rc != 0:
            print(f'jetond exited with {rc}:\n{daemon.log_text()}', file=sys.stderr)
    if bed:
        bed.__exit__(None, None, None)


def busctl_json(*args):
    res = tb.run(['busctl', f'--address={bed.bus.address}', '--json=short', *args])
    return json.loads(res.stdout)


def get_all(path, interface):
    out = busctl_json('call', jt.BUS_NAME, path, 'org.freedesktop.DBus.Properties', 'GetAll', 's', interface)
    return {k: v['data'] for k, v in out['data'][0].items()}


def batches():
    out = busctl_json('get-property', jt.BUS_NAME, jt.ROOT, jt.MANAGER, 'Batches')
    return out['data']


def token_serials():
    out = busctl_json('call', jt.BUS_NAME, jt.ROOT, 'org.freedesktop.DBus.ObjectManager', 'GetManagedObjects')
    return [i[jt.TOKEN]['Serial']['data'] for i in out['data'][0].values() if jt.TOKEN in i]


def batch_props(path):
    return get_all(path, BATCH)


def order_props(reference):
    return get_all('/org/jeton/Jeton1/order/' + jt.path_encode(reference), ORDER)


def env():
    return bed.env(extra={'DBUS_SYSTEM_BUS_ADDRESS': bed.bus.address})


def jetonctl(*args, check=None, cwd=None):
    res = subprocess.run([JETONCTL, *args], env=env(), capture_output=True, text=True, timeout=120,
                         stdin=subprocess.DEVNULL, cwd=cwd)
    if check is not None and res.returncode != check:
        raise AssertionError(f'jetonctl {" ".join(args)}: exit {res.returncode}, expected {check}\n'
                             f'stdout: {res.stdout}\nstderr: {res.stderr}')
    return res


def secret_file(name, content, mode=0o600):
    p = files / name
    p.write_text(content + '\n')
    os.chmod(p, mode)
    return p


def orders_csv(name, references, profile=PROFILE):
    """profile '': the batch's --profile fills it in."""
    p = files / name
    p.write_text('reference,profile,validity_years,holder.given_name,holder.surname\n'
                 + ''.join(f'{ref},{profile},1,Marie,Dupont\n' for ref in references))
    return p


def started_path(out):
    m = re.search(r'^Started batch \S+ \((/org/jeton/Jeton1/batch/\S+)\)', out, re.M)
    assert m, out
    return m.group(1)


def read_until(fd, pattern, eof=False):
    """What the terminal shows until pattern (and, with eof, until it closes)."""
    captured = b''
    deadline = time.monotonic() + TIMEOUT
    while not re.search(pattern, captured) or eof:
        ready, _, _ = select.select([fd], [], [], max(deadline - time.monotonic(), 0))
        if not ready:
            raise AssertionError(f'no {pattern!r} on the terminal; got {captured!r}')
        try:
            chunk = os.read(fd, 4096)
        except OSError:
            chunk = b''
        if not chunk:
            if re.search(pattern, captured):
                break
            raise AssertionError(f'terminal closed before {pattern!r}; got {captured!r}')
        captured += chunk
    return captured


class TestUsage(unittest.TestCase):
    def test_usage(self):
        f = str(files / 'none.csv')
        for args in (('batch',), ('batch', 'frob'), ('batch', 'start'), ('batch', 'install'),
                     ('batch', 'status', 'a', 'b'),
                     ('batch', 'start', f, '--user-pin=random', '--init', '--so-pin-file=/x'),   # no --profile
                     ('batch', 'start', f, f'--profile={PROFILE}'),                              # no --user-pin
                     ('batch', 'start', f, f'--profile={PROFILE}', '--user-pin=random'),         # random needs --init
                     ('batch', 'start', f, f'--profile={PROFILE}', '--user-pin=random', '--init'),  # no SO PIN
                     ('batch', 'start', f, f'--profile={PROFILE}', '--user-pin=file:/x', '--pin-mailer=/y'),
                     ('batch', 'start', f, f'--profile={PROFILE}', '--user-pin=file:/x', '--label-template=x'),
                     ('batch', 'status', f'--profile={PROFILE}'), ('batch', 'pause', '--init'),
                     ('batch', 'status', '--so-pin-file=/x'), ('batch', 'start', f, '--pin-file=/x'),
                     ('batch', 'status', '--no-progress'),
                     ('order', 'list', '--name=x'), ('provision', 'X', '--init'), ('list', '--user-pin=random')):
            with self.subTest(args=args):
                jetonctl(*args, check=2)

    def test_pin_never_echoed(self):
        """A PIN given by mistake in place of random|file:F is refused and
        not repeated."""
        res = jetonctl('batch', 'start', str(files / 'none.csv'), f'--profile={PROFILE}', '--user-pin=4711',
                       check=2)
        self.assertNotIn('4711', res.stdout + res.stderr)


class TestBatchProfileDefault(unittest.TestCase):
    """Runs after TestBatch (one batch at a time)."""

    def test_orders_without_profile(self):
        """Orders that name no profile get the batch's --profile."""
        user_pin = secret_file('user-default', USER_PIN)
        orders = orders_csv('batch3.csv', ['JB-NOPROFILE-1'], profile='')
        res = jetonctl('batch', 'start', str(orders), f'--profile={PROFILE}', f'--user-pin=file:{user_pin}',
                       check=0)
        try:
            self.assertEqual(order_props('JB-NOPROFILE-1')['Profile'], PROFILE)
        finally:
            jetonctl('batch', 'cancel', started_path(res.stdout).rsplit('/', 1)[1], check=0)


class TestPinFiles(unittest.TestCase):
    def test_bad_modes_refused(self):
        orders = orders_csv('modes.csv', ['JB-MODE-1'])
        before = batches()
        so_bad = secret_file('so-644', SO_PIN, 0o644)
        so_good = secret_file('so-600', SO_PIN)
        user_bad = secret_file('user-640', USER_PIN, 0o640)
        mailer = files / 'modes-mailer.txt'
        res = jetonctl('batch', 'start', str(orders), f'--profile={PROFILE}', '--init', f'--so-pin-file={so_bad}',
                       '--user-pin=random', f'--pin-mailer={mailer}', check=6)
        self.assertIn('chmod 600', res.stderr)
        self.assertIn('SO PIN file', res.stderr)
        res = jetonctl('batch', 'start', str(orders), f'--profile={PROFILE}', f'--user-pin=file:{user_bad}',
                       check=6)
        self.assertIn('user PIN file', res.stderr)
        jetonctl('batch', 'start', str(orders), f'--profile={PROFILE}', '--init', f'--so-pin-file={so_good}',
                 '--user-pin=random', f'--pin-mailer={mailer}', f'--user-pin-file={user_bad}', check=2)
        res = jetonctl('batch', 'resume', f'--user-pin-file={user_bad}')
        self.assertIn(res.returncode, (3, 6), res.stderr)    # 3 when no batch exists yet
        # Nothing reached jetond, and no mailer was left behind.
        self.assertEqual(batches(), before)
        self.assertFalse(mailer.exists())


class TestBatch(unittest.TestCase):
    """One flow: batches run one at a time."""

    def test_flow(self):
        refs = ['JB-1', 'JB-2']
        orders = orders_csv('batch1.csv', refs)
        so = secret_file('so', SO_PIN)
        cwd = files / 'cwd'
        cwd.mkdir()

        # ---- start: --init, random PINs, the default mailer name.
        res = jetonctl('batch', 'start', str(orders), f'--profile={PROFILE}', '--init', f'--so-pin-file={so}',
                       '--user-pin=random', '--name=first', '--label-template=${reference}', check=0, cwd=cwd)
        path = started_path(res.stdout)
        mailer = cwd / 'pin-mailer-first.txt'
        self.assertIn(str(mailer.name), res.stdout)
        st = os.stat(mailer)
        self.assertEqual(stat.S_IMODE(st.st_mode), 0o600)
        self.assertEqual(st.st_uid, os.geteuid())
        props = batch_props(path)
        self.assertEqual(props['Name'], 'first')
        self.assertEqual(props['Profile'], PROFILE)
        self.assertTrue(props['Initialize'])
        self.assertEqual(props['Total'], 2)

        # One batch at a time: jetond refuses another, and the mailer that
        # jetonctl created for it (empty) is not left behind.
        other = orders_csv('batch-busy.csv', ['JB-BUSY'])
        res = jetonctl('batch', 'start', str(other), f'--profile={PROFILE}', '--init', f'--so-pin-file={so}',
                       '--user-pin=random', '--name=busy', cwd=cwd)
        self.assertNotEqual(res.returncode, 0)
        self.assertFalse((cwd / 'pin-mailer-busy.txt').exists())

        # ---- watch, not a terminal: plain lines until the batch is done.
        watch = subprocess.Popen([JETONCTL, 'batch', 'watch'], env=env(), stdin=subprocess.DEVNULL,
                                 stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        cards = [bed.card(0), bed.card(1)]
        for card in cards:
            card.insert()
        out, err = watch.communicate(timeout=TIMEOUT * 20)
        self.assertEqual(watch.returncode, 0, f'{out}\n{err}\n{daemon.log_text()}')
        self.assertNotIn('\033', out)
        self.assertNotIn('\r', out)

        props = batch_props(path)
        self.assertEqual(props['State'], 'done')
        self.assertEqual((props['Done'], props['Failed'], props['Remaining']), (2, 0, 0))
        by_ref = {a[0]: a for a in props['Assignments']}
        self.assertEqual(sorted(by_ref), refs)
        done_lines = [line for line in out.splitlines() if re.match(r'\d\d:\d\d:\d\d done ', line)]
        self.assertEqual(len(done_lines), 2, out)
        for ref in refs:
            _, serial, reader, state, _, _ = by_ref[ref]
            self.assertEqual(state, 'done')
            key = order_props(ref)['KeyId']
            line = next((line for line in done_lines if f' {ref} ' in line), None)
            self.assertIsNotNone(line, out)
            self.assertRegex(line, rf'^\d\d:\d\d:\d\d done    {ref} -> token {re.escape(serial)} '
                                   rf'\(reader "{re.escape(reader)}"\) key {re.escape(key[:8])}')
        progress = [line for line in out.splitlines() if re.match(r'\d\d:\d\d:\d\d reader "', line)]
        self.assertTrue(any(re.search(r': running \S+ \d+%$', line) for line in progress), out)
        self.assertRegex(out.splitlines()[-1], r'batch \S+ done: 2 done, 0 failed, 0 remaining of 2$')

        # ---- the mailer: one line per token, written by jetond only.
        lines = mailer.read_text().splitlines()
        self.assertEqual(len(lines), 2, lines)
        pins = []
        for line in lines:
            ref, serial, label, pin = line.split(';')
            self.assertEqual(serial, by_ref[ref][1])
            self.assertEqual(label, ref)                    # the label template
            self.assertRegex(pin, r'^\d{8}$')
            pins.append(pin)
        self.assertEqual(stat.S_IMODE(os.stat(mailer).st_mode), 0o600)
        for pin in pins:
            self.assertNotIn(pin, out + err + res.stdout + res.stderr)

        # A second run under the same name does not touch the mailer.
        before = mailer.read_bytes()
        res = jetonctl('batch', 'start', str(other), f'--profile={PROFILE}', '--init', f'--so-pin-file={so}',
                       '--user-pin=random', '--name=first', check=1, cwd=cwd)
        self.assertIn('Refusing to overwrite', res.stderr)
        self.assertEqual(mailer.read_bytes(), before)
        self.assertEqual(len(batches()), 1)

        # ---- status: --json is busctl's view; the text has the counts and table.
        shown = json.loads(jetonctl('batch', 'status', '--json', check=0).stdout)
        self.assertEqual(shown.pop('path'), path)
        self.assertEqual(shown, batch_props(path))
        batch_id = path.rsplit('/', 1)[1]
        for spec in (batch_id, path, 'first'):
            self.assertEqual(json.loads(jetonctl('batch', 'status', spec, '--json', check=0).stdout)['path'],
                             path)
        jetonctl('batch', 'status', 'no-such-batch', check=3)
        text = jetonctl('batch', 'status', check=0).stdout
        self.assertRegex(text, r'(?m)^ *State: done$')
        self.assertRegex(text, r'(?m)^ *Tokens: 2 done, 0 failed, 0 remaining of 2$')
        self.assertRegex(text, r'(?m)^ORDER +TOKEN +READER +STATE +DETAIL$')
        for ref in refs:
            self.assertRegex(text, rf'(?m)^{ref} +{re.escape(by_ref[ref][1])} +.* done +-$')
        for pin in pins:
            self.assertNotIn(pin, text)

        # A finished batch: watch says so at once.
        res = jetonctl('batch', 'watch', batch_id, check=0)
        self.assertIn('done: 2 done, 0 failed', res.stdout)

        self.install(path, refs, by_ref, cards)
        # No token in: the next batch must not take one of these.
        cards[0].remove()
        self.control()

    def install(self, path, refs, by_ref, cards):
        """install DIR: a good certificate for each order (one token present,
        one not), a certificate of no order, garbage, a skipped file."""
        ca = files / 'ca'
        ca.mkdir()
        certs = files / 'certs'
        certs.mkdir()
        tb.run(['openssl', 'req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes',
                '-keyout', ca / 'ca.key', '-out', ca / 'ca.pem', '-days', '30', '-subj', '/CN=Jeton Test CA'])
        for i, ref in enumerate(refs):
            ext = ['pem', 'crt'][i]
            tb.run(['openssl', 'x509', '-req', '-in', order_props(ref)['CsrPath'], '-CA', ca / 'ca.pem',
                    '-CAkey', ca / 'ca.key', '-CAcreateserial', '-days', '20', '-out', certs / f'{ref}.{ext}'])
        tb.run(['openssl', 'req', '-new', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes',
                '-keyout', ca / 'other.key', '-out', ca / 'other.csr', '-subj', '/CN=Other'])
        tb.run(['openssl', 'x509', '-req', '-in', ca / 'other.csr', '-CA', ca / 'ca.pem', '-CAkey', ca / 'ca.key',
                '-CAcreateserial', '-days', '5', '-outform', 'DER', '-out', certs / 'other.der'])
        (certs / 'garbage.cer').write_bytes(b'not a certificate\n')
        (certs / 'notes.txt').write_text('skip me\n')

        # The second order's token is out: its certificate waits for it.
        serial_out = by_ref[refs[1]][1]
        cards[1].remove()
        tb.wait_for(lambda: serial_out not in token_serials(), TIMEOUT, 'jetond to see the token go')
        res = jetonctl('batch', 'install', str(certs), check=1)
        lines = {line.split(': ', 1)[0]: line.split(': ', 1)[1] for line in res.stdout.splitlines()}
        self.assertEqual(sorted(lines), sorted(str(certs / n) for n in
                                                (f'{refs[0]}.pem', f'{refs[1]}.crt', 'other.der', 'garbage.cer')))
        self.assertRegex(lines[str(certs / f'{refs[0]}.pem')],
                         rf'^(installed on the token of order|waiting for token: order) {refs[0]}')
        self.assertRegex(lines[str(certs / f'{refs[1]}.crt')], rf'^waiting for token: order {refs[1]}')
        self.assertTrue(lines[str(certs / 'other.der')].startswith('error'), res.stdout)
        self.assertTrue(lines[str(certs / 'garbage.cer')].startswith('error'), res.stdout)
        self.assertIn('notes.txt: skipped', res.stderr)
        self.assertIn('2 of 4 certificates not accepted', res.stderr)
        self.assertIn(order_props(refs[1])['State'], ('certificate-received',))

        # JSON: one entry per file, jetond's result as it is.
        res = jetonctl('batch', 'install', str(certs), '--json=short')
        entries = json.loads(res.stdout)
        self.assertEqual(len(entries), 4)
        self.assertTrue(all(set(e) == {'file', 'reference', 'order', 'result'} for e in entries))
        jetonctl('batch', 'install', str(files / 'no-such-dir'), check=1)

    def control(self):
        """pause, resume, cancel on a batch that waits for tokens."""
        user_pin = secret_file('user', USER_PIN)
        orders = orders_csv('batch2.csv', ['JB-CTL-1'])
        res = jetonctl('batch', 'start', str(orders), f'--profile={PROFILE}', f'--user-pin=file:{user_pin}',
                       '--name=second', check=0)
        path = started_path(res.stdout)
        self.assertNotIn('PIN mailer', res.stdout)
        self.assertEqual(batch_props(path)['State'], 'running')
        # The latest batch is the default.
        self.assertEqual(json.loads(jetonctl('batch', 'status', '--json', check=0).stdout)['path'], path)

        res = jetonctl('batch', 'pause', check=0)
        self.assertIn('Paused batch', res.stdout)
        self.assertEqual(batch_props(path)['State'], 'paused')
        self.assertRegex(jetonctl('batch', 'status', check=0).stdout, r'(?m)^ *State: paused$')

        bad = secret_file('user-bad', USER_PIN, 0o604)
        jetonctl('batch', 'resume', f'--user-pin-file={bad}', check=6)
        self.assertEqual(batch_props(path)['State'], 'paused')
        res = jetonctl('batch', 'resume', 'second', f'--user-pin-file={user_pin}', check=0)
        self.assertIn('Resumed batch', res.stdout)
        self.assertEqual(batch_props(path)['State'], 'running')

        # watch follows it to its cancellation: exit 7; on a terminal too,
        # where the block of readers is redrawn in place.
        tty_pid, tty_fd = pty.fork()
        if tty_pid == 0:
            try:
                os.execve(JETONCTL, [JETONCTL, 'batch', 'watch', path], env())
            finally:
                os._exit(127)
        tty_out = read_until(tty_fd, rb'is running: ')
        watch = subprocess.Popen([JETONCTL, 'batch', 'watch', path], env=env(), stdin=subprocess.DEVNULL,
                                 stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        # The watch has read the batch once it printed its first line.
        first = watch.stdout.readline()
        self.assertRegex(first, r'batch \S+ is running: 0 done, 0 failed, 1 remaining of 1')
        res = jetonctl('batch', 'cancel', check=0)
        self.assertIn('Cancelled batch', res.stdout)
        out, err = watch.communicate(timeout=TIMEOUT * 3)
        self.assertEqual(watch.returncode, 7, f'{first}{out}\n{err}')
        tty_out += read_until(tty_fd, rb'cancelled: ', eof=True)
        _, status = os.waitpid(tty_pid, 0)
        os.close(tty_fd)
        self.assertEqual(os.waitstatus_to_exitcode(status), 7, tty_out)
        nreaders = len(bed.pcscd.readers)
        # The block: one line per reader, then erased (up N lines, clear) and drawn again.
        self.assertIn(f'\x1b[{nreaders}A\r\x1b[J'.encode(), tty_out)
        for reader in bed.pcscd.readers:
            self.assertRegex(tty_out, rb'(?m)^' + re.escape(reader.encode()) + rb' +- +- +waiting for a token\r?$')
        self.assertRegex(out.splitlines()[-1], r'batch \S+ cancelled: ')
        self.assertEqual(batch_props(path)['State'], 'cancelled')
        self.assertEqual(order_props('JB-CTL-1')['State'], 'pending')
        jetonctl('batch', 'pause', path, check=1)



if __name__ == '__main__':
    unittest.main(verbosity=2)
