#!/usr/bin/python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""jetonctl against the real jetond on the test bed: a private system bus
carrying jeton's shipped policy, pcscd with vicc cards, SoftHSM tokens
behind the fixture PKCS#11 module. What jetonctl prints is checked against
busctl's view of the same objects, an independent client.

Run through build/tests/integration/test-jetonctl (it sets JETON_BUILDDIR)
or directly; JETOND and JETONCTL in the environment override the programs.
jetond runs through jetondtest.Jetond (under valgrind with JETON_VALGRIND=1)."""

import datetime
import json
import os
import re
import select
import signal
import subprocess
import sys
import time
import unittest
import urllib.parse
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import jetondtest as jt  # noqa: E402
from jetondtest import BUS_NAME, ROOT, tb  # noqa: E402

JETONCTL = os.environ.get('JETONCTL', str(tb.BUILDDIR / 'jetonctl'))
TOKEN_IFACE = jt.TOKEN
TIMEOUT = jt.TIMEOUT

# Test PINs: they reach the tools through their environment.
SO_PIN = '87654321'
USER_PIN = '123456'

# Reader i holds (or will hold) the card bound to this token.
LABELS = ['holder-1', 'Jeanne Dupré', 'no-such-token', 'holder-3']
UNSUPPORTED = 2     # no SoftHSM token behind this reader: an unrecognised card
HOTPLUG = 3         # inserted and removed by the monitor tests

bed = None
daemon = None


# ---- busctl's view, the reference -------------------------------------------------

def _parse_type(sig, i=0):
    """Returns (one complete type, index after it) from a D-Bus signature."""
    c = sig[i]
    if c == 'a':
        t, j = _parse_type(sig, i + 1)
        return 'a' + t, j
    if c in '({':
        close = ')' if c == '(' else '}'
        j = i + 1
        while sig[j] != close:
            _, j = _parse_type(sig, j)
        return sig[i:j + 1], j + 1
    return c, i + 1


def _split_types(sig):
    types, i = [], 0
    while i < len(sig):
        t, i = _parse_type(sig, i)
        types.append(t)
    return types


def plain(sig, data):
    """busctl --json's {"type", "data"} for variants, turned into plain
    values: what jetonctl's JSON promises."""
    if sig == 'v':
        return plain(data['type'], data['data'])
    if sig.startswith('a{'):
        ktype, vtype = _split_types(sig[2:-1])
        return {str(k): plain(vtype, v) for k, v in data.items()}
    if sig.startswith('a'):
        return [plain(sig[1:], v) for v in data]
    if sig.startswith('('):
        return [plain(t, v) for t, v in zip(_split_types(sig[1:-1]), data)]
    return data


def busctl(*args, address=None):
    res = tb.run(['busctl', f'--address={address or bed.bus.address}', '--json=short', *args])
    out = json.loads(res.stdout)
    return [plain(t, d) for t, d in zip(_split_types(out['type']), out['data'])]


def busctl_objects(address=None):
    return busctl('call', BUS_NAME, ROOT, 'org.freedesktop.DBus.ObjectManager', 'GetManagedObjects',
                  address=address)[0]


def busctl_tokens(address=None):
    """{path: Token properties}."""
    return {path: ifaces[TOKEN_IFACE] for path, ifaces in busctl_objects(address).items()
            if TOKEN_IFACE in ifaces}


def stable(props):
    """props with Keys and Certificates in a fixed order: jetond lists them
    in the order the module returns them, which may change on a rescan."""
    out = dict(props)
    for k in ('Keys', 'Certificates'):
        if k in out:
            out[k] = sorted(out[k], key=lambda d: json.dumps(d, sort_keys=True))
    return out


def token_by_label(label):
    for path, props in busctl_tokens().items():
        if props['Label'] == label:
            return path, props
    raise AssertionError(f'jetond shows no token labelled {label!r}')


def token_by_reader(reader):
    for path, props in busctl_tokens().items():
        if props['Reader'] == reader:
            return path, props
    raise AssertionError(f'jetond shows no token in {reader!r}')


