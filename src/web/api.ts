/**
 * @module The console's way to lodged: fetch on the page's own origin, the session cookie
 * going along by itself, and each error rebuilt from the API's body so that a page shows
 * lodged's own code and message. The typed client (client/) speaks over node:http and
 * cannot run in a browser; this shares its types through api/.
 */
import type { ErrorBody, ErrorCode } from '../api/errors.js';
import type { Event as LodgeEvent, Operation } from '../api/operations.js';

export class ApiError extends Error {
  readonly code: ErrorCode | 'UNREACHABLE';
  readonly status: number;
  constructor(status: number, code: ApiError['code'], message: string) {
    super(message);
    this.status = status;
    this.code = code;
  }

  /** The field a validation message names ("limits.memory: ...", "query parameter name: ..."), for the form to show it there. */
  get field(): string | undefined {
    return this.code === 'BAD_REQUEST' ? /^(?:query parameter )?([a-zA-Z][\w.]*): /.exec(this.message)?.[1] : undefined;
  }
}

/** Dispatched on the window when lodged no longer knows the session (it ended, or lodged lost it): the page goes back to the login. */
export const sessionEnded = 'lodge:session-ended';

export async function call<T>(method: string, path: string, body?: unknown): Promise<T> {
  let res: Response;
  try {
    res = await fetch(path, { method, headers: body === undefined ? {} : { 'content-type': 'application/json' }, body: body === undefined ? null : JSON.stringify(body) });
  } catch (e) {
    throw new ApiError(0, 'UNREACHABLE', `cannot reach lodged: ${(e as Error).message}`);
  }
  return answer<T>(res.status, path, await res.text());
}

/** What lodged answered `path` with: its JSON, or its error rebuilt (a 401 ends the session, but for a login). */
export function answer<T>(status: number, path: string, text: string): T {
  if (status < 200 || status > 299) {
    let error: ErrorBody['error'] | undefined;
    try {
      error = (JSON.parse(text) as ErrorBody).error;
    } catch {
      // not lodged's error body: said as it came
    }
    // a refused login is the login page's to show
    if (status === 401 && path !== '/1.0/login') dispatchEvent(new Event(sessionEnded));
    throw new ApiError(status, error?.code ?? 'INTERNAL', error?.message ?? `lodged answered ${status}: ${text.slice(0, 200)}`);
  }
  return (text ? JSON.parse(text) : undefined) as T;
}

/** Waits for an operation to end; answers it (its status says whether it failed, and why). */
export const waitFor = (op: Operation) => call<Operation>('GET', `/1.0/operations/${encodeURIComponent(op.id)}/wait`);

/**
 * Follows /1.0/events (newline-delimited JSON) until `signal` aborts, calling `onOpen` each
 * time the stream is (re)established so that a page can catch up on what it missed.
 */
export async function followEvents(onEvent: (e: LodgeEvent) => void, onOpen: () => void, signal: AbortSignal): Promise<void> {
  while (!signal.aborted) {
    try {
      const res = await fetch('/1.0/events', { signal });
      if (res.status === 401) return void dispatchEvent(new Event(sessionEnded));
      if (!res.ok || !res.body) throw new Error(`events: ${res.status}`);
      onOpen();
      const reader = res.body.pipeThrough(new TextDecoderStream()).getReader();
      let rest = '';
      for (;;) {
        const { value, done } = await reader.read();
        if (done) break;
        const lines = (rest + value).split('\n');
        rest = lines.pop() ?? '';
        for (const line of lines) if (line.trim()) onEvent(JSON.parse(line) as LodgeEvent);
      }
    } catch {
      // dropped (lodged restarting, a network blip): try again shortly
    }
    if (!signal.aborted) await new Promise((r) => setTimeout(r, 1000));
  }
}

/** A form's error shown at the field the API's message names, else for the whole form. */
export function errorsAt<F extends string>(fields: Record<F, string>, err: unknown): Partial<Record<F | 'form', string>> {
  const error = err as ApiError;
  const at = (Object.keys(fields) as F[]).find((f) => fields[f] === error.field);
  return (at ? { [at]: error.message } : { form: error.message }) as Partial<Record<F | 'form', string>>;
}
