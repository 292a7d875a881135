// k8s_validate.mjs - validates rendered Kubernetes manifests the way an API server would see them
// (tests/integration/test_deploy.py renders the Helm chart and runs this).
//
//   node k8s_validate.mjs FILE.yaml...          # multi-document YAML (helm template output)
//   node k8s_validate.mjs --values values.yaml  # prints a values file as JSON (for the renderer)
//
// Per object, three checks, every finding reported (not only the first):
//  1. YAML parse as the API machinery reads it: YAML 1.1 scalars (sigs.k8s.io/yaml), so an
//     unquoted `true` / `on` in a string field is a boolean and fails the schema.
//  2. The object's OpenAPI schema (types, required fields, enums, formats):
//     kubernetes-models (built-in kinds, Kubernetes 1.3x OpenAPI), @kubernetes-models/gateway-api
//     (HTTPRoute), /istio (DestinationRule), /prometheus-operator (ServiceMonitor), and for
//     InferencePool (inference.networking.k8s.io/v1, no npm model) a JSON schema written here
//     from the CRD's field list, checked with ajv.
//  3. Unknown fields, which kubectl's default strict field validation rejects: built-in kinds are
//     walked against @kubernetes/client-node's generated models (the field list of every type);
//     InferencePool by its schema's additionalProperties: false. The CRD kinds from other
//     projects (HTTPRoute, DestinationRule, ServiceMonitor) get schema checks only (2).
//  Plus server-side rules the OpenAPI schema does not carry: object names (RFC 1123; Service:
//  RFC 1035 label), label keys and values, named ports (IANA_SVC_NAME, at most 15 characters),
//  ConfigMap keys.
//
// Output: one JSON document on stdout: {"objects": [{file, index, apiVersion, kind, name, object,
// errors: [...]}, ...]}. Exit 0 even with findings (the test asserts on them); 2 on bad usage.
import { readFileSync } from "node:fs";
import { createRequire } from "node:module";
import { parseAllDocuments, parse } from "yaml";

const require = createRequire(import.meta.url);

const MODELS = {
  "v1/ConfigMap": "kubernetes-models/v1/ConfigMap",
  "v1/Service": "kubernetes-models/v1/Service",
  "v1/ServiceAccount": "kubernetes-models/v1/ServiceAccount",
  "v1/Secret": "kubernetes-models/v1/Secret",
  "apps/v1/Deployment": "kubernetes-models/apps/v1/Deployment",
  "policy/v1/PodDisruptionBudget": "kubernetes-models/policy/v1/PodDisruptionBudget",
  "rbac.authorization.k8s.io/v1/Role": "kubernetes-models/rbac.authorization.k8s.io/v1/Role",
  "rbac.authorization.k8s.io/v1/RoleBinding":
    "kubernetes-models/rbac.authorization.k8s.io/v1/RoleBinding",
  "gateway.networking.k8s.io/v1/HTTPRoute":
    "@kubernetes-models/gateway-api/gateway.networking.k8s.io/v1/HTTPRoute",
  "networking.istio.io/v1/DestinationRule":
    "@kubernetes-models/istio/networking.istio.io/v1/DestinationRule",
  "monitoring.coreos.com/v1/ServiceMonitor":
    "@kubernetes-models/prometheus-operator/monitoring.coreos.com/v1/ServiceMonitor",
};

// client-node model type of each built-in kind (strict field check)
const CLIENT_TYPES = {
  "v1/ConfigMap": "V1ConfigMap",
  "v1/Service": "V1Service",
  "v1/ServiceAccount": "V1ServiceAccount",
  "v1/Secret": "V1Secret",
  "apps/v1/Deployment": "V1Deployment",
  "policy/v1/PodDisruptionBudget": "V1PodDisruptionBudget",
  "rbac.authorization.k8s.io/v1/Role": "V1Role",
  "rbac.authorization.k8s.io/v1/RoleBinding": "V1RoleBinding",
};

