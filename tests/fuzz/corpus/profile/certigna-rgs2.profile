# Certigna "Pack ID RGS**" (Dhimyotis): an employee's signature certificate,
# RGS level ** (standard): key on a qualified device, face-to-face identity
# check with a registration operator. Validity 1, 2 or 3 years.
# Sources: domain.md section 1 (the ordering flow), 2 (ANSSI RGS B1 key and
# hash rules), 3 (subject names, Certigna's own subjects), 7 (policy arc).
# Values marked (unverified) come from no primary source: check them with
# Certigna before production use.

[profile]
name = certigna-rgs2
description = Certigna ID RGS** signature certificate (token, face-to-face check)
ca = Certigna
product = Pack ID RGS**

[key]
# Certigna ships its tokens with RSA 2048 keys (unverified). RSA 2048 is
# accepted only up to the end of 2030 and 3072 is recommended now (domain.md
# 2): a key made today under a 3-year certificate may live past 2030.
algorithm = rsa3072
hash = sha256

[subject]
# In this order. C, O, OU "0002 <SIRET>" and organizationIdentifier
# "NTRFR-<SIRET>" as in Certigna's own certificates (domain.md 3); CN = given
# name, space, surname (domain.md 3); givenName and surname per EN 319 412-2.
# Whether Certigna's person certificates carry GN/SN and the SIRET rather
# than the SIREN is (unverified).
C = FR
O = ${organisation.name}
OU = 0002 ${organisation.siret}
organizationIdentifier = NTRFR-${organisation.siret}
CN = ${holder.given_name} ${holder.surname}
GN = ${holder.given_name}
SN = ${holder.surname}
# EN 319 412-1 semantics identifier (IDCFR-..., PASFR-...), when the order has one.
serialNumber? = ${holder.identifier}

[extensions]
# A signing certificate: nonRepudiation alone (domain.md 3).
key_usage = critical, nonRepudiation
# certificate_policies is left out on purpose: Certigna's OID arc is
# 1.2.250.1.177 (domain.md 7) but the exact policy OID of ID RGS** is
# (unverified). The CA puts the policy it issues under into the certificate.

[evidence]
# RGS** needs the key made on the device and never out of it (domain.md 1, 5).
require_local = yes
require_never_extractable = yes
require_always_sensitive = yes

[validity]
allowed_years = 1, 2, 3
