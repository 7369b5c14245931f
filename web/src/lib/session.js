// Who is signed in, shared by every view.

import { createContext } from 'preact';
import { useContext } from 'preact/hooks';

const RANK = { agent: 0, viewer: 1, operator: 2, admin: 3 };

/**
 * `{me, signOut, refresh}`: `me` is `{kind, name, role}` from `GET /api/v1/me` (`kind` is
 * `session` for a user signed in with a password, `token` for an API token); `refresh()`
 * reads it again, as after the caller's own role changed.
 */
export const SessionContext = createContext({ me: null, signOut: () => {}, refresh: async () => {} });

/** The signed-in caller, the sign-out action and the refresh of `me`. */
export function useSession() {
  return useContext(SessionContext);
}

/** Whether `role` reaches `needed` (viewer < operator < admin). */
export function can(role, needed) {
  return (RANK[role] ?? -1) >= RANK[needed];
}
