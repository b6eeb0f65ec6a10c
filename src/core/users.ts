/**
 * @module Users of the API over HTTPS and their sessions: local users with a role each and
 * a scrypt hash of their password, logins rate-limited and logged, sessions with an expiry
 * the server keeps (a cookie that outlives it opens nothing). Over the unix socket the
 * caller is root, and needs none of this.
 */
import { LodgeError } from '../api/errors.js';
import type { Role, Session, User, UserCreated, UsersPost } from '../api/users.js';
import { LoginLimiter } from './login-limiter.js';
import { hashPassword, newPassword, newSessionId, nobodysHash, secretHash, verifyPassword } from './secrets.js';
import type { Store } from './store.js';

/** Who made a request: root (the unix socket), or a user or token over HTTPS. */
export type Principal = { root: true } | UserPrincipal;
/** A user (by its session), or a token (with its user, if it has one). */
export type UserPrincipal = { root?: false; role: Role; user?: string; token?: string };

/** How long a session lasts from its login, whatever is done with it. */
export const sessionLifetimeMs = 12 * 3600_000;

export interface UserServiceDeps {
  store: Store;
  log: (message: string) => void;
  limiter?: LoginLimiter;
  now?: () => number;
}

interface UserRow {
  name: string;
  role: Role;
  passwordHash: string;
  createdAt: string;
}

const selectUser = 'SELECT name, role, password_hash AS passwordHash, created_at AS createdAt FROM users';
const toUser = (r: UserRow): User => ({ name: r.name, role: r.role, createdAt: r.createdAt });

/** A name a client sent, fit for a log line whatever it holds. */
const quoted = (text: string) => JSON.stringify(text.slice(0, 64));

export class UserService {
  private readonly deps: UserServiceDeps;
  private readonly limiter: LoginLimiter;
  private readonly now: () => number;

  constructor(deps: UserServiceDeps) {
    this.deps = deps;
    this.limiter = deps.limiter ?? new LoginLimiter();
    this.now = deps.now ?? Date.now;
  }

  private row(name: string): UserRow | undefined {
    return this.deps.store.db.prepare(`${selectUser} WHERE name = ?`).get(name) as UserRow | undefined;
  }

  private existing(name: string): UserRow {
    const r = this.row(name);
    if (!r) throw new LodgeError('NOT_FOUND', `user ${name} not found`);
    return r;
  }

  list(): User[] {
    return (this.deps.store.db.prepare(`${selectUser} ORDER BY name`).all() as UserRow[]).map(toUser);
  }

  get(name: string): User {
    return toUser(this.existing(name));
  }

  async add(body: UsersPost): Promise<UserCreated> {
    if (this.row(body.name)) throw new LodgeError('CONFLICT', `user ${body.name} exists already`);
    const password = body.password ?? newPassword();
    const hash = await hashPassword(password);
    const row: UserRow = { name: body.name, role: body.role ?? 'admin', passwordHash: hash, createdAt: new Date(this.now()).toISOString() };
    try {
      this.deps.store.db.prepare('INSERT INTO users (name, role, password_hash, created_at) VALUES (?, ?, ?, ?)').run(row.name, row.role, row.passwordHash, row.createdAt);
    } catch (e) {
      // two adds of one name raced through the hash
      if ((e as { code?: string }).code === 'SQLITE_CONSTRAINT_PRIMARYKEY') throw new LodgeError('CONFLICT', `user ${body.name} exists already`);
      throw e;
    }
    this.deps.log(`user ${row.name} added (${row.role})`);
    return { ...toUser(row), ...(body.password === undefined ? { password } : {}) };
  }

  /** The user goes, and with it its sessions and tokens. */
  delete(name: string): void {
    if (this.deps.store.db.prepare('DELETE FROM users WHERE name = ?').run(name).changes === 0) throw new LodgeError('NOT_FOUND', `user ${name} not found`);
    this.deps.log(`user ${name} deleted, with its sessions and tokens`);
  }

