#!/usr/bin/python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""jetond detects readers and tokens and publishes them on D-Bus (issue 3).

Against the test bed: a private pcscd with vpcd readers and vicc cards,
SoftHSM tokens behind the fixture PKCS#11 module (a slot's token is there
only while a card sits in its reader), a private system bus with jeton's
policy. Every check goes through clients that are not ours: GDBus (GLib)
and busctl; token contents are compared with p11tool and openssl.

Run through build/tests/integration/test-detect (it sets JETON_BUILDDIR);
JETOND=path picks another daemon binary, JETON_VALGRIND=1 runs it under
valgrind (its verdict is checked when each daemon stops).
"""

import datetime
import signal
import os
import re
import shutil
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
import time
import unittest
from pathlib import Path

sys.dont_write_bytecode = True      # no __pycache__ in the source tree
sys.path.insert(0, str(Path(__file__).resolve().parent))
import jetondtest as jt  # noqa: E402
from jetondtest import tb  # noqa: E402

# Test PINs; pkcs11-tool and p11tool read them from their environment.
SO_PIN = '87654321'
USER_PIN = '123456'

bed = None
pool = None
cards = []
serials = {}
cert_facts = {}

# Readers: 0 holder-1 (a key and its certificate), 1 holder-2, 2 holder-3
# (both freshly initialised), 3 bound to a token that does not exist (an
# unrecognised card), 4 and 5 bound to nothing.
NREADERS = 6


def softhsm_tool(*args):
    env = bed.env({'JETON_TEST_PIN': USER_PIN})
    return tb.run(['pkcs11-tool', '--module', tb.SOFTHSM_MODULE, *args], env=env)


def provision_holder_1():
    """An EC key made on the token, and a certificate with the key's CKA_ID."""
    softhsm_tool('--token-label', 'holder-1', '--login', '--pin', 'env:JETON_TEST_PIN',
                 '--keypairgen', '--key-type', 'EC:prime256v1', '--id', '01', '--label', 'key-1')
    key, pem, der = (bed.dir / n for n in ('cert-1.key', 'cert-1.pem', 'cert-1.der'))
    tb.run(['openssl', 'req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256',
            '-nodes', '-keyout', key, '-out', pem, '-subj', '/O=Jeton Test/CN=Holder One',
            '-days', '30', '-set_serial', '0x1234abcd'])
    tb.run(['openssl', 'x509', '-in', pem, '-outform', 'DER', '-out', der])
    softhsm_tool('--token-label', 'holder-1', '--login', '--pin', 'env:JETON_TEST_PIN',
                 '--write-object', der, '--type', 'cert', '--id', '01', '--label', 'cert-1')
    out = tb.run(['openssl', 'x509', '-in', pem, '-noout', '-serial', '-enddate', '-startdate']).stdout
    facts = dict(line.split('=', 1) for line in out.splitlines())

    def epoch(s):
        d = datetime.datetime.strptime(s, '%b %d %H:%M:%S %Y %Z')
        return int(d.replace(tzinfo=datetime.timezone.utc).timestamp())
    cert_facts.update(serial=facts['serial'].lower().lstrip('0'),
                      not_after=epoch(facts['notAfter']), not_before=epoch(facts['notBefore']))


def p11tool_uri(label):
    """The token's URI as p11tool (GnuTLS, through SoftHSM itself) prints it."""
    out = tb.run(['p11tool', '--provider', tb.SOFTHSM_MODULE, '--list-tokens'], env=bed.env()).stdout
    for block in out.split('\n\n'):
        if re.search(rf'^\s*Label: {re.escape(label)}$', block, re.M):
            return re.search(r'URL: (\S+)', block).group(1)
    raise AssertionError(f'p11tool does not list {label}')


