/**
 * `genhash`: fetch a url once and print the MD5 of the HTTP body (headers excluded) as 32 lowercase hex digits,
 * the value to put in a url's `digest`.
 *
 * Mirrors keepalived's `genhash` (`keepalived --genhash` / `-T`, `check_genhash.c`, man page genhash(1)):
 * options `-s/--server ADDR`, `-p/--port`, `-u/--url PATH`, `-S/--use-ssl`, `-I/--use-sni`,
 * `-V/--use-virtualhost HOST`, `-P/--protocol 1.0|1.0c|1.1`, `-t/--timeout SECS`, `-m/--fwmark N`,
 * `-v/--verbose`, `-h/--help`; a leading `-T`/`--genhash` is accepted and ignored. With `-v` it also dumps the
 * header buffer, the HTML buffer and the hash in hex/ASCII. `-m` is accepted but SO_MARK is not available from
 * Node, so a warning is printed.
 *
 * @since 0.1.0
 */
import * as Effect from "effect/Effect"
import * as HttpCheck from "./HttpCheck.ts"

/**
 * Parsed options.
 *
 * @example
 * ```ts
 * import type { Genhash } from "@lvs-ts/checkers"
 * const o: Genhash.Options = { server: "127.0.0.1", port: 80, url: "/", ssl: false, sni: false, protocol: "1.0",
 *   timeoutMs: 5000, verbose: false, virtualhost: undefined, fwmark: undefined }
 * ```
 * @since 0.1.0
 */
export interface Options {
  readonly server: string
  readonly port: number
  readonly url: string
  readonly ssl: boolean
  readonly sni: boolean
  readonly virtualhost: string | undefined
  readonly protocol: "1.0" | "1.0C" | "1.1"
  readonly timeoutMs: number
  readonly fwmark: number | undefined
  readonly verbose: boolean
}

/**
 * Usage text.
 *
 * @example
 * ```ts
 * import { Genhash } from "@lvs-ts/checkers"
 * console.log(Genhash.usage.split("\n")[0])
 * ```
 * @since 0.1.0
 */
export const usage = `Usage: genhash COMMAND [OPTIONS]
Commands:
   -s server-address -p port -u url
   -S -s server-address -p port -u url
   -h
Options:
Either long or short options are allowed.
   --use-ssl         -S       Use SSL connection to remote server.
   --server          -s       Use the specified remote server address.
   --port            -p       Use the specified remote server port.
   --url             -u       Use the specified remote server url.
   --use-virtualhost -V       Use the specified virtualhost in GET query.
   --use-sni         -I       Use SNI during SSL handshake (uses virtualhost setting; see -V).
   --verbose         -v       Use verbose mode output.
   --help            -h       Display this short inlined help screen.
   --fwmark          -m       Use the specified FW mark.
   --protocol        -P       Use the specified HTTP protocol - '1.0', 1.0c', '1.1'.
   --timeout         -t       Timeout in seconds`

/**
 * Parse genhash's command line; returns the options, `"help"`, or an error message.
 *
 * @example
 * ```ts
 * import { Genhash } from "@lvs-ts/checkers"
 * const o = Genhash.parse(["-s", "127.0.0.1", "-p", "8080", "-u", "/index.html"])
 * console.log(typeof o === "object" && o.port) // 8080
 * ```
 * @since 0.1.0
 */
export const parse = (argv: ReadonlyArray<string>): Options | "help" | { readonly error: string } => {
  const long: Record<string, string> = {
    "--use-ssl": "-S",
    "--server": "-s",
    "--port": "-p",
    "--url": "-u",
    "--use-virtualhost": "-V",
    "--use-sni": "-I",
    "--verbose": "-v",
    "--help": "-h",
    "--fwmark": "-m",
    "--protocol": "-P",
    "--timeout": "-t",
    "--genhash": "-T"
  }
  const args = [...argv]
  let server: string | undefined
  let port: number | undefined
  let url: string | undefined
  let ssl = false
  let sni = false
  let verbose = false
  let virtualhost: string | undefined
  let protocol: Options["protocol"] = "1.0"
  let timeoutMs = 5000
  let fwmark: number | undefined
  while (args.length > 0) {
    let a = args.shift()!
    let inline: string | undefined
    const eq = a.indexOf("=")
    if (a.startsWith("--") && eq > 0) {
      inline = a.slice(eq + 1)
      a = a.slice(0, eq)
    }
    const opt = long[a] ?? a
    const value = (): string | undefined => inline ?? args.shift()
    switch (opt) {
      case "-T":
        break
      case "-h":
        return "help"
      case "-S":
        ssl = true
        break
      case "-I":
        sni = true
        break
      case "-v":
        verbose = true
        break
      case "-s":
        server = value()
        break
      case "-p": {
        const v = Number(value())
        if (!Number.isInteger(v) || v < 1 || v > 65535) return { error: `invalid port '${v}'` }
        port = v
        break
      }
      case "-u":
        url = value()
        break
      case "-V":
        virtualhost = value()
        break
      case "-P": {
        const v = (value() ?? "").toLowerCase()
        if (v === "1.0") protocol = "1.0"
        else if (v === "1.0c") protocol = "1.0C"
        else if (v === "1.1") protocol = "1.1"
        else return { error: `invalid protocol '${v}' - should be 1.0, 1.0c or 1.1` }
        break
      }
      case "-t": {
        const v = Number(value())
        if (!(v > 0)) return { error: `invalid timeout '${v}'` }
        timeoutMs = v * 1000
        break
      }
      case "-m": {
        const v = Number(value())
        if (!Number.isInteger(v) || v < 0) return { error: `invalid fwmark '${v}'` }
        fwmark = v
        break
      }
      default:
        return { error: `Unknown option '${a}'` }
    }
  }
  if (server === undefined || port === undefined || url === undefined) {
    return { error: "server, port and url must be given (-s -p -u)" }
  }
  return { server, port, url, ssl, sni, virtualhost, protocol, timeoutMs, fwmark, verbose }
}

