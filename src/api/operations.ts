/**
 * @module The wire types of operations (long actions) and events.
 */
import { Type, type Static } from '@sinclair/typebox';
import { StringEnum } from './common.js';

export const operationStatuses = ['running', 'success', 'failure'] as const;

export const Operation = Type.Object({
  id: Type.String(),
  action: Type.String({ description: 'e.g. guest.launch, image.build' }),
  target: Type.String(),
  status: StringEnum(operationStatuses),
  progress: Type.Number({ minimum: 0, maximum: 100 }),
  step: Type.String({ description: 'what it is doing now, or did last' }),
  reason: Type.Optional(Type.String({ description: 'why lodged took it on its own (autonomic.* actions), in words' })),
  result: Type.Optional(Type.String({ description: 'how a success ended, when there is more to say than done (a stop that had to kill: killed after the timeout)' })),
  error: Type.Optional(Type.Object({ code: Type.String(), message: Type.String(), cause: Type.Optional(Type.String()) })),
  timings: Type.Optional(
    Type.Array(Type.Object({ step: Type.String(), ms: Type.Number() }), {
      description: 'where the time went, in the order each piece ended: its steps, and each program it ran (`$ runc create`)',
    }),
  ),
  createdAt: Type.String(),
  updatedAt: Type.String(),
});
export type Operation = Static<typeof Operation>;

export const OperationList = Type.Array(Operation);

export const OperationParams = Type.Object({ id: Type.String({ pattern: '^[0-9a-f-]{36}$' }) });
export const WaitQuery = Type.Object(
  { timeout: Type.Optional(Type.Number({ minimum: 0, maximum: 3600, description: 'seconds' })) },
  { additionalProperties: false },
);

export const Event = Type.Object({
  type: StringEnum(['lifecycle', 'operation'] as const),
  time: Type.String(),
  target: Type.String(),
  action: Type.String(),
  detail: Type.Optional(Type.Record(Type.String(), Type.Unknown())),
});
export type Event = Static<typeof Event>;
