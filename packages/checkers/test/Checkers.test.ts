import * as crypto from "node:crypto"
import * as fs from "node:fs"
import * as net from "node:net"
import * as os from "node:os"
import * as path from "node:path"
import {
  Config,
  DnsCheck,
  FileCheck,
  HttpCheck,
  MiscCheck,
  PingCheck,
  type Probe,
  Script,
  SmtpCheck,
  TcpCheck,
  UdpCheck
} from "@lvs-ts/checkers"
import { Effect } from "effect"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import * as S from "./helpers/servers.ts"

const resolve = (
  checker: Config.Checker,
  port: number,
  extra: Partial<Config.RealServer> = {},
  vs: Partial<Config.VirtualServer> = {}
) =>
  Config.resolve(
    { realServers: [], connectTimeout: "2 seconds", ...vs },
    { address: "127.0.0.1", port, checkers: [], ...extra },
    checker
  )
const run = (e: Effect.Effect<Probe.Result>) => Effect.runPromise(e)
const md5 = (s: string) => crypto.createHash("md5").update(s).digest("hex")

describe("TCP_CHECK against real listeners", () => {
  let http: Awaited<ReturnType<typeof S.httpServer>>
  beforeAll(async () => {
    http = await S.httpServer()
  })
  afterAll(() => http.close())

  it("passes when the connection is established", async () => {
    expect(await run(TcpCheck.probe(resolve({ type: "TCP_CHECK" }, http.port)))).toMatchObject({ ok: true })
  })

  it("fails on a refused connection with keepalived's line", async () => {
    const port = await S.closedTcpPort()
    expect(await run(TcpCheck.probe(resolve({ type: "TCP_CHECK" }, port)))).toEqual({
      ok: false,
      reason: "Refused",
      message: `TCP connection to [127.0.0.1]:tcp:${port} failed.`,
      contribution: undefined
    })
  })

  it("times out against a listener that does not accept, and passes once it accepts", async () => {
    const late = await S.lateListener()
    try {
      const r = resolve({ type: "TCP_CHECK", connectTimeout: "300 millis" }, late.port)
      const t0 = Date.now()
      const res = await run(TcpCheck.probe(r))
      expect(res).toMatchObject({
        ok: false,
        reason: "Timeout",
        message: `TCP connection to [127.0.0.1]:tcp:${late.port} timedout.`
      })
      expect(Date.now() - t0).toBeGreaterThanOrEqual(280)
      await late.startAccepting()
      await new Promise((r) => setTimeout(r, 50))
      expect(
        await run(TcpCheck.probe(resolve({ type: "TCP_CHECK", connectTimeout: "3 seconds" }, late.port)))
      ).toMatchObject({
        ok: true
      })
    } finally {
      await late.close()
    }
  })

  it("connect_ip/connect_port override the real server; bindto/bind_port set the source", async () => {
    const peers: Array<string> = []
    const server = net.createServer((s) => {
      peers.push(`${s.remoteAddress}:${s.remotePort}`)
      s.destroy()
    })
    await new Promise<void>((r) => server.listen(0, "127.0.0.1", () => r()))
    const port = (server.address() as net.AddressInfo).port
    const closed = await S.closedTcpPort()
    const bindPort = 20000 + Math.floor(Math.random() * 20000)
    const r = Config.resolve(
      { realServers: [] },
      { address: "127.0.0.9", port: closed, checkers: [] },
      { type: "TCP_CHECK", connectIp: "127.0.0.1", connectPort: port, bindTo: "127.0.0.2", bindPort }
    )
    expect(await run(TcpCheck.probe(r))).toMatchObject({ ok: true })
    await new Promise((r) => setTimeout(r, 50))
    expect(peers).toEqual([`127.0.0.2:${bindPort}`])
    await new Promise<void>((r) => server.close(() => r()))
  })
})

