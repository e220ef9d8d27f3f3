/* chat.c - see chat.h. */
#include "engine/chat.h"

#include "engine/base/util.h"

#include <cjson/cJSON.h>
#include <stdlib.h>
#include <string.h>

/* In Qwen2.5's template the default system turn is a Jinja string literal:
 *   {{- '<|im_start|>system\nYou are Qwen, ... assistant.<|im_end|>\n' }}
 * We take the first such literal whose text runs straight to <|im_end|>
 * without leaving the literal (no quote, no Jinja expression inside), and
 * undo the literal's escapes. */
static char *extract_default(const char *tpl) {
    static const char open[] = "'<|im_start|>system\\n";
    for (const char *p = strstr(tpl, open); p; p = strstr(p + 1, open)) {
        const char *b = p + sizeof open - 1, *e = strstr(b, "<|im_end|>");
        if (!e || e == b) continue;
        size_t n = (size_t)(e - b);
        if (memchr(b, '\'', n) || memchr(b, '{', n)) continue;
        char *out = xmalloc(n + 1), *o = out;
        for (const char *c = b; c < e; c++) {
            if (*c == '\\' && c + 1 < e) {
                c++;
                *o++ = *c == 'n' ? '\n' : *c == 't' ? '\t' : *c;
            } else {
                *o++ = *c;
            }
        }
        *o = 0;
        return out;
    }
    return NULL;
}

char *chat_default_system(const char *model_dir, int *err) {
    *err = 0;
    char *path = unum_path_join(model_dir, "tokenizer_config.json");
    if (!unum_file_exists(path)) {
        free(path);
        return NULL;
    }
    char *txt = unum_read_file(path, 16u << 20, NULL), *out = NULL;
    cJSON *root = txt ? cJSON_Parse(txt) : NULL;
    if (!txt) {
        *err = -1;
    } else if (!cJSON_IsObject(root)) {
        *err = unum_error_set("%s: not a JSON object", path);
    } else {
        const cJSON *tpl = cJSON_GetObjectItemCaseSensitive(root, "chat_template");
        if (cJSON_IsString(tpl)) out = extract_default(tpl->valuestring);
    }
    cJSON_Delete(root);
    free(txt);
    free(path);
    return out;
}

static int special(const Tokenizer *t, const char *name, int32_t *id) {
    *id = tokenizer_token_id(t, name);
    if (*id < 0)
        return unum_error_set("the tokenizer has no %s token, so the chat template cannot be "
                              "applied (use --raw)",
                              name);
    return 0;
}

int chat_encode(const Tokenizer *t, const ChatMsg *msgs, int n, int add_generation, IdVec *out) {
    int32_t start, end;
    if (special(t, "<|im_start|>", &start) || special(t, "<|im_end|>", &end)) return -1;
    for (int i = 0; i <= n; i++) {
        if (i == n && !add_generation) break;
        const char *role = i < n ? msgs[i].role : "assistant";
        size_t rl = strlen(role), cl = i < n ? strlen(msgs[i].content) : 0;
        char *text = xmalloc(rl + cl + 2);
        memcpy(text, role, rl);
        text[rl] = '\n';
        if (cl) memcpy(text + rl + 1, msgs[i].content, cl);
        text[rl + 1 + cl] = 0;
        idvec_push(out, start);
        int rc = tokenizer_encode(t, text, rl + 1 + cl, 0, out);
        free(text);
        if (rc) return -1;
        if (i < n) {
            idvec_push(out, end);
            if (tokenizer_encode(t, "\n", 1, 0, out)) return -1;
        }
    }
    return 0;
}
