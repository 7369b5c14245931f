// The live feed without a browser: a stubbed WebSocket, fetch, sessionStorage and
// animation frames, and node:test's mocked timers.

import { describe, test, beforeEach, afterEach, mock } from 'node:test';
import assert from 'node:assert/strict';

/** A WebSocket the test drives: `open()`, `frame(obj)`, `serverClose(code)`. */
class FakeSocket {
  static CONNECTING = 0;
  static OPEN = 1;
  static CLOSING = 2;
  static CLOSED = 3;
  static all = [];

  constructor(url) {
    this.url = url;
    this.readyState = FakeSocket.CONNECTING;
    this.sent = [];
    FakeSocket.all.push(this);
  }

  send(text) {
    this.sent.push(JSON.parse(text));
  }

  close() {
    if (this.readyState === FakeSocket.CLOSED) return;
    this.readyState = FakeSocket.CLOSED;
    this.onclose?.({ code: 1005 });
  }

  open() {
    this.readyState = FakeSocket.OPEN;
    this.onopen?.({});
  }

  frame(obj) {
    this.onmessage?.({ data: JSON.stringify(obj) });
  }

  serverClose(code) {
    this.readyState = FakeSocket.CLOSED;
    this.onclose?.({ code });
  }

  static last() {
    return FakeSocket.all[FakeSocket.all.length - 1];
  }
}

const storage = new Map();
globalThis.sessionStorage = {
  getItem: (k) => (storage.has(k) ? storage.get(k) : null),
  setItem: (k, v) => storage.set(k, String(v)),
  removeItem: (k) => storage.delete(k),
};
globalThis.location = { protocol: 'http:', host: 'watchfire.test' };
globalThis.WebSocket = FakeSocket;

/** Animation frames never come unless the test runs them (a hidden tab). */
let frames = [];
globalThis.requestAnimationFrame = (fn) => frames.push(fn);
globalThis.cancelAnimationFrame = (id) => {
  frames[id - 1] = null;
};

/** Requests made, and the status `/me` answers with. */
let requests = [];
let meStatus = 401;
globalThis.fetch = async (url, init) => {
  requests.push({ url, init });
  const status = url.endsWith('/me') ? meStatus : 200;
  return {
    ok: status < 400,
    status,
    statusText: '',
    headers: new Map(),
    text: async () => (status === 401 ? '{"title":"Unauthorized"}' : '{"kind":"session","name":"a","role":"admin"}'),
  };
};

const { Live } = await import('../src/lib/live.js');
const api = await import('../src/lib/api.js');

/** Lets promises (fetch, queued microtasks) settle. */
const settle = async () => {
  for (let i = 0; i < 10; i += 1) await new Promise((r) => setImmediate(r));
};

beforeEach(() => {
  FakeSocket.all = [];
  frames = [];
  requests = [];
  meStatus = 401;
  storage.clear();
  api.setBearer(null);
  mock.timers.enable({ apis: ['setTimeout'] });
});

afterEach(() => {
  mock.timers.reset();
});

