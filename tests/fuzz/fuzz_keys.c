/* fuzz_keys.c - key-binding files, as $XDG_CONFIG_HOME/unum/keys holds them.
 * The input is the whole file image in a buffer of exactly its size. A file
 * that parses must leave a keymap with at most KEYS_PER_ACTION valid keys per
 * action, no key twice in one context, and a lookup that agrees with the
 * table; every bound key's name must parse back to it; the help overlay must
 * build. A failure must name the origin. The first bytes also go through
 * keys_parse_name as a name. Seeds: tests/fuzz/seeds/fuzz_keys/. */
#include "tui/app/keys.h"
#include "engine/base/util.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void fail(const char *what) {
    fprintf(stderr, "fuzz_keys: %s (%s)\n", what, unum_error());
    abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    char *text = malloc(size ? size : 1);
    if (!text) return 0;
    memcpy(text, data, size);

    char name[64], back[KEYS_NAME_MAX];
    size_t nn = size < sizeof name - 1 ? size : sizeof name - 1;
    memcpy(name, data, nn);
    name[nn] = 0;
    int code = keys_parse_name(name);
    if (code >= 0 && keys_parse_name(keys_name(code, back)) != code) fail("name round trip");

    Keymap m;
    if (keys_parse(&m, text, size, "fuzz.keys") == 0) {
        for (int a = 0; a < KEYS_N_ACTIONS; a++) {
            if (m.n[a] < 0 || m.n[a] > KEYS_PER_ACTION) fail("key count");
            for (int i = 0; i < m.n[a]; i++) {
                int k = m.key[a][i];
                if (keys_parse_name(keys_name(k, back)) != k) fail("bound key round trip");
                KeyContext c = keys_action_context(a);
                KeyAction got = keys_lookup(&m, k, c);
                if (got != (KeyAction)a && !(c == KEYS_CTX_INPUT && keys_is_text(k)))
                    fail("lookup disagrees");
            }
        }
        char **lines;
        int n;
        keys_help(&m, &lines, &n);
        if (n <= KEYS_N_ACTIONS) fail("help too short");
        keys_help_free(lines, n);
    } else if (strncmp(unum_error(), "fuzz.keys:", 10) != 0) {
        fail("error without its origin");
    }
    free(text);
    return 0;
}
