#!/usr/bin/python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""jeton's test bed: real components, confined to a temporary directory.

Every class is a context manager; leaving the `with` block (normally or by
an exception) stops every process it started. Nothing waits by sleeping: each
wait polls for its condition (a socket, a reader list, a card state, a bus
name) and gives up with TestbedError after a bounded timeout.

    SoftHSM(tmpdir)            private softhsm2.conf, create_token()
    Pcscd(tmpdir, nreaders)    private pcscd with vpcd readers, stop/start/restart
    Card(pcscd, index)         a vicc card: insert() / remove()
    Fixture(tmpdir, softhsm)   config of the fixture PKCS#11 module
    SystemBus(tmpdir)          private "system" dbus-daemon with jeton's policy
    Polkit(bus)                python3-dbusmock's polkitd on that bus
    Testbed(...)               all of the above in one `with`

Run with /usr/bin/python3 (Debian's python3-dbus, -gi, -dbusmock). Needs
root (pcscd runs in its own mount namespace). See README.md beside this file.
"""

import contextlib
import ctypes
import math
import os
import random
import select
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.parse
from pathlib import Path

TOP = Path(__file__).resolve().parents[2]
BUILDDIR = Path(os.environ.get('JETON_BUILDDIR', TOP / 'build'))
FIXTURE_MODULE = BUILDDIR / 'tests/fixture/libjeton-fixture-p11.so'
PCSC_READERS = BUILDDIR / 'tests/testbed/pcsc-readers'
SOFTHSM_MODULE = '/usr/lib/softhsm/libsofthsm2.so'
VPCD_DRIVER = '/usr/lib/pcsc/drivers/serial/libifdvpcd.so'
VICC_PACKAGE_DIR = '/usr/lib/python3/site-packages/virtualsmartcard'
CRYPTODOME = '/usr/lib/python3/dist-packages/Cryptodome'
PYTHON = '/usr/bin/python3'
POLICY_FILE = TOP / 'systemd/org.jeton.Jeton1.conf'

DEFAULT_TIMEOUT = 10.0
PCSCD_MAX_READERS = 16          # pcsc-lite 1.9.9's limit


class TestbedError(Exception):
    pass


def wait_for(predicate, timeout=DEFAULT_TIMEOUT, what='condition', interval=0.01):
    """Polls predicate() until it returns something true, and returns that."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() >= deadline:
            raise TestbedError(f'timed out after {timeout:g} s waiting for {what}')
        time.sleep(interval)


_libc = ctypes.CDLL(None, use_errno=True)
_PR_SET_PDEATHSIG = 1


def _die_with_parent():
    # If the test itself is killed, its daemons go too.
    _libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)


class Process:
    """A child in its own process group, output to a log file."""

    def __init__(self, argv, log, env=None, stdout=None):
        self.argv = [str(a) for a in argv]
        self.log = Path(log)
        self._logf = open(self.log, 'ab')
        self.popen = subprocess.Popen(
            self.argv, stdin=subprocess.DEVNULL,
            stdout=stdout if stdout is not None else self._logf,
            stderr=self._logf, env=env, start_new_session=True,
            preexec_fn=_die_with_parent)

    @property
    def pid(self):
        return self.popen.pid

    def running(self):
        return self.popen.poll() is None

    def log_text(self):
        try:
            return self.log.read_text(errors='replace')
        except OSError:
            return ''

    def stop(self, sig=signal.SIGTERM, timeout=DEFAULT_TIMEOUT):
        """Signals the process (group) and reaps it; SIGKILL after timeout."""
        if self.popen.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.popen.pid, sig)
            try:
                self.popen.wait(timeout)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(self.popen.pid, signal.SIGKILL)
                self.popen.wait()
        # Stray children of the group (there should be none).
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.popen.pid, signal.SIGKILL)
        if self.popen.stdout:
            self.popen.stdout.close()
        self._logf.close()
        return self.popen.returncode


def run(argv, env=None, check=True, timeout=60, **kw):
    """Runs a short command; its output is returned, never shown."""
    res = subprocess.run([str(a) for a in argv], env=env, capture_output=True,
                         text=True, timeout=timeout, stdin=subprocess.DEVNULL, **kw)
    if check and res.returncode != 0:
        raise TestbedError(f'{argv[0]} failed ({res.returncode}): {res.stderr.strip()}')
    return res


