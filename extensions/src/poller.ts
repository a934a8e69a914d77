/**
 * Periodic refresh with at most one request in flight.
 * Pure (timers are injectable) so the timing rules are tested with fake timers.
 *
 * The next tick is scheduled only after the current request settles, so a slow server
 * never sees parallel requests piling up; refresh() while one is pending joins it.
 */

export interface Timers {
  setTimeout(fn: () => void, ms: number): unknown;
  clearTimeout(handle: unknown): void;
}

export interface PollerOptions<T> {
  fetch: () => Promise<T>;
  intervalMs: number;
  onData?: (data: T) => void;
  onError?: (error: unknown) => void;
  timers?: Timers;
}

const defaultTimers: Timers = {
  setTimeout: (fn, ms) => setTimeout(fn, ms),
  clearTimeout: handle => clearTimeout(handle as ReturnType<typeof setTimeout>)
};

export class Poller<T> {
  /** How many requests were started (tests assert on it). */
  requests = 0;

  constructor(options: PollerOptions<T>) {
    this._fetch = options.fetch;
    this._interval = Poller.clamp(options.intervalMs, 1000);
    this._onData = options.onData;
    this._onError = options.onError;
    this._timers = options.timers ?? defaultTimers;
  }

  get intervalMs(): number {
    return this._interval;
  }

  get running(): boolean {
    return this._running;
  }

  get pending(): boolean {
    return this._pending !== null;
  }

  /** Fetch now, then every interval until stop(). */
  start(): void {
    if (this._running) {
      return;
    }
    this._running = true;
    void this.refresh();
  }

  stop(): void {
    this._running = false;
    this._clear();
  }

  /** A new interval takes effect from now (an in-flight request reschedules when it settles). */
  setInterval(ms: number): void {
    this._interval = Poller.clamp(ms, this._interval);
    if (this._running && !this._pending) {
      this._schedule();
    }
  }

  /** Fetch now unless a request is pending, in which case wait for that one. */
  refresh(): Promise<void> {
    if (this._pending) {
      return this._pending;
    }
    this._clear();
    this.requests++;
    let request: Promise<T>;
    try {
      request = this._fetch();
    } catch (error) {
      request = Promise.reject(error);
    }
    this._pending = request
      .then(
        data => this._call(this._onData, data),
        error => this._call(this._onError, error)
      )
      .finally(() => {
        this._pending = null;
        if (this._running) {
          this._schedule();
        }
      });
    return this._pending;
  }

  private _schedule(): void {
    this._clear();
    this._handle = this._timers.setTimeout(() => {
      this._handle = null;
      void this.refresh();
    }, this._interval);
  }

  private _clear(): void {
    if (this._handle !== null) {
      this._timers.clearTimeout(this._handle);
      this._handle = null;
    }
  }

  // A throwing callback must not stop the polling loop.
  private _call<A>(fn: ((arg: A) => void) | undefined, arg: A): void {
    try {
      fn?.(arg);
    } catch (error) {
      console.error('workbench-lab: poller callback failed', error);
    }
  }

  private static clamp(ms: number, fallback: number): number {
    return Number.isFinite(ms) && ms > 0 ? ms : fallback;
  }

  private _fetch: () => Promise<T>;
  private _interval: number;
  private _onData?: (data: T) => void;
  private _onError?: (error: unknown) => void;
  private _timers: Timers;
  private _running = false;
  private _pending: Promise<void> | null = null;
  private _handle: unknown = null;
}
