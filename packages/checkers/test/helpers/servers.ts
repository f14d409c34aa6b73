/**
 * Real local servers for checker tests: HTTP, HTTPS (self-signed certificate made with openssl at test time),
 * a TCP listener that accepts late, an SMTP responder, a DNS responder over UDP and a UDP echo.
 * Everything listens on loopback only and is closed by the caller.
 */

import { execFileSync } from "node:child_process"
import * as dgram from "node:dgram"
import * as fs from "node:fs"
import * as http from "node:http"
import * as https from "node:https"
import * as net from "node:net"
import * as os from "node:os"
import * as path from "node:path"
import type * as tls from "node:tls"
import koffi from "koffi"

export const BODY = "<html><body>keepalived checker test page\n</body></html>\n"

const routes = (req: http.IncomingMessage, res: http.ServerResponse, seen: Array<{ host: string; url: string }>) => {
  seen.push({ host: req.headers.host ?? "", url: req.url ?? "" })
  switch (req.url) {
    case "/":
      res.writeHead(200, { "Content-Type": "text/html", "Content-Length": Buffer.byteLength(BODY) })
      res.end(BODY)
      return
    case "/fail":
      res.writeHead(500)
      res.end("internal error")
      return
    case "/redirect":
      res.writeHead(302, { Location: "/" })
      res.end()
      return
    case "/host":
      res.writeHead(200)
      res.end(`host=${req.headers.host}`)
      return
    case "/empty":
      req.socket.destroy()
      return
    case "/hang":
      return
    default:
      res.writeHead(404)
      res.end("not found")
  }
}

export interface Running {
  readonly port: number
  readonly close: () => Promise<void>
}

const listen = (server: net.Server, host = "127.0.0.1"): Promise<number> =>
  new Promise((resolve) => server.listen(0, host, () => resolve((server.address() as net.AddressInfo).port)))

const closer = (server: net.Server) => () =>
  new Promise<void>((resolve) => {
    ;(server as http.Server).closeAllConnections?.()
    server.close(() => resolve())
  })

export const httpServer = async (
  host = "127.0.0.1"
): Promise<Running & { seen: Array<{ host: string; url: string }> }> => {
  const seen: Array<{ host: string; url: string }> = []
  const server = http.createServer((req, res) => routes(req, res, seen))
  const port = await listen(server, host)
  return { port, seen, close: closer(server) }
}

export const selfSigned = (): { key: string; cert: string } => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), `checkers-${process.pid}-tls-`))
  try {
    execFileSync(
      "openssl",
      [
        "req",
        "-x509",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-keyout",
        path.join(dir, "key.pem"),
        "-out",
        path.join(dir, "cert.pem"),
        "-days",
        "1",
        "-subj",
        "/CN=localhost"
      ],
      { stdio: "ignore" }
    )
    return {
      key: fs.readFileSync(path.join(dir, "key.pem"), "utf8"),
      cert: fs.readFileSync(path.join(dir, "cert.pem"), "utf8")
    }
  } finally {
    fs.rmSync(dir, { recursive: true, force: true })
  }
}

export const httpsServer = async (): Promise<
  Running & { seen: Array<{ host: string; url: string }>; sni: Array<string | false> }
> => {
  const seen: Array<{ host: string; url: string }> = []
  const sni: Array<string | false> = []
  const server = https.createServer(selfSigned(), (req, res) => routes(req, res, seen))
  server.on("secureConnection", (s: tls.TLSSocket) => sni.push(s.servername ?? false))
  const port = await listen(server)
  return { port, seen, sni, close: closer(server) }
}

