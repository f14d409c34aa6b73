// Growable SharedArrayBuffer (ES2024; Node 22 has it, the workspace's TypeScript lib does not declare it yet).

/** A SharedArrayBuffer created with a maxByteLength: it grows in place up to that size and never shrinks. */
export interface GrowableSharedArrayBuffer extends SharedArrayBuffer {
  grow(byteLength: number): void
  readonly growable: boolean
  readonly maxByteLength: number
}

const Constructor = SharedArrayBuffer as unknown as new (
  byteLength: number,
  options: { maxByteLength: number }
) => GrowableSharedArrayBuffer

/** A zeroed shared buffer of `byteLength` bytes that can grow in place up to `maxByteLength`. */
export const growable = (byteLength: number, maxByteLength: number): GrowableSharedArrayBuffer =>
  new Constructor(byteLength, { maxByteLength })
