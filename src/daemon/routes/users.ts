/**
 * @module /1.0/users (add, list, delete, set a password) and /1.0/login, /1.0/logout: the
 * session cookie is HttpOnly, Secure and SameSite=Strict, and names a session lodged keeps.
 */
import type { FastifyInstance } from 'fastify';
import { LoginPost, PasswordPut, Session, sessionCookie, User, UserCreated, UserList, UserParams, UsersPost } from '../../api/users.js';
import { TooManyLogins } from '../../core/users.js';
import { cookieValue } from '../access.js';
import type { ServerDeps } from '../deps.js';

const cookie = (value: string, maxAgeSeconds: number) => `${sessionCookie}=${value}; Path=/; Max-Age=${maxAgeSeconds}; HttpOnly; Secure; SameSite=Strict`;

export function userRoutes(app: FastifyInstance, { users }: ServerDeps): void {
  const tags = ['users'];
  app.get('/1.0/users', { schema: { tags, summary: 'The users who may log in over HTTPS', response: { 200: UserList } } }, () => users.list());

  app.post<{ Body: UsersPost }>(
    '/1.0/users',
    { schema: { tags, summary: 'Add a user (admin unless a role is given); without a password, Lodge makes one and answers it this once', body: UsersPost, response: { 201: UserCreated } } },
    async (request, reply) => reply.status(201).send(await users.add(request.body)),
  );

  app.get<{ Params: UserParams }>('/1.0/users/:name', { schema: { tags, params: UserParams, response: { 200: User } } }, (request) => users.get(request.params.name));

  app.delete<{ Params: UserParams }>('/1.0/users/:name', { schema: { tags, summary: 'Delete a user, its sessions and its tokens', params: UserParams } }, async (request, reply) => {
    users.delete(request.params.name);
    return reply.status(204).send();
  });

  app.put<{ Params: UserParams; Body: PasswordPut }>(
    '/1.0/users/:name/password',
    { schema: { tags, summary: "Set a user's password (made by Lodge and answered once when none is given); its sessions end", params: UserParams, body: PasswordPut, response: { 200: UserCreated } } },
    (request) => users.setPassword(request.params.name, request.body.password),
  );

  app.post<{ Body: LoginPost }>(
    '/1.0/login',
    {
      config: { access: 'anyone' },
      schema: { tags, summary: 'Log in: a session cookie for the API and the console. Failures are logged, and too many refused for a while (429)', body: LoginPost, response: { 200: Session } },
    },
    async (request, reply) => {
      try {
        const { id, session, maxAgeSeconds } = await users.login(request.body.user, request.body.password, request.ip ?? 'the unix socket');
        return await reply.header('set-cookie', cookie(id, maxAgeSeconds)).send(session);
      } catch (e) {
        if (e instanceof TooManyLogins) void reply.header('retry-after', String(e.retryAfterSeconds));
        throw e;
      }
    },
  );

  app.post('/1.0/logout', { config: { access: 'anyone' }, schema: { tags, summary: 'End the session of the cookie sent (if any) and clear it' } }, async (request, reply) => {
    const id = cookieValue(request.headers.cookie, sessionCookie);
    if (id !== undefined) users.logout(id);
    return reply.status(204).header('set-cookie', cookie('', 0)).send();
  });
}
