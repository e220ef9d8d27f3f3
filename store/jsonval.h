/* jsonval.h - validation helpers for the store's JSON files: each failure
 * sets an error "ORIGIN: field 'PATH' ..." naming the field at fault. */
#ifndef UNUM_JSONVAL_H
#define UNUM_JSONVAL_H

#include <cjson/cJSON.h>
#include <stddef.h>

/* Parses text[0..len) as one JSON object (error names origin and the
 * offset). Refused, where cJSON alone would accept or cut short: a NUL byte
 * anywhere, a \u0000 escape in a string, anything but whitespace after the
 * closing brace, and a key that appears twice in one object. */
cJSON *jsonval_parse_object(const char *text, size_t len, const char *origin);
/* Copies the string field into *out (new string). A missing field is an
 * error when required, else gives "". prefix names the enclosing object
 * ("" or e.g. "sections[1]."). */
int jsonval_string(const cJSON *obj, const char *field, int required, const char *origin,
                   const char *prefix, char **out);
/* Refuses any field of obj not in known (NULL-terminated). */
int jsonval_known(const cJSON *obj, const char *const *known, const char *origin,
                  const char *prefix);

#endif
