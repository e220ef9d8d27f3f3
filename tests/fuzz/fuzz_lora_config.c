/* fuzz_lora_config.c - adapter_config.json as PEFT writes it (or anyone
 * else): target_modules, rank_pattern and alpha_pattern are regular
 * expressions from the file. Whatever plans must plan ranks in range and
 * finite scales for every module of a small Qwen2. */
#include "engine/lora.h"

#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    char *text = malloc(size + 1);
    if (!text) return 0;
    memcpy(text, data, size);
    text[size] = 0;
    Qwen2Config c = {0};
    c.hidden = 64, c.intermediate = 160, c.n_layers = 2, c.n_heads = 4, c.n_kv_heads = 2;
    c.head_dim = 16, c.vocab = 384;
    LoraPair pairs[2 * LORA_N_MODULES];
    memset(pairs, 0, sizeof pairs);
    if (lora_config_plan(text, "fuzz.json", &c, pairs) == 0)
        for (int i = 0; i < 2 * LORA_N_MODULES; i++)
            if (pairs[i].rank < 0 || pairs[i].rank > (1 << 16) ||
                (pairs[i].rank && !isfinite(pairs[i].scale)))
                abort();
    free(text);
    return 0;
}
