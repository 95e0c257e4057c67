// Validates OpenAPI documents: node check.js samples.json doc1.json [doc2.json ...]
//
// 1. swagger-parser's validate (the OpenAPI 3.1 JSON Schema, $ref resolution).
// 2. What that schema cannot see: unique operationIds, unique (name, in) parameters per
//    operation, declared path template parameters, required properties that exist, and
//    every Schema Object valid against JSON Schema 2020-12 (Ajv compiles it).
// 3. samples.json maps a component schema name to rows read from Postgres as JSON; each
//    row must validate against that schema (formats included), which proves the types,
//    nullability, enums and lengths match what the database really returns.
"use strict";

const fs = require("fs");
const SwaggerParser = require("@apidevtools/swagger-parser");
const Ajv2020 = require("ajv/dist/2020").default;

const formats = {
  "int32": true, "int64": true, "float": true, "double": true, "decimal": true,
  "date-time": /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})$/i,
  "date-time-local": /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?$/i,
  "date": /^\d{4}-\d{2}-\d{2}$/,
  "time-local": /^\d{2}:\d{2}:\d{2}(\.\d+)?$/,
  "uuid": /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i,
};

function fail(errors) {
  process.stdout.write(JSON.stringify({ ok: false, errors }, null, 2) + "\n");
  process.exit(1);
}

function structural(doc, errors) {
  const ids = new Set();
  const methods = ["get", "put", "post", "delete", "options", "head", "patch", "trace"];
  const resolve = (p) => {
    if (p && p.$ref) {
      const parts = p.$ref.replace(/^#\//, "").split("/");
      let cur = doc;
      for (const part of parts) cur = cur && cur[part.replace(/~1/g, "/").replace(/~0/g, "~")];
      if (!cur) errors.push(`unresolved ${p.$ref}`);
      return cur || {};
    }
    return p;
  };
  for (const [path, item] of Object.entries(doc.paths || {})) {
    const templ = [...path.matchAll(/\{([^}]+)\}/g)].map((m) => m[1]);
    for (const m of methods) {
      const op = item[m];
      if (!op) continue;
      const where = `${m.toUpperCase()} ${path}`;
      if (!op.operationId) errors.push(`${where}: no operationId`);
      else if (ids.has(op.operationId)) errors.push(`${where}: duplicate operationId ${op.operationId}`);
      ids.add(op.operationId);
      const seen = new Map();
      for (const p of [...(item.parameters || []), ...(op.parameters || [])].map(resolve)) {
        seen.set(`${p.in}:${p.in === "header" ? p.name.toLowerCase() : p.name}`, (seen.get(`${p.in}:${p.name}`) || 0) + 1);
      }
      const opKeys = new Set();
      for (const p of (op.parameters || []).map(resolve)) {
        const k = `${p.in}:${p.in === "header" ? p.name.toLowerCase() : p.name}`;
        if (opKeys.has(k)) errors.push(`${where}: parameter ${k} twice`);
        opKeys.add(k);
      }
      for (const t of templ) if (!seen.has(`path:${t}`)) errors.push(`${where}: path parameter ${t} not declared`);
      if (!op.responses || Object.keys(op.responses).length === 0) errors.push(`${where}: no responses`);
    }
  }
  const ajv = new Ajv2020({ strict: false, allErrors: true, formats, validateFormats: true });
  for (const [name, schema] of Object.entries((doc.components || {}).schemas || {})) {
    if (schema.required && schema.properties) {
      for (const r of schema.required) if (!(r in schema.properties)) errors.push(`schema ${name}: required ${r} is not a property`);
    }
  }
  return ajv;
}

async function main() {
  const [samplesFile, ...files] = process.argv.slice(2);
  const samples = samplesFile === "-" ? {} : JSON.parse(fs.readFileSync(samplesFile, "utf8"));
  const errors = [];
  let checkedRows = 0, checkedSchemas = 0;
  for (const file of files) {
    const text = fs.readFileSync(file, "utf8");
    try {
      await SwaggerParser.validate(JSON.parse(text));
    } catch (e) {
      errors.push(`${file}: swagger-parser: ${e.message}`);
      continue;
    }
    const doc = JSON.parse(text);
    const before = errors.length;
    const ajv = structural(doc, errors);
    // Compile every component schema as part of one 2020-12 document, so $refs between
    // components resolve.
    // $defs (unlike an unknown "components" keyword) are checked against the meta-schema.
    const defs = JSON.parse(JSON.stringify((doc.components || {}).schemas || {}).replace(/"#\/components\/schemas\//g, '"doc#/$defs/'));
    try {
      ajv.addSchema({ $id: "doc", $defs: defs });
    } catch (e) {
      errors.push(`${file}: component schemas: ${e.message}`);
      continue;
    }
    for (const name of Object.keys(defs)) {
      try {
        ajv.getSchema(`doc#/$defs/${name}`);
        checkedSchemas++;
      } catch (e) {
        errors.push(`${file}: schema ${name}: ${e.message}`);
      }
    }
    // Schemas inside paths, parameters, headers, request bodies and responses.
    const inline = [];
    const walk = (node, where) => {
      if (!node || typeof node !== "object") return;
      for (const [k, v] of Object.entries(node)) {
        if (k === "schema" && v && typeof v === "object" && !Array.isArray(v)) inline.push([where, v]);
        else walk(v, `${where}/${k}`);
      }
    };
    walk(doc.paths, "paths");
    const { schemas, ...others } = doc.components || {};
    walk(others, "components");
    inline.forEach(([where, schema], i) => {
      const s = JSON.parse(JSON.stringify(schema).replace(/"#\/components\/schemas\//g, '"doc#/$defs/'));
      try {
        ajv.compile({ $id: `inline${i}`, ...s });
        checkedSchemas++;
      } catch (e) {
        errors.push(`${file}: ${where}: ${e.message}`);
      }
    });
    for (const [name, rows] of Object.entries(samples)) {
      if (!doc.components.schemas[name]) continue;
      const validate = ajv.getSchema(`doc#/$defs/${name}`);
      for (const row of rows) {
        checkedRows++;
        if (!validate(row)) errors.push(`${file}: row of ${name} ${JSON.stringify(row)}: ${ajv.errorsText(validate.errors)}`);
      }
    }
    if (errors.length > before) errors.unshift(`${file}: invalid`);
  }
  if (errors.length) fail(errors);
  process.stdout.write(JSON.stringify({ ok: true, documents: files.length, schemas: checkedSchemas, rows: checkedRows }) + "\n");
}

main().catch((e) => fail([String(e && e.stack || e)]));
