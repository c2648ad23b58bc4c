// Compares schema.graphql with the last released schema
// (tools/schema.released.graphql) and fails on a breaking change, so client
// teams are never surprised. Every change is listed. When a breaking change
// is intended, say so in the changelog of the release and copy
// schema.graphql over schema.released.graphql in the same commit.
//
//   node tools/schema-diff.mjs [released.graphql] [current.graphql]
import { readFileSync } from 'node:fs';
import { buildSchema } from 'graphql';
import { diff, CriticalityLevel } from '@graphql-inspector/core';

const here = new URL('.', import.meta.url);
const released = process.argv[2] ?? new URL('schema.released.graphql', here);
const current = process.argv[3] ?? new URL('../schema.graphql', here);
const load = (path) => buildSchema(readFileSync(path, 'utf8'));
const changes = await diff(load(released), load(current));
const breaking = changes.filter((c) => c.criticality.level === CriticalityLevel.Breaking);
for (const c of changes) {
  console.log(`${c.criticality.level.padEnd(12)} ${c.message}`);
}
console.log(`schema diff: ${changes.length} changes, ${breaking.length} breaking`);
process.exit(breaking.length > 0 ? 1 : 0);
