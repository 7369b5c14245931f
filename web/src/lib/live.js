// The live feed: one WebSocket to `/ws`, topics shared by every view, resumed with
// `since` after a dropped connection, and updates applied once per animation frame.

import { bearer, get } from './api.js';
import { mergePatch } from './merge.js';

const RETRY_MIN_MS = 500;
const RETRY_MAX_MS = 5000;
/** How long a topic nobody watches stays subscribed (so going back to a view is instant). */
const LINGER_MS = 30000;
/**
 * How long an open socket must stay open, without any frame, to count as live. The server
 * refuses a stale session or token as soon as the first subscribe arrives (an error frame,
 * then close 1008), so this only matters for a resumed feed with nothing new to send.
 */
const SETTLE_MS = 1000;
/** The server's WebSocket close code for failed or timed-out authentication. */
const POLICY_VIOLATION = 1008;
/** Error frames that end the session for its credentials (a close 1008 follows). */
const AUTH_ERROR = /^(authenticate first|authentication failed|no authentication within)/;
/**
 * Error frames of a failed snapshot: the server drops the topics of that subscribe (or of
 * its recovery, possibly every topic) without naming them, so the session is resumed anew.
 */
const SNAPSHOT_FAILED = /read model is behind the log|cannot encode the snapshot/;
/** How long a flush waits at most for an animation frame (none come in a hidden tab). */
const FLUSH_MAX_MS = 250;

/** One topic's latest data and who watches it. */
class Topic {
  constructor(name) {
    this.name = name;
    this.data = undefined;
    this.position = null;
    this.listeners = new Set();
    this.pending = [];
    this.fresh = false;
    this.linger = null;
  }
}

/** The WebSocket connection and its topics. */
export class Live {
  constructor() {
    this.state = 'idle';
    this.topics = new Map();
    this.stateListeners = new Set();
    this.socket = null;
    this.retries = 0;
    this.retryTimer = null;
    this.settleTimer = null;
    this.failures = 0;
    this.authCheck = null;
    this.flushScheduled = false;
    this.flushFrame = null;
    this.flushTimer = null;
    this.lastError = null;
    this.stats = { frames: 0, flushes: 0, reconnects: 0 };
  }

  /** Opens the connection (again); topics already watched are resumed. */
  start() {
    if (this.socket) return;
    clearTimeout(this.retryTimer);
    const url = `${location.protocol === 'https:' ? 'wss' : 'ws'}://${location.host}/ws`;
    const socket = new WebSocket(url);
    this.socket = socket;
    if (this.state !== 'reconnecting') this.setState('connecting');
    socket.onopen = () => {
      const token = bearer();
      if (token) socket.send(JSON.stringify({ type: 'auth', token }));
      for (const topic of this.topics.values()) this.sendSubscribe(topic);
      // Not live yet: a stale session opens too, then is refused at the first subscribe.
      clearTimeout(this.settleTimer);
      this.settleTimer = setTimeout(() => this.socket === socket && this.settled(), SETTLE_MS);
    };
    socket.onmessage = (e) => this.receive(e.data);
    socket.onclose = (e) => {
      if (this.socket !== socket) return;
      this.socket = null;
      clearTimeout(this.settleTimer);
      if (this.state === 'stopped') return;
      // Refused for its credentials: ask the API, whose 401 signs out (the login page).
      if (e && e.code === POLICY_VIOLATION) this.checkAuth();
      this.setState('reconnecting');
      this.stats.reconnects += 1;
      const wait = Math.min(RETRY_MAX_MS, RETRY_MIN_MS * 2 ** this.retries);
      this.retries += 1;
      this.retryTimer = setTimeout(() => this.start(), wait);
    };
  }

  /** Closes the connection and forgets every topic (on sign-out). */
  stop() {
    this.setState('stopped');
    clearTimeout(this.retryTimer);
    clearTimeout(this.settleTimer);
    const socket = this.socket;
    this.socket = null;
    if (socket) socket.close();
    for (const topic of this.topics.values()) clearTimeout(topic.linger);
    this.topics.clear();
    this.failures = 0;
  }

  /** The socket works (a frame came, or it stayed open): back to the shortest retry. */
  settled() {
    clearTimeout(this.settleTimer);
    this.retries = 0;
    if (this.state !== 'stopped') this.setState('live');
  }

  /** Asks `GET /me` once at a time: a 401 there signs out through the API's handlers. */
  checkAuth() {
    if (this.authCheck) return;
    this.authCheck = get('/me')
      .catch(() => {})
      .finally(() => {
        this.authCheck = null;
      });
  }

  /** Calls `fn(state)` on every connection state change; returns the unsubscriber. */
  onState(fn) {
    this.stateListeners.add(fn);
    return () => this.stateListeners.delete(fn);
  }

  setState(state) {
    if (this.state === state) return;
    this.state = state;
    this.stateListeners.forEach((fn) => fn(state));
  }

