/**
 * @module Shapes shared by several endpoints: names, sizes, kinds.
 */
import { Type, type Static } from '@sinclair/typebox';

/** Guest names become hostnames and host-side resource names: DNS label rules. */
export const namePattern = '^[a-z]([a-z0-9-]{0,61}[a-z0-9])?$';
export const Name = Type.String({
  pattern: namePattern,
  description: 'lowercase letters, digits and "-", starting with a letter, 1 to 63 characters',
});

/** A string from a fixed list, as a plain JSON Schema enum (so an error lists the allowed values). */
export const StringEnum = <T extends readonly string[]>(values: T, options: { description?: string } = {}) =>
  Type.Unsafe<T[number]>({ type: 'string', enum: [...values], ...options });

export const guestKinds = ['ct', 'vm', 'pv'] as const;
export const GuestKind = StringEnum(guestKinds);
export type GuestKind = Static<typeof GuestKind>;

/** A size such as 256M, 1G, 512K or a plain number of bytes. */
export const sizePattern = '^[0-9]+(\\.[0-9]+)?[KMGT]?(i?B)?$';
export const Size = Type.String({ pattern: sizePattern, description: 'bytes, or a number with K, M, G or T (e.g. 256M)' });

export const NameParams = Type.Object({ name: Name });
export type NameParams = Static<typeof NameParams>;
