# SPDX-License-Identifier: LGPL-2.1-or-later
"""A minimal PKCS#11 client over ctypes, for tests that need one long-lived,
multi-threaded caller of a module (pkcs11-tool is one call per process).
Only the few functions the test bed's own test uses; every call returns the
raw CK_RV so a test can assert on it. ctypes drops the GIL around each call,
so threads really call the module at the same time."""

import ctypes
from ctypes import POINTER, Structure, byref, c_ubyte, c_ulong, c_void_p

CKR = {
    'CKR_OK': 0x0, 'CKR_SLOT_ID_INVALID': 0x3, 'CKR_GENERAL_ERROR': 0x5, 'CKR_DEVICE_ERROR': 0x30, 'CKR_DEVICE_REMOVED': 0x32,
    'CKR_FUNCTION_NOT_SUPPORTED': 0x54, 'CKR_SESSION_HANDLE_INVALID': 0xb3,
    'CKR_TOKEN_NOT_PRESENT': 0xe0, 'CKR_TOKEN_NOT_RECOGNIZED': 0xe1,
    'CKR_CRYPTOKI_NOT_INITIALIZED': 0x190, 'CKR_CRYPTOKI_ALREADY_INITIALIZED': 0x191,
}
RV_NAMES = {v: k for k, v in CKR.items()}

CKF_TOKEN_PRESENT = 0x1
CKF_RW_SESSION = 0x2
CKF_SERIAL_SESSION = 0x4
CKF_OS_LOCKING_OK = 0x2
CKU_USER = 1
CKM_EC_KEY_PAIR_GEN = 0x1040
CKA_TOKEN = 0x1
CKA_LABEL = 0x3
CKA_EC_PARAMS = 0x180
EC_P256_PARAMS = bytes.fromhex('06082a8648ce3d030107')


def rv_name(rv):
    return RV_NAMES.get(rv, hex(rv))


class InitArgs(Structure):
    _fields_ = [('create_mutex', c_void_p), ('destroy_mutex', c_void_p),
                ('lock_mutex', c_void_p), ('unlock_mutex', c_void_p),
                ('flags', c_ulong), ('reserved', c_void_p)]


class Version(Structure):
    _fields_ = [('major', c_ubyte), ('minor', c_ubyte)]


class SlotInfo(Structure):
    _fields_ = [('description', c_ubyte * 64), ('manufacturer', c_ubyte * 32),
                ('flags', c_ulong), ('hardware', Version), ('firmware', Version)]


class TokenInfo(Structure):
    _fields_ = [('label', c_ubyte * 32), ('manufacturer', c_ubyte * 32), ('model', c_ubyte * 16),
                ('serial', c_ubyte * 16), ('flags', c_ulong)] + \
               [(f'counter{i}', c_ulong) for i in range(10)] + \
               [('hardware', Version), ('firmware', Version), ('utc_time', c_ubyte * 16)]


class SessionInfo(Structure):
    _fields_ = [('slot', c_ulong), ('state', c_ulong), ('flags', c_ulong), ('device_error', c_ulong)]


class Mechanism(Structure):
    _fields_ = [('mechanism', c_ulong), ('parameter', c_void_p), ('parameter_len', c_ulong)]


class Attribute(Structure):
    _fields_ = [('type', c_ulong), ('value', c_void_p), ('value_len', c_ulong)]


# CK_FUNCTION_LIST (2.40) in order; only the names matter here.
FUNCTIONS = '''C_Initialize C_Finalize C_GetInfo C_GetFunctionList C_GetSlotList C_GetSlotInfo
C_GetTokenInfo C_GetMechanismList C_GetMechanismInfo C_InitToken C_InitPIN C_SetPIN C_OpenSession
C_CloseSession C_CloseAllSessions C_GetSessionInfo C_GetOperationState C_SetOperationState C_Login
C_Logout C_CreateObject C_CopyObject C_DestroyObject C_GetObjectSize C_GetAttributeValue
C_SetAttributeValue C_FindObjectsInit C_FindObjects C_FindObjectsFinal C_EncryptInit C_Encrypt
C_EncryptUpdate C_EncryptFinal C_DecryptInit C_Decrypt C_DecryptUpdate C_DecryptFinal C_DigestInit
C_Digest C_DigestUpdate C_DigestKey C_DigestFinal C_SignInit C_Sign C_SignUpdate C_SignFinal
C_SignRecoverInit C_SignRecover C_VerifyInit C_Verify C_VerifyUpdate C_VerifyFinal
C_VerifyRecoverInit C_VerifyRecover C_DigestEncryptUpdate C_DecryptDigestUpdate
C_SignEncryptUpdate C_DecryptVerifyUpdate C_GenerateKey C_GenerateKeyPair C_WrapKey C_UnwrapKey
C_DeriveKey C_SeedRandom C_GenerateRandom C_GetFunctionStatus C_CancelFunction
C_WaitForSlotEvent'''.split()