def wait_tokens(readers, address=None):
    """Waits until jetond shows a token in exactly these readers."""
    def shown():
        try:
            tokens = busctl_tokens(address)
        except tb.TestbedError:
            return False
        return sorted(p['Reader'] for p in tokens.values()) == sorted(readers)
    tb.wait_for(shown, TIMEOUT, f'tokens in {readers}', interval=0.05)


# ---- the programs -----------------------------------------------------------------

def start_jetond(bus, name):
    """The real jetond on bus, the fixture module its one module."""
    d = bed.dir / name
    d.mkdir(exist_ok=True)
    return jt.Jetond(d, bed.env(extra=bus.env), [bed.fixture.module_path], name=name).start(bus)


def jetonctl(*args, address=None, user=None, check=None):
    """Runs jetonctl; returns the CompletedProcess. check=N asserts the exit status."""
    env = bed.env(extra={'DBUS_SYSTEM_BUS_ADDRESS': address or bed.bus.address})
    argv = [JETONCTL, *args]
    if user:
        argv = ['runuser', '-u', user, '--', *argv]
    res = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=60,
                         stdin=subprocess.DEVNULL)
    if check is not None and res.returncode != check:
        raise AssertionError(f'jetonctl {" ".join(args)}: exit {res.returncode}, expected {check}\n'
                             f'stdout: {res.stdout}\nstderr: {res.stderr}')
    return res


class LineReader:
    """Lines from a pipe, each waited for with a bounded timeout."""

    def __init__(self, f):
        self.fd = f.fileno()
        self.buf = b''
        self.lines = []         # everything read so far

    def readline(self, timeout=TIMEOUT):
        deadline = time.monotonic() + timeout
        while b'\n' not in self.buf:
            left = deadline - time.monotonic()
            ready, _, _ = select.select([self.fd], [], [], max(left, 0))
            if not ready:
                return None
            chunk = os.read(self.fd, 4096)
            if not chunk:
                return None
            self.buf += chunk
        line, self.buf = self.buf.split(b'\n', 1)
        line = line.decode()
        self.lines.append(line)
        return line

    def wait_for(self, predicate, what, timeout=TIMEOUT):
        deadline = time.monotonic() + timeout
        while True:
            line = self.readline(max(deadline - time.monotonic(), 0))
            if line is None:
                raise AssertionError(f'no line with {what} within {timeout:g} s; got:\n'
                                     + '\n'.join(self.lines))
            if predicate(line):
                return line


