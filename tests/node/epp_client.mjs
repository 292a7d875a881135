// epp_client.mjs - drives `switchyard epp` as Envoy would, with the real gRPC implementation
// (@grpc/grpc-js + @grpc/proto-loader). The .proto text below is written by this project from the
// ext_proc v3 field table (docs/kubernetes.md); only the messages the EPP exchanges are declared,
// with their real field numbers, in the real service package so the method path is the real one.
//
// usage: node epp_client.mjs TARGET [--tls] [--ca FILE] SCENARIO.json
//   scenario: {"health": ["", "liveness", ...]}               -> {"health": {svc: status|error}}
//          or {"requests": [REQ, ...], "concurrency": N}       -> {"results": [RESULT, ...]}
//   REQ: {path, method, headers:{}, body (string) | bodyBytes (int, generated), chunk,
//         subset: [ip:port] | null, response: {status, headers:{}, chunks:[string], served,
//         gates: [file | null]: before sending chunks[i], wait until gates[i] exists; a gate
//         file holding "reset" cancels the stream there instead (Envoy's reset mid-response)},
//         resetAfterRoute: bool, trailers: bool, startDelayMs: int (wait before the stream
//         opens), resetAfterMs: int (cancel the stream that long after it opened, as Envoy
//         resets a stream whose client left), respondAfter: int (send the response only once
//         request number N of the scenario has its result: the connection stays silent meanwhile)}
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import crypto from "node:crypto";
import grpc from "@grpc/grpc-js";
import protoLoader from "@grpc/proto-loader";

const PROTO = `
syntax = "proto3";
package envoy.service.ext_proc.v3;
import "google/protobuf/struct.proto";

message HeaderValue { string key = 1; string value = 2; bytes raw_value = 3; }
message HeaderMap { repeated HeaderValue headers = 1; }
message HeaderValueOption { HeaderValue header = 1; int32 append_action = 3; bool keep_empty_value = 4; }
message HeaderMutation { repeated HeaderValueOption set_headers = 1; repeated string remove_headers = 2; }
message Metadata { map<string, google.protobuf.Struct> filter_metadata = 1; }
message HttpHeaders { HeaderMap headers = 1; bool end_of_stream = 3; }
message HttpBody { bytes body = 1; bool end_of_stream = 2; }
message HttpTrailers { HeaderMap trailers = 1; }
message ProcessingRequest {
  oneof request {
    HttpHeaders request_headers = 2; HttpHeaders response_headers = 3;
    HttpBody request_body = 4; HttpBody response_body = 5;
    HttpTrailers request_trailers = 6; HttpTrailers response_trailers = 7;
  }
  Metadata metadata_context = 8;
  bool observability_mode = 10;
}
message StreamedBodyResponse { bytes body = 1; bool end_of_stream = 2; }
message BodyMutation { oneof mutation { bytes body = 1; bool clear_body = 2; StreamedBodyResponse streamed_response = 3; } }
message CommonResponse { int32 status = 1; HeaderMutation header_mutation = 2; BodyMutation body_mutation = 3; HeaderMap trailers = 4; bool clear_route_cache = 5; }
message HeadersResponse { CommonResponse response = 1; }
message BodyResponse { CommonResponse response = 1; }
message TrailersResponse { HeaderMutation header_mutation = 1; }
message HttpStatus { int32 code = 1; }
message GrpcStatus { uint32 status = 1; }
message ImmediateResponse { HttpStatus status = 1; HeaderMutation headers = 2; bytes body = 3; GrpcStatus grpc_status = 4; string details = 5; }
message ProcessingResponse {
  oneof response {
    HeadersResponse request_headers = 1; HeadersResponse response_headers = 2;
    BodyResponse request_body = 3; BodyResponse response_body = 4;
    TrailersResponse request_trailers = 5; TrailersResponse response_trailers = 6;
    ImmediateResponse immediate_response = 7;
  }
  google.protobuf.Struct dynamic_metadata = 8;
}
service ExternalProcessor { rpc Process(stream ProcessingRequest) returns (stream ProcessingResponse); }
`;
const HEALTH = `
syntax = "proto3";
package grpc.health.v1;
message HealthCheckRequest { string service = 1; }
message HealthCheckResponse { enum ServingStatus { UNKNOWN = 0; SERVING = 1; NOT_SERVING = 2; SERVICE_UNKNOWN = 3; } ServingStatus status = 1; }
service Health { rpc Check(HealthCheckRequest) returns (HealthCheckResponse); }
`;