class FunctionList(Structure):
    _fields_ = [('version', Version)] + [(name, c_void_p) for name in FUNCTIONS]


_UL = c_ulong
_PROTOTYPES = {
    'C_Initialize': (c_void_p,),
    'C_Finalize': (c_void_p,),
    'C_GetSlotList': (c_ubyte, POINTER(_UL), POINTER(_UL)),
    'C_GetSlotInfo': (_UL, POINTER(SlotInfo)),
    'C_GetTokenInfo': (_UL, POINTER(TokenInfo)),
    'C_OpenSession': (_UL, _UL, c_void_p, c_void_p, POINTER(_UL)),
    'C_CloseSession': (_UL,),
    'C_GetSessionInfo': (_UL, POINTER(SessionInfo)),
    'C_Login': (_UL, _UL, ctypes.c_char_p, _UL),
    'C_GenerateRandom': (_UL, POINTER(c_ubyte), _UL),
    'C_GenerateKeyPair': (_UL, POINTER(Mechanism), POINTER(Attribute), _UL, POINTER(Attribute), _UL,
                          POINTER(_UL), POINTER(_UL)),
    'C_WaitForSlotEvent': (_UL, POINTER(_UL), c_void_p),
}


def _text(field):
    return bytes(field).decode(errors='replace').rstrip(' ')


class Cryptoki:
    def __init__(self, path):
        self.lib = ctypes.CDLL(path)
        fl = POINTER(FunctionList)()
        rv = self.lib.C_GetFunctionList(byref(fl))
        if rv != 0:
            raise OSError(f'C_GetFunctionList: {rv_name(rv)}')
        self.fl = fl.contents
        self.f = {name: ctypes.CFUNCTYPE(_UL, *args)(getattr(self.fl, name))
                  for name, args in _PROTOTYPES.items()}

    def initialize(self):
        args = InitArgs(flags=CKF_OS_LOCKING_OK)
        return self.f['C_Initialize'](ctypes.cast(byref(args), c_void_p))

    def finalize(self):
        return self.f['C_Finalize'](None)

    def slot_list(self, token_present=False):
        n = _UL(0)
        rv = self.f['C_GetSlotList'](token_present, None, byref(n))
        if rv != 0:
            return rv, []
        slots = (_UL * max(n.value, 1))()
        rv = self.f['C_GetSlotList'](token_present, slots, byref(n))
        return rv, list(slots[:n.value]) if rv == 0 else []

    def slot_info(self, slot):
        info = SlotInfo()
        rv = self.f['C_GetSlotInfo'](slot, byref(info))
        return rv, (_text(info.description), _text(info.manufacturer), info.flags) if rv == 0 else None

    def token_label(self, slot):
        info = TokenInfo()
        rv = self.f['C_GetTokenInfo'](slot, byref(info))
        return rv, _text(info.label) if rv == 0 else None

    def open_session(self, slot):
        h = _UL(0)
        rv = self.f['C_OpenSession'](slot, CKF_SERIAL_SESSION | CKF_RW_SESSION, None, None, byref(h))
        return rv, h.value

    def close_session(self, h):
        return self.f['C_CloseSession'](h)

    def session_slot(self, h):
        info = SessionInfo()
        rv = self.f['C_GetSessionInfo'](h, byref(info))
        return rv, info.slot if rv == 0 else None

    def login(self, h, pin):
        pin = pin.encode()
        return self.f['C_Login'](h, CKU_USER, pin, len(pin))

    def random(self, h, n=16):
        buf = (c_ubyte * n)()
        return self.f['C_GenerateRandom'](h, buf, n)

    def generate_ec_session_key(self, h, label):
        """An EC P-256 pair as session objects (gone with the session)."""
        params = ctypes.create_string_buffer(EC_P256_PARAMS, len(EC_P256_PARAMS))
        false = c_ubyte(0)
        label_b = ctypes.create_string_buffer(label.encode(), len(label))
        pub = (Attribute * 3)(Attribute(CKA_EC_PARAMS, ctypes.cast(params, c_void_p), len(EC_P256_PARAMS)),
                              Attribute(CKA_TOKEN, ctypes.cast(byref(false), c_void_p), 1),
                              Attribute(CKA_LABEL, ctypes.cast(label_b, c_void_p), len(label)))
        priv = (Attribute * 2)(Attribute(CKA_TOKEN, ctypes.cast(byref(false), c_void_p), 1),
                               Attribute(CKA_LABEL, ctypes.cast(label_b, c_void_p), len(label)))
        mech = Mechanism(CKM_EC_KEY_PAIR_GEN, None, 0)
        hpub, hpriv = _UL(0), _UL(0)
        return self.f['C_GenerateKeyPair'](h, byref(mech), pub, 3, priv, 2, byref(hpub), byref(hpriv))

    def wait_for_slot_event(self):
        slot = _UL(0)
        return self.f['C_WaitForSlotEvent'](0, byref(slot), None)
