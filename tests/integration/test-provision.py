#!/usr/bin/python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""Provisioning and installing (issue 4) against the real jetond, SoftHSM
behind the fixture module in vicc readers, a private bus and polkit.

The test is its own PIN agent: it registers an object implementing
org.jeton.Jeton1.PinAgent and answers RequestPin with a pipe holding the
PIN. Results are checked with independent tools: openssl (request and
certificate), pkcs11-tool (objects on the token), the fixture's call trace
(how many C_Login), the store's file bytes, the log and /proc/*/cmdline
(the PIN appears in none of them).

Crash recovery: jetond is SIGKILLed while the fixture holds it at each step
of a provisioning and of an install (in C_Login, in and after
C_GenerateKeyPair, in C_Sign, in and after C_CreateObject) and restarted;
PIN states SoftHSM never reports (final try, locked) come from the
fixture's token-flags."""

import datetime
import os
import re
import signal
import sys
import threading
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import jetondtest as jt  # noqa: E402
from jetondtest import tb, Gio, GLib  # noqa: E402

from cryptography import x509  # noqa: E402
from cryptography.hazmat.primitives import hashes, serialization  # noqa: E402
from cryptography.hazmat.primitives.asymmetric import ec  # noqa: E402

SO_PIN = 'so-5c2b91'
USER_PIN = 'pin-7f3e0a19'       # searched for in the db, log and argv
ORDER = 'org.jeton.Jeton1.Order'
JOB = 'org.jeton.Jeton1.Job'
PROFILES = jt.TOP / 'daemon/profiles'
TIMEOUT = jt.TIMEOUT * 3        # RSA-3072 keygen in SoftHSM takes a few seconds

AGENT_XML = '''<node><interface name="org.jeton.Jeton1.PinAgent">
 <method name="RequestPin"><arg type="o" direction="in"/><arg type="s" direction="in"/>
  <arg type="s" direction="in"/><arg type="as" direction="in"/><arg type="u" direction="in"/>
  <arg type="u" direction="in"/><arg type="h" direction="out"/></method>
 <method name="Cancel"><arg type="o" direction="in"/></method>
</interface></node>'''


# A PIN agent run as another user: registers, then reports every request on
# its output (and refuses it), so a wrongly routed prompt shows.
NOBODY_AGENT = f'''
import os, sys
from gi.repository import Gio, GLib
address = sys.argv[1]
xml = {AGENT_XML!r}
conn = Gio.DBusConnection.new_for_address_sync(
    address, Gio.DBusConnectionFlags.AUTHENTICATION_CLIENT | Gio.DBusConnectionFlags.MESSAGE_BUS_CONNECTION,
    None, None)
def on_call(conn, sender, path, interface, method, params, invocation):
    if method == 'RequestPin':
        print('REQUEST', params.unpack(), flush=True)
    invocation.return_dbus_error('org.jeton.Jeton1.PinAgent.Error.Canceled', 'recorded')
conn.register_object('/org/jeton/test/nobody', Gio.DBusNodeInfo.new_for_xml(xml).interfaces[0],
                     on_call, None, None)
conn.call_sync('org.jeton.Jeton1', '/org/jeton/Jeton1', 'org.jeton.Jeton1.Manager', 'RegisterPinAgent',
               GLib.Variant('(o)', ('/org/jeton/test/nobody',)), None, Gio.DBusCallFlags.NONE, -1, None)
print('READY', flush=True)
GLib.MainLoop().run()
'''


class PinAgent:
    """A PIN agent on its own connection and thread."""

    PATH = '/org/jeton/test/agent'

    def __init__(self, address, pin):
        self.pin = pin
        self.requests = []
        self._ctx = GLib.MainContext.new()
        self._loop = GLib.MainLoop.new(self._ctx, False)
        self._ready = threading.Event()
        self._thread = threading.Thread(target=self._run, args=(address,), daemon=True)
        self._thread.start()
        assert self._ready.wait(jt.TIMEOUT), 'agent did not start'

    def _run(self, address):
        self._ctx.push_thread_default()
        self.conn = Gio.DBusConnection.new_for_address_sync(address, jt.Client.FLAGS, None, None)
        info = Gio.DBusNodeInfo.new_for_xml(AGENT_XML).interfaces[0]
        self.conn.register_object(self.PATH, info, self._on_call, None, None)
        self._ready.set()
        self._loop.run()
        self._ctx.pop_thread_default()

    def _on_call(self, conn, sender, path, interface, method, params, invocation):
        if method == 'Cancel':
            invocation.return_value(None)
            return
        self.requests.append(params.unpack())
        if self.pin is None:
            invocation.return_dbus_error('org.jeton.Jeton1.PinAgent.Error.Canceled', 'no')
            return
        r, w = os.pipe()
        os.write(w, self.pin.encode() + b'\n')
        os.close(w)
        fds = Gio.UnixFDList.new_from_array([r])       # takes r over
        invocation.return_value_with_unix_fd_list(GLib.Variant('(h)', (0,)), fds)

    def register(self):
        self.conn.call_sync(jt.BUS_NAME, jt.ROOT, jt.MANAGER, 'RegisterPinAgent',
                            GLib.Variant('(o)', (self.PATH,)), None, Gio.DBusCallFlags.NONE, -1, None)

    def close(self):
        self._loop.quit()
        self._thread.join(jt.TIMEOUT)