const args = process.argv.slice(2);
const target = args[0];
const tls = args.includes("--tls");
const caIdx = args.indexOf("--ca");
const ca = caIdx >= 0 ? fs.readFileSync(args[caIdx + 1]) : null;
const scenario = JSON.parse(fs.readFileSync(args[args.length - 1], "utf8"));

const dir = fs.mkdtempSync(path.join(os.tmpdir(), "sy-epp-proto-"));
fs.writeFileSync(path.join(dir, "ext_proc.proto"), PROTO);
fs.writeFileSync(path.join(dir, "health.proto"), HEALTH);
const loadOpts = { keepCase: true, longs: Number, enums: String, defaults: false, oneofs: true };
const xp = grpc.loadPackageDefinition(protoLoader.loadSync(path.join(dir, "ext_proc.proto"), loadOpts));
const hp = grpc.loadPackageDefinition(protoLoader.loadSync(path.join(dir, "health.proto"), loadOpts));
fs.rmSync(dir, { recursive: true, force: true });

const creds = tls
  ? grpc.credentials.createSsl(ca, null, null, ca ? {} : { rejectUnauthorized: false })
  : grpc.credentials.createInsecure();
const chanOpts = ca ? { "grpc.ssl_target_name_override": "localhost", "grpc.default_authority": "localhost" } : {};

function hmap(h) {
  return { headers: Object.entries(h).map(([k, v]) => ({ key: k, raw_value: Buffer.from(String(v)) })) };
}
function setHeaders(mut) {
  const out = {};
  for (const o of (mut && mut.set_headers) || []) out[o.header.key] = Buffer.from(o.header.raw_value || o.header.value || "").toString();
  return out;
}
function structStr(s) {
  if (!s || !s.fields) return {};
  const out = {};
  for (const [k, v] of Object.entries(s.fields)) {
    if (v.structValue || v.struct_value) out[k] = structStr(v.structValue || v.struct_value);
    else out[k] = v.stringValue ?? v.string_value ?? v.numberValue ?? v.number_value;
  }
  return out;
}
function subsetMeta(subset) {
  return {
    filter_metadata: {
      "envoy.lb.subset_hint": {
        fields: { "x-gateway-destination-endpoint-subset": { listValue: { values: subset.map((s) => ({ stringValue: s })) } } },
      },
    },
  };
}
function servedMeta(addr) {
  return { filter_metadata: { "envoy.lb": { fields: { "x-gateway-destination-endpoint-served": { stringValue: addr } } } } };
}

