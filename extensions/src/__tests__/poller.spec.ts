import { Poller, Timers } from '../poller';

/** Manual timers: tick() fires every timer due by the new time. */
class FakeTimers implements Timers {
  now = 0;
  private timers = new Map<number, { at: number; fn: () => void }>();
  private next = 1;
  setTimeout(fn: () => void, ms: number): unknown {
    const id = this.next++;
    this.timers.set(id, { at: this.now + ms, fn });
    return id;
  }
  clearTimeout(handle: unknown): void {
    this.timers.delete(handle as number);
  }
  get count(): number {
    return this.timers.size;
  }
  async tick(ms: number): Promise<void> {
    const end = this.now + ms;
    for (;;) {
      const due = [...this.timers.entries()].filter(([, t]) => t.at <= end).sort((a, b) => a[1].at - b[1].at)[0];
      if (!due) {
        break;
      }
      this.timers.delete(due[0]);
      this.now = due[1].at;
      due[1].fn();
      await flush();
    }
    this.now = end;
    await flush();
  }
}

const flush = async (): Promise<void> => {
  for (let i = 0; i < 5; i++) {
    await Promise.resolve();
  }
};

function deferred<T>(): { promise: Promise<T>; resolve: (v: T) => void; reject: (e: unknown) => void } {
  let resolve!: (v: T) => void;
  let reject!: (e: unknown) => void;
  const promise = new Promise<T>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  return { promise, resolve, reject };
}

describe('Poller', () => {
  it('keeps one request in flight under a slow fetch and many ticks', async () => {
    const timers = new FakeTimers();
    const slow = deferred<number>();
    const fetch = jest.fn(() => slow.promise);
    const onData = jest.fn();
    const poller = new Poller<number>({ fetch, intervalMs: 1000, onData, timers });
    poller.start();
    await timers.tick(60_000);
    const joined = [poller.refresh(), poller.refresh(), poller.refresh()];
    expect(fetch).toHaveBeenCalledTimes(1);
    expect(poller.requests).toBe(1);
    expect(timers.count).toBe(0); // nothing scheduled while pending
    slow.resolve(7);
    await Promise.all(joined);
    expect(onData).toHaveBeenCalledWith(7);
    expect(timers.count).toBe(1); // the next tick, after the answer
    poller.stop();
  });

  it('polls every interval once answers arrive', async () => {
    const timers = new FakeTimers();
    const fetch = jest.fn(() => Promise.resolve(1));
    const poller = new Poller<number>({ fetch, intervalMs: 1000, timers });
    poller.start();
    await flush();
    expect(fetch).toHaveBeenCalledTimes(1);
    await timers.tick(3000);
    expect(fetch).toHaveBeenCalledTimes(4);
    poller.stop();
    await timers.tick(10_000);
    expect(fetch).toHaveBeenCalledTimes(4);
  });

  it('refresh() fetches at once and restarts the interval', async () => {
    const timers = new FakeTimers();
    const fetch = jest.fn(() => Promise.resolve(1));
    const poller = new Poller<number>({ fetch, intervalMs: 1000, timers });
    poller.start();
    await flush();
    await timers.tick(900);
    await poller.refresh();
    expect(fetch).toHaveBeenCalledTimes(2);
    await timers.tick(900); // the old tick at 1000 was cancelled
    expect(fetch).toHaveBeenCalledTimes(2);
    await timers.tick(100);
    expect(fetch).toHaveBeenCalledTimes(3);
    expect(timers.count).toBe(1);
    poller.stop();
  });

  it('recovers after errors', async () => {
    const timers = new FakeTimers();
    let fail = true;
    const fetch = jest.fn(() => (fail ? Promise.reject(new TypeError('Failed to fetch')) : Promise.resolve('ok')));
    const onData = jest.fn();
    const onError = jest.fn();
    const poller = new Poller<string>({ fetch, intervalMs: 1000, onData, onError, timers });
    poller.start();
    await flush();
    await timers.tick(2000);
    expect(onError).toHaveBeenCalledTimes(3);
    expect(onData).not.toHaveBeenCalled();
    fail = false;
    await timers.tick(1000);
    expect(onData).toHaveBeenCalledWith('ok');
    expect(poller.pending).toBe(false);
    poller.stop();
  });

  it('survives a fetch that throws synchronously and a throwing callback', async () => {
    const timers = new FakeTimers();
    let calls = 0;
    const fetch = (): Promise<number> => {
      calls++;
      if (calls === 1) {
        throw new Error('sync');
      }
      return Promise.resolve(calls);
    };
    const onError = jest.fn(() => {
      throw new Error('callback bug');
    });
    const spy = jest.spyOn(console, 'error').mockImplementation(() => undefined);
    const poller = new Poller<number>({ fetch, intervalMs: 1000, onError, timers });
    poller.start();
    await flush();
    expect(onError).toHaveBeenCalledTimes(1);
    await timers.tick(1000);
    expect(calls).toBe(2);
    poller.stop();
    spy.mockRestore();
  });

  it('applies a new interval', async () => {
    const timers = new FakeTimers();
    const fetch = jest.fn(() => Promise.resolve(1));
    const poller = new Poller<number>({ fetch, intervalMs: 5000, timers });
    poller.start();
    await flush();
    poller.setInterval(1000);
    expect(poller.intervalMs).toBe(1000);
    await timers.tick(1000);
    expect(fetch).toHaveBeenCalledTimes(2);
    poller.setInterval(10_000);
    await timers.tick(9000);
    expect(fetch).toHaveBeenCalledTimes(2);
    await timers.tick(1000);
    expect(fetch).toHaveBeenCalledTimes(3);
    poller.setInterval(NaN); // ignored
    expect(poller.intervalMs).toBe(10_000);
    poller.stop();
  });

  it('a new interval while a request is pending applies when it settles', async () => {
    const timers = new FakeTimers();
    const slow = deferred<number>();
    const fetch = jest.fn(() => slow.promise);
    const poller = new Poller<number>({ fetch, intervalMs: 5000, timers });
    poller.start();
    poller.setInterval(1000);
    expect(timers.count).toBe(0);
    slow.resolve(1);
    await flush();
    expect(timers.count).toBe(1);
    await timers.tick(1000);
    expect(fetch).toHaveBeenCalledTimes(2);
    poller.stop();
  });
});
