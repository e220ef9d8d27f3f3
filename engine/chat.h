/* chat.h - the ChatML chat template of the Qwen2 family:
 *
 *   <|im_start|>system\n{system}<|im_end|>\n
 *   <|im_start|>user\n{text}<|im_end|>\n
 *   <|im_start|>assistant\n
 *
 * Role markers are inserted as their special ids; message text is encoded
 * with special-token matching off, so a message can never forge a turn.
 *
 * A voice turn (a speech LLM's, speech.h) holds CHAT_CLIP_ID once per clip
 * where the user's words would be, then its text, if any, after a newline:
 *
 *   <|im_start|>user\n{clip ids}[\n{text}]<|im_end|>\n
 *
 * chat_prompt is the one place a conversation becomes a prompt: the CLI,
 * the app's engine thread, meeting reports and speech.c all use it. */
#ifndef UNUM_CHAT_H
#define UNUM_CHAT_H

#include "engine/tokenizer.h"

/* The id standing for one speech clip in a prompt (speech.h expands it to
 * the clip's audio frames). */
#define CHAT_CLIP_ID (-200)

typedef struct {
    const char *role;    /* "system", "user", "assistant" */
    const char *content; /* the text; for a voice turn, what follows its clips (may be NULL) */
    int n_clips;         /* > 0: a voice turn of this many speech clips */
} ChatMsg;

typedef struct {
    const char *system;         /* the system turn when msgs[0] is not one; NULL: */
    const char *default_system; /* the model's default (NULL: no system turn) */
    int ctx;                    /* the context's positions (0: no fitting) */
    int room;                   /* positions to leave free for the reply */
    int clip_positions;         /* positions one clip takes once expanded (1 if 0) */
} ChatFit;

/* The default system prompt written into tokenizer_config.json's
 * chat_template (used when the first message is not a system message), as
 * a new string; NULL when the template has none or the file is absent.
 * A file that exists but is not valid JSON is an error: *err set to -1. */
char *chat_default_system(const char *model_dir, int *err);

/* Appends the ids of msgs, and the assistant header when add_generation. */
int chat_encode(const Tokenizer *t, const ChatMsg *msgs, int n, int add_generation, IdVec *out);

/* The prompt of a conversation (out is cleared first): the system turn
 * (msgs[0] when its role is "system", else fit->system, else
 * fit->default_system, else none), the turns, and the assistant's header.
 * Text and voice turns are fitted alike: while the prompt, its clips
 * counted at fit->clip_positions each, leaves fewer than fit->room of
 * fit->ctx positions free, the oldest turn after the system turn is
 * dropped. 0 with *first (may be NULL) the index in msgs of the first turn
 * kept after the system turn, or -1 with the error set (the newest turn
 * alone does not fit, or the tokenizer has no ChatML markers). */
int chat_prompt(const Tokenizer *t, const ChatMsg *msgs, int n, const ChatFit *fit, IdVec *out,
                int *first);

#endif
