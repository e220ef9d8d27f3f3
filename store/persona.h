/* persona.h - personas: who the model speaks as.
 *
 * JSON form (export prints exactly this shape; import accepts it):
 *   {"name": "...", "description": "...", "system_prompt": "...",
 *    "style": {"tone": "...", "length": "...", "language": "..."},
 *    "adapters": [{"path": "...", "scale": 1.0}]}
 * name and system_prompt are required; the rest default to "" (adapters to
 * none, and the export leaves an empty list out: store/adapterlist.h).
 * Unknown fields are refused, and every message names the field at fault. */
#ifndef UNUM_PERSONA_H
#define UNUM_PERSONA_H

#include "store/adapterlist.h"
#include "store/store.h"

#include <stddef.h>

typedef struct {
    char *name, *description, *system_prompt;
    char *tone, *length, *language; /* style */
    int builtin;                    /* seeded on first run */
    AdapterList adapters;           /* the LoRA adapters its replies use */
} Persona;

/* Names: 1..64 characters of letters, digits, '.', '_' and '-'. Returns 0 or
 * -1 with the error naming what (e.g. "persona name"). */
int store_name_check(const char *name, const char *what);

/* Parses and validates the persona JSON text[0..len) (strictly: see
 * jsonval_parse_object); origin (a file name) starts the error messages. On
 * success *out owns new strings. */
int persona_parse_json(const char *text, size_t len, const char *origin, Persona *out);
/* The system turn a persona gives a chat: its system_prompt, then a line
 * with its style ("Tone: x. Length: y. Language: z.") when any is set. */
char *persona_system_prompt(const Persona *p);
/* The export form, pretty-printed with a final newline (new string). */
char *persona_to_json(const Persona *p);
void persona_free(Persona *p);

/* Adds a new persona (error if the name is taken). */
int store_persona_add(Store *st, const Persona *p);
/* Replaces the persona called p->name (error if there is none). */
int store_persona_update(Store *st, const Persona *p);
int store_persona_get(Store *st, const char *name, Persona *out);
int store_persona_delete(Store *st, const char *name);
/* Renames persona from to to (its other fields and, for a template, its
 * sections kept). */
int store_persona_rename(Store *st, const char *from, const char *to);
/* All personas by name; free with store_personas_free. */
int store_persona_list(Store *st, Persona **out, size_t *n);
void store_personas_free(Persona *list, size_t n);

#endif
