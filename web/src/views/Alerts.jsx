// The Alerts view.

/** The Alerts view. */
export function Alerts() {
  return <h1>Alerts</h1>;
}