def setUpModule():
    global bed, pool
    pool = ThreadPoolExecutor(max_workers=4)
    bed = tb.Testbed(nreaders=NREADERS, bus=True)
    bed.__enter__()
    try:
        for label in ('holder-1', 'holder-2', 'holder-3'):
            serials[label] = bed.softhsm.create_token(label, SO_PIN, USER_PIN)
        provision_holder_1()
        bed.fixture.bind(bed.pcscd.readers[0], 'holder-1')
        bed.fixture.bind(bed.pcscd.readers[1], 'holder-2')
        bed.fixture.bind(bed.pcscd.readers[2], 'holder-3')
        bed.fixture.bind(bed.pcscd.readers[3], 'no-such-token')
        cards.extend(bed.card(i) for i in range(NREADERS))
    except BaseException:
        bed.__exit__(None, None, None)
        raise


def tearDownModule():
    if bed:
        bed.__exit__(None, None, None)
    pool.shutdown()


def path_of(label):
    return jt.token_path('SoftHSM project', serials[label])


class JetondTestCase(unittest.TestCase):

    def start_jetond(self, modules=None, extra=''):
        name = self.id().rsplit('.', 1)[-1]
        j = jt.Jetond(bed.dir, bed.env(), modules or [bed.fixture.module_path], extra, name=name)
        self.addCleanup(self.stop_jetond, j)
        j.start(bed.bus)
        return j

    def stop_jetond(self, j):
        rc = j.stop(bed.bus)
        self.assertEqual(rc, 0, f'jetond exited with status {rc}:\n{j.log_text()}')

    def client(self):
        c = jt.Client(bed.bus.address)
        self.addCleanup(c.close)
        return c

    def insert(self, *indexes):
        """Inserts cards, at the same time when there are several."""
        for i in indexes:
            self.addCleanup(self.pull, i)
        self._all(lambda i: cards[i].insert(), indexes)

    def remove(self, *indexes):
        self._all(lambda i: cards[i].remove(), indexes)

    def pull(self, i):
        if cards[i].inserted:
            cards[i].remove()

    @staticmethod
    def _all(action, items):
        """action(item) for every item at the same time. The threads are
        the module's pool: a vicc started from a thread dies when that
        thread ends (the test bed's children die with their parent)."""
        if len(items) == 1:
            return action(items[0])
        for f in [pool.submit(action, i) for i in items]:
            f.result()

    def reader_atr(self, client, index):
        for name, state, atr in client.manager('Readers'):
            if name == bed.pcscd.readers[index]:
                self.assertEqual(state, 'card')
                self.assertRegex(atr, r'^([0-9a-f]{2})+$')
                return atr
        self.fail(f'no reader {bed.pcscd.readers[index]}')

    def check_fresh_token(self, props, label, reader):
        self.assertEqual(props['Reader'], bed.pcscd.readers[reader])
        self.assertEqual(props['Module'], bed.fixture.module_path)
        self.assertEqual(props['Manufacturer'], 'SoftHSM project')
        self.assertEqual(props['Model'], 'SoftHSM v2')
        self.assertEqual(props['Serial'], serials[label])
        self.assertEqual(props['Label'], label)
        self.assertEqual(props['State'], 'initialised')
        self.assertEqual(props['PinFlags'], [])
        self.assertEqual(props['PinMinLength'], 4)
        self.assertEqual(props['PinMaxLength'], 255)
        self.assertEqual(props['Keys'], [])
        self.assertEqual(props['Certificates'], [])
        self.assertEqual(props['Uri'], p11tool_uri(label))


