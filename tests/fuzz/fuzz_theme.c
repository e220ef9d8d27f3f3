/* fuzz_theme.c - theme files, as a user's $XDG_CONFIG_HOME/unum/themes/
 * holds them. The input is the whole file image, in a buffer of exactly its
 * size (not NUL-terminated, so ASan sees any read past it). Whatever parses
 * must hold colours in range and only known attributes, and must parse again
 * to the same theme when written back out in the documented format; whatever
 * fails must say "ORIGIN:" in its message. Seeds: tests/fuzz/seeds/fuzz_theme/. */
#include "tui/app/theme.h"
#include "engine/base/util.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void fail(const char *what) {
    fprintf(stderr, "fuzz_theme: %s (%s)\n", what, unum_error());
    abort();
}

/* The theme in the file format. */
static size_t theme_write(const Theme *t, char *out, size_t cap) {
    static const char *const attrs[] = {"bold", "underline", "reverse", "dim", "italic"};
    size_t n = (size_t)snprintf(out, cap, "name = %s\n", t->name);
    if (t->description[0])
        n += (size_t)snprintf(out + n, cap - n, "description = %s\n", t->description);
    for (int e = 0; e < THEME_N; e++) {
        const ThemeStyle *s = &t->style[e];
        n += (size_t)snprintf(out + n, cap - n, "%s = %s on %s", theme_element_name(e),
                              theme_color_name(s->fg), theme_color_name(s->bg));
        for (int i = 0; i < 5; i++)
            if (s->attrs & (1u << i)) n += (size_t)snprintf(out + n, cap - n, " %s", attrs[i]);
        n += (size_t)snprintf(out + n, cap - n, "\n");
    }
    return n;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    char *text = malloc(size ? size : 1);
    if (!text) return 0;
    memcpy(text, data, size);
    Theme t, u;
    if (theme_parse(&t, text, size, "fuzz.theme") == 0) {
        for (int e = 0; e < THEME_N; e++) {
            const ThemeStyle *s = &t.style[e];
            if (s->fg < -1 || s->fg > 255 || s->bg < -1 || s->bg > 255) fail("colour out of range");
            if (s->attrs & ~0x1fu) fail("unknown attribute bit");
        }
        if (memchr(t.name, 0, sizeof t.name) == NULL) fail("name not terminated");
        if (memchr(t.description, 0, sizeof t.description) == NULL)
            fail("description not terminated");
        static char out[16384];
        size_t n = theme_write(&t, out, sizeof out);
        /* the name is valid: either checked by the parser or "fuzz", the origin's */
        if (n >= sizeof out) fail("theme too long to write");
        if (theme_parse(&u, out, n, "again") != 0) fail("written theme does not parse");
        for (int e = 0; e < THEME_N; e++)
            if (memcmp(&t.style[e], &u.style[e], sizeof t.style[e])) fail("round trip");
        if (strcmp(t.name, u.name) || strcmp(t.description, u.description))
            fail("name or description round trip");
        for (int c = 0; c < 4; c++) {
            static const int ncolors[4] = {0, 8, 16, 256};
            for (int e = 0; e < THEME_N; e++) {
                int d = theme_color_degrade(t.style[e].fg, ncolors[c]);
                if (d < -1 || d >= (ncolors[c] < 8 ? 0 : ncolors[c])) fail("degrade out of range");
            }
        }
    } else if (strncmp(unum_error(), "fuzz.theme:", 11) != 0) {
        fail("error without its origin");
    }
    free(text);
    return 0;
}
