# SPDX-License-Identifier: LGPL-2.1-or-later
"""Helpers for jetond's integration tests and benchmark.

    Jetond(dir, env, modules)   the daemon under test: $JETOND, default
                                $JETON_BUILDDIR/jetond (build/jetond); with
                                JETON_VALGRIND=1 it runs under valgrind and
                                stop() reports valgrind's verdict
    Client(address)             an independent D-Bus client (GLib's GDBus):
                                calls from the caller's thread, and every
                                ObjectManager / PropertiesChanged signal
                                recorded on a thread of its own with the
                                moment it arrived (time.monotonic())
    interfaces_of(xml)          the org.jeton.* interfaces of an introspection
                                XML, comments and layout dropped, to compare

Waits are on events (signals, the bus name) with a bounded timeout; nothing
sleeps to synchronise.
"""

import collections
import functools
import os
import re
import signal
import subprocess
import sys
import threading
import time
import xml.etree.ElementTree as ET
from pathlib import Path

TOP = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(TOP / 'tests/testbed'))
import jetontestbed as tb  # noqa: E402

import gi  # noqa: E402
gi.require_version('Gio', '2.0')
from gi.repository import Gio, GLib  # noqa: E402

BUS_NAME = 'org.jeton.Jeton1'
ROOT = '/org/jeton/Jeton1'
TOKEN_PREFIX = ROOT + '/token/'
MANAGER = 'org.jeton.Jeton1.Manager'
TOKEN = 'org.jeton.Jeton1.Token'
OBJECT_MANAGER = 'org.freedesktop.DBus.ObjectManager'
PROPERTIES = 'org.freedesktop.DBus.Properties'
XML = TOP / 'daemon/org.jeton.Jeton1.xml'

JETOND = os.environ.get('JETOND') or str(tb.BUILDDIR / 'jetond')
VALGRIND = os.environ.get('JETON_VALGRIND') == '1'
# Valgrind makes everything 20-50 times slower.
SLOW = 30 if VALGRIND else 1
TIMEOUT = tb.DEFAULT_TIMEOUT * SLOW


@functools.lru_cache(maxsize=None)
def sanitized():
    """True when JETOND is built with ASan (its RSS says nothing then)."""
    res = tb.run(['ldd', JETOND], check=False)
    return 'libasan' in res.stdout


def path_encode(s):
    """sd_bus_path_encode() of one label."""
    if not s:
        return '_'
    return ''.join(chr(b) if chr(b).isascii() and chr(b).isalnum() else f'_{b:02x}'
                   for b in s.encode())


def token_path(manufacturer, serial):
    return TOKEN_PREFIX + path_encode(f'{manufacturer}_{serial}')


def card_path(reader):
    return TOKEN_PREFIX + path_encode('card_' + reader)


def proc_status(pid):
    fields = {}
    with open(f'/proc/{pid}/status') as f:
        for line in f:
            k, _, v = line.partition(':')
            fields[k] = v.strip()
    return fields


def rss_kib(pid):
    return int(proc_status(pid)['VmRSS'].split()[0])


def context_switches(pid):
    """Voluntary + involuntary context switches of every thread: each
    wake-up of a thread that slept is one voluntary switch at least."""
    total = 0
    for task in Path(f'/proc/{pid}/task').iterdir():
        try:
            st = proc_status(f'{pid}/task/{task.name}')
        except FileNotFoundError:
            continue
        total += int(st['voluntary_ctxt_switches']) + int(st['nonvoluntary_ctxt_switches'])
    return total


SYSLOG_STDERR = tb.BUILDDIR / 'tests/fixture/libjeton-syslog-stderr.so'


def with_syslog_to_stderr(env):
    """env, with syslog(3) sent to jetond's log: SoftHSM2 says why a call
    failed only there, and a test machine has no /dev/log."""
    env = dict(env)
    env['LD_PRELOAD'] = ' '.join(filter(None, [env.get('LD_PRELOAD'), str(SYSLOG_STDERR)]))
    if sanitized():
        # The preload comes before libasan; ASan must not refuse to start.
        env['ASAN_OPTIONS'] = ':'.join(filter(None, [env.get('ASAN_OPTIONS'), 'verify_asan_link_order=0']))
    return env


