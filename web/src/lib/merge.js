// JSON merge patch (RFC 7386) that copies only the path it changes, so unchanged
// parts keep their identity and memoized components skip them.

/** Returns `target` with `patch` applied; `target` itself is never modified. */
export function mergePatch(target, patch) {
  if (patch === null || typeof patch !== 'object' || Array.isArray(patch)) return patch;
  const base = target !== null && typeof target === 'object' && !Array.isArray(target) ? target : {};
  const out = { ...base };
  for (const [k, v] of Object.entries(patch)) {
    if (v === null) delete out[k];
    else out[k] = mergePatch(base[k], v);
  }
  return out;
}
