/* cli_store.h - the store's command-line face: persona, template, sessions
 * and search. Each returns the exit status (0 ok, 1 runtime error, 2 usage
 * error). The database is cli_db() (common.h: the global --db option),
 * else the default location. */
#ifndef UNUM_CLI_STORE_H
#define UNUM_CLI_STORE_H

/* The system prompt a persona gives a chat: its system_prompt, then its
 * style (tone, length, language) when set. A new string, or NULL with the
 * error set (unknown persona, unreadable database). */
char *cli_store_persona_prompt(const char *name);
int cli_persona(int argc, char **argv);
int cli_template(int argc, char **argv);
int cli_sessions(int argc, char **argv);
int cli_search(int argc, char **argv);

#endif