describe('Live: a refused session', () => {
  test('an open socket alone neither resets the backoff nor shows live', () => {
    const live = new Live();
    live.watch('dashboard', () => {});
    live.start();
    FakeSocket.last().open();
    assert.equal(live.state, 'connecting');
    FakeSocket.last().frame({ type: 'error', detail: 'authenticate first: send {"type":"auth","token":"..."}' });
    FakeSocket.last().serverClose(1008);
    assert.equal(live.state, 'reconnecting');
    assert.equal(live.retries, 1);

    mock.timers.tick(500);
    assert.equal(FakeSocket.all.length, 2, 'the first retry after 500 ms');
    FakeSocket.last().open();
    FakeSocket.last().serverClose(1008);
    assert.equal(live.retries, 2, 'open did not reset the backoff');
    mock.timers.tick(999);
    assert.equal(FakeSocket.all.length, 2, 'the second retry waits longer');
    mock.timers.tick(1);
    assert.equal(FakeSocket.all.length, 3);
    live.stop();
  });

  test('the first snapshot resets the backoff and shows live', () => {
    const live = new Live();
    live.watch('dashboard', () => {});
    live.retries = 3;
    live.start();
    FakeSocket.last().open();
    assert.equal(live.retries, 3);
    FakeSocket.last().frame({ type: 'snapshot', topic: 'dashboard', position: 5, data: {} });
    assert.equal(live.retries, 0);
    assert.equal(live.state, 'live');
    live.stop();
  });

  test('a socket that stays open a while counts as live (a resumed feed may be quiet)', () => {
    const live = new Live();
    live.start();
    FakeSocket.last().open();
    mock.timers.tick(999);
    assert.equal(live.state, 'connecting');
    mock.timers.tick(1);
    assert.equal(live.state, 'live');
    live.stop();
  });

  test('a close 1008 asks /me, whose 401 signs out and forgets the token', async () => {
    const live = new Live();
    let signedOut = 0;
    const off = api.onUnauthorized(() => {
      signedOut += 1;
      live.stop();
    });
    api.setBearer('revoked-token');
    live.watch('dashboard', () => {});
    live.start();
    FakeSocket.last().open();
    assert.deepEqual(FakeSocket.last().sent[0], { type: 'auth', token: 'revoked-token' });
    FakeSocket.last().serverClose(1008);
    await settle();
    assert.deepEqual(requests.map((r) => r.url), ['/api/v1/me']);
    assert.equal(signedOut, 1);
    assert.equal(live.state, 'stopped');
    assert.equal(api.bearer(), null);
    assert.equal(storage.get('watchfire.token'), undefined);
    mock.timers.tick(10000);
    assert.equal(FakeSocket.all.length, 1, 'no reconnecting once signed out');
    off();
  });

  test('an auth error frame asks /me once, even with the close that follows', async () => {
    const live = new Live();
    live.watch('dashboard', () => {});
    live.start();
    FakeSocket.last().open();
    FakeSocket.last().frame({ type: 'error', detail: 'authentication failed: the token is revoked' });
    FakeSocket.last().serverClose(1008);
    await settle();
    assert.equal(requests.length, 1);
    live.stop();
  });

  test('an ordinary close does not ask /me', async () => {
    const live = new Live();
    live.start();
    FakeSocket.last().open();
    FakeSocket.last().serverClose(1006);
    await settle();
    assert.equal(requests.length, 0);
    live.stop();
  });
});

