-- Issue #13 (terminating mode): a one-session SSH user certificate that
-- ward-ca issued to a gateway for a user it authenticated names that
-- gateway (its host name) in the inventory. NULL: not issued through a
-- gateway. Keep in step with the other backend's 0015_gateway_certificates.sql.
ALTER TABLE certificates ADD COLUMN gateway TEXT;
