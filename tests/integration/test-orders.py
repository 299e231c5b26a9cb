#!/usr/bin/python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""jetond's orders, profiles, audit log and authorisation (issue 4).

Against the test bed's private system bus with python-dbusmock's polkitd:
orders are added and imported over D-Bus (GDBus, busctl), and what the
daemon published is compared with what its SQLite database holds, read with
Python's sqlite3 module (read-only), an independent reader of the file.

Run through build/tests/integration/test-orders (it sets JETON_BUILDDIR);
JETOND=path picks another daemon binary, JETON_VALGRIND=1 runs it under
valgrind.
"""

import json
import os
import shutil
import signal
import sqlite3
import subprocess
import sys
import unittest
from pathlib import Path

sys.dont_write_bytecode = True      # no __pycache__ in the source tree
sys.path.insert(0, str(Path(__file__).resolve().parent))
import jetondtest as jt  # noqa: E402
from jetondtest import tb, GLib, Gio  # noqa: E402

ORDER = 'org.jeton.Jeton1.Order'
ORDER_PREFIX = jt.ROOT + '/order/'
ERROR = 'org.jeton.Jeton1.Error.'
MANAGE = 'org.jeton.Jeton1.manage-orders'
ALL_ACTIONS = [MANAGE, 'org.jeton.Jeton1.provision', 'org.jeton.Jeton1.install',
               'org.jeton.Jeton1.initialize']
SHIPPED_PROFILES = jt.TOP / 'daemon/profiles'

# A SIRET that passes the Luhn check, and one that does not.
GOOD_SIRET = '73282932000074'
BAD_SIRET = '73282932000075'

bed = None


# The test bed's bus lets only its own user connect; a system bus lets
# every user in (Debian's system.conf does the same).
ALL_USERS_POLICY = '''<!DOCTYPE busconfig PUBLIC "-//freedesktop//DTD D-BUS Bus Configuration 1.0//EN"
 "http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd">
<busconfig><policy context="default"><allow user="*"/></policy></busconfig>
'''
policy_dir = None


def setUpModule():
    global bed, policy_dir
    policy_dir = tb.TempDir(prefix='jeton-test-orders-')
    policy_dir.__enter__()
    users = policy_dir / 'all-users.conf'
    users.write_text(ALL_USERS_POLICY)
    bed = tb.Testbed(nreaders=1, polkit=True, policy_files=[tb.POLICY_FILE, users])
    bed.__enter__()
    try:
        # Let `nobody` reach the bus socket (the temp dirs are private).
        for d in (bed.dir, bed.bus.dir):
            os.chmod(d, 0o711)
    except BaseException:
        bed.__exit__(None, None, None)
        raise


def tearDownModule():
    if bed:
        bed.__exit__(None, None, None)
    if policy_dir:
        policy_dir.__exit__(None, None, None)


def order_path(reference):
    return ORDER_PREFIX + jt.path_encode(reference)


def order_dict(reference, **over):
    d = {'reference': reference, 'profile': 'eidas-natural-person', 'validity-years': 2,
         'given-name': 'Marie', 'surname': 'Dupont', 'email': 'marie.dupont@example.fr'}
    d.update(over)
    return {k: GLib.Variant('u' if k == 'validity-years' else 's', v) for k, v in d.items()}


class OrdersTestCase(unittest.TestCase):

    def setUp(self):
        name = self.id().rsplit('.', 1)[-1]
        self.state = bed.dir / f'{name}-state'
        self.profiles = bed.dir / f'{name}-profiles'
        self.profiles.mkdir()
        for p in SHIPPED_PROFILES.glob('*.profile'):
            shutil.copy(p, self.profiles)
        self.db = self.state / 'jeton.db'
        bed.polkit.set_allowed(ALL_ACTIONS)

    def config(self, extra=''):
        return (f'StateDirectory={self.state}\nProfileDirectories={self.profiles}\n' + extra)

    def start_jetond(self, extra='', name=None):
        name = name or self.id().rsplit('.', 1)[-1]
        j = jt.Jetond(bed.dir, bed.env(), [bed.fixture.module_path], self.config(extra), name=name)
        self.addCleanup(self.stop_jetond, j)
        j.start(bed.bus)
        return j

    def stop_jetond(self, j):
        if getattr(j, 'killed', False):
            return
        if not j.running():
            self.fail(f'jetond exited early:\n{j.log_text()}')
        rc = j.stop(bed.bus)
        self.assertEqual(rc, 0, f'jetond exited with status {rc}:\n{j.log_text()}')

    def client(self):
        c = jt.Client(bed.bus.address)
        self.addCleanup(c.close)
        return c

    def call_error(self, c, path, interface, method, args, fd_list=None):
        """Calls, expecting an error: returns (name, message)."""
        with self.assertRaises(GLib.Error) as cm:
            if fd_list is None:
                c.call(path, interface, method, args)
            else:
                c.conn.call_with_unix_fd_list_sync(jt.BUS_NAME, path, interface, method, args, None,
                                                   Gio.DBusCallFlags.NONE, int(jt.TIMEOUT * 1000),
                                                   fd_list, None)
        name = Gio.DBusError.get_remote_error(cm.exception)
        message = cm.exception.message
        return name, message

    def add(self, c, reference, **over):
        return c.call(jt.ROOT, jt.MANAGER, 'AddOrder',
                      GLib.Variant('(a{sv}a{sv})', (order_dict(reference, **over), {})))[0]

    def import_orders(self, c, data, fmt=''):
        """ImportOrders with data from a pipe; returns the paths or raises."""
        r, w = os.pipe()
        os.write(w, data.encode())
        os.close(w)
        fds = Gio.UnixFDList.new()
        idx = fds.append(r)
        os.close(r)
        res = c.conn.call_with_unix_fd_list_sync(jt.BUS_NAME, jt.ROOT, jt.MANAGER, 'ImportOrders',
                                                 GLib.Variant('(hsa{sv})', (idx, fmt, {})), None,
                                                 Gio.DBusCallFlags.NONE, int(jt.TIMEOUT * 1000), fds,
                                                 None)
        return res[0].unpack()[0]

    def import_error(self, c, data, fmt=''):
        with self.assertRaises(GLib.Error) as cm:
            self.import_orders(c, data, fmt)
        return Gio.DBusError.get_remote_error(cm.exception), cm.exception.message

    def db_rows(self, sql, *args):
        """An independent look at the database file (read-only)."""
        con = sqlite3.connect(f'file:{self.db}?mode=ro', uri=True)
        try:
            return con.execute(sql, args).fetchall()
        finally:
            con.close()

    def order_objects(self, c):
        return {p: i[ORDER] for p, i in c.managed_objects().items() if ORDER in i}

    # ---- tests ---------------------------------------------------------------

    def test_add_order(self):
        j = self.start_jetond()
        c = self.client()
        mark = c.mark()
        path = self.add(c, 'BD1734971738', organisation='ACME', siret=GOOD_SIRET)
        self.assertEqual(path, order_path('BD1734971738'))
        c.wait_added(path, mark)

        props = c.get_all(path, ORDER)
        self.assertEqual(props['Reference'], 'BD1734971738')
        self.assertEqual(props['State'], 'pending')
        self.assertEqual(props['Profile'], 'eidas-natural-person')
        self.assertEqual(props['ValidityYears'], 2)
        self.assertEqual(props['GivenName'], 'Marie')
        self.assertEqual(props['Siret'], GOOD_SIRET)
        self.assertEqual(props['Siren'], GOOD_SIRET[:9])        # filled from the SIRET
        self.assertEqual(props['Ca'], 'generic')                # from the profile
        self.assertEqual(props['Csr'], '')
        self.assertEqual(props['Evidence'], {})
        self.assertGreater(props['Created'], 0)

        # What the file holds, read by another SQLite reader.
        rows = self.db_rows('SELECT reference, state, holder_surname, organisation_siren, created_usec '
                            'FROM orders')
        self.assertEqual(rows, [('BD1734971738', 'pending', 'Dupont', GOOD_SIRET[:9], props['Created'])])
        audit = self.db_rows("SELECT actor_uid, actor_name, action, order_reference FROM audit "
                             "WHERE order_reference = 'BD1734971738'")
        self.assertEqual(len(audit), 1)
        self.assertEqual(audit[0][0], os.geteuid())
        self.assertRegex(audit[0][1], r'^\S+ \(:1\.\d+\)$')    # user and unique bus name

        # busctl, a client of another kind, sees the same object.
        out = jt.busctl(bed.bus.address, 'get-property', jt.BUS_NAME, path, ORDER, 'State')
        self.assertEqual(out.strip(), 's "pending"')

        # The state directory is the daemon's own.
        self.assertEqual(os.stat(self.state).st_mode & 0o777, 0o700)
        del j

    def test_refusals(self):
        self.start_jetond()
        c = self.client()
        self.add(c, 'REF-1')

        name, message = self.call_error(c, jt.ROOT, jt.MANAGER, 'AddOrder',
                                        GLib.Variant('(a{sv}a{sv})', (order_dict('REF-1'), {})))
        self.assertEqual(name, ERROR + 'Exists')
        self.assertIn('REF-1', message)

        name, message = self.call_error(c, jt.ROOT, jt.MANAGER, 'AddOrder', GLib.Variant(
            '(a{sv}a{sv})', (order_dict('REF-2', organisation='ACME', siret=BAD_SIRET), {})))
        self.assertEqual(name, ERROR + 'InvalidArgument')
        self.assertIn('siret', message)

        name, message = self.call_error(c, jt.ROOT, jt.MANAGER, 'AddOrder', GLib.Variant(
            '(a{sv}a{sv})', (order_dict('REF-3', profile='no-such-product'), {})))
        self.assertEqual(name, ERROR + 'InvalidArgument')
        self.assertIn('no-such-product', message)
        self.assertIn('eidas-natural-person', message)          # what is loaded

        name, message = self.call_error(c, jt.ROOT, jt.MANAGER, 'AddOrder', GLib.Variant(
            '(a{sv}a{sv})', ({'reference': GLib.Variant('s', 'X'), 'colour': GLib.Variant('s', 'red')},
                             {})))
        self.assertEqual(name, ERROR + 'InvalidArgument')
        self.assertIn('colour', message)

        self.assertEqual(self.db_rows('SELECT reference FROM orders'), [('REF-1',)])
        self.assertEqual(list(self.order_objects(c)), [order_path('REF-1')])

    def test_import(self):
        self.start_jetond()
        c = self.client()
        header = 'reference,profile,validity_years,holder.given_name,holder.surname,organisation.siret\n'
        good = header + f'IMP-1,eidas-natural-person,1,Ana,Martin,{GOOD_SIRET}\n' \
                        'IMP-2,eidas-natural-person,3,Paul,Durand,\n'
        paths = self.import_orders(c, good, 'csv')
        self.assertEqual(paths, [order_path('IMP-1'), order_path('IMP-2')])
        self.assertEqual(c.get(order_path('IMP-2'), ORDER, 'Surname'), 'Durand')

        # A bad row: nothing is added, and every problem is named.
        bad = header + 'IMP-3,eidas-natural-person,1,Luc,Petit,\n' \
                       f'IMP-4,eidas-natural-person,1,Eve,Roux,{BAD_SIRET}\n' \
                       'IMP-5,eidas-natural-person,9,Jo,,\n'
        name, message = self.import_error(c, bad)
        self.assertEqual(name, ERROR + 'InvalidOrders')
        self.assertRegex(message, r'line 3, field organisation\.siret')
        self.assertRegex(message, r'line 4, field validity_years')
        self.assertRegex(message, r'line 4, field holder\.surname')
        self.assertNotIn('line 2', message)

        records = [{'reference': 'IMP-6', 'profile': 'eidas-natural-person', 'validity_years': 2,
                    'holder': {'given_name': 'Zoe', 'surname': 'Blanc'}},
                   {'reference': 'IMP-7', 'profile': 'nope', 'validity_years': 1,
                    'holder': {'given_name': 'Max', 'surname': 'Noir'}}]
        name, message = self.import_error(c, json.dumps(records, indent=1))
        self.assertEqual(name, ERROR + 'InvalidOrders')
        self.assertIn('item [1], field profile', message)

        # A reference known already: refused, all of them named.
        name, message = self.import_error(c, header + 'IMP-1,eidas-natural-person,1,A,B,\n'
                                                     'IMP-2,eidas-natural-person,1,C,D,\n')
        self.assertEqual(name, ERROR + 'Exists')
        self.assertIn('IMP-1', message)
        self.assertIn('IMP-2', message)

        paths = self.import_orders(c, json.dumps(records[:1]), 'json')
        self.assertEqual(paths, [order_path('IMP-6')])

        self.assertEqual(sorted(r[0] for r in self.db_rows('SELECT reference FROM orders')),
                         ['IMP-1', 'IMP-2', 'IMP-6'])

    def test_broken_profile(self):
        (self.profiles / 'broken.profile').write_text(
            '[profile]\nca = X\nproduct = Y\n[key]\nalgorithm = rsa1024\nhash = sha256\n'
            '[subject]\nC = FR\nCN = ${holder.given_name}\n')
        self.start_jetond()
        c = self.client()
        profiles = c.manager('Profiles')
        self.assertIn('eidas-natural-person', profiles)
        self.assertNotIn('broken', profiles)
        errors = c.manager('ProfileErrors')
        where = [loc for loc, _ in errors]
        self.assertIn(f'{self.profiles}/broken.profile:5', where, errors)
        self.assertTrue(all(msg for _, msg in errors))
        # The daemon works with the others.
        self.add(c, 'AFTER-BROKEN')

    def test_cancel(self):
        self.start_jetond()
        c = self.client()
        path = self.add(c, 'CAN-1')
        mark = c.mark()
        c.call(path, ORDER, 'Cancel')
        c.wait_event(lambda e: e.member == 'PropertiesChanged' and e.path == path
                     and e.args[1].get('State') == 'cancelled', mark)
        self.assertEqual(self.db_rows("SELECT state FROM orders WHERE reference = 'CAN-1'"),
                         [('cancelled',)])
        name, _ = self.call_error(c, path, ORDER, 'Cancel', None)
        self.assertEqual(name, ERROR + 'InvalidState')

    def test_polkit_denies(self):
        self.start_jetond()
        c = self.client()
        path = self.add(c, 'PK-1')
        bed.polkit.set_allowed([])

        checks = [
            (jt.ROOT, jt.MANAGER, 'AddOrder', GLib.Variant('(a{sv}a{sv})', (order_dict('PK-2'), {})),
             MANAGE),
            (path, ORDER, 'Cancel', None, MANAGE),
            (path, ORDER, 'Provision', GLib.Variant('(sa{sv})', ('', {})), 'org.jeton.Jeton1.provision'),
        ]
        for p, iface, method, args, action in checks:
            name, message = self.call_error(c, p, iface, method, args)
            self.assertEqual(name, ERROR + 'PermissionDenied', method)
            self.assertIn(action, message)

        fds = Gio.UnixFDList.new()
        r, w = os.pipe()
        os.close(w)
        idx = fds.append(r)
        name, message = self.call_error(c, path, ORDER, 'Install', GLib.Variant('(ha{sv})', (idx, {})),
                                        fd_list=fds)
        self.assertEqual(name, ERROR + 'PermissionDenied')
        self.assertIn('org.jeton.Jeton1.install', message)
        name, message = self.import_error(c, 'reference\n')
        self.assertEqual(name, ERROR + 'PermissionDenied')
        os.close(r)

        self.assertEqual(self.db_rows('SELECT reference, state FROM orders'), [('PK-1', 'pending')])
        denied = self.db_rows("SELECT detail FROM audit WHERE result = 'denied'")
        self.assertEqual(len(denied), 5, denied)
        # Reading stays open.
        self.assertEqual(c.get(path, ORDER, 'State'), 'pending')

    def as_nobody(self, *busctl_args):
        return subprocess.run(['setpriv', '--reuid=nobody', '--regid=nogroup', '--clear-groups',
                               'busctl', f'--address={bed.bus.address}', *busctl_args],
                              capture_output=True, text=True, timeout=60)

    def add_with_busctl(self, reference, nobody):
        args = ['call', jt.BUS_NAME, jt.ROOT, jt.MANAGER, 'AddOrder', 'a{sv}a{sv}', '5',
                'reference', 's', reference, 'profile', 's', 'eidas-natural-person',
                'validity-years', 'u', '1', 'given-name', 's', 'Jean', 'surname', 's', 'Moulin', '0']
        if nobody:
            return self.as_nobody(*args)
        return tb.run(['busctl', f'--address={bed.bus.address}', *args], check=False)

    def test_without_polkit(self):
        bed.polkit.__exit__(None, None, None)
        tb.wait_for(lambda: not bed.bus.has_name(tb.Polkit.BUS_NAME), jt.TIMEOUT, 'polkit to go')
        self.addCleanup(bed.polkit.__enter__)
        self.start_jetond()
        c = self.client()

        res = self.add_with_busctl('ROOT-1', nobody=False)
        self.assertEqual(res.returncode, 0, res.stderr)
        res = self.add_with_busctl('NOBODY-1', nobody=True)
        self.assertNotEqual(res.returncode, 0)
        self.assertIn('org.jeton.Jeton1.manage-orders', res.stderr)
        # Reading is open to nobody too.
        res = self.as_nobody('get-property', jt.BUS_NAME, order_path('ROOT-1'), ORDER, 'State')
        self.assertEqual(res.stdout.strip(), 's "pending"', res.stderr)
        self.assertEqual(sorted(self.order_objects(c)), [order_path('ROOT-1')])

    def test_admin_group_without_polkit(self):
        bed.polkit.__exit__(None, None, None)
        tb.wait_for(lambda: not bed.bus.has_name(tb.Polkit.BUS_NAME), jt.TIMEOUT, 'polkit to go')
        self.addCleanup(bed.polkit.__enter__)
        self.start_jetond('AdminGroup=nogroup\n')
        res = self.add_with_busctl('GROUP-1', nobody=True)
        self.assertEqual(res.returncode, 0, res.stderr)
        self.assertEqual(self.db_rows("SELECT actor_uid FROM audit WHERE order_reference = 'GROUP-1'"),
                         [(65534,)])

    def test_restart(self):
        j = self.start_jetond(name='restart-1')
        c = self.client()
        self.add(c, 'RS-1')
        self.add(c, 'RS-2')
        c.call(order_path('RS-2'), ORDER, 'Cancel')
        before = self.order_objects(c)

        j.process.stop(signal.SIGKILL)
        j.killed = True
        tb.wait_for(lambda: not bed.bus.has_name(jt.BUS_NAME), jt.TIMEOUT, 'jetond to go')
        self.start_jetond(name='restart-2')
        after = self.order_objects(c)
        self.assertEqual(after, before)
        self.assertEqual(after[order_path('RS-2')]['State'], 'cancelled')

    def test_audit(self):
        j = self.start_jetond(name='audit-1')
        c = self.client()
        for i in range(3):
            self.add(c, f'AU-{i}')
        intact, bad, message = c.call(jt.ROOT, jt.MANAGER, 'VerifyAudit')
        self.assertTrue(intact, message)
        self.assertEqual(bad, 0)
        self.stop_jetond(j)
        j.killed = True

        # Someone with the file rewrites history: the triggers do not stop
        # a writer who drops them, the hash chain shows it.
        con = sqlite3.connect(self.db)
        con.execute('DROP TRIGGER audit_no_update')
        victim = con.execute("SELECT id FROM audit WHERE order_reference = 'AU-1'").fetchone()[0]
        con.execute("UPDATE audit SET actor_name = 'somebody else' WHERE id = ?", (victim,))
        con.commit()
        con.close()

        self.start_jetond(name='audit-2')
        intact, bad, message = c.call(jt.ROOT, jt.MANAGER, 'VerifyAudit')
        self.assertFalse(intact)
        self.assertEqual(bad, victim)
        self.assertTrue(message)

    def test_no_database(self):
        # A database path that cannot be opened: a clear error, exit non-zero.
        self.state.mkdir()
        j = jt.Jetond(bed.dir, bed.env(), [bed.fixture.module_path],
                      self.config(f'Database={self.state}/missing-dir/jeton.db\n'), name='no-db')
        p = tb.Process(j.argv(), j.log, env=j.env)
        rc = p.popen.wait(timeout=jt.TIMEOUT * 3)
        p.stop()
        self.assertNotEqual(rc, 0)
        self.assertIn('missing-dir/jeton.db', j.log_text())

    def test_introspection(self):
        res = subprocess.run([jt.JETOND, '--bus-introspect'], capture_output=True, text=True, timeout=60)
        self.assertEqual(res.returncode, 0)
        generated = jt.interfaces_of(res.stdout)
        documented = jt.interfaces_of(jt.XML.read_text())
        self.assertEqual(generated[ORDER], documented.get(ORDER))
        self.assertEqual(generated[jt.MANAGER], documented.get(jt.MANAGER))

        # What sd-bus serves for an order object.
        self.start_jetond()
        c = self.client()
        path = self.add(c, 'INTRO-1')
        self.assertEqual(jt.interfaces_of(c.introspect(path))[ORDER], documented[ORDER])


if __name__ == '__main__':
    unittest.main(verbosity=2)
