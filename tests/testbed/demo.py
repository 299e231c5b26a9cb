#!/usr/bin/python3
"""make demo: jeton in a sandbox, doing its main job on a sample order.

Starts a private system bus carrying jeton's shipped bus policy, a SoftHSM2
demo token, and jetond on its embedded defaults (SoftHSM as its PKCS#11
module, the shipped profiles, a state directory in the sandbox). Then, as
a user would with jetonctl: adds a Certinomis order, provisions it (key
generated on the token, CSR signed on the token), has a test CA sign the
CSR, installs the certificate on the token, and prints what to try next.

On a terminal the sandbox stays up until Ctrl+C; otherwise (CI) it stops.
The demo token's PIN is a demo value for a throwaway SoftHSM token; jetonctl
reads it from a pipe (--pin-fd), never from its command line."""

import os
import signal
import subprocess
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import jetontestbed as tb  # noqa: E402

TOP = tb.TOP
BUILD = tb.BUILDDIR
ORDER = 'BD1734971738'
DEMO_PIN = '246810'
DEMO_SO_PIN = '13579135'


def say(text=''):
    print(text, flush=True)


def shell(argv, env, stdin=None, pass_fds=(), check=True):
    """Runs a command the way the user would type it, echoing it first."""
    shown = ' '.join(a if a and ' ' not in a else repr(a) for a in argv)
    say(f'\n$ {shown}')
    res = subprocess.run(argv, env=env, stdin=stdin, pass_fds=pass_fds, text=True,
                         stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    say(res.stdout.rstrip())
    if check and res.returncode != 0:
        raise SystemExit(f'demo: {argv[0]} exited {res.returncode}')
    return res


def jetonctl(env, *args, **kw):
    return shell([str(BUILD / 'jetonctl'), *args], env, **kw)


def pin_pipe():
    """A pipe holding the PIN, for --pin-fd: the PIN never reaches argv."""
    r, w = os.pipe()
    os.write(w, (DEMO_PIN + '\n').encode())
    os.close(w)
    return r


def test_ca(directory, csr, env):
    """A throwaway CA that signs the CSR as the real CA would (1 year)."""
    d = Path(directory)
    tb.run(['openssl', 'req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256',
            '-nodes', '-keyout', str(d / 'ca.key'), '-out', str(d / 'ca.pem'), '-days', '30',
            '-subj', '/C=FR/O=jeton demo/CN=jeton demo CA'], env=env)
    (d / 'leaf.ext').write_text('keyUsage=critical,nonRepudiation\n'
                                'certificatePolicies=0.4.0.194112.1.2\n')
    tb.run(['openssl', 'x509', '-req', '-in', str(csr), '-CA', str(d / 'ca.pem'),
            '-CAkey', str(d / 'ca.key'), '-CAcreateserial', '-days', '365', '-sha256',
            '-extfile', str(d / 'leaf.ext'), '-out', str(d / 'leaf.pem')], env=env)
    bundle = d / f'{ORDER}.pem'
    bundle.write_text((d / 'leaf.pem').read_text() + (d / 'ca.pem').read_text())
    return bundle


def main():
    with tb.TempDir(prefix='jeton-demo-') as tmp, \
            tb.SoftHSM(tmp.path) as hsm, \
            tb.SystemBus(tmp.path) as bus:
        state = tmp.path / 'state'
        serial = hsm.create_token('jeton-demo', DEMO_SO_PIN, DEMO_PIN)
        conf = tmp.path / 'jetond.conf'
        conf.write_text('[jetond]\n'
                        f'Modules={hsm.module}\n'
                        f'StateDirectory={state}\n'
                        f'ProfileDirectories={TOP}/daemon/profiles\n')
        env = dict(os.environ, **hsm.env, **bus.env)
        daemon = tb.Process([str(BUILD / 'jetond'), '--config', str(conf)],
                            tmp.path / 'jetond.log', env=env)
        bus.wait_for_name('org.jeton.Jeton1', process=daemon)

        say('jeton demo: a private system bus, a SoftHSM2 token "jeton-demo" '
            f'(serial {serial}) and jetond are running in {tmp.path}.')
        jetonctl(env, 'list')
        jetonctl(env, 'order', 'add', '--reference', ORDER, '--profile', 'certinomis-decideur',
                 '--ca', 'Certinomis', '--product', 'OPE-AES-CAP-1A', '--validity', '1',
                 '--given-name', 'Marie', '--surname', 'Dupont',
                 '--email', 'marie.dupont@example.fr',
                 '--organisation', 'Exemple SARL', '--siren', '732829320')
        fd = pin_pipe()
        try:
            jetonctl(env, 'provision', ORDER, '--token', 'jeton-demo', '--pin-fd', str(fd),
                     '--no-progress', pass_fds=(fd,))
        finally:
            os.close(fd)

        csr = state / 'outbox' / f'{ORDER}.csr'
        shell(['openssl', 'req', '-in', str(csr), '-noout', '-verify', '-subject',
               '-nameopt', 'RFC2253,utf8,-esc_msb'], env)
        say(csr.read_text().rstrip())

        say('\nA test CA signs the request, as the real CA would, and we install the result:')
        bundle = test_ca(tmp.path, csr, env)
        jetonctl(env, 'install', ORDER, str(bundle), '--no-progress')
        jetonctl(env, 'order', 'show', ORDER)
        jetonctl(env, 'show', 'jeton-demo')
        shell(['pkcs11-tool', '--module', hsm.module, '--token-label', 'jeton-demo',
               '--list-objects', '--type', 'cert'], env)
        jetonctl(env, 'audit', 'verify')

        say(f'''
What to try next, in another shell:
  export DBUS_SYSTEM_BUS_ADDRESS={bus.address}
  {BUILD}/jetonctl monitor                 # events as they happen
  {BUILD}/jetonctl list --json
  {BUILD}/jetonctl order import {TOP}/tests/demo/orders.csv
  busctl --address={bus.address} tree org.jeton.Jeton1
The demo token's PIN is {DEMO_PIN} (a throwaway SoftHSM token).''')
        if sys.stdin.isatty():
            say('\nThe sandbox runs until Ctrl+C.')
            try:
                signal.pause()
            except KeyboardInterrupt:
                pass
        rc = daemon.stop()
        if rc not in (0, None):
            raise SystemExit(f'demo: jetond exited {rc}; its log:\n{daemon.log_text()}')


if __name__ == '__main__':
    main()