describe("HTTP_GET against a real Node http server", () => {
  let http: Awaited<ReturnType<typeof S.httpServer>>
  beforeAll(async () => {
    http = await S.httpServer()
  })
  afterAll(() => http.close())
  const get = (
    urls: Array<Config.Url>,
    extra: Partial<Extract<Config.Checker, { type: "HTTP_GET" | "SSL_GET" }>> = {}
  ) => resolve({ type: "HTTP_GET", urls, ...extra }, http.port)

  it("passes with status 200, the body's MD5 digest and a regex", async () => {
    const res = await run(HttpCheck.probe(get([{ path: "/", digest: md5(S.BODY), regex: "checker\\s+test" }]), 0))
    expect(res).toMatchObject({ ok: true, message: `Regex match success to [127.0.0.1]:tcp:${http.port} url(/)` })
  })

  it("fails on a wrong status code", async () => {
    expect(await run(HttpCheck.probe(get([{ path: "/fail" }]), 0))).toMatchObject({
      ok: false,
      reason: "StatusCode",
      message: `HTTP status code error to server [127.0.0.1]:tcp:${http.port}.`
    })
  })

  it("status_code lists and ranges replace the 200-299 default", async () => {
    expect((await run(HttpCheck.probe(get([{ path: "/redirect" }]), 0))).ok).toBe(false)
    expect((await run(HttpCheck.probe(get([{ path: "/redirect", statusCode: ["300-399"] }]), 0))).ok).toBe(true)
    expect((await run(HttpCheck.probe(get([{ path: "/fail", statusCode: [200, 500] }]), 0))).ok).toBe(true)
  })

  it("fails on a digest mismatch", async () => {
    expect(await run(HttpCheck.probe(get([{ path: "/", digest: md5("something else") }]), 0))).toMatchObject({
      ok: false,
      reason: "Digest",
      message: `MD5 digest error to server [127.0.0.1]:tcp:${http.port}.`
    })
  })

  it("fails on a regex miss, and regex_no_match inverts", async () => {
    expect(await run(HttpCheck.probe(get([{ path: "/", regex: "not there" }]), 0))).toMatchObject({
      ok: false,
      reason: "Regex",
      message: `Regex match failed server [127.0.0.1]:tcp:${http.port}.`
    })
    expect((await run(HttpCheck.probe(get([{ path: "/", regex: "not there", regexNoMatch: true }]), 0))).ok).toBe(true)
    // offsets bound where the match may start
    expect((await run(HttpCheck.probe(get([{ path: "/", regex: "html", regexMinOffset: 2 }]), 0))).ok).toBe(true)
    expect((await run(HttpCheck.probe(get([{ path: "/", regex: "<html>", regexMinOffset: 1 }]), 0))).ok).toBe(false)
    expect((await run(HttpCheck.probe(get([{ path: "/", regex: "page", regexMaxOffset: 10 }]), 0))).ok).toBe(false)
  })

  it("fails when no data is received", async () => {
    expect(await run(HttpCheck.probe(get([{ path: "/empty" }]), 0))).toMatchObject({
      ok: false,
      reason: "NoData",
      message: `Read, no data received from server [127.0.0.1]:tcp:${http.port}.`
    })
  })

  it("a response that never comes is cut at connect_timeout", async () => {
    expect(await run(HttpCheck.probe(get([{ path: "/hang" }], { connectTimeout: "300 millis" }), 0))).toMatchObject({
      ok: false,
      reason: "Timeout",
      message: `Timeout connecting server [127.0.0.1]:tcp:${http.port}.`
    })
  })

  it("refused connection", async () => {
    const port = await S.closedTcpPort()
    expect(await run(HttpCheck.probe(resolve({ type: "HTTP_GET", urls: [{ path: "/" }] }, port), 0))).toMatchObject({
      ok: false,
      reason: "Refused",
      message: `Error connecting server [127.0.0.1]:tcp:${port}.`
    })
  })

  it("virtualhost precedence url > checker > real_server > virtual_server, default Host ip:port", async () => {
    const host = async (r: Config.Resolved) => {
      http.seen.length = 0
      await run(HttpCheck.probe(r, 0))
      return http.seen[0]!.host
    }
    const c = (u: Partial<Config.Url>, ck: Partial<Extract<Config.Checker, { type: "HTTP_GET" | "SSL_GET" }>> = {}) =>
      ({ type: "HTTP_GET", urls: [{ path: "/host", ...u }], ...ck }) as Config.Checker
    expect(await host(resolve(c({}), http.port))).toBe(`127.0.0.1:${http.port}`)
    expect(await host(resolve(c({}), http.port, {}, { virtualhost: "vs.example" }))).toBe("vs.example")
    expect(await host(resolve(c({}), http.port, { virtualhost: "rs.example" }, { virtualhost: "vs.example" }))).toBe(
      "rs.example"
    )
    expect(await host(resolve(c({}, { virtualhost: "ck.example" }), http.port, { virtualhost: "rs.example" }))).toBe(
      "ck.example"
    )
    expect(await host(resolve(c({ virtualhost: "url.example" }, { virtualhost: "ck.example" }), http.port))).toBe(
      "url.example"
    )
  })

  it("builds keepalived's request for 1.0, 1.0C and 1.1", () => {
    expect(HttpCheck.request("/a", "1.0", "h")).toBe(
      "GET /a HTTP/1.0\r\nUser-Agent: KeepAliveClient\r\nHost: h\r\n\r\n"
    )
    expect(HttpCheck.request("/a", "1.0C", "h")).toBe(
      "GET /a HTTP/1.0\r\nUser-Agent: KeepAliveClient\r\nConnection: close\r\nHost: h\r\n\r\n"
    )
    expect(HttpCheck.request("/a", "1.1", "[::1]:80")).toBe(
      "GET /a HTTP/1.1\r\nUser-Agent: KeepAliveClient\r\nConnection: close\r\nHost: [::1]:80\r\n\r\n"
    )
  })

  it("HTTP/1.1 with Connection: close still hashes the body only", async () => {
    expect((await run(HttpCheck.probe(get([{ path: "/", digest: md5(S.BODY) }], { httpProtocol: "1.1" }), 0))).ok).toBe(
      true
    )
  })
})

