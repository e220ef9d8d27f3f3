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

/* "<|im_start|>role\n" then a voice turn's clip ids, then the text (after a
 * newline when it follows clips): one turn without its end. */
static int turn_open(const Tokenizer *t, int32_t start, const ChatMsg *m, IdVec *out) {
    const char *content = m->content ? m->content : "";
    size_t rl = strlen(m->role), cl = strlen(content);
    int clips = m->n_clips > 0 ? m->n_clips : 0;
    idvec_push(out, start);
    /* "role\n" and the text are encoded as one string, as the template's
     * text is; a voice turn's clips go between them, and its text then
     * starts with the newline */
    char *text = xmalloc(rl + cl + 3);
    memcpy(text, m->role, rl);
    size_t k = rl;
    text[k++] = '\n';
    if (clips) {
        text[k] = 0;
        if (tokenizer_encode(t, text, k, 0, out)) return free(text), -1;
        for (int c = 0; c < clips; c++) idvec_push(out, CHAT_CLIP_ID);
        k = 0;
        if (!cl) return free(text), 0;
        text[k++] = '\n';
    }
    memcpy(text + k, content, cl);
    k += cl;
    text[k] = 0;
    int rc = tokenizer_encode(t, text, k, 0, out);
    free(text);
    return rc ? -1 : 0;
}

int chat_encode(const Tokenizer *t, const ChatMsg *msgs, int n, int add_generation, IdVec *out) {
    int32_t start, end;
    if (special(t, "<|im_start|>", &start) || special(t, "<|im_end|>", &end)) return -1;
    for (int i = 0; i < n; i++) {
        if (turn_open(t, start, &msgs[i], out)) return -1;
        idvec_push(out, end);
        if (tokenizer_encode(t, "\n", 1, 0, out)) return -1;
    }
    if (add_generation) {
        ChatMsg header = {"assistant", "", 0};
        if (turn_open(t, start, &header, out)) return -1;
    }
    return 0;
}

int chat_prompt(const Tokenizer *t, const ChatMsg *msgs, int n, const ChatFit *fit, IdVec *out,
                int *first) {
    int has_sys = n > 0 && msgs[0].role && !strcmp(msgs[0].role, "system");
    const char *sys = has_sys ? msgs[0].content : fit->system ? fit->system : fit->default_system;
    int per_clip = fit->clip_positions > 0 ? fit->clip_positions : 1;
    ChatMsg *m = xcalloc((size_t)n + 1, sizeof *m);
    int rc = -1;
    for (int from = has_sys; from < n || from == has_sys; from++) {
        out->n = 0;
        int k = 0;
        size_t clips = 0;
        if (sys) m[k++] = (ChatMsg){"system", sys, 0};
        for (int i = from; i < n; i++) {
            m[k++] = msgs[i];
            clips += msgs[i].n_clips > 0 ? (size_t)msgs[i].n_clips : 0;
        }
        if (chat_encode(t, m, k, 1, out)) break;
        size_t positions = out->n + clips * (size_t)(per_clip - 1);
        if (fit->ctx <= 0 || positions + (size_t)(fit->room > 0 ? fit->room : 0) <= (size_t)fit->ctx) {
            if (first) *first = from;
            rc = 0;
            break;
        }
        if (from + 1 >= n) {
            rc = unum_error_set("the message does not fit the context of %d tokens", fit->ctx);
            break;
        }
    }
    free(m);
    return rc;
}
