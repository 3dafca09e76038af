-- What the host operator allows each coop: ceilings on the per-plugin
-- limits the coop's admins or votes may choose (a JSON object of limit
-- names to numbers; a limit not named keeps the host's default ceiling),
-- and the most plugin calls the coop may have in flight at once (NULL: the
-- host's default share of the instance pool). No row: every default.
CREATE TABLE coop_limit_ceilings (
    coop_id BIGINT PRIMARY KEY REFERENCES coops(id),
    ceilings TEXT NOT NULL,
    instances BIGINT,
    updated_at BIGINT NOT NULL
);
