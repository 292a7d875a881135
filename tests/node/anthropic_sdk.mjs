// Drives a running gateway (in front of `switchyard sim`, model m1) with the official Anthropic
// SDK on POST /v1/messages: non-streaming, streaming, an unknown model, and prefix affinity.
// usage: node anthropic_sdk.mjs BASE_URL   (prints OK and exits 0 when every check passes)
import Anthropic from "@anthropic-ai/sdk";

const baseURL = process.argv[2];
const client = new Anthropic({ baseURL, apiKey: "unused", maxRetries: 0, timeout: 20000 });

function assert(cond, msg) {
  if (!cond) {
    console.error("FAIL:", msg);
    process.exit(1);
  }
}

// Non-streaming, with a system prompt given as a list of text blocks.
const { data: msg, response } = await client.messages
  .create({
    model: "m1",
    max_tokens: 6,
    system: [{ type: "text", text: "You are terse." }],
    messages: [{ role: "user", content: "hello" }],
  })
  .withResponse();
assert(msg.type === "message" && msg.role === "assistant", `message object: ${JSON.stringify(msg)}`);
assert(msg.content.length === 1 && msg.content[0].type === "text" && msg.content[0].text.length > 0,
  "one text block");
assert(msg.usage.output_tokens === 6, `usage.output_tokens 6, got ${msg.usage.output_tokens}`);
assert(msg.usage.input_tokens > 0, "usage.input_tokens");
assert(msg.stop_reason === "max_tokens", `stop_reason max_tokens, got ${msg.stop_reason}`);
assert(/^127\.0\.0\.1:\d+$/.test(response.headers.get("x-gateway-destination-endpoint")),
  "destination header visible to SDK users");

// Streaming: raw events, then the SDK's accumulated final message.
const stream = await client.messages.create({
  model: "m1", max_tokens: 4, stream: true,
  messages: [{ role: "user", content: [{ type: "text", text: "stream please" }] }],
});
const types = [];
let text = "";
for await (const ev of stream) {
  types.push(ev.type);
  if (ev.type === "content_block_delta") text += ev.delta.text;
}
assert(types[0] === "message_start" && types.at(-1) === "message_stop",
  `event order: ${types.join(",")}`);
assert(types.filter((t) => t === "content_block_delta").length === 4, "4 text deltas");
assert(types.includes("message_delta"), "message_delta");
assert(text.length > 0, "streamed text");

const helper = client.messages.stream({
  model: "m1", max_tokens: 3, messages: [{ role: "user", content: "again" }],
});
const final = await helper.finalMessage();
assert(final.usage.output_tokens === 3, `stream usage.output_tokens 3, got ${final.usage.output_tokens}`);
assert(final.usage.input_tokens > 0, "stream usage.input_tokens from message_start");
assert(final.content[0].text.split(" ").length >= 3, `accumulated text: ${final.content[0].text}`);

// An unknown model: 404 with Anthropic's error shape.
try {
  await client.messages.create({ model: "no-such-model", max_tokens: 4,
    messages: [{ role: "user", content: "x" }] });
  assert(false, "unknown model must fail");
} catch (e) {
  assert(e instanceof Anthropic.NotFoundError, `NotFoundError, got ${e.constructor.name}`);
  assert(e.status === 404, `404, got ${e.status}`);
  assert(e.error?.type === "error" && e.error?.error?.type === "not_found_error",
    `Anthropic error body, got ${JSON.stringify(e.error)}`);
}

// Prefix affinity: each long system prompt keeps landing on one backend while the user turn
// changes; four different prompts, five turns each.
const spread = new Set();
for (let fam = 0; fam < 4; fam++) {
  const system = `Agent ${fam}: ` + `you follow the repository's rules, rule ${fam}. `.repeat(120);
  const seen = new Set();
  for (let turn = 0; turn < 5; turn++) {
    const { response: r } = await client.messages
      .create({ model: "m1", max_tokens: 2, system,
        messages: [{ role: "user", content: `turn ${turn}` }] })
      .withResponse();
    seen.add(r.headers.get("x-gateway-destination-endpoint"));
  }
  assert(seen.size === 1, `system prompt ${fam} served by one backend, got ${[...seen]}`);
  spread.add([...seen][0]);
}
console.log(`OK (${spread.size} backend(s) used by 4 system prompts)`);