class TempDir:
    """A private directory, removed on exit unless JETON_KEEP_TESTBED=1."""

    def __init__(self, prefix='jeton-testbed-'):
        self.path = Path(tempfile.mkdtemp(prefix=prefix))

    def __enter__(self):
        return self

    def __exit__(self, exc_type, exc, tb):
        if exc_type is not None and exc_type is not KeyboardInterrupt:
            self.print_logs()
        if os.environ.get('JETON_KEEP_TESTBED') == '1':
            print(f'testbed kept in {self.path}')
        else:
            shutil.rmtree(self.path, ignore_errors=True)

    def print_logs(self, lines=40):
        """The end of every log in here, on stderr: a test failing on a CI
        machine leaves nothing else behind."""
        for log in sorted(self.path.rglob('*.log')):
            try:
                tail = log.read_text(errors='replace').splitlines()[-lines:]
            except OSError:
                continue
            if tail:
                print(f'--- {log.relative_to(self.path)} (last {len(tail)} lines)', file=sys.stderr)
                print('\n'.join(tail), file=sys.stderr)

    def __fspath__(self):
        return str(self.path)

    def __truediv__(self, other):
        return self.path / other


# ---- SoftHSM ------------------------------------------------------------------

class SoftHSM:
    """A private SoftHSM2 store. No process of its own."""

    module = SOFTHSM_MODULE

    def __init__(self, tmpdir):
        self.dir = Path(tmpdir) / 'softhsm'
        self.tokens = self.dir / 'tokens'
        self.tokens.mkdir(parents=True, exist_ok=True)
        self.conf = self.dir / 'softhsm2.conf'
        self.conf.write_text(f'directories.tokendir = {self.tokens}\n'
                             'objectstore.backend = file\n'
                             'log.level = ERROR\n')
        self.env = {'SOFTHSM2_CONF': str(self.conf)}

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        pass

    def _p11tool(self, *args, pins=None):
        env = dict(os.environ, **self.env, **(pins or {}))
        return run(['p11tool', '--provider', self.module, *args], env=env)

    def create_token(self, label, so_pin, user_pin):
        """Initialises the free slot as a token; returns its serial.

        PINs reach p11tool through its environment, never argv."""
        pins = {'GNUTLS_SO_PIN': so_pin, 'GNUTLS_PIN': user_pin}
        self._p11tool('--initialize', '--label', label, 'pkcs11:token=', pins=pins)
        url = 'pkcs11:token=' + urllib.parse.quote(label, safe='')
        self._p11tool('--initialize-pin', url, pins=pins)
        return self.token_serial(label)

    def token_serial(self, label):
        out = self._p11tool('--list-tokens').stdout
        for block in out.split('\n\n'):
            fields = dict(line.strip().split(': ', 1) for line in block.splitlines()
                          if ': ' in line.strip())
            if fields.get('Label') == label:
                return fields.get('Serial')
        raise TestbedError(f'no SoftHSM token labelled {label!r}')


# ---- pcscd, vpcd, vicc ----------------------------------------------------------

_ports_in_use = set()


def _port_free(port):
    # vpcd listens on every interface: probe the same way.
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        try:
            s.bind(('', port))
        except OSError:
            return False
    return True


def _pick_port_pair():
    for _ in range(200):
        port = random.randrange(20000, 60000, 2)
        if port in _ports_in_use or port + 1 in _ports_in_use:
            continue
        if _port_free(port) and _port_free(port + 1):
            _ports_in_use.update((port, port + 1))
            return port
    raise TestbedError('no free pair of TCP ports for vpcd')


def pcsc_env(socket_path):
    return {'PCSCLITE_CSOCK_NAME': str(socket_path)}