/** A listener whose accept queue is full, so connects hang (SYNs dropped) until `startAccepting()`. */
export const lateListener = async (): Promise<Running & { startAccepting: () => Promise<void> }> => {
  const libc = koffi.load("libc.so.6")
  const socket = libc.func("int socket(int, int, int)")
  const bind = libc.func("int bind(int, const void *addr, uint32_t len)")
  const listenFn = libc.func("int listen(int, int)")
  const getsockname = libc.func("int getsockname(int, _Out_ uint8_t *addr, _Inout_ uint32_t *len)")
  const closeFn = libc.func("int close(int)")
  const fd = socket(2, 1, 0) as number
  const sa = new Uint8Array(16)
  new DataView(sa.buffer).setUint16(0, 2, true)
  sa.set([127, 0, 0, 1], 4)
  bind(fd, sa, 16)
  listenFn(fd, 0)
  const out = new Uint8Array(16)
  getsockname(fd, out, [16])
  const port = (out[2]! << 8) | out[3]!
  // Fill the accept queue so later SYNs are dropped.
  const fillers: Array<net.Socket> = []
  for (let i = 0; i < 3; i++) {
    const s = net.connect({ host: "127.0.0.1", port })
    s.on("error", () => {})
    fillers.push(s)
  }
  await new Promise((r) => setTimeout(r, 100))
  let server: net.Server | undefined
  return {
    port,
    startAccepting: async () => {
      server = net.createServer((s) => s.destroy())
      await new Promise<void>((resolve) => server!.listen({ fd }, () => resolve()))
    },
    close: async () => {
      for (const s of fillers) s.destroy()
      if (server) await closer(server)()
      else closeFn(fd)
    }
  }
}

export type SmtpMode = "ok" | "bad-banner" | "bad-helo" | "multiline"
export const smtpServer = async (mode: SmtpMode): Promise<Running & { helos: Array<string> }> => {
  const helos: Array<string> = []
  const server = net.createServer((s) => {
    s.on("error", () => {})
    if (mode === "bad-banner") s.write("554 go away\r\n")
    else if (mode === "multiline") s.write("220-mx.example ESMTP\r\n220 ready\r\n")
    else s.write("220 mx.example ESMTP ready\r\n")
    let buf = ""
    s.on("data", (d) => {
      buf += d.toString()
      let nl = buf.indexOf("\r\n")
      while (nl >= 0) {
        const line = buf.slice(0, nl)
        buf = buf.slice(nl + 2)
        if (line.startsWith("HELO")) {
          helos.push(line)
          s.write(mode === "bad-helo" ? "501 syntax\r\n" : "250-mx.example\r\n250 hello\r\n")
        } else if (line === "QUIT") s.end("221 bye\r\n")
        nl = buf.indexOf("\r\n")
      }
    })
  })
  const port = await listen(server)
  return { port, helos, close: closer(server) }
}

export type DnsMode = "ok" | "nxdomain" | "wrong-id-first" | "silent"
export const dnsServer = async (
  mode: DnsMode,
  family: "udp4" | "udp6" = "udp4"
): Promise<Running & { queries: Array<Buffer> }> => {
  const queries: Array<Buffer> = []
  const s = dgram.createSocket(family)
  s.on("message", (msg, rinfo) => {
    queries.push(msg)
    if (mode === "silent" || msg.length < 12) return
    const reply = Buffer.from(msg)
    reply[2] = 0x81 // QR + RD
    reply[3] = mode === "nxdomain" ? 0x83 : 0x80 // RA + RCODE
    if (mode === "wrong-id-first") {
      const wrong = Buffer.from(reply)
      wrong[0] = wrong[0]! ^ 0xff
      s.send(wrong, rinfo.port, rinfo.address)
      s.send(Buffer.from([1, 2, 3]), rinfo.port, rinfo.address)
    }
    s.send(reply, rinfo.port, rinfo.address)
  })
  const port = await new Promise<number>((resolve) =>
    s.bind(0, family === "udp4" ? "127.0.0.1" : "::1", () => resolve(s.address().port))
  )
  return { port, queries, close: () => new Promise((r) => s.close(() => r())) }
}

export const udpEcho = async (transform: (m: Buffer) => Buffer | undefined = (m) => m): Promise<Running> => {
  const s = dgram.createSocket("udp4")
  s.on("message", (msg, rinfo) => {
    const out = transform(msg)
    if (out !== undefined) s.send(out, rinfo.port, rinfo.address)
  })
  const port = await new Promise<number>((resolve) => s.bind(0, "127.0.0.1", () => resolve(s.address().port)))
  return { port, close: () => new Promise((r) => s.close(() => r())) }
}

/** A UDP port on loopback that nothing listens on (bound then closed). */
export const closedUdpPort = async (): Promise<number> => {
  const s = dgram.createSocket("udp4")
  const port = await new Promise<number>((resolve) => s.bind(0, "127.0.0.1", () => resolve(s.address().port)))
  await new Promise<void>((r) => s.close(() => r()))
  return port
}

/** A TCP port on loopback that nothing listens on. */
export const closedTcpPort = async (): Promise<number> => {
  const server = net.createServer()
  const port = await listen(server)
  await new Promise<void>((r) => server.close(() => r()))
  return port
}
