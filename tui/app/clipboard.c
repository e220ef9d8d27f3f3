/* clipboard.c - copying text where the user will find it. A terminal may
 * ignore OSC 52 without a word, so the tools of the desktop come first and
 * the note says which one took the text. See pane.h. */
#include "tui/app/pane.h"

#include "engine/base/util.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* 1 when the program name is an executable on $PATH. */
static int on_path(const char *name) {
    const char *path = getenv("PATH");
    if (!path) return 0;
    for (const char *p = path; *p;) {
        const char *c = strchr(p, ':');
        size_t n = c ? (size_t)(c - p) : strlen(p);
        char full[4096];
        snprintf(full, sizeof full, "%.*s/%s", (int)n, p, name);
        if (n && access(full, X_OK) == 0) return 1;
        p += n + (c != NULL);
    }
    return 0;
}

static int set(const char *var) {
    const char *v = getenv(var);
    return v && *v;
}

/* Writes text to cmd's standard input; 0 when it took it and exited 0. */
static int pipe_to(const char *cmd, const char *text) {
    char full[512];
    snprintf(full, sizeof full, "%s >/dev/null 2>&1", cmd);
    FILE *f = popen(full, "w");
    if (!f) return -1;
    size_t n = strlen(text);
    int ok = fwrite(text, 1, n, f) == n;
    int rc = pclose(f);
    return ok && rc == 0 ? 0 : -1;
}

/* OSC 52: the terminal puts text on the clipboard, if it allows it. */
static void osc52(const char *text) {
    static const char b64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    size_t n = strlen(text);
    fputs("\033]52;c;", stdout);
    for (size_t i = 0; i < n; i += 3) {
        unsigned v = (unsigned char)text[i] << 16;
        if (i + 1 < n) v |= (unsigned char)text[i + 1] << 8;
        if (i + 2 < n) v |= (unsigned char)text[i + 2];
        putchar(b64[v >> 18 & 63]);
        putchar(b64[v >> 12 & 63]);
        putchar(i + 1 < n ? b64[v >> 6 & 63] : '=');
        putchar(i + 2 < n ? b64[v & 63] : '=');
    }
    fputs("\a", stdout);
    fflush(stdout);
}

int clipboard_copy(const char *text, char *where, size_t cap) {
    if (set("WAYLAND_DISPLAY") && on_path("wl-copy") && !pipe_to("wl-copy", text))
        return snprintf(where, cap, "the clipboard (wl-copy)"), 0;
    if (set("DISPLAY") && on_path("xclip") && !pipe_to("xclip -selection clipboard", text))
        return snprintf(where, cap, "the clipboard (xclip)"), 0;
    if (set("TMUX") && on_path("tmux") && !pipe_to("tmux load-buffer -", text))
        return snprintf(where, cap, "tmux's paste buffer (prefix ] pastes it)"), 0;
    osc52(text);
    snprintf(where, cap, "the terminal (OSC 52; a terminal that does not allow it ignores it)");
    return 0;
}
