[profile]
ca = X
product = Y
[key]
algorithm = p256
hash = sha256
[subject]
C = FR
CN = ${holder.given_name} ${holder.surname}
