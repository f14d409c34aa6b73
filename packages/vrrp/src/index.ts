/**
 * @packageDocumentation
 * VRRPv2/v3 (RFC 3768, RFC 5798, RFC 9568) codec, receive validation and state machine that a running
 * keepalived accepts as a peer, with transports for TAP ports and for the host kernel.
 */
export * as Address from "./Address.ts"
export * as Advert from "./Advert.ts"
export * as Config from "./Config.ts"
export * as Datagram from "./Datagram.ts"
export * as Engine from "./Engine.ts"
export * as Frame from "./Frame.ts"
export * as KernelTransport from "./KernelTransport.ts"
export * as Notify from "./Notify.ts"
export * as Router from "./Router.ts"
export * as SyncGroup from "./SyncGroup.ts"
export * as TapTransport from "./TapTransport.ts"
export * as Tracker from "./Tracker.ts"
export * as Transport from "./Transport.ts"
export * as Validation from "./Validation.ts"
