// Audit: the event log itself (admin) and the dashboard as it was at a past time or position.

import { navigate } from '../lib/router.js';
import { AuditLog, AuditVerify } from '../components/AuditLog.jsx';
import { AuditPast } from '../components/AuditPast.jsx';
import './audit.css';

/** The Audit view at `#/audit`; the URL keeps `at` and the log's `type`, `stream`, `after`, `before`. */
export function Audit({ params }) {
  const setAt = (at) => navigate('/audit', Object.fromEntries(Object.entries({ ...params, at }).filter(([, v]) => v !== undefined && v !== '')));
  return (
    <>
      <h1>Audit</h1>
      <section class="panel audit-panel" aria-labelledby="audit-past-title">
        <h2 id="audit-past-title">As it was at</h2>
        <AuditPast at={params.at} onAt={setAt} />
      </section>
      <section class="panel audit-panel" aria-labelledby="audit-log-title">
        <div class="audit-log-head">
          <h2 id="audit-log-title">Event log</h2>
          <AuditVerify />
        </div>
        <AuditLog params={params} />
      </section>
    </>
  );
}
