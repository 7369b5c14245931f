// The live feed: one WebSocket to `/ws`, topics shared by every view, resumed with
// `since` after a dropped connection, and updates applied once per animation frame.

import { bearer } from './api.js';
import { mergePatch } from './merge.js';

const RETRY_MIN_MS = 500;
const RETRY_MAX_MS = 5000;
/** How long a topic nobody watches stays subscribed (so going back to a view is instant). */
const LINGER_MS = 30000;

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
    this.flushScheduled = false;
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
      this.retries = 0;
      this.setState('live');
    };
    socket.onmessage = (e) => this.receive(e.data);
    socket.onclose = () => {
      if (this.socket !== socket) return;
      this.socket = null;
      if (this.state === 'stopped') return;
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
    const socket = this.socket;
    this.socket = null;
    if (socket) socket.close();
    this.topics.clear();
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
        topic.linger = setTimeout(() => {
          if (topic.listeners.size > 0) return;
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
      this.lastError = frame.detail;
      console.warn('watchfire live:', frame.detail);
      return;
    }
    const topic = this.topics.get(frame.topic);
    if (!topic) return;
    if (frame.type === 'snapshot') {
      topic.data = frame.data;
      topic.position = frame.position;
      topic.pending = [];
      topic.fresh = true;
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
    const flush = () => this.flush();
    if (document.hidden) setTimeout(flush, 250);
    else requestAnimationFrame(flush);
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
        // The dashboard's patches are in its data already; other topics hand their events over.
        if (frames.length > 0 && !(fresh && topic.name === 'dashboard')) fn(topic, frames);
      }
    }
  }
}

/** The one live feed of the page. */
export const live = new Live();
if (typeof window !== 'undefined') window.__watchfireLive = live;
