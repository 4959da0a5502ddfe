-- One-time tokens (verification, reset, email change, invitation links) are never stored in clear: a
-- message's bodies hold a placeholder where its token goes, and the token is kept here, sealed with the
-- data key, until the message is sent or given up on.
ALTER TABLE outbox ADD COLUMN secret_sealed TEXT;

-- Messages queued before this change carry their token in clear in their bodies: the bodies are redacted,
-- and those not yet sent are withdrawn (their links can be asked for again).
UPDATE outbox
SET text_body = '(redacted: this message carried a one-time link)',
    html_body = '<p>(redacted: this message carried a one-time link)</p>',
    last_error = CASE WHEN state = 'queued' THEN 'withdrawn: its one-time link was stored in clear' ELSE last_error END,
    state = CASE WHEN state = 'queued' THEN 'dead' ELSE state END
WHERE kind IN ('verify', 'reset', 'email_change', 'staff_invite');
