/* cli_lora.c - see cli_lora.h. */
#include "tui/cli/cli_lora.h"

#include "engine/base/util.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void cli_lora_option(Args *a, LoraSpec **specs, int *n) {
    const char *v = args_value(a);
    if (!v) return;
    LoraSpec s;
    if (lora_spec_parse(v, &s)) {
        fprintf(stderr, "unum: %s\n", unum_error());
        a->bad = 1;
        return;
    }
    *specs = xrealloc(*specs, sizeof **specs * (size_t)(*n + 1));
    (*specs)[(*n)++] = s;
}

int cli_lora(int argc, char **argv) {
    fprintf(stderr, "unum lora: not built yet\n");
    return 1;
}
