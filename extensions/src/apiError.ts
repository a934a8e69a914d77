/**
 * Turning a failed Workbench API answer into one line a person can act on.
 * Pure: no JupyterLab imports, so jest can test it without a browser.
 */

/** An HTTP error from the Workbench API; `body` keeps the parsed JSON (409s carry gates). */
export class ApiError extends Error {
  constructor(
    readonly status: number,
    message: string,
    readonly body: unknown = null
  ) {
    super(message);
    this.name = 'ApiError';
  }
}

/** The server's {"error": "..."} line, or a fallback naming the status. */
export function errorMessage(status: number, bodyText: string): string {
  const text = (bodyText ?? '').trim();
  try {
    const parsed: unknown = JSON.parse(text);
    if (parsed && typeof parsed === 'object') {
      const { error, message } = parsed as { error?: unknown; message?: unknown };
      if (typeof error === 'string' && error.trim()) {
        return error.trim();
      }
      // jupyter_server's own errors (e.g. 403 from its authorizer) use "message"
      if (typeof message === 'string' && message.trim()) {
        return message.trim();
      }
    }
  } catch {
    // not JSON: fall through
  }
  // A short plain-text body says more than the status; an HTML error page does not.
  const first = text.split('\n', 1)[0].trim();
  if (first && !first.startsWith('<') && !first.startsWith('{')) {
    return `HTTP ${status}: ${first.slice(0, 200)}`;
  }
  return `HTTP ${status}: the Workbench server gave no reason`;
}
