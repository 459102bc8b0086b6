-- Human resources and social security (人力资源和社会保障局): social insurance enrolment, on
-- MariaDB. Department id: hrss. Statements are separated by ";" at line ends (applied one by one).
CREATE TABLE IF NOT EXISTS social_insurance (
    insurance_no   CHAR(12)     NOT NULL PRIMARY KEY COMMENT '参保登记号 (the record, not the person: messages are keyed by it)',
    person_id      CHAR(18)     NOT NULL UNIQUE COMMENT '公民身份号码, GB 11643 check digit',
    name           VARCHAR(64)  NOT NULL COMMENT '姓名',
    employer_usci  CHAR(18)     NOT NULL COMMENT '参保单位统一社会信用代码, GB 32100',
    district_code  CHAR(6)      NOT NULL COMMENT '参保地区县, GB/T 2260',
    insured_since  DATE         NOT NULL COMMENT '参保日期',
    status         VARCHAR(16)  NOT NULL COMMENT '参保状态'
                   CHECK (status IN ('active', 'suspended', 'terminated')),
    updated_at     TIMESTAMP(6) NOT NULL DEFAULT CURRENT_TIMESTAMP(6) ON UPDATE CURRENT_TIMESTAMP(6)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COMMENT='社会保险参保信息';

-- The bus tables of a MariaDB department live in its own database: Debezium's signal channel
-- (incremental snapshots) and the heartbeat action query's target.
CREATE TABLE IF NOT EXISTS sharebus_signal (
    id    VARCHAR(64)   NOT NULL PRIMARY KEY,
    type  VARCHAR(32)   NOT NULL,
    data  VARCHAR(4096)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;
CREATE TABLE IF NOT EXISTS sharebus_heartbeat (
    id    INT           NOT NULL PRIMARY KEY,
    ts    DATETIME(6)   NOT NULL
) ENGINE=InnoDB;
