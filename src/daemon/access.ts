/**
 * @module Who may do what. A request on the unix socket comes from root (the socket is
 * root's) and may do anything. A request on the HTTPS listener needs a session cookie or
 * a bearer token; reads need the viewer role, everything else admin; a browser request from
 * another origin is refused for anything but a plain read (a cross-site WebSocket upgrade or
 * form post). Each route's role is decided once, when it is added, and written into the
 * OpenAPI document (x-lodge-role).
 */
import type { IncomingMessage } from 'node:http';
import type { FastifyRequest, RouteOptions } from 'fastify';
import { LodgeError } from '../api/errors.js';
import { sessionCookie, type Role } from '../api/users.js';
import type { TokenService } from '../core/tokens.js';
import type { Principal, UserPrincipal, UserService } from '../core/users.js';

/** Set on a request that came in on the HTTPS listener: a symbol, so no header can say so. */
export const viaHttps = Symbol('lodge.viaHttps');
export type MarkedRequest = IncomingMessage & { [viaHttps]?: true };

/** What a route asks of its caller over HTTPS. */
export type Access = Role | 'anyone';

declare module 'fastify' {
  interface FastifyContextConfig {
    access?: Access;
  }
  interface FastifySchema {
    /** The role the route needs, in the OpenAPI document. */
    'x-lodge-role'?: Access;
  }
  interface FastifyRequest {
    /** Who sent it; unset on the routes open to anyone. */
    principal?: Principal;
  }
}

/** Reads that hand out what is inside a guest (or a backup of it), or who may log in: admin only, as writes are. */
const adminReads = new Set([
  '/1.0/guests/:name/files',
  '/1.0/guests/:name/export',
  '/1.0/backup-stores/:store/backups/:guest/:id/files',
  '/1.0/backup-stores/:store/backups/:guest/:id/files/list',
  '/1.0/users',
  '/1.0/users/:name',
  '/1.0/tokens',
]);

/**
 * The role a route needs: a route may say (login says anyone); otherwise reads are a
 * viewer's, but for the ones above and WebSockets (a console or a shell types into a guest).
 */
export function routeAccess(route: Pick<RouteOptions, 'method' | 'url' | 'config' | 'websocket' | 'wsHandler'>): Access {
  const declared = (route.config as { access?: Access } | undefined)?.access;
  if (declared) return declared;
  const methods = [route.method].flat();
  const read = methods.every((m) => m === 'GET' || m === 'HEAD');
  const webSocket = route.websocket === true || route.wsHandler !== undefined;
  return read && !webSocket && !adminReads.has(route.url) ? 'viewer' : 'admin';
}

/** The value of one cookie in a Cookie header. */
export function cookieValue(header: string | undefined, name: string): string | undefined {
  for (const part of (header ?? '').split(';')) {
    const eq = part.indexOf('=');
    if (eq > 0 && part.slice(0, eq).trim() === name) return part.slice(eq + 1).trim();
  }
  return undefined;
}

/** The token of `Authorization: Bearer TOKEN`. */
export function bearerToken(header: string | undefined): string | undefined {
  const m = /^Bearer\s+(\S+)\s*$/i.exec(header ?? '');
  return m?.[1];
}

/** Whether a browser sent the request from a page of this very listener (or no browser sent it: no Origin). */
export function sameOrigin(origin: string | undefined, host: string | undefined): boolean {
  return origin === undefined || (host !== undefined && origin.toLowerCase() === `https://${host.toLowerCase()}`);
}

const root: Principal = { root: true };

/** The onRequest hook that says who sent each request and refuses what its role does not allow. */
export function authorize(deps: { users: UserService; tokens: TokenService }) {
  return async (request: FastifyRequest): Promise<void> => {
    if (!(request.raw as MarkedRequest)[viaHttps]) {
      request.principal = root;
      return;
    }
    // any request that asks for an upgrade (the WebSocket plugin has not looked at it yet)
    const upgrade = request.headers.upgrade !== undefined;
    const read = (request.method === 'GET' || request.method === 'HEAD') && !upgrade;
    if (!read && !sameOrigin(request.headers.origin, request.headers.host)) {
      throw new LodgeError('FORBIDDEN', `${upgrade ? 'a WebSocket' : `a ${request.method}`} from another origin (${request.headers.origin}) is refused`);
    }
    // a URL with no route (a 404) still needs a caller: nothing is said to strangers
    const access = request.routeOptions.config.access ?? 'viewer';
    if (access === 'anyone') return;
    const principal = identify(request, deps);
    if (access === 'admin' && principal.role !== 'admin') {
      const who = principal.token ? `token ${principal.token}` : `user ${principal.user}`;
      throw new LodgeError('FORBIDDEN', `${who} is a viewer: ${upgrade ? 'a WebSocket to' : request.method} ${request.routeOptions.url} needs the admin role`);
    }
    request.principal = principal;
  };
}

function identify(request: FastifyRequest, deps: { users: UserService; tokens: TokenService }): UserPrincipal {
  const token = bearerToken(request.headers.authorization);
  if (token !== undefined) {
    const p = deps.tokens.principal(token);
    if (!p) throw new LodgeError('UNAUTHENTICATED', 'the bearer token is not valid (deleted, or mistyped)');
    return p;
  }
  const session = cookieValue(request.headers.cookie, sessionCookie);
  if (session !== undefined) {
    const p = deps.users.sessionPrincipal(session);
    if (!p) throw new LodgeError('UNAUTHENTICATED', 'the session has ended or is not valid: log in again (POST /1.0/login)');
    return p;
  }
  throw new LodgeError('UNAUTHENTICATED', 'this needs a login over HTTPS: a session cookie (POST /1.0/login) or Authorization: Bearer TOKEN (lodge token add)');
}
