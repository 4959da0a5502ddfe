-- Set when a platform admin is acting as this customer: the admin's email. Such a session cannot change
-- the password or the email address, and what it does is audited.
ALTER TABLE auth_sessions ADD COLUMN impersonator TEXT;
