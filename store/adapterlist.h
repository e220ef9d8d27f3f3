/* adapterlist.h - the LoRA adapters a persona or a report template names.
 *
 * JSON form, a field of the persona's or template's object:
 *   "adapters": [{"path": "DIR or ORG/NAME", "scale": 1.0}, ...]
 * path is required and not empty; scale is optional (default 1), a finite
 * number of magnitude at most 1e4 (what --lora DIR:SCALE takes). Unknown
 * fields are refused, and each message names the field at fault
 * ("adapters[1].scale"). An empty list is the same as no field, and the
 * export form leaves the field out then, so objects without adapters keep
 * the shape they always had.
 *
 * In the database the list is one text column holding the same JSON array
 * ("" for none), read back through the same validation. store/ never opens
 * the adapter folders: whether they exist is the engine's question, asked
 * when a reply is about to use them. */
#ifndef UNUM_ADAPTERLIST_H
#define UNUM_ADAPTERLIST_H

#include <cjson/cJSON.h>
#include <stddef.h>

typedef struct {
    char *path;   /* folder or repo id, as written */
    double scale; /* the user's strength (default 1) */
} AdapterRef;

typedef struct {
    AdapterRef *v; /* owned */
    size_t n;
} AdapterList;

/* Reads the "adapters" field of obj (absent: an empty list) into *out. 0,
 * or -1 with the error "ORIGIN: field 'adapters[i].scale' ..."; *out is
 * then empty. */
int adapterlist_parse(const cJSON *obj, const char *origin, AdapterList *out);
/* Adds "adapters" to obj when the list is not empty. */
void adapterlist_add_json(const AdapterList *l, cJSON *obj);
/* The column text: "" for an empty list, else the JSON array (new string). */
char *adapterlist_to_column(const AdapterList *l);
/* The list from a column's text (what adapterlist_to_column wrote); what
 * names the row in messages. 0, or -1 with the error. */
int adapterlist_from_column(const char *text, const char *what, AdapterList *out);
void adapterlist_free(AdapterList *l);

#endif
