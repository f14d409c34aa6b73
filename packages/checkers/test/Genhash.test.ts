import { execFile, execFileSync } from "node:child_process"
import * as crypto from "node:crypto"
import * as fs from "node:fs"
import * as http from "node:http"
import * as https from "node:https"
import type * as net from "node:net"
import * as os from "node:os"
import * as path from "node:path"
import { fileURLToPath } from "node:url"
import { Genhash } from "@lvs-ts/checkers"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { selfSigned } from "./helpers/servers.ts"

const bin = fileURLToPath(new URL("../src/bin/genhash.ts", import.meta.url))
/** Run the bin asynchronously (the servers live in this process, so the event loop must keep running). */
const genhash = (args: Array<string>) =>
  new Promise<{ status: number | null; stdout: string; stderr: string }>((resolve) => {
    execFile(
      process.execPath,
      ["--conditions=@lvs-ts/source", bin, ...args],
      { encoding: "utf8", timeout: 20_000 },
      (err, stdout, stderr) => resolve({ status: err ? ((err as { code?: number }).code ?? 1) : 0, stdout, stderr })
    )
  })

describe("genhash", () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), `checkers-${process.pid}-genhash-`))
  const file = path.join(dir, "index.html")
  let server: http.Server
  let tlsServer: https.Server
  let port = 0
  let tlsPort = 0
  beforeAll(async () => {
    // random binary-ish body, served with and without Content-Length
    fs.writeFileSync(file, Buffer.concat([Buffer.from("<html>\r\n\r\n"), crypto.randomBytes(70_000)]))
    const handler = (req: http.IncomingMessage, res: http.ServerResponse) => {
      const body = fs.readFileSync(file)
      if (req.url === "/chunked-free") {
        res.writeHead(200)
      } else res.writeHead(200, { "Content-Length": body.length })
      res.end(body)
    }
    server = http.createServer(handler)
    tlsServer = https.createServer(selfSigned(), handler)
    await new Promise<void>((r) => server.listen(0, "127.0.0.1", () => r()))
    await new Promise<void>((r) => tlsServer.listen(0, "127.0.0.1", () => r()))
    port = (server.address() as net.AddressInfo).port
    tlsPort = (tlsServer.address() as net.AddressInfo).port
  })
  afterAll(async () => {
    await new Promise<void>((r) => server.close(() => r()))
    await new Promise<void>((r) => tlsServer.close(() => r()))
    fs.rmSync(dir, { recursive: true, force: true })
  })

  it("prints the same digest as md5sum of the served body (HTTP 1.0, 1.0c, 1.1 and SSL)", async () => {
    const expected = execFileSync("md5sum", [file], { encoding: "utf8" }).split(" ")[0]!
    expect(expected).toMatch(/^[0-9a-f]{32}$/)
    for (const proto of ["1.0", "1.0c", "1.1"]) {
      const r = await genhash(["-s", "127.0.0.1", "-p", String(port), "-u", "/index.html", "-P", proto])
      expect(r.status).toBe(0)
      expect(r.stdout).toBe(`${expected}\n`)
    }
    const c = await genhash(["--server=127.0.0.1", "--port", String(port), "--url", "/chunked-free"])
    expect(c.stdout).toBe(`${expected}\n`)
    const s = await genhash([
      "-T",
      "-S",
      "-I",
      "-V",
      "www.example",
      "-s",
      "127.0.0.1",
      "-p",
      String(tlsPort),
      "-u",
      "/"
    ])
    expect(s.stdout).toBe(`${expected}\n`)
  }, 60_000)

  it("verbose mode dumps header, body and hash; errors go to stderr with status 1", async () => {
    const v = await genhash(["-v", "-s", "127.0.0.1", "-p", String(port), "-u", "/"])
    expect(v.stdout).toContain("HTTP Header Ascii Buffer")
    expect(v.stdout).toContain("HTTP/1.1 200 OK")
    expect(v.stdout.trim().split("\n").at(-1)).toMatch(/^[0-9a-f]{32}$/)
    const bad = await genhash(["-s", "127.0.0.1", "-p", "0"])
    expect(bad.status).toBe(1)
    expect(bad.stderr).toContain("invalid port")
    expect((await genhash(["-h"])).stdout).toContain("--use-virtualhost")
  }, 60_000)

  it("parses keepalived's options", () => {
    expect(Genhash.parse(["-s", "::1", "-p", "80", "-u", "/", "-P", "1.1", "-t", "2", "-m", "5"])).toMatchObject({
      server: "::1",
      protocol: "1.1",
      timeoutMs: 2000,
      fwmark: 5
    })
    expect(Genhash.parse(["-s", "a"])).toHaveProperty("error")
    expect(Genhash.parse(["-P", "2.0"])).toEqual({ error: "invalid protocol '2.0' - should be 1.0, 1.0c or 1.1" })
  })
})
