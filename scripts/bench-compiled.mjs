// Runs a package's benchmark entry point as compiled JavaScript, the way the packages' users run them (dist/),
// instead of through Node's TypeScript type stripping. From a package directory:
//
//   node --expose-gc ../../scripts/bench-compiled.mjs bench/index.ts [args...]
//
// Why it matters: Node strips types with a WebAssembly module, and growing a WebAssembly memory detaches the old
// ArrayBuffer. The first detach anywhere in a process invalidates V8's "array buffer detaching" protector for good,
// and from then on optimized code checks the detached bit of the buffer on every typed-array access (49 extra
// test-and-branch pairs in lookupInBatch alone). That is a cost of the development harness, not of the table:
// compiled JavaScript that does not detach buffers never pays it. Measured on the reference VM with conntrack's bench
// (CONNTRACK_BENCH_MAX=1100000, alternating runs with and without BENCH_DETACH=1), batched lookups at 1 M entries:
// 11.6-12.8 M/s best compiled, 10.5-10.7 with a buffer detached first (packages/conntrack/README.md, Session 6).
// A process that does detach a buffer (a WebAssembly memory that grows, an ArrayBuffer transferred to a worker)
// gets the lower figure; BENCH_DETACH=1 makes the benchmark measure that case.
//
// esbuild bundles the entry point, the workspace packages it imports (their sources, as the @lvs-ts/source
// condition selects) and its dependencies into the package's bench/dist/ (git-ignored). Nothing is type-checked here:
// `pnpm check` does that. Used by @lvs-ts/conntrack's bench. Benchmarks that start workers or child processes from
// source paths (lvs, checkers) could not use it as is: a bundle would not contain their workers.
import { basename, dirname, join, resolve } from "node:path"
import { pathToFileURL } from "node:url"
import { buildSync } from "esbuild"

const entry = process.argv[2]
if (entry === undefined) {
  console.error("usage: node [node options] scripts/bench-compiled.mjs <bench/entry.ts> [args...]")
  process.exit(2)
}
const outfile = join(dirname(resolve(entry)), "dist", basename(entry).replace(/\.ts$/, ".mjs"))
buildSync({
  entryPoints: [entry],
  bundle: true,
  platform: "node",
  format: "esm",
  target: "node22",
  conditions: ["@lvs-ts/source"],
  outfile,
  logLevel: "warning"
})
process.argv.splice(2, 1)
if (process.env["BENCH_DETACH"] === "1") {
  // Detach one buffer, as a growing WebAssembly memory does: every typed-array access checks for detachment now.
  new WebAssembly.Memory({ initial: 1, maximum: 2 }).grow(1)
  console.log("BENCH_DETACH=1: an ArrayBuffer was detached first; typed-array accesses check for it")
}
await import(pathToFileURL(outfile).href)
