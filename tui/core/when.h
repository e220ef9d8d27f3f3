/* when.h - times as the user reads them. The store keeps UTC
 * ("2026-12-03T12:31:49.123Z", store.c's NOW_SQL); people read their own
 * clock. */
#ifndef UNUM_WHEN_H
#define UNUM_WHEN_H

#include <stddef.h>

/* The UTC time stamp iso ("YYYY-MM-DDTHH:MM:SS[.fff]Z" or with a space for
 * the T) as local time "YYYY-MM-DD HH:MM" into out; a stamp of another form
 * is copied as it is. Returns out. */
char *when_local(const char *iso, char *out, size_t cap);

#endif