describe('Live: topics', () => {
  test('an old linger timer does not remove a new topic of the same name', () => {
    const live = new Live();
    live.start();
    FakeSocket.last().open();
    const unwatch = live.watch('monitor:a', () => {});
    const unwatchLater = live.watch('monitor:a', () => {});
    unwatch();
    live.stop();
    live.state = 'idle';
    live.start();
    FakeSocket.last().open();
    live.watch('monitor:a', () => {});
    unwatchLater(); // a view unmounted after sign-out: the old topic lingers
    mock.timers.tick(10000);
    live.watch('monitor:a', () => {})(); // the new topic lingers too, then is watched again
    live.watch('monitor:a', () => {});
    const fresh = live.topics.get('monitor:a');
    mock.timers.tick(30000);
    assert.equal(live.topics.get('monitor:a'), fresh, 'the new topic stays');
    assert.ok(!FakeSocket.last().sent.some((m) => m.type === 'unsubscribe'), 'no unsubscribe sent');
    live.stop();
  });

  test('a lingering topic nobody watches again is unsubscribed', () => {
    const live = new Live();
    live.start();
    FakeSocket.last().open();
    live.watch('monitor:a', () => {})();
    mock.timers.tick(30000);
    assert.equal(live.topics.has('monitor:a'), false);
    assert.deepEqual(FakeSocket.last().sent.at(-1), { type: 'unsubscribe', topics: ['monitor:a'] });
    live.stop();
  });

  test('updates are applied without animation frames (a hidden tab)', () => {
    const live = new Live();
    const seen = [];
    live.watch('dashboard', (topic, updates) => seen.push(updates));
    live.start();
    FakeSocket.last().open();
    FakeSocket.last().frame({ type: 'snapshot', topic: 'dashboard', position: 1, data: { monitors: {} } });
    assert.equal(seen.length, 0);
    mock.timers.tick(250);
    assert.deepEqual(seen, [null]);
    assert.equal(live.stats.flushes, 1);
    live.stop();
  });

  test('an animation frame flushes first and cancels the timer', () => {
    const live = new Live();
    live.watch('dashboard', () => {});
    live.start();
    FakeSocket.last().open();
    FakeSocket.last().frame({ type: 'snapshot', topic: 'dashboard', position: 1, data: {} });
    assert.equal(frames.length, 1);
    frames[0]();
    assert.equal(live.stats.flushes, 1);
    mock.timers.tick(1000);
    assert.equal(live.stats.flushes, 1, 'the timer did not flush again');
    // The next frame schedules anew.
    FakeSocket.last().frame({ type: 'update', topic: 'dashboard', position: 2, data: {} });
    mock.timers.tick(250);
    assert.equal(live.stats.flushes, 2);
    assert.equal(frames.length, 2);
    frames[1]?.();
    assert.equal(live.stats.flushes, 2, 'the cancelled frame did not flush again');
    live.stop();
  });

  test('watchers see the updates that follow a snapshot in the same flush', () => {
    const live = new Live();
    const seen = [];
    live.watch('dashboard', (topic, updates) => seen.push(updates && updates.map((f) => f.position)));
    live.start();
    FakeSocket.last().open();
    FakeSocket.last().frame({ type: 'snapshot', topic: 'dashboard', position: 1, data: { monitors: { m: { status: 'up' } } } });
    FakeSocket.last().frame({ type: 'update', topic: 'dashboard', position: 2, data: { monitors: { m: { status: 'down' } } } });
    mock.timers.tick(250);
    assert.deepEqual(seen, [null, [2]]);
    assert.equal(live.peek('dashboard').monitors.m.status, 'down');
    live.stop();
  });

  test('a failed snapshot reconnects with a backoff and resumes the topics', () => {
    const live = new Live();
    live.watch('dashboard', () => {});
    live.watch('monitor:a', () => {});
    live.start();
    FakeSocket.last().open();
    FakeSocket.last().frame({ type: 'snapshot', topic: 'dashboard', position: 7, data: {} });
    FakeSocket.last().frame({ type: 'error', detail: 'the monitor checks read model is behind the log; try again' });
    assert.equal(live.state, 'reconnecting');
    mock.timers.tick(999);
    assert.equal(FakeSocket.all.length, 1, 'not at once');
    mock.timers.tick(1);
    assert.equal(FakeSocket.all.length, 2);
    FakeSocket.last().open();
    assert.deepEqual(FakeSocket.last().sent, [
      { type: 'subscribe', topics: ['dashboard'], since: 7 },
      { type: 'subscribe', topics: ['monitor:a'] },
    ]);
    live.stop();
  });

  test('other error frames leave the session alone', () => {
    const live = new Live();
    live.start();
    FakeSocket.last().open();
    FakeSocket.last().frame({ type: 'error', detail: 'topic events needs the admin role; the session has viewer' });
    assert.equal(FakeSocket.last().readyState, FakeSocket.OPEN);
    assert.equal(requests.length, 0);
    live.stop();
  });
});

describe('api: a refused token', () => {
  test('a 401 forgets the token it was sent with', async () => {
    api.setBearer('dead');
    await assert.rejects(api.get('/me'), (e) => e.status === 401);
    assert.equal(api.bearer(), null);
    assert.equal(storage.has('watchfire.token'), false);
  });

  test('a 401 for an older token keeps one entered since', async () => {
    api.setBearer('old');
    const pending = api.get('/me');
    api.setBearer('new');
    await assert.rejects(pending);
    assert.equal(api.bearer(), 'new');
  });
});
