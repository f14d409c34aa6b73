#!/usr/bin/env node
/**
 * `genhash` command: MD5 of an HTTP(S) body, keepalived-compatible options and output.
 *
 * @example
 * ```sh
 * genhash -s 127.0.0.1 -p 8080 -u /index.html
 * ```
 * @since 0.1.0
 */
import * as Effect from "effect/Effect"
import * as Genhash from "../Genhash.ts"

Effect.runPromise(Genhash.main(process.argv.slice(2))).then((code) => {
  process.exitCode = code
})
