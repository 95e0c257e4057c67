package auth

import "context"

// audit records action in the tenant's audit log: who (actorID, actorEmail; "" when
// unknown), from which address, and payload. A failure to record is logged and never
// fails the request it describes.
func (s *Service) audit(ctx context.Context, tn *tenantCtx, r *Request, action, actorID, actorEmail string, payload map[string]any) {
	if payload == nil {
		payload = map[string]any{}
	}
	if !validUUID(actorID) {
		actorID = ""
	}
	_, err := tn.db.Exec(ctx, tn.sql(`INSERT INTO @S@.audit_log (action, actor_id, actor_email, ip, payload, created_at)
VALUES ($1::text, nullif($2::text, '')::uuid, nullif($3::text, ''), nullif($4::text, '')::inet, $5::jsonb, $6::timestamptz)`),
		action, actorID, actorEmail, ipParam(r), payload, s.now())
	if err != nil {
		s.log.Warn("kapok auth: audit log", "tenant", tn.t.Name, "action", action, "err", err)
	}
}
