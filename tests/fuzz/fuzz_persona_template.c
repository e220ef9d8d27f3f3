/* fuzz_persona_template.c - persona and report-template JSON, as `import`
 * reads them from a user's file. Whatever parses must export to JSON that
 * parses again to the same export (the import/export round trip). */
#include "store/persona.h"
#include "store/template.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    char *text = malloc(size + 1);
    if (!text) return 0;
    memcpy(text, data, size);
    text[size] = 0;

    Persona p;
    memset(&p, 0, sizeof p);
    if (persona_parse_json(text, size, "fuzz.json", &p) == 0) {
        char *a = persona_to_json(&p);
        Persona q;
        memset(&q, 0, sizeof q);
        if (persona_parse_json(a, strlen(a), "export", &q) != 0) abort();
        char *b = persona_to_json(&q);
        if (strcmp(a, b)) abort();
        free(a), free(b);
        persona_free(&q);
    }
    persona_free(&p);

    Template t;
    memset(&t, 0, sizeof t);
    if (template_parse_json(text, size, "fuzz.json", &t) == 0) {
        char *a = template_to_json(&t);
        Template u;
        memset(&u, 0, sizeof u);
        if (template_parse_json(a, strlen(a), "export", &u) != 0) abort();
        char *b = template_to_json(&u);
        if (strcmp(a, b)) abort();
        free(a), free(b);
        template_free(&u);
    }
    template_free(&t);
    free(text);
    return 0;
}
