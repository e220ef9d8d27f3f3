/* paths.h - where unum keeps its files: the XDG base folders and HOME.
 *
 * One rule for every folder unum uses:
 *   $XDG_<KIND>_HOME/unum/SUB when that variable holds an absolute path,
 *   else $HOME/<kind's default>/unum/SUB when HOME holds an absolute path,
 *   else no folder: NULL with the error "neither XDG_<KIND>_HOME nor HOME
 *   is set". A relative or empty value counts as unset (the XDG spec says
 *   to ignore it). Nothing falls back to ".", /tmp or the working folder.
 *
 *   kind     variable          default under HOME
 *   CONFIG   XDG_CONFIG_HOME   .config
 *   DATA     XDG_DATA_HOME     .local/share
 *   STATE    XDG_STATE_HOME    .local/state
 *   CACHE    XDG_CACHE_HOME    .cache
 *
 * The functions only compute names; creating folders is the caller's
 * business (unum_mkdir_p). Every returned string is new (caller frees). */
#ifndef UNUM_PATHS_H
#define UNUM_PATHS_H

typedef enum { UNUM_XDG_CONFIG, UNUM_XDG_DATA, UNUM_XDG_STATE, UNUM_XDG_CACHE } UnumXdg;

/* unum's folder of that kind joined with sub (sub NULL or "": the folder
 * itself), or NULL with the error set. */
char *unum_xdg_path(UnumXdg kind, const char *sub);

/* $HOME joined with rel, or NULL with the error set when HOME is not an
 * absolute path (for folders of other programs, e.g. the Hugging Face
 * cache under ~/.cache/huggingface). */
char *unum_home_path(const char *rel);

#endif
