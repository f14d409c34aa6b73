// Runs every vitest project once and ends with one plain summary line ("N passed, N failed, N skipped")
// that CI reads. Skipped tests are listed by name so nothing is skipped silently.
import { spawnSync } from "node:child_process"
import { mkdtempSync, readFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"

interface AssertionResult {
  readonly fullName: string
  readonly status: string
}
interface Report {
  readonly testResults: ReadonlyArray<{
    readonly name: string
    readonly assertionResults: ReadonlyArray<AssertionResult>
  }>
}

const out = join(mkdtempSync(join(tmpdir(), "lvs-test-")), "report.json")
const run = spawnSync(
  "vitest",
  ["run", "--reporter=default", "--reporter=json", `--outputFile.json=${out}`, ...process.argv.slice(2)],
  { stdio: "inherit", env: process.env }
)

let passed = 0
let failed = 0
let skipped = 0
const skippedNames: Array<string> = []
try {
  const report = JSON.parse(readFileSync(out, "utf8")) as Report
  for (const file of report.testResults) {
    for (const a of file.assertionResults) {
      if (a.status === "passed") passed++
      else if (a.status === "failed") failed++
      else {
        skipped++
        skippedNames.push(`${file.name}: ${a.fullName}`)
      }
    }
  }
} catch (e) {
  console.error(`could not read the vitest JSON report: ${String(e)}`)
  failed++
}
if (skippedNames.length > 0) {
  console.log("\nSkipped tests:")
  for (const n of skippedNames) console.log(`  - ${n}`)
}
console.log(`\n${passed} passed, ${failed} failed, ${skipped} skipped`)
process.exit(run.status === 0 && failed === 0 ? 0 : 1)
