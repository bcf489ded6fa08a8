-- no-transaction
-- Prices per currency and exchange rates (issue 18).
--
-- A plan's dated prices carry a currency: an account buys only what is
-- priced in its own, so an invoice never mixes currencies. Every existing
-- price is in EUR (the catalog had one currency column, EUR everywhere),
-- and `plans.currency` goes: the currency is the price's, not the plan's.
--
-- Accounts in another currency that already hold licenses or numbers of a
-- plan were billed its EUR amounts written in their currency; those amounts
-- are copied as the plan's prices in that currency, so nothing they hold
-- changes price or stops being billable until staff set that currency's
-- price (`PUT /v1/plans/{code}` with `currency`).
--
-- SQLite cannot change a primary key: `plan_prices` is rebuilt (its
-- documented table rebuild, nothing references it), in one transaction of
-- its own.
PRAGMA foreign_keys = OFF;
BEGIN;

CREATE TABLE plan_prices_rebuilt (
    plan_code            TEXT NOT NULL REFERENCES plans (code),
    currency             TEXT NOT NULL CHECK (currency IN ('EUR', 'USD', 'GBP', 'CHF')),
    effective_from       TEXT NOT NULL,
    monthly_price_minor  BIGINT NOT NULL CHECK (monthly_price_minor >= 0),
    created_at           TEXT NOT NULL,
    PRIMARY KEY (plan_code, currency, effective_from)
);

INSERT INTO plan_prices_rebuilt (plan_code, currency, effective_from, monthly_price_minor, created_at)
SELECT plan_code, 'EUR', effective_from, monthly_price_minor, created_at FROM plan_prices;

INSERT INTO plan_prices_rebuilt (plan_code, currency, effective_from, monthly_price_minor, created_at)
SELECT pp.plan_code, held.currency, pp.effective_from, pp.monthly_price_minor, pp.created_at
FROM plan_prices pp
JOIN (
    SELECT DISTINCT l.plan_code AS plan_code, a.currency AS currency
    FROM licenses l JOIN accounts a ON a.id = l.account_id WHERE a.currency <> 'EUR'
    UNION
    SELECT DISTINCT 'PHONE_NUMBER', a.currency
    FROM phone_numbers n JOIN accounts a ON a.id = n.account_id WHERE a.currency <> 'EUR'
) held ON held.plan_code = pp.plan_code;

DROP TABLE plan_prices;
ALTER TABLE plan_prices_rebuilt RENAME TO plan_prices;

ALTER TABLE plans DROP COLUMN currency;

-- ECB reference rates recorded by staff: units of `currency` for 1 EUR, in
-- millionths (at most 6 decimals), more than 0 and at most 10,000. A
-- non-EUR invoice states its VAT in EUR at the rate of its issue date or
-- the last one before (CGI art. 289-IV).
CREATE TABLE exchange_rates (
    currency         TEXT NOT NULL CHECK (currency IN ('USD', 'GBP', 'CHF')),
    rate_date        TEXT NOT NULL,
    eur_rate_micros  BIGINT NOT NULL CHECK (eur_rate_micros > 0 AND eur_rate_micros <= 10000000000),
    recorded_at      TEXT NOT NULL,
    PRIMARY KEY (currency, rate_date)
);

COMMIT;
PRAGMA foreign_keys = ON;
