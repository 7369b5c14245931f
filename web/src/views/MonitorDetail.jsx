// The MonitorDetail view.

/** The MonitorDetail view. */
export function MonitorDetail() {
  return <h1>MonitorDetail</h1>;
}
