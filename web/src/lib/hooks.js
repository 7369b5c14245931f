// Preact hooks over the API and the live feed.

import { useEffect, useRef, useState, useCallback } from 'preact/hooks';
import { live } from './live.js';

/** The data of a live topic, re-rendering the component once per applied batch. */
export function useTopic(name) {
  const [, setTick] = useState(0);
  useEffect(() => {
    if (!name) return undefined;
    return live.watch(name, () => setTick((n) => n + 1));
  }, [name]);
  return name ? live.peek(name) : undefined;
}

/**
 * Calls `handler(updates, topic)` for a live topic: `updates` is null after a snapshot
 * (reload what you show), else the update frames applied, in order.
 */
export function useTopicEvents(name, handler) {
  const ref = useRef(handler);
  ref.current = handler;
  useEffect(() => {
    if (!name) return undefined;
    return live.watch(name, (topic, updates) => ref.current(updates, topic));
  }, [name]);
}

/** The live connection's state: connecting, live, reconnecting. */
export function useConnection() {
  const [state, setState] = useState(live.state);
  useEffect(() => live.onState(setState), []);
  return state;
}

/**
 * Loads `fetcher()` when `deps` change: `{data, error, loading, reload}`. `reload()` keeps
 * the current data on screen until the new answer arrives.
 */
export function useLoad(fetcher, deps) {
  const [state, setState] = useState({ data: undefined, error: null, loading: true });
  const seq = useRef(0);
  const run = useCallback(() => {
    const mine = ++seq.current;
    setState((s) => ({ ...s, loading: true }));
    return Promise.resolve()
      .then(fetcher)
      .then(
        (data) => mine === seq.current && setState({ data, error: null, loading: false }),
        (error) => mine === seq.current && setState((s) => ({ data: s.data, error, loading: false })),
      );
  }, deps);
  useEffect(() => {
    run();
  }, [run]);
  return { ...state, reload: run };
}

/**
 * Calls `fn` now if it has not run for `gap` ms, else once when that gap is over: a
 * burst of calls reloads at most once per gap. Returns the caller.
 */
export function useThrottle(fn, gap) {
  const last = useRef(0);
  const timer = useRef(null);
  const latest = useRef(fn);
  latest.current = fn;
  useEffect(() => () => clearTimeout(timer.current), []);
  return () => {
    if (timer.current) return;
    const wait = last.current + gap - Date.now();
    const run = () => {
      timer.current = null;
      last.current = Date.now();
      latest.current();
    };
    if (wait <= 0) run();
    else timer.current = setTimeout(run, wait);
  };
}
