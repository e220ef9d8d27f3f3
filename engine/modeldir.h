/* modeldir.h - turns -m into a model directory.
 *
 * -m takes a directory (holding config.json) or a repo id ORG/NAME. A repo id
 * is looked up in unum's models folder ($XDG_DATA_HOME/unum/models/ORG/NAME,
 * default ~/.local/share) and then in the Hugging Face cache
 * ($HF_HUB_CACHE, $HF_HOME/hub or ~/.cache/huggingface/hub, the last only
 * when HOME is set:
 * models--ORG--NAME/snapshots/REV, the revision refs/main names first). */
#ifndef UNUM_MODELDIR_H
#define UNUM_MODELDIR_H

/* A new string naming the directory, or NULL with an error that lists where
 * it looked. */
char *modeldir_resolve(const char *model);

/* A new string naming unum's models folder: $XDG_DATA_HOME/unum/models, or
 * ~/.local/share/unum/models (unum pull downloads into ORG/NAME there);
 * NULL with the error set when neither variable is set (engine/base/paths.h). */
char *modeldir_models_dir(void);

/* The repo ids (ORG/NAME, new strings in a new array) of the models on this
 * machine whose config.json has this model_type ("whisper"), or with
 * model_type NULL, any chat language model unum runs (a family of family.h
 * other than a speech LLM's): unum's models folder first, then the Hugging
 * Face cache. Returns the count. */
int modeldir_find(const char *model_type, char ***out);

#endif