class Jetond:
    """jetond with its own config file and log in `directory`."""

    def __init__(self, directory, env, modules, extra='', name='jetond', wrapper=()):
        self.dir = Path(directory)
        self.env = with_syslog_to_stderr(env)
        self.name = name
        self.conf = self.dir / f'{name}.conf'
        self.log = self.dir / f'{name}.log'
        self.wrapper = list(wrapper)
        self.process = None
        # A state directory (database, outbox) of its own; extra may name another.
        self.conf.write_text(f'[jetond]\nStateDirectory={self.dir / name}-state\nModules='
                             + ' '.join(str(m) for m in modules) + '\n' + extra)

    def argv(self):
        argv = list(self.wrapper)
        if VALGRIND:
            argv += ['valgrind', '--quiet', '--error-exitcode=99', '--leak-check=full',
                     '--errors-for-leak-kinds=definite,indirect',
                     '--show-leak-kinds=definite,indirect',
                     f'--suppressions={TOP}/tests/valgrind.supp', '--trace-children=no']
        return argv + [JETOND, '--config', str(self.conf)]

    def start(self, bus):
        """Starts it and waits for its bus name: the first scan is then
        published (jetond takes the name only after it)."""
        self.process = tb.Process(self.argv(), self.log, env=self.env)
        bus.wait_for_name(BUS_NAME, timeout=TIMEOUT, process=self.process)
        return self

    @property
    def pid(self):
        return self.process.pid

    def running(self):
        return self.process is not None and self.process.running()

    def stop(self, bus=None):
        """SIGTERM; returns the exit status (valgrind's 99 on an error of
        ours, ASan's non-zero on a leak or bad access). Then waits for the
        bus to drop the name, so the next jetond's wait is not fooled."""
        if not self.process:
            return None
        rc = self.process.stop(signal.SIGTERM, timeout=TIMEOUT * 3)
        if bus:
            tb.wait_for(lambda: not bus.has_name(BUS_NAME), TIMEOUT, f'{BUS_NAME} to go')
        return rc

    def log_text(self):
        try:
            return self.log.read_text(errors='replace')
        except OSError:
            return ''


Event = collections.namedtuple('Event', 'time member path args')


