/**
 * @module Request validation: bodies are checked strictly (no coercion, unknown fields
 * refused), query strings and path parameters with coercion (they arrive as text).
 * Failures become one message that names the field and the rule. JSON is refused before
 * it is parsed when it nests deeper than any request of the API does, and WebSocket text
 * frames are parsed and checked as strictly as bodies.
 */
import type { TSchema, Static } from '@sinclair/typebox';
import { Ajv, type ErrorObject } from 'ajv';
import type { FastifySchemaCompiler } from 'fastify';
import { LodgeError } from '../api/errors.js';

const strict = new Ajv({ allErrors: false, coerceTypes: false, removeAdditional: false, useDefaults: false, verbose: true, strict: false });
const lenient = new Ajv({ allErrors: false, coerceTypes: 'array', removeAdditional: false, useDefaults: true, verbose: true, strict: false });

export const validatorCompiler: FastifySchemaCompiler<object> = ({ schema, httpPart }) =>
  (httpPart === 'body' ? strict : lenient).compile(schema);

const partNames: Record<string, string> = { body: '', querystring: 'query parameter ', params: 'path parameter ' };

export function describeValidationError(error: ErrorObject, part: string | undefined): string {
  const prefix = partNames[part ?? 'body'] ?? '';
  const field = error.instancePath.replace(/^\//, '').replaceAll('/', '.');
  const where = (name: string) => `${prefix}${name || (part === 'body' || !part ? 'the request body' : 'value')}`;
  const params = error.params as Record<string, unknown>;
  switch (error.keyword) {
    case 'additionalProperties':
      return `${where(field ? `${field}.${String(params.additionalProperty)}` : String(params.additionalProperty))}: unknown field`;
    case 'required':
      return `${where(field ? `${field}.${String(params.missingProperty)}` : String(params.missingProperty))}: is required`;
    case 'enum':
      return `${where(field)}: must be one of ${(params.allowedValues as unknown[]).join(', ')}`;
    case 'pattern': {
      const description = (error.parentSchema as { description?: string } | undefined)?.description;
      return `${where(field)}: ${JSON.stringify(error.data)} is not valid${description ? ` (${description})` : ''}`;
    }
    default:
      return `${where(field)}: ${error.message ?? 'is invalid'}`;
  }
}

/** Deeper than any body or frame of the API nests (a launch body is 4 levels). */
export const maxJsonDepth = 32;

/**
 * Whether JSON text nests arrays and objects deeper than `max`: one pass over the text,
 * before the parser or a schema walks it, so a body of 100,000 brackets costs a scan.
 */
export function jsonTooDeep(text: string, max = maxJsonDepth): boolean {
  let depth = 0;
  let inString = false;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (inString) {
      if (c === 0x5c) i++; // a backslash escapes the next character
      else if (c === 0x22) inString = false;
    } else if (c === 0x22) inString = true;
    else if (c === 0x5b || c === 0x7b) {
      if (++depth > max) return true;
    } else if (c === 0x5d || c === 0x7d) depth--;
  }
  return false;
}

/**
 * A checker for one kind of WebSocket text frame, compiled once: it parses the frame and
 * validates it against `schema`, or throws a BAD_REQUEST naming `what` and the field.
 */
export function frameChecker<S extends TSchema>(schema: S, what: string): (text: string) => Static<S> {
  const validate = strict.compile(schema);
  return (text) => {
    if (jsonTooDeep(text)) throw new LodgeError('BAD_REQUEST', `${what}: nests deeper than ${maxJsonDepth} levels`);
    let value: unknown;
    try {
      value = JSON.parse(text);
    } catch {
      throw new LodgeError('BAD_REQUEST', `${what}: is not valid JSON`);
    }
    if (!validate(value)) throw new LodgeError('BAD_REQUEST', `${what}: ${describeValidationError(validate.errors![0]!, 'body').replace(/^the request body: /, '')}`);
    return value as Static<S>;
  };
}
