/**
 * @module The login page: POST /1.0/login sets the session cookie (HttpOnly: the page never
 * sees it). A refusal is shown at the password, as lodged words it (wrong password, or too
 * many tries and when to try again).
 */
import { useState } from 'preact/hooks';
import { type ApiError, call } from './api.js';

export function LoginPage({ onLogin }: { onLogin: () => void }) {
  const [error, setError] = useState('');
  const [busy, setBusy] = useState(false);
  const submit = async (e: SubmitEvent) => {
    e.preventDefault();
    const form = new FormData(e.currentTarget as HTMLFormElement);
    setBusy(true);
    try {
      await call('POST', '/1.0/login', { user: form.get('user'), password: form.get('password') });
      onLogin();
    } catch (err) {
      setError((err as ApiError).message);
    } finally {
      setBusy(false);
    }
  };
  return (
    <main class="login">
      <form onSubmit={submit} aria-label="Log in">
        <h1>Lodge</h1>
        <label for="f-user">User</label>
        <input id="f-user" name="user" autocomplete="username" required autofocus />
        <label for="f-password">Password</label>
        <input id="f-password" name="password" type="password" autocomplete="current-password" required aria-invalid={error ? 'true' : undefined} aria-describedby="login-error" />
        <p id="login-error" class="field-error" role="alert">{error}</p>
        <button type="submit" disabled={busy}>Log in</button>
      </form>
    </main>
  );
}