  /**
   * Watches a topic: `fn(topic, updates)` runs after its snapshot (`updates` null: the data
   * was replaced) and after each batch of updates (the frames applied, in order). Returns
   * the unsubscriber. Data already held is handed over at once.
   */
  watch(name, fn) {
    let topic = this.topics.get(name);
    if (!topic) {
      topic = new Topic(name);
      this.topics.set(name, topic);
      this.sendSubscribe(topic);
    }
    clearTimeout(topic.linger);
    topic.listeners.add(fn);
    if (topic.data !== undefined) queueMicrotask(() => topic.listeners.has(fn) && fn(topic, null));
    return () => {
      topic.listeners.delete(fn);
      if (topic.listeners.size === 0 && name !== 'dashboard') {
        clearTimeout(topic.linger);
        topic.linger = setTimeout(() => {
          // A topic of the same name made since (after stop()) is not this one's to end.
          if (topic.listeners.size > 0 || this.topics.get(name) !== topic) return;
          this.topics.delete(name);
          this.send({ type: 'unsubscribe', topics: [name] });
        }, LINGER_MS);
      }
    };
  }

  /** The data a topic holds now, if any. */
  peek(name) {
    return this.topics.get(name)?.data;
  }

  sendSubscribe(topic) {
    const message = { type: 'subscribe', topics: [topic.name] };
    // Resume after the last position seen: the server replays what was missed, no gap.
    if (topic.position !== null) message.since = topic.position;
    this.send(message);
  }

  send(message) {
    if (this.socket && this.socket.readyState === WebSocket.OPEN) this.socket.send(JSON.stringify(message));
  }

  receive(text) {
    let frame;
    try {
      frame = JSON.parse(text);
    } catch {
      return;
    }
    this.stats.frames += 1;
    if (frame.type === 'error') {
      const detail = String(frame.detail ?? '');
      this.lastError = detail;
      console.warn('watchfire live:', detail);
      if (AUTH_ERROR.test(detail)) {
        this.checkAuth();
      } else if (SNAPSHOT_FAILED.test(detail) && this.socket) {
        // The server unsubscribed the topics whose snapshot failed: reconnect after a
        // backoff that grows with each such failure; held topics resume with `since`.
        this.failures = Math.min(this.failures + 1, 4);
        this.retries = Math.max(this.retries, this.failures);
        clearTimeout(this.settleTimer);
        this.socket.close();
      }
      return;
    }
    if (frame.type !== 'snapshot' && frame.type !== 'update') return;
    if (this.state !== 'live' && this.state !== 'stopped') this.settled();
    const topic = this.topics.get(frame.topic);
    if (!topic) return;
    if (frame.type === 'snapshot') {
      topic.data = frame.data;
      topic.position = frame.position;
      topic.pending = [];
      topic.fresh = true;
      // Every topic holds a snapshot again: snapshot failures are over.
      if (![...this.topics.values()].some((t) => t.position === null)) this.failures = 0;
    } else if (frame.type === 'update') {
      // Once each: a resumed feed never repeats what was applied.
      if (topic.position !== null && frame.position <= topic.position) return;
      topic.position = frame.position;
      topic.pending.push(frame);
    } else {
      return;
    }
    this.scheduleFlush();
  }

  scheduleFlush() {
    if (this.flushScheduled) return;
    this.flushScheduled = true;
    // An animation frame, or a timer in a hidden tab (where no frame comes): the first wins.
    const flush = () => {
      if (this.flushFrame !== null && typeof cancelAnimationFrame === 'function') cancelAnimationFrame(this.flushFrame);
      clearTimeout(this.flushTimer);
      this.flushFrame = null;
      this.flushTimer = null;
      this.flush();
    };
    this.flushTimer = setTimeout(flush, FLUSH_MAX_MS);
    if (typeof requestAnimationFrame === 'function') this.flushFrame = requestAnimationFrame(flush);
  }

  /** Applies every queued frame, then tells each topic's watchers once. */
  flush() {
    this.flushScheduled = false;
    this.stats.flushes += 1;
    for (const topic of this.topics.values()) {
      if (!topic.fresh && topic.pending.length === 0) continue;
      const frames = topic.pending;
      const fresh = topic.fresh;
      if (topic.name === 'dashboard') {
        let data = topic.data;
        for (const frame of frames) {
          data = mergePatch(data, frame.data);
          if (data) data.position = frame.position;
        }
        topic.data = data;
      }
      topic.pending = [];
      topic.fresh = false;
      for (const fn of topic.listeners) {
        if (fresh) fn(topic, null);
        // The frames after the snapshot too (the dashboard's patches are in its data already,
        // but watchers such as the rollups fold their checks).
        if (frames.length > 0) fn(topic, frames);
      }
    }
  }
}

/** The one live feed of the page. */
export const live = new Live();
if (typeof window !== 'undefined') window.__watchfireLive = live;