class TestDetect(JetondTestCase):

    def test_token_present_at_start(self):
        before = int(time.time() * 1e6)
        self.insert(0)
        j = self.start_jetond()
        c = self.client()

        # Taking the bus name comes after the first scan: already there.
        tokens = c.tokens()
        path = path_of('holder-1')
        self.assertEqual(set(tokens), {path})
        t = tokens[path]
        self.assertEqual(t['Reader'], bed.pcscd.readers[0])
        self.assertEqual(t['Module'], bed.fixture.module_path)
        self.assertEqual(t['Slot'], 0)
        self.assertEqual((t['Manufacturer'], t['Model'], t['Label']),
                         ('SoftHSM project', 'SoftHSM v2', 'holder-1'))
        self.assertEqual(t['Serial'], serials['holder-1'])
        self.assertEqual(t['Atr'], self.reader_atr(c, 0))
        self.assertEqual(t['State'], 'provisioned')
        self.assertEqual(t['Uri'], p11tool_uri('holder-1'))
        self.assertLessEqual(before, t['InsertedAt'])
        self.assertLessEqual(t['InsertedAt'], time.time() * 1e6)

        # A public session shows the public key and the certificate.
        self.assertEqual(len(t['Keys']), 1, t['Keys'])
        key = t['Keys'][0]
        self.assertEqual((key['id'], key['label'], key['class'], key['algorithm'], key['size'],
                          key['curve'], key['local']),
                         ('01', 'key-1', 'public', 'EC', 256, 'P-256', True))
        self.assertEqual(len(t['Certificates']), 1, t['Certificates'])
        cert = t['Certificates'][0]
        self.assertEqual((cert['id'], cert['label']), ('01', 'cert-1'))
        for rdn in ('CN=Holder One', 'O=Jeton Test'):
            self.assertIn(rdn, cert['subject'])
            self.assertIn(rdn, cert['issuer'])
        self.assertEqual(jt.hex_of(cert['serial']).lstrip('0'), cert_facts['serial'])
        self.assertEqual(cert['not-after'], cert_facts['not_after'] * 1_000_000)
        self.assertEqual(cert['not-before'], cert_facts['not_before'] * 1_000_000)

        # The same through busctl.
        out = jt.busctl(bed.bus.address, '--json=short', 'get-property', jt.BUS_NAME, path, jt.TOKEN,
                        'State')
        self.assertEqual(out.strip(), '{"type":"s","data":"provisioned"}')

        # The manager.
        version = tb.run([jt.JETOND, '--version']).stdout.split()[1]
        self.assertEqual(c.manager('Version'), version)
        self.assertEqual(c.manager('PcscState'), 'running')
        self.assertEqual(sorted((n, s) for n, s, _ in c.manager('Readers')),
                         sorted((r, 'card' if i == 0 else 'empty') for i, r in enumerate(bed.pcscd.readers)))
        modules = c.manager('Modules')
        self.assertEqual([(p, s) for p, s, _ in modules], [(bed.fixture.module_path, 'loaded')])
        self.assertIn('jeton test fixture', modules[0][2])
        self.assertIn(f'Token \'holder-1\'', j.log_text())

    def test_insert_and_remove(self):
        self.start_jetond()
        c = self.client()
        self.assertEqual(c.tokens(), {})
        path = path_of('holder-2')

        mark = c.mark()
        before = int(time.time() * 1e6)
        self.insert(1)
        added = c.wait_added(path, mark)
        props = added.args[1][jt.TOKEN]
        self.check_fresh_token(props, 'holder-2', 1)
        self.assertEqual(props['Atr'], self.reader_atr(c, 1))
        self.assertLessEqual(before, props['InsertedAt'])
        # What the signal said is what the object says.
        self.assertEqual(c.get_all(path, jt.TOKEN), props)
        self.assertEqual(set(c.tokens()), {path})
        c.wait_manager_property('Readers', lambda v: (bed.pcscd.readers[1], 'card', props['Atr']) in v,
                                mark)

        mark = c.mark()
        self.remove(1)
        removed = c.wait_removed(path, mark)
        self.assertEqual(removed.args[1], [jt.TOKEN])
        self.assertEqual(c.tokens(), {})
        c.wait_manager_property('Readers', lambda v: (bed.pcscd.readers[1], 'empty', '') in v, mark)
        self.assertNotIn(path, jt.busctl(bed.bus.address, 'tree', '--list', jt.BUS_NAME))

    def test_unsupported_cards(self):
        self.start_jetond()
        c = self.client()
        unbound, no_token = jt.card_path(bed.pcscd.readers[4]), jt.card_path(bed.pcscd.readers[3])

        mark = c.mark()
        self.insert(4)
        props = c.wait_added(unbound, mark).args[1][jt.TOKEN]
        self.assertEqual(props['State'], 'unsupported')
        self.assertEqual(props['Reader'], bed.pcscd.readers[4])
        self.assertEqual(props['Atr'], self.reader_atr(c, 4))
        for empty in ('Module', 'Manufacturer', 'Model', 'Serial', 'Label', 'Uri'):
            self.assertEqual(props[empty], '', empty)
        self.assertEqual((props['Keys'], props['Certificates'], props['PinFlags']), ([], [], []))

        # A reader whose slot has no token: a card the module does not know.
        mark = c.mark()
        self.insert(3)
        props = c.wait_added(no_token, mark).args[1][jt.TOKEN]
        self.assertEqual((props['State'], props['Reader']), ('unsupported', bed.pcscd.readers[3]))
        self.assertEqual(set(c.tokens()), {unbound, no_token})

        mark = c.mark()
        self.remove(3, 4)
        c.wait_removed(unbound, mark)
        c.wait_removed(no_token, mark)
        self.assertEqual(c.tokens(), {})

    def test_two_readers_at_once(self):
        self.start_jetond()
        c = self.client()
        p2, p3, p4 = path_of('holder-2'), path_of('holder-3'), jt.card_path(bed.pcscd.readers[4])

        mark = c.mark()
        self.insert(1, 2)
        self.check_fresh_token(c.wait_added(p2, mark).args[1][jt.TOKEN], 'holder-2', 1)
        self.check_fresh_token(c.wait_added(p3, mark).args[1][jt.TOKEN], 'holder-3', 2)
        self.assertEqual(set(c.tokens()), {p2, p3})

        # One leaves while another arrives.
        mark = c.mark()
        self.addCleanup(self.pull, 4)
        self._all(lambda f: f(), [lambda: cards[1].remove(), lambda: cards[4].insert()])
        c.wait_removed(p2, mark)
        c.wait_added(p4, mark)
        self.assertEqual(set(c.tokens()), {p3, p4})

        mark = c.mark()
        self.remove(2, 4)
        c.wait_removed(p3, mark)
        c.wait_removed(p4, mark)
        self.assertEqual(c.tokens(), {})
        # Each object came and went exactly once: no flicker.
        for p in (p2, p3, p4):
            self.assertEqual(sum(1 for e in c.events if e.member == 'InterfacesAdded' and e.args[0] == p), 1)
            self.assertEqual(sum(1 for e in c.events if e.member == 'InterfacesRemoved' and e.args[0] == p), 1)

    def test_insert_remove_cycles(self):
        cycles = 50
        j = self.start_jetond()
        c = self.client()
        path = path_of('holder-2')
        rss = {}
        for n in range(1, cycles + 1):
            mark = c.mark()
            self.insert(1)
            c.wait_added(path, mark)
            mark = c.mark()
            self.remove(1)
            c.wait_removed(path, mark)
            if n in (10, cycles):
                rss[n] = jt.rss_kib(j.pid)

        self.assertEqual(c.tokens(), {})
        self.assertNotIn('/token/', jt.busctl(bed.bus.address, 'tree', '--list', jt.BUS_NAME))
        added = [e for e in c.events if e.member == 'InterfacesAdded']
        removed = [e for e in c.events if e.member == 'InterfacesRemoved']
        self.assertEqual([e.args[0] for e in added], [path] * cycles)
        self.assertEqual([e.args[0] for e in removed], [path] * cycles)

        growth = rss[cycles] - rss[10]
        print(f'\n  jetond RSS after 10 cycles {rss[10]} KiB, after {cycles} {rss[cycles]} KiB '
              f'({growth:+d} KiB)', file=sys.stderr)
        if jt.VALGRIND or jt.sanitized():
            return      # their allocators keep freed memory; their leak checks run at exit
        self.assertLess(growth, 1024, 'jetond grows with insert/remove cycles')

    def check_restart(self, sig):
        self.insert(0)
        self.start_jetond()
        c = self.client()
        path = path_of('holder-1')
        self.assertIn(path, c.tokens())

        mark = c.mark()
        bed.pcscd.restart(reinsert=True, sig=sig)
        c.wait_manager_property('PcscState', lambda v: v == 'unavailable', mark)
        c.wait_manager_property('Readers', lambda v: v and all(s == 'unavailable' for _, s, _ in v), mark)
        gone = c.wait_removed(path, mark)
        back = c.wait_manager_property('PcscState', lambda v: v == 'running', mark)
        again = c.wait_added(path, mark)
        self.assertLess(gone.time, back.time)
        self.assertLess(gone.time, again.time)
        self.assertEqual(c.manager('PcscState'), 'running')
        t = c.tokens()[path]
        self.assertEqual((t['Reader'], t['State']), (bed.pcscd.readers[0], 'provisioned'))

    def test_pcscd_restart(self):
        self.check_restart(signal.SIGTERM)

    def test_pcscd_crash(self):
        # SIGKILL leaves pcscd's socket behind: jetond must wait for the new one.
        self.check_restart(signal.SIGKILL)

    def test_module_that_does_not_load(self):
        missing = '/nonexistent/libjeton-missing-p11.so'
        not_p11 = subprocess.run(['sh', '-c', 'ls /usr/lib/*/libpcsclite.so.1'], capture_output=True,
                                 text=True).stdout.split()[0]
        self.insert(1)
        j = self.start_jetond([bed.fixture.module_path, missing, not_p11])
        c = self.client()

        modules = c.manager('Modules')
        self.assertEqual([(p, s) for p, s, _ in modules],
                         [(bed.fixture.module_path, 'loaded'), (missing, 'failed'), (not_p11, 'failed')])
        self.assertIn(missing, modules[1][2])
        self.assertIn('No such file', modules[1][2])
        self.assertIn('C_GetFunctionList', modules[2][2])
        # Detection goes on with the module that loaded.
        self.assertEqual(set(c.tokens()), {path_of('holder-2')})
        self.assertIn(f'Failed to load PKCS#11 module {missing}', j.log_text())

    def softhsm_beside(self):
        """SoftHSM as a module of its own next to the fixture. The fixture
        forwards to SoftHSM as well, and dlopen() of the same file would hand
        both the same instance, which each would finalize under the other (at
        a rescan): a copy is a second instance, as a vendor module next to
        OpenSC is."""
        softhsm = bed.dir / 'softhsm-direct' / 'libsofthsm2.so'
        softhsm.parent.mkdir(exist_ok=True)
        shutil.copyfile(tb.SOFTHSM_MODULE, softhsm)
        return str(softhsm)

    def test_module_that_hangs_loading(self):
        """A module stuck in C_Initialize does not keep another from loading."""
        softhsm, fixture = self.softhsm_beside(), bed.fixture.module_path
        self.addCleanup(bed.fixture.clear_faults)
        bed.fixture.hold('C_Initialize')
        timeout = 2 * jt.SLOW * (2 if jt.sanitized() else 1)
        # jetond takes its name once the fixture is declared stuck.
        j = self.start_jetond([fixture, softhsm], f'ModuleTimeoutSec={timeout}\n')
        c = self.client()
        self.assertEqual([(p, s) for p, s, _ in c.manager('Modules')],
                         [(fixture, 'not-responding'), (softhsm, 'loaded')])
        tokens = c.tokens()
        self.assertLessEqual({'holder-1', 'holder-2', 'holder-3'}, {t['Label'] for t in tokens.values()})
        self.assertEqual({t['Module'] for t in tokens.values()}, {softhsm})

        mark = c.mark()
        bed.fixture.release('C_Initialize')
        c.wait_manager_property('Modules', lambda v: [(p, s) for p, s, _ in v] == [(fixture, 'loaded'),
                                                                                  (softhsm, 'loaded')], mark)
        self.assertEqual(j.stop(bed.bus), 0, j.log_text())

    def test_module_that_hangs(self):
        """A module whose call does not return stalls only itself."""
        softhsm, fixture = self.softhsm_beside(), bed.fixture.module_path
        # The fixture reads its config at C_Initialize: the hold is there
        # from the start, and holds only while its gate file exists.
        self.addCleanup(bed.fixture.clear_faults)
        bed.fixture.hold('C_GetSlotList')
        bed.fixture.release('C_GetSlotList')
        timeout = 2 * jt.SLOW * (2 if jt.sanitized() else 1)
        j = self.start_jetond([fixture, softhsm], f'ModuleTimeoutSec={timeout}\n')
        c = self.client()

        def statuses():
            return [(p, s) for p, s, _ in c.manager('Modules')]

        def stuck(value):
            return (fixture, 'not-responding') in [(p, s) for p, s, _ in value]

        self.assertEqual(statuses(), [(fixture, 'loaded'), (softhsm, 'loaded')])
        # SoftHSM shows every token of the store, in no reader.
        tokens = c.tokens()
        self.assertLessEqual({'holder-1', 'holder-2', 'holder-3'}, {t['Label'] for t in tokens.values()})
        self.assertEqual({(t['Module'], t['Reader']) for t in tokens.values()}, {(softhsm, '')})

        # The fixture hangs in the scan that a card asks for.
        serial = bed.softhsm.create_token('direct-1', SO_PIN, USER_PIN)
        direct = jt.token_path('SoftHSM project', serial)
        unsupported = jt.card_path(bed.pcscd.readers[3])
        scans = len(bed.fixture.calls('C_GetSlotList', pid=j.pid))
        mark = c.mark()
        bed.fixture.hold('C_GetSlotList')
        self.insert(1, 3)
        bed.fixture.wait_call('C_GetSlotList', count=scans + 1, pid=j.pid, timeout=jt.TIMEOUT)

        # SoftHSM goes on: its new token shows.
        props = c.wait_added(direct, mark).args[1][jt.TOKEN]
        self.assertEqual((props['Label'], props['Module'], props['Reader']), ('direct-1', softhsm, ''))
        # The fixture is reported, once, as not answering.
        event = c.wait_manager_property('Modules', stuck, mark)
        (message,) = [msg for p, _, msg in event.args[1]['Modules'] if p == fixture]
        self.assertRegex(message, r'^has not answered since \d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC')
        self.assertEqual(statuses(), [(fixture, 'not-responding'), (softhsm, 'loaded')])
        self.assertEqual(j.log_text().count(f'PKCS#11 module {fixture} has not answered'), 1)
        # Until it answers, holder-2 is SoftHSM's, and the card no module
        # knows is not called unsupported: the fixture may yet know it.
        tokens = c.tokens()
        self.assertEqual((tokens[path_of('holder-2')]['Module'], tokens[path_of('holder-2')]['Reader']),
                         (softhsm, ''))
        self.assertNotIn(unsupported, tokens)

        # It answers: holder-2 shows in its reader through the fixture (the
        # first module in Modules=), the card in reader 3 as unsupported,
        # and the module as loaded again.
        mark = c.mark()
        bed.fixture.release('C_GetSlotList')
        c.wait_event(lambda e: (e.member == 'PropertiesChanged' and e.path == path_of('holder-2')
                                and e.args[1].get('Module') == fixture),
                     mark, what='holder-2 to come through the fixture')
        c.wait_added(unsupported, mark)
        c.wait_manager_property('Modules', lambda v: not stuck(v), mark)
        self.assertEqual(statuses(), [(fixture, 'loaded'), (softhsm, 'loaded')])
        t = c.tokens()[path_of('holder-2')]
        self.assertEqual((t['Module'], t['Reader'], t['Atr']), (fixture, bed.pcscd.readers[1], self.reader_atr(c, 1)))
        self.assertIn(f'PKCS#11 module {fixture} answers again', j.log_text())

        # Hung again when asked to stop: jetond does not wait for it.
        scans = len(bed.fixture.calls('C_GetSlotList', pid=j.pid))
        mark = c.mark()
        bed.fixture.hold('C_GetSlotList')
        self.remove(3)
        bed.fixture.wait_call('C_GetSlotList', count=scans + 1, pid=j.pid, timeout=jt.TIMEOUT)
        c.wait_manager_property('Modules', stuck, mark)
        started = time.monotonic()
        self.assertEqual(j.stop(bed.bus), 0, j.log_text())
        self.assertLess(time.monotonic() - started, jt.TIMEOUT)
        self.assertIn(f'PKCS#11 module {fixture} is still in a call that has not returned', j.log_text())