// InferencePool v1 (gateway-api-inference-extension api/v1): spec.selector (a simple label
// selector), targetPorts (1..8 unique {number}), appProtocol, endpointPickerRef {group, kind,
// name, port: {number}, failureMode}; a Service reference needs its port.
const NAME = "^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$";
const PORT = { type: "integer", minimum: 1, maximum: 65535 };
const INFERENCE_POOL = {
  type: "object",
  required: ["apiVersion", "kind", "metadata", "spec"],
  additionalProperties: false,
  properties: {
    apiVersion: { const: "inference.networking.k8s.io/v1" },
    kind: { const: "InferencePool" },
    metadata: { type: "object" },
    spec: {
      type: "object",
      additionalProperties: false,
      required: ["selector", "targetPorts"],
      properties: {
        selector: {
          type: "object",
          additionalProperties: false,
          required: ["matchLabels"],
          properties: {
            matchLabels: {
              type: "object",
              minProperties: 1,
              maxProperties: 64,
              additionalProperties: { type: "string", maxLength: 63 },
            },
          },
        },
        targetPorts: {
          type: "array",
          minItems: 1,
          maxItems: 8,
          items: {
            type: "object",
            additionalProperties: false,
            required: ["number"],
            properties: { number: PORT },
          },
        },
        appProtocol: { enum: ["http", "kubernetes.io/h2c"] },
        endpointPickerRef: {
          type: "object",
          additionalProperties: false,
          required: ["name"],
          properties: {
            group: { type: "string", maxLength: 253, pattern: "^$|" + NAME },
            kind: {
              type: "string",
              minLength: 1,
              maxLength: 63,
              pattern: "^[a-zA-Z]([-a-zA-Z0-9]*[a-zA-Z0-9])?$",
            },
            name: { type: "string", minLength: 1, maxLength: 253 },
            port: {
              type: "object",
              additionalProperties: false,
              required: ["number"],
              properties: { number: PORT },
            },
            failureMode: { enum: ["FailOpen", "FailClose"] },
          },
          // CEL rule of the CRD: self.kind != 'Service' || has(self.port)
          if: {
            anyOf: [
              { not: { required: ["kind"] } },
              { properties: { kind: { const: "Service" } }, required: ["kind"] },
            ],
          },
          then: { required: ["port"] },
        },
      },
    },
  },
};

function inferencePoolValidator() {
  const Ajv = require("ajv");
  const ajv = new (Ajv.default || Ajv)({ allErrors: true, strict: false });
  return ajv.compile(INFERENCE_POOL);
}

const clientModels = new Map();
async function clientModel(type) {
  if (clientModels.has(type)) return clientModels.get(type);
  let cls = null;
  if (/^V[0-9A-Za-z]+$/.test(type) && type !== "IntOrString") {
    try {
      const mod = await import(`@kubernetes/client-node/dist/gen/models/${type}.js`);
      cls = mod[type] && mod[type].getAttributeTypeMap ? mod[type] : null;
    } catch {
      cls = null;
    }
  }
  clientModels.set(type, cls);
  return cls;
}

// Fields the generated models do not list: every object carries apiVersion and kind.
async function unknownFields(obj, type, path, errs) {
  if (obj === null || obj === undefined) return;
  let m;
  if ((m = /^Array<(.+)>$/.exec(type))) {
    if (Array.isArray(obj))
      for (let i = 0; i < obj.length; i++) await unknownFields(obj[i], m[1], `${path}/${i}`, errs);
    return;
  }
  if ((m = /^\{ \[key: string\]: (.+); \}$/.exec(type))) {
    if (obj && typeof obj === "object")
      for (const [k, v] of Object.entries(obj)) await unknownFields(v, m[1], `${path}/${k}`, errs);
    return;
  }
  const cls = await clientModel(type);
  if (!cls || typeof obj !== "object" || Array.isArray(obj)) return;
  const fields = new Map(cls.getAttributeTypeMap().map((a) => [a.baseName, a.type]));
  for (const [k, v] of Object.entries(obj)) {
    if (!fields.has(k)) errs.push(`${path || "/"}${path ? "/" : ""}${k}: unknown field`);
    else await unknownFields(v, fields.get(k), `${path}/${k}`, errs);
  }
}

