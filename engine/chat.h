/* chat.h - the ChatML chat template of the Qwen2 family:
 *
 *   <|im_start|>system\n{system}<|im_end|>\n
 *   <|im_start|>user\n{text}<|im_end|>\n
 *   <|im_start|>assistant\n
 *
 * Role markers are inserted as their special ids; message text is encoded
 * with special-token matching off, so a message can never forge a turn. */
#ifndef UNUM_CHAT_H
#define UNUM_CHAT_H

#include "engine/tokenizer.h"

typedef struct {
    const char *role; /* "system", "user", "assistant" */
    const char *content;
} ChatMsg;

/* The default system prompt written into tokenizer_config.json's
 * chat_template (used when the first message is not a system message), as
 * a new string; NULL when the template has none or the file is absent.
 * A file that exists but is not valid JSON is an error: *err set to -1. */
char *chat_default_system(const char *model_dir, int *err);

/* Appends the ids of msgs, and the assistant header when add_generation. */
int chat_encode(const Tokenizer *t, const ChatMsg *msgs, int n, int add_generation, IdVec *out);

#endif
