// Compares two runs of the conformance suite's server scenarios (./run): the upstream on its own
// and the same upstream through att.
//
//   node tally.mjs DIRECT_DIR DIRECT_LOG ATT_DIR ATT_LOG COUNTS_FILE
//
// Each DIR is the suite's --output-dir (one `server-<scenario>-<timestamp>/checks.json` per
// scenario); each LOG its stdout, whose `=== Running scenario: X ===` lines give the scenarios it
// ran (a scenario without a checks.json failed to run at all). A scenario passes, as in the
// suite's own summary, when none of its checks is a FAILURE (a WARNING is shown, not counted).
// Prints every scenario's outcome on both sides, then the ones that differ with the suite's
// messages, and writes "DIRECT_PASSED ATT_PASSED TOTAL" to COUNTS_FILE for ./run's verdict.

import { existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

const [directDir, directLog, attDir, attLog, countsFile] = process.argv.slice(2);

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

const direct = results(directDir);
const viaAtt = results(attDir);
const names = [...new Set([...scenariosRun(directLog), ...scenariosRun(attLog)])];

const rows = names.map((name) => ({ name, d: judge(direct.get(name)), a: judge(viaAtt.get(name)) }));
const passes = (j) => j.outcome !== 'FAIL';
const directPassed = rows.filter((r) => passes(r.d)).length;
const attPassed = rows.filter((r) => passes(r.a)).length;

const width = Math.max(8, ...names.map((n) => n.length));
const line = (name, d, a) => `  ${name.padEnd(width)}  ${d.padEnd(12)}  ${a}`;
console.log(line('scenario', 'direct', 'via att'));
for (const { name, d, a } of rows) {
  console.log(line(name, `${d.outcome} ${d.checks}`, `${a.outcome} ${a.checks}`));
}

// The scenarios that count against att (it fails what the upstream passes on its own), then
// the other differences (e.g. a warning on one side only, or att passing what the upstream fails).
const worse = rows.filter((r) => passes(r.d) && !passes(r.a));
const other = rows.filter((r) => !worse.includes(r) && r.d.outcome !== r.a.outcome);
console.log();
console.log(`conformance: ${worse.length} scenario(s) pass directly but fail through att${worse.length ? ':' : ''}`);
for (const { name, a } of worse) {
  console.log(`  ${name}`);
  for (const note of a.notes) console.log(`      ${note}`);
}
if (other.length) {
  console.log(`conformance: ${other.length} other difference(s), not counted against att:`);
  for (const { name, d, a } of other) {
    console.log(`  ${name}: direct ${d.outcome}, via att ${a.outcome}`);
    for (const note of d.notes) console.log(`      direct: ${note}`);
    for (const note of a.notes) console.log(`      via att: ${note}`);
  }
}
writeFileSync(countsFile, `${directPassed} ${attPassed} ${names.length}\n`);
