// ajvcheck.js: validates the examples of schemas/testdata with ajv (draft-07),
// a validator outside Go, to prove that every schema resolves its $refs by
// the $ids alone. Usage: node ajvcheck.js SCHEMAS-DIR (ajv and ajv-formats
// on NODE_PATH). Prints one JSON line per example; exits 1 if any example
// is judged wrongly or a schema does not compile.
'use strict';
const fs = require('fs');
const path = require('path');
const Ajv = require('ajv');
const addFormats = require('ajv-formats');

const dir = process.argv[2];
const base = 'https://vaxhub.example/schemas/';
// strictSchema: unknown keywords and formats are errors. The other strict
// checks are style ("properties" without "type": "object" beside it, a
// "required" in an anyOf branch) that the envelope's allOf cannot follow.
const ajv = new Ajv({ allErrors: true, strict: false, strictSchema: true });
addFormats(ajv);

const files = fs.readdirSync(dir).filter((f) => f.endsWith('.schema.json'));
const extDir = path.join(dir, 'external');
if (fs.existsSync(extDir)) {
  for (const f of fs.readdirSync(extDir)) if (f.endsWith('.schema.json')) files.push('external/' + f);
}
let failed = 0;
const report = (o) => { if (!o.ok) failed++; console.log(JSON.stringify(o)); };
// Every schema is added by its $id only: no file name is handed to ajv.
for (const f of files) {
  try { ajv.addSchema(JSON.parse(fs.readFileSync(path.join(dir, f), 'utf8'))); } catch (e) {
    report({ schema: f, ok: false, error: String(e.message || e) });
  }
}
for (const f of files) {
  try {
    if (!ajv.getSchema(base + f)) throw new Error('no schema with $id ' + base + f);
  } catch (e) { report({ schema: f, ok: false, error: String(e.message || e) }); }
}
const testdata = path.join(dir, 'testdata');
let examples = 0;
for (const name of fs.readdirSync(testdata).sort()) {
  const id = base + (files.includes(name + '.schema.json') ? '' : 'external/') + name + '.schema.json';
  let validate;
  try { validate = ajv.getSchema(id); } catch (e) { report({ schema: id, ok: false, error: String(e.message || e) }); continue; }
  if (!validate) { report({ schema: id, ok: false, error: 'no schema' }); continue; }
  for (const kind of ['valid', 'invalid']) {
    const d = path.join(testdata, name, kind);
    if (!fs.existsSync(d)) continue;
    for (const f of fs.readdirSync(d).filter((x) => x.endsWith('.json')).sort()) {
      examples++;
      let doc;
      try { doc = JSON.parse(fs.readFileSync(path.join(d, f), 'utf8')); } catch (e) {
        // Not JSON at all: rejected before any schema runs.
        report({ example: `${name}/${kind}/${f}`, ok: kind === 'invalid', errors: ['not JSON'] });
        continue;
      }
      const passed = validate(doc);
      report({ example: `${name}/${kind}/${f}`, ok: passed === (kind === 'valid'),
        errors: passed ? undefined : validate.errors.map((e) => `${e.instancePath} ${e.message}`) });
    }
  }
}
console.log(JSON.stringify({ examples, failed }));
process.exit(failed === 0 && examples > 0 ? 0 : 1);
