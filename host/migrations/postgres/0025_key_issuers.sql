-- Who issued each API key. A key issued by a member carries at most that
-- member's powers: it acts only while the member is active and still holds
-- the key's role (identity::authenticate). NULL: issued by the host
-- operator, or before this column existed.
ALTER TABLE api_keys ADD COLUMN issued_by BIGINT REFERENCES members(id);
