// h2_raw.mjs - sends hand-made gRPC DATA bytes over HTTP/2 (Node's own http2 client, h2c) to test
// how the EPP treats malformed gRPC framing and protobuf. Prints {"status": grpc-status or null,
// "message": grpc-message}.
// usage: node h2_raw.mjs HOST:PORT PATH HEX [HEX ...]   (each HEX is written as one write)
import http2 from "node:http2";

const [target, path, ...hex] = process.argv.slice(2);
const client = http2.connect(`http://${target}`);
const out = { status: null, message: null };
const done = () => {
  console.log(JSON.stringify(out));
  client.close();
  process.exit(0);
};
const timer = setTimeout(done, 10000);
client.on("error", () => { clearTimeout(timer); done(); });
const req = client.request({ ":method": "POST", ":path": path, "content-type": "application/grpc", te: "trailers" });
const take = (h) => {
  if (h["grpc-status"] !== undefined) {
    out.status = Number(h["grpc-status"]);
    out.message = h["grpc-message"] || "";
  }
};
req.on("response", take);
req.on("trailers", take);
req.on("data", () => {});
req.on("close", () => { clearTimeout(timer); done(); });
req.on("error", () => {});
for (const h of hex) req.write(Buffer.from(h, "hex"));
req.end();
