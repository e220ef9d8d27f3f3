/* app.h - the terminal app: `unum` with no command.
 *
 * Four panes (chat, transcript, persona, report template), a status bar and
 * an input editor, drawn with ncursesw. The models run in the engine thread
 * (worker.h); the main loop polls the keyboard and the worker's event pipe,
 * so the screen never waits for a model. Everything the user makes goes to
 * the store as it happens: messages when sent and when a reply ends (a
 * cancelled reply is kept, marked), recordings and their segments as they
 * arrive. Settings come from appconfig.h's file and the command line. */
#ifndef UNUM_APP_H
#define UNUM_APP_H

#include "tui/app/keys.h"

typedef struct {
    const char *db;      /* --db */
    const char *model;   /* -m */
    const char *whisper; /* --whisper */
    const char *theme;   /* --theme */
} AppArgs;

/* Runs the app until the user quits; the exit status (0 after Ctrl-Q). */
int app_main(const AppArgs *args);

/* Parses the app's own options (after main.c took --db): 0, or 2 after a
 * usage message. */
int app_parse_args(int argc, char **argv, AppArgs *out);

/* 1 when a key that keys_lookup() turns into act in context ctx reaches a
 * handler: the own action table of the pane or overlay of that context, or
 * the global one. Every action of keys.h has one (the tests ask for every
 * bound key of every pane). */
int app_action_handled(KeyContext ctx, KeyAction act);

#endif
