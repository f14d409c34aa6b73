/**
 * Runs tshark as an independent oracle: frames are written to one pcap per run (tshark starts slowly), dissected
 * with every checksum check on, and each frame's fields and expert infos are returned.
 *
 * The suites install nothing: when tshark is missing they fail under `CI=true` (CI installs Debian's `tshark`) and
 * skip with a message otherwise, see {@link tsharkGate}.
 *
 * @module
 */
import { spawnSync } from "node:child_process"
import { mkdtempSync, rmSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { writePcap } from "./pcap.ts"

/** tshark's field values for one frame: field name to its values in dissection order (outer header first). */
export type Fields = Readonly<Record<string, ReadonlyArray<string>>>

/** Expert info severities (epan/proto.h PI_*), as tshark prints them in JSON. */
export const Severity = {
  Comment: 0x00100000,
  Chat: 0x00200000,
  Note: 0x00400000,
  Warning: 0x00600000,
  Error: 0x00800000
} as const

/** Expert info groups (epan/proto.h PI_*). */
export const Group = {
  Checksum: 0x01000000,
  Sequence: 0x02000000,
  ResponseCode: 0x03000000,
  RequestCode: 0x04000000,
  Undecoded: 0x05000000,
  Reassemble: 0x06000000,
  Malformed: 0x07000000,
  Debug: 0x08000000,
  Protocol: 0x09000000,
  Security: 0x0a000000,
  Comments: 0x0b000000,
  Decryption: 0x0c000000,
  Assumption: 0x0d000000,
  Deprecated: 0x0e000000
} as const

const groupName = (group: number): string =>
  Object.entries(Group).find(([, v]) => v === group)?.[0] ?? `0x${group.toString(16)}`
const severityName = (severity: number): string =>
  Object.entries(Severity).find(([, v]) => v === severity)?.[0] ?? `0x${severity.toString(16)}`

/** One expert info item. */
export interface Expert {
  /** The expert field, e.g. `ip.checksum_bad.expert`, `_ws.malformed.expert`. */
  readonly field: string
  readonly message: string
  readonly severity: number
  readonly group: number
}

/** tshark's view of one frame. */
export interface Dissection {
  readonly index: number
  readonly protocols: string
  readonly fields: Fields
  readonly experts: ReadonlyArray<Expert>
  /** tshark hit a malformed-packet exception somewhere in this frame. */
  readonly malformed: boolean
}

/** Checksum validation preferences of this tshark (ICMP, ICMPv6 and GRE checksums are always verified; SCTP uses CRC32c). */
export const CHECKSUM_PREFS = [
  "-o",
  "ip.check_checksum:TRUE",
  "-o",
  "tcp.check_checksum:TRUE",
  "-o",
  "udp.check_checksum:TRUE",
  "-o",
  "sctp.checksum:CRC 32c"
] as const

/**
 * Preferences of the oracle runs: no reassembly and no TCP sequence analysis (unrelated frames of one batch share
 * 4-tuples and fragment ids), and TCP/UDP/SCTP payloads decoded as plain data so that random payloads on well-known
 * ports do not set off application dissectors: the oracle judges L2-L4 only.
 */
export const ORACLE_PREFS = [
  ...CHECKSUM_PREFS,
  "-o",
  "ip.defragment:FALSE",
  "-o",
  "ipv6.defragment:FALSE",
  "-o",
  "tcp.analyze_sequence_numbers:FALSE",
  "-o",
  "tcp.desegment_tcp_streams:FALSE",
  "-d",
  "tcp.port==1-65535,data",
  "-d",
  "udp.port==1-65535,data",
  "-d",
  "sctp.port==1-65535,data"
] as const

/** Whether tshark can be run here. */
export interface Availability {
  readonly ok: boolean
  readonly detail: string
}

/** The tshark binary: `$TSHARK` if set (another build, or a missing path to try the gate), else `tshark`. */
const TSHARK = process.env["TSHARK"] ?? "tshark"

let cached: Availability | undefined

/**
 * Checks once whether `tshark` is on the PATH and runs.
 *
 * @example
 * ```ts
 * if (!tsharkAvailability().ok) console.log(tsharkAvailability().detail)
 * ```
 */
export const tsharkAvailability = (): Availability => {
  if (cached) return cached
  const r = spawnSync(TSHARK, ["--version"], { encoding: "utf8" })
  if (r.error || r.status !== 0) {
    cached = {
      ok: false,
      detail: `tshark (${TSHARK}) is not installed or does not run (${r.error?.message ?? `exit ${r.status}`}); install the Debian package "tshark"`
    }
  } else {
    cached = { ok: true, detail: r.stdout.split("\n")[0] ?? "tshark" }
  }
  return cached
}

/**
 * How a suite should treat tshark: run, skip (not in CI, with a message), or fail (in CI, where CI=true promises
 * tshark is installed).
 *
 * @example
 * ```ts
 * const gate = tsharkGate()
 * describe.skipIf(gate === "skip")("tshark oracle", () => { ... })
 * ```
 */
export const tsharkGate = (): "run" | "skip" | "fail" => {
  const a = tsharkAvailability()
  if (a.ok) return "run"
  if (process.env["CI"] === "true") return "fail"
  console.warn(`[packet conformance] skipping tshark checks: ${a.detail} (they fail instead when CI=true)`)
  return "skip"
}

type Json = string | number | boolean | null | ReadonlyArray<Json> | { readonly [key: string]: Json }

const collect = (
  node: { readonly [key: string]: Json },
  fields: Record<string, Array<string>>,
  experts: Array<Expert>
) => {
  for (const [key, value] of Object.entries(node)) {
    const values: ReadonlyArray<Json> = Array.isArray(value) ? value : [value as Json]
    for (const v of values) {
      if (v !== null && typeof v === "object" && !Array.isArray(v)) {
        const obj = v as { readonly [key: string]: Json }
        if (key === "_ws.expert") {
          const field = Object.keys(obj).find((k) => !k.startsWith("_ws.expert")) ?? "?"
          experts.push({
            field,
            message: String(obj["_ws.expert.message"] ?? ""),
            severity: Number(obj["_ws.expert.severity"] ?? 0),
            group: Number(obj["_ws.expert.group"] ?? 0)
          })
        }
        collect(obj, fields, experts)
      } else if (typeof v === "string") {
        const list = fields[key]
        if (list) list.push(v)
        else fields[key] = [v]
      }
    }
  }
}

/**
 * Dissects frames with tshark (one process for the whole batch) and returns one {@link Dissection} per frame.
 *
 * @example
 * ```ts
 * const [d] = dissect([frame])
 * expect(problems(d)).toEqual([])
 * ```
 */
export const dissect = (
  frames: ReadonlyArray<Uint8Array>,
  prefs: ReadonlyArray<string> = ORACLE_PREFS
): ReadonlyArray<Dissection> => {
  if (frames.length === 0) return []
  const dir = mkdtempSync(join(tmpdir(), "packet-tshark-"))
  try {
    const file = join(dir, "frames.pcap")
    writeFileSync(file, writePcap(frames))
    const r = spawnSync(TSHARK, ["-n", "-r", file, ...prefs, "-T", "json", "--no-duplicate-keys"], {
      encoding: "utf8",
      maxBuffer: 1 << 30
    })
    if (r.error) throw new Error(`tshark failed to start: ${r.error.message}`)
    if (r.status !== 0) throw new Error(`tshark exited with ${r.status}: ${r.stderr}`)
    const packets = JSON.parse(r.stdout) as ReadonlyArray<{
      readonly _source: { readonly layers: { readonly [key: string]: Json } }
    }>
    if (packets.length !== frames.length) {
      throw new Error(`tshark dissected ${packets.length} frames of ${frames.length}`)
    }
    return packets.map((p, index) => {
      const fields: Record<string, Array<string>> = {}
      const experts: Array<Expert> = []
      collect(p._source.layers, fields, experts)
      return {
        index,
        protocols: fields["frame.protocols"]?.[0] ?? "",
        fields,
        experts,
        malformed: "_ws.malformed" in p._source.layers || experts.some((e) => e.group === Group.Malformed)
      }
    })
  } finally {
    rmSync(dir, { recursive: true, force: true })
  }
}

/**
 * What tshark objects to in a frame: malformed-packet exceptions, bad checksums, and expert infos of severity
 * warning or error in any group except Sequence (TCP "Connection reset (RST)" is a Sequence warning and exactly
 * what a RST builder should produce). Empty means clean.
 *
 * @example
 * ```ts
 * expect(dissect(frames).flatMap(problems)).toEqual([])
 * ```
 */
export const problems = (d: Dissection, label = `frame ${d.index}`): ReadonlyArray<string> => {
  const out: Array<string> = []
  if (d.malformed) out.push(`${label}: malformed packet (${d.protocols})`)
  for (const [field, values] of Object.entries(d.fields)) {
    // proto_checksum status: 0 bad, 1 good, 2 unverified, 3 not present, 4 illegal (e.g. UDP checksum 0 on IPv6).
    if (field.endsWith("checksum.status") && values.some((v) => v === "0" || v === "4")) {
      out.push(`${label}: ${field} = ${values.join(",")} (0 bad, 4 illegal) in ${d.protocols}`)
    }
  }
  for (const e of d.experts) {
    if (e.severity >= Severity.Warning && e.group !== Group.Sequence) {
      out.push(
        `${label}: expert ${severityName(e.severity)}/${groupName(e.group)} ${e.field}: ${e.message} (${d.protocols})`
      )
    }
  }
  return out
}
