-- Main job: two high-risk changes made the way the console makes them (the acting user in the
-- tenant context, the client's address in app.client_ip): Cobalt's owner schedules an upgrade
-- to the growth plan and makes a member an admin.  Each commits with one olap-audit job.
BEGIN;
SELECT pm.set_context(t.id, tu.user_id)
  FROM pm_oltp.tenants t JOIN pm_oltp.tenant_users tu ON tu.tenant_id = t.id
 WHERE t.name = 'Cobalt Ventures' AND 'owner' = ANY (tu.roles);
SET LOCAL app.client_ip = '198.51.100.24';
SET LOCAL app.user_agent = 'penguinmails-console/2026.12';
UPDATE pm_oltp.subscriptions
   SET pending_plan_id = (SELECT id FROM pm_oltp.plans WHERE slug = 'growth')
 WHERE tenant_id = pm.current_tenant_id();
UPDATE pm_oltp.tenant_users SET roles = '{member,admin}'
 WHERE tenant_id = pm.current_tenant_id() AND roles = '{member}';
COMMIT;
