// The HostDetail view.

/** The HostDetail view. */
export function HostDetail() {
  return <h1>HostDetail</h1>;
}
