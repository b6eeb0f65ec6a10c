/**
 * @module For the tests of users, tokens and access: the services on a real SQLite store in a
 * temporary directory, removed after the test.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { TestContext } from 'node:test';
import { Store } from './store.js';
import { TokenService } from './tokens.js';
import { UserService } from './users.js';

export function authServices(t: TestContext): { users: UserService; tokens: TokenService } {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'lodge-auth-'));
  const store = new Store(path.join(dir, 'lodge.db'));
  t.after(() => {
    store.close();
    rmSync(dir, { recursive: true, force: true });
  });
  const log = () => {};
  const users = new UserService({ store, log });
  return { users, tokens: new TokenService({ store, users, log }) };
}
