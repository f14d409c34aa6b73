/**
 * @packageDocumentation
 * Zero-copy packet views, rewriting and checksums for a userspace LVS director.
 */
export * as Checksum from "./Checksum.ts"
