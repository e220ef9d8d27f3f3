/* template.h - report templates: ordered sections the model fills in.
 *
 * JSON form (export prints exactly this shape; import accepts it):
 *   {"name": "...", "description": "...",
 *    "sections": [{"title": "...", "instruction": "...",
 *                  "format": "paragraph" | "list" | "table"}, ...],
 *    "adapters": [{"path": "...", "scale": 1.0}]}
 * name and at least one section are required; each section needs all three
 * fields; adapters (store/adapterlist.h) are those a report from this
 * template is written with (none by default, and then left out of the
 * export). Unknown fields are refused; messages name the field at fault
 * (e.g. "sections[2].format").
 *
 * Variables: in a section's instruction, {{speakers}} is replaced, when a
 * report is written (tui/core/meeting.c), by the recording's speakers in
 * the order they first speak, each by its name (store/speakers.h) else its
 * label, joined with ", "; or by a sentence saying the transcript does not
 * tell speakers apart. */
#ifndef UNUM_TEMPLATE_H
#define UNUM_TEMPLATE_H

#include "store/adapterlist.h"
#include "store/store.h"

#include <stddef.h>

typedef struct {
    char *title, *instruction, *format;
} TemplateSection;

typedef struct {
    char *name, *description;
    TemplateSection *sections;
    size_t n_sections;
    int builtin;
    AdapterList adapters; /* the LoRA adapters its reports are written with */
} Template;

/* Parses and validates the template JSON text[0..len), as persona_parse_json. */
int template_parse_json(const char *text, size_t len, const char *origin, Template *out);
char *template_to_json(const Template *t);
void template_free(Template *t);

int store_template_add(Store *st, const Template *t);
int store_template_update(Store *st, const Template *t);
int store_template_get(Store *st, const char *name, Template *out);
int store_template_delete(Store *st, const char *name);
/* Renames template from to to (its other fields and, for a template, its
 * sections kept). */
int store_template_rename(Store *st, const char *from, const char *to);
/* All templates by name, sections included. */
int store_template_list(Store *st, Template **out, size_t *n);
void store_templates_free(Template *list, size_t n);

#endif