const dump = (bytes: Uint8Array): string => {
  const lines: Array<string> = []
  for (let o = 0; o < bytes.length; o += 16) {
    const chunk = bytes.subarray(o, o + 16)
    const hex = [...chunk].map((b) => b.toString(16).padStart(2, "0")).join(" ")
    const ascii = [...chunk].map((b) => (b >= 0x20 && b < 0x7f ? String.fromCharCode(b) : ".")).join("")
    lines.push(`${o.toString(16).padStart(4, "0")} ${hex.padEnd(48)} ${ascii}`)
  }
  return lines.join("\n")
}

/**
 * Fetch and hash; the result is the text genhash prints on stdout (the digest line, preceded by the dumps with
 * `verbose`). Fails with the message genhash prints on stderr.
 *
 * @example
 * ```ts
 * import { Effect } from "effect"
 * import { Genhash } from "@lvs-ts/checkers"
 * const o = Genhash.parse(["-s", "127.0.0.1", "-p", "8080", "-u", "/"])
 * if (typeof o === "object" && !("error" in o)) Effect.runPromise(Genhash.run(o)).then(console.log)
 * ```
 * @since 0.1.0
 */
export const run = (options: Options): Effect.Effect<string, string> =>
  HttpCheck.fetch({
    host: options.server,
    port: options.port,
    path: options.url,
    protocol: options.protocol,
    virtualhost: options.virtualhost,
    ssl: options.ssl,
    sni: options.ssl && options.sni ? (options.virtualhost ?? options.server) : undefined,
    timeoutMs: options.timeoutMs
  }).pipe(
    Effect.flatMap((raw) => {
      if (raw.length === 0) return Effect.fail("no data received from remote webserver")
      const response = HttpCheck.parseResponse(raw)
      if (response === undefined) return Effect.fail("no data received from remote webserver")
      const digest = HttpCheck.md5(response.body)
      if (!options.verbose) return Effect.succeed(digest)
      const headerLen = raw.length - response.body.length
      return Effect.succeed(
        [
          "-----------------------[    HTTP Header Buffer    ]-----------------------",
          dump(raw.subarray(0, headerLen)),
          "-----------------------[ HTTP Header Ascii Buffer ]-----------------------",
          response.headers,
          "-----------------------[        HTML Buffer        ]-----------------------",
          dump(response.body),
          "-----------------------[    HTML hash resulting    ]-----------------------",
          dump(Buffer.from(digest, "hex")),
          "-----------------------[ HTML hash final resulting ]-----------------------",
          digest
        ].join("\n")
      )
    })
  )

/**
 * The command: parse `argv`, print to stdout/stderr, return the exit status.
 *
 * @example
 * ```ts
 * import { Effect } from "effect"
 * import { Genhash } from "@lvs-ts/checkers"
 * Effect.runPromise(Genhash.main(["-h"])).then((code) => process.exit(code))
 * ```
 * @since 0.1.0
 */
export const main = (argv: ReadonlyArray<string>): Effect.Effect<number> =>
  Effect.suspend(() => {
    const o = parse(argv)
    if (o === "help") {
      process.stdout.write(`${usage}\n`)
      return Effect.succeed(0)
    }
    if ("error" in o) {
      process.stderr.write(`${o.error}\n${usage}\n`)
      return Effect.succeed(1)
    }
    if (o.fwmark !== undefined)
      process.stderr.write("warning: fwmark (SO_MARK) is not supported by Node sockets; ignored\n")
    return run(o).pipe(
      Effect.map((out) => {
        process.stdout.write(`${out}\n`)
        return 0
      }),
      Effect.catch((e) =>
        Effect.sync(() => {
          process.stderr.write(`${e}\n`)
          return 1
        })
      )
    )
  })
