/**
 * @module Request validation: bodies are checked strictly (no coercion, unknown fields
 * refused), query strings and path parameters with coercion (they arrive as text).
 * Failures become one message that names the field and the rule.
 */
import { Ajv, type ErrorObject } from 'ajv';
import type { FastifySchemaCompiler } from 'fastify';

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
