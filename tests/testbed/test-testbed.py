#!/usr/bin/python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""Integration test of the test bed itself: a private pcscd with vpcd readers,
vicc cards, SoftHSM tokens, and the fixture PKCS#11 module checked through
pkcs11-tool, an independent client. Run through build/tests/testbed/test-testbed
(it sets JETON_BUILDDIR) or directly from the top of the tree."""

import contextlib
import os
import re
import signal
import subprocess
import sys
import threading
import time
import unittest
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import jetontestbed as tb  # noqa: E402
from jetontestbed import Polkit  # noqa: E402
from cryptoki import CKR, CKF_TOKEN_PRESENT, Cryptoki, rv_name  # noqa: E402

# Test PINs: they reach pkcs11-tool through its environment (--pin env:VAR).
SO_PIN = '87654321'
USER_PIN = '123456'

bed = None


def setUpModule():
    global bed
    bed = tb.Testbed(nreaders=4)
    bed.__enter__()
    try:
        populate()
    except BaseException:
        # unittest skips tearDownModule when setUpModule fails.
        tearDownModule()
        raise


def populate():
    bed.softhsm.create_token('holder-1', SO_PIN, USER_PIN)
    bed.softhsm.create_token('holder-2', SO_PIN, USER_PIN)
    # Fixture slot 0 <-> reader 2, slot 1 <-> reader 3, slot 2 <-> reader 0
    # whose token does not exist (an unrecognised card), slot 3 <-> reader 1
    # whose token is created while a client runs.
    bed.fixture.bind(bed.pcscd.readers[2], 'holder-1')
    bed.fixture.bind(bed.pcscd.readers[3], 'holder-2')
    bed.fixture.bind(bed.pcscd.readers[0], 'no-such-token')
    bed.fixture.bind(bed.pcscd.readers[1], 'late-token')
    # For the in-process client (TestInProcess).
    os.environ.update(bed.fixture.env, **bed.pcscd.env)


def tearDownModule():
    global bed
    if bed:
        bed.__exit__(None, None, None)
        bed = None


def pkcs11_tool(*args):
    env = bed.env(tool=True, extra={'JETON_TEST_PIN': USER_PIN})
    return subprocess.run(['pkcs11-tool', '--module', bed.fixture.module_path, *args],
                          env=env, capture_output=True, text=True, timeout=120,
                          stdin=subprocess.DEVNULL)


def list_slots():
    """{slot number: (description, token label or None, text)} from
    `pkcs11-tool -L`."""
    res = pkcs11_tool('-L')
    if res.returncode != 0:
        raise AssertionError(f'pkcs11-tool -L failed: {res.stderr}')
    slots = {}
    for block in re.split(r'\n(?=Slot \d+ )', res.stdout):
        m = re.match(r'Slot (\d+) \(0x[0-9a-f]+\): (.*)', block)
        if not m:
            continue
        label = re.search(r'token label\s*: (.*)', block)
        slots[int(m.group(1))] = (m.group(2).strip(), label.group(1).strip() if label else None, block)
    return slots


class TestbedCase(unittest.TestCase):
    def setUp(self):
        self.cards = []
        if not bed.pcscd.running():
            bed.pcscd.start()

    def tearDown(self):
        for card in self.cards:
            card.kill()
        bed.fixture.clear_faults()
        if bed.pcscd.running():
            for reader in bed.pcscd.readers:
                bed.pcscd.wait_state(reader, False)

    def card(self, index):
        card = bed.card(index)
        self.cards.append(card)
        return card


class TestPcscd(TestbedCase):
    def test_reader_list(self):
        self.assertEqual(len(bed.pcscd.readers), 4)
        states = bed.pcscd.reader_states()
        self.assertEqual(list(states), bed.pcscd.readers)
        self.assertEqual(set(states.values()), {'empty'})
        print(f'\n  pcscd reader list complete {bed.pcscd.ready_seconds * 1000:.0f} ms after spawn',
              file=sys.stderr)

    def test_card_seen_only_in_its_reader(self):
        card = self.card(2)
        card.insert()
        states = bed.pcscd.reader_states()
        self.assertEqual(states[bed.pcscd.readers[2]], 'present')
        for i in (0, 1, 3):
            self.assertEqual(states[bed.pcscd.readers[i]], 'empty', bed.pcscd.readers[i])
        card.remove()
        self.assertEqual(set(bed.pcscd.reader_states().values()), {'empty'})

    def test_insert_remove_latency(self):
        card = self.card(1)
        with bed.pcscd.watch(card.reader) as watch:
            t0 = time.monotonic()
            card.insert()
        self.assertEqual(watch.state, 'present')
        inserted = watch.when - t0
        with bed.pcscd.watch(card.reader) as watch:
            t0 = time.monotonic()
            card.remove()
        self.assertEqual(watch.state, 'absent')
        print(f'\n  vicc start -> pcscd reports the card: {inserted * 1000:.0f} ms; '
              f'vicc killed -> pcscd reports it gone: {(watch.when - t0) * 1000:.0f} ms',
              file=sys.stderr)

    def test_restart(self):
        card = self.card(0)
        card.insert()
        bed.pcscd.restart(reinsert=False)
        # Same readers back; vicc lost its connection, as a card does when
        # the daemon that powered it goes.
        self.assertEqual(list(bed.pcscd.reader_states()), bed.pcscd.readers)
        self.assertEqual(set(bed.pcscd.reader_states().values()), {'empty'})
        card.insert()
        self.assertEqual(bed.pcscd.reader_states()[bed.pcscd.readers[0]], 'present')

    def test_restart_reinserts_cards(self):
        card = self.card(3)
        card.insert()
        bed.pcscd.restart(sig=signal.SIGKILL)
        self.assertEqual(bed.pcscd.reader_states()[bed.pcscd.readers[3]], 'present')

    def test_pcscd_down(self):
        bed.pcscd.stop()
        self.assertEqual(bed.pcscd.reader_states(), {})
        # The fixture still answers: every slot, no token.
        slots = list_slots()
        self.assertEqual(len(slots), 4)
        self.assertTrue(all(label is None for _, label, _ in slots.values()))
        bed.pcscd.start()
        self.assertEqual(list(bed.pcscd.reader_states()), bed.pcscd.readers)


class TestFixture(TestbedCase):
    def test_slots_follow_cards(self):
        slots = list_slots()
        self.assertEqual({n: (d, label) for n, (d, label, _) in slots.items()}, {
            0: (bed.pcscd.readers[2], None),
            1: (bed.pcscd.readers[3], None),
            2: (bed.pcscd.readers[0], None),
            3: (bed.pcscd.readers[1], None),
        })

        card = self.card(2)
        card.insert()
        slots = list_slots()
        self.assertEqual(slots[0][1], 'holder-1')
        self.assertEqual(slots[1][1], None)
        self.assertIn(bed.softhsm.token_serial('holder-1'), slots[0][2])

        card.remove()
        slots = list_slots()
        self.assertEqual(slots[0][1], None)
        self.assertIn('(empty)', slots[0][2])

    def test_slot_info(self):
        res = pkcs11_tool('-L', '-v')
        self.assertEqual(res.returncode, 0, res.stderr)
        first = res.stdout.split('Slot 1 ')[0]
        self.assertIn(f'Slot 0 (0x0): {bed.pcscd.readers[2]}\n', first)
        self.assertIn('manufacturer:  jeton test fixture', first)
        self.assertRegex(first, r'flags: +removable device, hardware slot\n')

        self.card(2).insert()
        res = pkcs11_tool('-L', '-v')
        first = res.stdout.split('Slot 1 ')[0]
        self.assertRegex(first, r'flags: +token present, removable device, hardware slot\n')
        res = pkcs11_tool('-I')
        self.assertEqual(res.returncode, 0, res.stderr)
        self.assertIn('Manufacturer     jeton test fixture', res.stdout)

    def test_absent_token(self):
        res = pkcs11_tool('--slot', '1', '-O')
        self.assertNotEqual(res.returncode, 0)
        self.assertIn('CKR_TOKEN_NOT_PRESENT', res.stderr)

    def test_unrecognised_card(self):
        self.card(0).insert()
        slots = list_slots()
        self.assertIn('token not recognized', slots[2][2])
        res = pkcs11_tool('--slot', '2', '-O')
        self.assertIn('CKR_TOKEN_NOT_RECOGNIZED', res.stderr)

    def test_session_work_goes_through(self):
        self.card(3).insert()
        res = pkcs11_tool('--slot', '1', '--login', '--pin', 'env:JETON_TEST_PIN', '--keypairgen',
                          '--key-type', 'EC:prime256v1', '--label', 'k-session', '--id', '51')
        self.assertEqual(res.returncode, 0, res.stderr)
        res = pkcs11_tool('--slot', '1', '--login', '--pin', 'env:JETON_TEST_PIN', '-O', '--id', '51')
        self.assertIn('k-session', res.stdout)
        self.assertNotIn(USER_PIN, res.stdout + res.stderr)

    def test_latency(self):
        self.card(2).insert()
        t0 = time.monotonic()
        res = pkcs11_tool('-L')
        plain = time.monotonic() - t0
        bed.fixture.latency('C_GetTokenInfo', 300)
        before = len(bed.fixture.calls('C_GetTokenInfo'))
        t0 = time.monotonic()
        res = pkcs11_tool('-L')
        slow = time.monotonic() - t0
        # The delayed call still went through to SoftHSM.
        self.assertEqual(res.returncode, 0, res.stderr)
        self.assertIn('holder-1', res.stdout)
        self.assertGreater(len(bed.fixture.calls('C_GetTokenInfo')), before)
        print(f'\n  pkcs11-tool -L: {plain * 1000:.0f} ms; with 300 ms on C_GetTokenInfo: '
              f'{slow * 1000:.0f} ms', file=sys.stderr)

    def test_fail_nth_call(self):
        self.card(2).insert()
        self.card(3).insert()
        bed.fixture.fail('C_GetTokenInfo', 1, 'CKR_DEVICE_ERROR')
        slots = list_slots()
        self.assertIn('CKR_DEVICE_ERROR', slots[0][2])
        self.assertEqual(slots[1][1], 'holder-2')

        # A numeric rv, on the 2nd call: 0x30 is CKR_DEVICE_ERROR.
        bed.fixture.clear_faults()
        bed.fixture.fail('C_GetTokenInfo', 2, '0x30')
        slots = list_slots()
        self.assertEqual(slots[0][1], 'holder-1')
        self.assertIn('CKR_DEVICE_ERROR', slots[1][2])

    def test_injected_failure_ends_operation(self):
        self.card(2).insert()
        login = ['--slot', '0', '--login', '--pin', 'env:JETON_TEST_PIN']
        res = pkcs11_tool(*login, '--keypairgen', '--key-type', 'EC:prime256v1', '--id', '52')
        self.assertEqual(res.returncode, 0, res.stderr)
        bed.fixture.fail('C_Sign', 1, 'CKR_DEVICE_ERROR')
        pid_calls = len(bed.fixture.calls('C_SignInit'))
        # pkcs11-tool falls back to C_SignInit + C_SignUpdate when C_Sign
        # fails: SoftHSM must not still be in the failed operation.
        res = pkcs11_tool(*login, '--sign', '-m', 'ECDSA', '--id', '52', '-i', os.devnull,
                          '-o', os.devnull)
        self.assertEqual(len(bed.fixture.calls('C_SignInit')), pid_calls + 2, res.stderr)
        self.assertNotIn('CKR_OPERATION_ACTIVE', res.stderr)

    def test_fail_initialize(self):
        bed.fixture.fail('C_Initialize', 1, 'CKR_HOST_MEMORY')
        res = pkcs11_tool('-L')
        self.assertNotEqual(res.returncode, 0)
        self.assertIn('CKR_HOST_MEMORY', res.stderr)

    def test_card_pulled_mid_keygen(self):
        card = self.card(2)
        card.insert()
        bed.fixture.hold('C_GenerateKeyPair')
        env = bed.env(tool=True, extra={'JETON_TEST_PIN': USER_PIN})
        proc = subprocess.Popen(
            ['pkcs11-tool', '--module', bed.fixture.module_path, '--slot', '0', '--login', '--pin',
             'env:JETON_TEST_PIN', '--keypairgen', '--key-type', 'EC:prime256v1', '--label',
             'k-pulled'], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        try:
            bed.fixture.wait_call('C_GenerateKeyPair', pid=proc.pid)
            card.remove()
            bed.fixture.release('C_GenerateKeyPair')
            out, err = proc.communicate(timeout=60)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.communicate()
        self.assertNotEqual(proc.returncode, 0)
        self.assertIn('C_GenerateKeyPair', err)
        self.assertIn('CKR_DEVICE_REMOVED', err)

        # The key never reached the token.
        card.insert()
        res = pkcs11_tool('--slot', '0', '--login', '--pin', 'env:JETON_TEST_PIN', '-O')
        self.assertEqual(res.returncode, 0, res.stderr)
        self.assertNotIn('k-pulled', res.stdout)

    def test_config_error(self):
        bed.fixture.conf.write_text('slot "Virtual PCD 0 00 00" token-label "x"\nbogus line\n')
        try:
            res = pkcs11_tool('-L')
        finally:
            bed.fixture.write()
        self.assertNotEqual(res.returncode, 0)
        self.assertIn(f'{bed.fixture.conf}:2: unknown directive "bogus"', res.stderr)


class TestBus(unittest.TestCase):
    def setUp(self):
        self.stack = contextlib.ExitStack()
        self.bus = self.stack.enter_context(tb.SystemBus(bed.dir / f'bus-{self.id()}'))
        self.addCleanup(self.stack.close)

    def request_name(self, name):
        import dbus
        try:
            return self.bus.connection().request_name(name)
        except dbus.exceptions.DBusException as e:
            return e.get_dbus_name()

    def test_shipped_policy(self):
        import dbus
        self.assertTrue(tb.POLICY_FILE.exists())
        self.assertIn(str(tb.POLICY_FILE), self.bus.conf.read_text())
        # Root may own jeton's name (the shipped policy), nobody may own
        # any other name (the system-bus defaults).
        self.assertEqual(self.request_name('org.jeton.Jeton1'), dbus.bus.REQUEST_NAME_REPLY_PRIMARY_OWNER)
        self.assertEqual(self.request_name('org.example.Other'), 'org.freedesktop.DBus.Error.AccessDenied')
        self.assertTrue(self.bus.address.startswith(f'unix:path={self.bus.socket}'))
        self.assertNotEqual(os.environ.get('DBUS_SYSTEM_BUS_ADDRESS'), self.bus.address)

    def check_authorization(self, action):
        out = tb.run(['busctl', f'--address={self.bus.address}', 'call', Polkit.BUS_NAME, Polkit.PATH,
                      'org.freedesktop.PolicyKit1.Authority', 'CheckAuthorization', '(sa{sv})sa{ss}us',
                      'unix-process', '2', 'pid', 'u', str(os.getpid()), 'start-time', 't', '0',
                      action, '0', '0', '']).stdout
        return out.split()[1] == 'true'

    def test_polkit(self):
        with Polkit(self.bus) as polkit:
            self.assertTrue(self.bus.has_name(Polkit.BUS_NAME))
            self.assertFalse(self.check_authorization('org.jeton.Jeton1.provision'))
            polkit.set_allowed(['org.jeton.Jeton1.provision'])
            self.assertTrue(self.check_authorization('org.jeton.Jeton1.provision'))
            self.assertFalse(self.check_authorization('org.jeton.Jeton1.initialize'))
        tb.wait_for(lambda: not self.bus.has_name(Polkit.BUS_NAME), what='polkitd to leave the bus')


class TestInProcess(TestbedCase):
    """One long-lived, multi-threaded client: what the daemon is."""

    def setUp(self):
        super().setUp()
        self.p11 = Cryptoki(bed.fixture.module_path)
        self.assertEqual(rv_name(self.p11.initialize()), 'CKR_OK')

    def tearDown(self):
        self.p11.finalize()
        super().tearDown()

    def assertRv(self, rv, name):
        self.assertEqual(rv_name(rv), name)

    def test_slots(self):
        self.card(3).insert()
        rv, slots = self.p11.slot_list()
        self.assertEqual(slots, [0, 1, 2, 3])
        rv, slots = self.p11.slot_list(token_present=True)
        self.assertEqual(slots, [1])
        rv, (description, manufacturer, flags) = self.p11.slot_info(1)
        self.assertEqual(description, bed.pcscd.readers[3])
        self.assertEqual(manufacturer, 'jeton test fixture')
        self.assertTrue(flags & CKF_TOKEN_PRESENT)
        self.assertRv(self.p11.slot_info(4)[0], 'CKR_SLOT_ID_INVALID')
        self.assertRv(self.p11.token_label(0)[0], 'CKR_TOKEN_NOT_PRESENT')
        self.assertRv(self.p11.open_session(0)[0], 'CKR_TOKEN_NOT_PRESENT')
        self.assertRv(self.p11.wait_for_slot_event(), 'CKR_FUNCTION_NOT_SUPPORTED')

    def test_card_pulled_with_open_session(self):
        card = self.card(2)
        card.insert()
        rv, h = self.p11.open_session(0)
        self.assertRv(rv, 'CKR_OK')
        self.assertEqual(self.p11.session_slot(h), (CKR['CKR_OK'], 0))
        self.assertRv(self.p11.random(h), 'CKR_OK')

        card.remove()
        self.assertRv(self.p11.random(h), 'CKR_DEVICE_REMOVED')
        self.assertRv(self.p11.session_slot(h)[0], 'CKR_DEVICE_REMOVED')
        self.assertRv(self.p11.token_label(0)[0], 'CKR_TOKEN_NOT_PRESENT')
        self.assertRv(self.p11.close_session(h), 'CKR_DEVICE_REMOVED')
        self.assertRv(self.p11.close_session(h), 'CKR_SESSION_HANDLE_INVALID')

        card.insert()
        rv, h2 = self.p11.open_session(0)
        self.assertRv(rv, 'CKR_OK')
        self.assertNotEqual(h2, h)
        self.assertRv(self.p11.random(h2), 'CKR_OK')
        self.assertRv(self.p11.random(h), 'CKR_SESSION_HANDLE_INVALID')
        self.assertRv(self.p11.close_session(h2), 'CKR_OK')

    def test_token_created_later_is_found(self):
        self.card(1).insert()
        self.card(2).insert()
        self.assertRv(self.p11.token_label(3)[0], 'CKR_TOKEN_NOT_RECOGNIZED')
        bed.softhsm.create_token('late-token', SO_PIN, USER_PIN)

        # An open session forbids re-initialising SoftHSM: not seen yet,
        # and the session survives.
        rv, h = self.p11.open_session(0)
        self.assertRv(rv, 'CKR_OK')
        self.assertRv(self.p11.token_label(3)[0], 'CKR_TOKEN_NOT_RECOGNIZED')
        self.assertRv(self.p11.random(h), 'CKR_OK')
        self.assertRv(self.p11.close_session(h), 'CKR_OK')

        self.assertEqual(self.p11.token_label(3), (CKR['CKR_OK'], 'late-token'))
        self.assertEqual(self.p11.token_label(0), (CKR['CKR_OK'], 'holder-1'))

    def test_keygens_on_two_slots_overlap(self):
        self.card(2).insert()
        self.card(3).insert()
        # Re-read the config with the hold in it.
        self.p11.finalize()
        bed.fixture.hold('C_GenerateKeyPair')
        self.assertRv(self.p11.initialize(), 'CKR_OK')
        before = len(bed.fixture.calls('C_GenerateKeyPair', pid=os.getpid()))
        results = {}

        def keygen(slot):
            rv, h = self.p11.open_session(slot)
            if rv == 0:
                rv = self.p11.login(h, USER_PIN)
            if rv == 0:
                rv = self.p11.generate_ec_session_key(h, f'k{slot}')
            results[slot] = rv_name(rv)
            self.p11.close_session(h)

        threads = [threading.Thread(target=keygen, args=(slot,)) for slot in (0, 1)]
        for t in threads:
            t.start()
        try:
            # Both calls are inside the module at once: neither waits for
            # the other's lock.
            bed.fixture.wait_call('C_GenerateKeyPair', count=before + 2, pid=os.getpid())
        finally:
            bed.fixture.release('C_GenerateKeyPair')
            for t in threads:
                t.join(60)
        self.assertEqual(results, {0: 'CKR_OK', 1: 'CKR_OK'})


def reexec_with_sanitizer():
    """An ASan-built fixture loaded into this (uninstrumented) python needs
    libasan first: start again with it preloaded."""
    preload = tb.Fixture.sanitizer_env()
    if not preload:
        return
    if os.environ.get('JETON_TESTBED_REEXEC') != '1':
        os.execve(sys.executable, [sys.executable] + sys.argv,
                  dict(os.environ, JETON_TESTBED_REEXEC='1', **preload))
    # Loaded now; the tools this test starts get it only when they load
    # the fixture (bed.env(tool=True)).
    for name in preload:
        os.environ.pop(name, None)


def main():
    reexec_with_sanitizer()

    def terminated(signum, frame):
        raise KeyboardInterrupt('SIGTERM')
    # Killed from outside: still tear the bed down.
    signal.signal(signal.SIGTERM, terminated)

    runner = unittest.TextTestRunner(verbosity=2)
    suite = unittest.defaultTestLoader.loadTestsFromModule(sys.modules[__name__])
    try:
        result = runner.run(suite)
    finally:
        tearDownModule()
    failed = len(result.failures) + len(result.errors)
    passed = max(0, result.testsRun - failed - len(result.skipped))
    print(f'{passed} passed, {failed} failed')
    return 0 if result.wasSuccessful() else 1


if __name__ == '__main__':
    sys.exit(main())
