// Who is signed in, shared by every view.

import { createContext } from 'preact';
import { useContext } from 'preact/hooks';

const RANK = { agent: 0, viewer: 1, operator: 2, admin: 3 };

/** `{me, signOut}`: `me` is `{kind, name, role}` from `GET /api/v1/me`. */
export const SessionContext = createContext({ me: null, signOut: () => {} });

/** The signed-in caller and the sign-out action. */
export function useSession() {
  return useContext(SessionContext);
}

/** Whether `role` reaches `needed` (viewer < operator < admin). */
export function can(role, needed) {
  return (RANK[role] ?? -1) >= RANK[needed];
}