class Pcscd:
    """A private pcscd serving `nreaders` vpcd readers (rounded up to even).

    Readers are named "Virtual PCD <e> 00 00" and "... 00 01" for vpcd entry e;
    `readers[i]` is reader i's name, the order pcscd lists them in. Clients
    find this pcscd through `env` (PCSCLITE_CSOCK_NAME)."""

    def __init__(self, tmpdir, nreaders=2, timeout=DEFAULT_TIMEOUT):
        if not 1 <= nreaders <= PCSCD_MAX_READERS:
            raise ValueError(f'pcscd serves 1 to {PCSCD_MAX_READERS} readers')
        self.dir = Path(tmpdir) / 'pcscd'
        self.rundir = self.dir / 'run'
        self.confdir = self.dir / 'conf'
        self.libdir = self.dir / 'lib'
        for d in (self.rundir, self.confdir, self.libdir):
            d.mkdir(parents=True, exist_ok=True)
        self.socket = self.rundir / 'pcscd.comm'
        self.env = pcsc_env(self.socket)
        self.timeout = timeout
        self.nentries = math.ceil(nreaders / 2)
        self.readers = [f'Virtual PCD {e} 00 0{i}' for e in range(self.nentries) for i in range(2)]
        self.ports = []
        self.process = None
        self.ready_seconds = None    # spawn -> complete reader list, last start
        self.cards = []
        self.vicc_pythonpath = self._vicc_pythonpath()

    def _vicc_pythonpath(self):
        # vicc imports Crypto; Debian ships it as Cryptodome.
        d = self.dir / 'vicc-python'
        d.mkdir(exist_ok=True)
        link = d / 'Crypto'
        if not link.exists():
            link.symlink_to(CRYPTODOME)
        return f'{d}:{VICC_PACKAGE_DIR}'

    def __enter__(self):
        try:
            self.start()
        except BaseException:
            self.stop(sig=signal.SIGKILL)
            raise
        return self

    def __exit__(self, *exc):
        for card in list(self.cards):
            card.kill()
        self.stop(sig=signal.SIGKILL)
        _ports_in_use.difference_update(self.ports)

    def port(self, index):
        return self.ports[index // 2] + index % 2

    def _write_config(self):
        _ports_in_use.difference_update(self.ports)
        self.ports = [_pick_port_pair() for _ in range(self.nentries)]
        for f in self.confdir.iterdir():
            f.unlink()
        for e, port in enumerate(self.ports):
            # One copy of the driver per entry: pcscd keys drivers on the
            # file, and entries sharing one only serve the last one's ports.
            lib = self.libdir / f'libifdvpcd-{e}.so'
            if not lib.exists():
                shutil.copyfile(VPCD_DRIVER, lib)
            (self.confdir / f'vpcd-{e}').write_text(
                f'FRIENDLYNAME "Virtual PCD {e}"\n'
                f'DEVICENAME /dev/null:{port}\n'
                f'LIBPATH {lib}\n'
                f'CHANNELID {port}\n')

    def start(self):
        """Starts pcscd and waits for its complete reader list. A vpcd port
        taken meanwhile leaves readers out: then it tries other ports."""
        if self.process and self.process.running():
            raise TestbedError('pcscd is already running')
        if not self.ports:
            self._write_config()
        for attempt in range(3):
            try:
                self._start_once()
                return
            except TestbedError:
                self.stop(sig=signal.SIGKILL)
                if attempt == 2:
                    raise
                self._write_config()

    def _start_once(self):
        # pcscd always serves /run/pcscd/pcscd.comm: give it a private one.
        os.makedirs('/run/pcscd', exist_ok=True)
        with contextlib.suppress(FileNotFoundError):
            self.socket.unlink()
        script = f'mount --bind {self.rundir} /run/pcscd && exec pcscd -f -c {self.confdir}'
        t0 = time.monotonic()
        self.process = Process(['unshare', '-m', '--propagation', 'private', 'sh', '-c', script],
                               self.dir / 'pcscd.log')

        def complete():
            if not self.process.running():
                raise TestbedError(f'pcscd exited ({self.process.popen.returncode}):\n'
                                   + self.process.log_text())
            return self.socket.exists() and set(self.list_readers()) == set(self.readers)
        try:
            wait_for(complete, self.timeout, f'pcscd to list {len(self.readers)} readers')
        except TestbedError as e:
            raise TestbedError(f'{e}; it lists {self.list_readers()}') from None
        self.ready_seconds = time.monotonic() - t0

    def stop(self, sig=signal.SIGTERM):
        """Stops pcscd (SIGTERM: a clean exit, ~2 s; SIGKILL: a crash).
        vicc cards lose their connection and exit."""
        if self.process:
            self.process.stop(sig)
        for card in self.cards:
            card._reap()

    def restart(self, reinsert=True, sig=signal.SIGTERM):
        """pcscd dies and comes back with the same readers. A card in a real
        reader stays there: with reinsert, cards that were in are put back."""
        inserted = [c for c in self.cards if c.inserted]
        self.stop(sig)
        self.start()
        if reinsert:
            for card in inserted:
                card.insert()

    def running(self):
        return bool(self.process and self.process.running())

    # -- PC/SC client side, through build/tests/testbed/pcsc-readers

    def client_env(self, extra=None):
        return dict(os.environ, **self.env, **(extra or {}))

    def reader_states(self):
        """{reader name: 'present' | 'mute' | 'empty'}; {} if pcscd is away."""
        res = run([PCSC_READERS], env=self.client_env(), check=False)
        if res.returncode != 0:
            return {}
        states = {}
        for line in res.stdout.splitlines():
            fields = line.split('\t')
            states[fields[0]] = fields[1]
        return states

    def list_readers(self):
        return list(self.reader_states())

    def wait_state(self, reader, present, timeout=DEFAULT_TIMEOUT):
        """Waits until pcscd reports a card in (or not in) the reader;
        returns pcscd's moment of it on time.monotonic()'s clock."""
        res = run([PCSC_READERS, '--wait-state', reader, 'present' if present else 'absent',
                   '--timeout', str(int(timeout * 1000))],
                  env=self.client_env(), check=False, timeout=timeout + 10)
        if res.returncode == 3:
            raise TestbedError(f'timed out after {timeout:g} s waiting for the card to be '
                               f'{"present" if present else "absent"} in {reader}')
        if res.returncode != 0:
            raise TestbedError(f'pcsc-readers: {res.stderr.strip()}')
        return float(res.stdout.split()[0])

    @contextlib.contextmanager
    def watch(self, reader, timeout=DEFAULT_TIMEOUT):
        """Another PC/SC client watching a reader, for latency figures:

            with pcscd.watch(reader) as watch:
                t0 = time.monotonic(); card.insert()
            latency = watch.when - t0
        """
        w = ReaderWatch(self, reader, timeout)
        try:
            yield w
            w.wait()
        finally:
            w.close()


class ReaderWatch:
    def __init__(self, pcscd, reader, timeout):
        self.timeout = timeout
        self.when = None
        self.state = None
        self.popen = subprocess.Popen(
            [str(PCSC_READERS), '--wait-change', reader, '--timeout', str(int(timeout * 1000))],
            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
            env=pcscd.client_env(), text=True, preexec_fn=_die_with_parent)
        line = self._readline()
        if not line.startswith('ready'):
            raise TestbedError(f'pcsc-readers --wait-change: {line!r} {self.popen.stderr.read()}')
        self.initial = line.split()[1]

    def _readline(self):
        ready, _, _ = select.select([self.popen.stdout], [], [], self.timeout)
        if not ready:
            raise TestbedError('pcsc-readers --wait-change did not answer')
        return self.popen.stdout.readline().strip()

    def wait(self):
        line = self._readline()
        if not line:
            raise TestbedError(f'pcsc-readers --wait-change: {self.popen.stderr.read().strip()}')
        when, self.state = line.split()
        self.when = float(when)
        return self.when

    def close(self):
        if self.popen.poll() is None:
            self.popen.kill()
        self.popen.wait()
        self.popen.stdout.close()
        self.popen.stderr.close()


class Card:
    """A vicc virtual card for reader `index` of a Pcscd."""

    def __init__(self, pcscd, index, card_type='iso7816'):
        if not 0 <= index < len(pcscd.readers):
            raise ValueError(f'no reader {index}')
        self.pcscd = pcscd
        self.index = index
        self.card_type = card_type
        self.process = None
        self.inserted = False
        pcscd.cards.append(self)

    @property
    def reader(self):
        return self.pcscd.readers[self.index]

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.kill()
        with contextlib.suppress(ValueError):
            self.pcscd.cards.remove(self)

    def insert(self, timeout=DEFAULT_TIMEOUT):
        """Starts vicc and waits until pcscd reports the card in the reader."""
        if self.process and self.process.running():
            raise TestbedError(f'a card is already in {self.reader}')
        env = dict(os.environ, PYTHONPATH=self.pcscd.vicc_pythonpath)
        # 127.0.0.1 only: vpcd listens on every interface.
        self.process = Process([PYTHON, '/usr/bin/vicc', '-t', self.card_type,
                                '-H', '127.0.0.1', '-P', str(self.pcscd.port(self.index))],
                               self.pcscd.dir / f'vicc-{self.index}.log', env=env)
        try:
            self.pcscd.wait_state(self.reader, True, timeout)
        except TestbedError:
            log = self.process.log_text()
            self.kill()
            raise TestbedError(f'card did not show up in {self.reader}; vicc says:\n{log}') from None
        self.inserted = True

    def remove(self, timeout=DEFAULT_TIMEOUT):
        """Pulls the card (kills vicc) and waits until pcscd reports it gone."""
        self.kill()
        self.pcscd.wait_state(self.reader, False, timeout)

    def kill(self):
        if self.process:
            self.process.stop(signal.SIGKILL)
            self.process = None
        self.inserted = False

    def _reap(self):
        # vicc exits by itself when pcscd goes away.
        if self.process:
            try:
                self.process.popen.wait(DEFAULT_TIMEOUT)
            except subprocess.TimeoutExpired:
                pass
            self.process.stop(signal.SIGKILL)
            self.process = None


# ---- the fixture PKCS#11 module ---------------------------------------------------

def _sanitizer_preload(module):
    """An ASan-built fixture module needs libasan loaded first in a program
    that is not built with it (pkcs11-tool, p11tool, openssl)."""
    env = {k: v for k, v in os.environ.items() if k != 'LD_PRELOAD'}
    try:
        out = run(['ldd', module], env=env, check=False).stdout
    except OSError:
        return {}
    for line in out.splitlines():
        if 'libasan.so' in line and '=>' in line:
            lib = line.split('=>')[1].split()[0]
            return {'LD_PRELOAD': lib, 'ASAN_OPTIONS': 'detect_leaks=0'}
    return {}


_sanitizer_env = None


def _quote(s):
    return '"' + s.replace('\\', '\\\\').replace('"', '\\"') + '"'


class Fixture:
    """Writes the config of build/tests/fixture/libjeton-fixture-p11.so.

    Every change rewrites the file; the module reads it at C_Initialize, so
    a running process sees changes only after C_Finalize + C_Initialize.
    The module traces every call (names and call numbers, never arguments)
    to a file: calls() and wait_call() read it."""

    def __init__(self, tmpdir, softhsm=None, softhsm_module=SOFTHSM_MODULE):
        self.dir = Path(tmpdir) / 'fixture'
        self.dir.mkdir(parents=True, exist_ok=True)
        self.conf = self.dir / 'fixture-p11.conf'
        self.trace = self.dir / 'calls'
        self.module_path = str(FIXTURE_MODULE)
        self.softhsm = softhsm
        self.softhsm_module = softhsm_module
        self.bindings = []
        self.latencies = {}
        self.fails = []
        self.holds = {}
        self.holds_after = {}
        self.token_flags_ = {}
        self.env = {'JETON_FIXTURE_CONF': str(self.conf)}
        if softhsm:
            self.env.update(softhsm.env)
        self.write()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        pass

    def bind(self, reader, token_label):
        """Fixture slot len(bindings) shows this reader and, while a card is
        in it, the SoftHSM token with this label. Returns the slot number."""
        self.bindings.append((reader, token_label))
        self.write()
        return len(self.bindings) - 1

    def latency(self, function, ms):
        self.latencies[function] = ms
        self.write()

    def fail(self, function, nth, rv):
        """The nth call of `function` in a process fails with rv (a CKR_
        name or a number)."""
        self.fails.append((function, nth, rv))
        self.write()

    def hold(self, function):
        """Calls of `function` wait (after any latency, before reaching
        SoftHSM) until release(function). With wait_call() a test acts at a
        known point, e.g. pulls the card in the middle of a keygen."""
        gate = self.dir / f'hold-{function}'
        gate.touch()
        self.holds[function] = gate
        self.write()

    def hold_after(self, function):
        """Like hold(), but the call waits once SoftHSM has answered it,
        before its result reaches the caller (session calls only): the
        key pair exists, the caller does not know yet."""
        gate = self.dir / f'hold-after-{function}'
        gate.touch()
        self.holds_after[function] = gate
        self.write()

    def release(self, function):
        for gates in (self.holds, self.holds_after):
            with contextlib.suppress(FileNotFoundError, KeyError):
                gates[function].unlink()

    def token_flags(self, label, *flags):
        """Adds PIN state flags SoftHSM never sets to the token's
        CK_TOKEN_INFO: 'count-low', 'final-try', 'locked', 'to-be-changed'.
        No flags: none added any more."""
        if flags:
            self.token_flags_[label] = flags
        else:
            self.token_flags_.pop(label, None)
        self.write()

    def clear_faults(self):
        """No latency, failure, hold or added token flag any more (for the
        next C_Initialize; held calls are released now)."""
        for function in list(self.holds) + list(self.holds_after):
            self.release(function)
        self.latencies.clear()
        self.fails.clear()
        self.holds.clear()
        self.holds_after.clear()
        self.token_flags_.clear()
        self.write()

    def calls(self, function=None, pid=None):
        """[(pid, function, nth)] of every call so far, in order."""
        try:
            lines = self.trace.read_text().splitlines()
        except FileNotFoundError:
            return []
        calls = [(int(p), f, int(n)) for p, f, n in (line.split() for line in lines)]
        return [c for c in calls
                if (function is None or c[1] == function) and (pid is None or c[0] == pid)]

    def answered(self, function, pid=None):
        """The calls held by hold_after() that SoftHSM has answered."""
        return self.calls(f'{function}-answered', pid)

    def wait_call(self, function, count=1, pid=None, timeout=DEFAULT_TIMEOUT):
        """Waits until `function` was entered `count` times (by pid)."""
        return wait_for(lambda: len(self.calls(function, pid)) >= count, timeout,
                        f'{count} call(s) of {function}')

    def write(self):
        lines = [f'softhsm {self.softhsm_module}']
        if self.softhsm:
            lines.append(f'softhsm-conf {self.softhsm.conf}')
        lines += [f'slot {_quote(r)} token-label {_quote(t)}' for r, t in self.bindings]
        lines += [f'latency {f} {ms}' for f, ms in self.latencies.items()]
        lines += [f'fail {f} {n} {rv}' for f, n, rv in self.fails]
        lines += [f'hold {f} {_quote(str(p))}' for f, p in self.holds.items()]
        lines += [f'hold-after {f} {_quote(str(p))}' for f, p in self.holds_after.items()]
        lines += [f'token-flags {_quote(t)} ' + ' '.join(fl) for t, fl in self.token_flags_.items()]
        lines.append(f'trace {_quote(str(self.trace))}')
        tmp = self.conf.with_suffix('.tmp')
        tmp.write_text('\n'.join(lines) + '\n')
        tmp.rename(self.conf)

    @staticmethod
    def sanitizer_env():
        """{} or, for an ASan-built module, what a program not built with
        ASan needs to load it (LD_PRELOAD of libasan)."""
        global _sanitizer_env
        if _sanitizer_env is None:
            _sanitizer_env = _sanitizer_preload(str(FIXTURE_MODULE))
        return _sanitizer_env

    def tool_env(self):
        """Variables for a third-party tool (pkcs11-tool...) loading the
        module: self.env, plus libasan preloaded when the module has it."""
        return dict(self.env, **self.sanitizer_env())


# ---- D-Bus -------------------------------------------------------------------------

DEFAULT_OWN_NAMES = ('org.freedesktop.PolicyKit1', 'org.freedesktop.Notifications')


class SystemBus:
    """A private dbus-daemon configured like the system bus.

    It carries jeton's shipped policy (systemd/org.jeton.Jeton1.conf, when the
    file exists) plus `policy_files` and `policy_dirs`; the test user may own
    `own_names` (the stand-ins for polkit etc.). Clients use `env`
    (DBUS_SYSTEM_BUS_ADDRESS); with export=True it is also set in os.environ
    while the bus runs."""

    def __init__(self, tmpdir, policy_dirs=(), policy_files=None, own_names=DEFAULT_OWN_NAMES,
                 export=False, timeout=DEFAULT_TIMEOUT):
        self.dir = Path(tmpdir) / 'dbus'
        self.dir.mkdir(parents=True, exist_ok=True)
        self.socket = self.dir / 'system_bus_socket'
        self.conf = self.dir / 'system.conf'
        if policy_files is None:
            policy_files = [POLICY_FILE] if POLICY_FILE.exists() else []
        self.policy_files = [Path(p) for p in policy_files]
        self.policy_dirs = [Path(p) for p in policy_dirs]
        self.own_names = list(own_names)
        self.export = export
        self.timeout = timeout
        self.process = None
        self.address = None
        self.env = {}
        self._saved = None

    def _config(self):
        own = ''.join(f'    <allow own="{n}"/>\n    <allow send_destination="{n}"/>\n'
                      for n in self.own_names)
        # The policy files are included rather than their directory: an
        # includedir reads every *.conf there, and systemd/ may hold others.
        includes = ''.join(f'  <include>{p.resolve()}</include>\n' for p in self.policy_files)
        includes += ''.join(f'  <includedir>{p.resolve()}</includedir>\n' for p in self.policy_dirs)
        return f'''<!DOCTYPE busconfig PUBLIC "-//freedesktop//DTD D-BUS Bus Configuration 1.0//EN"
 "http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd">
<busconfig>
  <type>system</type>
  <listen>unix:path={self.socket}</listen>
  <auth>EXTERNAL</auth>
  <policy context="default">
    <!-- Every local user may connect, as on Debian's system bus. -->
    <allow user="*"/>
    <deny own="*"/>
    <deny send_type="method_call"/>
    <allow send_type="signal"/>
    <allow send_requested_reply="true" send_type="method_return"/>
    <allow send_requested_reply="true" send_type="error"/>
    <allow receive_type="method_call"/>
    <allow receive_type="method_return"/>
    <allow receive_type="error"/>
    <allow receive_type="signal"/>
    <allow send_destination="org.freedesktop.DBus" send_interface="org.freedesktop.DBus"/>
    <allow send_destination="org.freedesktop.DBus" send_interface="org.freedesktop.DBus.Introspectable"/>
    <allow send_destination="org.freedesktop.DBus" send_interface="org.freedesktop.DBus.Properties"/>
    <allow send_destination="org.freedesktop.DBus" send_interface="org.freedesktop.DBus.Peer"/>
    <deny send_destination="org.freedesktop.DBus" send_interface="org.freedesktop.DBus"
          send_member="UpdateActivationEnvironment"/>
    <deny send_destination="org.freedesktop.DBus" send_interface="org.freedesktop.DBus.Debug.Stats"/>
  </policy>
{includes}  <policy context="default">
{own}  </policy>
</busconfig>
'''

    def __enter__(self):
        # Like /run/dbus, the socket is reachable by every user: the dirs
        # above it may be traversed (not listed) by clients run as others.
        for d in (self.dir.parent, self.dir):
            os.chmod(d, os.stat(d).st_mode | 0o111)
        self.conf.write_text(self._config())
        self.process = Process(['dbus-daemon', f'--config-file={self.conf}', '--nofork',
                                '--print-address=1'], self.dir / 'dbus-daemon.log',
                               stdout=subprocess.PIPE)
        try:
            out = self.process.popen.stdout
            ready, _, _ = select.select([out], [], [], self.timeout)
            line = out.readline().decode().strip() if ready else ''
            if not line:
                raise TestbedError('dbus-daemon did not start:\n' + self.process.log_text())
        except BaseException:
            self.process.stop(signal.SIGKILL)
            raise
        self.address = line
        self.env = {'DBUS_SYSTEM_BUS_ADDRESS': self.address}
        if self.export:
            self._saved = os.environ.get('DBUS_SYSTEM_BUS_ADDRESS')
            os.environ['DBUS_SYSTEM_BUS_ADDRESS'] = self.address
        return self

    def __exit__(self, *exc):
        if self.export:
            if self._saved is None:
                os.environ.pop('DBUS_SYSTEM_BUS_ADDRESS', None)
            else:
                os.environ['DBUS_SYSTEM_BUS_ADDRESS'] = self._saved
        if self.process:
            self.process.stop(signal.SIGTERM)

    def connection(self):
        """A new dbus-python connection to this bus."""
        import dbus
        return dbus.bus.BusConnection(self.address)

    def has_name(self, name):
        res = run(['busctl', f'--address={self.address}', 'status', name], check=False)
        return res.returncode == 0

    def wait_for_name(self, name, timeout=DEFAULT_TIMEOUT, process=None):
        def owned():
            if process and not process.running():
                raise TestbedError(f'the owner-to-be of {name} exited:\n' + process.log_text())
            return self.has_name(name)
        wait_for(owned, timeout, f'{name} on the bus', interval=0.02)


class Polkit:
    """python3-dbusmock's polkitd template on a SystemBus. By default it
    denies everything; set_allowed() lists the actions it grants."""

    BUS_NAME = 'org.freedesktop.PolicyKit1'
    PATH = '/org/freedesktop/PolicyKit1/Authority'

    def __init__(self, bus, allowed=()):
        self.bus = bus
        self.allowed = list(allowed)
        self.process = None

    def __enter__(self):
        env = dict(os.environ, **self.bus.env)
        self.process = Process([PYTHON, '-m', 'dbusmock', '--system', '--template', 'polkitd'],
                               self.bus.dir / 'polkitd.log', env=env)
        try:
            self.bus.wait_for_name(self.BUS_NAME, process=self.process)
            if self.allowed:
                self.set_allowed(self.allowed)
        except BaseException:
            self.process.stop(signal.SIGKILL)
            raise
        return self

    def __exit__(self, *exc):
        if self.process:
            self.process.stop(signal.SIGTERM)

    def _mock(self):
        import dbus
        obj = self.bus.connection().get_object(self.BUS_NAME, self.PATH)
        return dbus.Interface(obj, 'org.freedesktop.DBus.Mock')

    def set_allowed(self, actions):
        self._mock().SetAllowed(list(actions))

    def allow_unknown(self, allow=True):
        self._mock().AllowUnknown(allow)


# ---- all together -------------------------------------------------------------------

class Testbed:
    """One temp dir with SoftHSM, pcscd (nreaders), the fixture's config and,
    if asked, a system bus and polkit:

        with Testbed(nreaders=4, bus=True, polkit=True) as bed:
            bed.softhsm.create_token('holder-1', 'so-pin', 'user-pin')
            slot = bed.fixture.bind(bed.pcscd.readers[1], 'holder-1')
            card = bed.card(1); card.insert()
            subprocess.run([...], env=bed.env())
    """

    def __init__(self, nreaders=2, bus=False, polkit=False, **bus_args):
        self.nreaders = nreaders
        self.want_bus = bus or polkit
        self.want_polkit = polkit
        self.bus_args = bus_args
        self._stack = contextlib.ExitStack()
        self.bus = self.polkit = None

    def __enter__(self):
        try:
            s = self._stack
            self.tmp = s.enter_context(TempDir())
            self.dir = self.tmp.path
            self.softhsm = s.enter_context(SoftHSM(self.dir))
            self.pcscd = s.enter_context(Pcscd(self.dir, self.nreaders))
            self.fixture = s.enter_context(Fixture(self.dir, self.softhsm))
            if self.want_bus:
                self.bus = s.enter_context(SystemBus(self.dir, **self.bus_args))
            if self.want_polkit:
                self.polkit = s.enter_context(Polkit(self.bus))
        except BaseException:
            self._stack.close()
            raise
        return self

    def __exit__(self, *exc):
        # The exception goes on to each part (TempDir prints the logs then).
        return self._stack.__exit__(*exc)

    def card(self, index, card_type='iso7816'):
        return self._stack.enter_context(Card(self.pcscd, index, card_type))

    def env(self, extra=None, tool=False):
        """os.environ plus every component's variables. tool=True adds what
        an uninstrumented third-party tool needs to load an ASan fixture."""
        env = dict(os.environ)
        env.update(self.softhsm.env)
        env.update(self.pcscd.env)
        env.update(self.fixture.tool_env() if tool else self.fixture.env)
        if self.bus:
            env.update(self.bus.env)
        env.update(extra or {})
        return env
