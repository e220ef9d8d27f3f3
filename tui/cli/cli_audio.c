/* cli_audio.c - see cli_audio.h. */
#include "tui/cli/cli_audio.h"

#include "tui/cli/common.h"
#include "tui/core/args.h"
#include "audio/capture.h"
#include "engine/base/termsafe.h"
#include "engine/base/util.h"

#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

static int list_devices(void) {
    char **names;
    int n;
    if (capture_list_devices(&names, &n) < 0) {
        term_printf(stderr, "unum: record: %s\n", unum_error());
        return 1;
    }
    for (int i = 0; i < n; i++) term_printf(stdout, "%s\n", names[i]);
    capture_names_free(names, n);
    return 0;
}

/* "\r  00:03.2  [#######             ]  -12 dB" on a terminal's stderr. */
static void show_progress(const capture_stats *st) {
    char bar[21];
    double db = st->level > 1e-5f ? 20 * log10(st->level) : -100;
    int k = (int)lrint((db + 60) / 60 * 20);
    k = k < 0 ? 0 : k > 20 ? 20 : k;
    memset(bar, '#', (size_t)k);
    memset(bar + k, ' ', (size_t)(20 - k));
    bar[20] = 0;
    double s = (double)st->frames / CAPTURE_RATE;
    term_printf(stderr, "\r  recording %02d:%04.1f  [%s] %4.0f dB  (Ctrl-C stops)", (int)(s / 60),
                fmod(s, 60), bar, db);
    fflush(stderr);
}

int cli_record(int argc, char **argv) {
    Args a = {argc, 1, argv, 0};
    const char *out = NULL, *device = NULL;
    float seconds = 0;
    int list = 0;
    while (a.i < a.argc && !a.bad) {
        if (args_flag(&a, "-o", "--output")) out = args_value(&a);
        else if (args_flag(&a, "--device", NULL)) device = args_value(&a);
        else if (args_flag(&a, "--seconds", NULL)) {
            if (args_float(&a, 0, 1e7, &seconds) == 0 && !(seconds > 0)) {
                fputs("unum: --seconds: must be more than 0\n", stderr);
                a.bad = 1;
            }
        } else if (args_flag(&a, "--list-devices", NULL)) list = 1;
        else args_unknown(&a, "record");
    }
    if (a.bad) return EXIT_USAGE;
    if (list) return list_devices();
    if (!out || !out[0]) {
        fputs("unum: record: -o FILE.wav is required\n", stderr);
        return EXIT_USAGE;
    }
    if (device && !device[0]) {
        fputs("unum: record: --device: the name is empty\n", stderr);
        return EXIT_USAGE;
    }

    /* Our handler goes in before capture starts so that a Ctrl-C at any
     * point stops cleanly (and SDL, told not to, installs none of its own);
     * a second one, if stopping hangs (a stuck disk or audio server), ends
     * the process at once. */
    CliInterrupt ci;
    cli_interrupt_begin(&ci, 1);
    capture_config cfg = {.device = device, .path = out, .encoding = WAV_PCM};
    if (seconds > 0) cfg.max_frames = (uint64_t)llround((double)seconds * CAPTURE_RATE);
    if (seconds > 0 && cfg.max_frames == 0) {
        fputs("unum: record: --seconds: less than one sample\n", stderr);
        cli_interrupt_end(&ci);
        return EXIT_USAGE;
    }
    capture *c = capture_start(&cfg);
    int rc = 0;
    if (!c) {
        term_printf(stderr, "unum: record: %s\n", unum_error());
        rc = 1;
    } else {
        int tty = isatty(STDERR_FILENO);
        capture_stats st;
        while (!unum_cancelled(cli_interrupt_flag()) && capture_wait(c, 100, &st) == CAPTURE_RUNNING)
            if (tty) show_progress(&st);
        if (tty) fputc('\n', stderr);
        if (capture_close(c, &st) < 0) {
            term_printf(stderr, "unum: record: %s\n", unum_error());
            rc = 1;
        } else if (st.state == CAPTURE_REMOVED) {
            term_printf(stderr, "unum: record: %s in %s\n", st.error, out);
            rc = 1;
        }
        if (st.overruns)
            term_printf(stderr,
                        "unum: record: %llu samples lost (the writer fell behind %llu times)\n",
                        (unsigned long long)st.dropped, (unsigned long long)st.overruns);
        if (rc == 0)
            term_printf(stderr, "unum: recorded %.2f s to %s\n", (double)st.frames / CAPTURE_RATE,
                        out);
    }
    cli_interrupt_end(&ci);
    return rc;
}