class TestCommandLine(unittest.TestCase):

    def run_jetond(self, *args, env=None):
        return subprocess.run([jt.JETOND, *args], capture_output=True, text=True, env=env,
                              timeout=jt.TIMEOUT, stdin=subprocess.DEVNULL)

    def test_help_and_version(self):
        res = self.run_jetond('--help')
        self.assertEqual(res.returncode, 0)
        for option in ('--config', '--bus-introspect', '--version', '--help'):
            self.assertIn(option, res.stdout)
        res = self.run_jetond('--version')
        self.assertEqual(res.returncode, 0)
        self.assertRegex(res.stdout, r'^jetond \d+\.\d+\.\d+\n$')
        self.assertNotEqual(self.run_jetond('--no-such-option').returncode, 0)
        self.assertNotEqual(self.run_jetond('extra-argument').returncode, 0)

    def test_bad_config(self):
        cases = [
            ('[jetond]\nModules=/a.so\nFoo=bar\n', 3, "Unknown key 'Foo'"),
            ('[jetond]\nModules=relative/libp11.so\n', 2, 'is not an absolute path'),
            ('# a comment\n\n[elsewhere]\nModules=/a.so\n', 4, 'Unknown section [elsewhere]'),
            ('[jetond]\nStateDirectory=var/lib/jeton\n', 2, 'StateDirectory='),
            ('[jetond]\nAdminGroup=not a group\n', 2, 'not a valid group name'),
            ('[jetond]\nthis line is no key\n', 2, 'Syntax error'),
            ('[jetond]\nModuleTimeoutSec=0\n', 2, 'ModuleTimeoutSec='),
        ]
        env = bed.env()
        for i, (text, line, message) in enumerate(cases):
            with self.subTest(text=text):
                conf = bed.dir / f'bad-{i}.conf'
                conf.write_text(text)
                res = self.run_jetond('--config', str(conf), env=env)
                self.assertNotEqual(res.returncode, 0)
                self.assertIn(f'{conf}:{line}: ', res.stderr)
                self.assertIn(message, res.stderr)
        res = self.run_jetond('--config', str(bed.dir / 'no-such.conf'), env=env)
        self.assertNotEqual(res.returncode, 0)
        self.assertIn('no-such.conf', res.stderr)