def order_dict(ref, profile='certigna-rgs2', given='Jeanne', surname='Durand-Lefèvre'):
    v = GLib.Variant
    return {'reference': v('s', ref), 'ca': v('s', 'Certigna'), 'product': v('s', 'Pack ID RGS**'),
            'profile': v('s', profile), 'validity-years': v('u', 1), 'given-name': v('s', given),
            'surname': v('s', surname), 'email': v('s', 'jeanne@example.fr'),
            'organisation': v('s', 'Société Test'), 'siret': v('s', '12345678200002')}


def add_order(c, ref, **kw):
    return c.call(jt.ROOT, jt.MANAGER, 'AddOrder',
                  GLib.Variant('(a{sv}a{sv})', (order_dict(ref, **kw), {})))[0]


def provision(c, order_path, token='', confirm=False):
    opts = {'confirm-final-try': GLib.Variant('b', True)} if confirm else {}
    return c.call(order_path, ORDER, 'Provision', GLib.Variant('(sa{sv})', (token, opts)))[0]


def call_with_fd(c, path, iface, method, fmt, args, fd):
    fds = Gio.UnixFDList.new_from_array([fd])
    res, _ = c.conn.call_with_unix_fd_list_sync(jt.BUS_NAME, path, iface, method, GLib.Variant(fmt, args),
                                                 None, Gio.DBusCallFlags.NONE, int(jt.TIMEOUT * 1000), fds,
                                                 None)
    return res.unpack()


def install(c, order_path, data):
    r, w = os.pipe()
    os.write(w, data)
    os.close(w)
    # The fd list takes r over.
    return call_with_fd(c, order_path, ORDER, 'Install', '(ha{sv})', (0, {}), r)[0]


def dbus_error(fn, *args):
    try:
        fn(*args)
    except GLib.Error as e:
        return Gio.DBusError.get_remote_error(e), e.message
    raise AssertionError(f'{fn.__name__} did not fail')


def wait_job(c, job, timeout=TIMEOUT):
    """Waits for the job to finish, through its signals; returns its properties."""
    def final(e):
        return (e.member == 'PropertiesChanged' and e.path == job and e.args[0] == JOB
                and e.args[1].get('State') in ('done', 'failed', 'cancelled'))
    try:
        c.wait_event(final, 0, timeout, f'{job} to finish')
    except AssertionError:
        # It may have finished before our first look: the property says.
        if c.get(job, JOB, 'State') not in ('done', 'failed', 'cancelled'):
            raise
    return c.get_all(job, JOB)


def job_stages(c, job):
    return [e.args[1]['Stage'] for e in c.events
            if e.member == 'PropertiesChanged' and e.path == job and 'Stage' in e.args[1]]


def p11(*args, label='holder-1'):
    env = bed.env({'JETON_TEST_PIN': USER_PIN}, tool=True)
    return tb.run(['pkcs11-tool', '--module', tb.SOFTHSM_MODULE, '--token-label', label, '--login',
                   '--pin', 'env:JETON_TEST_PIN', *args], env=env).stdout


def private_keys(label='holder-1'):
    """[(label, id hex)] of the private keys on the token."""
    out = p11('-O', '--type', 'privkey', label=label)
    keys = []
    for block in out.split('Private Key Object')[1:]:
        lab = re.search(r'label:\s*(.*)', block)
        ident = re.search(r'ID:\s*([0-9a-f]+)', block)
        keys.append((lab.group(1).strip() if lab else '', ident.group(1) if ident else ''))
    return keys


def certificates(label='holder-1'):
    out = p11('-O', '--type', 'cert', label=label)
    certs = []
    for block in out.split('Certificate Object')[1:]:
        lab = re.search(r'label:\s*(.*)', block)
        ident = re.search(r'ID:\s*([0-9a-f]+)', block)
        certs.append((lab.group(1).strip() if lab else '', ident.group(1) if ident else ''))
    return certs