describe("SSL_GET against a real Node https server (self-signed certificate)", () => {
  let https: Awaited<ReturnType<typeof S.httpsServer>>
  beforeAll(async () => {
    https = await S.httpsServer()
  })
  afterAll(() => https.close())

  it("passes over TLS with digest, sends SNI only with enable_sni", async () => {
    const r = resolve({ type: "SSL_GET", urls: [{ path: "/", digest: md5(S.BODY) }] }, https.port)
    expect((await run(HttpCheck.probe(r, 0))).ok).toBe(true)
    const withSni = resolve(
      { type: "SSL_GET", enableSni: true, sniName: "sni.example", urls: [{ path: "/" }] },
      https.port
    )
    expect((await run(HttpCheck.probe(withSni, 0))).ok).toBe(true)
    const vhostSni = resolve(
      { type: "SSL_GET", enableSni: true, virtualhost: "vhost.example", tlsCompliant: true, urls: [{ path: "/" }] },
      https.port
    )
    expect((await run(HttpCheck.probe(vhostSni, 0))).ok).toBe(true)
    expect(https.sni).toEqual([false, "sni.example", "vhost.example"])
  })

  it("fails on wrong status over TLS", async () => {
    const r = resolve({ type: "SSL_GET", urls: [{ path: "/fail" }] }, https.port)
    expect(await run(HttpCheck.probe(r, 0))).toMatchObject({ ok: false, reason: "StatusCode" })
  })

  it("fails when the server does not speak TLS", async () => {
    const http = await S.httpServer()
    const r = resolve({ type: "SSL_GET", urls: [{ path: "/" }] }, http.port)
    expect((await run(HttpCheck.probe(r, 0))).ok).toBe(false)
    await http.close()
  })
})