  /** A new password; the user's sessions end (its tokens stay: they are secrets of their own). */
  async setPassword(name: string, given?: string): Promise<UserCreated> {
    this.existing(name);
    const password = given ?? newPassword();
    const hash = await hashPassword(password);
    const changed = this.deps.store.transaction(() => {
      this.deps.store.db.prepare('DELETE FROM sessions WHERE user_name = ?').run(name);
      return this.deps.store.db.prepare('UPDATE users SET password_hash = ? WHERE name = ?').run(hash, name).changes;
    });
    if (changed === 0) throw new LodgeError('NOT_FOUND', `user ${name} not found`);
    this.deps.log(`password of user ${name} changed; its sessions ended`);
    return { ...this.get(name), ...(given === undefined ? { password } : {}) };
  }

  /**
   * A login: a new session (its id goes in the cookie, its hash in the database) when the
   * password is right. Refused without a look at the password while the user or the address
   * has had too many failures; every failure is logged.
   */
  async login(user: string, password: string, address: string): Promise<{ id: string; session: Session; maxAgeSeconds: number }> {
    const { waitMs, blocked } = this.limiter.attempt(user, address);
    if (waitMs > 0) {
      const seconds = Math.ceil(waitMs / 1000);
      const who = blocked === 'user' ? `user ${quoted(user)}` : `address ${address}`;
      this.deps.log(`login refused: too many failures for ${who}`);
      throw new TooManyLogins(`too many failed logins for ${who}: try again in ${seconds} s (after ${new Date(this.now() + seconds * 1000).toISOString()})`, seconds);
    }
    const row = this.row(user);
    const right = await verifyPassword(password, row?.passwordHash ?? nobodysHash);
    if (!row || !right) {
      this.deps.log(`login failed: user ${quoted(user)} from ${address}${row ? '' : ' (no such user)'}; ${this.limiter.failuresOf(user)} failure(s) of this user in the last ${this.limiter.windowMinutes} min`);
      throw new LodgeError('UNAUTHENTICATED', 'wrong user name or password');
    }
    this.limiter.succeeded(user, address);
    const id = newSessionId();
    const expiresAt = this.now() + sessionLifetimeMs;
    this.deps.store.transaction(() => {
      this.deps.store.db.prepare('DELETE FROM sessions WHERE expires_at <= ?').run(this.now());
      this.deps.store.db.prepare('INSERT INTO sessions (id_hash, user_name, expires_at, created_at) VALUES (?, ?, ?, ?)').run(secretHash(id), row.name, expiresAt, new Date(this.now()).toISOString());
    });
    this.deps.log(`login: user ${row.name} from ${address}`);
    return { id, session: { user: row.name, role: row.role, expiresAt: new Date(expiresAt).toISOString() }, maxAgeSeconds: sessionLifetimeMs / 1000 };
  }

  logout(id: string): void {
    this.deps.store.db.prepare('DELETE FROM sessions WHERE id_hash = ?').run(secretHash(id));
  }

  /** Who a session cookie's id is, while its session lasts. */
  sessionPrincipal(id: string): UserPrincipal | undefined {
    const r = this.deps.store.db
      .prepare('SELECT s.user_name AS user, s.expires_at AS expiresAt, u.role FROM sessions s JOIN users u ON u.name = s.user_name WHERE s.id_hash = ?')
      .get(secretHash(id)) as { user: string; expiresAt: number; role: Role } | undefined;
    if (!r || r.expiresAt <= this.now()) return undefined;
    return { role: r.role, user: r.user };
  }
}

/** A login refused before its password is looked at; says when to try again. */
export class TooManyLogins extends LodgeError {
  readonly retryAfterSeconds: number;
  constructor(message: string, retryAfterSeconds: number) {
    super('RATE_LIMITED', message);
    this.retryAfterSeconds = retryAfterSeconds;
  }
}
