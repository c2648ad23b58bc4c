// Runs the `graphql-http` package's server audits (the GraphQL-over-HTTP
// spec's MUST, SHOULD and MAY checks) against a live Courier server and
// fails on any MUST failure or SHOULD warning.
//
//   node tools/graphql-http-audit.mjs http://127.0.0.1:8000/graphql
import { auditServer } from 'graphql-http';

const url = process.argv[2] ?? 'http://127.0.0.1:8000/graphql';
const results = await auditServer({ url });
let failures = 0;
let warnings = 0;
for (const r of results) {
  const level = r.name.startsWith('MUST') ? 'MUST' : r.name.startsWith('SHOULD') ? 'SHOULD' : 'MAY';
  if (r.status === 'ok') {
    console.log(`ok      ${r.id} ${r.name}`);
    continue;
  }
  const detail = r.reason ?? '';
  if (level === 'MAY') {
    console.log(`notice  ${r.id} ${r.name}: ${detail}`);
  } else if (r.status === 'error' || level === 'MUST') {
    failures += 1;
    console.log(`FAIL    ${r.id} ${r.name}: ${detail}`);
  } else {
    warnings += 1;
    console.log(`WARN    ${r.id} ${r.name}: ${detail}`);
  }
}
const passed = results.filter((r) => r.status === 'ok').length;
console.log(`\ngraphql-http audit: ${passed} passed, ${failures} MUST failures, ${warnings} SHOULD warnings (${results.length} audits)`);
process.exit(failures + warnings > 0 ? 1 : 0);
