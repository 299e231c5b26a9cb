/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* The inbox directory: a CA's certificate dropped there as
 * <REFERENCE>.{pem,crt,cer,der,p7b,p7c} is installed like Order.Install
 * would. Watched with inotify (IN_CLOSE_WRITE, IN_MOVED_TO: a file written
 * in place or renamed into it), no polling. Each file is then moved to
 * done/ or to rejected/, beside a <file>.reason text file saying why. Files
 * present at start are processed too. */

typedef struct Manager Manager;
typedef struct Inbox Inbox;

/* Creates the directory (and done/, rejected/) if needed. */
int inbox_start(Manager *m, const char *directory);
void inbox_stop(Manager *m);