def sign_csr(csr_pem, days=365, not_before=None, not_after=None, key=None):
    """The test CA signs the request (openssl x509 -req); dates in the past
    and another key through the cryptography module (OpenSSL 3.0's x509
    command has no -not_before/-not_after)."""
    csr_file = bed.dir / 'req.csr'
    out = bed.dir / 'cert.pem'
    csr_file.write_text(csr_pem)
    if not_before is None and key is None:
        tb.run(['openssl', 'x509', '-req', '-in', csr_file, '-CA', CA_PEM, '-CAkey', CA_KEY, '-CAcreateserial',
                '-days', str(days), '-copy_extensions', 'copy', '-out', out])
        return out.read_bytes()
    csr = x509.load_pem_x509_csr(csr_pem.encode())
    ca = x509.load_pem_x509_certificate(CA_PEM.read_bytes())
    ca_key = serialization.load_pem_private_key(CA_KEY.read_bytes(), None)
    now = datetime.datetime.now(datetime.timezone.utc)
    cert = (x509.CertificateBuilder().subject_name(csr.subject).issuer_name(ca.subject)
            .public_key(key.public_key() if key else csr.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(not_before or now).not_valid_after(not_after or now + datetime.timedelta(days))
            .sign(ca_key, hashes.SHA256()))
    return cert.public_bytes(serialization.Encoding.PEM)


def check_request(pem, ref):
    f = bed.dir / f'{ref}-check.csr'
    f.write_text(pem)
    res = tb.run(['openssl', 'req', '-in', f, '-verify', '-noout'], check=False)
    assert res.returncode == 0 and 'verify OK' in (res.stdout + res.stderr), res.stderr
    subject = tb.run(['openssl', 'req', '-in', f, '-noout', '-subject', '-nameopt', 'RFC2253,utf8,-esc_msb'],
                     ).stdout.strip()
    subject = subject.removeprefix('subject=')
    # RFC 2253 lists the RDNs last first.
    want = ['C=FR', 'O=Société Test', 'OU=0002 12345678200002', 'organizationIdentifier=NTRFR-12345678200002',
            'CN=Jeanne Durand-Lefèvre', 'GN=Jeanne', 'SN=Durand-Lefèvre']
    got = [p.replace('givenName=', 'GN=').replace('surname=', 'SN=').replace('2.5.4.97=', 'organizationIdentifier=')
           for p in reversed(re.split(r'(?<!\\),', subject))]
    assert got == want, (got, want)
    text = tb.run(['openssl', 'req', '-in', f, '-noout', '-text']).stdout
    assert 'sha256WithRSAEncryption' in text and 'Public-Key: (3072 bit)' in text, text


def pin_nowhere(jetond):
    pin = USER_PIN.encode()
    for f in jetond.dir.glob(f'{jetond.name}-state/**/*'):
        if f.is_file():
            assert pin not in f.read_bytes(), f'PIN found in {f}'
    assert USER_PIN not in jetond.log_text(), 'PIN found in the log'


def cmdline_watch(stop):
    """Reads every process's command line until stop is set."""
    found = []
    while not stop.is_set():
        for p in Path('/proc').iterdir():
            if p.name.isdigit():
                try:
                    if USER_PIN.encode() in (p / 'cmdline').read_bytes():
                        found.append(p.name)
                except OSError:
                    pass
        stop.wait(0.005)
    return found


with tb.Testbed(nreaders=4, bus=True, polkit=True) as bed:
    bed.softhsm.create_token('holder-1', SO_PIN, USER_PIN)
    bed.softhsm.create_token('holder-2', SO_PIN, USER_PIN)
    bed.fixture.bind(bed.pcscd.readers[0], 'holder-1')
    bed.fixture.bind(bed.pcscd.readers[1], 'holder-2')
    bed.polkit.set_allowed(['org.jeton.Jeton1.provision', 'org.jeton.Jeton1.install',
                            'org.jeton.Jeton1.manage-orders'])
    CA_KEY, CA_PEM = bed.dir / 'ca.key', bed.dir / 'ca.pem'
    tb.run(['openssl', 'req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', CA_KEY, '-out', CA_PEM,
            '-subj', '/C=FR/O=Jeton Test CA/CN=Jeton Test CA', '-days', '30'])

    stop_watch = threading.Event()
    argv_hits = []
    watcher = threading.Thread(target=lambda: argv_hits.extend(cmdline_watch(stop_watch)), daemon=True)
    watcher.start()

    # A P-256 profile beside the shipped ones (all RSA-3072): the kill
    # points wait on key generation, and SoftHSM's RSA prime search has a
    # long tail that a bounded wait should not ride on.
    test_profiles = bed.dir / 'profiles'
    test_profiles.mkdir()
    (test_profiles / 'test-p256.profile').write_text(
        (PROFILES / 'eidas-natural-person.profile').read_text()
        .replace('name = eidas-natural-person', 'name = test-p256')
        .replace('algorithm = rsa3072', 'algorithm = p256'))
    extra = f'ProfileDirectories={test_profiles} {PROFILES}\n'
    jetond = jt.Jetond(bed.dir, bed.env(), [tb.FIXTURE_MODULE], extra=extra)
    inbox = bed.dir / 'jetond-state/inbox'
    outbox = bed.dir / 'jetond-state/outbox'
    card1, card2 = bed.card(0), bed.card(1)
    card1.insert()
    jetond.start(bed.bus)
    c = jt.Client(bed.bus.address)
    agent = PinAgent(bed.bus.address, USER_PIN)
    agent.register()
    serial1 = bed.softhsm.token_serial('holder-1')
    tb.wait_for(lambda: any(t['Serial'] == serial1 for t in c.tokens().values()), jt.TIMEOUT, 'holder-1')

    # -- provision: stages, order key-generated, request, outbox, key on the token
    o1 = add_order(c, 'BD1734971738')
    job = provision(c, o1)
    props = wait_job(c, job)
    assert props['State'] == 'done' and props['Result'] == 'ok' and props['Percent'] == 100, props
    assert props['Kind'] == 'provision' and props['Order'] == o1 and props['TokenSerial'] == serial1, props
    stages = job_stages(c, job)
    for s in ('login', 'generate-key', 'sign-request', 'verify-request', 'store'):
        assert s in stages, (s, stages)
    assert agent.requests and agent.requests[0][2] == 'provision BD1734971738', agent.requests
    o = c.get_all(o1, ORDER)
    assert o['State'] == 'key-generated', o
    check_request(o['Csr'], 'BD1734971738')
    assert (outbox / 'BD1734971738.csr').read_text() == o['Csr']
    keys = private_keys()
    assert [k[0] for k in keys] == ['BD1734971738'], keys
    assert keys[0][1] == o['KeyId'], (keys, o['KeyId'])
    ev = o['Evidence']
    assert ev['local'] and ev['never-extractable'] and ev['always-sensitive'] and ev['token-serial'] == serial1, ev
    print('ok: provision (stages, CSR verified, subject, outbox, key label and id, evidence)')

    # -- install refusals: another key, expired, corrupted; nothing written
    other = ec.generate_private_key(ec.SECP256R1())
    for data, name in ((sign_csr(o['Csr'], key=other), 'CertificateMismatch'),
                       (sign_csr(o['Csr'], not_before=datetime.datetime(2020, 1, 1),
                                 not_after=datetime.datetime(2021, 1, 1)), 'CertificateExpired'),
                       (b'-----BEGIN CERTIFICATE-----\nnot base64 at all\n-----END CERTIFICATE-----\n',
                        'CertificateInvalid')):
        err, msg = dbus_error(install, c, o1, data)
        assert err == 'org.jeton.Jeton1.Error.' + name, (err, msg)
        assert c.get(o1, ORDER, 'State') == 'key-generated'
        assert certificates() == [], certificates()
    print('ok: wrong key, expired, corrupted certificates refused, nothing written')

    # -- install with the token present: job, installed, certificate with the key's CKA_ID
    cert = sign_csr(o['Csr'])
    chain = cert + CA_PEM.read_bytes()
    job = install(c, o1, chain)
    assert job != '/', job
    props = wait_job(c, job)
    assert props['State'] == 'done', props
    assert c.get(o1, ORDER, 'State') == 'installed'
    certs = certificates()
    assert ('BD1734971738', o['KeyId']) in certs and len(certs) == 2, certs     # leaf + CA
    print('ok: install (token present): installed, certificate with the key id, CA certificate')

    # -- wrong PIN: PinIncorrect, one C_Login, order unchanged
    card2.insert()
    serial2 = bed.softhsm.token_serial('holder-2')
    tb.wait_for(lambda: any(t['Serial'] == serial2 for t in c.tokens().values()), jt.TIMEOUT, 'holder-2')
    o2 = add_order(c, 'BD1734971739')
    agent.pin = 'wrong-pin-1'
    logins = len(bed.fixture.calls('C_Login', pid=jetond.pid))
    props = wait_job(c, provision(c, o2, serial2))
    assert props['State'] == 'failed' and props['Result'] == 'org.jeton.Jeton1.Error.PinIncorrect', props
    assert len(bed.fixture.calls('C_Login', pid=jetond.pid)) == logins + 1
    assert c.get(o2, ORDER, 'State') == 'pending'
    agent.pin = USER_PIN
    print('ok: wrong PIN: PinIncorrect, C_Login once')

    # -- card pulled mid-keygen: TokenRemoved, order pending; rerun: one key
    jetond.stop(bed.bus)
    bed.fixture.hold('C_GenerateKeyPair')
    jetond.start(bed.bus)
    agent.register()
    tb.wait_for(lambda: any(t['Serial'] == serial2 for t in c.tokens().values()), jt.TIMEOUT, 'holder-2')
    mark = c.mark()
    job = provision(c, o2, serial2)
    bed.fixture.wait_call('C_GenerateKeyPair', pid=jetond.pid, timeout=TIMEOUT)
    card2.remove()
    bed.fixture.release('C_GenerateKeyPair')
    props = wait_job(c, job)
    assert props['Result'] == 'org.jeton.Jeton1.Error.TokenRemoved', props
    assert c.get(o2, ORDER, 'State') == 'pending'
    card2.insert()
    tb.wait_for(lambda: any(t['Serial'] == serial2 for t in c.tokens().values()), jt.TIMEOUT, 'holder-2')
    props = wait_job(c, provision(c, o2, serial2))
    assert props['State'] == 'done', props
    assert [k[0] for k in private_keys('holder-2')] == ['BD1734971739'], private_keys('holder-2')
    print('ok: card pulled mid-keygen: TokenRemoved; rerun made one key')

    # -- SIGKILL at each step of a provisioning, restart: the store says what
    # happened, the audit chain holds, the rerun makes no second key.
    def restart(kill=None):
        """Stops jetond (with kill, the held function: SIGKILL, then the
        call is let go) and drops every fault for the next start."""
        if kill:
            jetond.process.stop(signal.SIGKILL)
            bed.fixture.release(kill)
            tb.wait_for(lambda: not bed.bus.has_name(jt.BUS_NAME), jt.TIMEOUT, 'the name to go')
        else:
            rc = jetond.stop(bed.bus)
            assert rc == 0, f'jetond exited with {rc}'     # valgrind's or ASan's verdict
        bed.fixture.clear_faults()

    def started():
        jetond.start(bed.bus)
        agent.register()
        tb.wait_for(lambda: any(t['Serial'] == serial2 and t['State'] != 'busy' for t in c.tokens().values()),
                    jt.TIMEOUT, 'holder-2')

    def waiting(job, what, check):
        """wait_for, and on a timeout say what jetond was doing."""
        try:
            tb.wait_for(check, TIMEOUT, what)
        except tb.TestbedError as e:
            try:
                props = c.get_all(job, JOB) if job and job != '/' else {}
            except GLib.Error as ge:
                props = f'(job not readable: {ge.message})'
            trace = (bed.dir / 'fixture/calls').read_text().splitlines()[-15:]
            raise AssertionError(f'{e}\njob: {props}\njetond log:\n' + '\n'.join(jetond.log_text().splitlines()[-15:])
                                 + '\nfixture calls:\n' + '\n'.join(trace)) from None

    def keys_of(ref):
        return [k for k in private_keys('holder-2') if k[0] == ref]

    def audit_intact():
        intact, first_bad, message = c.call(jt.ROOT, jt.MANAGER, 'VerifyAudit')
        assert intact and first_bad == 0, message

    def key_id_of(csr_pem):
        csr = x509.load_pem_x509_csr(csr_pem.encode())
        return x509.SubjectKeyIdentifier.from_public_key(csr.public_key()).digest.hex()

    # (order, how the call is held, the function, a key on the token at the kill)
    KILL_POINTS = (
        ('BD1734971740', 'hold', 'C_Login', False),
        ('BD1734971742', 'hold', 'C_GenerateKeyPair', False),
        # SoftHSM made the pair (temporary CKA_ID); jetond never heard of it.
        ('BD1734971743', 'hold_after', 'C_GenerateKeyPair', True),
        ('BD1734971744', 'hold', 'C_Sign', True),
    )
    for ref, how, function, key_at_kill in KILL_POINTS:
        order = add_order(c, ref, profile='test-p256')
        restart()
        getattr(bed.fixture, how)(function)
        started()
        job = provision(c, order, serial2)
        waiting(job, f'{function} to be called', lambda: bed.fixture.calls(function, jetond.pid))
        if how == 'hold_after':
            # Not by polling pkcs11-tool: its C_Login would rewrite the
            # token's files under SoftHSM in jetond, mid-keygen.
            waiting(job, f'SoftHSM to answer {function}', lambda: bed.fixture.answered(function, jetond.pid))
        assert len(keys_of(ref)) == (1 if key_at_kill else 0), (function, keys_of(ref))
        recovered = jetond.log_text().count('marked failed')
        restart(kill=function)
        started()
        assert jetond.log_text().count('marked failed') == recovered + 1, f'{function}: job not recovered'
        assert c.get(order, ORDER, 'State') == 'pending', function
        audit_intact()
        props = wait_job(c, provision(c, order, serial2))
        assert props['State'] == 'done', (function, props)
        o = c.get_all(order, ORDER)
        assert o['State'] == 'key-generated', (function, o['State'])
        keys = keys_of(ref)
        assert len(keys) == 1, (function, keys)
        # The key's id is the final one (from its public key), also when the
        # kill left the temporary one on it.
        assert keys[0][1] == o['KeyId'] == key_id_of(o['Csr']), (function, keys, o['KeyId'])
        audit_intact()
        print(f'ok: SIGKILL {"after" if how == "hold_after" else "in"} {function}: recovered, order '
              f'consistent, audit intact, one key')

    # Between the commit of the request and its outbox file nothing waits (two
    # calls in a row on the loop), so a kill there cannot be aimed at: its
    # result (request in the store, no file) is made by hand. Restart writes it.
    o3 = jt.ROOT + '/order/BD1734971744'
    csr3 = c.get(o3, ORDER, 'Csr')
    restart()
    (outbox / 'BD1734971744.csr').unlink()
    started()
    assert (outbox / 'BD1734971744.csr').read_text() == csr3
    assert c.get(o3, ORDER, 'CsrPath') == str(outbox / 'BD1734971744.csr')
    audit_intact()
    print('ok: request committed but not in the outbox: written again at start')

    # SIGKILL while the certificate is being written (before SoftHSM has it,
    # and after): certificate-received survives; at the restart the token is
    # there and the install completes, with one certificate.
    for ref, how in (('BD1734971742', 'hold'), ('BD1734971743', 'hold_after')):
        order = jt.ROOT + '/order/' + ref
        csr = c.get(order, ORDER, 'Csr')
        restart()
        getattr(bed.fixture, how)('C_CreateObject')
        started()
        job = install(c, order, sign_csr(csr))
        assert job != '/', job
        waiting(job, 'C_CreateObject to be called', lambda: bed.fixture.calls('C_CreateObject', jetond.pid))
        if how == 'hold_after':
            waiting(job, 'SoftHSM to answer C_CreateObject',
                    lambda: bed.fixture.answered('C_CreateObject', jetond.pid))
        assert c.get(order, ORDER, 'State') == 'certificate-received'
        restart(kill='C_CreateObject')
        started()
        tb.wait_for(lambda: c.get(order, ORDER, 'State') == 'installed', TIMEOUT, f'{ref} installed')
        certs = [x for x in certificates('holder-2') if x[0] == ref]
        assert certs == [(ref, c.get(order, ORDER, 'KeyId'))], certs
        assert len(keys_of(ref)) == 1
        audit_intact()
        print(f'ok: SIGKILL {"after" if how == "hold_after" else "in"} C_CreateObject: certificate-received '
              f'kept, installed after the restart, one certificate')

    # -- install while the token is absent, then insert; and the inbox
    o3p = c.get_all(o3, ORDER)
    card2.remove()
    tb.wait_for(lambda: not any(t['Serial'] == serial2 for t in c.tokens().values()), jt.TIMEOUT, 'gone')
    assert install(c, o3, sign_csr(o3p['Csr'])) == '/'
    assert c.get(o3, ORDER, 'State') == 'certificate-received'
    mark = c.mark()
    card2.insert()
    c.wait_event(lambda e: e.member == 'PropertiesChanged' and e.path == o3
                 and e.args[1].get('State') == 'installed', mark, TIMEOUT, 'o3 installed')
    print('ok: install while absent, then inserted: installed')

    o2p = c.get_all(o2, ORDER)
    mark = c.mark()
    (inbox / 'BD1734971739.pem.tmp').write_bytes(sign_csr(o2p['Csr']))
    os.rename(inbox / 'BD1734971739.pem.tmp', inbox / 'BD1734971739.pem')
    c.wait_event(lambda e: e.member == 'PropertiesChanged' and e.path == o2
                 and e.args[1].get('State') == 'installed', mark, TIMEOUT, 'o2 installed')
    assert (inbox / 'done/BD1734971739.pem').exists()
    (inbox / 'BD1734971738.der').write_bytes(b'garbage')
    tb.wait_for(lambda: (inbox / 'rejected/BD1734971738.der.reason').exists(), jt.TIMEOUT, 'rejected')
    # A link to a file jetond may read but the dropper may not, and a FIFO
    # (which would block a reader): refused without being followed or read.
    secret = bed.dir / 'secret.pem'
    secret.write_bytes(sign_csr(o2p['Csr']))
    os.symlink(secret, bed.dir / 'link.tmp')
    os.rename(bed.dir / 'link.tmp', inbox / 'BD1734971738.pem')
    os.mkfifo(bed.dir / 'fifo.tmp')
    os.rename(bed.dir / 'fifo.tmp', inbox / 'BD1734971738.crt')
    for name, why in (('BD1734971738.pem', 'a symbolic link'), ('BD1734971738.crt', 'not a regular file')):
        reason = inbox / f'rejected/{name}.reason'
        tb.wait_for(reason.exists, jt.TIMEOUT, f'{name} rejected')
        assert why in reason.read_text(), reason.read_text()
    assert (inbox / 'rejected/BD1734971738.pem').is_symlink()
    # The same name refused again keeps the first refusal beside it.
    (inbox / 'BD1734971738.der').write_bytes(b'garbage again')
    tb.wait_for(lambda: (inbox / 'rejected/BD1734971738.der.1.reason').exists(), jt.TIMEOUT, 'second refusal')
    assert (inbox / 'rejected/BD1734971738.der').read_bytes() == b'garbage'
    print('ok: inbox: accepted file installed and moved to done/, bad file to rejected/ with a reason; '
          'a link and a FIFO refused unread; an earlier refusal kept')

    # -- a PIN prompt never goes to another user's agent
    agent.conn.call_sync(jt.BUS_NAME, jt.ROOT, jt.MANAGER, 'UnregisterPinAgent',
                         GLib.Variant('(o)', (PinAgent.PATH,)), None, Gio.DBusCallFlags.NONE, -1, None)
    # Changing uid clears the parent-death signal: set it again after.
    nobody = tb.Process(['setpriv', '--reuid=nobody', '--regid=nogroup', '--clear-groups', '--pdeathsig=KILL',
                         '/usr/bin/python3', '-c', NOBODY_AGENT, bed.bus.address],
                        bed.dir / 'nobody-agent.log')
    try:
        tb.wait_for(lambda: 'READY' in nobody.log_text() or not nobody.running(), jt.TIMEOUT, "nobody's agent")
        assert nobody.running(), nobody.log_text()
        o4 = add_order(c, 'BD1734971741')
        tb.wait_for(lambda: any(t['Serial'] == serial2 for t in c.tokens().values()), jt.TIMEOUT, 'holder-2')
        props = wait_job(c, provision(c, o4, serial2))
        assert props['Result'] == 'org.jeton.Jeton1.Error.NoAgent', props
        assert 'REQUEST' not in nobody.log_text(), "another user's agent was asked for the PIN"
        assert c.get(o4, ORDER, 'State') == 'pending'
    finally:
        nobody.stop()
    agent.register()
    print("ok: another user's PIN agent is never asked")

    # -- the token says final try: refused unless confirmed, and then the
    # agent hears of it; locked: refused, no prompt, no C_Login
    def holder1_present():
        tb.wait_for(lambda: any(t['Serial'] == serial1 and t['State'] != 'busy' for t in c.tokens().values()),
                    jt.TIMEOUT, 'holder-1')

    restart()
    bed.fixture.token_flags('holder-1', 'count-low', 'final-try')
    started()
    holder1_present()
    token1 = next(p for p, t in c.tokens().items() if t['Serial'] == serial1)
    assert 'final-try' in c.get(token1, jt.TOKEN, 'PinFlags'), c.get(token1, jt.TOKEN, 'PinFlags')
    o5 = add_order(c, 'BD1734971760')
    asked = len(agent.requests)
    props = wait_job(c, provision(c, o5, serial1))
    assert props['Result'] == 'org.jeton.Jeton1.Error.PinFinalTry', props
    assert bed.fixture.calls('C_Login', pid=jetond.pid) == [], 'C_Login sent on a final try'
    assert len(agent.requests) == asked, 'the agent was asked for a PIN that would be refused'
    assert c.get(o5, ORDER, 'State') == 'pending'
    props = wait_job(c, provision(c, o5, serial1, confirm=True))
    assert props['State'] == 'done', props
    assert len(agent.requests) == asked + 1
    assert {'final-try', 'count-low'} <= set(agent.requests[-1][3]), agent.requests[-1]
    assert len(bed.fixture.calls('C_Login', pid=jetond.pid)) == 1
    print('ok: final try: PinFinalTry without confirmation (no C_Login, no prompt); confirmed: the agent '
          'sees final-try, one C_Login')

    restart()
    bed.fixture.token_flags('holder-1', 'locked')
    started()
    holder1_present()
    o6 = add_order(c, 'BD1734971761')
    asked = len(agent.requests)
    props = wait_job(c, provision(c, o6, serial1, confirm=True))
    assert props['Result'] == 'org.jeton.Jeton1.Error.PinLocked', props
    assert bed.fixture.calls('C_Login', pid=jetond.pid) == [], 'C_Login sent to a locked token'
    assert len(agent.requests) == asked, 'the agent was asked for the PIN of a locked token'
    assert c.get(o6, ORDER, 'State') == 'pending'
    audit_intact()
    print('ok: locked PIN: PinLocked, no prompt, no C_Login')

    # -- Job.Cancel while the key is being generated: cancelled at the next
    # step boundary, the order stays pending; the finished job goes from the
    # bus after JobLingerSec=
    restart()
    bed.fixture.hold('C_GenerateKeyPair')
    linger = 2 * jt.SLOW
    jetond = jt.Jetond(bed.dir, bed.env(), [tb.FIXTURE_MODULE], extra=extra + f'JobLingerSec={linger}\n')
    started()
    holder1_present()
    mark = c.mark()
    job = provision(c, o6, serial1)
    bed.fixture.wait_call('C_GenerateKeyPair', pid=jetond.pid, timeout=TIMEOUT)
    c.call(job, JOB, 'Cancel')
    assert c.get(job, JOB, 'State') == 'running'        # not in the middle of the call
    bed.fixture.release('C_GenerateKeyPair')
    final = c.wait_event(lambda e: e.member == 'PropertiesChanged' and e.path == job
                         and e.args[1].get('State') in ('done', 'failed', 'cancelled'), mark, TIMEOUT, 'cancelled')
    assert final.args[1]['State'] == 'cancelled', final.args
    assert 'sign-request' not in job_stages(c, job), job_stages(c, job)
    assert bed.fixture.calls('C_Sign', pid=jetond.pid) == []
    assert c.get(o6, ORDER, 'State') == 'pending'
    err, _ = dbus_error(c.call, job, JOB, 'Cancel')
    assert err == 'org.jeton.Jeton1.Error.InvalidState', err
    audit_intact()
    c.wait_removed(job, mark, TIMEOUT + linger)
    assert job not in c.managed_objects()
    # The key made before the cancel took effect is the order's: reused.
    props = wait_job(c, provision(c, o6, serial1))
    assert props['State'] == 'done', props
    keys = [k for k in private_keys('holder-1') if k[0] == 'BD1734971761']
    assert len(keys) == 1 and keys[0][1] == c.get(o6, ORDER, 'KeyId'), keys
    print('ok: Job.Cancel in C_GenerateKeyPair: cancelled at the next step, order pending, job gone after '
          f'JobLingerSec={linger}; rerun reused the key')

    # -- an install that fails on the token (its key was deleted behind
    # jetond's back) is not retried until the token is inserted again
    o5 = add_order(c, 'BD1734971745')
    props = wait_job(c, provision(c, o5, serial2))
    assert props['State'] == 'done', props
    for kind in ('privkey', 'pubkey'):
        p11('--delete-object', '--type', kind, '--label', 'BD1734971745', label='holder-2')
    # Install starts a job at once only on an idle token (else it waits).
    tb.wait_for(lambda: any(t['Serial'] == serial2 and t['State'] != 'busy' for t in c.tokens().values()),
                jt.TIMEOUT, 'holder-2 idle')
    job = install(c, o5, sign_csr(c.get(o5, ORDER, 'Csr')))
    assert job != '/', job
    props = wait_job(c, job)
    assert props['Result'] == 'org.jeton.Jeton1.Error.CertificateMismatch', props
    c.call(jt.ROOT, jt.MANAGER, 'VerifyAudit')          # the loop has handled the job's end
    installs = [p for p, ifaces in c.managed_objects().items()
                if JOB in ifaces and ifaces[JOB]['Order'] == o5 and ifaces[JOB]['Kind'] == 'install']
    assert installs == [job], installs
    assert c.get(o5, ORDER, 'State') == 'certificate-received'
    print('ok: a failed install waits for the next insertion (no retry loop)')

    stop_watch.set()
    watcher.join()
    assert not argv_hits, f'PIN on the command line of {argv_hits}'
    rc = jetond.stop(bed.bus)
    agent.close()
    c.close()
    pin_nowhere(jetond)
    assert rc == 0, f'jetond exited with {rc}'
    print('ok: the PIN is in no file of the store, the log, or any command line')