const DNS1123_SUB = new RegExp(NAME);
const DNS1035 = /^[a-z]([-a-z0-9]*[a-z0-9])?$/;
const LABEL_VALUE = /^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$/;
const LABEL_NAME = /^([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]$/;
const IANA_SVC = /^[a-z0-9]([a-z0-9-]{0,13}[a-z0-9])?$/;

function labelErrors(labels, where, errs) {
  if (!labels || typeof labels !== "object") return;
  for (const [k, v] of Object.entries(labels)) {
    const slash = k.lastIndexOf("/");
    const prefix = slash >= 0 ? k.slice(0, slash) : "";
    const name = slash >= 0 ? k.slice(slash + 1) : k;
    if ((prefix && (prefix.length > 253 || !DNS1123_SUB.test(prefix))) || name.length > 63 ||
        !LABEL_NAME.test(name))
      errs.push(`${where}: invalid label key ${JSON.stringify(k)}`);
    if (typeof v !== "string") errs.push(`${where}/${k}: label value must be a string, got ${typeof v}`);
    else if (v.length > 63 || !LABEL_VALUE.test(v))
      errs.push(`${where}/${k}: invalid label value ${JSON.stringify(v)}`);
  }
}

function serverRules(o, errs) {
  const md = o.metadata || {};
  const name = md.name;
  if (typeof name !== "string" || !name) errs.push("/metadata/name: required");
  else if (o.kind === "Service" ? name.length > 63 || !DNS1035.test(name)
                                : name.length > 253 || !DNS1123_SUB.test(name))
    errs.push(`/metadata/name: invalid name ${JSON.stringify(name)}`);
  labelErrors(md.labels, "/metadata/labels", errs);
  const spec = o.spec || {};
  if (o.kind === "Deployment") {
    labelErrors(spec.selector && spec.selector.matchLabels, "/spec/selector/matchLabels", errs);
    const tpl = spec.template || {};
    labelErrors(tpl.metadata && tpl.metadata.labels, "/spec/template/metadata/labels", errs);
    const cs = (tpl.spec && tpl.spec.containers) || [];
    cs.forEach((c, i) => (c.ports || []).forEach((p, j) => {
      if (p.name !== undefined && !IANA_SVC.test(String(p.name)))
        errs.push(`/spec/template/spec/containers/${i}/ports/${j}/name: invalid port name ${p.name}`);
    }));
  }
  if (o.kind === "Service") {
    (spec.ports || []).forEach((p, j) => {
      if (p.name !== undefined && !DNS1035.test(String(p.name)))
        errs.push(`/spec/ports/${j}/name: invalid port name ${p.name}`);
      if (typeof p.targetPort === "string" && !IANA_SVC.test(p.targetPort))
        errs.push(`/spec/ports/${j}/targetPort: invalid port name ${p.targetPort}`);
    });
    labelErrors(spec.selector, "/spec/selector", errs);
  }
  if (o.kind === "ConfigMap")
    for (const k of Object.keys(o.data || {}))
      if (!/^[-._a-zA-Z0-9]+$/.test(k) || k.length > 253) errs.push(`/data: invalid key ${k}`);
}

async function validateObject(o, ipool) {
  const errs = [];
  const key = `${o.apiVersion}/${o.kind}`;
  if (key === "inference.networking.k8s.io/v1/InferencePool") {
    if (!ipool(o))
      for (const e of ipool.errors)
        errs.push(`${e.instancePath || "/"}: ${e.message}` +
                  (e.params && e.params.additionalProperty ? ` (${e.params.additionalProperty})` : ""));
  } else if (MODELS[key]) {
    const mod = await import(MODELS[key]);
    const cls = mod[o.kind];
    try {
      new cls(o).validate();
    } catch (e) {
      for (const line of String(e.message).split(/,\s*(?=data)/)) errs.push(line.replace(/^data/, ""));
    }
    if (CLIENT_TYPES[key]) {
      const rest = { ...o };
      delete rest.apiVersion;
      delete rest.kind;
      await unknownFields(rest, CLIENT_TYPES[key], "", errs);
    }
  } else {
    errs.push(`no schema for ${key}`);
  }
  serverRules(o, errs);
  return errs;
}

async function main() {
  const args = process.argv.slice(2);
  if (args[0] === "--values") {
    process.stdout.write(JSON.stringify(parse(readFileSync(args[1], "utf8"))));
    return;
  }
  if (!args.length) {
    process.stderr.write("usage: node k8s_validate.mjs FILE.yaml...\n");
    process.exit(2);
  }
  const ipool = inferencePoolValidator();
  const out = [];
  for (const file of args) {
    const docs = parseAllDocuments(readFileSync(file, "utf8"), { version: "1.1" });
    let index = 0;
    for (const d of docs) {
      index++;
      if (d.errors.length) {
        out.push({ file, index, errors: d.errors.map((e) => "YAML: " + e.message) });
        continue;
      }
      const o = d.toJS();
      if (o === null || o === undefined) continue; // an empty document (a disabled template)
      const rec = { file, index, apiVersion: o.apiVersion, kind: o.kind,
                    name: o.metadata && o.metadata.name, object: o };
      rec.errors = typeof o === "object" && !Array.isArray(o) ? await validateObject(o, ipool)
                                                              : ["not a mapping"];
      out.push(rec);
    }
  }
  process.stdout.write(JSON.stringify({ objects: out }));
}

main().catch((e) => {
  process.stderr.write(String(e && e.stack ? e.stack : e) + "\n");
  process.exit(1);
});
