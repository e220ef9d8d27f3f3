/* cli_whisper.c - see cli_whisper.h. */
#include "cli_whisper.h"

#include "args.h"
#include "mel.h"
#include "modeldir.h"
#include "resample.h"
#include "util.h"
#include "wav.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static int fail(void) {
    fprintf(stderr, "unum: %s\n", unum_error());
    return 1;
}

/* The mel bin count of a Whisper directory: preprocessor_config.json's
 * feature_size, else config.json's num_mel_bins. */
static int model_n_mels(const char *dir, int *n_mels) {
    static const char *files[2][2] = {{"preprocessor_config.json", "feature_size"},
                                      {"config.json", "num_mel_bins"}};
    for (int i = 0; i < 2; i++) {
        char *path = unum_path_join(dir, files[i][0]);
        if (!unum_file_exists(path)) {
            free(path);
            continue;
        }
        char *txt = unum_read_file(path, 4u << 20, NULL);
        cJSON *root = txt ? cJSON_Parse(txt) : NULL;
        const cJSON *v = cJSON_GetObjectItemCaseSensitive(root, files[i][1]);
        int ok = cJSON_IsNumber(v) && (v->valuedouble == 80 || v->valuedouble == 128);
        if (ok) *n_mels = (int)v->valuedouble;
        else if (txt) unum_error_set("%s: %s must be 80 or 128", path, files[i][1]);
        cJSON_Delete(root);
        free(txt);
        free(path);
        if (ok) return 0;
        return -1;
    }
    return unum_error_set("%s: no preprocessor_config.json or config.json with the mel bin count",
                          dir);
}

int cli_mel(int argc, char **argv) {
    Args a = {argc, 1, argv, 0};
    const char *model = NULL, *out = NULL, *wav = NULL;
    while (a.i < a.argc && !a.bad) {
        if (args_flag(&a, "-m", "--model")) model = args_value(&a);
        else if (args_flag(&a, "-o", "--output")) out = args_value(&a);
        else if (argv[a.i][0] != '-' && !wav) wav = argv[a.i++];
        else args_unknown(&a, "mel");
    }
    if (a.bad) return EXIT_USAGE;
    if (!model || !wav || !out) {
        fprintf(stderr, "unum mel: -m WHISPER, FILE.wav and -o OUT.f32 are required\n");
        return EXIT_USAGE;
    }
    char *dir = modeldir_resolve(model);
    int n_mels = 0, rc = 1;
    if (!dir || model_n_mels(dir, &n_mels)) {
        free(dir);
        return fail();
    }
    free(dir);
    wav_audio in;
    if (wav_read_file(wav, 0, &in)) return fail();
    float *x = NULL, *mel = NULL;
    size_t n = 0;
    mel_ctx *m = NULL;
    if (resample_to_16k(in.samples, in.n, in.sample_rate, &x, &n)) {
        unum_error_wrap("%s", wav);
        fail();
        goto done;
    }
    if (!(m = mel_create(n_mels))) {
        fail();
        goto done;
    }
    mel = xmalloc(sizeof(float) * (size_t)n_mels * 3000);
    if (mel_compute_30s(m, x, n, mel) || unum_write_file_atomic(out, mel, sizeof(float) * n_mels * 3000)) {
        fail();
        goto done;
    }
    rc = 0;
done:
    mel_free(m);
    free(mel);
    free(x);
    wav_audio_free(&in);
    return rc;
}
