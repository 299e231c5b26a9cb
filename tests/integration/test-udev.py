#!/usr/bin/python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""jetond reports the USB tokens and CCID readers udev shows it (issue 3).

umockdev stands in for the kernel and udev: its testbed holds the fake
sysfs devices and sends their uevents to jetond's libudev monitor (jetond
runs with umockdev's preload library). A known token whose PKCS#11 module
is not loaded is reported as "needs-module:PATH"; a USB event makes jetond
rescan its modules (seen in the fixture module's call trace). Checked
through GDBus, a client that is not ours.

This program re-executes itself under umockdev-wrapper: the testbed's
uevents only reach monitors when the sender runs with the preload too.
"""

import os
import subprocess
import sys

if 'libumockdev-preload' not in os.environ.get('LD_PRELOAD', ''):
    os.execvp('umockdev-wrapper', ['umockdev-wrapper', sys.executable, *sys.argv])
# Only this process and jetond need it: not dbus-daemon, busctl & co.
UMOCKDEV_PRELOAD = os.environ.pop('LD_PRELOAD')

import unittest  # noqa: E402
from pathlib import Path  # noqa: E402

sys.dont_write_bytecode = True      # no __pycache__ in the source tree
sys.path.insert(0, str(Path(__file__).resolve().parent))
import jetondtest as jt  # noqa: E402
from jetondtest import tb  # noqa: E402

import gi  # noqa: E402
gi.require_version('UMockdev', '1.0')
from gi.repository import UMockdev  # noqa: E402

MULTIARCH = tb.run(['dpkg-architecture', '-qDEB_HOST_MULTIARCH']).stdout.strip()
OPENSC = f'/usr/lib/{MULTIARCH}/opensc-pkcs11.so'
ETOKEN = '/usr/lib/libeTPkcs11.so'


class TestUdev(unittest.TestCase):

    def setUp(self):
        self.umockdev = UMockdev.Testbed.new()
        self.tmp = self.enterContext(tb.TempDir())
        self.bus = self.enterContext(tb.SystemBus(self.tmp))
        self.softhsm = tb.SoftHSM(self.tmp)
        self.fixture = tb.Fixture(self.tmp, self.softhsm)

    def start_jetond(self, modules):
        env = dict(os.environ, **self.bus.env, **self.fixture.env,
                   UMOCKDEV_DIR=self.umockdev.get_root_dir(), LD_PRELOAD=UMOCKDEV_PRELOAD,
                   # No pcscd here: jetond reports it unavailable and goes on.
                   PCSCLITE_CSOCK_NAME=str(self.tmp / 'no-pcscd/pcscd.comm'))
        if jt.sanitized():
            # umockdev's preload comes before libasan.
            env['ASAN_OPTIONS'] = ':'.join(filter(None, [env.get('ASAN_OPTIONS'),
                                                         'verify_asan_link_order=0']))
        j = jt.Jetond(self.tmp, env, modules)
        self.addCleanup(self.stop_jetond, j)
        j.start(self.bus)
        c = jt.Client(self.bus.address)
        self.addCleanup(c.close)
        return j, c

    def stop_jetond(self, j):
        rc = j.stop(self.bus)
        self.assertEqual(rc, 0, f'jetond exited with status {rc}:\n{j.log_text()}')

    # -- fake devices

    def plug_usb(self, name, vendor, product, interfaces=None, parent=None):
        """A usb_device; interfaces like ':0b0000:' as udev's usb_id sets them."""
        props = ['DEVTYPE', 'usb_device', 'PRODUCT', f'{vendor:x}/{product:x}/100',
                 'BUSNUM', '001', 'DEVNUM', '002']
        if interfaces:
            props += ['ID_USB_INTERFACES', interfaces]
        return self.umockdev.add_device('usb', name, parent,
                                        ['idVendor', f'{vendor:04x}', 'idProduct', f'{product:04x}'],
                                        props)

    def plug_interface(self, device, name, vendor, product, cls):
        return self.umockdev.add_device('usb', name, device,
                                        ['bInterfaceClass', f'{cls:02x}'],
                                        ['DEVTYPE', 'usb_interface', 'PRODUCT',
                                         f'{vendor:x}/{product:x}/100', 'INTERFACE', f'{cls}/0/0'])

    def unplug(self, *paths):
        """Interfaces first, then the device, as the kernel does."""
        for p in paths:
            self.umockdev.uevent(p, 'remove')
            self.umockdev.remove_device(p)

    # -- tests

    def test_known_tokens_and_readers(self):
        epass = self.plug_usb('usb1/1-1', 0x096e, 0x0807, ':0b0000:')
        j, c = self.start_jetond([self.fixture.module_path])

        # Present at start: found by enumeration.
        self.assertEqual(c.manager('Devices'),
                         [(epass, 'Feitian ePass2003', '096e:0807', f'needs-module:{OPENSC}')])
        self.assertIn(f'needs the PKCS#11 module {OPENSC}', j.log_text())
        # And a holder sees why the token does not show up.
        out = subprocess.run([str(tb.BUILDDIR / 'jetonctl'), 'list'], env=dict(os.environ, **self.bus.env),
                             capture_output=True, text=True, check=True).stdout
        self.assertIn('Feitian ePass2003 (USB 096e:0807) is plugged in but needs the PKCS#11 module '
                      f'{OPENSC}, which is not installed.', out)

        # Plugged in while it runs: reported, and the modules are rescanned.
        scans = len(self.fixture.calls('C_GetSlotList', pid=j.pid))
        mark = c.mark()
        etoken = self.plug_usb('usb1/1-2', 0x0529, 0x0620)
        c.wait_manager_property('Devices', lambda v: any(d[0] == etoken for d in v), mark)
        self.assertIn((etoken, 'SafeNet eToken 5110', '0529:0620', f'needs-module:{ETOKEN}'),
                      c.manager('Devices'))
        self.fixture.wait_call('C_GetSlotList', count=scans + 1, pid=j.pid, timeout=jt.TIMEOUT)
        tb.wait_for(lambda: f'needs the PKCS#11 module {ETOKEN}' in j.log_text(), jt.TIMEOUT,
                    'the missing module to be logged')

        # Generic CCID readers: by the device's interface list, or by a
        # class 0x0b interface of an unknown device.
        mark = c.mark()
        reader_a = self.plug_usb('usb1/1-3', 0x1234, 0x5678, ':030101:0b0000:')
        reader_b = self.plug_usb('usb1/1-4', 0x4321, 0x8765)
        reader_b_if = self.plug_interface(reader_b, '1-4:1.0', 0x4321, 0x8765, 11)
        # Not a reader: a keyboard.
        keyboard = self.plug_usb('usb1/1-5', 0x046d, 0xc31c, ':030101:')
        keyboard_if = self.plug_interface(keyboard, '1-5:1.0', 0x046d, 0xc31c, 3)
        c.wait_manager_property('Devices', lambda v: {reader_a, reader_b} <= {d[0] for d in v}, mark)
        devices = c.manager('Devices')
        self.assertEqual(sorted(devices), sorted([
            (epass, 'Feitian ePass2003', '096e:0807', f'needs-module:{OPENSC}'),
            (etoken, 'SafeNet eToken 5110', '0529:0620', f'needs-module:{ETOKEN}'),
            (reader_a, 'CCID reader', '1234:5678', 'ok'),
            (reader_b, 'CCID reader', '4321:8765', 'ok'),
        ]))

        # Unplugged: gone, and rescanned again.
        scans = len(self.fixture.calls('C_GetSlotList', pid=j.pid))
        mark = c.mark()
        self.unplug(etoken, reader_b_if, reader_b, keyboard_if, keyboard)
        c.wait_manager_property('Devices', lambda v: len(v) == 2, mark)
        self.assertEqual(sorted(c.manager('Devices')), sorted([
            (epass, 'Feitian ePass2003', '096e:0807', f'needs-module:{OPENSC}'),
            (reader_a, 'CCID reader', '1234:5678', 'ok'),
        ]))
        self.fixture.wait_call('C_GetSlotList', count=scans + 1, pid=j.pid, timeout=jt.TIMEOUT)

    @unittest.skipUnless(os.path.exists(OPENSC), 'OpenSC is not installed')
    def test_token_with_its_module(self):
        epass = self.plug_usb('usb1/1-1', 0x096e, 0x0807, ':0b0000:')
        j, c = self.start_jetond([OPENSC])
        self.assertEqual(c.manager('Modules')[0][:2], (OPENSC, 'loaded'))
        self.assertEqual(c.manager('Devices'), [(epass, 'Feitian ePass2003', '096e:0807', 'ok')])
        self.assertNotIn('needs the PKCS#11 module', j.log_text())


if __name__ == '__main__':
    unittest.main(verbosity=2)