describe("SMTP_CHECK against an SMTP responder", () => {
  it("passes on 220 + 250 (also multi-line), sending HELO with the default name", async () => {
    for (const mode of ["ok", "multiline"] as const) {
      const smtp = await S.smtpServer(mode)
      expect((await run(SmtpCheck.probe(resolve({ type: "SMTP_CHECK" }, smtp.port)))).ok).toBe(true)
      expect(smtp.helos).toEqual(["HELO smtpchecker.keepalived.org"])
      await smtp.close()
    }
  })

  it("fails on a bad banner and a bad HELO reply", async () => {
    const bad = await S.smtpServer("bad-banner")
    expect(await run(SmtpCheck.probe(resolve({ type: "SMTP_CHECK" }, bad.port)))).toMatchObject({
      ok: false,
      reason: "BadBanner",
      message: `Bad greeting banner from server [127.0.0.1]:tcp:${bad.port}.`
    })
    await bad.close()
    const helo = await S.smtpServer("bad-helo")
    expect(
      await run(SmtpCheck.probe(resolve({ type: "SMTP_CHECK", heloName: "me.example" }, helo.port)))
    ).toMatchObject({
      ok: false,
      reason: "BadHelo",
      message: `Bad HELO response from server [127.0.0.1]:tcp:${helo.port}.`
    })
    expect(helo.helos).toEqual(["HELO me.example"])
    await helo.close()
  })
})

describe("DNS_CHECK against a UDP DNS responder", () => {
  it("passes on a matching NOERROR answer and encodes the query by hand", async () => {
    const dns = await S.dnsServer("ok")
    const r = resolve({ type: "DNS_CHECK", queryType: "A", name: "www.example.org" }, dns.port)
    expect((await run(DnsCheck.probe(r))).ok).toBe(true)
    const q = dns.queries[0]!
    expect(q.readUInt16BE(2)).toBe(0x0100)
    expect(q.readUInt16BE(4)).toBe(1)
    expect(q.subarray(12).toString("hex")).toBe("03777777076578616d706c65036f72670000010001")
    await dns.close()
  })

  it("ignores replies with another id or too short, then accepts the right one", async () => {
    const dns = await S.dnsServer("wrong-id-first")
    expect((await run(DnsCheck.probe(resolve({ type: "DNS_CHECK" }, dns.port)))).ok).toBe(true)
    await dns.close()
  })

  it("fails on RCODE != 0, on timeout and on ICMP port unreachable", async () => {
    const nx = await S.dnsServer("nxdomain")
    expect(await run(DnsCheck.probe(resolve({ type: "DNS_CHECK" }, nx.port)))).toMatchObject({
      ok: false,
      reason: "BadReply"
    })
    await nx.close()
    const silent = await S.dnsServer("silent")
    expect(
      await run(DnsCheck.probe(resolve({ type: "DNS_CHECK", connectTimeout: "300 millis" }, silent.port)))
    ).toMatchObject({ ok: false, reason: "Timeout", message: `DNS_CHECK ([127.0.0.1]:udp:${silent.port}) timeout` })
    await silent.close()
    const port = await S.closedUdpPort()
    expect(await run(DnsCheck.probe(resolve({ type: "DNS_CHECK" }, port)))).toMatchObject({
      ok: false,
      reason: "Refused"
    })
  })

  it("works over IPv6", async () => {
    const dns = await S.dnsServer("ok", "udp6")
    const r = Config.resolve(
      { realServers: [] },
      { address: "::1", port: dns.port, checkers: [] },
      { type: "DNS_CHECK" }
    )
    expect((await run(DnsCheck.probe(r))).ok).toBe(true)
    await dns.close()
  })
})

