/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* The token library: everything jeton does to a token. No D-Bus, no SQL,
 * no orders. Functions return 0 or a negative errno and fill a JP11Error;
 * nothing here logs. */

#include "cert.h"
#include "csr.h"
#include "p11-error.h"
#include "p11-init.h"
#include "p11-keygen.h"
#include "p11-login.h"
#include "p11-module.h"
#include "p11-objects.h"
#include "p11-pin.h"
#include "subject.h"
