/* adapterset.h - which LoRA adapters a request runs with, and how the user
 * is told.
 *
 * A persona's adapters answer its chat replies and a template's write its
 * reports (store/adapterlist.h holds their lists); the engine takes them as
 * LoraSpecs (engine/lora.h) through engine_set_adapters, which reads the
 * folders then: a missing one fails that request with an error naming the
 * folder, and nothing is generated under another set instead. */
#ifndef UNUM_ADAPTERSET_H
#define UNUM_ADAPTERSET_H

#include "engine/lora.h"
#include "store/adapterlist.h"

/* Appends copies of l's adapters to *specs (grown; free with
 * lora_specs_free). */
void adapterset_append(const AdapterList *l, LoraSpec **specs, int *n);

/* Copies specs[0..n) (NULL when n is 0). */
LoraSpec *adapterset_copy(const LoraSpec *specs, int n);

/* The set's name for the screen and the report: each adapter's folder name
 * (its last path component), ":SCALE" when the scale is not 1, joined by
 * "+" ("sql-lora:0.5+terse"); "" for none (new string). */
char *adapterset_label(const LoraSpec *specs, int n);

#endif
