-- Market supervision (市场监督管理局): enterprise registrations. Department id: market.
-- REPLICA IDENTITY FULL: updates and deletes carry the full before-image (the router needs the
-- old district of a row that moves).
CREATE TABLE IF NOT EXISTS public.enterprise (
    uscc            char(18)      PRIMARY KEY,           -- 统一社会信用代码, GB 32100 check character
    name            text          NOT NULL,
    legal_rep_name  text          NOT NULL,
    legal_rep_id    char(18)      NOT NULL,              -- 居民身份证号码, GB 11643 check digit
    phone           text,
    address         text,
    district_code   char(6)       NOT NULL,              -- GB/T 2260
    reg_capital     numeric(18,2),                       -- 注册资本, yuan
    status          text          NOT NULL
                    CHECK (status IN ('active', 'suspended', 'revoked', 'cancelled')),
    established_on  date          NOT NULL,
    created_at      timestamptz   NOT NULL DEFAULT now(),
    updated_at      timestamptz   NOT NULL DEFAULT now()
);
ALTER TABLE public.enterprise REPLICA IDENTITY FULL;

-- Inspection cases (行政检查): internal enforcement records, a resource the catalog never shares.
CREATE TABLE IF NOT EXISTS public.inspection (
    id              bigserial     PRIMARY KEY,
    uscc            char(18)      NOT NULL,
    district_code   char(6)       NOT NULL,
    finding         text          NOT NULL,
    inspector       text          NOT NULL,
    inspected_at    timestamptz   NOT NULL DEFAULT now()
);
ALTER TABLE public.inspection REPLICA IDENTITY FULL;
