-- The secret LNURL-withdraw link secrets are derived from (made once, shared
-- by every process of this store; never logged).
ALTER TABLE sockt_instance ADD COLUMN IF NOT EXISTS link_secret text;