class Monitor:
    """`jetonctl monitor` in the background."""

    def __init__(self, *args, address=None):
        env = bed.env(extra={'DBUS_SYSTEM_BUS_ADDRESS': address or bed.bus.address})
        self.popen = subprocess.Popen([JETONCTL, 'monitor', *args], env=env, stdin=subprocess.DEVNULL,
                                      stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        self.out = LineReader(self.popen.stdout)
        self.err = LineReader(self.popen.stderr)

    def wait_ready(self):
        """The notice on stderr comes once the signal matches are in place."""
        line = self.err.readline()
        if line is None:
            raise AssertionError('jetonctl monitor said nothing on stderr')
        return line

    def stop(self):
        if self.popen.poll() is None:
            self.popen.send_signal(signal.SIGTERM)
        rc = self.popen.wait(TIMEOUT)
        rest = self.popen.stderr.read().decode()
        self.popen.stdout.close()
        self.popen.stderr.close()
        return rc, rest


# ---- fixture ------------------------------------------------------------------------

def make_certificates(tmp):
    """A test CA and two holder certificates: one valid for 400 days, one
    that expired in 2021. Returns {label: DER path}."""
    ca = tmp / 'ca'
    ca.mkdir()
    (ca / 'index.txt').write_text('')
    (ca / 'serial').write_text('1000\n')
    (ca / 'ca.cnf').write_text(f'''[ca]
default_ca = test
[test]
dir = {ca}
database = $dir/index.txt
new_certs_dir = $dir
serial = $dir/serial
default_md = sha256
policy = anything
unique_subject = no
[anything]
countryName = optional
organizationName = optional
commonName = supplied
''')
    tb.run(['openssl', 'req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes',
            '-keyout', ca / 'ca.key', '-out', ca / 'ca.pem', '-days', '3650',
            '-subj', '/C=FR/O=Jeton Test/CN=Jeton Test CA'])
    tb.run(['openssl', 'req', '-new', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes',
            '-keyout', ca / 'holder.key', '-out', ca / 'holder.csr', '-utf8',
            '-subj', '/C=FR/O=Jeton Test/CN=Jeanne Dupr\u00e9'])
    now = datetime.datetime.now(datetime.timezone.utc)
    fmt = '%Y%m%d%H%M%SZ'
    dates = {
        'valid': ((now - datetime.timedelta(days=1)).strftime(fmt),
                  (now + datetime.timedelta(days=400)).strftime(fmt)),
        'expired': ('20200101000000Z', '20210101000000Z'),
    }
    ders = {}
    for label, (start, end) in dates.items():
        pem = ca / f'{label}.pem'
        tb.run(['openssl', 'ca', '-batch', '-config', ca / 'ca.cnf', '-cert', ca / 'ca.pem',
                '-keyfile', ca / 'ca.key', '-in', ca / 'holder.csr', '-out', pem, '-notext',
                '-startdate', start, '-enddate', end])
        ders[label] = ca / f'{label}.der'
        tb.run(['openssl', 'x509', '-in', pem, '-outform', 'DER', '-out', ders[label]])
    return ders


def pkcs11_tool(token, *args):
    """pkcs11-tool on SoftHSM itself; the test PIN through the environment."""
    env = bed.env(extra={'JETON_TEST_PIN': USER_PIN})
    return tb.run(['pkcs11-tool', '--module', tb.SOFTHSM_MODULE, '--token-label', token,
                   '--login', '--pin', 'env:JETON_TEST_PIN', *args], env=env)


def setUpModule():
    global bed, daemon
    bed = tb.Testbed(nreaders=4, bus=True)
    bed.__enter__()
    try:
        for i, label in enumerate(LABELS):
            if i != UNSUPPORTED:
                bed.softhsm.create_token(label, SO_PIN, USER_PIN)
            bed.fixture.bind(bed.pcscd.readers[i], label)
        # holder-1 holds an EC key pair and two certificates.
        ders = make_certificates(bed.dir)
        pkcs11_tool('holder-1', '--keypairgen', '--key-type', 'EC:prime256v1', '--id', '01',
                    '--label', 'BD1734971738')
        for n, (label, der) in enumerate(sorted(ders.items())):
            pkcs11_tool('holder-1', '--write-object', der, '--type', 'cert', '--id', f'1{n}',
                        '--label', label)
        for i in range(len(LABELS)):
            if i != HOTPLUG:
                bed.card(i).insert()
        daemon = start_jetond(bed.bus, 'jetond')
        wait_tokens([r for i, r in enumerate(bed.pcscd.readers) if i != HOTPLUG])
    except BaseException:
        tearDownModule()
        raise


def tearDownModule():
    if daemon:
        daemon.stop(bed.bus)
    if bed:
        bed.__exit__(None, None, None)


def days_left(not_after_us, now_s):
    return (not_after_us - int(now_s * 1e6)) // (86400 * 10**6)


def utc(us, fmt='%Y-%m-%d %H:%M:%S UTC'):
    return datetime.datetime.fromtimestamp(us // 10**6, datetime.timezone.utc).strftime(fmt)


# ---- list -----------------------------------------------------------------------------

class TestList(unittest.TestCase):
    def test_json_is_busctls_view(self):
        res = jetonctl('list', '--json', check=0)
        listed = json.loads(res.stdout)
        self.assertIsInstance(listed, list)
        expect = {path: stable(props) for path, props in busctl_tokens().items()}
        self.assertEqual({t['path']: stable({k: v for k, v in t.items() if k != 'path'}) for t in listed}, expect)
        # Sorted by reader, as the table is.
        self.assertEqual([t['Reader'] for t in listed], sorted(t['Reader'] for t in listed))

    def test_json_modes(self):
        short = jetonctl('list', '--json=short', check=0).stdout
        pretty = jetonctl('--json=pretty', 'list', check=0).stdout
        self.assertEqual(len(short.splitlines()), 1)
        self.assertGreater(len(pretty.splitlines()), 10)
        self.assertEqual(json.loads(short), json.loads(pretty))
        # Not a terminal: --json alone is short.
        self.assertEqual(jetonctl('list', '--json', check=0).stdout, short)

    def test_table(self):
        res = jetonctl('list', check=0)
        lines = res.stdout.splitlines()
        self.assertEqual(lines[0].split(), ['SERIAL', 'LABEL', 'MODEL', 'READER', 'STATE', 'CERTS', 'EXPIRES'])
        tokens = busctl_tokens()
        self.assertEqual(lines[-1], f'{len(tokens)} tokens listed.')
        rows = lines[1:-2]
        self.assertEqual(len(rows), len(tokens))
        # Columns are aligned: every row's cells start where the header's do.
        starts = [m.start() for m in re.finditer(r'(?<=  )\S|^\S', lines[0])]
        for props in tokens.values():
            row = next(r for r in rows if props['Reader'] in r)
            for cell in (props['Serial'] or '-', props['Label'] or '-', props['State'],
                         str(len(props['Certificates']))):
                self.assertIn(cell, row)
            self.assertEqual(row.index(props['Reader']), starts[3], row)
        holder1 = next(r for r in rows if 'holder-1' in r)
        self.assertIn('SoftHSM project/SoftHSM v2', holder1)
        # The nearest expiry of holder-1's two certificates is the expired one.
        self.assertTrue(holder1.rstrip().endswith('2021-01-01 EXPIRED'), holder1)
        unsupported = next(r for r in rows if bed.pcscd.readers[UNSUPPORTED] in r)
        self.assertIn('unsupported', unsupported)

    def test_no_legend_and_default_verb(self):
        plain_rows = jetonctl('--no-legend', check=0).stdout.splitlines()
        self.assertEqual(len(plain_rows), len(busctl_tokens()))
        self.assertNotIn('SERIAL', plain_rows[0])


# ---- show and TOKEN -------------------------------------------------------------------

class TestShow(unittest.TestCase):
    def show_json(self, token):
        return json.loads(jetonctl('show', '--json', token, check=0).stdout)

    def test_json_is_busctls_view(self):
        for path, props in busctl_tokens().items():
            got = self.show_json(path)
            self.assertEqual(got.pop('path'), path)
            self.assertEqual(stable(got), stable(props))
            # GetAll on the object agrees too.
            self.assertEqual(stable(got), stable(busctl('call', BUS_NAME, path, 'org.freedesktop.DBus.Properties',
                                                        'GetAll', 's', TOKEN_IFACE)[0]))

    def test_token_names(self):
        path, props = token_by_label('Jeanne Dupré')
        label = urllib.parse.quote(props['Label'], safe='')
        names = [
            props['Serial'],
            props['Label'],
            path,
            props['Uri'],                                   # as jetond writes it
            f'pkcs11:token={label}',                        # percent-encoded UTF-8 and blank
            f'pkcs11:serial={props["Serial"]};object=key;id=%01?pin-source=file:/dev/null',
            f'PKCS11:manufacturer={urllib.parse.quote(props["Manufacturer"])};token={label}',
        ]
        self.assertIn('%C3%A9', props['Uri'].upper())
        for name in names:
            with self.subTest(name=name):
                self.assertEqual(self.show_json(name)['path'], path)

    def test_text(self):
        path, props = token_by_label('holder-1')
        before = time.time()
        out = jetonctl('show', 'holder-1', check=0).stdout
        after = time.time()
        self.assertIn(f'Token {path}', out)
        for field, key in (('Label', 'Label'), ('Serial', 'Serial'), ('State', 'State'), ('Reader', 'Reader'),
                           ('Manufacturer', 'Manufacturer'), ('Model', 'Model'), ('Module', 'Module'),
                           ('URI', 'Uri'), ('ATR', 'Atr')):
            self.assertRegex(out, rf'(?m)^ *{field}: {re.escape(props[key])}$')
        self.assertRegex(out, rf'(?m)^ *PIN length: {props["PinMinLength"]} to {props["PinMaxLength"]}$')
        self.assertRegex(out, rf'(?m)^ *Slot: {props["Slot"]}$')

        self.assertIn(f'Keys ({len(props["Keys"])}):', out)
        for key in props['Keys']:
            self.assertRegex(out, rf'(?m)^  {key["class"]} {key["algorithm"]}')
            self.assertRegex(out, rf'(?m)^ +ID: {key["id"]}$')

        certs = props['Certificates']
        self.assertEqual(len(certs), 2)
        self.assertIn('Certificates (2):', out)
        for cert in certs:
            for field, key in (('Issuer', 'issuer'), ('Serial', 'serial'), ('Label', 'label')):
                self.assertRegex(out, rf'(?m)^ +{field}: {re.escape(cert[key])}$')
            self.assertRegex(out, rf'(?m)^  {re.escape(cert["subject"])}$')
            self.assertIn(f'Not before: {utc(cert["not-before"])}', out)
            if cert['label'] == 'expired':
                self.assertIn(f'Not after: {utc(cert["not-after"])} EXPIRED', out)
            else:
                days = {days_left(cert['not-after'], before), days_left(cert['not-after'], after)}
                self.assertTrue(any(f'Not after: {utc(cert["not-after"])} ({d} days left)' in out for d in days),
                                out)
                self.assertLessEqual(days, {399, 400})     # issued for 400 days, minutes ago

    def test_unsupported_card(self):
        path, props = token_by_reader(bed.pcscd.readers[UNSUPPORTED])
        self.assertEqual(props['State'], 'unsupported')
        out = jetonctl('show', path, check=0).stdout
        self.assertRegex(out, r'(?m)^ *State: unsupported$')
        self.assertRegex(out, rf'(?m)^ *ATR: {props["Atr"]}$')


class TestErrors(unittest.TestCase):
    def test_not_found(self):
        for name in ('no-such-label', '/org/jeton/Jeton1/token/nothing', 'pkcs11:token=holder-1;manufacturer=Nope'):
            with self.subTest(name=name):
                res = jetonctl('show', name, check=3)
                self.assertIn('No token matches', res.stderr)
                self.assertEqual(res.stdout, '')

    def test_ambiguous(self):
        # "pkcs11:" names every token.
        res = jetonctl('show', 'pkcs11:', check=3)
        self.assertIn(f'matches {len(busctl_tokens())} tokens', res.stderr)
        for path in busctl_tokens():
            self.assertIn(path, res.stderr)

    def test_pin_never_echoed(self):
        res = jetonctl('show', 'pkcs11:token=nothing?pin-value=424242', check=3)
        self.assertNotIn('424242', res.stdout + res.stderr)
        self.assertIn('pin-value', res.stderr)     # the warning

    def test_usage(self):
        for args in (('show',), ('show', 'a', 'b'), ('frobnicate',), ('--json=xml', 'list'), ('--bogus',),
                     ('show', 'pkcs11:token=%zz'), ('show', 'pkcs11:token')):
            with self.subTest(args=args):
                jetonctl(*args, check=2)
        # A usage error is one even when there is no bus at all.
        jetonctl(f'--address=unix:path={bed.dir / "no-bus-here"}', 'show', 'pkcs11:token=%zz', check=2)
        self.assertIn('show TOKEN', jetonctl('--help', check=0).stdout)
        self.assertRegex(jetonctl('--version', check=0).stdout, r'^jetonctl \d+\.\d+')

    def test_unreachable(self):
        sock = bed.dir / 'no-bus-here'
        for verb in (('list',), ('show', 'x'), ('monitor',)):
            with self.subTest(verb=verb):
                res = jetonctl(f'--address=unix:path={sock}', *verb, check=4)
                self.assertIn('Failed to connect', res.stderr)
                # The same through DBUS_SYSTEM_BUS_ADDRESS.
                res = jetonctl(*verb, address=f'unix:path={sock}', check=4)
                self.assertIn('Failed to connect', res.stderr)

    def test_daemon_not_on_bus(self):
        with tb.SystemBus(bed.dir / 'empty-bus') as bus:
            for verb in (('list',), ('show', 'x')):
                with self.subTest(verb=verb):
                    res = jetonctl(*verb, address=bus.address, check=4)
                    self.assertIn('jetond is not reachable', res.stderr)


# ---- monitor ----------------------------------------------------------------------------

class TestMonitor(unittest.TestCase):
    def test_insert_remove(self):
        reader = bed.pcscd.readers[HOTPLUG]
        mon = Monitor()
        try:
            self.assertRegex(mon.wait_ready(), r'^Monitoring jetond \(3 tokens present\)')
            card = bed.card(HOTPLUG)
            card.insert()
            added = mon.out.wait_for(lambda line: 'token-added' in line, 'token-added')
            path, props = token_by_reader(reader)
            self.assertRegex(added, r'^\d\d:\d\d:\d\d\.\d{3} token-added +')
            self.assertIn(f'SoftHSM project/SoftHSM v2" serial {props["Serial"]} label "holder-3" '
                          f'reader "{reader}" state {props["State"]}', added)
            card.remove()
            removed = mon.out.wait_for(lambda line: 'token-removed' in line, 'token-removed')
            self.assertIn(f'serial {props["Serial"]} label "holder-3" reader "{reader}"', removed)
            wait_tokens([r for i, r in enumerate(bed.pcscd.readers) if i != HOTPLUG])
        finally:
            rc, err = mon.stop()
        self.assertEqual(rc, 0, err)
        # The reader list changed twice on the Manager: PropertiesChanged.
        self.assertTrue(any('manager-changed' in line and 'readers' in line for line in mon.out.lines),
                        mon.out.lines)

    def test_json(self):
        reader = bed.pcscd.readers[HOTPLUG]
        mon = Monitor('--json')
        try:
            mon.wait_ready()
            card = bed.card(HOTPLUG)
            card.insert()
            added = json.loads(mon.out.wait_for(lambda line: '"token-added"' in line, 'token-added'))
            path, props = token_by_reader(reader)
            self.assertEqual(added['event'], 'token-added')
            self.assertEqual(added['path'], path)
            self.assertEqual(added['interface'], TOKEN_IFACE)
            self.assertEqual(stable(added['properties']), stable(props))
            self.assertLess(abs(added['timestamp'] / 1e6 - time.time()), 60)
            self.assertRegex(added['time'], r'^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$')
            card.remove()
            removed = json.loads(mon.out.wait_for(lambda line: '"token-removed"' in line, 'token-removed'))
            self.assertEqual(removed['path'], path)
            self.assertEqual(removed['properties']['Serial'], props['Serial'])
            wait_tokens([r for i, r in enumerate(bed.pcscd.readers) if i != HOTPLUG])
        finally:
            rc, err = mon.stop()
        self.assertEqual(rc, 0, err)
        # Every line is one JSON object; the reader changes came as changes.
        events = [json.loads(line) for line in mon.out.lines]
        readers = [e for e in events if e['event'] == 'manager-changed' and 'Readers' in e['changed']]
        self.assertTrue(readers, events)
        self.assertEqual(readers[-1]['path'], ROOT)
        self.assertEqual(readers[-1]['changed']['Readers'], readers[-1]['properties']['Readers'])

    def test_daemon_starts_and_stops(self):
        """On a bus where jetond is not running yet: the monitor waits, then
        sees it start with the tokens already present, and stop."""
        with tb.SystemBus(bed.dir / 'second-bus') as bus:
            mon = Monitor(address=bus.address)
            second = None
            try:
                self.assertIn('not running', mon.wait_ready())
                second = start_jetond(bus, 'second-jetond')
                started = mon.out.wait_for(lambda line: 'daemon-started' in line, 'daemon-started')
                self.assertIn(BUS_NAME, started)
                present = busctl_tokens(bus.address)
                want = {props['Reader'] for props in present.values()}
                seen = set()

                def all_added(line):
                    m = re.search(r' token-added .* reader "([^"]*)"', line)
                    if m:
                        seen.add(m.group(1))
                    return seen >= want
                mon.out.wait_for(all_added, f'token-added for each of {sorted(want)}')
                self.assertEqual(second.stop(bus), 0, second.log_text())
                mon.out.wait_for(lambda line: 'daemon-stopped' in line, 'daemon-stopped')
            finally:
                if second:
                    second.stop()
                rc, err = mon.stop()
            self.assertEqual(rc, 0, err)
            self.assertEqual(sum('token-added' in line for line in mon.out.lines), len(present))


# ---- the shipped bus policy ----------------------------------------------------------------

class TestBusPolicy(unittest.TestCase):
    """jeton's shipped bus policy (systemd/org.jeton.Jeton1.conf) on a bus
    that, like the real system bus, lets every user connect: any local
    user reads; nobody but root owns the name or sends anything else."""

    @classmethod
    def setUpClass(cls):
        d = bed.dir / 'policy-bus'
        d.mkdir()
        users = d / 'all-users-connect.conf'
        users.write_text('<busconfig><policy context="default"><allow user="*"/></policy></busconfig>\n')
        cls.bus = tb.SystemBus(d, policy_files=[tb.POLICY_FILE, users]).__enter__()
        cls.daemon = None
        try:
            cls.daemon = start_jetond(cls.bus, 'policy-jetond')
            wait_tokens([r for i, r in enumerate(bed.pcscd.readers) if i != HOTPLUG], cls.bus.address)
        except BaseException:
            cls.tearDownClass()
            raise
        # The bus socket sits in the test bed's private directories.
        for p in (bed.dir, d, cls.bus.dir):
            os.chmod(p, 0o711)

    @classmethod
    def tearDownClass(cls):
        if cls.daemon:
            cls.daemon.stop(cls.bus)
        cls.bus.__exit__(None, None, None)

    def busctl_as_nobody(self, *args):
        return subprocess.run(['runuser', '-u', 'nobody', '--', 'busctl', f'--address={self.bus.address}', *args],
                              capture_output=True, text=True, timeout=60, stdin=subprocess.DEVNULL)

    def test_any_user_may_read(self):
        as_root = json.loads(jetonctl('list', '--json', address=self.bus.address, check=0).stdout)
        as_nobody = json.loads(jetonctl('list', '--json', address=self.bus.address, user='nobody', check=0).stdout)
        self.assertEqual([stable(t) for t in as_nobody], [stable(t) for t in as_root])
        self.assertEqual(len(as_nobody), len(LABELS) - 1)
        res = self.busctl_as_nobody('introspect', BUS_NAME, ROOT)
        self.assertEqual(res.returncode, 0, res.stderr)

    def test_nobody_may_not_own_the_name(self):
        args = ('call', 'org.freedesktop.DBus', '/org/freedesktop/DBus', 'org.freedesktop.DBus',
                'RequestName', 'su', BUS_NAME, '4')     # DO_NOT_QUEUE
        res = self.busctl_as_nobody(*args)
        self.assertNotEqual(res.returncode, 0)
        self.assertIn('Access denied', res.stderr)
        # Root may: the answer is 3, "exists" (jetond has it).
        self.assertEqual(busctl(*args, address=self.bus.address), [3])

    def test_nobody_may_not_set_properties(self):
        path = next(p for p, props in busctl_tokens(self.bus.address).items() if props['Label'] == 'holder-1')
        args = ('set-property', BUS_NAME, path, TOKEN_IFACE, 'Label', 's', 'stolen')
        res = self.busctl_as_nobody(*args)
        self.assertNotEqual(res.returncode, 0)
        self.assertIn('Access denied', res.stderr)
        # The bus stopped it: root's call reaches jetond, which refuses.
        res = tb.run(['busctl', f'--address={self.bus.address}', *args], check=False)
        self.assertNotEqual(res.returncode, 0)
        self.assertNotIn('Access denied', res.stderr)


if __name__ == '__main__':
    unittest.main(verbosity=2)
