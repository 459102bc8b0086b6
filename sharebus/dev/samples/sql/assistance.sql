-- A district's own database (区县数据库): social-assistance households the district identifies and
-- reports up to the city (按需采集上报 / 数据回流). Captured by the district's own connector.
-- REPLICA IDENTITY FULL: updates and deletes carry the whole before-image.
CREATE TABLE IF NOT EXISTS public.assistance_household (
    household_id    text          PRIMARY KEY,           -- 救助家庭编号
    head_name       text          NOT NULL,              -- 户主姓名
    head_id         char(18)      NOT NULL,              -- 户主身份证号码, GB 11643 check digit
    members         integer       NOT NULL CHECK (members > 0),
    assistance_type text          NOT NULL
                    CHECK (assistance_type IN ('dibao', 'tekun', 'linshi')),
    monthly_amount  numeric(10,2) NOT NULL,
    street          text          NOT NULL,              -- 街道
    district_code   char(6)       NOT NULL,              -- GB/T 2260
    approved_on     date          NOT NULL,
    updated_at      timestamptz   NOT NULL DEFAULT now()
);
ALTER TABLE public.assistance_household REPLICA IDENTITY FULL;
