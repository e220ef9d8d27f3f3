/* builtin.h - the personas and report templates every new database starts
 * with, kept as JSON data and loaded through the same validation as a user's
 * files. Editable and removable like any other; seeded once, by the first
 * migration, so a removed one stays removed. */
#ifndef UNUM_BUILTIN_H
#define UNUM_BUILTIN_H

#include "store/store.h"

/* Inserts the built-ins (inside the caller's transaction). */
int builtin_seed(Store *st);

#endif