class Client:
    """GDBus client of a bus. Signals are received on a thread of its own,
    so their arrival times are right even while the caller is busy."""

    FLAGS = (Gio.DBusConnectionFlags.AUTHENTICATION_CLIENT
             | Gio.DBusConnectionFlags.MESSAGE_BUS_CONNECTION)

    def __init__(self, address):
        self.address = address
        self.events = []
        self.cond = threading.Condition()
        self.conn = Gio.DBusConnection.new_for_address_sync(address, self.FLAGS, None, None)
        self._ctx = GLib.MainContext.new()
        self._loop = GLib.MainLoop.new(self._ctx, False)
        self._ready = threading.Event()
        self._error = None
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()
        if not self._ready.wait(TIMEOUT) or self._error:
            raise RuntimeError(f'signal thread did not start: {self._error}')

    def _run(self):
        self._ctx.push_thread_default()
        try:
            conn = Gio.DBusConnection.new_for_address_sync(self.address, self.FLAGS, None, None)
            conn.signal_subscribe(None, OBJECT_MANAGER, None, ROOT, None,
                                  Gio.DBusSignalFlags.NONE, self._on_signal)
            conn.signal_subscribe(None, PROPERTIES, 'PropertiesChanged', None, None,
                                  Gio.DBusSignalFlags.NONE, self._on_signal)
            # The bus answers after it has handled our AddMatch calls.
            conn.call_sync('org.freedesktop.DBus', '/org/freedesktop/DBus', 'org.freedesktop.DBus',
                           'GetId', None, None, Gio.DBusCallFlags.NONE, -1, None)
        except Exception as e:  # noqa: BLE001 - handed to the caller
            self._error = e
            self._ready.set()
            return
        self._ready.set()
        self._loop.run()
        conn.close_sync(None)
        self._ctx.pop_thread_default()

    def _on_signal(self, conn, sender, path, interface, member, params, *user):
        event = Event(time.monotonic(), member, path, params.unpack())
        with self.cond:
            self.events.append(event)
            self.cond.notify_all()

    def close(self):
        self._loop.quit()
        self._thread.join(TIMEOUT)
        self.conn.close_sync(None)

    # -- signals

    def mark(self):
        """A position in the event list: wait_event(since=mark) looks after it."""
        with self.cond:
            return len(self.events)

    def wait_event(self, predicate, since=0, timeout=TIMEOUT, what='a signal'):
        def find():
            for e in self.events[since:]:
                if predicate(e):
                    return e
            return None
        with self.cond:
            event = self.cond.wait_for(find, timeout)
        if not event:
            raise AssertionError(f'timed out after {timeout:g} s waiting for {what}; got '
                                 f'{[(e.member, e.path) for e in self.events[since:]]}')
        return event

    def wait_added(self, path, since=0, timeout=TIMEOUT):
        return self.wait_event(lambda e: e.member == 'InterfacesAdded' and e.args[0] == path,
                               since, timeout, f'InterfacesAdded {path}')

    def wait_removed(self, path, since=0, timeout=TIMEOUT):
        return self.wait_event(lambda e: e.member == 'InterfacesRemoved' and e.args[0] == path,
                               since, timeout, f'InterfacesRemoved {path}')

    def wait_manager_property(self, name, check, since=0, timeout=TIMEOUT):
        """Waits for a PropertiesChanged of Manager.name whose value passes check."""
        def match(e):
            return (e.member == 'PropertiesChanged' and e.path == ROOT and e.args[0] == MANAGER
                    and name in e.args[1] and check(e.args[1][name]))
        return self.wait_event(match, since, timeout, f'Manager.{name} to change')

    # -- calls

    def call(self, path, interface, method, args=None):
        res = self.conn.call_sync(BUS_NAME, path, interface, method, args, None,
                                  Gio.DBusCallFlags.NONE, int(TIMEOUT * 1000), None)
        return res.unpack()

    def get(self, path, interface, name):
        return self.call(path, PROPERTIES, 'Get', GLib.Variant('(ss)', (interface, name)))[0]

    def get_all(self, path, interface):
        return self.call(path, PROPERTIES, 'GetAll', GLib.Variant('(s)', (interface,)))[0]

    def manager(self, name):
        return self.get(ROOT, MANAGER, name)

    def managed_objects(self):
        return self.call(ROOT, OBJECT_MANAGER, 'GetManagedObjects')[0]

    def tokens(self):
        """{path: Token properties} of every token object."""
        return {p: ifaces[TOKEN] for p, ifaces in self.managed_objects().items() if TOKEN in ifaces}

    def introspect(self, path):
        return self.call(path, 'org.freedesktop.DBus.Introspectable', 'Introspect')[0]


def interfaces_of(xml_text, prefix='org.jeton.'):
    """{interface: [(tag, attributes, children)]} for the interfaces whose
    name starts with prefix; comments and whitespace do not count."""
    root = ET.fromstring(xml_text)
    result = {}
    for iface in root.iter('interface'):
        name = iface.get('name')
        if not name.startswith(prefix):
            continue
        result[name] = [(el.tag, sorted(el.attrib.items()),
                         [(c.tag, sorted(c.attrib.items())) for c in el])
                        for el in iface]
    return result


def busctl(address, *args, check=True):
    """An independent client of a second kind: systemd's busctl."""
    res = tb.run(['busctl', f'--address={address}', *args], check=check)
    return res.stdout


def hex_of(s):
    return re.sub(r'[^0-9a-f]', '', s.lower())
