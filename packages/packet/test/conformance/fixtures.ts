/**
 * Loads the golden captures of `test/fixtures/` with the tshark dissection stored next to each at capture time.
 *
 * @module
 */
import { readdirSync, readFileSync } from "node:fs"
import { fileURLToPath } from "node:url"
import { type PcapFile, readPcap } from "./pcap.ts"
import type { Fields } from "./tshark.ts"

/** Absolute path of `test/fixtures/`. */
export const FIXTURES_DIR = fileURLToPath(new URL("../fixtures/", import.meta.url))

/** One capture and the expected values tshark reported for each of its frames. */
export interface Fixture {
  readonly name: string
  readonly pcap: PcapFile
  readonly expected: ReadonlyArray<Fields>
}

/**
 * Names of all captures (`<name>.pcap`), sorted.
 *
 * @example
 * ```ts
 * fixtureNames() // ["arp-ping4", "gre", ...]
 * ```
 */
export const fixtureNames = (): ReadonlyArray<string> =>
  readdirSync(FIXTURES_DIR)
    .filter((f) => f.endsWith(".pcap"))
    .map((f) => f.slice(0, -".pcap".length))
    .sort()

/**
 * Reads `<name>.pcap` and `<name>.tshark.json`; fails loudly if they disagree on the number of frames.
 *
 * @example
 * ```ts
 * const { pcap, expected } = loadFixture("tcp4-http")
 * ```
 */
export const loadFixture = (name: string): Fixture => {
  const pcap = readPcap(readFileSync(`${FIXTURES_DIR}${name}.pcap`))
  const expected = JSON.parse(readFileSync(`${FIXTURES_DIR}${name}.tshark.json`, "utf8")) as ReadonlyArray<Fields>
  if (expected.length !== pcap.records.length) {
    throw new Error(`fixture ${name}: ${pcap.records.length} frames but ${expected.length} tshark records`)
  }
  return { name, pcap, expected }
}

/**
 * Every fixture, loaded.
 *
 * @example
 * ```ts
 * for (const f of allFixtures()) console.log(f.name, f.pcap.records.length)
 * ```
 */
export const allFixtures = (): ReadonlyArray<Fixture> => fixtureNames().map(loadFixture)
