# Certinomis "Certificat Décideur" (Docaposte): eIDAS qualified signature
# certificate of a person acting for an organisation (ETSI EN 319 411-2,
# QCP-n-qscd: key on a qualified signature creation device). Products
# OPE-AES-CAP-1A / OP2-AES-CAP-1A (1 year), 2 and 3 years.
# This profile is the signature key only: one key pair per usage (ANSSI RGS,
# domain.md 2), the authentication certificate would be a profile of its own.
# Sources: domain.md sections 1 (the product and its order), 2 (key and
# hash rules), 3 (subject names), 7 (Certinomis root subject, policy OIDs).
# Values marked (unverified) come from no primary source.

[profile]
name = certinomis-decideur
description = Certinomis Décideur qualified signature certificate (QCP-n-qscd)
ca = Certinomis
product = Certificat Décideur

[key]
# Certinomis' key size is (unverified): RSA 3072 as ANSSI recommends now
# (domain.md 2).
algorithm = rsa3072
hash = sha256

[subject]
# Certinomis identifies organisations by SIREN ("OU=0002 433998903" in its
# root, domain.md 7); the same in a holder's subject is (unverified).
C = FR
O = ${organisation.name}
OU = 0002 ${organisation.siren}
organizationIdentifier = NTRFR-${organisation.siren}
CN = ${holder.given_name} ${holder.surname}
GN = ${holder.given_name}
SN = ${holder.surname}
serialNumber? = ${holder.identifier}

[extensions]
key_usage = critical, nonRepudiation
# QCP-n-qscd, ETSI EN 319 411-2 (domain.md 7).
certificate_policies = 0.4.0.194112.1.2

[evidence]
# A qualified device: the key must have been generated on it (eIDAS Annex II).
require_local = yes
require_never_extractable = yes
require_always_sensitive = yes

[validity]
allowed_years = 1, 2, 3
