/* fuzz_gen_config.c - libFuzzer target for generation_config.json as
 * gen_config_load reads it from a model folder (engine/config.c), beside a
 * fixed config.json whose eos_token_id is the fallback.
 *
 * The input is the file's bytes, written to a private temporary folder.
 * Whatever loads must give sampling values that are finite and a stop-id
 * count within CONFIG_MAX_EOS. Seeds: tests/fuzz/seeds/fuzz_gen_config/. */
#include "engine/config.h"

#include "engine/base/util.h"

#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static char dir[] = "/tmp/unum-fuzz-genXXXXXX";
static char *path;

static void fail(const char *what) {
    fprintf(stderr, "fuzz_gen_config: %s (%s)\n", what, unum_error());
    abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (!path) {
        if (!mkdtemp(dir)) abort();
        char *cfg = unum_path_join(dir, "config.json");
        static const char c[] = "{\"eos_token_id\": 2}";
        if (unum_write_file_atomic(cfg, c, sizeof c - 1) != 0) abort();
        free(cfg);
        path = unum_path_join(dir, "generation_config.json");
    }
    if (unum_write_file_atomic(path, data, size) != 0) abort();
    GenConfig g;
    memset(&g, 0, sizeof g);
    if (gen_config_load(&g, dir) == 0) {
        if (!isfinite(g.temperature) || !isfinite(g.top_p) || !isfinite(g.min_p) ||
            !isfinite(g.repeat_penalty))
            fail("a sampling value that is not finite");
        if (g.n_eos < 0 || g.n_eos > CONFIG_MAX_EOS) fail("stop-id count out of range");
    }
    return 0;
}
