/**
 * @module Every error Lodge answers with: a stable code, its HTTP status and what it
 * means. The daemon maps a LodgeError to HTTP here and nowhere else; clients rebuild it
 * from the body so that a CLI error reads the same as the API's.
 */
export const errorCodes = {
  BAD_REQUEST: { status: 400, description: 'The request body, a parameter or a flag is invalid; the message names it.' },
  UNAUTHENTICATED: { status: 401, description: 'Over HTTPS: no valid session or token came with the request (log in, or send Authorization: Bearer TOKEN), or the user name or password is wrong.' },
  FORBIDDEN: { status: 403, description: "The caller's role does not allow this (a viewer's write), or a WebSocket or write came from another web origin." },
  NOT_FOUND: { status: 404, description: 'The named guest, image or operation does not exist.' },
  CONFLICT: { status: 409, description: 'The object exists already, or its state does not allow the action.' },
  UNSUPPORTED: { status: 422, description: 'The guest kind or host cannot do what was asked.' },
  RATE_LIMITED: { status: 429, description: 'Too many failed logins for this user or from this address; the message and the Retry-After header say when to try again.' },
  CANCELLED: { status: 409, description: 'The operation was cancelled (by a client, or by lodged shutting down); what it had made was undone.' },
  ENGINE_FAILED: { status: 500, description: 'The engine (runtime, hypervisor) failed; the cause says how.' },
  INTERNAL: { status: 500, description: 'An unexpected error inside lodged.' },
  UNAVAILABLE: { status: 503, description: 'The engine this needs is not installed or not usable on this host.' },
} as const;

export type ErrorCode = keyof typeof errorCodes;

export interface ErrorBody {
  error: { code: ErrorCode; message: string; cause?: string };
}

export class LodgeError extends Error {
  readonly code: ErrorCode;
  constructor(code: ErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'LodgeError';
    this.code = code;
  }

  get status(): number {
    return errorCodes[this.code].status;
  }

  /** The message, followed by the chain of causes, as one line a person can read. */
  describe(): string {
    const parts = [this.message];
    for (let c: unknown = this.cause; c instanceof Error; c = c.cause) parts.push(c.message);
    return parts.join(': ');
  }

  /**
   * The error as the API answers it. A parse error's message quotes what it failed to
   * parse (a file a guest or an engine may have written), so the body names only its kind.
   */
  toBody(): ErrorBody {
    const causes: string[] = [];
    for (let c: unknown = this.cause; c instanceof Error; c = c.cause) {
      if (c instanceof SyntaxError) {
        causes.push('the content could not be parsed');
        break;
      }
      causes.push(c.message);
    }
    const cause = causes.join(': ');
    return { error: { code: this.code, message: this.message, ...(cause ? { cause } : {}) } };
  }
}

export const isErrorCode = (code: unknown): code is ErrorCode => typeof code === 'string' && code in errorCodes;
