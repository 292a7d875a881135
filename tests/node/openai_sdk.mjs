// Drives a running gateway with the official OpenAI SDK, streaming and non-streaming.
// usage: node openai_sdk.mjs BASE_URL   (prints OK and exits 0 when every check passes)
// OPENAI_API_KEY is sent as the bearer key when set (a gateway with auth.apiKeys); an https
// BASE_URL trusts NODE_EXTRA_CA_CERTS.
import OpenAI from "openai";

const baseURL = process.argv[2];
const apiKey = process.env.OPENAI_API_KEY || "unused";
const client = new OpenAI({ baseURL, apiKey, maxRetries: 0, timeout: 20000 });

function assert(cond, msg) {
  if (!cond) {
    console.error("FAIL:", msg);
    process.exit(1);
  }
}

const models = await client.models.list();
assert(models.data.some((m) => m.id === "m1"), "models.list includes m1");

const c = await client.completions.create({ model: "m1", prompt: "hello", max_tokens: 5 });
assert(c.choices[0].text === "hello", "completion text");
assert(c.usage.completion_tokens === 5, "usage passes through");

const { data, response } = await client.chat.completions
  .create({ model: "m1", messages: [{ role: "user", content: "hi" }] })
  .withResponse();
assert(data.choices.length === 1, "chat completion");
assert(/^127\.0\.0\.1:\d+$/.test(response.headers.get("x-gateway-destination-endpoint")),
  "destination header visible to SDK users");

const stream = await client.chat.completions.create({
  model: "m1", messages: [{ role: "user", content: "hi" }], stream: true,
});
let n = 0;
let text = "";
for await (const chunk of stream) {
  if (chunk.choices.length) {
    n++;
    text += chunk.choices[0].delta.content ?? "";
  }
}
assert(n === 5 && text.startsWith("tok0"), `streamed 5 chunks, got ${n}: ${text}`);

try {
  await client.completions.create({ model: "no-such-model", prompt: "x" });
  assert(false, "unknown model must fail");
} catch (e) {
  assert(e.status === 404, `404 for unknown model, got ${e.status}`);
  assert(e.code === "model_not_found", `error code model_not_found, got ${e.code}`);
}
console.log("OK");