function runOne(client, req) {
  if (req.startDelayMs) {
    const { startDelayMs, ...rest } = req;
    return new Promise((r) => setTimeout(r, startDelayMs)).then(() => runOne(client, rest));
  }
  return new Promise((resolve) => {
    const res = { chunks: 0, bodyBack: [], respChunks: 0, respBack: [], setHeaders: {}, respSetHeaders: {} };
    const t0 = process.hrtime.bigint();
    const call = client.Process();
    let phase = "route";
    let done = false;
    const finish = (extra) => {
      if (done) return;
      done = true;
      Object.assign(res, extra || {});
      res.bodyBackLen = Buffer.concat(res.bodyBack).length;
      res.bodyBackSha = crypto.createHash("sha256").update(Buffer.concat(res.bodyBack)).digest("hex");
      res.respBackLen = Buffer.concat(res.respBack).length;
      res.respBackText = Buffer.concat(res.respBack).toString().slice(0, 2000);
      delete res.bodyBack;
      delete res.respBack;
      resolve(res);
    };
    const body = req.bodyBytes !== undefined ? Buffer.from(bigBody(req.bodyBytes, req.model || "m1", req.saltPrefix)) : req.body !== undefined ? Buffer.from(req.body) : null;
    if (body) res.bodySha = crypto.createHash("sha256").update(body).digest("hex");
    const sendResponse = () => {
      const r = req.response;
      if (!r) { call.end(); return; }
      if (req.after && phase === "route") { phase = "after"; req.after.then(sendResponse); return; }
      if (req.delayResponseMs && (phase === "route" || phase === "after")) { phase = "delay"; setTimeout(sendResponse, req.delayResponseMs); return; }
      phase = "resp_headers";
      const md = r.served ? servedMeta(r.served) : undefined;
      call.write({ response_headers: { headers: hmap({ ":status": r.status || 200, ...(r.headers || {}) }), end_of_stream: false }, metadata_context: md });
    };
    call.on("data", (m) => {
      if (m.immediate_response) {
        const ir = m.immediate_response;
        res.immediate = { status: ir.status && ir.status.code, body: Buffer.from(ir.body || "").toString(), headers: setHeaders(ir.headers) };
        call.end();
        return;
      }
      if (m.request_headers) {
        res.decisionMs = Number(process.hrtime.bigint() - t0) / 1e6;
        const cr = m.request_headers.response || {};
        res.clearRouteCache = !!cr.clear_route_cache;
        res.setHeaders = setHeaders(cr.header_mutation);
        res.removeHeaders = (cr.header_mutation && cr.header_mutation.remove_headers) || [];
        res.metadata = structStr(m.dynamic_metadata);
        if (!body) { if (req.resetAfterRoute) { call.cancel(); return; } sendResponse(); }
        return;
      }
      if (m.request_body) {
        const sr = m.request_body.response.body_mutation.streamed_response;
        res.chunks++;
        res.maxChunk = Math.max(res.maxChunk || 0, (sr.body || Buffer.alloc(0)).length);
        res.bodyBack.push(Buffer.from(sr.body || ""));
        if (sr.end_of_stream) {
          if (req.resetAfterRoute) { call.cancel(); return; }
          sendResponse();
        }
        return;
      }
      if (m.response_headers) {
        res.respSetHeaders = setHeaders((m.response_headers.response || {}).header_mutation);
        const chunks = req.response.chunks || [];
        const gates = req.response.gates || [];
        const sendBody = async () => {
          for (let i = 0; i < chunks.length; i++) {
            if (gates[i]) {
              const g = await waitGate(gates[i]);
              if (done) return;
              if (g === "reset") { res.reset = true; call.cancel(); return; }
            }
            call.write({ response_body: { body: Buffer.from(chunks[i]), end_of_stream: i === chunks.length - 1 } });
          }
          if (!chunks.length) call.end();
        };
        if (req.delayBodyMs) setTimeout(sendBody, req.delayBodyMs);
        else sendBody();
        return;
      }
      if (m.response_body) {
        const sr = m.response_body.response.body_mutation.streamed_response;
        res.respChunks++;
        res.respBack.push(Buffer.from(sr.body || ""));
        if (sr.end_of_stream) {
          if (req.holdOpenMs) setTimeout(() => call.end(), req.holdOpenMs);
          else call.end();
        }
      }
    });
    if (req.resetAfterMs) setTimeout(() => { if (!done) { res.reset = true; call.cancel(); } }, req.resetAfterMs);
    call.on("error", (e) => finish({ grpcCode: e.code, grpcMessage: e.details }));
    call.on("status", (s) => finish({ grpcCode: s.code, grpcMessage: s.details }));
    const headers = { ":method": req.method || "POST", ":path": req.path || "/v1/completions", "content-type": "application/json", ...(req.headers || {}) };
    call.write({ request_headers: { headers: hmap(headers), end_of_stream: !body }, metadata_context: req.subset ? subsetMeta(req.subset) : undefined });
    if (body) {
      const step = req.chunk || 16384;
      if (body.length === 0) call.write({ request_body: { body: Buffer.alloc(0), end_of_stream: true } });
      for (let off = 0; off < body.length; off += step) {
        call.write({ request_body: { body: body.subarray(off, off + step), end_of_stream: off + step >= body.length } });
      }
    }
  });
}

