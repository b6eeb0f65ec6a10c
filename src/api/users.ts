/**
 * @module The wire types of users and their logins: who may use the API over HTTPS, and
 * with which role. Over the unix socket the caller is root and none of this applies.
 */
import { Type, type Static } from '@sinclair/typebox';
import { StringEnum } from './common.js';

/** admin: everything; viewer: reads only (no writes, no consoles, no guest files). */
export const roles = ['admin', 'viewer'] as const;
export type Role = (typeof roles)[number];
export const RoleSchema = StringEnum(roles, { description: 'admin: everything; viewer: reads only (no writes, consoles, exec or guest files)' });

/** Unix user name rules: a user's name appears in logs and in the console. */
export const userPattern = '^[a-z_][a-z0-9_.-]{0,31}$';
const userRule = 'lowercase letters, digits, "_", "." and "-", starting with a letter or "_", 1 to 32 characters';
export const UserName = Type.String({ pattern: userPattern, description: userRule });
/** A user's name where it is a reference to one, described as such. */
export const userReference = (description: string) => Type.String({ pattern: userPattern, description: `${description} (${userRule})` });
export const UserParams = Type.Object({ name: UserName });
export type UserParams = Static<typeof UserParams>;

export const minPasswordLength = 8;
const password = (description: string) => Type.String({ minLength: minPasswordLength, maxLength: 1024, description: `${description}, at least ${minPasswordLength} characters; without it Lodge makes one and answers it once` });

export const UsersPost = Type.Object(
  {
    name: UserName,
    role: Type.Optional(RoleSchema),
    password: Type.Optional(password('the password')),
  },
  { additionalProperties: false },
);
export type UsersPost = Static<typeof UsersPost>;

export const User = Type.Object({
  name: Type.String(),
  role: RoleSchema,
  createdAt: Type.String(),
});
export type User = Static<typeof User>;
export const UserList = Type.Array(User);

/** A user just made, or a password just set: with the password when Lodge made it (shown this once). */
export const UserCreated = Type.Object({
  ...User.properties,
  password: Type.Optional(Type.String({ description: 'the password Lodge made, answered this once and stored only as a scrypt hash' })),
});
export type UserCreated = Static<typeof UserCreated>;

export const PasswordPut = Type.Object(
  { password: Type.Optional(password('the new password')) },
  { additionalProperties: false },
);
export type PasswordPut = Static<typeof PasswordPut>;

export const LoginPost = Type.Object(
  {
    user: Type.String({ minLength: 1, maxLength: 64 }),
    password: Type.String({ minLength: 1, maxLength: 1024 }),
  },
  { additionalProperties: false },
);
export type LoginPost = Static<typeof LoginPost>;

/** A login's answer; the session itself is the cookie beside it. */
export const Session = Type.Object({
  user: Type.String(),
  role: RoleSchema,
  expiresAt: Type.String({ description: 'when the session ends, whatever is done with it' }),
});
export type Session = Static<typeof Session>;

/** The cookie that carries a session: __Host- makes a browser keep it to this origin, over HTTPS, for every path. */
export const sessionCookie = '__Host-lodge-session';
