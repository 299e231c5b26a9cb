[profile]
ca = X
product = Y
[key]
algorithm = rsa1024
hash = sha1
hash = sha256
[subject]
  C = France
CN? = ${holder.surname}
OU = 0003 ${organisation.siret}
O = $ ${nope}
serialNumber? = x
[extensions]
key_usage = nonRepudiation, critical
certificate_policies = 1.2.250.1.177.,
[validity]
allowed_years = 0,4
[bogus]
x = y