describe("UDP_CHECK", () => {
  it("silence is success; ICMP port unreachable is failure", async () => {
    const sink = await S.udpEcho(() => undefined)
    expect(
      (await run(UdpCheck.probe(resolve({ type: "UDP_CHECK", connectTimeout: "200 millis" }, sink.port)))).ok
    ).toBe(true)
    await sink.close()
    const port = await S.closedUdpPort()
    expect(await run(UdpCheck.probe(resolve({ type: "UDP_CHECK", connectTimeout: "1 second" }, port)))).toEqual({
      ok: false,
      reason: "Refused",
      message: `UDP connection to [127.0.0.1]:udp:${port} failed: port unreachable.`,
      contribution: undefined
    })
  })

  it("require_reply: a reply matching the pattern (X nibbles wildcard) within the length bounds", async () => {
    const echo = await S.udpEcho()
    const ck = (extra: Partial<Extract<Config.Checker, { type: "UDP_CHECK" }>>) =>
      UdpCheck.probe(
        resolve({ type: "UDP_CHECK", payload: "deadbeef", connectTimeout: "300 millis", ...extra }, echo.port)
      )
    expect((await run(ck({ requireReply: true }))).ok).toBe(true)
    expect((await run(ck({ requireReply: "deXdbeXf" }))).ok).toBe(true)
    expect(await run(ck({ requireReply: "deadbeee" }))).toMatchObject({ ok: false, reason: "BadReply" })
    expect(await run(ck({ requireReply: true, minReplyLength: 5 }))).toMatchObject({ ok: false, reason: "BadReply" })
    await echo.close()
    const sink = await S.udpEcho(() => undefined)
    expect(
      await run(
        UdpCheck.probe(resolve({ type: "UDP_CHECK", requireReply: true, connectTimeout: "200 millis" }, sink.port))
      )
    ).toMatchObject({ ok: false, reason: "Timeout" })
    await sink.close()
  })

  it("matches wildcard patterns", () => {
    expect(UdpCheck.matches(Uint8Array.of(0x12, 0x34), "1X3X")).toBe(true)
    expect(UdpCheck.matches(Uint8Array.of(0x12), "1234")).toBe(false)
  })
})

describe("PING_CHECK (ICMP echo through koffi)", () => {
  it("IPv4 and IPv6 loopback answer", async () => {
    const v4 = Config.resolve(
      { realServers: [] },
      { address: "127.0.0.1", port: 0, checkers: [] },
      { type: "PING_CHECK" }
    )
    const r4 = await run(PingCheck.probe(v4, "[127.0.0.1]").pipe(Effect.timeout("2 seconds"), Effect.orDie))
    if (!r4.ok && r4.message.includes("cannot open an ICMP socket")) {
      console.warn(`skipping PING_CHECK: ${r4.message} (needs root or net.ipv4.ping_group_range)`)
      return
    }
    expect(r4.ok).toBe(true)
    const v6 = Config.resolve({ realServers: [] }, { address: "::1", port: 0, checkers: [] }, { type: "PING_CHECK" })
    expect((await run(PingCheck.probe(v6, "[::1]").pipe(Effect.timeout("2 seconds"), Effect.orDie))).ok).toBe(true)
  })

  it("builds echo requests with a valid checksum", () => {
    const pkt = PingCheck.echoRequest(false, 0x1234, 7, new Uint8Array(128).fill(0xab))
    let sum = 0
    for (let i = 0; i < pkt.length; i += 2) sum += (pkt[i]! << 8) | pkt[i + 1]!
    while (sum > 0xffff) sum = (sum & 0xffff) + (sum >>> 16)
    expect(sum).toBe(0xffff)
    expect(PingCheck.sockaddr("::1")[23]).toBe(1)
  })
})

