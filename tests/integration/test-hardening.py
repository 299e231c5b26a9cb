#!/usr/bin/python3
"""jetond keeps serving when clients misbehave.

- RegisterPinAgent is open to every user: a connection may register only a
  few agents, and a flood of registrations neither cuts jetond off the bus
  (the bus refuses a connection's 513th match rule) nor stops it serving.
- Descriptors handed to ImportOrders and Install are read through jetond's
  own non-blocking description: a pipe kept open with a partial line, even
  one whose client clears O_NONBLOCK on its side, never blocks the loop.
- A socket is refused as a certificate or order source (it can report
  readable and still block a read)."""

import fcntl
import os
import socket
import sys
import unittest
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import jetondtest as jt  # noqa: E402
from jetondtest import tb, Gio, GLib  # noqa: E402
import contextlib  # noqa: E402

PROFILES = jt.TOP / 'daemon/profiles'
ORDER = 'org.jeton.Jeton1.Order'


def dbus_error(fn, *args):
    try:
        fn(*args)
    except GLib.Error as e:
        return Gio.DBusError.get_remote_error(e), e.message
    raise AssertionError(f'{fn.__name__} did not fail')


def call_with_fd(c, path, iface, method, fmt, args, fd):
    fds = Gio.UnixFDList.new_from_array([fd])
    res, _ = c.conn.call_with_unix_fd_list_sync(jt.BUS_NAME, path, iface, method, GLib.Variant(fmt, args),
                                                 None, Gio.DBusCallFlags.NONE, int(jt.TIMEOUT * 1000), fds,
                                                 None)
    return res.unpack()


def responsive(c):
    """A call that needs the loop: answered only if nothing blocks it."""
    return c.call(jt.ROOT, jt.MANAGER, 'VerifyAudit')[0]


