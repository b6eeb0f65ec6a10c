/**
 * @module API tokens: secrets that scripts and the CLI on another machine send as
 * `Authorization: Bearer TOKEN`. Each has a role, never more than its user's, and goes
 * when its user does; one made over the unix socket may have no user (root made it).
 * Only a SHA-256 of the secret is kept: it is answered once, when made.
 */
import { LodgeError } from '../api/errors.js';
import type { Token, TokenCreated, TokensPost } from '../api/tokens.js';
import type { Role } from '../api/users.js';
import { newToken, secretHash } from './secrets.js';
import type { Store } from './store.js';
import type { Principal, UserPrincipal, UserService } from './users.js';

export interface TokenServiceDeps {
  store: Store;
  users: UserService;
  log: (message: string) => void;
}

interface TokenRow {
  name: string;
  user: string | null;
  role: Role;
  createdAt: string;
}

const selectToken = 'SELECT name, user_name AS user, role, created_at AS createdAt FROM tokens';
const toToken = (r: TokenRow): Token => ({ name: r.name, ...(r.user !== null ? { user: r.user } : {}), role: r.role, createdAt: r.createdAt });

export class TokenService {
  private readonly deps: TokenServiceDeps;

  constructor(deps: TokenServiceDeps) {
    this.deps = deps;
  }

  list(): Token[] {
    return (this.deps.store.db.prepare(`${selectToken} ORDER BY name`).all() as TokenRow[]).map(toToken);
  }

  /** A new token for `body.user`, else the caller's user; over the unix socket it may have none. */
  add(body: TokensPost, caller: Principal): TokenCreated {
    const userName = body.user ?? (caller.root ? undefined : caller.user);
    const user = userName === undefined ? undefined : this.deps.users.get(userName);
    const role = body.role ?? user?.role ?? 'admin';
    if (user?.role === 'viewer' && role === 'admin') throw new LodgeError('BAD_REQUEST', `role: user ${user.name} is a viewer, and a token never has more than its user`);
    const secret = newToken();
    const row: TokenRow = { name: body.name, user: user?.name ?? null, role, createdAt: new Date().toISOString() };
    const insert = this.deps.store.db.prepare('INSERT INTO tokens (name, secret_hash, user_name, role, created_at) VALUES (?, ?, ?, ?, ?)');
    try {
      insert.run(row.name, secretHash(secret), row.user, row.role, row.createdAt);
    } catch (e) {
      if ((e as { code?: string }).code === 'SQLITE_CONSTRAINT_PRIMARYKEY') throw new LodgeError('CONFLICT', `token ${body.name} exists already`);
      throw e;
    }
    this.deps.log(`token ${row.name} added (${row.role}${row.user ? ` for user ${row.user}` : ''})`);
    return { ...toToken(row), token: secret };
  }

  delete(name: string): void {
    if (this.deps.store.db.prepare('DELETE FROM tokens WHERE name = ?').run(name).changes === 0) throw new LodgeError('NOT_FOUND', `token ${name} not found`);
    this.deps.log(`token ${name} deleted`);
  }

  /** Who a bearer token is, if it is one of ours. */
  principal(secret: string): UserPrincipal | undefined {
    const r = this.deps.store.db.prepare(`${selectToken} WHERE secret_hash = ?`).get(secretHash(secret)) as TokenRow | undefined;
    return r && { role: r.role, token: r.name, ...(r.user !== null ? { user: r.user } : {}) };
  }
}