describe("MISC_CHECK and scripts (no shell)", () => {
  const who = { realServer: "[10.0.0.2]:tcp:80", virtualServer: "[192.0.2.1]:tcp:80", realServerWeight: 1 }
  const misc = (p: Array<string>, extra: Partial<Extract<Config.Checker, { type: "MISC_CHECK" }>> = {}) =>
    MiscCheck.probe(resolve({ type: "MISC_CHECK", path: p, ...extra }, 80), who)

  it("exit 0 passes, exit 1 fails, misc_dynamic 2..255 passes with weight exit-2", async () => {
    expect((await run(misc(["/bin/true"]))).ok).toBe(true)
    expect(await run(misc(["/bin/false"]))).toMatchObject({
      ok: false,
      reason: "ExitCode",
      message: "Misc check for [[10.0.0.2]:tcp:80 VS [192.0.2.1]:tcp:80] by [/bin/false] failed (exit status 1)."
    })
    expect(await run(misc(["/bin/sh", "-c", "exit 7"]))).toMatchObject({ ok: false })
    expect(await run(misc(["/bin/sh", "-c", "exit 7"], { dynamic: true }))).toMatchObject({ ok: true, contribution: 4 })
    expect(await run(misc(["/bin/sh", "-c", "exit 1"], { dynamic: true }))).toMatchObject({ ok: false })
    expect(await run(misc(["/nonexistent/prog"]))).toMatchObject({ ok: false, reason: "Error" })
  })

  it("arguments are not word-split or expanded by a shell", async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), `checkers-${process.pid}-misc-`))
    const target = path.join(dir, "a b $HOME")
    expect((await run(misc(["/usr/bin/touch", target]))).ok).toBe(true)
    expect(fs.existsSync(target)).toBe(true)
    fs.rmSync(dir, { recursive: true, force: true })
  })

  it("misc_timeout: SIGTERM to the process group, SIGKILL 2 s later if it ignores SIGTERM", async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), `checkers-${process.pid}-kill-`))
    const pidFile = path.join(dir, "pid")
    const t0 = Date.now()
    const res = await run(
      misc(["/bin/sh", "-c", `echo $$ > '${pidFile}'; trap '' TERM; while :; do sleep 0.05; done`], {
        timeout: "300 millis"
      })
    )
    expect(res).toMatchObject({
      ok: false,
      reason: "Timeout",
      message: expect.stringContaining("timed_out")
    })
    expect(Date.now() - t0).toBeLessThan(1500)
    const pid = Number(fs.readFileSync(pidFile, "utf8"))
    const alive = (p: number) => {
      try {
        process.kill(p, 0)
        return true
      } catch {
        return false
      }
    }
    expect(alive(pid)).toBe(true) // ignores SIGTERM
    await new Promise((r) => setTimeout(r, 2300))
    expect(alive(pid)).toBe(false) // SIGKILLed
    // a well-behaved program dies on SIGTERM right away
    const o = await Effect.runPromise(Script.run(["/bin/sleep", "5"], { timeoutMs: 100 }))
    expect(o.timedOut).toBe(true)
    fs.rmSync(dir, { recursive: true, force: true })
  }, 10_000)
})

describe("FILE_CHECK", () => {
  it("reads the value: weight 0 means non-zero = down; otherwise value x weight is the contribution", async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), `checkers-${process.pid}-file-`))
    const file = path.join(dir, "w")
    const probe = (weight: number, reverse = false) =>
      run(FileCheck.probe(resolve({ type: "FILE_CHECK", file, weight, reverse }, 80), "[127.0.0.1]:tcp:80"))
    fs.writeFileSync(file, "0\n")
    expect((await probe(0)).ok).toBe(true)
    fs.writeFileSync(file, "3\n")
    expect((await probe(0)).ok).toBe(false)
    expect(await probe(2)).toMatchObject({ ok: true, contribution: 6 })
    expect(await probe(2, true)).toMatchObject({ ok: true, contribution: -6 })
    fs.writeFileSync(file, "-300")
    expect((await probe(1)).ok).toBe(false)
    fs.rmSync(file)
    expect((await probe(0)).ok).toBe(true)
    fs.rmSync(dir, { recursive: true, force: true })
  })
})
