/**
 * Network namespaces for tests: unique names (`lvs<pid>-<tag>`), always removed, no route out.
 */
import { execFileSync, spawn } from "node:child_process"
import { existsSync } from "node:fs"

export const canRun = process.getuid?.() === 0 && existsSync("/dev/net/tun")
export const skipMessage =
  "skipped: needs root and /dev/net/tun (run as root, as CI does, to exercise real TAP devices)"

if (!canRun) console.warn(`@lvs-ts/lvs TAP tests ${skipMessage}`)

const created = new Set<string>()

export const ip = (...args: Array<string>): string =>
  execFileSync("ip", args, { encoding: "utf8", stdio: ["ignore", "pipe", "pipe"] })

export const create = (tag: string): string => {
  const name = `lvs${process.pid}-${tag}`
  try {
    ip("netns", "del", name)
  } catch {
    // not there: fine
  }
  ip("netns", "add", name)
  created.add(name)
  // Keep IPv6 autoconfiguration noise (MLD, DAD) off the test taps.
  exec(name, "sysctl", "-q", "-w", "net.ipv6.conf.all.disable_ipv6=1")
  exec(name, "sysctl", "-q", "-w", "net.ipv6.conf.default.disable_ipv6=1")
  ip("-n", name, "link", "set", "lo", "up")
  return name
}

export const remove = (name: string): void => {
  try {
    ip("netns", "del", name)
  } catch {
    // already gone
  }
  created.delete(name)
}

export const removeAll = (): void => {
  for (const name of [...created]) remove(name)
}

process.on("exit", removeAll)

export const exec = (netns: string, command: string, ...args: Array<string>): string =>
  execFileSync("ip", ["netns", "exec", netns, command, ...args], { encoding: "utf8" })

/** Runs a command in the namespace, resolving with its exit code (bounded by `timeoutMs`). */
export const run = (netns: string, command: string, args: ReadonlyArray<string>, timeoutMs = 10_000) =>
  new Promise<{ code: number | null; stdout: string }>((resolve) => {
    const child = spawn("ip", ["netns", "exec", netns, command, ...args], { stdio: ["ignore", "pipe", "inherit"] })
    let stdout = ""
    child.stdout.on("data", (chunk) => {
      stdout += String(chunk)
    })
    const timer = setTimeout(() => child.kill("SIGKILL"), timeoutMs)
    child.on("exit", (code) => {
      clearTimeout(timer)
      resolve({ code, stdout })
    })
  })

/** Kernel interface statistics (`ip -s -j link show`). */
export const linkStats = (netns: string, dev: string) => {
  const [link] = JSON.parse(ip("-n", netns, "-s", "-j", "link", "show", "dev", dev)) as Array<{
    stats64: {
      rx: { bytes: number; packets: number; dropped: number }
      tx: { bytes: number; packets: number; dropped: number }
    }
  }>
  return link!.stats64
}

export const linkExists = (netns: string | undefined, dev: string): boolean => {
  try {
    if (netns === undefined) ip("link", "show", "dev", dev)
    else ip("-n", netns, "link", "show", "dev", dev)
    return true
  } catch {
    return false
  }
}

export const waitFor = async (predicate: () => boolean, timeoutMs = 5000): Promise<boolean> => {
  const until = Date.now() + timeoutMs
  while (Date.now() < until) {
    if (predicate()) return true
    await new Promise((resolve) => setTimeout(resolve, 10))
  }
  return predicate()
}
