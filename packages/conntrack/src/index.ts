/**
 * @packageDocumentation
 * The IPVS connection table: TCP/UDP/SCTP state machines, timeouts and persistence templates over struct-of-arrays
 * storage that grows to ten million entries without pauses.
 */
export * as ConnectionFlags from "./ConnectionFlags.ts"
export * as ConnectionParams from "./ConnectionParams.ts"
export * as ConnectionTable from "./ConnectionTable.ts"
export * as Destinations from "./Destinations.ts"
export * as Direction from "./Direction.ts"
export * as Listing from "./Listing.ts"
export * as Persistence from "./Persistence.ts"
export * as Protocol from "./Protocol.ts"
export * as SctpState from "./SctpState.ts"
export * as TcpState from "./TcpState.ts"
export * as Timeouts from "./Timeouts.ts"
export * as UdpState from "./UdpState.ts"
