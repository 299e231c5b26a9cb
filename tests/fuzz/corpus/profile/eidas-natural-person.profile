# A generic qualified signature certificate for a natural person, with no
# organisation: ETSI EN 319 412-2 subject (C, CN, givenName, surname,
# optional serialNumber semantics identifier), EN 319 411-2 QCP-n-qscd.
# A starting point for a CA product that has no profile of its own yet.
# Sources: domain.md sections 2 (key and hash rules), 3 (EN 319 412-2
# subject), 7 (policy OIDs).

[profile]
name = eidas-natural-person
description = eIDAS qualified signature certificate, natural person (EN 319 412-2)
ca = generic
product = QCP-n-qscd natural person

[key]
algorithm = rsa3072
hash = sha256

[subject]
# C is the holder's country; the orders this product serves are French
# (domain.md 1). Copy this file to /etc/jeton/profiles to change it.
C = FR
CN = ${holder.given_name} ${holder.surname}
GN = ${holder.given_name}
SN = ${holder.surname}
serialNumber? = ${holder.identifier}

[extensions]
key_usage = critical, nonRepudiation
certificate_policies = 0.4.0.194112.1.2

[evidence]
require_local = yes
require_never_extractable = yes
require_always_sensitive = yes

[validity]
allowed_years = 1, 2, 3
