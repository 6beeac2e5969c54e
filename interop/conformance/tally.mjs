// Compares runs of the conformance suite's server scenarios (./run): the upstream on its own (the
// first run, the baseline) and the same upstream through att — through `/mcp`, and through
// `att mcp stdio` behind stdio_relay.mjs.
//
//   node tally.mjs COUNTS_FILE LABEL=DIR=LOG [LABEL=DIR=LOG …]
//
// Each DIR is the suite's --output-dir (one `server-<scenario>-<timestamp>/checks.json` per
// scenario); each LOG its stdout, whose `=== Running scenario: X ===` lines give the scenarios it
// ran (a scenario without a checks.json failed to run at all). A scenario passes, as in the
// suite's own summary, when none of its checks is a FAILURE (a WARNING is shown, not counted).
// Prints every scenario's outcome on every side, then, for each side after the first, the ones
// that fail there but pass on the baseline (with the suite's messages) and the other
// differences; writes "PASSED_1 PASSED_2 … TOTAL" to COUNTS_FILE for ./run's verdict.

import { existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

const [countsFile, ...specs] = process.argv.slice(2);
const sides = specs.map((spec) => {
  const [label, dir, log] = spec.split('=');
  return { label, dir, log };
});
if (!countsFile || sides.length < 2 || sides.some((s) => !s.dir || !s.log)) {
  process.stderr.write('usage: tally.mjs COUNTS_FILE LABEL=DIR=LOG LABEL=DIR=LOG [...]\n');
  process.exit(2);
}

function scenariosRun(log) {
  const text = existsSync(log) ? readFileSync(log, 'utf8') : '';
  return [...text.matchAll(/^=== Running scenario: (\S+) ===$/gm)].map((m) => m[1]);
}

// scenario -> its checks
function results(dir) {
  const out = new Map();
  for (const entry of existsSync(dir) ? readdirSync(dir) : []) {
    const m = /^server-(.+)-\d{4}-\d{2}-\d{2}T[\d-]+Z$/.exec(entry);
    const file = join(dir, entry, 'checks.json');
    if (m && existsSync(file)) out.set(m[1], JSON.parse(readFileSync(file, 'utf8')));
  }
  return out;
}

// { outcome: PASS | WARN | FAIL, checks: "passed/counted", notes: [the suite's messages] }
function judge(checks) {
  if (!checks) return { outcome: 'FAIL', checks: '-', notes: ['no result: the scenario did not run to the end'] };
  const failed = checks.filter((c) => c.status === 'FAILURE');
  const warned = checks.filter((c) => c.status === 'WARNING');
  const passed = checks.filter((c) => c.status === 'SUCCESS');
  const notes = [...failed, ...warned].map((c) => {
    let note = `${c.status === 'FAILURE' ? 'FAILURE' : 'WARNING'} ${c.id}: ${c.errorMessage ?? c.description}`;
    // A tool's own text often says why (e.g. the upstream's sampling request failed).
    const content = c.details?.result?.content;
    if (Array.isArray(content) && content[0]?.type === 'text') note += ` (tool answered: ${JSON.stringify(content[0].text)})`;
    return note;
  });
  const outcome = failed.length ? 'FAIL' : warned.length ? 'WARN' : 'PASS';
  return { outcome, checks: `${passed.length}/${passed.length + failed.length}`, notes };
}

const found = sides.map((s) => results(s.dir));
const names = [...new Set(sides.flatMap((s) => scenariosRun(s.log)))];
const rows = names.map((name) => ({ name, js: found.map((r) => judge(r.get(name))) }));
const passes = (j) => j.outcome !== 'FAIL';
const passed = sides.map((_, i) => rows.filter((r) => passes(r.js[i])).length);

const width = Math.max(8, ...names.map((n) => n.length));
const line = (name, cells) => `  ${name.padEnd(width)}  ${cells.map((c) => c.padEnd(14)).join('')}`.trimEnd();
console.log(line('scenario', sides.map((s) => s.label)));
for (const { name, js } of rows) console.log(line(name, js.map((j) => `${j.outcome} ${j.checks}`)));

// Per side after the baseline: the scenarios that count against it (it fails what the upstream
// passes on its own), then the other differences (a warning on one side only, or a pass where
// the upstream fails).
const base = sides[0].label;
sides.slice(1).forEach((side, k) => {
  const i = k + 1;
  const worse = rows.filter((r) => passes(r.js[0]) && !passes(r.js[i]));
  const other = rows.filter((r) => !worse.includes(r) && r.js[0].outcome !== r.js[i].outcome);
  console.log();
  console.log(`conformance: ${worse.length} scenario(s) pass ${base} but fail ${side.label}${worse.length ? ':' : ''}`);
  for (const { name, js } of worse) {
    console.log(`  ${name}`);
    for (const note of js[i].notes) console.log(`      ${note}`);
  }
  if (other.length) {
    console.log(`conformance: ${other.length} other difference(s) between ${base} and ${side.label}, not counted:`);
    for (const { name, js } of other) {
      console.log(`  ${name}: ${base} ${js[0].outcome}, ${side.label} ${js[i].outcome}`);
      for (const note of js[0].notes) console.log(`      ${base}: ${note}`);
      for (const note of js[i].notes) console.log(`      ${side.label}: ${note}`);
    }
  }
});
writeFileSync(countsFile, `${passed.join(' ')} ${names.length}\n`);
