/**
 * Reference §2.16: frames captured from keepalived 2.2.7 decode to the listed fields and our encoder
 * reproduces them byte for byte (IP header and VRRP checksums included).
 */
import { describe, expect, it } from "vitest"
import { Address, Advert, Datagram } from "../../src/index.ts"

const hex = (s: string): Uint8Array => {
  const clean = s.replace(/[^0-9a-f]/gi, "")
  const out = new Uint8Array(clean.length / 2)
  for (let i = 0; i < out.length; i++) out[i] = Number.parseInt(clean.slice(2 * i, 2 * i + 2), 16)
  return out
}
const toHex = (b: Uint8Array) => Buffer.from(b).toString("hex")

interface Vector {
  readonly name: string
  readonly ip: string
  readonly source: string
  readonly destination: string
  readonly fields: {
    version: 2 | 3
    vrid: number
    priority: number
    interval: number
    authType: number
    addresses: Array<string>
    checksum: number
    authData?: string
  }
  readonly password?: string
}

// The IPv4 datagrams of §2.16 (the "…" headers of the PASS and priority-0 lines are those of the first line,
// with the source address of the sender named in the text; their IP checksums are recomputed here).
const vectors: ReadonlyArray<Vector> = [
  {
    name: "v2 auth none, VRID 51, prio 100, 1 s",
    ip: "45c0 0028 0001 0000 ff70 d087 0a090002 e0000012 | 21 33 64 01 00 01 705d 0a090064 0000000000000000",
    source: "10.9.0.2",
    destination: "224.0.0.18",
    fields: {
      version: 2,
      vrid: 51,
      priority: 100,
      interval: 100,
      authType: 0,
      addresses: ["10.9.0.100"],
      checksum: 0x705d
    }
  },
  {
    name: "v2 PASS secret12, VRID 53, 2 s",
    ip: "45c0 0028 0001 0000 ff70 d087 0a090002 e0000012 | 21 35 64 01 01 02 01d9 0a090067 7365637265743132",
    source: "10.9.0.2",
    destination: "224.0.0.18",
    password: "secret12",
    fields: {
      version: 2,
      vrid: 53,
      priority: 100,
      interval: 200,
      authType: 1,
      addresses: ["10.9.0.103"],
      checksum: 0x01d9,
      authData: "7365637265743132"
    }
  },
  {
    name: "v2 priority 0 from 10.9.0.1",
    ip: "45c0 0028 0001 0000 ff70 d088 0a090001 e0000012 | 21 33 00 01 00 01 d45d 0a090064 0000000000000000",
    source: "10.9.0.1",
    destination: "224.0.0.18",
    fields: {
      version: 2,
      vrid: 51,
      priority: 0,
      interval: 100,
      authType: 0,
      addresses: ["10.9.0.100"],
      checksum: 0xd45d
    }
  },
  {
    name: "v3 multicast, VRID 52, 50 cs, two VIPs",
    ip: "45c0 0024 0001 0000 ff70 d08b 0a090002 e0000012 | 31 34 64 02 0032 6b1c 0a090065 0a090066",
    source: "10.9.0.2",
    destination: "224.0.0.18",
    fields: {
      version: 3,
      vrid: 52,
      priority: 100,
      interval: 50,
      authType: 0,
      addresses: ["10.9.0.101", "10.9.0.102"],
      checksum: 0x6b1c
    }
  },
  {
    name: "v3 priority 0 from 10.9.0.1",
    ip: "45c0 0024 0001 0000 ff70 d08c 0a090001 e0000012 | 31 34 00 02 0032 cf1d 0a090065 0a090066",
    source: "10.9.0.1",
    destination: "224.0.0.18",
    fields: {
      version: 3,
      vrid: 52,
      priority: 0,
      interval: 50,
      authType: 0,
      addresses: ["10.9.0.101", "10.9.0.102"],
      checksum: 0xcf1d
    }
  },
  {
    name: "v3 unicast 10.9.0.2 -> 10.9.0.1, VRID 60 (pseudo-header with the unicast destination)",
    ip: "45c0 0020 0001 0000 ff70 a698 0a090002 0a090001 | 31 3c 78 01 0064 3724 0a0900a0",
    source: "10.9.0.2",
    destination: "10.9.0.1",
    fields: {
      version: 3,
      vrid: 60,
      priority: 120,
      interval: 100,
      authType: 0,
      addresses: ["10.9.0.160"],
      checksum: 0x3724
    }
  },
  {
    name: "v2 unicast, VRID 61",
    ip: "45c0 0028 0001 0000 ff70 a690 0a090002 0a090001 | 21 3d 78 01 00 01 5c16 0a0900a1 0000000000000000",
    source: "10.9.0.2",
    destination: "10.9.0.1",
    fields: {
      version: 2,
      vrid: 61,
      priority: 120,
      interval: 100,
      authType: 0,
      addresses: ["10.9.0.161"],
      checksum: 0x5c16
    }
  }
]