class Hardening(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.stack = contextlib.ExitStack()
        cls.bed = cls.stack.enter_context(tb.Testbed(nreaders=1, bus=True))
        cls.jetond = jt.Jetond(cls.bed.dir, cls.bed.env(), [tb.FIXTURE_MODULE],
                               extra=f'ProfileDirectories={PROFILES}\n').start(cls.bed.bus)
        cls.c = jt.Client(cls.bed.bus.address)

    @classmethod
    def tearDownClass(cls):
        cls.c.close()
        rc = cls.jetond.stop(cls.bed.bus)
        cls.stack.close()
        assert rc == 0, f'jetond exited with {rc}'

    def register(self, conn, path):
        conn.call_sync(jt.BUS_NAME, jt.ROOT, jt.MANAGER, 'RegisterPinAgent', GLib.Variant('(o)', (path,)),
                       None, Gio.DBusCallFlags.NONE, int(jt.TIMEOUT * 1000), None)

    def test_agent_flood(self):
        conn = Gio.DBusConnection.new_for_address_sync(self.bed.bus.address, jt.Client.FLAGS, None, None)
        for i in range(4):
            self.register(conn, f'/agent/{i}')
        err, msg = dbus_error(self.register, conn, '/agent/4')
        self.assertEqual(err, 'org.jeton.Jeton1.Error.Busy', msg)
        self.assertIn('Too many PIN agents', msg)
        # Many more tries: refused, and jetond stays on the bus, serving.
        for i in range(5, 600):
            dbus_error(self.register, conn, f'/agent/{i}')
        self.assertTrue(self.jetond.running())
        self.assertTrue(self.bed.bus.has_name(jt.BUS_NAME))
        self.assertTrue(responsive(self.c))
        # Unregistering frees a place; the connection leaving frees all.
        conn.call_sync(jt.BUS_NAME, jt.ROOT, jt.MANAGER, 'UnregisterPinAgent', GLib.Variant('(o)', ('/agent/0',)),
                       None, Gio.DBusCallFlags.NONE, -1, None)
        self.register(conn, '/agent/0')
        conn.close_sync(None)
        other = Gio.DBusConnection.new_for_address_sync(self.bed.bus.address, jt.Client.FLAGS, None, None)
        tb.wait_for(lambda: self._try_register(other, '/agent/again'), jt.TIMEOUT, 'the agents to be forgotten')
        other.close_sync(None)

    def start_batch(self, orders_fd, options, fds):
        """StartBatch with the orders at index 0 and option fds after it."""
        fdlist = Gio.UnixFDList.new_from_array([orders_fd] + fds)
        return self.c.conn.call_with_unix_fd_list_sync(
            jt.BUS_NAME, jt.ROOT, jt.MANAGER, 'StartBatch', GLib.Variant('(hsa{sv})', (0, 'csv', options)),
            None, Gio.DBusCallFlags.NONE, int(jt.TIMEOUT * 1000), fdlist, None)

    def test_batch_fds_kept_open(self):
        mailer = self.bed.dir / 'mailer.txt'
        orders = self.bed.dir / 'orders.csv'
        orders.write_text('reference,validity_years,holder.given_name,holder.surname\nHB-1,1,Ana,Lopes\n')
        # An SO PIN pipe holding part of a line, its writer still open.
        r, w = os.pipe()
        os.write(w, b'1234')
        opts = {'profile': GLib.Variant('s', 'eidas-natural-person'), 'initialize': GLib.Variant('b', True),
                'so-pin-fd': GLib.Variant('h', 1), 'user-pin': GLib.Variant('s', 'random'),
                'pin-mailer-fd': GLib.Variant('h', 2)}
        fd_orders = os.open(orders, os.O_RDONLY)
        fd_mailer = os.open(mailer, os.O_WRONLY | os.O_CREAT, 0o600)
        err, msg = dbus_error(self.start_batch, fd_orders, opts, [r, fd_mailer])
        self.assertEqual(err, 'org.jeton.Jeton1.Error.InvalidArgument', msg)
        self.assertIn('SO PIN is not all there', msg)
        self.assertTrue(responsive(self.c))
        os.close(w)
        # The orders from a pipe kept open with part of the file.
        r, w = os.pipe()
        os.write(w, b'reference,validity_years')
        upin_r, upin_w = os.pipe()
        os.write(upin_w, b'246810\n')
        os.close(upin_w)
        opts = {'profile': GLib.Variant('s', 'eidas-natural-person'), 'user-pin': GLib.Variant('s', 'fd'),
                'user-pin-fd': GLib.Variant('h', 1)}
        err, msg = dbus_error(self.start_batch, r, opts, [upin_r])
        self.assertEqual(err, 'org.jeton.Jeton1.Error.InvalidArgument', msg)
        self.assertIn('orders are not all there', msg)
        self.assertTrue(responsive(self.c))
        os.close(w)
        self.assertEqual(self.c.manager('Batches'), [])

    def test_batch_known_reference(self):
        """A batch with references known already is refused, all named."""
        for ref in ('HB-K1', 'HB-K2'):
            self.c.call(jt.ROOT, jt.MANAGER, 'AddOrder', GLib.Variant('(a{sv}a{sv})', ({
                'reference': GLib.Variant('s', ref), 'profile': GLib.Variant('s', 'eidas-natural-person'),
                'given-name': GLib.Variant('s', 'Ana'), 'surname': GLib.Variant('s', 'Lopes'),
                'validity-years': GLib.Variant('u', 1)}, {})))
        orders = self.bed.dir / 'known.csv'
        orders.write_text('reference,validity_years,holder.given_name,holder.surname\n'
                          'HB-K1,1,Ana,Lopes\nHB-NEW,1,Rui,Costa\nHB-K2,1,Ana,Lopes\n')
        pin_r, pin_w = os.pipe()
        os.write(pin_w, b'246810\n')
        os.close(pin_w)
        opts = {'profile': GLib.Variant('s', 'eidas-natural-person'), 'user-pin': GLib.Variant('s', 'fd'),
                'user-pin-fd': GLib.Variant('h', 1)}
        err, msg = dbus_error(self.start_batch, os.open(orders, os.O_RDONLY), opts, [pin_r])
        self.assertEqual(err, 'org.jeton.Jeton1.Error.Exists', msg)
        self.assertIn('HB-K1', msg)
        self.assertIn('HB-K2', msg)
        self.assertNotIn('HB-NEW', msg)
        self.assertEqual(self.c.manager('Batches'), [])

    def _try_register(self, conn, path):
        try:
            self.register(conn, path)
            return True
        except GLib.Error:
            return False

    def test_import_pipe_kept_open(self):
        r, w = os.pipe()
        os.write(w, b'reference,profile\n')
        fds = Gio.UnixFDList.new_from_array([os.dup(r)])
        self.c.conn.call_with_unix_fd_list(jt.BUS_NAME, jt.ROOT, jt.MANAGER, 'ImportOrders',
                                           GLib.Variant('(hsa{sv})', (0, 'csv', {})), None,
                                           Gio.DBusCallFlags.NONE, -1, fds, None, None, None)
        # Calls on one connection are handled in order: once this answers,
        # jetond is reading the pipe. Then the client turns O_NONBLOCK off
        # on its side of the description and sends one more byte.
        self.assertTrue(responsive(self.c))
        fcntl.fcntl(r, fcntl.F_SETFL, fcntl.fcntl(r, fcntl.F_GETFL) & ~os.O_NONBLOCK)
        os.write(w, b'B')
        self.assertTrue(responsive(self.c))
        os.close(w)
        os.close(r)

    def test_install_pipe_kept_open(self):
        order = self.c.call(jt.ROOT, jt.MANAGER, 'AddOrder', GLib.Variant('(a{sv}a{sv})', ({
            'reference': GLib.Variant('s', 'HARD-1'), 'profile': GLib.Variant('s', 'eidas-natural-person'),
            'given-name': GLib.Variant('s', 'Ana'), 'surname': GLib.Variant('s', 'Lopes'),
            'validity-years': GLib.Variant('u', 1),
        }, {})))[0]
        r, w = os.pipe()
        os.write(w, b'-----BEGIN CERT')
        err, msg = dbus_error(call_with_fd, self.c, order, ORDER, 'Install', '(ha{sv})', (0, {}), r)
        self.assertEqual(err, 'org.jeton.Jeton1.Error.InvalidArgument', msg)
        self.assertIn('not all there', msg)
        os.close(w)
        self.assertTrue(responsive(self.c))

        a, b = socket.socketpair()
        a.send(b'x')
        err, msg = dbus_error(call_with_fd, self.c, order, ORDER, 'Install', '(ha{sv})', (0, {}), a.detach())
        self.assertEqual(err, 'org.jeton.Jeton1.Error.InvalidArgument', msg)
        self.assertIn('a file or a pipe', msg)
        b.close()
        self.assertEqual(self.c.get(order, ORDER, 'State'), 'pending')


if __name__ == '__main__':
    unittest.main(verbosity=2)
