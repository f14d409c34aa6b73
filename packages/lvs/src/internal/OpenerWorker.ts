/**
 * A short-lived worker thread that enters a network namespace with `setns(CLONE_NEWNET)` (which changes
 * only this thread) and opens TAP devices there. The fds it returns belong to the process, so they stay
 * usable from any thread after this one exits; the devices stay in the namespace they were created in.
 *
 * @internal
 */
import { readlinkSync } from "node:fs"
import { parentPort, workerData } from "node:worker_threads"
import * as TapDevice from "../TapDevice.ts"

interface OpenerInput {
  readonly netns: string | undefined
  readonly specs: ReadonlyArray<TapDevice.Spec>
}

const input = workerData as OpenerInput
const opened: Array<TapDevice.Device> = []
try {
  if (input.netns !== undefined) TapDevice.enterNetns(input.netns)
  // /proc/thread-self names this thread's namespace: proof of where the devices were created.
  const netnsId = readlinkSync("/proc/thread-self/ns/net")
  for (const spec of input.specs) opened.push(TapDevice.open(spec))
  parentPort?.postMessage({ type: "opened", devices: opened, netnsId })
} catch (error) {
  for (const device of opened) TapDevice.close(device)
  parentPort?.postMessage({ type: "error", message: error instanceof Error ? error.message : String(error) })
}