describe("captured keepalived 2.2.7 adverts (reference §2.16)", () => {
  for (const v of vectors) {
    describe(v.name, () => {
      const bytes = hex(v.ip)

      it("decodes to the listed fields", () => {
        const received = Datagram.decodeIpv4(bytes, 0, bytes.length)
        if ("_tag" in received) throw new Error(received.message)
        expect(received.source).toBe(v.source)
        expect(received.destination).toBe(v.destination)
        expect(received.ttl).toBe(255)
        const r = Advert.decode(received.payload, 0, received.payload.length, "ipv4")
        if (r._tag !== "Ok") throw new Error(JSON.stringify(r.error))
        const { authData, ...fields } = v.fields
        expect(r.advert).toMatchObject({ ...fields, type: 1 })
        if (authData !== undefined) expect(toHex(r.advert.authData)).toBe(authData)
        // The checksum in the frame is the one the rules of §2.3 produce.
        const c = Advert.computeChecksum(received.payload, 0, received.payload.length, v.fields.version, {
          family: "ipv4",
          source: Address.parseIpv4(v.source)!,
          destination: Address.parseIpv4(v.destination)!
        })
        expect(c).toBe(v.fields.checksum)
      })

      it("is reproduced byte for byte by the encoder", () => {
        const out = new Uint8Array(128)
        const n = Datagram.encodeIpv4(
          {
            version: v.fields.version,
            vrid: v.fields.vrid,
            priority: v.fields.priority,
            interval: v.fields.interval,
            authType: v.fields.authType,
            authData: v.password === undefined ? undefined : Advert.passwordBytes(v.password),
            addresses: v.fields.addresses
          },
          { source: v.source, destination: v.destination, id: 1 },
          out,
          0
        )
        expect(toHex(out.subarray(0, n))).toBe(toHex(bytes))
      })
    })
  }

  it("v3 multicast without the pseudo-header would be 0x55ba (v3_checksum_as_v2)", () => {
    const bytes = hex("31 34 64 02 0032 6b1c 0a090065 0a090066")
    const ctx = {
      family: "ipv4" as const,
      source: Address.parseIpv4("10.9.0.2")!,
      destination: Address.parseIpv4("224.0.0.18")!
    }
    expect(Advert.computeChecksum(bytes, 0, bytes.length, 3, { ...ctx, checksumAsV2: true })).toBe(0x55ba)
  })

  it("v3 unicast with the multicast group in the pseudo-header would be 0x611b (keepalived <= 1.3.6)", () => {
    const bytes = hex("31 3c 78 01 0064 3724 0a0900a0")
    const c = Advert.computeChecksum(bytes, 0, bytes.length, 3, {
      family: "ipv4",
      source: Address.parseIpv4("10.9.0.2")!,
      destination: Address.parseIpv4("224.0.0.18")!
    })
    expect(c).toBe(0x611b)
  })
})
