// Parses an AsyncAPI document with the official parser (@asyncapi/parser) and prints every
// diagnostic; exits 1 when any is an error (or nothing could be parsed), else 0.
import { Parser } from '@asyncapi/parser';
import { readFileSync } from 'fs';

const { document, diagnostics } = await new Parser().parse(readFileSync(process.argv[2], 'utf8'));
const levels = ['error', 'warning', 'info', 'hint'];
for (const d of diagnostics) {
  console.log(`${levels[d.severity]} ${d.code} ${JSON.stringify(d.path)} ${d.message}`);
}
process.exit(diagnostics.some((d) => d.severity === 0) || !document ? 1 : 0);
