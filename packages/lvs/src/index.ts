/**
 * @packageDocumentation
 * A userspace LVS director over TAP devices. This release ships the TAP I/O foundation (devices, shared
 * frame pool, poll workers, counters), a minimal L2/L3 responder and the network-namespace lab.
 */

export * as Director from "./Director.ts"
export * as ForwardingHandler from "./ForwardingHandler.ts"
export * as Fragmenter from "./Fragmenter.ts"
export * as FrameHandler from "./FrameHandler.ts"
export * as FramePool from "./FramePool.ts"
export * as L2Responder from "./L2Responder.ts"
export * as Lab from "./Lab.ts"
export * as LabDirector from "./LabDirector.ts"
export * as Listing from "./Listing.ts"
export * as PortCounters from "./PortCounters.ts"
export * as RateEstimator from "./RateEstimator.ts"
export * as RealServerTunnel from "./RealServerTunnel.ts"
export * as Reassembly from "./Reassembly.ts"
export * as TapDevice from "./TapDevice.ts"
export * as TapPorts from "./TapPorts.ts"
export * as VirtualServiceTable from "./VirtualServiceTable.ts"
