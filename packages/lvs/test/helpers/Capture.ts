/**
 * A tcpdump capture in a test's namespace, for the end-to-end tests that check what crossed a wire.
 */
import { spawn } from "node:child_process"
import { Effect } from "effect"

/**
 * Starts tcpdump in `netns` on `device`, writing `pcap` with `filter`; succeeds once it listens. `stop` waits
 * half a second for the last frames, then ends the capture and waits for tcpdump to exit; `log` is its stderr.
 */
export const start = (netns: string, device: string, pcap: string, filter: string) =>
  Effect.gen(function* () {
    const child = spawn(
      "ip",
      [
        "netns",
        "exec",
        netns,
        "tcpdump",
        "-Z",
        "root",
        "--immediate-mode",
        "-n",
        "-U",
        "-w",
        pcap,
        "-i",
        device,
        filter
      ],
      { stdio: ["ignore", "ignore", "pipe"] }
    )
    let log = ""
    child.stderr.on("data", (chunk) => {
      log += String(chunk)
    })
    const exited = new Promise((resolve) => child.on("exit", resolve))
    for (let i = 0; i < 200 && !log.includes("listening"); i++) yield* Effect.sleep("50 millis")
    yield* Effect.sleep("200 millis")
    return {
      log: () => log,
      stop: Effect.gen(function* () {
        yield* Effect.sleep("500 millis")
        child.kill("SIGINT")
        yield* Effect.promise(() => exited)
      })
    }
  })
