/**
 * @module The wire types of API tokens: secrets for scripts and for the CLI on another
 * machine, sent as `Authorization: Bearer TOKEN` over HTTPS. Lodge answers a token once,
 * when it is made, and keeps only its hash.
 */
import { Type, type Static } from '@sinclair/typebox';
import { Name, StringEnum } from './common.js';
import { roles, RoleSchema, userReference } from './users.js';

export const TokensPost = Type.Object(
  {
    name: Name,
    user: Type.Optional(userReference("the user it acts for (it goes when the user does); default: the caller's user, or none when made over the unix socket")),
    role: Type.Optional(StringEnum(roles, { description: "default: its user's role (a token never has more than its user), admin without a user" })),
  },
  { additionalProperties: false },
);
export type TokensPost = Static<typeof TokensPost>;

export const Token = Type.Object({
  name: Type.String(),
  user: Type.Optional(Type.String()),
  role: RoleSchema,
  createdAt: Type.String(),
});
export type Token = Static<typeof Token>;
export const TokenList = Type.Array(Token);

export const TokenCreated = Type.Object({
  ...Token.properties,
  token: Type.String({ description: 'the secret, answered this once: send it as Authorization: Bearer TOKEN' }),
});
export type TokenCreated = Static<typeof TokenCreated>;