class TestInterfaceDescription(JetondTestCase):

    def test_tree_xml_is_what_jetond_serves(self):
        tree = jt.XML.read_text()
        res = subprocess.run([jt.JETOND, '--bus-introspect'], capture_output=True, text=True,
                             timeout=jt.TIMEOUT)
        self.assertEqual(res.returncode, 0, res.stderr)

        def text(xml):
            xml = re.sub(r'<!--.*?-->', '', xml, flags=re.S)
            return ' '.join(xml.split())
        self.assertEqual(text(res.stdout), text(tree),
                         'daemon/org.jeton.Jeton1.xml differs from jetond --bus-introspect')
        self.assertEqual(set(jt.interfaces_of(tree)),
                         {jt.MANAGER, jt.TOKEN, 'org.jeton.Jeton1.Order', 'org.jeton.Jeton1.Job',
                          'org.jeton.Jeton1.Batch'})

        # And what the running daemon introspects, through sd-bus itself.
        self.insert(0)
        self.start_jetond()
        c = self.client()
        documented = jt.interfaces_of(tree)
        served = jt.interfaces_of(c.introspect(jt.ROOT))
        served.update(jt.interfaces_of(c.introspect(path_of('holder-1'))))
        # (Order and Job objects are checked by test-orders and test-jobs.)
        self.assertEqual(set(served), {jt.MANAGER, jt.TOKEN})
        self.assertEqual(served, {i: documented[i] for i in served})
        # Every member is documented: a comment precedes each element.
        for kind, name in re.findall(r'<(property|method|signal) name="([^"]+)"', tree):
            self.assertRegex(tree, rf'-->\s*<{kind} name="{name}"', f'{name} has no comment')


if __name__ == '__main__':
    unittest.main(verbosity=2)
