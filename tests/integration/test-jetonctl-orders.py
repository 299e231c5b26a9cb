#!/usr/bin/python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""jetonctl's issue-4 verbs against the real jetond on the test bed: order
add/import/list/show/cancel, provision (PIN from a pipe, a file, a
terminal), install, audit verify. What jetonctl says is checked against
busctl (another client), openssl (the CSR) and pkcs11-tool (the token).

The PIN never reaches jetonctl's argv: every run is checked through
/proc/PID/cmdline while it waits for the PIN, and on a terminal the PIN
typed must not be echoed.

Run through build/tests/integration/test-jetonctl-orders (it sets
JETON_BUILDDIR); JETOND and JETONCTL override the programs."""

import json
import os
import pty
import re
import select
import shutil
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
ORDER = 'org.jeton.Jeton1.Order'
ALL_ACTIONS = ['org.jeton.Jeton1.manage-orders', 'org.jeton.Jeton1.provision', 'org.jeton.Jeton1.install',
               'org.jeton.Jeton1.initialize']
SHIPPED_PROFILES = jt.TOP / 'daemon/profiles'

# Test PINs: jetonctl gets them through a pipe, a file or a terminal.
SO_PIN = '87654321'
USER_PIN = '135792'
LABEL = 'holder-1'

bed = None
daemon = None
state = None


def setUpModule():
    global bed, daemon, state
    bed = tb.Testbed(nreaders=2, polkit=True)
    bed.__enter__()
    try:
        bed.softhsm.create_token(LABEL, SO_PIN, USER_PIN)
        bed.fixture.bind(bed.pcscd.readers[0], LABEL)
        bed.polkit.set_allowed(ALL_ACTIONS)
        state = bed.dir / 'state'
        profiles = bed.dir / 'profiles'
        profiles.mkdir()
        for p in SHIPPED_PROFILES.glob('*.profile'):
            shutil.copy(p, profiles)
        bed.card(0).insert()
        daemon = jt.Jetond(bed.dir, bed.env(), [bed.fixture.module_path],
                           f'StateDirectory={state}\nProfileDirectories={profiles}\n').start(bed.bus)
        tb.wait_for(lambda: any(p.get('Label') == LABEL for p in tokens().values()), TIMEOUT,
                    'the token to show')
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


def managed():
    out = busctl_json('call', jt.BUS_NAME, jt.ROOT, 'org.freedesktop.DBus.ObjectManager', 'GetManagedObjects')
    return out['data'][0]


def tokens():
    return {p: {k: v['data'] for k, v in i[jt.TOKEN].items()} for p, i in managed().items() if jt.TOKEN in i}


def order_props(reference):
    path = '/org/jeton/Jeton1/order/' + jt.path_encode(reference)
    out = busctl_json('call', jt.BUS_NAME, path, 'org.freedesktop.DBus.Properties', 'GetAll', 's', ORDER)
    return {k: v['data'] for k, v in out['data'][0].items()}


def env():
    return bed.env(extra={'DBUS_SYSTEM_BUS_ADDRESS': bed.bus.address})


def jetonctl(*args, check=None, pass_fds=(), input=None):
    res = subprocess.run([JETONCTL, *args], env=env(), capture_output=True, text=True, timeout=120,
                         stdin=subprocess.DEVNULL if input is None else None, input=input, pass_fds=pass_fds)
    if check is not None and res.returncode != check:
        raise AssertionError(f'jetonctl {" ".join(args)}: exit {res.returncode}, expected {check}\n'
                             f'stdout: {res.stdout}\nstderr: {res.stderr}')
    return res


def add_order(reference, *extra, check=0):
    return jetonctl('order', 'add', f'--reference={reference}', '--profile=eidas-natural-person',
                    '--given-name=Marie', '--surname=Dupont', '--validity=2', '--email=marie@example.fr', *extra,
                    check=check)


class TestOrders(unittest.TestCase):
    def test_add_list_show_cancel(self):
        res = add_order('JC-ADD-1')
        self.assertIn('Added order JC-ADD-1', res.stdout)
        props = order_props('JC-ADD-1')
        self.assertEqual(props['State'], 'pending')
        self.assertEqual(props['GivenName'], 'Marie')
        self.assertEqual(props['ValidityYears'], 2)

        # list: a table row with the reference, profile, holder, state.
        out = jetonctl('order', 'list', check=0).stdout
        lines = out.splitlines()
        self.assertEqual(lines[0].split(), ['REFERENCE', 'PROFILE', 'HOLDER', 'ORGANISATION', 'STATE', 'TOKEN',
                                            'UPDATED'])
        row = next(line for line in lines if line.startswith('JC-ADD-1 '))
        for cell in ('eidas-natural-person', 'Marie Dupont', 'pending'):
            self.assertIn(cell, row)
        # --json is busctl's view.
        listed = json.loads(jetonctl('order', 'list', '--json', check=0).stdout)
        mine = next(o for o in listed if o['Reference'] == 'JC-ADD-1')
        self.assertEqual({k: v for k, v in mine.items() if k != 'path'}, props)
        # --state filters.
        pending = json.loads(jetonctl('order', 'list', '--state=pending', '--json', check=0).stdout)
        self.assertTrue(all(o['State'] == 'pending' for o in pending))
        self.assertIn('JC-ADD-1', [o['Reference'] for o in pending])
        jetonctl('order', 'list', '--state=bogus', check=2)

        show = jetonctl('order', 'show', 'JC-ADD-1', check=0).stdout
        self.assertRegex(show, r'(?m)^ *Reference: JC-ADD-1$')
        self.assertRegex(show, r'(?m)^ *State: pending$')
        self.assertRegex(show, r'(?m)^ *Validity: 2 years$')
        self.assertRegex(show, r'(?m)^ *Email: marie@example.fr$')
        shown = json.loads(jetonctl('order', 'show', 'JC-ADD-1', '--json', check=0).stdout)
        self.assertEqual(shown.pop('path'), '/org/jeton/Jeton1/order/JC_2dADD_2d1')
        self.assertEqual(shown, props)

        # Duplicate: jetond's Exists, exit 1.
        res = add_order('JC-ADD-1', check=1)
        self.assertIn('JC-ADD-1', res.stderr)

        res = jetonctl('order', 'cancel', 'JC-ADD-1', check=0)
        self.assertIn('Cancelled order JC-ADD-1', res.stdout)
        self.assertEqual(order_props('JC-ADD-1')['State'], 'cancelled')
        jetonctl('order', 'show', 'NO-SUCH-ORDER', check=3)

    def test_usage(self):
        for args in (('order',), ('order', 'frob'), ('order', 'show'), ('order', 'add', '--reference=X'),
                     ('order', 'list', '--reference=X'), ('order', 'add', '--reference=X', '--profile=p',
                                                          '--given-name=a', '--surname=b', '--siret=1',
                                                          '--siren=2'),
                     ('provision',), ('provision', 'X', '--pin-fd=3', '--pin-file=/x'),
                     ('provision', 'X', '--pin', '1234'), ('order', 'list', '--pin-fd=0'),
                     ('audit',), ('audit', 'frob')):
            with self.subTest(args=args):
                jetonctl(*args, check=2)

    def test_import(self):
        good = bed.dir / 'orders.csv'
        good.write_text('reference,profile,validity_years,holder.given_name,holder.surname\n'
                        'JC-IMP-1,eidas-natural-person,1,Jeanne,Martin\n'
                        'JC-IMP-2,eidas-natural-person,3,Paul,Durand\n')
        res = jetonctl('order', 'import', str(good), check=0)
        self.assertIn('2 orders imported', res.stdout)
        self.assertIn('JC-IMP-1', res.stdout)
        self.assertEqual(order_props('JC-IMP-2')['Surname'], 'Durand')

        bad = bed.dir / 'orders.json'
        bad.write_text(json.dumps([
            {'reference': 'JC-IMP-3', 'profile': 'eidas-natural-person', 'validity_years': 1,
             'holder': {'given_name': 'A', 'surname': 'B'}},
            {'reference': 'JC-IMP-4', 'profile': 'no-such-profile', 'validity_years': 9,
             'holder': {'given_name': 'C'}},
        ], indent=1))
        res = jetonctl('order', 'import', '--format=json', str(bad))
        self.assertNotEqual(res.returncode, 0)
        self.assertIn('nothing was imported', res.stderr)
        problems = [line for line in res.stderr.splitlines() if re.search(r': line \d+', line)]
        self.assertGreaterEqual(len(problems), 2, res.stderr)
        self.assertTrue(all(p.startswith(f'{bad}: ') for p in problems))
        # All or nothing: the valid one is not there either.
        self.assertNotIn('JC-IMP-3', [o['Reference'] for o in
                                      json.loads(jetonctl('order', 'list', '--json', check=0).stdout)])
        jetonctl('order', 'import', str(bed.dir / 'missing.csv'), check=1)

    def test_audit_verify(self):
        add_order('JC-AUDIT-1')
        res = jetonctl('audit', 'verify', check=0)
        self.assertTrue(res.stdout.startswith('audit log intact'), res.stdout)


def cmdline(pid):
    try:
        with open(f'/proc/{pid}/cmdline', 'rb') as f:
            return f.read()
    except FileNotFoundError:
        return b''


class TestProvision(unittest.TestCase):
    """One order per way of giving the PIN; the token is the same."""

    def provision(self, reference, *args, pin_pipe=True, pin=USER_PIN):
        """jetonctl provision with the PIN written into a pipe (fd 3 of
        jetonctl) once jetonctl runs; argv is checked while it runs."""
        add_order(reference)
        argv = [JETONCTL, 'provision', reference, '--token', LABEL, *args]
        r = w = None
        pass_fds = ()
        if pin_pipe:
            r, w = os.pipe()
            os.set_inheritable(r, True)
            argv.append(f'--pin-fd={r}')
            pass_fds = (r,)
        p = subprocess.Popen(argv, env=env(), stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, text=True, pass_fds=pass_fds)
        argv_seen = cmdline(p.pid)
        if pin_pipe:
            os.close(r)
            os.write(w, (pin + '\n').encode())
            os.close(w)
        out, err = p.communicate(timeout=120)
        self.assertNotIn(pin.encode(), argv_seen)
        self.assertNotIn(pin, out + err)
        return p.returncode, out, err

    def check_provisioned(self, reference, out):
        props = order_props(reference)
        self.assertEqual(props['State'], 'key-generated', props)
        self.assertIn(f'Order {reference} provisioned', out)
        self.assertIn(f'Key ID: {props["KeyId"]}', out)
        self.assertIn(f'CSR: {props["CsrPath"]}', out)
        self.assertIn('local=yes', out)
        # The CSR on disk verifies with openssl, another reader.
        tb.run(['openssl', 'req', '-in', props['CsrPath'], '-noout', '-verify'])
        return props

    def test_pin_fd(self):
        rc, out, err = self.provision('JC-PROV-FD')
        self.assertEqual(rc, 0, err)
        self.check_provisioned('JC-PROV-FD', out)
        # Not a terminal: plain progress lines, on stderr, ending at done.
        progress = [line for line in err.splitlines() if line.startswith('progress: ')]
        self.assertTrue(progress, err)
        self.assertRegex(progress[-1], r'^progress: done \S+ 100%$')
        self.assertNotIn('\r', err)

    def test_pin_file_json(self):
        pin_file = bed.dir / 'pin'
        pin_file.write_text(USER_PIN + '\r\n')
        os.chmod(pin_file, 0o644)
        add_order('JC-PROV-FILE')
        res = jetonctl('provision', 'JC-PROV-FILE', '--token', LABEL, f'--pin-file={pin_file}', check=6)
        self.assertIn('chmod 600', res.stderr)
        self.assertEqual(order_props('JC-PROV-FILE')['State'], 'pending')     # nothing was tried
        os.chmod(pin_file, 0o600)
        res = jetonctl('provision', 'JC-PROV-FILE', '--token', LABEL, f'--pin-file={pin_file}', '--json',
                       '--no-progress', check=0)
        self.assertNotIn('progress:', res.stderr)
        result = json.loads(res.stdout)
        self.assertEqual(result['order']['State'], 'key-generated')
        self.assertEqual(result['order']['Reference'], 'JC-PROV-FILE')
        self.assertEqual(result['job']['State'], 'done')
        self.assertEqual(result['job']['Kind'], 'provision')
        self.assertTrue(result['order']['Evidence']['local'])

    def test_wrong_pin_not_retried(self):
        rc, out, err = self.provision('JC-PROV-WRONG', pin='000000')
        self.assertEqual(rc, 6, err)
        self.assertIn('PinIncorrect', err)
        self.assertNotEqual(order_props('JC-PROV-WRONG')['State'], 'key-generated')
        # One RequestPin, one PIN: jetonctl never tried another.
        self.assertEqual(err.count('waiting-for-pin'), 1, err)
        # The right PIN afterwards still works: one wrong try, not a lock.
        rc, out, err = self.provision('JC-PROV-AFTER')
        self.assertEqual(rc, 0, err)

    def test_no_pin_source(self):
        """No terminal and no --pin-fd/--pin-file: the agent refuses, exit 6."""
        add_order('JC-PROV-NONE')
        p = subprocess.run([JETONCTL, 'provision', 'JC-PROV-NONE', '--token', LABEL], env=env(),
                           stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=120,
                           start_new_session=True)          # no controlling terminal
        self.assertEqual(p.returncode, 6, p.stderr)
        self.assertIn('no terminal', p.stderr)

    def test_terminal(self):
        """The PIN typed at the prompt is not echoed; progress is a bar."""
        add_order('JC-PROV-TTY')
        pid, fd = pty.fork()
        if pid == 0:
            try:
                os.execve(JETONCTL, [JETONCTL, 'provision', 'JC-PROV-TTY', '--token', LABEL], env())
            finally:
                os._exit(127)
        captured = b''

        def read_until(pattern):
            nonlocal captured
            deadline = time.monotonic() + TIMEOUT
            while not re.search(pattern, captured):
                left = deadline - time.monotonic()
                ready, _, _ = select.select([fd], [], [], max(left, 0))
                if not ready:
                    raise AssertionError(f'no {pattern!r} on the terminal; got {captured!r}')
                try:
                    chunk = os.read(fd, 4096)
                except OSError:
                    chunk = b''
                if not chunk:
                    raise AssertionError(f'terminal closed before {pattern!r}; got {captured!r}')
                captured += chunk

        read_until(rb'PIN \(\d+ to \d+ characters\): |PIN: ')
        self.assertNotIn(USER_PIN.encode(), cmdline(pid))
        os.write(fd, (USER_PIN + '\n').encode())
        read_until(rb'provisioned on token')
        while True:
            try:
                chunk = os.read(fd, 4096)
            except OSError:
                break
            if not chunk:
                break
            captured += chunk
        _, status = os.waitpid(pid, 0)
        os.close(fd)
        self.assertEqual(os.waitstatus_to_exitcode(status), 0, captured)
        self.assertNotIn(USER_PIN.encode(), captured)
        self.assertIn(b'user PIN of token "holder-1"', captured)
        self.assertIn(b'\r[', captured)                      # the bar, redrawn in place
        self.assertEqual(order_props('JC-PROV-TTY')['State'], 'key-generated')


class TestInstall(unittest.TestCase):
    def test_install(self):
        add_order('JC-INST-1')
        r, w = os.pipe()
        os.set_inheritable(r, True)
        p = subprocess.Popen([JETONCTL, 'provision', 'JC-INST-1', '--token', LABEL, f'--pin-fd={r}'], env=env(),
                             stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                             pass_fds=(r,))
        os.close(r)
        os.write(w, (USER_PIN + '\n').encode())
        os.close(w)
        out, err = p.communicate(timeout=120)
        self.assertEqual(p.returncode, 0, err)
        props = order_props('JC-INST-1')

        # A test CA signs the CSR.
        ca = bed.dir / 'install-ca'
        ca.mkdir()
        tb.run(['openssl', 'req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes',
                '-keyout', ca / 'ca.key', '-out', ca / 'ca.pem', '-days', '30', '-subj', '/CN=Jeton Test CA'])
        tb.run(['openssl', 'x509', '-req', '-in', props['CsrPath'], '-CA', ca / 'ca.pem', '-CAkey', ca / 'ca.key',
                '-CAcreateserial', '-days', '20', '-out', ca / 'cert.pem'])
        # A certificate for another key is refused, and the order stays as it was.
        tb.run(['openssl', 'req', '-new', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes',
                '-keyout', ca / 'other.key', '-out', ca / 'other.csr', '-subj', '/CN=Other'])
        tb.run(['openssl', 'x509', '-req', '-in', ca / 'other.csr', '-CA', ca / 'ca.pem', '-CAkey', ca / 'ca.key',
                '-CAcreateserial', '-days', '5', '-out', ca / 'other.pem'])
        res = jetonctl('install', 'JC-INST-1', str(ca / 'other.pem'), check=1)
        self.assertIn('Failed to start the installation', res.stderr)
        self.assertEqual(order_props('JC-INST-1')['State'], 'key-generated')
        jetonctl('install', 'JC-INST-1', str(ca / 'missing.pem'), check=1)

        pin_file = bed.dir / 'install-pin'
        pin_file.write_text(USER_PIN + '\n')
        os.chmod(pin_file, 0o600)
        res = jetonctl('install', 'JC-INST-1', str(ca / 'cert.pem'), f'--pin-file={pin_file}', check=0)
        self.assertRegex(res.stdout, r'written to token|when the token is inserted')
        tb.wait_for(lambda: order_props('JC-INST-1')['State'] == 'installed', TIMEOUT, 'installed')
        days = (order_props('JC-INST-1')['NotAfter'] // 10**6 - int(time.time())) // 86400
        show = jetonctl('order', 'show', 'JC-INST-1', check=0).stdout
        self.assertRegex(show, rf'Certificate: not after .* \(({days}|{days - 1}) days left\)')


if __name__ == '__main__':
    unittest.main(verbosity=2)
