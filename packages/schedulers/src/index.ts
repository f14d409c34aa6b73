/**
 * @packageDocumentation
 * Every Linux IPVS scheduler (rr, wrr, lc, wlc, sed, nq, fo, ovf, twos, sh, dh, mh, lblc, lblcr), choosing exactly
 * what the kernel chooses, with indexes instead of scans so a pick costs about the same at 10 or 10,000 servers.
 */
export {
  type AddressFamily,
  ConnectionKind,
  checkSettings,
  Destination,
  DestinationFlags,
  type DestinationSettings,
  type DestinationWatcher,
  parseAddress
} from "./Destination.ts"
export { DestinationDirectory } from "./DestinationDirectory.ts"
export { DestinationHashing } from "./DestinationHashing.ts"
export { DestinationPool, type DestinationPoolOptions } from "./DestinationPool.ts"
export { LeastConnection } from "./LeastConnection.ts"
export { LocalityBasedLeastConnection } from "./LocalityBasedLeastConnection.ts"
export { LocalityBasedLeastConnectionReplication } from "./LocalityBasedLeastConnectionReplication.ts"
export { MaglevHashing, maglevTableSizes } from "./MaglevHashing.ts"
export { NeverQueue } from "./NeverQueue.ts"
export { RoundRobin } from "./RoundRobin.ts"
export {
  allDestinationsOverloaded,
  type NoDestination,
  noDestinationAvailable,
  noDestinationAvailableQuiet,
  type Pick,
  type Scheduler,
  ServiceFlags,
  schedulerLogLine
} from "./Scheduler.ts"
export {
  defaultRegistry,
  type SchedulerFactory,
  type SchedulerOptions,
  SchedulerRegistry
} from "./SchedulerRegistry.ts"
export { ShortestExpectedDelay } from "./ShortestExpectedDelay.ts"
export { SourceHashing } from "./SourceHashing.ts"
export { TwoChoices } from "./TwoChoices.ts"
export { WeightedFailover } from "./WeightedFailover.ts"
export { WeightedLeastConnection } from "./WeightedLeastConnection.ts"
export { WeightedOverflow } from "./WeightedOverflow.ts"
export { WeightedRoundRobin } from "./WeightedRoundRobin.ts"
