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
ALTER TABLE plan_prices ADD COLUMN currency TEXT NOT NULL DEFAULT 'EUR'
    CHECK (currency IN ('EUR', 'USD', 'GBP', 'CHF'));
ALTER TABLE plan_prices ALTER COLUMN currency DROP DEFAULT;
ALTER TABLE plan_prices DROP CONSTRAINT plan_prices_pkey;
ALTER TABLE plan_prices ADD PRIMARY KEY (plan_code, currency, effective_from);

INSERT INTO plan_prices (plan_code, currency, effective_from, monthly_price_minor, created_at)
SELECT pp.plan_code, held.currency, pp.effective_from, pp.monthly_price_minor, pp.created_at
FROM plan_prices pp
JOIN (
    SELECT DISTINCT l.plan_code AS plan_code, a.currency AS currency
    FROM licenses l JOIN accounts a ON a.id = l.account_id WHERE a.currency <> 'EUR'
    UNION
    SELECT DISTINCT 'PHONE_NUMBER', a.currency
    FROM phone_numbers n JOIN accounts a ON a.id = n.account_id WHERE a.currency <> 'EUR'
) held ON held.plan_code = pp.plan_code
WHERE pp.currency = 'EUR';

ALTER TABLE plans DROP COLUMN currency;

-- ECB reference rates recorded by staff: units of `currency` for 1 EUR, in
-- millionths (at most 6 decimals), more than 0 and at most 10,000. A
-- non-EUR invoice states its VAT in EUR at the rate of its issue date or
-- the last one before (CGI art. 289-IV).
CREATE TABLE exchange_rates (
    currency         TEXT NOT NULL CHECK (currency IN ('USD', 'GBP', 'CHF')),
    rate_date        DATE NOT NULL,
    eur_rate_micros  BIGINT NOT NULL CHECK (eur_rate_micros > 0 AND eur_rate_micros <= 10000000000),
    recorded_at      TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (currency, rate_date)
);
