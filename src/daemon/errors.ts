/**
 * @module The one place where errors become HTTP answers.
 */
import type { FastifyError, FastifyReply, FastifyRequest } from 'fastify';
import { LodgeError } from '../api/errors.js';
import { describeValidationError } from './validation.js';

export function toLodgeError(error: FastifyError | Error): LodgeError {
  if (error instanceof LodgeError) return error;
  const fe = error as FastifyError;
  if (fe.validation?.[0]) return new LodgeError('BAD_REQUEST', describeValidationError(fe.validation[0], fe.validationContext));
  if (fe.statusCode && fe.statusCode >= 400 && fe.statusCode < 500) {
    return new LodgeError(fe.statusCode === 404 ? 'NOT_FOUND' : 'BAD_REQUEST', fe.message.replace(/^Body cannot be empty.*/, 'the request needs a JSON body'));
  }
  return new LodgeError('INTERNAL', 'internal error in lodged', { cause: error });
}

export function errorHandler(log: (m: string) => void) {
  return (error: FastifyError | Error, request: FastifyRequest, reply: FastifyReply) => {
    const e = toLodgeError(error);
    if (e.code === 'INTERNAL') log(`${request.method} ${request.url}: ${e.describe()}\n${(error as Error).stack ?? ''}`);
    void reply.status(e.status).send(e.toBody());
  };
}
