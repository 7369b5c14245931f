// The Overview view.

/** The Overview view. */
export function Overview() {
  return <h1>Overview</h1>;
}