// Waits (bounded: 30 s) until the file exists; resolves with its trimmed contents.
async function waitGate(file) {
  const until = Date.now() + 30000;
  while (!fs.existsSync(file) && Date.now() < until) await new Promise((r) => setTimeout(r, 10));
  return fs.existsSync(file) ? fs.readFileSync(file, "utf8").trim() : "";
}

function bigBody(n, model, salt) {
  const head = `{"model":"${model}","max_tokens":4,"prompt":"${salt ? "request " + salt + " " : ""}`;
  const tail = `"}`;
  let fill = "";
  const words = "the quick brown fox jumps over the lazy dog ";
  while (fill.length < n - head.length - tail.length) fill += words;
  return head + fill.slice(0, Math.max(0, n - head.length - tail.length)) + tail;
}

async function main() {
  if (scenario.health) {
    const hc = new hp.grpc.health.v1.Health(target, creds, chanOpts);
    const out = {};
    for (const svc of scenario.health) {
      out[svc] = await new Promise((resolve) => {
        hc.Check({ service: svc }, { deadline: Date.now() + 5000 }, (err, r) => resolve(err ? { code: err.code, details: err.details } : r.status || "UNKNOWN"));
      });
    }
    hc.close();
    console.log(JSON.stringify({ health: out }));
    return;
  }
  const client = new xp.envoy.service.ext_proc.v3.ExternalProcessor(target, creds, chanOpts);
  if (scenario.bench) {
    // open loop: one request every 1/rate s for `seconds`, each a full Process stream with a
    // response; reports decision latency (first byte of the body sent -> route answer)
    const b = scenario.bench;
    const lat = [];
    const pending = [];
    let errors = 0;
    const t0 = Date.now();
    let i = 0;
    await new Promise((resolve) => {
      const tick = setInterval(() => {
        const due = Math.floor(((Date.now() - t0) / 1000) * b.rate);
        while (i < due && i < b.rate * b.seconds) {
          const req = { path: "/v1/completions", bodyBytes: b.bodyBytes, chunk: b.chunk || 65536, model: b.model || "m1",
                        response: { status: 200, chunks: ['{"usage":{"prompt_tokens":1,"completion_tokens":1}}'] } };
          req.bodyBytes = b.bodyBytes;
          const salt = i++;
          pending.push(runOne(client, { ...req, saltPrefix: b.shared ? 0 : salt }).then((r) => {
            if (r.grpcCode !== 0 || !r.setHeaders["x-gateway-destination-endpoint"]) errors++;
            else lat.push(r.decisionMs);
          }));
        }
        if (i >= b.rate * b.seconds) { clearInterval(tick); resolve(); }
      }, 2);
    });
    await Promise.all(pending);
    lat.sort((x, y) => x - y);
    const q = (p) => lat.length ? lat[Math.min(lat.length - 1, Math.floor(p * lat.length))] : null;
    client.close();
    console.log(JSON.stringify({ bench: { sent: i, ok: lat.length, errors, p50: q(0.5), p99: q(0.99), wallS: (Date.now() - t0) / 1000 } }));
    return;
  }
  const reqs = scenario.requests;
  const results = new Array(reqs.length);
  const conc = scenario.concurrency || 1;
  const settled = reqs.map(() => { let done; const p = new Promise((r) => { done = r; }); return { p, done }; });
  let next = 0;
  async function worker() {
    while (next < reqs.length) {
      const i = next++;
      const req = reqs[i].respondAfter !== undefined ? { ...reqs[i], after: settled[reqs[i].respondAfter].p } : reqs[i];
      results[i] = await runOne(client, req);
      settled[i].done();
    }
  }
  await Promise.all(Array.from({ length: conc }, worker));
  client.close();
  console.log(JSON.stringify({ results }));
}
main().catch((e) => { console.error(e); process.exit(1); });
