-- Real-estate registration (不动产登记中心): property certificates. Department id: realestate.
CREATE TABLE IF NOT EXISTS public.certificate (
    cert_no         text          PRIMARY KEY,           -- 不动产权证书号, e.g. 渝(2025)万州区不动产权第0001234号
    owner_name      text          NOT NULL,
    owner_id        char(18)      NOT NULL,              -- 居民身份证号码, GB 11643 check digit
    parcel_no       char(19)      NOT NULL,              -- 不动产单元号 prefix: 6-digit district + 6 + 2 + 5
    area_m2         numeric(12,2) NOT NULL CHECK (area_m2 > 0),
    use             text          NOT NULL
                    CHECK (use IN ('residential', 'commercial', 'industrial', 'office', 'other')),
    district_code   char(6)       NOT NULL,              -- GB/T 2260
    registered_on   date          NOT NULL,
    updated_at      timestamptz   NOT NULL DEFAULT now()
);
ALTER TABLE public.certificate REPLICA IDENTITY FULL;
